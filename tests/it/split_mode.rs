//! Split deployment: a core-only process (gRPC) and a façade-only process
//! (HTTP) calling it over the network, and a façade whose core is down.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use steward::app::Application;
use steward::config::{Role, Settings};
use steward::core::clients::NewClient;
use steward::core::{Clock, Core, CorePolicy, SystemClock};
use steward::domain::rpt::Permission;
use steward::domain::secret::{self, OsEntropy};
use steward::store::{self, Store, rpts::RptRecord};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::test_settings;

const ISSUER: &str = "http://steward.test";

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
    let mut settings: Settings = test_settings().await;
    settings.role = Role::Facade;
    settings.core_url = Some(core_url);
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
        .basic_auth(&created.client_id, Some(&created.client_secret))
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
