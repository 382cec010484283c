//! The no-op baselines: a tonic server with only the health service
//! (`Health/Check` answers at once) and an axum router with only
//! `POST /noop` answering a tiny JSON. They run on the same server runtime
//! as a spawned Steward and are measured by the same driver with the same
//! client set-up, so an operation's ratio to its protocol's baseline is what
//! Steward costs beyond the framework and the loopback round trip.

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;

use crate::domain::Error;

/// The no-op route's path.
pub const NOOP_PATH: &str = "/noop";

/// The running baseline servers.
pub struct Baselines {
    /// `http://127.0.0.1:PORT` of the no-op gRPC server.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` of the no-op HTTP server.
    pub http: String,
    stop: Vec<oneshot::Sender<()>>,
}

impl Baselines {
    /// Starts both servers on `runtime`, bound to ephemeral loopback ports.
    pub async fn start(runtime: &Handle) -> Result<Baselines, Error> {
        let (grpc_stop, grpc_stopped) = oneshot::channel::<()>();
        let (http_stop, http_stopped) = oneshot::channel::<()>();
        // Listeners are bound inside the server runtime so their sockets are
        // driven by its threads, not the load generator's.
        let grpc_addr = runtime
            .spawn(async move {
                let listener = bind().await?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Error::Internal(format!("listener has no address: {e}")))?;
                let (_reporter, health) = tonic_health::server::health_reporter();
                tokio::spawn(async move {
                    let served = tonic::transport::Server::builder()
                        .add_service(health)
                        .serve_with_incoming_shutdown(
                            TcpListenerStream::new(listener),
                            async move {
                                let _ = grpc_stopped.await;
                            },
                        )
                        .await;
                    if let Err(e) = served {
                        eprintln!("steward bench: the no-op gRPC server failed: {e}");
                    }
                });
                Ok::<_, Error>(addr)
            })
            .await
            .map_err(|e| Error::Internal(format!("starting the gRPC baseline failed: {e}")))??;
        let http_addr = runtime
            .spawn(async move {
                let listener = bind().await?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Error::Internal(format!("listener has no address: {e}")))?;
                let app = Router::new().route(NOOP_PATH, post(noop));
                tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = http_stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        eprintln!("steward bench: the no-op HTTP server failed: {e}");
                    }
                });
                Ok::<_, Error>(addr)
            })
            .await
            .map_err(|e| Error::Internal(format!("starting the HTTP baseline failed: {e}")))??;
        Ok(Baselines {
            grpc: format!("http://{grpc_addr}"),
            http: format!("http://{http_addr}"),
            stop: vec![grpc_stop, http_stop],
        })
    }

    /// `{http}/noop`.
    pub fn noop_url(&self) -> String {
        format!("{}{NOOP_PATH}", self.http)
    }

    /// Asks both servers to stop (the runtime's shutdown ends them anyway).
    pub fn stop(mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}

async fn bind() -> Result<TcpListener, Error> {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Unavailable(format!("cannot listen on 127.0.0.1: {e}")))
}

/// The no-op handler: a tiny JSON answer, the body of the request unread
/// (the axum extractor work is Steward's cost, not the baseline's).
async fn noop() -> Json<Value> {
    Json(json!({"ok": true}))
}
