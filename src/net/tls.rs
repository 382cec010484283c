//! TLS from PEM files (rustls with the ring provider), reloaded when the
//! files change: certificates are replaced by cert-manager or an operator
//! without a restart. New connections use the newest configuration that
//! loaded; a replacement that does not load (a half-written file, a key that
//! does not match) keeps the previous one in force and says so in the log.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::domain::Error;

/// The crypto provider of every TLS configuration Steward builds.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid_request(format!("TLS: {what}: {e}"))
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(&format!("{} is not PEM certificates", path.display()), e))?;
    if certs.is_empty() {
        return Err(tls_error(
            &path.display().to_string(),
            "no CERTIFICATE block found",
        ));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        tls_error(
            &format!("{} holds no usable private key", path.display()),
            e,
        )
    })
}

fn roots(pem: &[u8], path: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem, path)? {
        roots
            .add(cert)
            .map_err(|e| tls_error(&format!("a CA certificate in {}", path.display()), e))?;
    }
    Ok(roots)
}

/// Builds a value from the contents of its files, in order.
type Build<T> = Box<dyn Fn(&[Vec<u8>]) -> Result<T, Error> + Send + Sync>;

/// A value built from files, rebuilt when their contents change.
struct Reloading<T> {
    /// What the log calls it.
    name: &'static str,
    files: Vec<PathBuf>,
    build: Build<T>,
    state: RwLock<(Vec<u8>, Arc<T>)>,
}

impl<T> Reloading<T> {
    fn load(
        name: &'static str,
        files: Vec<PathBuf>,
        build: impl Fn(&[Vec<u8>]) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Result<Reloading<T>, Error> {
        let (digest, contents) = read_all(&files)?;
        let value = build(&contents)?;
        Ok(Reloading {
            name,
            files,
            build: Box::new(build),
            state: RwLock::new((digest, Arc::new(value))),
        })
    }

    fn current(&self) -> Arc<T> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    /// Rebuilds if any file changed; whether a new value is now in force.
    fn reload(&self) -> Result<bool, Error> {
        let (digest, contents) = read_all(&self.files)?;
        let unchanged = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            == digest;
        if unchanged {
            return Ok(false);
        }
        let value = (self.build)(&contents)?;
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (digest, Arc::new(value));
        Ok(true)
    }
}

/// Checks `reloading`'s files every `interval` until `stop` turns true.
async fn watch_files<T>(
    reloading: Arc<Reloading<T>>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        match reloading.reload() {
            Ok(true) => tracing::info!(tls = reloading.name, "TLS files reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                tls = reloading.name,
                error = %e,
                "TLS files changed but do not load; the previous ones stay in use"
            ),
        }
    }
}

fn read_all(files: &[PathBuf]) -> Result<(Vec<u8>, Vec<Vec<u8>>), Error> {
    let mut digest = Sha256::new();
    let mut contents = Vec::with_capacity(files.len());
    for path in files {
        let bytes = std::fs::read(path)
            .map_err(|e| tls_error(&format!("cannot read {}", path.display()), e))?;
        digest.update((bytes.len() as u64).to_be_bytes());
        digest.update(&bytes);
        contents.push(bytes);
    }
    Ok((digest.finalize().to_vec(), contents))
}

/// Which files a listener's TLS comes from.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates issued by these CAs (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// A listener's TLS configuration, following its files.
pub struct ServerTls {
    config: Arc<Reloading<ServerConfig>>,
}

impl ServerTls {
    /// Loads the files now (a bad file fails start-up with what is wrong);
    /// `alpn` lists the application protocols offered (`h2`, `http/1.1`).
    pub fn load(
        name: &'static str,
        files: &ServerFiles,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerTls>, Error> {
        let mut paths = vec![files.cert.clone(), files.key.clone()];
        paths.extend(files.client_ca.clone());
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let files = files.clone();
        let config = Reloading::load(name, paths, move |contents| {
            server_config(&files, contents, alpn.clone())
        })?;
        Ok(Arc::new(ServerTls {
            config: Arc::new(config),
        }))
    }

    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.current())
    }

    /// Checks the files every `interval` until `stop` turns true.
    pub fn watch(
        &self,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        watch_files(self.config.clone(), interval, stop)
    }
}

fn server_config(
    files: &ServerFiles,
    contents: &[Vec<u8>],
    alpn: Vec<Vec<u8>>,
) -> Result<ServerConfig, Error> {
    let [cert, key, rest @ ..] = contents else {
        return Err(Error::Internal("TLS: certificate and key not read".into()));
    };
    let certs = certificates(cert, &files.cert)?;
    let key = private_key(key, &files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?;
    let builder = match (&files.client_ca, rest.first()) {
        (Some(path), Some(ca)) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca, path)?), provider())
                    .build()
                    .map_err(|e| tls_error("client certificate verifier", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        tls_error(
            &format!(
                "{} and {} do not make a usable certificate",
                files.cert.display(),
                files.key.display()
            ),
            e,
        )
    })?;
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Files for a client's TLS (the façade calling an `https://` core).
#[derive(Debug, Clone, Default)]
pub struct ClientFiles {
    /// CAs to verify the server with; the public web roots when unset.
    pub ca: Option<PathBuf>,
    /// A client certificate and key, for a server that requires one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Connects to `https://` gRPC servers with TLS (HTTP/2 by ALPN), following
/// the client files as they change. A tower connector for tonic's
/// `Endpoint::connect_with_connector`.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<Reloading<ClientConfig>>,
}

impl TlsConnector {
    /// Loads the files now; a bad file is an error here, not at first use.
    pub fn load(files: &ClientFiles) -> Result<TlsConnector, Error> {
        let mut paths = Vec::new();
        paths.extend(files.ca.clone());
        if let Some((cert, key)) = &files.identity {
            paths.push(cert.clone());
            paths.push(key.clone());
        }
        let files = files.clone();
        let config = Reloading::load("core client", paths, move |contents| {
            client_config(&files, contents)
        })?;
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }

    /// Checks the files every `interval` until `stop` turns true.
    pub fn watch(
        &self,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        watch_files(self.config.clone(), interval, stop)
    }
}

fn client_config(files: &ClientFiles, contents: &[Vec<u8>]) -> Result<ClientConfig, Error> {
    let mut contents = contents.iter();
    let roots = match &files.ca {
        Some(path) => {
            let pem = contents
                .next()
                .ok_or_else(|| Error::Internal("TLS: CA file not read".into()))?;
            roots(pem, path)?
        }
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("protocol versions", e))?
        .with_root_certificates(roots);
    let mut config = match (&files.identity, contents.next(), contents.next()) {
        (Some((cert_path, key_path)), Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert, cert_path)?, private_key(key, key_path)?)
            .map_err(|e| tls_error("client certificate", e))?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The connection type [`TlsConnector`] makes.
pub type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;

impl tower::Service<http::Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsIo>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let config = self.config.current();
        Box::pin(async move {
            let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_string());
            let host = uri
                .host()
                .ok_or_else(|| invalid("the core URL has no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone())
                .map_err(|_| invalid("the core URL's host is not a TLS server name"))?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}
