//! `nbf` on every token Steward verifies: its own access tokens (PATs at the
//! protection API over HTTP and gRPC, AATs at the authorization API) and ID
//! tokens from an upstream sign-in. A token is refused until its `nbf`
//! (less the clock skew) and accepted from then on — the check runs on every
//! use, not only when the signature is first verified.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use steward::domain::token::CLOCK_SKEW;
use steward::grpc::proto::ListResourceSetsRequest;
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use tonic::Code;

use crate::browser_support::{Browser, FakeOp};
use crate::helpers::{T0, TestApp, bearer, spawn_app, spawn_app_with};
use crate::keys::{kid_of, private_key};

/// A token signed with the server's own current key (read from its
/// database, as only someone holding the key could).
async fn forge(app: &TestApp, genuine: &str, claims: &Value) -> String {
    let kid = kid_of(genuine);
    let key = private_key(app, &kid).await.expect("stored key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key)).unwrap()
}

async fn list_over_http(app: &TestApp, pat: &str) -> u16 {
    app.http_client
        .get(app.url("/uma/rs/resource_set"))
        .bearer_auth(pat)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn list_over_grpc(app: &TestApp, pat: &str) -> Result<(), Code> {
    ResourceSetServiceClient::new(app.channel().await)
        .list_resource_sets(bearer(ListResourceSetsRequest {}, pat))
        .await
        .map(|_| ())
        .map_err(|status| status.code())
}

async fn new_rpt(app: &TestApp, aat: &str) -> u16 {
    app.http_client
        .post(app.url("/uma/client/rpt"))
        .bearer_auth(aat)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_access_token_is_refused_before_its_nbf_and_accepted_once_the_clock_passes_it() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let (requester, aat) = app.requester("bob").await;
    let now = app.clock_now();
    let pat_claims = |nbf: Value| {
        json!({
            "iss": app.issuer, "sub": "alice", "client_id": rs.client_id,
            "scope": "uma_protection", "iat": now, "exp": now + 7200,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": nbf,
        })
    };
    let aat_claims = |nbf: Value| {
        json!({
            "iss": app.issuer, "sub": "bob", "client_id": requester,
            "scope": "uma_authorization", "iat": now, "exp": now + 7200,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": nbf,
        })
    };
    let early_pat = forge(&app, &rs.pat, &pat_claims(json!(now + 3600))).await;
    let early_aat = forge(&app, &aat, &aat_claims(json!(now + 3600))).await;

    // An hour early: refused at both APIs, over HTTP and gRPC, and again on
    // a second use (after its signature was verified and remembered).
    for _ in 0..2 {
        assert_eq!(list_over_http(&app, &early_pat).await, 401);
        assert_eq!(
            list_over_grpc(&app, &early_pat).await,
            Err(Code::Unauthenticated)
        );
        assert_eq!(new_rpt(&app, &early_aat).await, 401);
    }
    // An nbf that is not a whole number of seconds is refused, not skipped.
    for odd in [json!(now as f64 + 3600.5), json!((now + 3600).to_string())] {
        let token = forge(&app, &rs.pat, &pat_claims(odd.clone())).await;
        assert_eq!(list_over_http(&app, &token).await, 401, "nbf {odd}");
    }
    // Controls: forging works, and an nbf within the skew (or past) is fine.
    for nbf in [now + CLOCK_SKEW, now - 10] {
        let token = forge(&app, &rs.pat, &pat_claims(json!(nbf))).await;
        assert_eq!(list_over_http(&app, &token).await, 200, "nbf {nbf}");
        assert_eq!(list_over_grpc(&app, &token).await, Ok(()), "nbf {nbf}");
    }
    let beyond = forge(&app, &rs.pat, &pat_claims(json!(now + CLOCK_SKEW + 1))).await;
    assert_eq!(list_over_http(&app, &beyond).await, 401);

    // The same tokens once the clock reaches their nbf.
    app.clock.advance(3600);
    assert_eq!(list_over_http(&app, &early_pat).await, 200);
    assert_eq!(list_over_grpc(&app, &early_pat).await, Ok(()));
    assert_eq!(new_rpt(&app, &early_aat).await, 201);
    app.stop().await;
}

/// Signs in at `app`'s one upstream provider from its sign-in page: the
/// callback's answer (status, body) and whether the browser then holds a
/// session.
async fn upstream_sign_in(app: &TestApp) -> (u16, String, bool) {
    let browser = Browser::new(app);
    let page = browser.get("/signin").await;
    let query = serde_urlencoded::to_string(page.form("/signin/upstream")).unwrap();
    let to_op = browser.get(&format!("/signin/upstream?{query}")).await;
    assert_eq!(to_op.status, 303, "{}", to_op.body);
    let at_op = browser.get(to_op.location.as_deref().unwrap()).await;
    let callback = browser.get(at_op.location.as_deref().unwrap()).await;
    let signed_in = browser.cookie("steward_session").is_some();
    (callback.status, callback.body, signed_in)
}

#[tokio::test]
async fn an_upstream_id_token_is_refused_before_its_nbf() {
    // The provider's ID tokens say they start an hour from now (in whole
    // seconds, or with a fraction, which NumericDate allows).
    let fractional = T0 as f64 + 3600.5;
    for nbf in [json!(T0 + 3600), json!(fractional)] {
        let op = FakeOp::start("erin-at-op", json!({ "nbf": nbf })).await;
        let trusted = op.trusted();
        let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
        let (status, body, signed_in) = upstream_sign_in(&app).await;
        assert_eq!(status, 403, "nbf {nbf}: {body}");
        assert!(body.contains("not valid yet"), "nbf {nbf}: {body}");
        assert!(!signed_in, "nbf {nbf}");
        app.stop().await;
    }

    // Control: a few seconds ahead is within the skew upstream tokens get.
    let op = FakeOp::start("erin-at-op", json!({"nbf": T0 + 10})).await;
    let trusted = op.trusted();
    let app = spawn_app_with(move |s| s.trusted_issuers = vec![trusted]).await;
    let (status, body, signed_in) = upstream_sign_in(&app).await;
    assert_eq!(status, 303, "{body}");
    assert!(signed_in);
    app.stop().await;
}
