//! Issue 13, database faults: a locked table and killed connections answer
//! a fast 503 / `UNAVAILABLE` (never 500, never a 30 s wait ending in 408),
//! leave unrelated requests and readiness alone, and the server recovers
//! by itself. The PostgreSQL tests run when `TEST_DATABASE_URL` is set (CI);
//! the SQLite one when it is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{Connection, Executor};
use serde_json::{Value, json};
use steward::grpc::proto::permission_service_client::PermissionServiceClient;
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::grpc::proto::{ListResourceSetsRequest, RegisterPermissionRequest};
use tonic::Code;

use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app};

fn postgres_only() -> bool {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => true,
        _ => {
            eprintln!("skipped: TEST_DATABASE_URL is not set (PostgreSQL-only test)");
            false
        }
    }
}

/// A server with alice's resource server and her set `album`, whose lookup
/// is cached by one permission registration.
async fn app_with_album() -> (TestApp, ResourceServer) {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let created = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view", "all"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(register_ticket(&app, &rs).await.0, 201);
    (app, rs)
}

/// HTTP status and body of a permission registration on `album`.
async fn register_ticket(app: &TestApp, rs: &ResourceServer) -> (u16, Value) {
    let response = app
        .register_permission(
            &rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    answer(response).await
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn list_sets(app: &TestApp, rs: &ResourceServer) -> (u16, Value) {
    let response = app
        .http_client
        .get(app.url("/uma/rs/resource_set"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn put_set(app: &TestApp, rs: &ResourceServer, rsid: &str) -> (u16, Value) {
    let response = app
        .put_resource_set(
            &rs.pat,
            rsid,
            &json!({"name": rsid, "scopes": ["view"]}),
            None,
        )
        .await;
    answer(response).await
}

async fn metrics_text(app: &TestApp) -> String {
    app.http_client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn readyz(app: &TestApp) -> u16 {
    app.http_client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A 503 in the OAuth error shape: what every database fault must look like.
fn assert_unavailable(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
}

#[tokio::test]
async fn a_locked_table_answers_503_fast_and_leaves_unrelated_requests_and_readiness_alone() {
    if !postgres_only() {
        return;
    }
    let (app, rs) = app_with_album().await;
    let (requester, requester_secret) = app.create_client("bob", &["uma_authorization"]).await;
    // The client's verified secret is remembered from here on.
    let token = app
        .token_request(&requester, &requester_secret, "uma_authorization")
        .await;
    assert_eq!(token.status(), 200);
    // Once the cache refresher has seen the last write's revision (it polls
    // every 500 ms), the set's lookup stays cached: ticket registration
    // then needs only the ticket table.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(register_ticket(&app, &rs).await.0, 201);
    // Readiness has been computed at least once.
    assert_eq!(readyz(&app).await, 200);

    // Another session locks the resource sets for up to 15 s.
    let mut locker = sea_orm::sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute("LOCK TABLE resource_sets IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let locked_at = Instant::now();
    let released = Arc::new(AtomicBool::new(false));
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = {
        let released = released.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(15), release_rx).await;
            released.store(true, Ordering::SeqCst);
            locker.execute("ROLLBACK").await.unwrap();
        })
    };

    // 24 requests that need the locked table: more than the pool holds.
    let blocked: Vec<_> = (0..24)
        .map(|i| {
            let app_http = app.http_client.clone();
            let url = app.url("/uma/rs/resource_set");
            let pat = rs.pat.clone();
            let released = released.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let response = if i % 2 == 0 {
                    app_http.get(url).bearer_auth(&pat).send().await
                } else {
                    app_http
                        .put(format!("{url}/set-{i}"))
                        .bearer_auth(&pat)
                        .json(&json!({"name": "x", "scopes": ["view"]}))
                        .send()
                        .await
                }
                .unwrap();
                let (status, body) = answer(response).await;
                (
                    status,
                    body,
                    started.elapsed(),
                    released.load(Ordering::SeqCst),
                )
            })
        })
        .collect();

    // Meanwhile, requests that do not touch that table answer, fast.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for round in 0..5 {
        let started = Instant::now();
        let (status, body) = register_ticket(&app, &rs).await;
        assert_eq!(status, 201, "ticket registration, round {round}: {body}");
        let token = app
            .token_request(&requester, &requester_secret, "uma_authorization")
            .await;
        assert_eq!(token.status(), 200, "token endpoint, round {round}");
        assert_eq!(readyz(&app).await, 200, "still ready, round {round}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "unrelated requests took {took:?} in round {round}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !released.load(Ordering::SeqCst),
        "unrelated requests answered while the lock was held"
    );

    let mut slowest = Duration::ZERO;
    for request in blocked {
        let (status, body, took, after_release) = request.await.unwrap();
        assert_unavailable(status, &body, "a request on the locked table");
        assert!(!after_release, "answered while the lock was still held");
        slowest = slowest.max(took);
    }
    eprintln!(
        "the locked table's requests answered 503 within {slowest:?}, lock held {:?}",
        locked_at.elapsed()
    );
    assert!(
        slowest < Duration::from_secs(10),
        "a bounded wait, not the old 10 s: {slowest:?}"
    );
    // The lock is still held: readiness does not depend on the busy pool.
    assert_eq!(readyz(&app).await, 200);
    // Operators see why (the recorder is shared by the tests in this binary).
    let metrics = metrics_text(&app).await;
    assert!(
        metrics.contains("steward_database_errors_total{fault=\"lock_timeout\"}"),
        "{metrics}"
    );

    let _ = release_tx.send(());
    holder.await.unwrap();
    assert_eq!(list_sets(&app, &rs).await.0, 200);
    assert_eq!(put_set(&app, &rs, "after").await.0, 201);
    assert_eq!(register_ticket(&app, &rs).await.0, 201);
    assert_eq!(readyz(&app).await, 200);
}

/// Terminates every other session on the app's database, `times` times.
async fn kill_sessions(database_url: &str, times: usize, pause: Duration) -> u64 {
    let mut admin = sea_orm::sqlx::PgConnection::connect(database_url)
        .await
        .unwrap();
    let mut killed = 0;
    for _ in 0..times {
        tokio::time::sleep(pause).await;
        let rows = sea_orm::sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        killed += rows.len() as u64;
    }
    killed
}

/// Outcomes of a load run: answers by kind.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    unavailable: AtomicUsize,
    /// Which requests answered 503 (for the log).
    unavailable_kinds: std::sync::Mutex<Vec<String>>,
    /// Anything else, with what it was.
    wrong: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn http(&self, what: &str, status: u16, body: &Value) {
        match status {
            200..=299 => {
                self.ok.fetch_add(1, Ordering::SeqCst);
            }
            503 if body["error"] == "temporarily_unavailable" => {
                self.unavailable.fetch_add(1, Ordering::SeqCst);
                self.unavailable_kinds.lock().unwrap().push(what.into());
            }
            _ => self
                .wrong
                .lock()
                .unwrap()
                .push(format!("{what}: {status} {body}")),
        }
    }

    fn grpc<T>(&self, what: &str, result: Result<T, tonic::Status>) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::SeqCst);
            }
            Err(status)
                if status.code() == Code::Unavailable
                    && grpc_error_code(&status) == "temporarily_unavailable" =>
            {
                self.unavailable.fetch_add(1, Ordering::SeqCst);
                self.unavailable_kinds.lock().unwrap().push(what.into());
            }
            Err(status) => self.wrong.lock().unwrap().push(format!(
                "{what}: {:?} {}",
                status.code(),
                status.message()
            )),
        }
    }
}

/// One HTTP round that reaches the database: an uncached read, a ticket
/// (the writer's batch insert) and a resource-set write (a transaction).
async fn http_round(app: &TestApp, rs: &ResourceServer, n: usize, tally: &Tally) {
    let (status, body) = list_sets(app, rs).await;
    tally.http("HTTP list", status, &body);
    let (status, body) = register_ticket(app, rs).await;
    tally.http("HTTP ticket", status, &body);
    let (status, body) = put_set(app, rs, &format!("http-{n}")).await;
    tally.http("HTTP put", status, &body);
}

async fn grpc_round(app: &TestApp, rs: &ResourceServer, tally: &Tally) {
    let channel = app.channel().await;
    let listed = ResourceSetServiceClient::new(channel.clone())
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &rs.pat))
        .await;
    tally.grpc("gRPC list", listed);
    let registered = PermissionServiceClient::new(channel)
        .register_permission(bearer(
            RegisterPermissionRequest {
                resource_set_id: "album".into(),
                scopes: vec!["view".into()],
            },
            &rs.pat,
        ))
        .await;
    tally.grpc("gRPC ticket", registered);
}

#[tokio::test]
async fn killed_connections_answer_503_never_500_and_the_server_recovers_by_itself() {
    if !postgres_only() {
        return;
    }
    let (app, rs) = app_with_album().await;
    let app = Arc::new(app);
    let rs = Arc::new(rs);
    let tally = Arc::new(Tally::default());
    let running = Arc::new(AtomicBool::new(true));
    let loops: Vec<_> = (0..6)
        .map(|worker| {
            let (app, rs, tally, running) =
                (app.clone(), rs.clone(), tally.clone(), running.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while running.load(Ordering::SeqCst) {
                    n += 1;
                    if worker % 2 == 0 {
                        http_round(&app, &rs, worker * 100_000 + n, &tally).await;
                    } else {
                        grpc_round(&app, &rs, &tally).await;
                    }
                }
            })
        })
        .collect();
    let killed = kill_sessions(&app.database_url, 6, Duration::from_millis(400)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::SeqCst);
    for handle in loops {
        handle.await.unwrap();
    }
    let wrong = tally.wrong.lock().unwrap().clone();
    let (ok, unavailable) = (
        tally.ok.load(Ordering::SeqCst),
        tally.unavailable.load(Ordering::SeqCst),
    );
    eprintln!(
        "killed {killed} sessions; {ok} answers 2xx, {unavailable} 503/UNAVAILABLE: {:?}",
        tally.unavailable_kinds.lock().unwrap()
    );
    assert!(killed > 0, "sessions were killed");
    assert!(wrong.is_empty(), "only 2xx or 503/UNAVAILABLE: {wrong:?}");
    assert!(ok > 0);
    if unavailable > 0 {
        let metrics = metrics_text(&app).await;
        assert!(
            metrics.contains("steward_database_errors_total{fault=\"connection\"}"),
            "{metrics}"
        );
    }

    // No restart: the next requests find fresh connections.
    let recovered = Tally::default();
    for n in 0..3 {
        http_round(&app, &rs, 900_000 + n, &recovered).await;
        grpc_round(&app, &rs, &recovered).await;
    }
    let wrong = recovered.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "{wrong:?}");
    assert_eq!(
        recovered.unavailable.load(Ordering::SeqCst),
        0,
        "every answer after the kills is a success"
    );
    assert_eq!(readyz(&app).await, 200);
}

#[tokio::test]
async fn a_sqlite_write_lock_held_elsewhere_gives_writes_a_fast_503_and_reads_still_answer() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        eprintln!("skipped: SQLite-only test (TEST_DATABASE_URL is set)");
        return;
    }
    let (app, rs) = app_with_album().await;
    // Another process (here: connection) holds SQLite's one write lock.
    let mut writer = sea_orm::sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    writer.execute("BEGIN IMMEDIATE").await.unwrap();

    let started = Instant::now();
    let (status, body) = register_ticket(&app, &rs).await;
    assert_unavailable(
        status,
        &body,
        "a ticket while another writer holds the lock",
    );
    let (status, body) = put_set(&app, &rs, "blocked").await;
    assert_unavailable(status, &body, "a set while another writer holds the lock");
    let took = started.elapsed();
    eprintln!("two writes answered 503 in {took:?}");
    assert!(
        took < Duration::from_secs(12),
        "each waits the lock timeout (2 s), not the old 10 s: {took:?}"
    );
    // Readers do not wait for the writer (write-ahead log).
    let started = Instant::now();
    let (status, body) = list_sets(&app, &rs).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!(["album"]));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(readyz(&app).await, 200);

    writer.execute("ROLLBACK").await.unwrap();
    assert_eq!(register_ticket(&app, &rs).await.0, 201);
    assert_eq!(put_set(&app, &rs, "after").await.0, 201);
}
