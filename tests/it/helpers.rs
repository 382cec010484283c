//! `spawn_app()` and the helpers every test uses.

#![allow(dead_code)]

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Database};
use steward::app::{Application, Overrides};
use steward::config::{Role, Secret, Settings};
use steward::core::clients::NewClient;
use steward::core::users::NewUser;
use steward::core::{Core, ManualClock};
use steward::domain::UnixTime;
use steward::domain::rpt::Permission;
use steward::domain::secret::{self, OsEntropy};
use steward::store::{self, Store, rpts::RptRecord};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The instant every test's manual clock starts at (2026-11-30T00:00:00Z).
pub const T0: UnixTime = 1_796_083_200;

/// A running Steward and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the façade.
    pub http: String,
    /// `http://127.0.0.1:PORT` of the gRPC core.
    pub grpc: String,
    /// `http://127.0.0.1:PORT` of the plain health listener, if `health_addr` is set.
    pub health: Option<String>,
    pub issuer: String,
    pub database_url: String,
    pub clock: Arc<ManualClock>,
    pub http_client: reqwest::Client,
    pub store: Store,
    core: Core,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), steward::domain::Error>>>,
}

/// A resource server's credentials and PAT.
#[derive(Debug, Clone)]
pub struct ResourceServer {
    pub client_id: String,
    pub client_secret: String,
    pub owner: String,
    pub pat: String,
}

/// A fresh database: a new PostgreSQL database on `TEST_DATABASE_URL`'s
/// server when that is set, else a new SQLite file.
pub async fn fresh_database_url() -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let name = format!("steward_t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(base.as_str())
                .await
                .expect("TEST_DATABASE_URL must be reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (server, _) = base.rsplit_once('/').expect("database URL with a path");
            format!("{server}/{name}")
        }
        _ => {
            let path = std::env::temp_dir().join(format!("steward-{}.db", uuid::Uuid::new_v4()));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

/// Settings for a test server: ephemeral ports, a fresh database.
pub async fn test_settings() -> Settings {
    Settings {
        database_url: Secret::new(fresh_database_url().await),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        // Tests that read audit events point this at a file of their own.
        audit_log: "off".into(),
        ..Settings::default()
    }
}

/// Boots Steward with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots Steward after `adjust` has changed the test settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings().await;
    adjust(&mut settings);
    spawn_settings(settings).await
}

/// Boots Steward (role `all`) on exactly these settings.
pub async fn spawn_settings(settings: Settings) -> TestApp {
    assert_eq!(
        settings.role,
        Role::All,
        "spawn_settings boots the all-in-one role"
    );
    let clock = Arc::new(ManualClock::new(T0));
    let database_url = settings.database_url.expose().to_string();
    let app = Application::build_with(
        settings.clone(),
        Overrides {
            clock: Some(clock.clone()),
            entropy: None,
        },
    )
    .await
    .expect("application builds");
    let scheme = if settings.serves_tls() {
        "https"
    } else {
        "http"
    };
    let http = format!("{scheme}://{}", app.http_addr().expect("http listener"));
    let grpc = format!("{scheme}://{}", app.grpc_addr().expect("grpc listener"));
    let health = app.health_addr().map(|addr| format!("http://{addr}"));
    let issuer = app.issuer().to_string();
    // The app's own store handle: writes the tests make through it drop the
    // server's caches at once, as the server's own writes do.
    let store = app.store().expect("the core's store");
    // The server's own core: what tests do through it (rotate keys, create
    // clients) takes effect in the server at once.
    let core = app.core().expect("the core");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        http,
        grpc,
        health,
        issuer,
        database_url,
        clock,
        http_client: reqwest::Client::new(),
        store,
        core,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// `{http}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    /// A channel to the gRPC core.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects")
    }

    /// Registers a client the way `steward client create` does.
    pub async fn create_client(&self, owner: &str, scopes: &[&str]) -> (String, String) {
        let created = self
            .core
            .create_client(NewClient {
                name: format!("client of {owner}"),
                owner: Some(owner.to_string()),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..NewClient::default()
            })
            .await
            .expect("client created");
        (created.client_id, created.client_secret.into_exposed())
    }

    /// Creates a local user the way `steward user create` does.
    pub async fn create_user(&self, username: &str, password: &str, claims: serde_json::Value) {
        self.core
            .create_user(NewUser {
                username: username.to_string(),
                password: Secret::new(password),
                claims: claims.as_object().cloned().unwrap_or_default(),
            })
            .await
            .expect("user created");
    }

    /// Registers a client for the browser grants (authorization_code and
    /// refresh_token): (client id, secret; empty for a public client).
    pub async fn create_browser_client(
        &self,
        name: &str,
        scopes: &[&str],
        redirect_uris: &[&str],
        public: bool,
    ) -> (String, String) {
        let created = self
            .core
            .create_client(NewClient {
                name: name.to_string(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
                public,
                ..NewClient::default()
            })
            .await
            .expect("client created");
        (created.client_id, created.client_secret.into_exposed())
    }

    /// Rotates the signing key now (as `steward keys rotate` does); the new `kid`.
    pub async fn rotate_keys(&self) -> String {
        self.core.rotate_keys().await.expect("keys rotated")
    }

    /// Reloads the signing keys (what each replica does every minute).
    pub async fn reload_keys(&self) {
        self.core.reload_keys().await.expect("keys reloaded");
    }

    /// Registers any client: (client id, secret).
    pub async fn register(&self, request: NewClient) -> (String, String) {
        let created = self
            .core
            .create_client(request)
            .await
            .expect("client created");
        (created.client_id, created.client_secret.into_exposed())
    }

    /// POSTs a `client_credentials` token request with HTTP Basic auth.
    pub async fn token_request(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
    ) -> reqwest::Response {
        self.http_client
            .post(self.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .expect("token request")
    }

    /// A requesting client of `party` holding a fresh AAT: (client id, AAT).
    pub async fn requester(&self, party: &str) -> (String, String) {
        let (id, secret) = self.create_client(party, &["uma_authorization"]).await;
        let response = self.token_request(&id, &secret, "uma_authorization").await;
        assert_eq!(response.status(), 200, "AAT issued");
        let body: serde_json::Value = response.json().await.unwrap();
        (id, body["access_token"].as_str().unwrap().to_string())
    }

    /// A new RPT without permissions for `aat` (draft-06 `rpt_endpoint`).
    pub async fn empty_rpt(&self, aat: &str) -> String {
        let response = self
            .http_client
            .post(self.url("/uma/client/rpt"))
            .bearer_auth(aat)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "RPT issued");
        let body: serde_json::Value = response.json().await.unwrap();
        body["rpt"].as_str().unwrap().to_string()
    }

    /// A new resource server for `owner` holding a fresh PAT.
    pub async fn resource_server(&self, owner: &str) -> ResourceServer {
        let (client_id, client_secret) = self.create_client(owner, &["uma_protection"]).await;
        let response = self
            .token_request(&client_id, &client_secret, "uma_protection")
            .await;
        assert_eq!(response.status(), 200, "PAT issued");
        let body: serde_json::Value = response.json().await.unwrap();
        ResourceServer {
            client_id,
            client_secret,
            owner: owner.to_string(),
            pat: body["access_token"].as_str().unwrap().to_string(),
        }
    }

    /// `PUT {rsreguri}/resource_set/{rsid}` with a JSON description.
    pub async fn put_resource_set(
        &self,
        pat: &str,
        rsid: &str,
        body: &serde_json::Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http_client
            .put(self.url(&format!("/uma/rs/resource_set/{rsid}")))
            .bearer_auth(pat)
            .json(body);
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send().await.expect("PUT resource set")
    }

    /// `POST {permission_registration_endpoint}`.
    pub async fn register_permission(
        &self,
        pat: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.http_client
            .post(self.url("/uma/rs/perm"))
            .bearer_auth(pat)
            .json(body)
            .send()
            .await
            .expect("POST permission")
    }

    /// Stores an RPT directly (RPT issuance arrives with the authorization
    /// API) and attaches `permissions` granted on `resource_server`'s sets;
    /// returns the RPT value.
    pub async fn insert_rpt(
        &self,
        resource_server: Option<&ResourceServer>,
        permissions: &[(&str, &[&str], UnixTime)],
    ) -> String {
        let rpt = secret::mint(&OsEntropy, 32).unwrap();
        let hash = secret::token_hash(&rpt);
        store::rpts::insert(
            &self.store,
            &RptRecord {
                token_hash: hash.clone(),
                client_id: "uma-client".into(),
                subject: "bob".into(),
                resource_server: resource_server.map(|rs| rs.client_id.clone()),
                created_at: self.clock_now(),
                expires_at: None,
                revoked_at: None,
            },
        )
        .await
        .unwrap();
        if let Some(rs) = resource_server {
            for (rsid, scopes, exp) in permissions {
                store::rpts::add_permission(
                    &self.store,
                    &hash,
                    &rs.client_id,
                    &Permission {
                        owner: rs.owner.clone(),
                        resource_set_id: rsid.to_string(),
                        scopes: scopes.iter().map(|s| s.to_string()).collect(),
                        issued_at: self.clock_now(),
                        expires_at: *exp,
                    },
                )
                .await
                .unwrap();
            }
        }
        rpt
    }

    /// The test clock's current time.
    pub fn clock_now(&self) -> UnixTime {
        use steward::core::Clock;
        self.clock.now()
    }

    /// Every row of the database, to prove a refused request changed nothing.
    pub async fn dump(&self) -> String {
        store::dump(&self.store).await.unwrap()
    }

    /// Stops the server and waits for it to finish draining.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A gRPC request carrying `Authorization: Bearer {token}` metadata.
pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// The OAuth/UMA error code a gRPC status carries.
pub fn grpc_error_code(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// A PAT by `client_credentials` (HTTP Basic) at `token_endpoint`, for
/// servers other than a [`TestApp`] (a separate process, TLS, a façade).
pub async fn client_credentials_pat(
    client: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    secret: &str,
) -> String {
    let token = client
        .post(token_endpoint)
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "uma_protection"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(token.status(), 200, "a PAT from {token_endpoint}");
    let token: serde_json::Value = token.json().await.expect("a token answer");
    token["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// The `steward` binary under test, with an empty environment (every
/// setting comes from what the test passes).
pub fn steward_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_steward"));
    command.env_clear().kill_on_drop(true);
    command
}
