//! The one error type of Steward, named in the protocol's words. It is
//! rendered exactly twice: to `tonic::Status` (`grpc::status`) and to the
//! OAuth/UMA JSON body (`http::error`), each by an exhaustive `match`.

/// Every way a request can fail, as the spec names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A required parameter is missing or the request is malformed (400).
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed at the token endpoint (401).
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    /// The grant (code, assertion, ticket) is invalid or expired (400).
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// The client may not use this grant type (400).
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(String),
    /// The grant type is not supported at all (400).
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// A scope is not allowed for the client, or not registered for the
    /// resource set (400).
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// No bearer token was presented (RFC 6750 §3.1: 401 without an error code).
    #[error("missing bearer token")]
    MissingToken,
    /// The bearer token is forged, tampered, expired or unknown (401).
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    /// The bearer token lacks the scope this API needs (403).
    #[error("insufficient_scope: {0}")]
    InsufficientScope(String),
    /// Permission registration named a resource set that is not registered (400).
    #[error("invalid_resource_set_id: {0}")]
    InvalidResourceSetId(String),
    /// The permission ticket is unknown, used, or not this client's (400).
    #[error("invalid_requester_ticket: {0}")]
    InvalidTicket(String),
    /// The permission ticket expired (400).
    #[error("expired_requester_ticket: {0}")]
    ExpiredTicket(String),
    /// The owner's policies refuse the permission (403).
    #[error("not_authorized_permission: {0}")]
    NotAuthorized(String),
    /// A policy could permit once the requesting party supplies these claims (403).
    #[error("need_claims: {claims:?}")]
    NeedClaims {
        /// Names of the claims a policy is waiting for.
        claims: Vec<String>,
    },
    /// The request waits for the resource owner's approval (403).
    #[error("request_submitted: {0}")]
    RequestSubmitted(String),
    /// Dynamic registration: a metadata field is invalid (RFC 7591 §3.2.2, 400).
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(String),
    /// Dynamic registration: a redirect URI is invalid (RFC 7591 §3.2.2, 400).
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    /// The user or the registration credentials were refused (403
    /// `access_denied`, RFC 6749 §4.1.2.1; wrong password at sign-in).
    #[error("access_denied: {0}")]
    AccessDenied(String),
    /// Too many failed sign-ins for this account or address (429).
    #[error("too_many_attempts: {0}")]
    TooManyAttempts(String),
    /// The resource set does not exist in the caller's namespace (404).
    #[error("not_found: {0}")]
    NotFound(String),
    /// `If-Match` did not match the current revision (412).
    #[error("precondition_failed: {0}")]
    PreconditionFailed(String),
    /// The HTTP method is not one of the API's operations (405).
    #[error("unsupported_method_type: {0}")]
    UnsupportedMethodType(String),
    /// The request's content type is not one the endpoint reads (415).
    #[error("unsupported_media_type: {0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than the configured limit (413).
    #[error("request_too_large: {0}")]
    PayloadTooLarge(String),
    /// A dependency (the database) cannot be reached right now (503).
    #[error("temporarily_unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the detail is logged, never shown (500).
    #[error("server_error: {0}")]
    Internal(String),
}

impl Error {
    /// The wire code of the spec (`error` member / RFC 6750 `error=`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidClient(_) => "invalid_client",
            Error::InvalidGrant(_) => "invalid_grant",
            Error::UnauthorizedClient(_) => "unauthorized_client",
            Error::UnsupportedGrantType(_) => "unsupported_grant_type",
            Error::InvalidScope(_) => "invalid_scope",
            Error::MissingToken | Error::InvalidToken(_) => "invalid_token",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::InvalidResourceSetId(_) => "invalid_resource_set_id",
            Error::InvalidTicket(_) => "invalid_requester_ticket",
            Error::ExpiredTicket(_) => "expired_requester_ticket",
            Error::NotAuthorized(_) => "not_authorized_permission",
            Error::NeedClaims { .. } => "need_claims",
            Error::RequestSubmitted(_) => "request_submitted",
            Error::AccessDenied(_) => "access_denied",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Error::TooManyAttempts(_) => "too_many_attempts",
            Error::NotFound(_) => "not_found",
            Error::PreconditionFailed(_) => "precondition_failed",
            Error::UnsupportedMethodType(_) => "unsupported_method_type",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::PayloadTooLarge(_) => "request_too_large",
            Error::Unavailable(_) => "temporarily_unavailable",
            Error::Internal(_) => "server_error",
        }
    }

    /// A key unique per variant, carried as the gRPC `ErrorInfo.reason` so
    /// the façade can rebuild the exact variant ([`Error::from_reason`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::MissingToken => "missing_token",
            other => other.code(),
        }
    }

    /// Human-readable detail; safe to show (never contains secrets).
    pub fn description(&self) -> &str {
        match self {
            Error::MissingToken => "a bearer token is required",
            Error::NeedClaims { .. } => "the requesting party must supply more claims",
            Error::Internal(_) => "internal server error",
            Error::InvalidRequest(d)
            | Error::InvalidClient(d)
            | Error::InvalidGrant(d)
            | Error::UnauthorizedClient(d)
            | Error::UnsupportedGrantType(d)
            | Error::InvalidScope(d)
            | Error::InvalidToken(d)
            | Error::InsufficientScope(d)
            | Error::InvalidResourceSetId(d)
            | Error::InvalidTicket(d)
            | Error::ExpiredTicket(d)
            | Error::NotAuthorized(d)
            | Error::RequestSubmitted(d)
            | Error::AccessDenied(d)
            | Error::InvalidClientMetadata(d)
            | Error::InvalidRedirectUri(d)
            | Error::TooManyAttempts(d)
            | Error::NotFound(d)
            | Error::PreconditionFailed(d)
            | Error::UnsupportedMethodType(d)
            | Error::UnsupportedMediaType(d)
            | Error::PayloadTooLarge(d)
            | Error::Unavailable(d) => d,
        }
    }

    /// The claims a [`Error::NeedClaims`] waits for (empty otherwise).
    pub fn required_claims(&self) -> &[String] {
        match self {
            Error::NeedClaims { claims } => claims,
            _ => &[],
        }
    }

    /// Rebuilds an error from its [`reason`](Error::reason), description and
    /// required claims; an unknown reason becomes [`Error::Internal`].
    pub fn from_reason(reason: &str, description: String, required_claims: Vec<String>) -> Error {
        match reason {
            "invalid_request" => Error::InvalidRequest(description),
            "invalid_client" => Error::InvalidClient(description),
            "invalid_grant" => Error::InvalidGrant(description),
            "unauthorized_client" => Error::UnauthorizedClient(description),
            "unsupported_grant_type" => Error::UnsupportedGrantType(description),
            "invalid_scope" => Error::InvalidScope(description),
            "missing_token" => Error::MissingToken,
            "invalid_token" => Error::InvalidToken(description),
            "insufficient_scope" => Error::InsufficientScope(description),
            "invalid_resource_set_id" => Error::InvalidResourceSetId(description),
            "invalid_requester_ticket" => Error::InvalidTicket(description),
            "expired_requester_ticket" => Error::ExpiredTicket(description),
            "not_authorized_permission" => Error::NotAuthorized(description),
            "need_claims" => Error::NeedClaims {
                claims: required_claims,
            },
            "request_submitted" => Error::RequestSubmitted(description),
            "access_denied" => Error::AccessDenied(description),
            "invalid_client_metadata" => Error::InvalidClientMetadata(description),
            "invalid_redirect_uri" => Error::InvalidRedirectUri(description),
            "too_many_attempts" => Error::TooManyAttempts(description),
            "not_found" => Error::NotFound(description),
            "precondition_failed" => Error::PreconditionFailed(description),
            "unsupported_method_type" => Error::UnsupportedMethodType(description),
            "unsupported_media_type" => Error::UnsupportedMediaType(description),
            "request_too_large" => Error::PayloadTooLarge(description),
            "temporarily_unavailable" => Error::Unavailable(description),
            // The detail stayed, and was logged, where the error arose; what
            // travelled is only the generic description.
            _ => Error::Internal(String::new()),
        }
    }

    /// The name UMA 1.0's RPT endpoint gives the error where 1.0 renamed
    /// it (UMA 1.0 §3.5.4: `need_info` for `need_claims`, …); `None` where
    /// the draft-06 code stands. The HTTP status is the same either way.
    pub fn uma1_code(&self) -> Option<&'static str> {
        match self {
            Error::InvalidTicket(_) => Some("invalid_ticket"),
            Error::ExpiredTicket(_) => Some("expired_ticket"),
            Error::NotAuthorized(_) => Some("not_authorized"),
            Error::NeedClaims { .. } => Some("need_info"),
            Error::RequestSubmitted(_) => Some("request_submitted"),
            Error::InvalidRequest(_)
            | Error::InvalidClient(_)
            | Error::InvalidGrant(_)
            | Error::UnauthorizedClient(_)
            | Error::UnsupportedGrantType(_)
            | Error::InvalidScope(_)
            | Error::MissingToken
            | Error::InvalidToken(_)
            | Error::InsufficientScope(_)
            | Error::InvalidResourceSetId(_)
            | Error::AccessDenied(_)
            | Error::InvalidClientMetadata(_)
            | Error::InvalidRedirectUri(_)
            | Error::TooManyAttempts(_)
            | Error::NotFound(_)
            | Error::PreconditionFailed(_)
            | Error::UnsupportedMethodType(_)
            | Error::UnsupportedMediaType(_)
            | Error::PayloadTooLarge(_)
            | Error::Unavailable(_)
            | Error::Internal(_) => None,
        }
    }

    /// Shorthand for a malformed-request error.
    pub fn invalid_request(description: impl Into<String>) -> Error {
        Error::InvalidRequest(description.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Error> {
        let d = || "detail".to_string();
        vec![
            Error::InvalidRequest(d()),
            Error::InvalidClient(d()),
            Error::InvalidGrant(d()),
            Error::UnauthorizedClient(d()),
            Error::UnsupportedGrantType(d()),
            Error::InvalidScope(d()),
            Error::MissingToken,
            Error::InvalidToken(d()),
            Error::InsufficientScope(d()),
            Error::InvalidResourceSetId(d()),
            Error::InvalidTicket(d()),
            Error::ExpiredTicket(d()),
            Error::NotAuthorized(d()),
            Error::NeedClaims {
                claims: vec!["email".into(), "age".into()],
            },
            Error::RequestSubmitted(d()),
            Error::AccessDenied(d()),
            Error::InvalidClientMetadata(d()),
            Error::InvalidRedirectUri(d()),
            Error::TooManyAttempts(d()),
            Error::NotFound(d()),
            Error::PreconditionFailed(d()),
            Error::UnsupportedMethodType(d()),
            Error::UnsupportedMediaType(d()),
            Error::PayloadTooLarge(d()),
            Error::Unavailable(d()),
        ]
    }

    #[test]
    fn every_error_survives_a_round_trip_through_its_reason() {
        for error in all() {
            let rebuilt = Error::from_reason(
                error.reason(),
                error.description().to_string(),
                error.required_claims().to_vec(),
            );
            assert_eq!(rebuilt, error);
        }
    }

    #[test]
    fn internal_detail_is_never_described() {
        let error = Error::Internal("db password=hunter2".into());
        assert_eq!(error.description(), "internal server error");
        assert_eq!(error.code(), "server_error");
    }

    #[test]
    fn unknown_reason_is_internal() {
        assert!(matches!(
            Error::from_reason("what", "x".into(), vec![]),
            Error::Internal(_)
        ));
    }
}
