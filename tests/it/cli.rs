//! The operator interface: `steward migrate`, `steward client create`,
//! `--config FILE`, `STEWARD_*` variables, and `steward serve` with SIGTERM.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{client_credentials_pat, fresh_database_url, spawn_app_with, steward_command};

fn steward() -> Command {
    steward_command()
}

#[tokio::test]
async fn client_create_prints_credentials_a_server_on_the_same_database_accepts() {
    let database_url = fresh_database_url().await;
    let output = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .args(["client", "create", "--name", "photoz", "--owner", "alice"])
        .args(["--scope", "uma_protection"])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object on stdout"
    );
    let created: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(created["owner"], "alice");
    assert_eq!(created["scopes"], serde_json::json!(["uma_protection"]));
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();

    let app =
        spawn_app_with(|s| s.database_url = steward::config::Secret::new(&database_url)).await;
    let response = app.token_request(client_id, secret, "uma_protection").await;
    assert_eq!(response.status(), 200);
    assert!(
        !app.dump().await.contains(secret),
        "secret stored only hashed"
    );
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_the_user_can_sign_in() {
    use tokio::io::AsyncWriteExt;
    let database_url = fresh_database_url().await;
    let create = |password: &'static str| {
        let database_url = database_url.clone();
        async move {
            let mut child = steward()
                .env("STEWARD_DATABASE_URL", &database_url)
                .args(["user", "create", "--username", "dana", "--password-stdin"])
                .args([
                    "--email",
                    "dana@example.com",
                    "--email-verified",
                    "--group",
                    "staff",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(password.as_bytes()).await.unwrap();
            drop(stdin);
            child.wait_with_output().await.unwrap()
        }
    };
    let output = create("a long enough password\n").await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A taken username and a short password fail clearly.
    let again = create("a long enough password\n").await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let app =
        spawn_app_with(|s| s.database_url = steward::config::Secret::new(&database_url)).await;
    assert!(
        !app.dump().await.contains("a long enough password"),
        "hashed"
    );
    let browser = crate::browser_support::Browser::new(&app);
    let page = browser.get("/signin").await;
    let signed = browser
        .sign_in_on(&page, "dana", "a long enough password")
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert!(browser.cookie("steward_session").is_some());
    app.stop().await;

    let mut short = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .args(["user", "create", "--username", "eve", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = short.stdin.take().unwrap();
        stdin.write_all(b"short\n").await.unwrap();
    }
    let output = short.wait_with_output().await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 8"));
}

#[tokio::test]
async fn migrate_reads_the_config_file_and_is_repeatable() {
    let database_url = fresh_database_url().await;
    let dir = std::env::temp_dir().join(format!("steward-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("steward.toml");
    std::fs::write(&config, format!("database_url = \"{database_url}\"\n")).unwrap();
    for _ in 0..2 {
        let output = steward()
            .arg("--config")
            .arg(&config)
            .arg("migrate")
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "migrations applied"
        );
    }
}

#[tokio::test]
async fn bad_input_to_the_cli_fails_with_a_clear_message() {
    let database_url = fresh_database_url().await;
    let output = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .args([
            "client",
            "create",
            "--name",
            "x",
            "--grant-type",
            "password",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("grant type `password` is not supported")
    );

    let output = steward()
        .env("STEWARD_TICKET_TTL", "soon")
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid configuration"));

    let output = steward()
        .args(["--config", "/nonexistent/steward.toml", "migrate"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
}

#[tokio::test]
async fn serve_prints_its_ports_serves_and_stops_on_sigterm() {
    let database_url = fresh_database_url().await;
    let mut child = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .env("STEWARD_HTTP_ADDR", "127.0.0.1:0")
        .env("STEWARD_GRPC_ADDR", "127.0.0.1:0")
        .env("STEWARD_TICKET_TTL", "60")
        // Trace export on, with no collector listening: serving must not care.
        .env("STEWARD_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env("STEWARD_LOG_FORMAT", "json")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let banner = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("server printed its ports");
        if line.starts_with("steward listening:") {
            break line;
        }
    };
    let http = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap()
        .to_string();
    assert!(banner.contains("grpc=127.0.0.1:"), "{banner}");
    let health = reqwest::get(format!("http://{http}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "graceful exit on SIGTERM, got {status:?}");
}

#[tokio::test]
async fn postgres_connection_errors_do_not_print_the_password() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set (PostgreSQL-only test)");
        return;
    };
    let (_, rest) = base.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    // A port where nothing listens, with a password in the URL.
    let host_only = host.split_once(':').map_or(host, |(h, _)| h);
    let url = format!("postgres://user:hunter2secret@{host_only}:1/nothing");
    let output = steward()
        .env("STEWARD_DATABASE_URL", url)
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to the database"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
}

/// Runs `steward bench` with `args` and a JSON report; the records.
async fn bench(args: &[&str]) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("steward-bench-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let output = steward()
        .env("TMPDIR", &dir)
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&report)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("resident memory of"), "{stdout}");
    let records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    records
}

#[tokio::test]
async fn the_load_tool_measures_every_operation_with_no_error() {
    let records = bench(&[
        "--requests",
        "40",
        "--concurrency",
        "1,4",
        "--resource-sets",
        "3",
        "--rpts",
        "3",
    ])
    .await;
    for op in [
        "grpc-noop",
        "grpc-decide",
        "grpc-introspect-rpt",
        "grpc-ext-authz",
        "http-noop",
        "http-rpt-status",
        "http-introspect",
        "http-perm",
        "http-token",
    ] {
        for concurrency in [1, 4] {
            let record = records
                .iter()
                .find(|r| r["op"] == op && r["concurrency"] == concurrency)
                .unwrap_or_else(|| panic!("{op} at {concurrency} measured"));
            assert_eq!(record["errors"], 0, "{record}");
            assert_eq!(record["requests"], 40, "{record}");
            assert!(
                record["ratio"].as_f64().is_some_and(|r| r > 0.0),
                "{record}"
            );
        }
    }
}

#[tokio::test]
async fn the_soak_reports_the_servers_memory_as_it_goes() {
    let dir = std::env::temp_dir().join(format!("steward-soak-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("soak.json");
    let output = steward()
        .env("TMPDIR", &dir)
        .args(["bench", "--soak", "4", "--concurrency", "2"])
        .args([
            "--ops",
            "http-perm,grpc-decide",
            "--resource-sets",
            "3",
            "--rpts",
            "3",
        ])
        .arg("--json")
        .arg(&report)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "soak failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("resident memory: start"), "{stdout}");
    let soak: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let readings = soak["soak"]["readings"].as_array().unwrap();
    assert!(readings.len() >= 2, "a reading before and after: {soak}");
    assert!(
        readings
            .iter()
            .all(|r| r["resident_bytes"].as_u64().is_some_and(|b| b > 0)),
        "{soak}"
    );
    assert!(
        readings.last().unwrap()["requests"].as_u64().unwrap() > 0,
        "{soak}"
    );
    assert_eq!(soak["soak"]["errors"], 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_scale_run_bulk_loads_and_measures_keys_from_all_of_it() {
    let records = bench(&[
        "--requests",
        "30",
        "--concurrency",
        "2",
        "--resource-sets",
        "4",
        "--rpts",
        "4",
        "--ops",
        "grpc-decide,grpc-introspect-rpt,grpc-ext-authz,http-rpt-status",
        "--scale",
        "--scale-resource-sets",
        "500",
        "--scale-policies",
        "50",
        "--scale-permissions",
        "2000",
    ])
    .await;
    let measured: Vec<&str> = records.iter().filter_map(|r| r["op"].as_str()).collect();
    for op in [
        "grpc-decide",
        "grpc-introspect-rpt",
        "grpc-ext-authz",
        "http-rpt-status",
    ] {
        assert!(measured.contains(&op), "{measured:?}");
    }
    assert!(records.iter().all(|r| r["errors"] == 0), "{records:?}");
}

#[tokio::test]
async fn audit_events_on_stdout_carry_the_callers_trace_id() {
    let database_url = fresh_database_url().await;
    let created = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .args(["client", "create", "--name", "rs", "--owner", "alice"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success());
    let client: Value = serde_json::from_slice(&created.stdout).unwrap();
    let mut child = steward()
        .env("STEWARD_DATABASE_URL", &database_url)
        .env("STEWARD_HTTP_ADDR", "127.0.0.1:0")
        .env("STEWARD_GRPC_ADDR", "127.0.0.1:0")
        .env("STEWARD_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = loop {
        let line = lines.next_line().await.unwrap().expect("banner");
        if line.starts_with("steward listening:") {
            break line;
        }
    };
    let http = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap()
        .to_string();
    let web = reqwest::Client::new();
    let pat = client_credentials_pat(
        &web,
        &format!("http://{http}/oauth/token"),
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    )
    .await;
    let put = web
        .put(format!("http://{http}/uma/rs/resource_set/a"))
        .bearer_auth(&pat)
        .json(&serde_json::json!({"name": "A", "scopes": ["s"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let registered = web
        .post(format!("http://{http}/uma/rs/perm"))
        .bearer_auth(pat)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({"resource_set_id": "a", "scopes": ["s"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let event = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("an audit event on stdout");
        if let Ok(event) = serde_json::from_str::<Value>(&line)
            && event["event"] == "ticket_registered"
        {
            break event;
        }
    };
    assert_eq!(event["trace_id"], trace_id, "{event}");
    assert_eq!(event["owner"], "alice");
    child.kill().await.unwrap();
}
