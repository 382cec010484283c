//! Split deployment: a core-only process (gRPC) and a façade-only process
//! (HTTP) calling it over the network, and a façade whose core is down.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use steward::app::Application;
use steward::config::{Role, Secret, Settings};
use steward::core::clients::NewClient;
use steward::core::{Clock, Core, CorePolicy, SystemClock};
use steward::domain::rpt::Permission;
use steward::domain::secret::{self, OsEntropy};
use steward::store::{self, Store, rpts::RptRecord};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::test_settings;

const ISSUER: &str = "http://steward.test";
/// What the façade presents to the core's identity services.
pub const FACADE_TOKEN: &str = "split-mode-facade-token";

/// A process started with `Application::run`, stopped by [`Process::stop`].
struct Process {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), steward::domain::Error>>>,
}

impl Process {
    fn start(app: Application) -> Process {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        Process {
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A façade-only Application for `core_url` (it never opens the database).
async fn facade(core_url: String) -> (String, Process) {
    facade_with_token(core_url, FACADE_TOKEN).await
}

/// A façade presenting `token` to the core's identity services.
async fn facade_with_token(core_url: String, token: &str) -> (String, Process) {
    let mut settings: Settings = test_settings().await;
    settings.role = Role::Facade;
    settings.core_url = Some(core_url);
    settings.facade_token = Some(Secret::new(token));
    settings.issuer = Some(ISSUER.to_string());
    let app = Application::build(settings).await.expect("façade builds");
    assert!(app.grpc_addr().is_none(), "a façade serves no gRPC");
    assert_eq!(app.issuer(), ISSUER);
    let http = format!(
        "http://{}",
        app.http_addr().expect("façade listens on HTTP")
    );
    (http, Process::start(app))
}

#[tokio::test]
async fn a_facade_serves_the_protection_api_through_a_remote_core() {
    // The core process.
    let mut settings = test_settings().await;
    settings.role = Role::Core;
    settings.issuer = Some(ISSUER.to_string());
    settings.facade_token = Some(Secret::new(FACADE_TOKEN));
    let database_url = settings.database_url.expose().to_string();
    let core_app = Application::build(settings.clone())
        .await
        .expect("core builds");
    assert!(core_app.http_addr().is_none(), "a core serves no HTTP");
    let core_url = format!("http://{}", core_app.grpc_addr().expect("core listens"));
    let core_process = Process::start(core_app);

    // The façade process.
    let (http, facade_process) = facade(core_url).await;
    let url = |path: &str| format!("{http}{path}");
    let client = reqwest::Client::new();

    // An operator registers a resource server on the same database.
    let store = Store::connect(&database_url).await.expect("store");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let admin = Core::new(
        store.clone(),
        CorePolicy::from_settings(&settings, ISSUER.to_string()),
        clock.clone(),
        Arc::new(OsEntropy),
    )
    .await
    .expect("admin core");
    let created = admin
        .create_client(NewClient {
            name: "photoz".into(),
            owner: Some("alice".into()),
            scopes: vec!["uma_protection".into()],
            ..NewClient::default()
        })
        .await
        .expect("client created");

    // Ready.
    let ready = client.get(url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );

    // PAT through the façade.
    let token = client
        .post(url("/oauth/token"))
        .basic_auth(&created.client_id, Some(created.client_secret.expose()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "uma_protection"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    let pat = token["access_token"].as_str().unwrap().to_string();

    // Resource set.
    let put = client
        .put(url("/uma/rs/resource_set/album"))
        .bearer_auth(&pat)
        .json(&json!({"name": "Album", "scopes": ["view", "all"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let put: Value = put.json().await.unwrap();
    assert_eq!(put["_id"], "album");
    let read: Value = client
        .get(url("/uma/rs/resource_set/album"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], "Album");
    assert_eq!(read["scopes"], json!(["view", "all"]));

    // Permission.
    let ticket = client
        .post(url("/uma/rs/perm"))
        .bearer_auth(&pat)
        .json(&json!({"resource_set_id": "album", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(ticket.status(), 201);
    let location = ticket.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{ISSUER}/uma/rs/perm/")),
        "{location}"
    );
    let ticket: Value = ticket.json().await.unwrap();
    assert!(ticket["ticket"].as_str().is_some_and(|t| t.len() >= 22));
    assert_eq!(store::ticket_count(&store).await.unwrap(), 1);

    // Errors cross the network intact.
    let refused = client
        .post(url("/uma/rs/perm"))
        .bearer_auth(&pat)
        .json(&json!({"resource_set_id": "nope", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_resource_set_id");
    let refused = client
        .get(url("/uma/rs/resource_set/album"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_token");

    // RPT status for an RPT stored on the shared database.
    let now = clock.now();
    let rpt = secret::mint(&OsEntropy, 32).unwrap();
    let hash = secret::token_hash(&rpt);
    store::rpts::insert(
        &store,
        &RptRecord {
            token_hash: hash.clone(),
            client_id: "uma-client".into(),
            subject: "bob".into(),
            resource_server: Some(created.client_id.clone()),
            created_at: now,
            expires_at: None,
            revoked_at: None,
        },
    )
    .await
    .unwrap();
    store::rpts::add_permission(
        &store,
        &hash,
        &created.client_id,
        &Permission {
            owner: "alice".into(),
            resource_set_id: "album".into(),
            scopes: vec!["view".into()],
            issued_at: now,
            expires_at: now + 3600,
        },
    )
    .await
    .unwrap();
    let status = client
        .post(url("/uma/rs/status"))
        .bearer_auth(&pat)
        .json(&json!({"rpt": rpt}))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_eq!(
        status.json::<Value>().await.unwrap(),
        json!([{"resource_set_id": "album", "scopes": ["view"], "exp": now + 3600}])
    );
    let invalid: Value = client
        .post(url("/uma/rs/status"))
        .bearer_auth(&pat)
        .json(&json!({"rpt": "unknown"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(invalid, json!({"rpt_status": "invalid"}));

    facade_process.stop().await;
    core_process.stop().await;
}

/// A façade whose `core_url` names a port where nothing listens.
async fn facade_without_core() -> (String, Process) {
    // A port where nothing listens: bind one, note it, close it.
    let vacant = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    facade(format!("http://{vacant}")).await
}

/// Protected calls a façade can only answer with its core.
fn protected_calls(client: &reqwest::Client, http: &str) -> Vec<reqwest::RequestBuilder> {
    let url = |path: &str| format!("{http}{path}");
    vec![
        client
            .post(url("/uma/rs/perm"))
            .bearer_auth("some-pat")
            .json(&json!({"resource_set_id": "album", "scopes": ["view"]})),
        client
            .get(url("/uma/rs/resource_set"))
            .bearer_auth("some-pat"),
        client
            .put(url("/uma/rs/resource_set/album"))
            .bearer_auth("some-pat")
            .json(&json!({"name": "Album", "scopes": ["view"]})),
        client
            .post(url("/uma/rs/status"))
            .bearer_auth("some-pat")
            .json(&json!({"rpt": "x"})),
        client
            .post(url("/oauth/token"))
            .basic_auth("id", Some("some-secret"))
            .form(&[("grant_type", "client_credentials")]),
    ]
}

#[tokio::test]
async fn a_facade_whose_core_is_down_is_alive_but_not_ready_and_never_succeeds() {
    let (http, process) = facade_without_core().await;
    let client = reqwest::Client::new();

    let live = client.get(format!("{http}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = client.get(format!("{http}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "not_ready");

    for call in protected_calls(&client, &http) {
        let response = call.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_server_error(), "{status} {body}");
        assert_eq!(body["status"], "error", "{body}");
        let text = body.to_string();
        assert!(
            !text.contains("some-pat") && !text.contains("some-secret"),
            "no credential is echoed: {text}"
        );
    }
    process.stop().await;
}

#[tokio::test]
async fn a_facade_whose_core_is_down_answers_503_temporarily_unavailable() {
    let (http, process) = facade_without_core().await;
    let client = reqwest::Client::new();
    for call in protected_calls(&client, &http) {
        let response = call.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    }
    process.stop().await;
}

/// A core-only process (`facade_token` as given) with a user `alice`:
/// its gRPC URL and the process.
async fn core_with_user(facade_token: Option<&str>) -> (String, Process) {
    let mut settings = test_settings().await;
    settings.role = Role::Core;
    settings.issuer = Some(ISSUER.to_string());
    settings.facade_token = facade_token.map(Secret::new);
    let core_app = Application::build(settings).await.expect("core builds");
    core_app
        .core()
        .expect("a core")
        .create_user(steward::core::users::NewUser {
            username: "alice".into(),
            password: Secret::new(PASSWORD),
            claims: serde_json::Map::new(),
        })
        .await
        .expect("user created");
    let core_url = format!("http://{}", core_app.grpc_addr().expect("core listens"));
    (core_url, Process::start(core_app))
}

const PASSWORD: &str = "correct horse battery staple";

/// Signs alice in through the façade at `http`; the final status.
async fn sign_in_through(http: &str) -> u16 {
    let browser = crate::browser_support::Browser::on(http, None);
    let page = browser.get("/signin").await;
    if page.status != 200 {
        return page.status;
    }
    browser.sign_in_on(&page, "alice", PASSWORD).await.status
}

#[tokio::test]
async fn only_a_facade_with_the_cores_facade_token_reaches_the_identity_services() {
    use steward::grpc::proto::ListProvidersRequest;
    use steward::grpc::proto::session_service_client::SessionServiceClient;

    let (core_url, core) = core_with_user(Some(FACADE_TOKEN)).await;
    let (http, good) = facade(core_url.clone()).await;
    assert_eq!(
        sign_in_through(&http).await,
        303,
        "the façade signs alice in"
    );
    let (wrong_http, wrong) = facade_with_token(core_url.clone(), "not-the-facade-token").await;
    let refused = sign_in_through(&wrong_http).await;
    assert!(
        refused >= 400,
        "a façade with another token gets no sign-in page: {refused}"
    );

    // Straight to the core's gRPC port: refused, unless the caller holds
    // the token (which is what makes the façade the façade).
    let channel = tonic::transport::Channel::from_shared(core_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sessions = SessionServiceClient::new(channel);
    let outside = sessions
        .list_providers(ListProvidersRequest {})
        .await
        .unwrap_err();
    assert_eq!(outside.code(), tonic::Code::PermissionDenied);
    let mut with_token = tonic::Request::new(ListProvidersRequest {});
    with_token.metadata_mut().insert(
        steward::grpc::facade_only::CREDENTIAL_HEADER,
        FACADE_TOKEN.parse().unwrap(),
    );
    assert!(sessions.list_providers(with_token).await.is_ok());

    good.stop().await;
    wrong.stop().await;
    core.stop().await;
}

#[tokio::test]
async fn a_core_without_a_facade_token_serves_no_identity_service() {
    let (core_url, core) = core_with_user(None).await;
    let (http, facade) = facade(core_url).await;
    let status = sign_in_through(&http).await;
    assert!(status >= 400, "{status}");
    // The protection API does not depend on it.
    let ready = reqwest::get(format!("{http}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    facade.stop().await;
    core.stop().await;
}
