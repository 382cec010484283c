//! Faults from outside: a replica cut off from its database stops answering
//! from memory once it can no longer know what other replicas changed;
//! connections that send their headers slowly, or nothing, are closed; and
//! a listener keeps at most `max_client_connections` open.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoy_types::ext_authz::v3::pb::{CheckResponse, HttpResponse};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use serde_json::{Value, json};
use steward::config::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::ext_authz::check_request;
use crate::helpers::{
    ResourceServer, TestApp, client_credentials_pat, fresh_database_url, spawn_app_with,
    steward_command,
};

/// A TCP proxy to PostgreSQL that can be cut: every connection through it
/// is closed and new ones are refused, as when a replica loses its network
/// path to the database.
struct DatabaseLink {
    port: u16,
    cut: Arc<Mutex<bool>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl DatabaseLink {
    async fn to(upstream: std::net::SocketAddr) -> DatabaseLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(Mutex::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let acceptor = {
            let cut = cut.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if *cut.lock().unwrap() {
                        drop(client); // refused: closed at once
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(task);
                }
            })
        };
        DatabaseLink {
            port,
            cut,
            connections,
            acceptor,
        }
    }

    /// Closes every connection through the link and refuses new ones.
    fn cut(&self) {
        *self.cut.lock().unwrap() = true;
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        *self.cut.lock().unwrap() = false;
    }
}

impl Drop for DatabaseLink {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

const HOST: &str = "photoz.example.com";
const REFRESH_MS: u64 = 100;

/// (gRPC code, HTTP status of a denial or 200 for OK) of a Check answer.
fn outcome(response: &CheckResponse) -> (i32, i32) {
    let code = response.status.as_ref().map_or(0, |s| s.code);
    match &response.http_response {
        Some(HttpResponse::DeniedResponse(denied)) => {
            (code, denied.status.as_ref().map_or(0, |s| s.code))
        }
        _ => (code, 200),
    }
}

/// What replica `app` answers now about `rpt`: RPT status (HTTP status and
/// body), introspection's `active` (or the HTTP status), and Envoy's Check.
async fn answers(app: &TestApp, rs: &ResourceServer, rpt: &str) -> (u16, Value, Value, (i32, i32)) {
    let status = app
        .http_client
        .post(app.url("/uma/rs/status"))
        .bearer_auth(&rs.pat)
        .json(&json!({ "rpt": rpt }))
        .send()
        .await
        .unwrap();
    let status_code = status.status().as_u16();
    let status_body: Value = status.json().await.unwrap_or(Value::Null);
    let introspected = app
        .http_client
        .post(app.url("/uma/rs/introspect"))
        .bearer_auth(&rs.pat)
        .form(&[("token", rpt)])
        .send()
        .await
        .unwrap();
    let introspected = if introspected.status() == 200 {
        introspected.json::<Value>().await.unwrap()["active"].clone()
    } else {
        json!(introspected.status().as_u16())
    };
    let checked = AuthorizationClient::new(app.channel().await)
        .check(check_request(
            HOST,
            "GET",
            "/albums/1/p.jpg",
            Some(&format!("Bearer {rpt}")),
        ))
        .await
        .expect("Check answers")
        .into_inner();
    (status_code, status_body, introspected, outcome(&checked))
}

/// The replica that lost its database keeps no cached "allowed" beyond the
/// staleness bound: RPT status and introspection answer 503, Envoy's Check
/// denies with 503, until the database is back — then the revocation made
/// elsewhere meanwhile is what it answers.
#[tokio::test]
async fn a_replica_cut_off_from_the_database_stops_confirming_cached_permissions() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set (PostgreSQL-only test)");
        return;
    };
    let database_url = fresh_database_url().await;
    let upstream = {
        let parsed = reqwest::Url::parse(&base).unwrap();
        let host = parsed.host_str().unwrap().to_string();
        let port = parsed.port().unwrap_or(5432);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let link = DatabaseLink::to(upstream).await;
    let through_link = {
        let mut url = reqwest::Url::parse(&database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(link.port)).unwrap();
        url.to_string()
    };
    // One issuer: tokens from either replica are good at both.
    let a = spawn_app_with(|s| {
        s.database_url = Secret::new(database_url.clone());
        s.cache_refresh_ms = REFRESH_MS;
        s.issuer = Some("http://steward.test".into());
    })
    .await;
    let b = spawn_app_with(|s| {
        s.database_url = Secret::new(through_link.clone());
        s.cache_refresh_ms = REFRESH_MS;
        s.issuer = Some("http://steward.test".into());
    })
    .await;

    let rs = a.resource_server("alice").await;
    let created = a
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"], "uris": ["/albums/1/**"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let profile = a
        .http_client
        .put(a.url("/uma/rs/enforcement"))
        .bearer_auth(&rs.pat)
        .json(&json!({"hosts": [HOST], "methods": {"GET": ["view"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let exp = a.clock_now() + 3600;
    let rpt = a.insert_rpt(Some(&rs), &[("album", &["view"], exp)]).await;
    let granted = json!([{"resource_set_id": "album", "scopes": ["view"], "exp": exp}]);

    // B answers "allowed" and now holds it in memory.
    let started = Instant::now();
    loop {
        let (code, body, active, check) = answers(&b, &rs, &rpt).await;
        if code == 200 && body == granted && active == json!(true) && check == (0, 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "B never allowed: {code} {body} {active} {check:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // B loses the database; A deletes the set (the permission is gone).
    link.cut();
    let cut_at = Instant::now();
    let deleted = a
        .http_client
        .delete(a.url("/uma/rs/resource_set/album"))
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // Past the bound (3 refresh intervals, at least 1 s) B must not confirm
    // the permission: 503 everywhere, for as long as the outage lasts.
    let bound = steward::app::staleness_bound(Duration::from_millis(REFRESH_MS));
    tokio::time::sleep(bound + Duration::from_millis(300)).await;
    for _ in 0..5 {
        let (code, body, active, check) = answers(&b, &rs, &rpt).await;
        assert_eq!(code, 503, "RPT status after {:?}: {body}", cut_at.elapsed());
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert_eq!(active, json!(503), "introspection");
        assert_eq!(check, (14, 503), "ext_authz: UNAVAILABLE, 503");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The database is back: B answers what A did meanwhile.
    link.restore();
    let started = Instant::now();
    loop {
        let (code, body, active, check) = answers(&b, &rs, &rpt).await;
        // The RPT itself is still valid (active), with no permission left.
        if code == 200 && body == json!([]) && active.is_boolean() && check.0 != 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "B did not recover: {code} {body} {active} {check:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// Reads until the server closes the connection; how long that took, or
/// `None` if it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {} // e.g. a 408 answer before the close
        }
    }
}

fn addr(url: &str) -> String {
    url.split("://").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn connections_that_send_headers_slowly_or_not_at_all_are_closed() {
    let app = spawn_app_with(|s| s.header_read_timeout_ms = 500).await;
    // Slowloris: a request whose headers trickle in, a byte every 100 ms.
    let mut slow = TcpStream::connect(addr(&app.http)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: steward\r\n")
        .await
        .unwrap();
    let trickle = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // Writing stops mattering once the server has closed.
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(
        closed_within(&mut slow, Duration::from_secs(5))
            .await
            .is_some(),
        "a trickling request is cut off"
    );
    // A connection that sends nothing, on either listener.
    for target in [&app.http, &app.grpc] {
        let mut silent = TcpStream::connect(addr(target)).await.unwrap();
        assert!(
            closed_within(&mut silent, Duration::from_secs(5))
                .await
                .is_some(),
            "a silent connection to {target} is closed"
        );
    }
    // gRPC: a preface that never completes.
    let mut partial = TcpStream::connect(addr(&app.grpc)).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        closed_within(&mut partial, Duration::from_secs(5))
            .await
            .is_some(),
        "a partial HTTP/2 preface is cut off"
    );
    // Ordinary clients are unaffected.
    let ok = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_listener_keeps_at_most_max_client_connections_open() {
    let app = spawn_app_with(|s| {
        s.max_client_connections = 3;
        s.header_read_timeout_ms = 60_000;
    })
    .await;
    // Three clients hold every slot with an unfinished request.
    let mut holders = Vec::new();
    for _ in 0..3 {
        let mut holder = TcpStream::connect(addr(&app.http)).await.unwrap();
        holder
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: steward\r\n")
            .await
            .unwrap();
        holders.push(holder);
    }
    // A fourth is connected by the kernel but not served...
    let mut fourth = TcpStream::connect(addr(&app.http)).await.unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: steward\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(
        tokio::time::timeout(Duration::from_millis(800), fourth.read(&mut buf))
            .await
            .is_err(),
        "served although every slot was taken"
    );
    // ...until a slot frees up.
    holders.pop();
    let read = tokio::time::timeout(Duration::from_secs(10), fourth.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..read]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..read])
    );
    drop(holders);
    app.stop().await;
}

/// `steward serve` as its own process (so its memory is its own), on
/// `database_url`: the child and its HTTP and gRPC addresses.
async fn serve_process(database_url: &str) -> (tokio::process::Child, String, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = steward_command()
        .env("STEWARD_DATABASE_URL", database_url)
        .env("STEWARD_HTTP_ADDR", "127.0.0.1:0")
        .env("STEWARD_GRPC_ADDR", "127.0.0.1:0")
        .env("STEWARD_AUDIT_LOG", "off")
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = loop {
        let line = lines.next_line().await.unwrap().expect("a banner");
        if line.starts_with("steward listening:") {
            break line;
        }
    };
    let field = |name: &str| {
        banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    (child, field("http="), field("grpc="))
}

/// The served process's resident memory, from its own `/metrics`.
async fn resident_bytes(client: &reqwest::Client, http: &str) -> f64 {
    let text = client
        .get(format!("http://{http}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("process_resident_memory_bytes")
}

/// Distinct hostile keys — 48 KB hosts at Envoy's Check, 48 KB and
/// 250-byte resource set ids at permission registration, hosts near the
/// length limit — leave the server's memory where it was: no cache keeps an
/// entry for a key nobody registered.
#[tokio::test]
async fn memory_stays_flat_under_distinct_hostile_keys() {
    let database_url = fresh_database_url().await;
    let created = steward_command()
        .env("STEWARD_DATABASE_URL", &database_url)
        .args(["client", "create", "--name", "rs", "--owner", "alice"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success());
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let (mut child, http, grpc) = serve_process(&database_url).await;
    let client = reqwest::Client::new();
    let pat = client_credentials_pat(
        &client,
        &format!("http://{http}/oauth/token"),
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    )
    .await;
    let envoy = AuthorizationClient::new(
        tonic::transport::Channel::from_shared(format!("http://{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    )
    .max_decoding_message_size(1 << 20)
    .max_encoding_message_size(1 << 20);

    let round = |n: usize, size: usize| {
        let client = client.clone();
        let http = http.clone();
        let pat = pat.clone();
        let mut envoy = envoy.clone();
        async move {
            let filler = "h".repeat(size);
            let host = format!("{filler}{n}.example");
            let answer = envoy
                .check(check_request(&host, "GET", "/", None))
                .await
                .unwrap()
                .into_inner();
            assert_ne!(outcome(&answer).1, 200, "an unknown host is never allowed");
            let registered = client
                .post(format!("http://{http}/uma/rs/perm"))
                .bearer_auth(&pat)
                .json(&json!({"resource_set_id": format!("{filler}{n}"), "scopes": ["view"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(registered.status(), 400);
        }
    };
    // Warm up (allocator arenas, connection pools), then measure.
    for n in 0..200 {
        round(n, 200).await;
    }
    let before = resident_bytes(&client, &http).await;
    for n in 0..1_000 {
        round(1_000 + n, 48 * 1024).await;
    }
    for n in 0..2_000 {
        round(10_000 + n, 240).await;
    }
    let after = resident_bytes(&client, &http).await;
    let grown = (after - before) / 1_048_576.0;
    eprintln!(
        "resident memory {:.1} MB → {:.1} MB",
        before / 1_048_576.0,
        after / 1_048_576.0
    );
    // Caching those keys would take ~100 MB (48 KB × 2 000); allow for the
    // allocator keeping freed request buffers.
    assert!(grown < 24.0, "resident memory grew by {grown:.1} MB");
    let _ = envoy;
    child.kill().await.ok();
}
