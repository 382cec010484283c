//! Who is believed: the identity services answer only the façade (a caller
//! on the gRPC port cannot open sessions, spoof the address the sign-in
//! limits count by, or record consent), and the client address comes from
//! the connection or from a proxy the operator listed, never from a
//! client's own `X-Forwarded-For`.

use serde_json::json;
use steward::grpc::proto::client_registration_service_client::ClientRegistrationServiceClient;
use steward::grpc::proto::consent_service_client::ConsentServiceClient;
use steward::grpc::proto::session_service_client::SessionServiceClient;
use steward::grpc::proto::{
    AuthorizationParameters, ClientMetadataRequest, GetSessionRequest, ListProvidersRequest,
    SignInRequest,
};
use tonic::Code;

use crate::browser_support::{Browser, Page};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery staple";

/// A gRPC request carrying `credential` as the façade's would.
fn as_facade<T>(message: T, credential: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        steward::grpc::facade_only::CREDENTIAL_HEADER,
        credential.parse().unwrap(),
    );
    request
}

#[tokio::test]
async fn the_identity_services_refuse_every_caller_but_the_facade() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let channel = app.channel().await;
    let mut sessions = SessionServiceClient::new(channel.clone());

    // The right password, straight to the core: no session.
    let direct = sessions
        .sign_in(SignInRequest {
            username: "alice".into(),
            password: PASSWORD.into(),
            remote_address: "203.0.113.9".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(direct.code(), Code::PermissionDenied, "{direct:?}");
    // A guessed credential fares no better, nor an empty one.
    for guess in ["", "steward", "x-steward-facade-credential"] {
        let guessed = sessions
            .sign_in(as_facade(
                SignInRequest {
                    username: "alice".into(),
                    password: PASSWORD.into(),
                    remote_address: "203.0.113.9".into(),
                },
                guess,
            ))
            .await
            .unwrap_err();
        assert_eq!(guessed.code(), Code::PermissionDenied, "{guess:?}");
    }
    for refused in [
        sessions
            .list_providers(ListProvidersRequest {})
            .await
            .map(|_| ()),
        sessions
            .get_session(GetSessionRequest {
                session_token: "anything".into(),
            })
            .await
            .map(|_| ()),
        ConsentServiceClient::new(channel.clone())
            .check_authorization(AuthorizationParameters::default())
            .await
            .map(|_| ()),
        ClientRegistrationServiceClient::new(channel.clone())
            .register_client(ClientMetadataRequest::default())
            .await
            .map(|_| ()),
    ] {
        assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    }

    // Twenty-five "failures from 127.0.0.1" sent over gRPC were never
    // counted: nobody can lock an address (or an ingress) out that way.
    for n in 0..25 {
        let _ = sessions
            .sign_in(SignInRequest {
                username: format!("nobody{n}"),
                password: "guess".into(),
                remote_address: "127.0.0.1".into(),
            })
            .await;
    }
    let browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    let signed_in = browser.sign_in_on(&page, "alice", PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(browser.cookie("steward_session").is_some());
    app.stop().await;
}

/// Fails sign-in for `count` different unknown users (so no account limit
/// is reached first) from `browser`.
async fn fail_sign_ins(browser: &Browser, page: &Page, count: usize, tag: &str) {
    for n in 0..count {
        let wrong = browser
            .sign_in_on(page, &format!("nobody-{tag}-{n}"), "guess")
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.body);
    }
}

/// What one attempt with the right password from `browser` gets.
async fn sign_in_status(browser: &Browser, user: &str) -> u16 {
    let page = browser.get("/signin").await;
    browser.sign_in_on(&page, user, PASSWORD).await.status
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_is_ignored() {
    let app = spawn_app().await;
    app.create_user("victim", PASSWORD, json!({})).await;
    app.create_user("attacker", PASSWORD, json!({})).await;
    let attacker = Browser::on(&app.http, Some("127.0.0.2".parse().unwrap()));
    let page = attacker.get("/signin").await;
    // The attacker claims to be the victim's address.
    attacker.add_header("x-forwarded-for", "127.0.0.3");
    fail_sign_ins(&attacker, &page, 20, "spoof").await;
    // The attempts counted against the attacker's own address...
    assert_eq!(sign_in_status(&attacker, "attacker").await, 429);
    // ...and the victim, really at 127.0.0.3, is not locked out.
    let victim = Browser::on(&app.http, Some("127.0.0.3".parse().unwrap()));
    assert_eq!(sign_in_status(&victim, "victim").await, 303);
    app.stop().await;
}

/// A fresh browser behind the proxy at 127.0.0.1, which sends these
/// `X-Forwarded-For` headers.
fn behind_proxy(app: &TestApp, forwarded_for: &[&str]) -> Browser {
    let browser = Browser::on(&app.http, Some("127.0.0.1".parse().unwrap()));
    for value in forwarded_for {
        browser.add_header("x-forwarded-for", value);
    }
    browser
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_forged_hops_are_skipped() {
    let app: TestApp = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    for user in ["alice", "bob", "carol", "dave"] {
        app.create_user(user, PASSWORD, json!({})).await;
    }
    // The test client is the proxy (127.0.0.1), appending each client's address.
    let first = behind_proxy(&app, &["198.51.100.1"]);
    let page = first.get("/signin").await;
    fail_sign_ins(&first, &page, 20, "one").await;
    assert_eq!(
        sign_in_status(&behind_proxy(&app, &["198.51.100.1"]), "alice").await,
        429,
        "198.51.100.1 is out of attempts"
    );
    // A client at 198.51.100.2 behind the same proxy is not.
    assert_eq!(
        sign_in_status(&behind_proxy(&app, &["198.51.100.2"]), "bob").await,
        303
    );
    // 198.51.100.1 forging a fresh address left of the hop the proxy adds:
    // still 198.51.100.1. The same split over two headers.
    assert_eq!(
        sign_in_status(
            &behind_proxy(&app, &["198.51.100.77, 198.51.100.1"]),
            "carol"
        )
        .await,
        429
    );
    assert_eq!(
        sign_in_status(
            &behind_proxy(&app, &["198.51.100.77", "198.51.100.1"]),
            "carol"
        )
        .await,
        429
    );
    // An untrusted peer's header is not read at all: 127.0.0.4 is itself.
    let direct = Browser::on(&app.http, Some("127.0.0.4".parse().unwrap()));
    direct.add_header("x-forwarded-for", "198.51.100.1");
    assert_eq!(sign_in_status(&direct, "dave").await, 303);
    app.stop().await;
}

#[tokio::test]
async fn ipv6_clients_share_the_budget_of_their_64() {
    let app: TestApp = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1".into()]).await;
    for user in ["alice", "bob"] {
        app.create_user(user, PASSWORD, json!({})).await;
    }
    // Twenty failures, each from a fresh address of one /64.
    for n in 1..=20 {
        let browser = behind_proxy(&app, &[&format!("2001:db8:1:2::{n:x}")]);
        let page = browser.get("/signin").await;
        fail_sign_ins(&browser, &page, 1, &format!("v6-{n}")).await;
    }
    assert_eq!(
        sign_in_status(&behind_proxy(&app, &["2001:db8:1:2:ffff::1"]), "alice").await,
        429,
        "another address of the same /64 is out of attempts"
    );
    assert_eq!(
        sign_in_status(&behind_proxy(&app, &["2001:db8:1:3::1"]), "bob").await,
        303,
        "the next /64 is not"
    );
    app.stop().await;
}
