//! What the browser-flow tests share: a cookie-keeping HTTP "browser" that
//! does not follow redirects (so every hop is checked), form scraping, PKCE,
//! and a stand-in upstream OpenID provider with real endpoints.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;
use crate::idp::TestIdp;

/// A browser over plain HTTP: keeps cookies, never follows redirects.
pub struct Browser {
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
    base: String,
    /// Headers sent with every request (a proxy's `X-Forwarded-For`, say).
    extra_headers: Mutex<Vec<(String, String)>>,
}

/// One answer the browser got.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of hidden/text input `name` in the page's (first) form with it.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(unescape(&self.body[start..end]))
    }

    /// Every hidden field of the form posting to `action`.
    pub fn form(&self, action: &str) -> Vec<(String, String)> {
        let marker = format!("action=\"{action}\"");
        let Some(start) = self.body.find(&marker) else {
            return Vec::new();
        };
        let end = self.body[start..]
            .find("</form>")
            .map_or(self.body.len(), |e| e + start);
        let form = &self.body[start..end];
        let mut fields = Vec::new();
        let mut rest = form;
        while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
            rest = &rest[i + 27..];
            let name_end = rest.find('"').unwrap();
            let name = rest[..name_end].to_string();
            let value_start = rest.find("value=\"").unwrap() + 7;
            let value_end = rest[value_start..].find('"').unwrap() + value_start;
            fields.push((unescape(&name), unescape(&rest[value_start..value_end])));
            rest = &rest[value_end..];
        }
        fields
    }

    /// The query parameters of the `Location` this answer redirects to.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let location = self.location.as_deref().expect("a redirect");
        let query = location.split_once('?').map_or("", |(_, q)| q);
        serde_urlencoded::from_str(query).unwrap()
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    /// A browser with no cookies for `app`.
    pub fn new(app: &TestApp) -> Browser {
        Browser::on(&app.http, None)
    }

    /// A browser for the façade at `base`, connecting from `local` (any
    /// 127.0.0.0/8 address works on Linux: a second client machine).
    pub fn on(base: &str, local: Option<std::net::IpAddr>) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(local)
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
            base: base.to_string(),
            extra_headers: Mutex::new(Vec::new()),
        }
    }

    /// Sends `name: value` with every later request (repeat for duplicates).
    pub fn add_header(&self, name: &str, value: &str) {
        self.extra_headers
            .lock()
            .unwrap()
            .push((name.into(), value.into()));
    }

    /// Stops sending the headers added so far.
    pub fn clear_headers(&self) {
        self.extra_headers.lock().unwrap().clear();
    }

    fn with_extra_headers(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in self.extra_headers.lock().unwrap().iter() {
            request = request.header(name, value);
        }
        request
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A cookie this browser holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Sets a cookie (as a thief who copied one would).
    pub fn cookies_insert(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.into(), value.into());
    }

    /// Forgets a cookie (as if the user cleared it).
    pub fn drop_cookie(&self, name: &str) {
        self.cookies.lock().unwrap().remove(name);
    }

    async fn read(&self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let mut cookies = self.cookies.lock().unwrap();
            if text.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// GET, sending this browser's cookies.
    pub async fn get(&self, url: &str) -> Page {
        let response = self
            .with_extra_headers(self.client.get(self.absolute(url)))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// POSTs a form, sending this browser's cookies.
    pub async fn post(&self, url: &str, form: &[(String, String)]) -> Page {
        let response = self
            .with_extra_headers(self.client.post(self.absolute(url)))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Follows redirects on Steward's own pages (not to other hosts).
    pub async fn follow(&self, mut page: Page) -> Page {
        while let Some(location) = page.location.clone() {
            if !location.starts_with('/') && !location.starts_with(&self.base) {
                break;
            }
            page = self.get(&location).await;
        }
        page
    }

    /// Signs in at the page `page` (the sign-in form) and returns what follows.
    pub async fn sign_in_on(&self, page: &Page, username: &str, password: &str) -> Page {
        let mut form = page.form("/signin");
        form.push(("username".into(), username.into()));
        form.push(("password".into(), password.into()));
        self.post("/signin", &form).await
    }
}

/// `(verifier, S256 challenge)`.
pub fn pkce_pair() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The claims of a JWT (unverified; the tests trust their own server).
pub fn jwt_payload(token: &str) -> Value {
    let segment = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

/// An upstream OpenID provider over HTTP: discovery, an authorization
/// endpoint that signs `user` in at once, a token endpoint that checks the
/// code, client credentials and PKCE, and its keys.
pub struct FakeOp {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Authorization requests seen (their query parameters).
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

#[derive(Clone)]
struct OpState {
    idp: Arc<TestIdp>,
    client_id: String,
    client_secret: String,
    user: String,
    claims: Value,
    codes: Arc<Mutex<HashMap<String, HashMap<String, String>>>>,
    requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl FakeOp {
    /// Starts a provider whose every sign-in is `user` with `claims`.
    pub async fn start(user: &str, claims: Value) -> FakeOp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let client_id = "steward-at-op".to_string();
        let idp = Arc::new(TestIdp::new(&issuer, &client_id));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = OpState {
            idp: idp.clone(),
            client_id: client_id.clone(),
            client_secret: "op-secret-value".into(),
            user: user.into(),
            claims,
            codes: Arc::default(),
            requests: requests.clone(),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeOp {
            issuer,
            client_id,
            client_secret: "op-secret-value".into(),
            requests,
        }
    }

    /// The `[[trusted_issuers]]` entry for sign-in at this provider (by discovery).
    pub fn trusted(&self) -> steward::config::TrustedIssuer {
        steward::config::TrustedIssuer {
            issuer: self.issuer.clone(),
            audience: self.client_id.clone(),
            client_id: Some(self.client_id.clone()),
            client_secret: Some(steward::config::Secret::new(&self.client_secret)),
            discovery_url: Some(format!("{}/.well-known/openid-configuration", self.issuer)),
            display_name: Some("Example ID".into()),
            ..Default::default()
        }
    }
}

async fn discovery(State(op): State<OpState>) -> Json<Value> {
    let issuer = &op.idp.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
    }))
}

async fn jwks(State(op): State<OpState>) -> Json<Value> {
    Json(serde_json::to_value(&op.idp.jwks).unwrap())
}

async fn authorize(
    State(op): State<OpState>,
    Query(params): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    op.requests.lock().unwrap().push(params.clone());
    let code = uuid::Uuid::new_v4().simple().to_string();
    op.codes
        .lock()
        .unwrap()
        .insert(code.clone(), params.clone());
    let query = serde_urlencoded::to_string([
        ("code", code.as_str()),
        ("state", params.get("state").map_or("", String::as_str)),
    ])
    .unwrap();
    Redirect::to(&format!("{}?{query}", params["redirect_uri"]))
}

async fn token(
    State(op): State<OpState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", op.client_id, op.client_secret))
    );
    let refuse = |why: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": why})),
        )
            .into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return refuse("invalid_client");
    }
    let Some(request) = op.codes.lock().unwrap().remove(&form["code"]) else {
        return refuse("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(form["code_verifier"].as_bytes()));
    if request.get("code_challenge") != Some(&challenge)
        || request.get("redirect_uri") != form.get("redirect_uri")
    {
        return refuse("invalid_grant");
    }
    let mut claims = op.claims.clone();
    claims["nonce"] = json!(request["nonce"]);
    let exp = steward_now() + 300;
    let id_token = op.idp.token(&op.user, claims, exp);
    Json(json!({"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}))
        .into_response()
}

/// The test servers' fixed clock (helpers::T0), which ID tokens must match.
fn steward_now() -> i64 {
    crate::helpers::T0
}

/// The claims-gathering scene: olivia's diary, readable by whoever has the
/// verified `email`; a client (with `callback` registered) holding a
/// `client_credentials` AAT without claims, and a fresh ticket for reading.
pub struct DiaryScene {
    pub rs: crate::helpers::ResourceServer,
    pub client_id: String,
    pub aat: String,
    pub ticket: String,
}

impl DiaryScene {
    pub async fn set_up(app: &TestApp, email: &str, callback: &str) -> DiaryScene {
        let rs = app.resource_server("olivia").await;
        let diary = json!({"name": "Diary", "scopes": ["read"]});
        let created = app.put_resource_set(&rs.pat, "diary", &diary, None).await;
        assert_eq!(created.status(), 201);
        let policy = app
            .http_client
            .post(app.url("/uma/rs/policy/diary"))
            .bearer_auth(&rs.pat)
            .json(&json!({"name": "by email", "scopes": ["read"],
                          "claims": [{"name": "email", "equals": email}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(policy.status(), 201);
        let (client_id, client_secret) = app
            .register(steward::core::clients::NewClient {
                name: "Diary reader".into(),
                scopes: vec!["uma_authorization".into()],
                redirect_uris: vec![callback.into()],
                ..Default::default()
            })
            .await;
        let response = app
            .token_request(&client_id, &client_secret, "uma_authorization")
            .await;
        let aat: Value = response.json().await.unwrap();
        let request = json!({"resource_set_id": "diary", "scopes": ["read"]});
        let ticket: Value = app
            .register_permission(&rs.pat, &request)
            .await
            .json()
            .await
            .unwrap();
        DiaryScene {
            rs,
            client_id,
            aat: aat["access_token"].as_str().unwrap().to_string(),
            ticket: ticket["ticket"].as_str().unwrap().to_string(),
        }
    }

    /// The UMA 1.0 RPT request with the scene's ticket.
    pub async fn ask(&self, app: &TestApp) -> reqwest::Response {
        app.http_client
            .post(app.url("/uma/client/rpt"))
            .bearer_auth(&self.aat)
            .json(&json!({"ticket": self.ticket}))
            .send()
            .await
            .unwrap()
    }
}
