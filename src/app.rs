//! The application: binds listeners, prepares the database and the core,
//! and serves gRPC and HTTP until told to shut down. Tests build it on port
//! 0 and read the bound addresses back.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::{Role, Secret, Settings};
use crate::core::{Clock, Core, CorePolicy, SystemClock};
use crate::domain::Error;
use crate::domain::secret::{self, Entropy, OsEntropy};
use crate::grpc::facade_only::{self, FacadeOnly};
use crate::grpc::{self, Transport, proto};
use crate::http::{self, CoreClients, Facade, FacadeOptions};
use crate::net::tls::{ClientFiles, ServerFiles, ServerTls, TlsConnector};
use crate::net::{Incoming, Limits, http_server};
use crate::store::Store;

/// How often the core re-checks the database for its health status.
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// Replaceable collaborators; tests pass a manual clock.
#[derive(Clone, Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub entropy: Option<Arc<dyn Entropy>>,
}

/// A built, not yet serving, Steward.
pub struct Application {
    settings: Settings,
    issuer: String,
    http: Option<TcpListener>,
    grpc: Option<TcpListener>,
    health: Option<TcpListener>,
    core: Option<Core>,
    /// TLS of the HTTP and gRPC listeners, when `tls_cert_file` is set.
    http_tls: Option<Arc<ServerTls>>,
    grpc_tls: Option<Arc<ServerTls>>,
    /// What the façade presents to the core's identity services.
    facade_credential: Option<Secret>,
    /// TLS to an `https://` core (a façade's `core_url`).
    core_connector: Option<TlsConnector>,
    /// The random source of the core and the façade.
    entropy: Arc<dyn Entropy>,
}

impl Application {
    /// Builds with the system clock and the OS random source.
    pub async fn build(settings: Settings) -> Result<Application, Error> {
        Application::build_with(settings, Overrides::default()).await
    }

    /// Binds the listeners the role needs, loads the TLS files, migrates the
    /// database and loads the core (unless this is a façade-only process).
    pub async fn build_with(
        settings: Settings,
        overrides: Overrides,
    ) -> Result<Application, Error> {
        settings.validate()?;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| Error::Unavailable(format!("cannot listen on {addr}: {e}")))
        };
        let http = match settings.role {
            Role::All | Role::Facade => Some(bind(settings.http_addr).await?),
            Role::Core => None,
        };
        let grpc = match settings.role {
            Role::All | Role::Core => Some(bind(settings.grpc_addr).await?),
            Role::Facade => None,
        };
        let health = match settings.health_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let http_addr = match &http {
            Some(listener) => listener
                .local_addr()
                .map_err(|e| Error::Internal(format!("listener has no address: {e}")))?,
            None => settings.http_addr,
        };
        let scheme = if settings.serves_tls() {
            "https"
        } else {
            "http"
        };
        let issuer = settings
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{http_addr}"))
            .trim_end_matches('/')
            .to_string();
        warn_if_plain_and_exposed(&issuer);
        let (http_tls, grpc_tls) = match (&settings.tls_cert_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) => {
                let files = ServerFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: None,
                };
                let http_tls = ServerTls::load("http", &files, &[b"h2", b"http/1.1"])?;
                let grpc_files = ServerFiles {
                    client_ca: settings.tls_client_ca_file.clone(),
                    ..files
                };
                let grpc_tls = ServerTls::load("grpc", &grpc_files, &[b"h2"])?;
                (Some(http_tls), Some(grpc_tls))
            }
            _ => (None, None),
        };
        let core_connector = match &settings.core_url {
            Some(url) if url.starts_with("https://") && settings.role == Role::Facade => {
                Some(TlsConnector::load(&ClientFiles {
                    ca: settings.core_tls_ca_file.clone(),
                    identity: settings
                        .core_tls_cert_file
                        .clone()
                        .zip(settings.core_tls_key_file.clone()),
                })?)
            }
            _ => None,
        };
        let facade_credential = match (&settings.facade_token, settings.role) {
            (Some(token), _) => Some(token.clone()),
            // One process: a credential that never leaves it.
            (None, Role::All) => Some(Secret::new(secret::mint(&OsEntropy, 32)?)),
            (None, _) => {
                tracing::warn!(
                    "no facade_token: the sign-in, consent and client registration services refuse every caller"
                );
                None
            }
        };
        let entropy = overrides.entropy.unwrap_or_else(|| Arc::new(OsEntropy));
        let core = match settings.role {
            Role::Facade => None,
            Role::All | Role::Core => {
                let store = Store::connect_with(
                    settings.database_url.expose(),
                    &crate::store::DatabaseLimits::from_settings(&settings),
                )
                .await?;
                store.set_staleness_bound(staleness_bound(Duration::from_millis(
                    settings.cache_refresh_ms,
                )));
                if settings.migrate_on_start {
                    store.migrate().await?;
                } else if let Err(e) = store.ready().await {
                    return Err(Error::Unavailable(format!(
                        "{} (migrate_on_start is off: run `steward migrate` first)",
                        e.description()
                    )));
                }
                // The key-set counter, so the keys loaded now are current.
                store.refresh_cache().await?;
                let policy = CorePolicy::from_settings(&settings, issuer.clone());
                let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
                Some(Core::new(store, policy, clock, entropy.clone()).await?)
            }
        };
        Ok(Application {
            settings,
            issuer,
            http,
            grpc,
            health,
            core,
            http_tls,
            grpc_tls,
            facade_credential,
            core_connector,
            entropy,
        })
    }

    /// The bound HTTP address, if this process serves HTTP.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound gRPC address, if this process serves the core.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound health-probe address, if `health_addr` is set.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The database handle of the core (shared with its caches), if this
    /// process runs the core. Writes through it are seen at once.
    pub fn store(&self) -> Option<Store> {
        self.core.as_ref().map(|core| core.store().clone())
    }

    /// The core this process runs (shared with its servers), if any.
    pub fn core(&self) -> Option<Core> {
        self.core.clone()
    }

    /// The issuer URL in force.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Everything the core listener serves: `core_routes` (the core
    /// services and health), server reflection (v1 and v1alpha) and Envoy's
    /// `Check`, which Envoy calls with its own messages, never through the
    /// façade.
    fn network_routes(
        &self,
        core: &Core,
        core_routes: grpc::Services,
    ) -> Result<grpc::Services, Error> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(grpc::ext_authz::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| Error::Internal(format!("reflection: {e}")))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(grpc::ext_authz::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| Error::Internal(format!("reflection: {e}")))?;
        Ok(core_routes
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                envoy_types::ext_authz::v3::pb::AuthorizationServer::new(
                    grpc::ext_authz::ExtAuthz::new(
                        core.clone(),
                        self.issuer.clone(),
                        self.settings.ext_authz_token.clone(),
                    ),
                )
                .max_decoding_message_size(self.settings.max_body_bytes),
            ))
    }

    /// Serves until `shutdown` completes, then stops accepting, reports
    /// NOT_SERVING, and gives in-flight requests `shutdown_grace` to finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let max = self.settings.max_body_bytes;
        let grace = Duration::from_secs(self.settings.shutdown_grace);
        let tls_reload = Duration::from_millis(self.settings.tls_reload_ms);
        let header_timeout = Duration::from_millis(self.settings.header_read_timeout_ms);

        let facade_only = FacadeOnly::new(self.facade_credential.as_ref());
        // What the façade reaches in-process: the core services and health.
        let routes = self.core.as_ref().map(|core| {
            grpc::core_routes(core, max, &facade_only).add_service(health_service.clone())
        });
        // What the core listener serves: those, reflection and Envoy's Check.
        let network_routes = match (&self.core, &routes) {
            (Some(core), Some(routes)) => Some(self.network_routes(core, routes.clone())?),
            _ => None,
        };
        // Health is reported for every service the core listener serves.
        let served: Arc<[&'static str]> = network_routes
            .as_ref()
            .map_or_else(|| Arc::from([]), |services| Arc::from(services.names()));
        if let Some(core) = &self.core {
            tokio::spawn(watch_health(
                core.store().clone(),
                reporter.clone(),
                served.clone(),
                stop_rx.clone(),
            ));
            check_health(core.store(), &reporter, &served).await;
            let refresh = Duration::from_millis(self.settings.cache_refresh_ms);
            tokio::spawn(refresh_caches(core.clone(), refresh, stop_rx.clone()));
            tokio::spawn(maintain(
                core.clone(),
                refresh,
                Duration::from_secs(self.settings.change_retention_secs),
                stop_rx.clone(),
            ));
        }
        tokio::spawn(crate::telemetry::metrics_upkeep(stop_rx.clone()));
        for tls in [&self.http_tls, &self.grpc_tls].into_iter().flatten() {
            tokio::spawn(tls.watch(tls_reload, stop_rx.clone()));
        }
        if let Some(connector) = &self.core_connector {
            tokio::spawn(connector.watch(tls_reload, stop_rx.clone()));
        }
        // How the façade and the health listener reach the core.
        let core_transport = match (&routes, &self.settings.core_url) {
            (Some(core_routes), _) => Some(grpc::in_process(core_routes.routes())),
            (None, Some(url)) => Some(grpc::connect(url, self.core_connector.clone())?),
            (None, None) => None,
        }
        .map(|transport| match &self.facade_credential {
            Some(credential) => facade_only::with_credential(transport, credential),
            None => transport,
        });
        let facade = |transport: Transport| {
            Facade::new(
                CoreClients::new(transport),
                FacadeOptions {
                    issuer: self.issuer.clone(),
                    max_body_bytes: max,
                    trusted_proxies: self.settings.trusted_proxy_ranges(),
                    hsts: self.settings.serves_tls() || self.issuer.starts_with("https://"),
                },
                self.entropy.clone(),
            )
        };

        let mut tasks = tokio::task::JoinSet::new();
        if let (Some(listener), Some(network_routes)) = (self.grpc, network_routes) {
            let limits = Limits {
                max_connections: self.settings.max_client_connections,
                // The HTTP/2 connection preface is 24 bytes.
                first_bytes: (24, header_timeout),
            };
            let incoming = Incoming::new(listener, self.grpc_tls.clone(), limits)
                .map_err(|e| Error::Internal(format!("gRPC listener: {e}")))?;
            let stop = stopped(stop_rx.clone());
            tasks.spawn(async move {
                tonic::transport::Server::builder()
                    .trace_fn(|request| crate::telemetry::request_span(request, "grpc"))
                    .add_routes(network_routes.routes())
                    .serve_with_incoming_shutdown(incoming.into_stream(), stop)
                    .await
                    .map_err(|e| Error::Internal(format!("gRPC server failed: {e}")))
            });
        }
        if let Some(listener) = self.http {
            let transport = core_transport
                .clone()
                .ok_or_else(|| Error::invalid_request("a façade needs core_url"))?;
            let app = http::router(facade(transport));
            let limits = Limits {
                max_connections: self.settings.max_client_connections,
                first_bytes: (1, header_timeout),
            };
            let incoming = Incoming::new(listener, self.http_tls.clone(), limits)
                .map_err(|e| Error::Internal(format!("HTTP listener: {e}")))?;
            let stop = stopped(stop_rx.clone());
            tasks.spawn(async move {
                // Each request carries its peer address (`ConnectInfo<PeerAddr>`),
                // which feeds the per-address sign-in limit.
                http_server::serve(incoming, app, header_timeout, stop).await;
                Ok(())
            });
        }
        if let (Some(listener), Some(transport)) = (self.health, core_transport) {
            let app = http::health_router(facade(transport));
            let limits = Limits {
                // Probes, not clients: a handful of connections is plenty.
                max_connections: 64,
                first_bytes: (1, header_timeout),
            };
            let incoming = Incoming::new(listener, None, limits)
                .map_err(|e| Error::Internal(format!("health listener: {e}")))?;
            let stop = stopped(stop_rx.clone());
            tasks.spawn(async move {
                http_server::serve(incoming, app, header_timeout, stop).await;
                Ok(())
            });
        }

        tokio::select! {
            () = shutdown => {
                tracing::info!("shutting down: draining in-flight requests");
                report(&reporter, &served, ServingStatus::NotServing).await;
                let _ = stop_tx.send(true);
                let drained = async {
                    while let Some(result) = tasks.join_next().await {
                        result.map_err(|e| Error::Internal(format!("server task panicked: {e}")))??;
                    }
                    Ok::<(), Error>(())
                };
                match tokio::time::timeout(grace, drained).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("shutdown grace period over; closing remaining connections");
                        Ok(())
                    }
                }
            }
            Some(result) = tasks.join_next() => {
                let _ = stop_tx.send(true);
                result.map_err(|e| Error::Internal(format!("server task panicked: {e}")))?
            }
        }
    }
}

/// Tokens and passwords cross an `http://` issuer in the clear: fine on
/// loopback, worth a warning anywhere else (TLS may still be terminated in
/// front of Steward, which is why this is not an error).
fn warn_if_plain_and_exposed(issuer: &str) {
    if plain_and_exposed(issuer) {
        tracing::warn!(
            %issuer,
            "the issuer is a plain http:// URL on a non-loopback host: tokens and passwords travel unencrypted unless TLS is terminated in front (set tls_cert_file/tls_key_file, or an https:// issuer behind a TLS proxy)"
        );
    }
}

/// Whether `issuer` is `http://` on a host other than loopback.
fn plain_and_exposed(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Reports the database's readiness as the health of the server (`""`)
/// and of every service it serves (`served`).
async fn check_health(store: &Store, reporter: &HealthReporter, served: &[&'static str]) {
    let status = match store.ready().await {
        Ok(()) => ServingStatus::Serving,
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            ServingStatus::NotServing
        }
    };
    report(reporter, served, status).await;
}

/// Sets `status` for the server (`""`) and for each of `served`.
async fn report(reporter: &HealthReporter, served: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in served {
        reporter.set_service_status(*service, status).await;
    }
}

async fn watch_health(
    store: Store,
    reporter: HealthReporter,
    served: Arc<[&'static str]>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HEALTH_INTERVAL) => check_health(&store, &reporter, &served).await,
            _ = stop.changed() => return,
        }
    }
}

/// How often the change log is pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// How long after its last successful look at the change counter a replica
/// serves cached answers: three refresh intervals (at least a second), so a
/// slow look or two does not send every lookup to the database, while a
/// replica cut off from it stops answering from memory soon after.
pub fn staleness_bound(cache_refresh: Duration) -> Duration {
    (cache_refresh * 3).max(Duration::from_secs(1))
}

/// Drops the core's caches whenever another replica changed the database;
/// `interval` bounds how stale a cached answer can be, and a look that
/// fails leaves the caches to expire (see [`staleness_bound`]).
async fn refresh_caches(core: Core, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = core.store().refresh_cache().await {
            tracing::warn!(error = %e, "cannot check the database for changes");
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {},
            _ = stop.changed() => return,
        }
    }
}

/// Rotates and reloads signing keys and prunes the change log, on a loop of
/// its own so that neither delays the change-counter look.
async fn maintain(
    core: Core,
    interval: Duration,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        if let Err(e) = core.maintain_keys().await {
            tracing::warn!(error = %e, "cannot rotate or reload the signing keys");
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = core.prune_changes(retention).await {
                tracing::warn!(error = %e, "cannot prune the change log");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {},
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_issuers_off_loopback_are_exposed() {
        for exposed in [
            "http://auth.example.com",
            "http://10.0.0.5:8080",
            "http://[2001:db8::1]:8080/realms/x",
            "http://0.0.0.0:8080",
        ] {
            assert!(plain_and_exposed(exposed), "{exposed}");
        }
        for fine in [
            "https://auth.example.com",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080",
        ] {
            assert!(!plain_and_exposed(fine), "{fine}");
        }
    }
}
