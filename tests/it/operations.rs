//! Operations: liveness, readiness, metrics, gRPC health and reflection, and
//! graceful shutdown.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http_client
        .get(app.url(path))
        .send()
        .await
        .expect("GET")
}

/// One reflection request on a fresh stream; its single answer.
async fn reflect(app: &TestApp, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(app.channel().await);
    let outbound = tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = client
        .server_reflection_info(outbound)
        .await
        .expect("reflection stream")
        .into_inner();
    let answer: ServerReflectionResponse = inbound
        .message()
        .await
        .expect("reflection answer")
        .expect("one message");
    answer.message_response.expect("a response")
}

#[tokio::test]
async fn healthz_is_200() {
    let app = spawn_app().await;
    let response = get(&app, "/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_is_200_ready() {
    let app = spawn_app().await;
    let response = get(&app, "/readyz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    // A request whose path carries an id that must not become a label.
    let rsid = format!("metrics-probe-{}", uuid::Uuid::new_v4().simple());
    let probe = get(&app, &format!("/uma/rs/resource_set/{rsid}")).await;
    assert_eq!(probe.status(), 401);
    assert_eq!(get(&app, "/healthz").await.status(), 200);

    let response = get(&app, "/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.contains("steward_http_requests_total"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("steward_http_requests_total")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")),
        "a /healthz 200 sample: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("steward_http_requests_total")
                && l.contains("route=\"/uma/rs/resource_set/{rsid}\"")
                && l.contains("status=\"401\"")),
        "the probe is counted under its route template: {text}"
    );
    assert!(!text.contains(&rsid), "raw path values never become labels");
    assert!(text.contains("steward_http_request_duration_seconds"));
    app.stop().await;
}

/// Every service the core listener serves, as reflection lists them (the
/// v1alpha reflection service lists only itself among the reflections).
const SERVED: [&str; 16] = [
    "steward.v1.ResourceSetService",
    "steward.v1.PermissionService",
    "steward.v1.TokenService",
    "steward.v1.AuthorizationService",
    "steward.v1.PolicyService",
    "steward.v1.DecisionService",
    "steward.v1.EnforcementService",
    "steward.v1.ChangeService",
    "steward.v1.SessionService",
    "steward.v1.ConsentService",
    "steward.v1.ClientRegistrationService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "envoy.service.auth.v3.Authorization",
    "",
];

/// Health answers SERVING for the server and for every service it serves:
/// each one reflection lists (so a service added to the router and its
/// descriptors cannot be left out), and the known list above.
#[tokio::test]
async fn grpc_health_reports_serving() {
    let app = spawn_app().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&app, MessageRequest::ListServices(String::new())).await
    else {
        panic!("a list of services");
    };
    let listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in &listed {
        assert!(SERVED.contains(&name.as_str()), "`{name}` is in SERVED");
    }
    let mut health = HealthClient::new(app.channel().await);
    for service in listed.iter().map(String::as_str).chain(SERVED) {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of `{service}`: {e}"))
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "`{service}`");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn grpc_reflection_lists_the_services() {
    let app = spawn_app().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&app, MessageRequest::ListServices(String::new())).await
    else {
        panic!("a list of services");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "steward.v1.ResourceSetService",
        "steward.v1.PermissionService",
        "steward.v1.TokenService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }

    let MessageResponse::FileDescriptorResponse(files) = reflect(
        &app,
        MessageRequest::FileContainingSymbol("steward.v1.ResourceSetService".into()),
    )
    .await
    else {
        panic!("a file descriptor");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    assert!(
        files.file_descriptor_proto.iter().any(|f| f
            .windows(b"resource_sets.proto".len())
            .any(|w| w == b"resource_sets.proto")),
        "the descriptor of resource_sets.proto"
    );
    app.stop().await;
}

/// `grpcurl` users call Envoy's `Check` without the protos: reflection lists
/// the service and hands out its file with every import, so a client can
/// build a `CheckRequest` from the descriptors alone.
#[tokio::test]
async fn grpc_reflection_describes_envoy_check() {
    let app = spawn_app().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&app, MessageRequest::ListServices(String::new())).await
    else {
        panic!("a list of services");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "envoy.service.auth.v3.Authorization"),
        "{list:?}"
    );
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        &app,
        MessageRequest::FileContainingSymbol("envoy.service.auth.v3.Authorization".into()),
    )
    .await
    else {
        panic!("a file descriptor");
    };
    let contains = |needle: &str| {
        files
            .file_descriptor_proto
            .iter()
            .any(|f| f.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    for needle in [
        "envoy/service/auth/v3/external_auth.proto",
        "envoy/service/auth/v3/attribute_context.proto",
        "envoy/config/core/v3/base.proto",
        "google/rpc/status.proto",
        "CheckRequest",
    ] {
        assert!(contains(needle), "reflection carries {needle}");
    }
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_completes_and_closes_the_listeners() {
    // A long grace period: stopping must not wait for idle keep-alive
    // connections (HTTP and gRPC) to time out.
    let app = spawn_app_with(|s| s.shutdown_grace = 120).await;
    assert_eq!(get(&app, "/healthz").await.status(), 200);
    let channel = app.channel().await;
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health before shutdown");
    let http_url = app.url("/healthz");
    let grpc_url = app.grpc.clone();
    let client = app.http_client.clone();

    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("shutdown finishes promptly with only idle connections");

    let after = reqwest::Client::new().get(&http_url).send().await;
    assert!(
        after.as_ref().is_err_and(reqwest::Error::is_connect),
        "HTTP listener closed: {after:?}"
    );
    let after = client.get(&http_url).send().await;
    assert!(after.is_err(), "pooled HTTP connection closed: {after:?}");
    let reconnect = tonic::transport::Channel::from_shared(grpc_url)
        .unwrap()
        .connect()
        .await;
    assert!(reconnect.is_err(), "gRPC listener closed");
}

#[tokio::test]
async fn with_migrate_on_start_off_a_server_waits_for_steward_migrate() {
    let mut settings = crate::helpers::test_settings().await;
    settings.migrate_on_start = false;
    match steward::app::Application::build(settings.clone()).await {
        Ok(_) => panic!("an unmigrated database must not be served"),
        Err(e) => assert!(
            e.description().contains("steward migrate"),
            "says what to do: {e}"
        ),
    }
    // After the migration step (the chart's hook Job), the same settings serve.
    let store = steward::store::Store::connect(settings.database_url.expose())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let app = crate::helpers::spawn_settings(settings).await;
    let ready = app
        .http_client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}
