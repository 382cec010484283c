//! Envoy external authorization (`envoy.service.auth.v3.Authorization/Check`)
//! over the core's enforcement rules, so Envoy's `ext_authz` filter and
//! Istio's external authorizer can put UMA in front of any HTTP service.
//!
//! Every answer is a defined `CheckResponse`: OK with upstream headers, or
//! Denied with the HTTP status, `WWW-Authenticate` and body an unmodified
//! UMA client understands. Only a caller that fails the optional shared
//! token gets a gRPC error. Every OK answer removes client-made identity
//! headers (`headers_to_remove`), including a pass-through.
//!
//! Headers are read from `HttpRequest.headers` (duplicates joined by `,`)
//! or, when Envoy sends them raw (`encode_raw_headers`), from
//! `HttpRequest.header_map`, joined the same way: one request gets one
//! answer in either shape.

use std::collections::HashMap;

#[cfg(test)]
use envoy_types::ext_authz::v3::pb::HttpResponse;
use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, HeaderAppendAction, HttpStatusCode,
};
use envoy_types::ext_authz::v3::{
    CheckResponseExt, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::config::Secret;
use crate::core::Core;
use crate::core::enforcement::{AccessCheck, CheckOutcome};
use crate::domain::Error;
use crate::domain::enforcement::{insufficient_challenge, uma_challenge};
use crate::domain::secret::SharedSecretDigest;

/// Envoy's `external_auth.proto` and its imports, for server reflection
/// (built by `build.rs` from the protos the `envoy-types` crate ships).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/envoy_ext_authz_descriptor.bin"));

/// The `realm` of Steward's UMA challenges.
const REALM: &str = "steward";

/// The Envoy `Authorization` service.
pub struct ExtAuthz {
    core: Core,
    as_uri: String,
    /// The `Check` callers' token, when one is required.
    token: Option<SharedSecretDigest>,
}

impl ExtAuthz {
    /// `as_uri` is Steward's issuer (where clients find its configuration).
    pub fn new(core: Core, as_uri: String, token: Option<Secret>) -> ExtAuthz {
        ExtAuthz {
            core,
            as_uri,
            token: token.map(|t| SharedSecretDigest::of(t.expose())),
        }
    }

    fn caller_allowed<T>(&self, request: &Request<T>) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        expected.matches(presented)
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    #[tracing::instrument(name = "envoy.Authorization/Check", skip_all)]
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        if !self.caller_allowed(&request) {
            return Err(Status::unauthenticated(
                "this Check caller did not present the configured ext_authz token",
            ));
        }
        let message = request.into_inner();
        let Some(http) = message
            .attributes
            .as_ref()
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
        else {
            return Ok(Response::new(denied(
                HttpStatusCode::BadRequest,
                tonic::Code::InvalidArgument,
                "the check request carries no HTTP request attributes",
                None,
                None,
            )));
        };
        let headers = request_headers(http);
        let header = |name: &str| headers.get(name).map(String::as_str);
        // Every value the request gives for its host; the core refuses
        // the request unless they agree.
        let authorities: Vec<&str> = if http.host.is_empty() {
            [header(":authority"), header("host")]
                .into_iter()
                .flatten()
                .collect()
        } else {
            std::iter::once(http.host.as_str())
                .chain(header(":authority"))
                .chain(header("host"))
                .collect()
        };
        let path = if http.path.is_empty() {
            header(":path").unwrap_or("")
        } else {
            http.path.as_str()
        };
        let method = if http.method.is_empty() {
            header(":method").unwrap_or("")
        } else {
            http.method.as_str()
        };
        let scheme = if http.scheme.is_empty() {
            header(":scheme").unwrap_or("")
        } else {
            http.scheme.as_str()
        };
        let outcome = self
            .core
            .check_access(AccessCheck {
                authorities: &authorities,
                scheme,
                path,
                method,
                authorization: header("authorization"),
            })
            .await;
        Ok(Response::new(answer(&self.as_uri, outcome)))
    }
}

/// The request's headers by lower-case name, duplicates joined by `,` as
/// Envoy joins them in `HttpRequest.headers`; from `header_map` when Envoy
/// sent the raw form (a value that is not UTF-8 is read as `!`, which no
/// authority or bearer token is: refused wherever it matters).
fn request_headers(http: &HttpRequest) -> HashMap<String, String> {
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut add = |name: &str, value: &str| {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    };
    match http.header_map.as_ref().filter(|m| !m.headers.is_empty()) {
        Some(raw) => {
            for header in &raw.headers {
                if header.raw_value.is_empty() {
                    add(&header.key, &header.value);
                } else {
                    let value = String::from_utf8(header.raw_value.clone())
                        .unwrap_or_else(|_| "!".to_string());
                    add(&header.key, &value);
                }
            }
        }
        None => {
            // Sorted, so that two spellings of one name join in one order.
            let mut names: Vec<(&String, &String)> = http.headers.iter().collect();
            names.sort();
            for (name, value) in names {
                add(name, value);
            }
        }
    }
    headers
}

/// The `CheckResponse` for an outcome of the core's check.
fn answer(as_uri: &str, outcome: Result<CheckOutcome, Error>) -> CheckResponse {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => return failed(&e),
    };
    match outcome {
        CheckOutcome::Allow {
            client_id,
            subject,
            scopes,
            headers,
            remove_headers,
        } => {
            let mut ok = OkHttpResponseBuilder::new();
            // Overwrite: a client must not be able to send its own.
            let overwrite = Some(HeaderAppendAction::OverwriteIfExistsOrAdd);
            for name in remove_headers {
                ok.remove_header(name);
            }
            ok.add_header(headers.subject, subject, overwrite, false)
                .add_header(headers.client, client_id, overwrite, false)
                .add_header(headers.scopes, scopes.join(" "), overwrite, false);
            let mut response = CheckResponse::with_status(Status::ok("allowed"));
            response.set_http_response(ok);
            response
        }
        CheckOutcome::NoRpt { host_id } => denied(
            HttpStatusCode::Unauthorized,
            tonic::Code::Unauthenticated,
            "an RPT is required",
            Some(uma_challenge(REALM, &host_id, as_uri)),
            None,
        ),
        CheckOutcome::InvalidRpt { host_id, reason } => denied(
            HttpStatusCode::Unauthorized,
            tonic::Code::Unauthenticated,
            &reason,
            Some(uma_challenge(REALM, &host_id, as_uri)),
            None,
        ),
        CheckOutcome::Insufficient { host_id, ticket } => denied(
            HttpStatusCode::Forbidden,
            tonic::Code::PermissionDenied,
            "the RPT lacks the permission; a ticket was registered",
            Some(insufficient_challenge(REALM, &host_id, as_uri, &ticket)),
            Some(json!({ "ticket": ticket }).to_string()),
        ),
        CheckOutcome::BadRequest { reason } => denied(
            HttpStatusCode::BadRequest,
            tonic::Code::InvalidArgument,
            &reason,
            None,
            Some(json!({"error": "invalid_request", "error_description": reason}).to_string()),
        ),
        CheckOutcome::PassThrough {
            reason,
            remove_headers,
        } => {
            let mut ok = OkHttpResponseBuilder::new();
            for name in remove_headers {
                ok.remove_header(name);
            }
            let mut response = CheckResponse::with_status(Status::ok(reason));
            response.set_http_response(ok);
            response
        }
        CheckOutcome::Uncovered { reason } => denied(
            HttpStatusCode::Forbidden,
            tonic::Code::PermissionDenied,
            &reason,
            None,
            Some(json!({"error": "access_denied", "error_description": reason}).to_string()),
        ),
    }
}

/// The answer when the check itself failed. Only an unreachable
/// dependency is the client's to retry (503); every other error is one the
/// check should never meet, a server error for Envoy (500) whose detail is
/// logged here and never shown. One arm per variant, so a new error is
/// placed here before it builds.
fn failed(error: &Error) -> CheckResponse {
    crate::telemetry::report_internal(error);
    let (http, code) = match error {
        Error::Unavailable(_) => (HttpStatusCode::ServiceUnavailable, tonic::Code::Unavailable),
        Error::Internal(_) => (HttpStatusCode::InternalServerError, tonic::Code::Internal),
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
        | Error::InvalidTicket(_)
        | Error::ExpiredTicket(_)
        | Error::NotAuthorized(_)
        | Error::NeedClaims { .. }
        | Error::RequestSubmitted(_)
        | Error::InvalidClientMetadata(_)
        | Error::InvalidRedirectUri(_)
        | Error::AccessDenied(_)
        | Error::TooManyAttempts(_)
        | Error::NotFound(_)
        | Error::PreconditionFailed(_)
        | Error::UnsupportedMethodType(_)
        | Error::UnsupportedMediaType(_)
        | Error::PayloadTooLarge(_) => (HttpStatusCode::InternalServerError, tonic::Code::Internal),
    };
    denied(
        http,
        code,
        error.description(),
        None,
        Some(json!({ "error": error.code() }).to_string()),
    )
}

/// A Denied answer: the HTTP status Envoy sends, the gRPC code and reason
/// it logs, and optionally a challenge and a JSON body.
fn denied(
    http: HttpStatusCode,
    code: tonic::Code,
    reason: &str,
    challenge: Option<String>,
    body: Option<String>,
) -> CheckResponse {
    let mut builder = DeniedHttpResponseBuilder::new();
    builder.set_http_status(http);
    let overwrite = Some(HeaderAppendAction::OverwriteIfExistsOrAdd);
    if let Some(challenge) = challenge {
        builder.add_header("www-authenticate", challenge, overwrite, false);
    }
    if let Some(body) = body {
        builder
            .add_header("content-type", "application/json", overwrite, false)
            .add_header("cache-control", "no-store", overwrite, false)
            .set_body(body);
    }
    let mut response = CheckResponse::with_status(Status::new(code, reason));
    response.set_http_response(builder);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_status(response: &CheckResponse) -> (i32, i32, String) {
        let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
            panic!("not denied: {response:?}");
        };
        (
            response.status.as_ref().map_or(0, |s| s.code),
            denied.status.as_ref().map_or(0, |s| s.code),
            denied.body.clone(),
        )
    }

    #[test]
    fn an_unreachable_database_is_a_503_and_never_an_ok() {
        let response = answer(
            "https://as.example",
            Err(Error::Unavailable("the database is unreachable".into())),
        );
        let (code, http, body) = http_status(&response);
        assert_eq!((code, http), (14, 503), "UNAVAILABLE, 503");
        assert!(body.contains("temporarily_unavailable"));
    }

    /// Every error but an unreachable dependency is a server error for
    /// Envoy, never an OK and never the error's detail.
    #[test]
    fn every_other_error_is_a_500_with_its_code() {
        for error in [
            Error::InvalidRequest("d".into()),
            Error::InvalidClient("d".into()),
            Error::InvalidGrant("d".into()),
            Error::UnauthorizedClient("d".into()),
            Error::UnsupportedGrantType("d".into()),
            Error::InvalidScope("d".into()),
            Error::MissingToken,
            Error::InvalidToken("d".into()),
            Error::InsufficientScope("d".into()),
            Error::InvalidResourceSetId("d".into()),
            Error::InvalidTicket("d".into()),
            Error::ExpiredTicket("d".into()),
            Error::NotAuthorized("d".into()),
            Error::NeedClaims {
                claims: vec!["email".into()],
            },
            Error::RequestSubmitted("d".into()),
            Error::InvalidClientMetadata("d".into()),
            Error::InvalidRedirectUri("d".into()),
            Error::AccessDenied("d".into()),
            Error::TooManyAttempts("d".into()),
            Error::NotFound("d".into()),
            Error::PreconditionFailed("d".into()),
            Error::UnsupportedMethodType("d".into()),
            Error::UnsupportedMediaType("d".into()),
            Error::PayloadTooLarge("d".into()),
        ] {
            let response = answer("https://as.example", Err(error.clone()));
            let (code, http, body) = http_status(&response);
            assert_eq!((code, http), (13, 500), "{error:?}");
            assert_eq!(
                body,
                json!({ "error": error.code() }).to_string(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn an_internal_error_is_a_500_that_hides_its_detail() {
        let response = answer(
            "https://as.example",
            Err(Error::Internal("secret detail".into())),
        );
        let (code, http, body) = http_status(&response);
        assert_eq!((code, http), (13, 500));
        assert!(!body.contains("secret detail"));
        assert!(
            !response
                .status
                .as_ref()
                .is_some_and(|s| s.message.contains("secret"))
        );
    }
}
