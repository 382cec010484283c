//! The HTTP façade: the spec's OAuth/UMA endpoints over the core's gRPC
//! clients. A handler reads the request, forwards the caller's
//! `Authorization` header as gRPC metadata, calls one core method and renders
//! the answer or the error. No protocol rule lives here.

mod authorization_api;
pub mod browser;
mod discovery;
mod enforcement;
pub mod error;
mod extract;
mod ops;
mod permissions;
mod policies;
mod registration;
mod resource_sets;
mod rpt_status;
mod token;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tonic_health::pb::health_client::HealthClient;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::domain::Error;
use crate::domain::network::{IpRange, client_address};
use crate::domain::secret::Entropy;
use crate::grpc::Transport;
use crate::grpc::proto::authorization_service_client::AuthorizationServiceClient;
use crate::grpc::proto::client_registration_service_client::ClientRegistrationServiceClient;
use crate::grpc::proto::consent_service_client::ConsentServiceClient;
use crate::grpc::proto::enforcement_service_client::EnforcementServiceClient;
use crate::grpc::proto::permission_service_client::PermissionServiceClient;
use crate::grpc::proto::policy_service_client::PolicyServiceClient;
use crate::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use crate::grpc::proto::session_service_client::SessionServiceClient;
use crate::grpc::proto::token_service_client::TokenServiceClient;

/// Endpoint paths, relative to the issuer.
pub mod paths {
    pub const CONFIGURATION: &str = "/.well-known/uma-configuration";
    pub const TOKEN: &str = "/oauth/token";
    pub const AUTHORIZE: &str = "/oauth/authorize";
    pub const JWKS: &str = "/oauth/jwks";
    /// `resource_set_registration_endpoint`; sets live under `/resource_set/{rsid}`.
    pub const RESOURCE_SET_REGISTRATION: &str = "/uma/rs";
    pub const PERMISSION_REGISTRATION: &str = "/uma/rs/perm";
    pub const RPT_STATUS: &str = "/uma/rs/status";
    pub const INTROSPECTION: &str = "/uma/rs/introspect";
    pub const RPT: &str = "/uma/client/rpt";
    pub const PERMISSION_REQUEST: &str = "/uma/client/perm";
    /// `policy_endpoint`; policies live under `/{rsid}`.
    pub const POLICIES: &str = "/uma/rs/policy";
    /// `pending_requests_endpoint`; decisions are posted to `/{id}`.
    pub const PENDING: &str = "/uma/rs/pending";
    /// `enforcement_endpoint`: the resource server's profile for Envoy ext_authz.
    pub const ENFORCEMENT: &str = "/uma/rs/enforcement";
    /// `requesting_party_claims_endpoint`: claims gathering by redirect.
    pub const CLAIMS: &str = "/uma/claims";
    /// `dynamic_client_endpoint` (RFC 7591); registrations live under `/{client_id}`.
    pub const REGISTRATION: &str = "/oauth/register";
}

/// The generated clients the façade calls the core with.
#[derive(Clone)]
pub struct CoreClients {
    resource_sets: ResourceSetServiceClient<Transport>,
    permissions: PermissionServiceClient<Transport>,
    tokens: TokenServiceClient<Transport>,
    authorization: AuthorizationServiceClient<Transport>,
    policies: PolicyServiceClient<Transport>,
    enforcement: EnforcementServiceClient<Transport>,
    sessions: SessionServiceClient<Transport>,
    consent: ConsentServiceClient<Transport>,
    registration: ClientRegistrationServiceClient<Transport>,
    health: HealthClient<Transport>,
}

impl CoreClients {
    /// Clients over one transport (in-process routes or a network channel).
    pub fn new(transport: Transport) -> CoreClients {
        CoreClients {
            resource_sets: ResourceSetServiceClient::new(transport.clone()),
            permissions: PermissionServiceClient::new(transport.clone()),
            tokens: TokenServiceClient::new(transport.clone()),
            authorization: AuthorizationServiceClient::new(transport.clone()),
            policies: PolicyServiceClient::new(transport.clone()),
            enforcement: EnforcementServiceClient::new(transport.clone()),
            sessions: SessionServiceClient::new(transport.clone()),
            consent: ConsentServiceClient::new(transport.clone()),
            registration: ClientRegistrationServiceClient::new(transport.clone()),
            health: HealthClient::new(transport),
        }
    }
}

/// What every handler can reach. Behind an `Arc`: axum clones the state for
/// every request, and a deep clone (six clients, each a boxed transport) was
/// measurable on the hot paths.
#[derive(Clone)]
pub struct Facade(std::sync::Arc<FacadeState>);

/// The façade's shared state.
pub struct FacadeState {
    clients: CoreClients,
    issuer: String,
    max_body_bytes: usize,
    /// The issuer is https: browser cookies are `Secure` and `__Host-`.
    secure_cookies: bool,
    /// Proxies whose `X-Forwarded-For` hop names the client.
    trusted_proxies: Vec<IpRange>,
    /// Answers carry `Strict-Transport-Security` (served over TLS, or behind
    /// an https issuer).
    hsts: bool,
    /// Where the browser pages' CSRF secrets come from: the source the core
    /// mints with, so tests can replace both at once.
    entropy: std::sync::Arc<dyn Entropy>,
}

/// How a façade is set up.
#[derive(Debug, Clone)]
pub struct FacadeOptions {
    pub issuer: String,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<IpRange>,
    pub hsts: bool,
}

impl std::ops::Deref for Facade {
    type Target = FacadeState;

    fn deref(&self) -> &FacadeState {
        &self.0
    }
}

impl Facade {
    /// A façade calling the core through `clients`, minting its secrets
    /// from `entropy`.
    pub fn new(
        clients: CoreClients,
        options: FacadeOptions,
        entropy: std::sync::Arc<dyn Entropy>,
    ) -> Facade {
        Facade(std::sync::Arc::new(FacadeState {
            clients,
            entropy,
            secure_cookies: options.issuer.starts_with("https://"),
            issuer: options.issuer.trim_end_matches('/').to_string(),
            max_body_bytes: options.max_body_bytes,
            trusted_proxies: options.trusted_proxies,
            hsts: options.hsts,
        }))
    }

    /// The client's address: the connection's peer, or the hop a trusted
    /// proxy vouches for in `X-Forwarded-For`.
    pub fn client_address(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("?"));
        client_address(peer, forwarded, &self.trusted_proxies)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// A gRPC request to the core carrying the caller's `Authorization` and the
/// current trace context as metadata.
fn authorized<T>(message: T, authorization: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    crate::telemetry::inject_trace_context(request.metadata_mut());
    if let Some(value) = authorization.and_then(|v| v.parse().ok()) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// `Strict-Transport-Security` on HTTPS answers: a browser that once came
/// over TLS never falls back to plain HTTP for a year.
const HSTS: &str = "max-age=31536000";

/// The façade's router, with tracing, metrics and a request timeout.
pub fn router(facade: Facade) -> Router {
    // Install the recorder before the first request is counted.
    let _ = crate::telemetry::metrics_handle();
    let hsts = facade.hsts;
    let router = routes(facade);
    if hsts {
        router.layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static(HSTS),
                );
                response
            },
        ))
    } else {
        router
    }
}

/// Only `/healthz` and `/readyz`, for the plain health listener that probes
/// reach when the main listeners speak TLS (or require client certificates).
pub fn health_router(facade: Facade) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(facade)
}

fn routes(facade: Facade) -> Router {
    let rs = paths::RESOURCE_SET_REGISTRATION;
    Router::new()
        .route(paths::CONFIGURATION, get(discovery::configuration))
        .route(paths::JWKS, get(discovery::jwks))
        .route(paths::TOKEN, post(token::token))
        .route(
            paths::AUTHORIZE,
            get(browser::authorize).post(browser::authorize_answer),
        )
        .route(
            paths::CLAIMS,
            get(browser::claims).post(browser::claims_answer),
        )
        .route(
            browser::paths::SIGN_IN,
            get(browser::sign_in_page).post(browser::sign_in),
        )
        .route(
            browser::paths::SIGN_IN_UPSTREAM,
            get(browser::sign_in_upstream),
        )
        .route(
            browser::paths::SIGN_IN_CALLBACK,
            get(browser::sign_in_callback),
        )
        .route(browser::paths::SIGN_OUT, post(browser::sign_out))
        .route(browser::paths::STYLESHEET, get(browser::stylesheet))
        .route(paths::REGISTRATION, post(registration::register))
        .route(
            &format!("{}/{{client_id}}", paths::REGISTRATION),
            get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        )
        .route(
            &format!("{rs}/resource_set"),
            get(resource_sets::list).fallback(resource_sets::unsupported_on_collection),
        )
        .route(
            &format!("{rs}/resource_set/"),
            get(resource_sets::list).fallback(resource_sets::unsupported_on_collection),
        )
        .route(
            &format!("{rs}/resource_set/{{rsid}}"),
            get(resource_sets::read)
                .put(resource_sets::put)
                .delete(resource_sets::delete)
                .fallback(resource_sets::unsupported_method),
        )
        .route(paths::PERMISSION_REGISTRATION, post(permissions::register))
        .route(paths::RPT_STATUS, post(rpt_status::status))
        .route(paths::INTROSPECTION, post(rpt_status::introspect_handler))
        .route(paths::RPT, post(authorization_api::rpt))
        .route(
            paths::PERMISSION_REQUEST,
            post(authorization_api::permission),
        )
        .route(
            &format!("{}/{{rsid}}", paths::POLICIES),
            post(policies::create).get(policies::list),
        )
        .route(
            &format!("{}/{{rsid}}/{{policy_id}}", paths::POLICIES),
            axum::routing::delete(policies::delete),
        )
        .route(paths::PENDING, get(policies::pending))
        .route(
            &format!("{}/{{id}}", paths::PENDING),
            post(policies::decide),
        )
        .route(
            paths::ENFORCEMENT,
            axum::routing::put(enforcement::put)
                .get(enforcement::get)
                .delete(enforcement::delete),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_such_endpoint)
        .with_state(facade)
        .layer(axum::middleware::from_fn(ops::record_metrics))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                crate::telemetry::request_span(request, "http")
            }),
        )
        .layer(axum::middleware::map_response(json_errors))
}

/// A path the façade does not serve: the spec's JSON `not_found`, not
/// axum's empty 404.
async fn no_such_endpoint() -> Error {
    Error::NotFound("there is no endpoint at this path".into())
}

/// A method a known path does not serve: JSON `unsupported_method_type`
/// (405); axum adds the path's `Allow`.
async fn method_not_allowed(method: axum::http::Method) -> Error {
    Error::UnsupportedMethodType(format!(
        "{} is not a method of this endpoint",
        method.as_str().chars().take(32).collect::<String>()
    ))
}

/// The last line of defence for "every error is JSON": an error answer
/// without a body of ours (a timeout's 408, any rejection made below the
/// handlers) becomes the spec's JSON error with `no-store`, keeping its
/// status and `Allow`.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let error = match status {
        StatusCode::NOT_FOUND => Error::NotFound("there is no endpoint at this path".into()),
        StatusCode::METHOD_NOT_ALLOWED => {
            Error::UnsupportedMethodType("this method is not one of this endpoint".into())
        }
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge("the request is too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            Error::UnsupportedMediaType("the content type is not supported".into())
        }
        StatusCode::REQUEST_TIMEOUT => {
            Error::Unavailable("the request took too long; try again".into())
        }
        s if s.is_server_error() => Error::Unavailable(format!("the server answered {reason}")),
        _ => Error::InvalidRequest(format!("the request was refused: {reason}")),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut rendered = error.into_response();
    *rendered.status_mut() = status;
    if let Some(allow) = allow {
        rendered.headers_mut().insert(header::ALLOW, allow);
    }
    rendered
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;

    use super::*;

    async fn json_of(response: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn bodiless_errors_become_json_errors_keeping_status_and_allow() {
        let timeout = json_errors(StatusCode::REQUEST_TIMEOUT.into_response()).await;
        assert_eq!(timeout.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(timeout.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(timeout.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(json_of(timeout).await["error"], "temporarily_unavailable");

        let mut refused = StatusCode::METHOD_NOT_ALLOWED.into_response();
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        let refused = json_errors(refused).await;
        assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(json_of(refused).await["error"], "unsupported_method_type");

        let teapot = json_errors(StatusCode::IM_A_TEAPOT.into_response()).await;
        assert_eq!(teapot.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(json_of(teapot).await["error"], "invalid_request");
    }

    #[tokio::test]
    async fn answers_with_a_body_of_their_own_are_left_alone() {
        let page = (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<p>page</p>",
        )
            .into_response();
        let page = json_errors(page).await;
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let ok = json_errors(StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        assert!(ok.headers().get(header::CONTENT_TYPE).is_none());
    }
}
