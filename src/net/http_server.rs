//! The HTTP server loop: axum's router on hyper, with what `axum::serve`
//! does not offer — a deadline for a request's headers (a client that sends
//! them slowly, a few bytes at a time, is cut off rather than holding its
//! connection forever) — and a graceful shutdown that lets in-flight
//! requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::watch;
use tower::ServiceExt as _;

use super::incoming::{Incoming, PeerAddr};

/// Serves `router` on `incoming` until `shutdown` completes, then stops
/// accepting, asks every connection to finish its requests and close, and
/// returns once they have (the caller bounds how long that may take).
pub async fn serve(
    mut incoming: Incoming,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let connection = tokio::select! {
            connection = axum::serve::Listener::accept(&mut incoming) => connection,
            () = &mut shutdown => break,
        };
        let (connection, peer) = connection;
        let router = router.clone();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                    let router = router.clone();
                    async move {
                        Ok::<_, Infallible>(
                            router.oneshot(request).await.unwrap_or_else(|e| match e {}),
                        )
                    }
                },
            );
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Duration::from_secs(30))
                .keep_alive_timeout(Duration::from_secs(20));
            let mut served =
                pin!(builder.serve_connection_with_upgrades(TokioIo::new(connection), service));
            loop {
                tokio::select! {
                    result = served.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                        }
                        return;
                    }
                    changed = closing.changed() => {
                        if changed.is_err() || *closing.borrow() {
                            served.as_mut().graceful_shutdown();
                            // Only the connection's own end is awaited now.
                            if let Err(e) = served.as_mut().await {
                                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                            }
                            return;
                        }
                    }
                }
            }
        });
    }
    // Stop accepting (closes the listening socket), then drain.
    drop(incoming);
    drop(closing_rx);
    let _ = closing_tx.send(true);
    closing_tx.closed().await;
}
