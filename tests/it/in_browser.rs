//! The browser flows in a real headless Chromium (Debian's `chromium`,
//! driven over WebDriver): a person signs in, consents, and the client
//! completes — a PAT whose resource sets belong to that person, an AAT the
//! same way, and a claims-gathering redirect after `need_info` that ends in
//! a granted permission. The sign-in and consent screenshots in the README
//! come from these runs (`target/screenshots/`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};

use crate::browser_support::{DiaryScene, FakeOp, jwt_payload, pkce_pair};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::webdriver::Chromium;

const PASSWORD: &str = "correct horse battery";

/// Query strings a client's redirect endpoint received.
type Received = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A client application's redirect endpoint: records what the browser
/// brought back and shows a plain page.
struct ClientApp {
    callback: String,
    received: Received,
}

impl ClientApp {
    async fn start() -> ClientApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback = format!("http://{}/cb", listener.local_addr().unwrap());
        let received: Received = Arc::default();
        let router = Router::new()
            .route(
                "/cb",
                get(
                    |State(seen): State<Received>,
                     Query(params): Query<HashMap<String, String>>| async move {
                        seen.lock().unwrap().push(params);
                        Html("<!doctype html><title>Client app</title><h1>Back at the client</h1>")
                    },
                ),
            )
            .with_state(received.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        ClientApp { callback, received }
    }

    fn last(&self) -> HashMap<String, String> {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the client got the browser back")
    }
}

fn authorize_url(
    app: &TestApp,
    client_id: &str,
    redirect: &str,
    scope: &str,
    state: &str,
    challenge: &str,
) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    app.url(&format!("/oauth/authorize?{query}"))
}

async fn sign_in(browser: &Chromium, username: &str, screenshot: Option<&str>) {
    assert!(
        browser.current_url().await.contains("/signin"),
        "{}",
        browser.current_url().await
    );
    assert_eq!(browser.title().await, "Sign in · Steward");
    browser.type_into("#username", username).await;
    browser.type_into("#password", PASSWORD).await;
    if let Some(name) = screenshot {
        browser.screenshot(name).await;
    }
    browser
        .click("form[action='/signin'] button[type=submit]")
        .await;
}

async fn exchange(
    app: &TestApp,
    client: (&str, &str),
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Value {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    let mut request = app.http_client.post(app.url("/oauth/token"));
    if client.1.is_empty() {
        form.push(("client_id", client.0));
    } else {
        request = request.basic_auth(client.0, Some(client.1));
    }
    let response = request.form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_resource_owner_signs_in_consents_and_her_resource_server_gets_a_pat() {
    let Some(browser) =
        Chromium::start("a_resource_owner_signs_in_consents_and_her_resource_server_gets_a_pat")
            .await
    else {
        return;
    };
    // An upstream provider is configured too, so the sign-in page offers it.
    let op = FakeOp::start("someone", json!({})).await;
    let trusted = op.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let client = ClientApp::start().await;
    app.create_user(
        "alice",
        PASSWORD,
        json!({"email": "alice@example.com", "name": "Alice"}),
    )
    .await;
    let (rs_id, rs_secret) = app
        .create_browser_client(
            "Photo Album",
            &["uma_protection"],
            &[&client.callback],
            false,
        )
        .await;
    let (verifier, challenge) = pkce_pair();
    browser
        .goto(&authorize_url(
            &app,
            &rs_id,
            &client.callback,
            "uma_protection",
            "pat-1",
            &challenge,
        ))
        .await;
    sign_in(&browser, "alice", Some("sign-in")).await;

    browser.wait_for_url(&app.url("/oauth/authorize")).await;
    assert_eq!(browser.title().await, "Allow access · Steward");
    let page = browser.source().await;
    assert!(
        page.contains("Photo Album") && page.contains("Protect your resources"),
        "{page}"
    );
    browser.screenshot("consent-protection").await;
    browser.click("button[value=allow]").await;

    browser.wait_for_url(&client.callback).await;
    let back = client.last();
    assert_eq!(back["state"], "pat-1");
    let tokens = exchange(
        &app,
        (&rs_id, &rs_secret),
        &back["code"],
        &client.callback,
        &verifier,
    )
    .await;
    let pat = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(pat)["sub"], "alice");
    let created = app
        .put_resource_set(
            pat,
            "holiday",
            &json!({"name": "Holiday photos", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    assert!(
        app.dump().await.contains("owner: \"alice\""),
        "the set is alice's"
    );

    // The back button returns to a freshly rendered consent page (no
    // re-submitted form, no error), still naming the client.
    browser.back().await;
    browser.wait_for_url(&app.url("/oauth/authorize")).await;
    assert!(
        browser
            .source()
            .await
            .contains("wants access to your account")
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn a_requesting_party_signs_in_and_consents_to_a_client_getting_an_aat() {
    let Some(browser) =
        Chromium::start("a_requesting_party_signs_in_and_consents_to_a_client_getting_an_aat")
            .await
    else {
        return;
    };
    let app = spawn_app().await;
    let client = ClientApp::start().await;
    app.create_user("bob", PASSWORD, json!({"email": "bob@example.com"}))
        .await;
    let (id, _) = app
        .create_browser_client(
            "Photo Printer",
            &["uma_authorization"],
            &[&client.callback],
            true,
        )
        .await;
    let (verifier, challenge) = pkce_pair();
    browser
        .goto(&authorize_url(
            &app,
            &id,
            &client.callback,
            "uma_authorization",
            "aat-1",
            &challenge,
        ))
        .await;
    sign_in(&browser, "bob", None).await;
    browser.wait_for_url(&app.url("/oauth/authorize")).await;
    assert!(
        browser
            .source()
            .await
            .contains("Ask for access on your behalf")
    );
    browser.screenshot("consent-authorization").await;
    browser.click("button[value=allow]").await;
    browser.wait_for_url(&client.callback).await;
    let back = client.last();
    assert_eq!(back["state"], "aat-1");
    let tokens = exchange(&app, (&id, ""), &back["code"], &client.callback, &verifier).await;
    let aat = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_payload(aat)["sub"], "bob");
    assert!(
        !app.empty_rpt(aat).await.is_empty(),
        "the AAT opens the authorization API"
    );
    browser.quit().await;
    app.stop().await;
}

#[tokio::test]
async fn claims_gathering_in_the_browser_ends_in_a_granted_permission() {
    let Some(browser) =
        Chromium::start("claims_gathering_in_the_browser_ends_in_a_granted_permission").await
    else {
        return;
    };
    // Carol signs in at the upstream OpenID provider; its verified claims
    // are what the policy needs.
    let op = FakeOp::start(
        "carol",
        json!({"email": "carol@example.com", "email_verified": true}),
    )
    .await;
    let trusted = op.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let client = ClientApp::start().await;
    let scene = DiaryScene::set_up(&app, "carol@example.com", &client.callback).await;
    let (client_id, ticket) = (scene.client_id.clone(), scene.ticket.clone());
    let first = scene.ask(&app).await;
    assert_eq!(first.status(), 403);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "need_info", "{body}");

    let query = serde_urlencoded::to_string([
        ("ticket", ticket.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", client.callback.as_str()),
        ("state", "cg-7"),
    ])
    .unwrap();
    browser
        .goto(&app.url(&format!("/uma/claims?{query}")))
        .await;
    browser.wait_for_url(&app.url("/signin")).await;
    browser
        .click("form[action='/signin/upstream'] button")
        .await;
    browser.wait_for_url(&app.url("/uma/claims")).await;
    let page = browser.source().await;
    assert!(page.contains("carol@example.com"), "{page}");
    browser.screenshot("claims-gathering").await;
    browser.click("button[value=share]").await;
    browser.wait_for_url(&client.callback).await;
    let back = client.last();
    assert_eq!(back["authorization_state"], "claims_submitted");
    assert_eq!(back["state"], "cg-7");

    let retry = scene.ask(&app).await;
    assert_eq!(
        retry.status(),
        200,
        "the retry with the same ticket is granted"
    );
    let granted: Value = retry.json().await.unwrap();
    assert!(granted["rpt"].is_string(), "{granted}");
    browser.quit().await;
    app.stop().await;
}
