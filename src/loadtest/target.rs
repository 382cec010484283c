//! What is measured: a Steward given by URL (loopback only), or one started
//! in-process over a fresh SQLite file — and the separate runtime the
//! in-process servers run on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::Application;
use crate::config::{Secret, Settings};
use crate::domain::Error;
use crate::http::paths;

/// How long a spawned Steward may take to drain after the run.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// A multi-threaded tokio runtime of its own for the in-process servers
/// (the spawned Steward and the baselines), so their work is scheduled on
/// other threads than the load generator's tasks and a busy server does not
/// delay the clock reads of the client (and vice versa) more than the OS
/// makes it.
pub struct ServerRuntime {
    runtime: Option<Runtime>,
}

impl ServerRuntime {
    pub fn new() -> Result<ServerRuntime, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("bench-server")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the server runtime: {e}")))?;
        Ok(ServerRuntime {
            runtime: Some(runtime),
        })
    }

    /// A handle to spawn servers on.
    pub fn handle(&self) -> Option<Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        // A runtime may not be dropped (which blocks) from async code;
        // `shutdown_background` stops it without waiting.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A Steward to measure.
pub struct Target {
    /// Base URL of the HTTP façade, no trailing slash.
    pub http: String,
    /// URL of the gRPC core, if there is one to measure.
    pub grpc: Option<String>,
    /// The issuer the server signs with (for the client registry).
    pub issuer: String,
    /// Where the server keeps its clients.
    pub database_url: String,
    spawned: Option<Spawned>,
}

/// An in-process Steward and its scratch directory.
struct Spawned {
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), Error>>>,
    dir: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Target {
    /// Whether this Steward was started by the tool.
    pub fn is_spawned(&self) -> bool {
        self.spawned.is_some()
    }

    /// Starts Steward (role `all`) on `runtime` on ephemeral loopback ports
    /// over a fresh SQLite file in a new temporary directory.
    pub async fn spawn(runtime: &Handle) -> Result<Target, Error> {
        let dir =
            std::env::temp_dir().join(format!("steward-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        // From here on the guard removes the directory on any way out.
        let mut spawned = Spawned {
            shutdown: Some(shutdown),
            server: None,
            dir: dir.clone(),
        };
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("steward.db").display());
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let settings = Settings {
            database_url: Secret::new(database_url.clone()),
            http_addr: loopback,
            grpc_addr: loopback,
            shutdown_grace: 2,
            // The report goes to stdout; audit lines would drown it. (A
            // separate server — benches/external.sh — keeps its audit log on,
            // so those figures include its cost.)
            audit_log: "off".into(),
            ..Settings::default()
        };
        let (bound_tx, bound_rx) = oneshot::channel();
        // Built inside the server runtime: the listeners it binds belong to
        // the runtime that creates them.
        spawned.server = Some(runtime.spawn(async move {
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => {
                    let _ = bound_tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let _ = bound_tx.send(Ok((
                app.http_addr(),
                app.grpc_addr(),
                app.issuer().to_string(),
            )));
            app.run(async move {
                let _ = stopped.await;
            })
            .await
        }));
        let (http, grpc, issuer) = bound_rx
            .await
            .map_err(|_| Error::Internal("the spawned Steward stopped while starting".into()))??;
        let (Some(http), Some(grpc)) = (http, grpc) else {
            return Err(Error::Internal(
                "the spawned Steward has no HTTP or gRPC listener".into(),
            ));
        };
        Ok(Target {
            http: format!("http://{http}"),
            grpc: Some(format!("http://{grpc}")),
            issuer,
            database_url,
            spawned: Some(spawned),
        })
    }

    /// A running Steward at `http` (and `grpc`), both on loopback. The
    /// issuer is read from its discovery document.
    pub async fn external(
        http: &str,
        grpc: Option<&str>,
        database_url: String,
        client: &reqwest::Client,
    ) -> Result<Target, Error> {
        let http = loopback_url(http, "--http")?;
        let grpc = grpc.map(|g| loopback_url(g, "--grpc")).transpose()?;
        let discovery = format!("{http}{}", paths::CONFIGURATION);
        let response = client
            .get(&discovery)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("cannot reach {discovery}: {e}")))?;
        if !response.status().is_success() {
            return Err(Error::Unavailable(format!(
                "{discovery} answered {}; is this a Steward?",
                response.status()
            )));
        }
        let document: serde_json::Value = response
            .json()
            .await
            .map_err(|e| Error::Unavailable(format!("{discovery} is not JSON: {e}")))?;
        let issuer = document
            .get("issuer")
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| http.clone(), str::to_string);
        Ok(Target {
            http,
            grpc,
            issuer,
            database_url,
            spawned: None,
        })
    }

    /// Stops a spawned Steward (waiting for it to drain) and removes its
    /// directory; a given Steward is left running.
    pub async fn stop(mut self) {
        let Some(mut spawned) = self.spawned.take() else {
            return;
        };
        if let Some(tx) = spawned.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = spawned.server.take() {
            match tokio::time::timeout(STOP_LIMIT, server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => eprintln!("steward bench: the spawned Steward failed: {e}"),
                Ok(Err(e)) => eprintln!("steward bench: the spawned Steward panicked: {e}"),
                Err(_) => eprintln!("steward bench: the spawned Steward did not stop in time"),
            }
        }
        // Dropping `spawned` removes the directory.
    }
}

/// `url` without a trailing slash, if it is `http://` to a loopback host:
/// the tool only ever loads a server on this machine.
pub fn loopback_url(url: &str, flag: &str) -> Result<String, Error> {
    let parsed = Url::parse(url)
        .map_err(|e| Error::invalid_request(format!("{flag} `{url}` is not a URL: {e}")))?;
    if parsed.scheme() != "http" {
        return Err(Error::invalid_request(format!(
            "{flag} must be an http:// URL (plain text on loopback), not `{url}`"
        )));
    }
    // `host_str` brackets IPv6 literals; an IP must parse and be loopback,
    // a name must be `localhost`.
    let loopback = parsed.host_str().is_some_and(|host| {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        }
    });
    if !loopback {
        return Err(Error::invalid_request(format!(
            "{flag} `{url}` is not a loopback address; the load tool only targets this machine \
             (127.0.0.0/8, ::1 or localhost)"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid_request(format!(
            "{flag} `{url}` must not have a query or fragment"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// The resident memory a Steward reports at `/metrics`
/// (`process_resident_memory_bytes`), if it says.
pub async fn resident_memory(client: &reqwest::Client, http: &str) -> Option<u64> {
    let text = client
        .get(format!("{http}/metrics"))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()?;
    parse_resident_memory(&text)
}

/// `process_resident_memory_bytes` from a Prometheus text exposition.
fn parse_resident_memory(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))?;
    let bytes: f64 = value.trim().parse().ok()?;
    // A gauge of whole bytes; anything else is not a reading.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_targets_are_accepted() {
        assert_eq!(
            loopback_url("http://127.0.0.1:8080/", "--http").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(loopback_url("http://localhost:50051", "--grpc").is_ok());
        assert!(loopback_url("http://[::1]:8080", "--http").is_ok());
        assert!(loopback_url("http://10.0.0.1:8080", "--http").is_err());
        assert!(loopback_url("http://example.com", "--http").is_err());
        assert!(loopback_url("https://127.0.0.1:8443", "--http").is_err());
        assert!(loopback_url("127.0.0.1:8080", "--http").is_err());
    }

    #[test]
    fn resident_memory_is_read_from_the_exposition() {
        let text = "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 18874368\nsteward_http_requests_total{route=\"/x\"} 3\n";
        assert_eq!(parse_resident_memory(text), Some(18_874_368));
        assert_eq!(parse_resident_memory("other 1\n"), None);
        assert_eq!(
            parse_resident_memory("process_resident_memory_bytes NaN\n"),
            None
        );
    }
}
