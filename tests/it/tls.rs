//! Native TLS on both listeners, over real sockets with certificates made
//! here: the HTTP flows over HTTPS (with HSTS), gRPC over TLS with client
//! certificates required (mutual TLS), a certificate replaced on disk while
//! the server runs, a split deployment whose façade reaches its core over
//! mTLS, and the plain health listener probes use.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};
use steward::app::Application;
use steward::config::{Role, Secret, Settings};
use steward::grpc::proto::ListResourceSetsRequest;
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::net::tls::{ClientFiles, TlsConnector};
use tonic::transport::{Channel, Endpoint};

use crate::helpers::{TestApp, bearer, client_credentials_pat, spawn_app_with, test_settings};

/// A certificate authority made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, key PEM) for 127.0.0.1 and localhost, or a client.
    fn leaf(&self, name: &str, purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        self.leaf_with(name, purpose, |_| {})
    }

    /// A leaf whose parameters `adjust` changes (validity, say).
    fn leaf_with(
        &self,
        name: &str,
        purpose: ExtendedKeyUsagePurpose,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![purpose];
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A folder of PEM files for one test.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(format!("steward-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    /// Writes `name` atomically (as a Secret volume update does: rename).
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        let partial = self.dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, content).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a TLS test server was started with.
struct TlsServer {
    app: TestApp,
    files: Files,
    ca: TestCa,
    client_ca: TestCa,
}

/// A server with TLS on both listeners, mTLS on gRPC (clients of
/// `client_ca`), files checked every 100 ms, and a plain health listener.
async fn tls_server() -> TlsServer {
    let ca = TestCa::new("Steward test CA");
    let client_ca = TestCa::new("Steward test client CA");
    let files = Files::new();
    let (cert, key) = ca.leaf("steward", ExtendedKeyUsagePurpose::ServerAuth);
    let cert_file = files.write("tls.crt", &cert);
    let key_file = files.write("tls.key", &key);
    let ca_file = files.write("client-ca.crt", &client_ca.pem());
    let app = spawn_app_with(|s| {
        s.tls_cert_file = Some(cert_file);
        s.tls_key_file = Some(key_file);
        s.tls_client_ca_file = Some(ca_file);
        s.tls_reload_ms = 100;
        s.health_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    TlsServer {
        app,
        files,
        ca,
        client_ca,
    }
}

/// An HTTPS client that trusts only `ca_pem`.
fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// A gRPC channel over TLS to `url`, trusting `ca` and presenting
/// `identity` (certificate and key PEM) if given.
async fn grpc_channel(
    url: &str,
    files: &Files,
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let client_files = ClientFiles {
        ca: Some(files.write(&format!("ca-{tag}.crt"), ca_pem)),
        identity: identity.map(|(cert, key)| {
            (
                files.write(&format!("client-{tag}.crt"), cert),
                files.write(&format!("client-{tag}.key"), key),
            )
        }),
    };
    Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect_with_connector(TlsConnector::load(&client_files).unwrap())
        .await
}

async fn pat_over(client: &reqwest::Client, app: &TestApp) -> String {
    let (id, secret) = app.create_client("alice", &["uma_protection"]).await;
    client_credentials_pat(client, &app.url("/oauth/token"), &id, &secret).await
}

#[tokio::test]
async fn the_protection_api_runs_over_https_with_hsts() {
    let server = tls_server().await;
    let app = &server.app;
    assert!(app.http.starts_with("https://"), "{}", app.http);
    assert!(
        app.issuer.starts_with("https://"),
        "the default issuer follows"
    );
    let client = https_client(&server.ca.pem());

    let discovery = client
        .get(app.url("/.well-known/uma-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    assert_eq!(
        discovery.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let discovery: Value = discovery.json().await.unwrap();
    assert!(
        discovery["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    let pat = pat_over(&client, app).await;
    let put = client
        .put(app.url("/uma/rs/resource_set/album"))
        .bearer_auth(&pat)
        .json(&json!({"name": "Album", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let ticket = client
        .post(app.url("/uma/rs/perm"))
        .bearer_auth(&pat)
        .json(&json!({"resource_set_id": "album", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ticket.status(), 201);
    let page = client.get(app.url("/signin")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000",
        "browser pages carry HSTS"
    );

    // Plain HTTP to the HTTPS port gets no answer; a client that does not
    // trust the CA gets no connection.
    let plain = reqwest::Client::new()
        .get(app.url("/healthz").replacen("https://", "http://", 1))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let stranger = https_client(&TestCa::new("another CA").pem())
        .get(app.url("/healthz"))
        .send()
        .await;
    assert!(stranger.is_err(), "{stranger:?}");

    // Probes use the plain health listener.
    let health = app.health.as_ref().expect("health listener");
    let ready = reqwest::get(format!("{health}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let not_there = reqwest::get(format!("{health}/oauth/jwks")).await.unwrap();
    assert_eq!(
        not_there.status(),
        404,
        "the health listener serves only probes"
    );
    server.app.stop().await;
}

#[tokio::test]
async fn grpc_requires_a_client_certificate_from_the_configured_ca() {
    let server = tls_server().await;
    let app = &server.app;
    let pat = pat_over(&https_client(&server.ca.pem()), app).await;
    let ca = server.ca.pem();
    let client_identity = server
        .client_ca
        .leaf("mesh-caller", ExtendedKeyUsagePurpose::ClientAuth);

    let channel = grpc_channel(&app.grpc, &server.files, &ca, Some(&client_identity))
        .await
        .expect("mTLS connects");
    let listed = ResourceSetServiceClient::new(channel.clone())
        .list_resource_sets(bearer(ListResourceSetsRequest::default(), &pat))
        .await
        .expect("a call over mTLS");
    assert!(listed.into_inner().ids.is_empty());
    // Envoy's Check over the same mTLS channel: a request for a host no
    // profile covers is answered (denied by default), not refused.
    let checked =
        envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient::new(
            channel,
        )
        .check(envoy_types::ext_authz::v3::pb::CheckRequest::default())
        .await
        .expect("Check over mTLS");
    assert!(checked.into_inner().http_response.is_some());

    // No client certificate, one from another CA, one of the right CA that
    // has expired or is not yet valid, or one issued for servers only: no
    // call gets through.
    let foreign = TestCa::new("a foreign CA").leaf("intruder", ExtendedKeyUsagePurpose::ClientAuth);
    let expired = server
        .client_ca
        .leaf_with("expired", ExtendedKeyUsagePurpose::ClientAuth, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
    let not_yet = server
        .client_ca
        .leaf_with("future", ExtendedKeyUsagePurpose::ClientAuth, |p| {
            p.not_before = rcgen::date_time_ymd(2090, 1, 1);
            p.not_after = rcgen::date_time_ymd(2091, 1, 1);
        });
    let server_only = server
        .client_ca
        .leaf("a server", ExtendedKeyUsagePurpose::ServerAuth);
    for identity in [
        None,
        Some(&foreign),
        Some(&expired),
        Some(&not_yet),
        Some(&server_only),
    ] {
        let outcome = match grpc_channel(&app.grpc, &server.files, &ca, identity).await {
            Err(_) => None,
            Ok(channel) => Some(
                ResourceSetServiceClient::new(channel)
                    .list_resource_sets(bearer(ListResourceSetsRequest::default(), &pat))
                    .await,
            ),
        };
        assert!(
            !matches!(outcome, Some(Ok(_))),
            "a caller without a trusted client certificate was served"
        );
    }
    server.app.stop().await;
}

/// Polls until `check` holds, for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let server = tls_server().await;
    let app = &server.app;
    let old_ca = server.ca.pem();
    let healthz = app.url("/healthz");
    assert_eq!(
        https_client(&old_ca)
            .get(&healthz)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // cert-manager renews with a new CA: the key and certificate are swapped.
    let new_ca = TestCa::new("Steward renewed CA");
    let (cert, key) = new_ca.leaf("steward", ExtendedKeyUsagePurpose::ServerAuth);
    server.files.write("tls.key", &key);
    server.files.write("tls.crt", &cert);
    eventually("the new certificate is served", || async {
        https_client(&new_ca.pem())
            .get(&healthz)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(
        https_client(&old_ca).get(&healthz).send().await.is_err(),
        "the old certificate is gone"
    );
    // gRPC follows too.
    let identity = server
        .client_ca
        .leaf("mesh-caller", ExtendedKeyUsagePurpose::ClientAuth);
    assert!(
        grpc_channel(&app.grpc, &server.files, &new_ca.pem(), Some(&identity))
            .await
            .is_ok()
    );

    // A broken replacement (half-written, or a key that does not match)
    // keeps the last good certificate in force.
    server
        .files
        .write("tls.crt", "-----BEGIN CERTIFICATE-----\nbroken");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        https_client(&new_ca.pem())
            .get(&healthz)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.app.stop().await;
}

#[tokio::test]
async fn a_bad_certificate_file_stops_start_up_with_what_is_wrong() {
    let files = Files::new();
    let cert = files.write("tls.crt", "not a certificate");
    let key = files.write("tls.key", "not a key");
    let mut settings = test_settings().await;
    settings.tls_cert_file = Some(cert);
    settings.tls_key_file = Some(key);
    let error = Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        error.description().contains("tls.crt"),
        "{}",
        error.description()
    );
    settings.tls_cert_file = Some(files.dir.join("missing.crt"));
    let error = Application::build(settings).await.err().expect("refused");
    assert!(
        error.description().contains("missing.crt"),
        "{}",
        error.description()
    );
}

/// The core, then a façade reaching it over mTLS with its own client
/// certificate: the protection API and the browser sign-in both work.
#[tokio::test]
async fn a_split_facade_reaches_its_core_over_mutual_tls() {
    let ca = TestCa::new("Steward test CA");
    let client_ca = TestCa::new("Steward façade CA");
    let files = Files::new();
    let (cert, key) = ca.leaf("steward-core", ExtendedKeyUsagePurpose::ServerAuth);
    let (facade_cert, facade_key) =
        client_ca.leaf("steward-facade", ExtendedKeyUsagePurpose::ClientAuth);

    let mut core_settings = test_settings().await;
    core_settings.role = Role::Core;
    core_settings.facade_token = Some(Secret::new("tls-split-facade-token"));
    core_settings.tls_cert_file = Some(files.write("tls.crt", &cert));
    core_settings.tls_key_file = Some(files.write("tls.key", &key));
    core_settings.tls_client_ca_file = Some(files.write("client-ca.crt", &client_ca.pem()));
    let core_app = Application::build(core_settings)
        .await
        .expect("core builds");
    let core = core_app.core().expect("core");
    core.create_user(steward::core::users::NewUser {
        username: "alice".into(),
        password: Secret::new("correct horse battery staple"),
        claims: serde_json::Map::new(),
    })
    .await
    .unwrap();
    let created = core
        .create_client(steward::core::clients::NewClient {
            name: "photoz".into(),
            owner: Some("alice".into()),
            scopes: vec!["uma_protection".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let core_url = format!("https://127.0.0.1:{}", core_app.grpc_addr().unwrap().port());
    let (core_stop, core_stopped) = tokio::sync::oneshot::channel::<()>();
    let core_task = tokio::spawn(core_app.run(async move {
        let _ = core_stopped.await;
    }));

    let mut facade_settings: Settings = test_settings().await;
    facade_settings.role = Role::Facade;
    facade_settings.core_url = Some(core_url);
    facade_settings.facade_token = Some(Secret::new("tls-split-facade-token"));
    facade_settings.core_tls_ca_file = Some(files.write("core-ca.crt", &ca.pem()));
    facade_settings.core_tls_cert_file = Some(files.write("facade.crt", &facade_cert));
    facade_settings.core_tls_key_file = Some(files.write("facade.key", &facade_key));
    let facade_app = Application::build(facade_settings)
        .await
        .expect("façade builds");
    let http = format!("http://{}", facade_app.http_addr().unwrap());
    let (facade_stop, facade_stopped) = tokio::sync::oneshot::channel::<()>();
    let facade_task = tokio::spawn(facade_app.run(async move {
        let _ = facade_stopped.await;
    }));

    let client = reqwest::Client::new();
    let ready = client.get(format!("{http}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let pat = client_credentials_pat(
        &client,
        &format!("{http}/oauth/token"),
        &created.client_id,
        created.client_secret.expose(),
    )
    .await;
    let listed = client
        .get(format!("{http}/uma/rs/resource_set"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.status(),
        200,
        "the protection API through the mTLS hop"
    );
    let browser = crate::browser_support::Browser::on(&http, None);
    let page = browser.get("/signin").await;
    assert_eq!(page.status, 200);
    let signed_in = browser
        .sign_in_on(&page, "alice", "correct horse battery staple")
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    let _ = facade_stop.send(());
    let _ = core_stop.send(());
    facade_task.await.unwrap().unwrap();
    core_task.await.unwrap().unwrap();
}
