//! The browser flows over real HTTP, hop by hop: sign-in, consent and the
//! authorization_code grant with PKCE (PATs and AATs), refresh-token
//! rotation, claims gathering by redirect, sign-in at an upstream OpenID
//! provider, and every kind of bad input those pages and grants refuse.

use serde_json::{Value, json};

use crate::browser_support::{Browser, DiaryScene, FakeOp, Page, jwt_payload, pkce_pair};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const CALLBACK: &str = "http://127.0.0.1:9/cb";
const PROTECTION: &str = "uma_protection";
const AUTHORIZATION: &str = "uma_authorization";
const PASSWORD: &str = "correct horse battery";

fn authorize_url(client_id: &str, scope: &str, state: &str, challenge: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("scope", scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    format!("/oauth/authorize?{query}")
}

/// Signs `username` in from an authorization URL and returns the consent page.
async fn consent_page(browser: &Browser, url: &str, username: &str) -> Page {
    let first = browser.get(url).await;
    assert_eq!(first.status, 303, "not signed in: off to sign-in");
    let sign_in = browser.follow(first).await;
    assert_eq!(sign_in.status, 200);
    assert!(sign_in.body.contains("Sign in"), "{}", sign_in.body);
    let after = browser.sign_in_on(&sign_in, username, PASSWORD).await;
    assert_eq!(after.status, 303, "{}", after.body);
    let consent = browser.follow(after).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    consent
}

/// Presses a consent page's button; returns the redirect to the client.
async fn decide(browser: &Browser, consent: &Page, action: &str, decision: &str) -> Page {
    let mut form = consent.form(action);
    form.push(("decision".into(), decision.into()));
    let answer = browser.post(action, &form).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer
}

async fn exchange(
    app: &TestApp,
    client: (&str, &str),
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut request = app.http_client.post(app.url("/oauth/token"));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ];
    if client.1.is_empty() {
        form.push(("client_id", client.0));
    } else {
        request = request.basic_auth(client.0, Some(client.1));
    }
    request.form(&form).send().await.unwrap()
}

async fn refresh(app: &TestApp, client: (&str, &str), token: &str) -> reqwest::Response {
    app.http_client
        .post(app.url("/oauth/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

/// Runs the whole consent flow for `scope`; returns the code's redirect params.
async fn code_for(
    app: &TestApp,
    browser: &Browser,
    client_id: &str,
    scope: &str,
    challenge: &str,
) -> std::collections::HashMap<String, String> {
    let consent = consent_page(
        browser,
        &authorize_url(client_id, scope, "st-1", challenge),
        "alice",
    )
    .await;
    let answer = decide(browser, &consent, "/oauth/authorize", "allow").await;
    assert!(answer.location.as_deref().unwrap().starts_with(CALLBACK));
    let params = answer.redirect_params();
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], app.issuer);
    params
}

#[tokio::test]
async fn a_resource_owner_consents_and_the_pat_registers_sets_she_owns() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({"email": "alice@example.com"}))
        .await;
    let (rs_id, rs_secret) = app
        .create_browser_client("Photo Album", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&rs_id, PROTECTION, "st-1", &challenge);
    let consent = consent_page(&browser, &url, "alice").await;
    assert!(consent.body.contains("Photo Album"), "names the client");
    assert!(
        consent.body.contains("Protect your resources"),
        "names the role"
    );
    assert!(consent.body.contains("Signed in as <strong>alice</strong>"));
    for header in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(consent.headers.contains_key(header), "{header}");
    }
    assert_eq!(consent.headers["cache-control"], "no-store");
    let session = browser.cookie("steward_session").expect("a session cookie");
    let before = app.dump().await;
    assert!(
        !before.contains(&session),
        "the session is stored hashed only"
    );

    let answer = decide(&browser, &consent, "/oauth/authorize", "allow").await;
    let params = answer.redirect_params();
    assert_eq!(params["state"], "st-1");
    let tokens = json_of(
        exchange(&app, (&rs_id, &rs_secret), &params["code"], &verifier).await,
        200,
    )
    .await;
    let pat = tokens["access_token"].as_str().unwrap();
    assert_eq!(tokens["scope"], PROTECTION);
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let claims = jwt_payload(pat);
    assert_eq!(
        claims["sub"], "alice",
        "the PAT's subject is the consenting owner"
    );
    assert_eq!(claims["client_id"], rs_id.as_str());

    // The resource server registers a set with it: alice's.
    let created = app
        .put_resource_set(
            pat,
            "album",
            &json!({"name": "Album", "scopes": ["view"]}),
            None,
        )
        .await;
    assert_eq!(created.status(), 201);
    let dump = app.dump().await;
    assert!(
        dump.contains("owner: \"alice\", rsid: \"album\"") || dump.contains("owner: \"alice\""),
        "{dump}"
    );
    let dumped = app.dump().await;
    assert!(
        !dumped.contains(&params["code"]),
        "codes are stored hashed only"
    );
    assert!(!dumped.contains(tokens["refresh_token"].as_str().unwrap()));
    app.stop().await;
}

#[tokio::test]
async fn a_requesting_party_consents_to_a_client_and_its_aat_carries_her_claims() {
    let app = spawn_app().await;
    app.create_user(
        "alice",
        PASSWORD,
        json!({"email": "alice@example.com", "groups": ["staff"]}),
    )
    .await;
    let (id, _) = app
        .create_browser_client("Photo Printer", &[AUTHORIZATION], &[CALLBACK], true)
        .await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();
    let consent = consent_page(
        &browser,
        &authorize_url(&id, AUTHORIZATION, "s", &challenge),
        "alice",
    )
    .await;
    assert!(consent.body.contains("Ask for access on your behalf"));
    let params = decide(&browser, &consent, "/oauth/authorize", "allow")
        .await
        .redirect_params();
    // A public client: its id and the PKCE verifier, no secret.
    let tokens = json_of(
        exchange(&app, (&id, ""), &params["code"], &verifier).await,
        200,
    )
    .await;
    let aat = tokens["access_token"].as_str().unwrap();
    let claims = jwt_payload(aat);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["rqp_claims"]["email"], "alice@example.com");
    // The AAT works at the authorization API.
    let rpt = app.empty_rpt(aat).await;
    assert!(!rpt.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn denying_consent_sends_access_denied_and_issues_nothing() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let (id, _) = app
        .create_browser_client("App", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    let (_, challenge) = pkce_pair();
    let consent = consent_page(
        &browser,
        &authorize_url(&id, PROTECTION, "s9", &challenge),
        "alice",
    )
    .await;
    let before = app.dump().await;
    let params = decide(&browser, &consent, "/oauth/authorize", "deny")
        .await
        .redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "s9");
    assert!(!params.contains_key("code"));
    assert_eq!(app.dump().await, before, "nothing issued");
    app.stop().await;
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let (id, secret) = app
        .create_browser_client("RS", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();
    let params = code_for(&app, &browser, &id, PROTECTION, &challenge).await;
    // A stolen code presented by another client is refused (and stays unredeemed).
    let (thief, thief_secret) = app
        .create_browser_client("Thief", &[PROTECTION], &[CALLBACK], false)
        .await;
    let stolen = exchange(&app, (&thief, &thief_secret), &params["code"], &verifier).await;
    assert_eq!(json_of(stolen, 400).await["error"], "invalid_grant");
    let first = json_of(
        exchange(&app, (&id, &secret), &params["code"], &verifier).await,
        200,
    )
    .await;
    let pat = first["access_token"].as_str().unwrap();
    let ok = app
        .put_resource_set(pat, "a", &json!({"name": "A", "scopes": ["s"]}), None)
        .await;
    assert_eq!(ok.status(), 201);

    let again = json_of(
        exchange(&app, (&id, &secret), &params["code"], &verifier).await,
        400,
    )
    .await;
    assert_eq!(again["error"], "invalid_grant");
    // What the first redemption issued is dead: the PAT and its refresh token.
    let refused = app
        .put_resource_set(pat, "b", &json!({"name": "B", "scopes": ["s"]}), None)
        .await;
    assert_eq!(refused.status(), 401);
    let body = json_of(
        refresh(
            &app,
            (&id, &secret),
            first["refresh_token"].as_str().unwrap(),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_must_match() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let (id, _) = app
        .create_browser_client("Native app", &[AUTHORIZATION], &[CALLBACK], true)
        .await;
    let browser = Browser::new(&app);

    // No challenge, or a `plain` one: back to the client with invalid_request.
    let no_pkce = format!(
        "/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}&state=x",
        urlencode(CALLBACK)
    );
    let page = browser.get(&no_pkce).await;
    assert_eq!(page.status, 303);
    let params = page.redirect_params();
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "x");
    let plain = format!(
        "{no_pkce}&code_challenge={}&code_challenge_method=plain",
        "a".repeat(43)
    );
    assert_eq!(
        browser.get(&plain).await.redirect_params()["error"],
        "invalid_request"
    );

    // A wrong verifier is invalid_grant and leaves the code for its owner.
    let (verifier, challenge) = pkce_pair();
    let params = code_for(&app, &browser, &id, AUTHORIZATION, &challenge).await;
    let (wrong, _) = pkce_pair();
    let body = json_of(
        exchange(&app, (&id, ""), &params["code"], &wrong).await,
        400,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    let body = json_of(exchange(&app, (&id, ""), &params["code"], "").await, 400).await;
    assert_eq!(body["error"], "invalid_grant");
    json_of(
        exchange(&app, (&id, ""), &params["code"], &verifier).await,
        200,
    )
    .await;

    // A public client cannot pass off as confidential, nor use client_credentials.
    let response = app
        .http_client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response, 401).await["error"], "invalid_client");
    app.stop().await;
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).unwrap()[1..].to_string()
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_are_shown_never_redirected() {
    let app = spawn_app().await;
    let (id, _) = app
        .create_browser_client("App", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    for url in [
        format!("/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}", urlencode("https://evil.example/cb")),
        format!("/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}", urlencode("http://127.0.0.1:9/cb/../evil")),
        format!("/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}", urlencode("http://127.0.0.1:9/cb?x=1")),
        "/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2F".to_string(),
        "/oauth/authorize?response_type=code".to_string(),
        format!("/oauth/authorize?client_id={id}&client_id={id}"),
    ] {
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{url}: {}", page.body);
        assert!(page.location.is_none(), "{url} must not redirect");
        assert!(page.body.contains("cannot be completed"), "{}", page.body);
    }
    // Known client and URI, but a bad response_type: the client hears of it.
    let page = browser
        .get(&format!(
            "/oauth/authorize?response_type=token&client_id={id}&redirect_uri={}&state=q",
            urlencode(CALLBACK)
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.redirect_params()["error"], "unsupported_response_type");
    assert_eq!(page.redirect_params()["state"], "q");
    // An unregistered scope: invalid_scope.
    let page = browser
        .get(&format!("/oauth/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=uma_authorization&code_challenge={}&code_challenge_method=S256", urlencode(CALLBACK), pkce_pair().1))
        .await;
    assert_eq!(page.redirect_params()["error"], "invalid_scope");
    // Oversized fields are refused on the page.
    let page = browser
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={id}&state={}",
            "s".repeat(5000)
        ))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    app.stop().await;
}

#[tokio::test]
async fn forms_without_this_browsers_csrf_token_are_refused() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let (id, _) = app
        .create_browser_client("App", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    let sign_in = browser.get("/signin").await;
    // No token, a token from another browser, or no cookie: 403, no session.
    let other = Browser::new(&app);
    let other_page = other.get("/signin").await;
    for form in [
        vec![("username", "alice"), ("password", PASSWORD)],
        vec![
            ("csrf", other_page.field("csrf").unwrap().as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ],
    ] {
        let form: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let page = browser.post("/signin", &form).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(browser.cookie("steward_session").is_none());
    }
    let cookieless = Browser::new(&app);
    let mut form = sign_in.form("/signin");
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    assert_eq!(cookieless.post("/signin", &form).await.status, 403);

    // A consent answer forged without the token issues no code.
    let (_, challenge) = pkce_pair();
    let consent = consent_page(
        &browser,
        &authorize_url(&id, PROTECTION, "s", &challenge),
        "alice",
    )
    .await;
    let before = app.dump().await;
    let mut forged: Vec<(String, String)> = consent
        .form("/oauth/authorize")
        .into_iter()
        .filter(|(k, _)| k != "csrf")
        .collect();
    forged.push(("decision".into(), "allow".into()));
    let page = browser.post("/oauth/authorize", &forged).await;
    assert_eq!(page.status, 403);
    assert!(page.location.is_none());
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_account_and_per_address() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    app.create_user("bob", PASSWORD, json!({})).await;
    let browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    for _ in 0..5 {
        let wrong = browser.sign_in_on(&page, "alice", "not the password").await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("do not match"), "{}", wrong.body);
        assert!(wrong.body.contains("value=\"alice\""), "keeps the username");
    }
    // Locked: even the right password is refused for this window.
    let locked = browser.sign_in_on(&page, "alice", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(browser.cookie("steward_session").is_none());
    // Unknown users count too, and the address limit catches spraying.
    for n in 0..15 {
        let wrong = browser
            .sign_in_on(&page, &format!("nobody{n}"), "guess")
            .await;
        assert_eq!(wrong.status, 401);
    }
    let sprayed = browser.sign_in_on(&page, "bob", PASSWORD).await;
    assert_eq!(sprayed.status, 429, "the address is out of attempts");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_never_returns_to_another_site() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let browser = Browser::new(&app);
        let page = browser
            .get(&format!("/signin?return_to={}", urlencode(evil)))
            .await;
        assert_eq!(page.field("return_to").as_deref(), Some("/signin"));
        let mut form = page.form("/signin");
        form.retain(|(k, _)| k != "return_to");
        form.push(("return_to".into(), evil.into()));
        form.push(("username".into(), "alice".into()));
        form.push(("password".into(), PASSWORD.into()));
        let after = browser.post("/signin", &form).await;
        assert_eq!(after.status, 303);
        assert_eq!(after.location.as_deref(), Some("/signin"), "{evil}");
    }
    app.stop().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_grant() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let (id, secret) = app
        .create_browser_client("RS", &[PROTECTION], &[CALLBACK], false)
        .await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();
    let params = code_for(&app, &browser, &id, PROTECTION, &challenge).await;
    let first = json_of(
        exchange(&app, (&id, &secret), &params["code"], &verifier).await,
        200,
    )
    .await;
    let r1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = json_of(refresh(&app, (&id, &secret), &r1).await, 200).await;
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "rotated");
    assert_eq!(
        jwt_payload(second["access_token"].as_str().unwrap())["sub"],
        "alice"
    );
    // Another client cannot use it.
    let (other, other_secret) = app
        .create_browser_client("Other", &[PROTECTION], &[CALLBACK], false)
        .await;
    assert_eq!(
        json_of(refresh(&app, (&other, &other_secret), &r2).await, 400).await["error"],
        "invalid_grant"
    );
    // Replaying r1 (stolen?) revokes the whole grant: r2 and its access token die.
    assert_eq!(
        json_of(refresh(&app, (&id, &secret), &r1).await, 400).await["error"],
        "invalid_grant"
    );
    assert_eq!(
        json_of(refresh(&app, (&id, &secret), &r2).await, 400).await["error"],
        "invalid_grant"
    );
    let pat = second["access_token"].as_str().unwrap();
    let refused = app
        .put_resource_set(pat, "x", &json!({"name": "X", "scopes": ["s"]}), None)
        .await;
    assert_eq!(refused.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn claims_gathering_binds_the_users_claims_to_the_ticket() {
    let app = spawn_app().await;
    app.create_user(
        "alice",
        PASSWORD,
        json!({"email": "alice@example.com", "email_verified": true}),
    )
    .await;
    // The client holds a client_credentials AAT (no claims) and a redirect URI.
    let scene = DiaryScene::set_up(&app, "alice@example.com", CALLBACK).await;
    let (client_id, ticket) = (scene.client_id.clone(), scene.ticket.clone());
    let first = json_of(scene.ask(&app).await, 403).await;
    assert_eq!(first["error"], "need_info", "{first}");

    // The client sends alice's browser over with the ticket.
    let browser = Browser::new(&app);
    let query = serde_urlencoded::to_string([
        ("ticket", ticket.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", CALLBACK),
        ("state", "cg-1"),
    ])
    .unwrap();
    let page = browser
        .follow(browser.get(&format!("/uma/claims?{query}")).await)
        .await;
    let after = browser.sign_in_on(&page, "alice", PASSWORD).await;
    let share = browser.follow(after).await;
    assert!(share.body.contains("Share your details"), "{}", share.body);
    assert!(
        share.body.contains("alice@example.com"),
        "shows what is shared"
    );
    let back = decide(&browser, &share, "/uma/claims", "share")
        .await
        .redirect_params();
    assert_eq!(back["authorization_state"], "claims_submitted");
    assert_eq!(back["state"], "cg-1");
    assert_eq!(back["ticket"], ticket);

    // The retry with the same ticket is granted.
    let granted = json_of(scene.ask(&app).await, 200).await;
    assert!(granted["rpt"].is_string(), "{granted}");

    // The same request via user_endpoint?ticket=… for a used ticket goes
    // back to the client as not_authorized; an unregistered URI is a page.
    let used = browser.get(&format!("/oauth/authorize?{query}")).await;
    assert_eq!(used.status, 303);
    assert_eq!(
        used.redirect_params()["authorization_state"],
        "not_authorized"
    );
    let evil = serde_urlencoded::to_string([
        ("ticket", ticket.as_str()),
        ("client_id", client_id.as_str()),
        ("redirect_uri", "https://evil.example/"),
    ])
    .unwrap();
    let page = browser.get(&format!("/uma/claims?{evil}")).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    app.stop().await;
}

#[tokio::test]
async fn users_sign_in_at_an_upstream_openid_provider() {
    let op = FakeOp::start(
        "carol-at-op",
        json!({"email": "carol@example.org", "name": "Carol"}),
    )
    .await;
    let trusted = op.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let (id, _) = app
        .create_browser_client("Printer", &[AUTHORIZATION], &[CALLBACK], true)
        .await;
    let browser = Browser::new(&app);
    let (verifier, challenge) = pkce_pair();
    let sign_in = browser
        .follow(
            browser
                .get(&authorize_url(&id, AUTHORIZATION, "u", &challenge))
                .await,
        )
        .await;
    assert!(
        sign_in.body.contains("Continue with Example ID"),
        "{}",
        sign_in.body
    );
    let form = sign_in.form("/signin/upstream");
    let query = serde_urlencoded::to_string(&form).unwrap();
    let to_op = browser.get(&format!("/signin/upstream?{query}")).await;
    assert_eq!(to_op.status, 303);
    let op_url = to_op.location.clone().unwrap();
    assert!(
        op_url.starts_with(&format!("{}/authorize?", op.issuer)),
        "{op_url}"
    );

    // A callback with a tampered state is refused and opens no session.
    let at_op = browser.get(&op_url).await;
    let callback = at_op.location.clone().unwrap();
    let tampered = callback.replace("state=", "state=x");
    let page = browser.get(&tampered).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(browser.cookie("steward_session").is_none());

    // The real callback signs carol in, and consent follows.
    let page = browser.get(&callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let consent = browser.follow(page).await;
    assert!(
        consent
            .body
            .contains("Signed in as <strong>carol-at-op</strong>"),
        "{}",
        consent.body
    );
    let params = decide(&browser, &consent, "/oauth/authorize", "allow")
        .await
        .redirect_params();
    let tokens = json_of(
        exchange(&app, (&id, ""), &params["code"], &verifier).await,
        200,
    )
    .await;
    let claims = jwt_payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "carol-at-op");
    assert_eq!(claims["rqp_claims"]["email"], "carol@example.org");
    assert!(
        claims["rqp_claims"].get("nonce").is_none(),
        "token-only claims are dropped"
    );
    // Steward asked with PKCE and a nonce.
    let request = op.requests.lock().unwrap()[0].clone();
    assert_eq!(request["code_challenge_method"], "S256");
    assert!(request["nonce"].len() >= 32);
    app.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD, json!({})).await;
    let browser = Browser::new(&app);
    let page = browser.get("/signin").await;
    let signed = browser
        .follow(browser.sign_in_on(&page, "alice", PASSWORD).await)
        .await;
    assert!(signed.body.contains("You are signed in"), "{}", signed.body);
    let session = browser.cookie("steward_session").unwrap();
    let out = browser.post("/signout", &signed.form("/signout")).await;
    assert_eq!(out.status, 303);
    assert!(browser.cookie("steward_session").is_none());
    // The old cookie is worthless now, even if it was copied.
    let thief = Browser::new(&app);
    thief.cookies_insert("steward_session", &session);
    let page = thief.get("/signin").await;
    assert!(page.body.contains("<h1>Sign in</h1>"), "{}", page.body);
    app.stop().await;
}
