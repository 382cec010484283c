//! The domain error as a `tonic::Status`, and back. The OAuth/UMA code travels
//! as `google.rpc.ErrorInfo.reason` (domain `steward`), the description in
//! its metadata, so the façade rebuilds the exact error the core raised.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Error;

/// `ErrorInfo.domain` of Steward's errors.
pub const ERROR_DOMAIN: &str = "steward";

/// Renders an error for a gRPC caller. Internal errors are logged here, once,
/// and shown only as a generic message (one relayed from a remote core has
/// no detail left to log).
pub fn to_status(error: &Error) -> Status {
    let code = match error {
        Error::InvalidRequest(_)
        | Error::InvalidGrant(_)
        | Error::UnsupportedGrantType(_)
        | Error::InvalidScope(_)
        | Error::InvalidResourceSetId(_)
        | Error::UnsupportedMediaType(_)
        | Error::InvalidClientMetadata(_)
        | Error::InvalidRedirectUri(_) => Code::InvalidArgument,
        Error::InvalidClient(_) | Error::MissingToken | Error::InvalidToken(_) => {
            Code::Unauthenticated
        }
        Error::InvalidTicket(_) | Error::ExpiredTicket(_) => Code::InvalidArgument,
        Error::UnauthorizedClient(_)
        | Error::InsufficientScope(_)
        | Error::NotAuthorized(_)
        | Error::NeedClaims { .. }
        | Error::RequestSubmitted(_)
        | Error::AccessDenied(_) => Code::PermissionDenied,
        Error::TooManyAttempts(_) => Code::ResourceExhausted,
        Error::NotFound(_) => Code::NotFound,
        Error::PreconditionFailed(_) => Code::FailedPrecondition,
        Error::UnsupportedMethodType(_) => Code::Unimplemented,
        Error::PayloadTooLarge(_) => Code::ResourceExhausted,
        Error::Unavailable(_) => Code::Unavailable,
        Error::Internal(_) => Code::Internal,
    };
    crate::telemetry::report_internal(error);
    let description = error.description().to_string();
    let mut metadata = HashMap::from([("description".to_string(), description.clone())]);
    if !error.required_claims().is_empty() {
        metadata.insert("required_claims".into(), error.required_claims().join(" "));
    }
    let details = ErrorDetails::with_error_info(error.reason(), ERROR_DOMAIN, metadata);
    Status::with_error_details(code, format!("{}: {description}", error.code()), details)
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        to_status(&error)
    }
}

/// Rebuilds the domain error from a status the core (or the network) sent,
/// so the façade's `?` on a gRPC call yields the exact error the core raised.
impl From<Status> for Error {
    fn from(status: Status) -> Error {
        from_status(&status)
    }
}

fn from_status(status: &Status) -> Error {
    let details = status.get_error_details();
    if let Some(info) = details.error_info().filter(|i| i.domain == ERROR_DOMAIN) {
        let description = info
            .metadata
            .get("description")
            .cloned()
            .unwrap_or_default();
        let claims = info
            .metadata
            .get("required_claims")
            .map(|c| {
                c.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return Error::from_reason(&info.reason, description, claims);
    }
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Error::Unavailable(
            format!("the core service is unavailable: {}", status.message()),
        ),
        Code::ResourceExhausted => Error::PayloadTooLarge(status.message().to_string()),
        _ => Error::Internal(format!(
            "unexpected status from the core: {:?} {}",
            status.code(),
            status.message()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_grpc_unchanged() {
        for error in [
            Error::MissingToken,
            Error::InvalidToken("expired".into()),
            Error::PreconditionFailed("rev".into()),
            Error::InvalidResourceSetId("x".into()),
            Error::Unavailable("db".into()),
            Error::NeedClaims {
                claims: vec!["email".into()],
            },
        ] {
            assert_eq!(from_status(&to_status(&error)), error);
        }
    }

    #[test]
    fn plain_transport_failures_become_unavailable() {
        let status = Status::unavailable("connection refused");
        assert!(matches!(from_status(&status), Error::Unavailable(_)));
    }
}
