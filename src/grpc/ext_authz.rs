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

use crate::config::{Secret, Unmatched};
use crate::core::Core;
use crate::core::enforcement::{AccessCheck, CheckOutcome};
use crate::domain::Error;
use crate::domain::enforcement::{
    identity_headers_to_remove, insufficient_challenge, uma_challenge,
};
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
    unmatched: Unmatched,
    /// The `Check` callers' token, when one is required.
    token: Option<SharedSecretDigest>,
}

impl ExtAuthz {
    /// `as_uri` is Steward's issuer (where clients find its configuration).
    pub fn new(
        core: Core,
        as_uri: String,
        unmatched: Unmatched,
        token: Option<Secret>,
    ) -> ExtAuthz {
        ExtAuthz {
            core,
            as_uri,
            unmatched,
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
        Ok(Response::new(answer(&self.as_uri, self.unmatched, outcome)))
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
fn answer(
    as_uri: &str,
    unmatched: Unmatched,
    outcome: Result<CheckOutcome, Error>,
) -> CheckResponse {
    match outcome {
        Ok(CheckOutcome::Allow {
            client_id,
            subject,
            scopes,
            headers,
        }) => {
            let mut ok = OkHttpResponseBuilder::new();
            // Overwrite: a client must not be able to send its own. The
            // default names this profile does not set are removed (Envoy
            // removes after it sets, so never a name set here).
            let overwrite = Some(HeaderAppendAction::OverwriteIfExistsOrAdd);
            for name in identity_headers_to_remove(Some(&headers), true) {
                ok.remove_header(name);
            }
            ok.add_header(headers.subject, subject, overwrite, false)
                .add_header(headers.client, client_id, overwrite, false)
                .add_header(headers.scopes, scopes.join(" "), overwrite, false)
                // The RPT has done its work; the upstream never sees it.
                .remove_header("authorization");
            let mut response = CheckResponse::with_status(Status::ok("allowed"));
            response.set_http_response(ok);
            response
        }
        Ok(CheckOutcome::NoRpt { host_id }) => denied(
            HttpStatusCode::Unauthorized,
            tonic::Code::Unauthenticated,
            "an RPT is required",
            Some(uma_challenge(REALM, &host_id, as_uri)),
            None,
        ),
        Ok(CheckOutcome::InvalidRpt { host_id, reason }) => denied(
            HttpStatusCode::Unauthorized,
            tonic::Code::Unauthenticated,
            &reason,
            Some(uma_challenge(REALM, &host_id, as_uri)),
            None,
        ),
        Ok(CheckOutcome::Insufficient { host_id, ticket }) => denied(
            HttpStatusCode::Forbidden,
            tonic::Code::PermissionDenied,
            "the RPT lacks the permission; a ticket was registered",
            Some(insufficient_challenge(REALM, &host_id, as_uri, &ticket)),
            Some(json!({ "ticket": ticket }).to_string()),
        ),
        Ok(CheckOutcome::BadRequest { reason }) => denied(
            HttpStatusCode::BadRequest,
            tonic::Code::InvalidArgument,
            &reason,
            None,
            Some(json!({"error": "invalid_request", "error_description": reason}).to_string()),
        ),
        Ok(CheckOutcome::Unmatched {
            reason,
            profile_headers,
        }) => match unmatched {
            Unmatched::Allow => {
                // Passed through untouched but for identity headers: the
                // upstream trusts them, so a client must not bring its own.
                let mut ok = OkHttpResponseBuilder::new();
                for name in identity_headers_to_remove(profile_headers.as_ref(), false) {
                    ok.remove_header(name);
                }
                let mut response = CheckResponse::with_status(Status::ok(reason));
                response.set_http_response(ok);
                response
            }
            Unmatched::Deny => denied(
                HttpStatusCode::Forbidden,
                tonic::Code::PermissionDenied,
                &reason,
                None,
                Some(json!({"error": "access_denied", "error_description": reason}).to_string()),
            ),
        },
        Err(Error::Unavailable(reason)) => denied(
            HttpStatusCode::ServiceUnavailable,
            tonic::Code::Unavailable,
            &reason,
            None,
            Some(json!({"error": "temporarily_unavailable"}).to_string()),
        ),
        Err(e) => {
            if let Error::Internal(detail) = &e {
                tracing::error!(%detail, "ext_authz check failed");
            }
            denied(
                HttpStatusCode::InternalServerError,
                tonic::Code::Internal,
                e.description(),
                None,
                Some(json!({"error": e.code()}).to_string()),
            )
        }
    }
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
            Unmatched::Allow,
            Err(Error::Unavailable("the database is unreachable".into())),
        );
        let (code, http, body) = http_status(&response);
        assert_eq!((code, http), (14, 503), "UNAVAILABLE, 503");
        assert!(body.contains("temporarily_unavailable"));
    }

    #[test]
    fn an_internal_error_is_a_500_that_hides_its_detail() {
        let response = answer(
            "https://as.example",
            Unmatched::Allow,
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
