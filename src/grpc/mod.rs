//! The core's gRPC face (package `steward.v1`): tonic adapters that
//! authenticate the caller, convert proto ⇄ domain and call one core method.
//! The same services serve mesh callers over the network and the HTTP
//! façade in-process ([`in_process`]) or over the network ([`connect`]).

mod authorization;
mod changes;
mod convert;
mod enforcement;
pub mod ext_authz;
pub mod facade_only;
mod identity;
mod permissions;
mod resource_sets;
pub mod status;
mod tokens;

use std::time::Duration;

use tonic::server::NamedService;
use tower::BoxError;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use crate::core::Core;
use crate::domain::scope::ApiScope;
use crate::domain::token::Requester;
use crate::domain::{Error, Namespace};

/// Generated protobuf types, clients and servers.
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("steward.v1");

    /// Descriptor set for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("steward_descriptor");
}

use proto::authorization_service_server::AuthorizationServiceServer;
use proto::change_service_server::ChangeServiceServer;
use proto::client_registration_service_server::ClientRegistrationServiceServer;
use proto::consent_service_server::ConsentServiceServer;
use proto::decision_service_server::DecisionServiceServer;
use proto::enforcement_service_server::EnforcementServiceServer;
use proto::permission_service_server::PermissionServiceServer;
use proto::policy_service_server::PolicyServiceServer;
use proto::resource_set_service_server::ResourceSetServiceServer;
use proto::session_service_server::SessionServiceServer;
use proto::token_service_server::TokenServiceServer;

pub use status::to_status;

/// What the generated clients run on: the core's routes in-process, or a
/// network channel. One type, so the façade code is the same in both modes.
pub type Transport = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// A failure to reach the core at all (a concrete type: boxed `dyn Error`
/// here trips higher-ranked lifetime inference in axum handlers).
#[derive(Debug, thiserror::Error)]
#[error("core transport: {0}")]
pub struct TransportError(#[source] BoxError);

/// gRPC routes and the name of every service on them, built together so
/// that health is reported for exactly the services served, each by its
/// `NamedService::NAME`.
#[derive(Clone, Default)]
pub struct Services {
    routes: tonic::service::Routes,
    names: Vec<&'static str>,
}

impl Services {
    /// Routes `service` and records its name.
    #[must_use]
    pub fn add_service<S>(mut self, service: S) -> Services
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// The fully qualified names of the services routed, in the order added.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// The routes, for a server or an in-process transport.
    pub fn routes(&self) -> tonic::service::Routes {
        self.routes.clone()
    }
}

/// The core services as gRPC routes (without health and reflection). The
/// identity services answer only callers `facade` admits.
pub fn core_routes(
    core: &Core,
    max_message_bytes: usize,
    facade: &facade_only::FacadeOnly,
) -> Services {
    use tonic::service::interceptor::InterceptedService;
    Services::default()
        .add_service(
            ResourceSetServiceServer::new(resource_sets::ResourceSets::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            PermissionServiceServer::new(permissions::Permissions::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            TokenServiceServer::new(tokens::Tokens::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            AuthorizationServiceServer::new(authorization::Authorization::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            PolicyServiceServer::new(authorization::Authorization::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            DecisionServiceServer::new(authorization::Authorization::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            EnforcementServiceServer::new(enforcement::Enforcement::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            ChangeServiceServer::new(changes::Changes::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
        )
        .add_service(InterceptedService::new(
            SessionServiceServer::new(identity::Identity::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
            facade.clone(),
        ))
        .add_service(InterceptedService::new(
            ConsentServiceServer::new(identity::Identity::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
            facade.clone(),
        ))
        .add_service(InterceptedService::new(
            ClientRegistrationServiceServer::new(identity::Identity::new(core.clone()))
                .max_decoding_message_size(max_message_bytes),
            facade.clone(),
        ))
}

/// A transport that calls the routes directly: no socket, no TCP hop.
pub fn in_process(routes: tonic::service::Routes) -> Transport {
    let routes = routes.prepare();
    BoxCloneSyncService::new(ServiceExt::<http::Request<tonic::body::Body>>::map_err(
        routes,
        |e| TransportError(BoxError::from(e)),
    ))
}

/// A transport to a core at `url` (`http://core:50051`, or `https://…`
/// through `tls`), connected lazily.
pub fn connect(url: &str, tls: Option<crate::net::tls::TlsConnector>) -> Result<Transport, Error> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| Error::invalid_request(format!("invalid core URL `{url}`: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    let channel = if url.starts_with("https://") {
        let tls = tls.ok_or_else(|| {
            Error::invalid_request(format!(
                "core URL `{url}` is https but no TLS client is set up"
            ))
        })?;
        endpoint.connect_with_connector_lazy(tls)
    } else {
        endpoint.connect_lazy()
    };
    Ok(BoxCloneSyncService::new(
        channel.map_err(|e| TransportError(BoxError::from(e))),
    ))
}

/// Authenticates a protection-API call (a PAT in the `authorization`
/// metadata); returns the caller's namespace and the message.
async fn protected<T>(
    core: &Core,
    request: tonic::Request<T>,
) -> Result<(Namespace, T), tonic::Status> {
    let ns = core
        .authenticate(authorization(&request), ApiScope::Protection)
        .await?;
    Ok((ns, request.into_inner()))
}

/// Authenticates an authorization-API call (an AAT); returns the
/// requesting party and the message.
async fn requesting<T>(
    core: &Core,
    request: tonic::Request<T>,
) -> Result<(Requester, T), tonic::Status> {
    let requester = core.authenticate_requester(authorization(&request)).await?;
    Ok((requester, request.into_inner()))
}

/// The gRPC `authorization` metadata value, if any.
fn authorization<T>(request: &tonic::Request<T>) -> Option<&str> {
    request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_named_as_they_are_routed() {
        let (_, health) = tonic_health::server::health_reporter();
        let services = Services::default().add_service(health);
        assert_eq!(services.names(), ["grpc.health.v1.Health"]);
    }
}
