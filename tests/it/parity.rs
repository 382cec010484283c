//! HTTP ⇄ gRPC parity: the façade and the core's gRPC services give the same
//! result and the same error code for the same call. Each comparison runs the
//! HTTP call as one resource server and the gRPC call as another (same owner,
//! separate namespaces), so both start from the same state.

// Helpers outside `#[test]` fns panic on purpose: a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use steward::grpc::proto::permission_service_client::PermissionServiceClient;
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::grpc::proto::token_service_client::TokenServiceClient;
use steward::grpc::proto::{
    CreateResourceSetRequest, DeleteResourceSetRequest, GetResourceSetRequest,
    IntrospectRptRequest, IssueTokenRequest, ListResourceSetsRequest, RegisterPermissionRequest,
    ResourceSetDescription,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{ResourceServer, TestApp, bearer, grpc_error_code, spawn_app};

/// What a failed call looked like on each side.
#[derive(Debug)]
struct Refusal {
    http_status: u16,
    http_error: String,
    grpc_code: Code,
    grpc_reason: String,
}

impl Refusal {
    async fn of(http: reqwest::Response, grpc: tonic::Status) -> Refusal {
        let http_status = http.status().as_u16();
        let body: Value = http.json().await.expect("JSON error body");
        Refusal {
            http_status,
            http_error: body["error"].as_str().unwrap_or_default().to_string(),
            grpc_code: grpc.code(),
            grpc_reason: grpc_error_code(&grpc),
        }
    }

    /// Both sides refused with `code`, as `status` and `grpc_code`.
    fn assert_same(&self, code: &str, status: u16, grpc_code: Code) {
        assert_eq!(self.http_error, code, "{self:?}");
        assert_eq!(self.grpc_reason, code, "{self:?}");
        assert_eq!(self.http_error, self.grpc_reason, "{self:?}");
        assert_eq!(self.http_status, status, "{self:?}");
        assert_eq!(self.grpc_code, grpc_code, "{self:?}");
    }
}

struct Fixture {
    app: TestApp,
    /// Calls the HTTP façade.
    http_rs: ResourceServer,
    /// Calls gRPC.
    grpc_rs: ResourceServer,
    channel: Channel,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let http_rs = app.resource_server("alice").await;
    let grpc_rs = app.resource_server("alice").await;
    let channel = app.channel().await;
    Fixture {
        app,
        http_rs,
        grpc_rs,
        channel,
    }
}

impl Fixture {
    fn resource_sets(&self) -> ResourceSetServiceClient<Channel> {
        ResourceSetServiceClient::new(self.channel.clone())
    }

    fn permissions(&self) -> PermissionServiceClient<Channel> {
        PermissionServiceClient::new(self.channel.clone())
    }

    fn tokens(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(self.channel.clone())
    }

    async fn http_get(&self, rsid: &str, pat: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .http_client
            .get(self.app.url(&format!("/uma/rs/resource_set/{rsid}")));
        if let Some(pat) = pat {
            request = request.bearer_auth(pat);
        }
        request.send().await.unwrap()
    }

    async fn grpc_get(
        &self,
        rsid: &str,
    ) -> Result<steward::grpc::proto::ResourceSet, tonic::Status> {
        self.resource_sets()
            .get_resource_set(bearer(
                GetResourceSetRequest { id: rsid.into() },
                &self.grpc_rs.pat,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn http_delete(&self, rsid: &str) -> reqwest::Response {
        self.app
            .http_client
            .delete(self.app.url(&format!("/uma/rs/resource_set/{rsid}")))
            .bearer_auth(&self.http_rs.pat)
            .send()
            .await
            .unwrap()
    }

    async fn grpc_delete(&self, rsid: &str) -> Result<(), tonic::Status> {
        self.resource_sets()
            .delete_resource_set(bearer(
                DeleteResourceSetRequest {
                    id: rsid.into(),
                    if_match: None,
                },
                &self.grpc_rs.pat,
            ))
            .await
            .map(|_| ())
    }

    /// Registers `rsid` on both sides (HTTP for `http_rs`, gRPC for `grpc_rs`).
    async fn register_on_both(&self, rsid: &str) {
        let http = self
            .app
            .put_resource_set(&self.http_rs.pat, rsid, &album_json(), None)
            .await;
        assert_eq!(http.status(), 201);
        self.grpc_create(rsid).await.expect("gRPC create");
    }

    async fn grpc_create(
        &self,
        rsid: &str,
    ) -> Result<steward::grpc::proto::ResourceSetRevision, tonic::Status> {
        self.resource_sets()
            .create_resource_set(bearer(
                CreateResourceSetRequest {
                    id: rsid.into(),
                    description: Some(album_proto()),
                },
                &self.grpc_rs.pat,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn grpc_register_permission(
        &self,
        rsid: &str,
        scopes: &[&str],
    ) -> Result<steward::grpc::proto::RegisterPermissionResponse, tonic::Status> {
        self.permissions()
            .register_permission(bearer(
                RegisterPermissionRequest {
                    resource_set_id: rsid.into(),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                },
                &self.grpc_rs.pat,
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn http_status(&self, rpt: &str) -> reqwest::Response {
        self.app
            .http_client
            .post(self.app.url("/uma/rs/status"))
            .bearer_auth(&self.http_rs.pat)
            .json(&json!({"rpt": rpt}))
            .send()
            .await
            .unwrap()
    }

    async fn grpc_status(
        &self,
        rpt: &str,
    ) -> Result<steward::grpc::proto::IntrospectRptResponse, tonic::Status> {
        self.tokens()
            .introspect_rpt(bearer(
                IntrospectRptRequest {
                    rpt: rpt.into(),
                    resource_set_id: None,
                },
                &self.grpc_rs.pat,
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}

fn album_json() -> Value {
    json!({
        "name": "Photo Album",
        "icon_uri": "http://www.example.com/icons/flower.png",
        "scopes": ["view", "all"],
        "type": "http://www.example.com/rsets/photoalbum",
        "x-colour": "blue",
    })
}

fn album_proto() -> ResourceSetDescription {
    ResourceSetDescription {
        name: "Photo Album".into(),
        icon_uri: Some("http://www.example.com/icons/flower.png".into()),
        scopes: vec!["view".into(), "all".into()],
        r#type: Some("http://www.example.com/rsets/photoalbum".into()),
        extensions_json: json!({"x-colour": "blue"}).to_string(),
    }
}

#[tokio::test]
async fn resource_set_create_get_list_delete_agree() {
    let f = fixture().await;

    // Create.
    let http = f
        .app
        .put_resource_set(&f.http_rs.pat, "album", &album_json(), None)
        .await;
    assert_eq!(http.status(), 201);
    let http: Value = http.json().await.unwrap();
    let grpc = f.grpc_create("album").await.expect("gRPC create");
    assert_eq!(http["_id"], grpc.id.as_str());
    assert_eq!(http["_rev"], grpc.rev.as_str());
    assert_eq!(http["status"], grpc.status.as_str());
    assert_eq!(grpc.status, "created");

    // Create again: both refuse with invalid_request.
    let http = f
        .app
        .put_resource_set(&f.http_rs.pat, "album", &album_json(), None)
        .await;
    let grpc = f.grpc_create("album").await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_request", 400, Code::InvalidArgument);

    // Get.
    let http = f.http_get("album", Some(&f.http_rs.pat)).await;
    assert_eq!(http.status(), 200);
    let http: Value = http.json().await.unwrap();
    let grpc = f.grpc_get("album").await.expect("gRPC get");
    assert_eq!(http["_id"], grpc.id.as_str());
    assert_eq!(http["_rev"], grpc.rev.as_str());
    let description = grpc.description.expect("a description");
    assert_eq!(http["name"], description.name.as_str());
    assert_eq!(http["icon_uri"], json!(description.icon_uri));
    assert_eq!(http["scopes"], json!(description.scopes));
    assert_eq!(http["type"], json!(description.r#type));
    let extensions: Value = serde_json::from_str(&description.extensions_json).unwrap();
    assert_eq!(extensions, json!({"x-colour": "blue"}));
    assert_eq!(http["x-colour"], extensions["x-colour"]);
    assert_eq!(
        http.as_object().unwrap().len(),
        7,
        "name, icon_uri, scopes, type, x-colour, _id, _rev: {http}"
    );

    // List.
    f.register_on_both("doc").await;
    let http: Value = f
        .app
        .http_client
        .get(f.app.url("/uma/rs/resource_set"))
        .bearer_auth(&f.http_rs.pat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut http_ids: Vec<String> = serde_json::from_value(http).unwrap();
    let mut grpc_ids = f
        .resource_sets()
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &f.grpc_rs.pat))
        .await
        .unwrap()
        .into_inner()
        .ids;
    http_ids.sort();
    grpc_ids.sort();
    assert_eq!(http_ids, vec!["album".to_string(), "doc".to_string()]);
    assert_eq!(http_ids, grpc_ids);

    // Delete.
    let http = f.http_delete("album").await;
    assert_eq!(http.status(), 204);
    f.grpc_delete("album").await.expect("gRPC delete");

    // Gone on both sides: not_found for get and for a second delete.
    let http = f.http_get("album", Some(&f.http_rs.pat)).await;
    let grpc = f.grpc_get("album").await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("not_found", 404, Code::NotFound);
    let http = f.http_delete("album").await;
    let grpc = f.grpc_delete("album").await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("not_found", 404, Code::NotFound);
    f.app.stop().await;
}

#[tokio::test]
async fn permission_registration_agrees() {
    let f = fixture().await;
    f.register_on_both("album").await;

    // Success.
    let http = f
        .app
        .register_permission(
            &f.http_rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["view"]}),
        )
        .await;
    assert_eq!(http.status(), 201);
    let location = http.headers()["location"].to_str().unwrap().to_string();
    let http: Value = http.json().await.unwrap();
    let grpc = f
        .grpc_register_permission("album", &["view"])
        .await
        .expect("gRPC registration");
    let http_ticket = http["ticket"].as_str().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(http_ticket).unwrap().len(),
        URL_SAFE_NO_PAD.decode(&grpc.ticket).unwrap().len(),
        "both tickets carry the same entropy"
    );
    assert_eq!(http_ticket.len(), grpc.ticket.len());
    assert_ne!(http_ticket, grpc.ticket);
    assert!(location.starts_with(&format!("{}/uma/rs/perm/", f.app.issuer)));
    assert_eq!(
        location.len() - format!("{}/uma/rs/perm/", f.app.issuer).len(),
        grpc.ticket_id.len(),
        "the Location ends with a ticket id shaped like gRPC's"
    );
    assert_eq!(steward::store::ticket_count(&f.app.store).await.unwrap(), 2);

    // invalid_resource_set_id.
    let http = f
        .app
        .register_permission(
            &f.http_rs.pat,
            &json!({"resource_set_id": "nope", "scopes": ["view"]}),
        )
        .await;
    let grpc = f
        .grpc_register_permission("nope", &["view"])
        .await
        .unwrap_err();
    Refusal::of(http, grpc).await.assert_same(
        "invalid_resource_set_id",
        400,
        Code::InvalidArgument,
    );

    // invalid_scope.
    let http = f
        .app
        .register_permission(
            &f.http_rs.pat,
            &json!({"resource_set_id": "album", "scopes": ["delete"]}),
        )
        .await;
    let grpc = f
        .grpc_register_permission("album", &["delete"])
        .await
        .unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_scope", 400, Code::InvalidArgument);

    // invalid_request (no scopes).
    let http = f
        .app
        .register_permission(
            &f.http_rs.pat,
            &json!({"resource_set_id": "album", "scopes": []}),
        )
        .await;
    let grpc = f.grpc_register_permission("album", &[]).await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_request", 400, Code::InvalidArgument);
    assert_eq!(steward::store::ticket_count(&f.app.store).await.unwrap(), 2);
    f.app.stop().await;
}

#[tokio::test]
async fn rpt_status_agrees() {
    let f = fixture().await;
    f.register_on_both("album").await;
    f.register_on_both("doc").await;
    let exp = f.app.clock_now() + 600;
    let perms: &[(&str, &[&str], i64)] =
        &[("album", &["view", "all"], exp), ("doc", &["all"], exp - 1)];
    let http_rpt = f.app.insert_rpt(Some(&f.http_rs), perms).await;
    let grpc_rpt = f.app.insert_rpt(Some(&f.grpc_rs), perms).await;

    // Valid.
    let http = f.http_status(&http_rpt).await;
    assert_eq!(http.status(), 200);
    let mut http: Vec<Value> = http.json().await.unwrap();
    let grpc = f.grpc_status(&grpc_rpt).await.expect("gRPC status");
    assert!(grpc.active);
    let mut grpc_perms: Vec<Value> = grpc
        .permissions
        .iter()
        .map(|p| json!({"resource_set_id": p.resource_set_id, "scopes": p.scopes, "exp": p.exp}))
        .collect();
    let by_id = |a: &Value, b: &Value| {
        a["resource_set_id"]
            .as_str()
            .cmp(&b["resource_set_id"].as_str())
    };
    http.sort_by(by_id);
    grpc_perms.sort_by(by_id);
    assert_eq!(http.len(), 2);
    assert_eq!(http, grpc_perms);
    // gRPC also says when each permission and the RPT were issued.
    assert!(grpc.permissions.iter().all(|p| p.iat == f.app.clock_now()));
    assert_eq!(grpc.iat, f.app.clock_now());
    assert_eq!(grpc.exp, None);

    // Each RPT is invalid at the other resource server, on either side.
    let http: Value = f.http_status(&grpc_rpt).await.json().await.unwrap();
    assert_eq!(http, json!({"rpt_status": "invalid"}));
    let grpc = f.grpc_status(&http_rpt).await.expect("gRPC status");
    assert!(!grpc.active);
    assert!(grpc.permissions.is_empty());

    // Unknown.
    let http: Value = f.http_status("unknown").await.json().await.unwrap();
    assert_eq!(http, json!({"rpt_status": "invalid"}));
    let grpc = f.grpc_status("unknown").await.expect("gRPC status");
    assert_eq!(
        grpc,
        Default::default(),
        "an invalid RPT shows nothing else"
    );

    // Missing rpt.
    let http = f.http_status("").await;
    let grpc = f.grpc_status("").await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_request", 400, Code::InvalidArgument);
    f.app.stop().await;
}

#[tokio::test]
async fn token_issuance_agrees() {
    let f = fixture().await;
    let (client_id, secret) = f.app.create_client("carol", &["uma_protection"]).await;

    // Success.
    let http = f
        .app
        .token_request(&client_id, &secret, "uma_protection")
        .await;
    assert_eq!(http.status(), 200);
    let http: Value = http.json().await.unwrap();
    let grpc = f
        .tokens()
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: client_id.clone(),
            client_secret: secret.clone(),
            scope: "uma_protection".into(),
            ..Default::default()
        })
        .await
        .expect("gRPC token")
        .into_inner();
    assert_eq!(http["token_type"], grpc.token_type.as_str());
    assert_eq!(http["expires_in"], grpc.expires_in);
    assert_eq!(http["scope"], grpc.scope.as_str());
    assert_eq!(grpc.token_type, "Bearer");
    assert_eq!(grpc.scope, "uma_protection");
    let http_token = http["access_token"].as_str().unwrap().to_string();
    assert_ne!(http_token, grpc.access_token);
    // Each token works on the other side: list resource sets.
    let listed = f
        .app
        .http_client
        .get(f.app.url("/uma/rs/resource_set"))
        .bearer_auth(&grpc.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    f.resource_sets()
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &http_token))
        .await
        .expect("HTTP-issued PAT works over gRPC");

    // invalid_client.
    let http = f
        .app
        .token_request(&client_id, "wrong-secret", "uma_protection")
        .await;
    let grpc = f
        .tokens()
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: client_id.clone(),
            client_secret: "wrong-secret".into(),
            scope: "uma_protection".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_client", 401, Code::Unauthenticated);

    // An unknown client is the same invalid_client.
    let http = f
        .app
        .token_request("no-such-client", "whatever", "uma_protection")
        .await;
    let grpc = f
        .tokens()
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id: "no-such-client".into(),
            client_secret: "whatever".into(),
            scope: "uma_protection".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_client", 401, Code::Unauthenticated);

    // invalid_scope.
    let http = f
        .app
        .token_request(&client_id, &secret, "uma_authorization")
        .await;
    let grpc = f
        .tokens()
        .issue_token(IssueTokenRequest {
            grant_type: "client_credentials".into(),
            client_id,
            client_secret: secret,
            scope: "uma_authorization".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_scope", 400, Code::InvalidArgument);
    f.app.stop().await;
}

#[tokio::test]
async fn a_missing_token_is_invalid_token_over_http_and_missing_token_over_grpc() {
    let f = fixture().await;
    f.register_on_both("album").await;

    // Without any token, gRPC's ErrorInfo.reason is `missing_token` (so the
    // façade can rebuild the exact error) while HTTP shows RFC 6750's
    // `invalid_token` with a bare `Bearer realm` challenge.
    let http = f.http_get("album", None).await;
    assert_eq!(
        http.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"steward\""
    );
    let grpc = f
        .resource_sets()
        .get_resource_set(GetResourceSetRequest { id: "album".into() })
        .await
        .unwrap_err();
    let refusal = Refusal::of(http, grpc).await;
    assert_eq!(refusal.http_status, 401);
    assert_eq!(refusal.http_error, "invalid_token");
    assert_eq!(refusal.grpc_code, Code::Unauthenticated);
    assert_eq!(refusal.grpc_reason, "missing_token");

    // Same for permission registration and RPT status.
    let http = f
        .app
        .http_client
        .post(f.app.url("/uma/rs/perm"))
        .json(&json!({"resource_set_id": "album", "scopes": ["view"]}))
        .send()
        .await
        .unwrap();
    let grpc = f
        .permissions()
        .register_permission(RegisterPermissionRequest {
            resource_set_id: "album".into(),
            scopes: vec!["view".into()],
        })
        .await
        .unwrap_err();
    let refusal = Refusal::of(http, grpc).await;
    assert_eq!(
        (refusal.http_status, refusal.http_error.as_str()),
        (401, "invalid_token")
    );
    assert_eq!(
        (refusal.grpc_code, refusal.grpc_reason.as_str()),
        (Code::Unauthenticated, "missing_token")
    );

    let http = f
        .app
        .http_client
        .post(f.app.url("/uma/rs/status"))
        .json(&json!({"rpt": "x"}))
        .send()
        .await
        .unwrap();
    let grpc = f
        .tokens()
        .introspect_rpt(IntrospectRptRequest {
            rpt: "x".into(),
            resource_set_id: None,
        })
        .await
        .unwrap_err();
    let refusal = Refusal::of(http, grpc).await;
    assert_eq!(
        (refusal.http_status, refusal.http_error.as_str()),
        (401, "invalid_token")
    );
    assert_eq!(
        (refusal.grpc_code, refusal.grpc_reason.as_str()),
        (Code::Unauthenticated, "missing_token")
    );
    f.app.stop().await;
}

#[tokio::test]
async fn an_invalid_token_is_invalid_token_on_both_sides() {
    let f = fixture().await;
    f.register_on_both("album").await;
    for token in ["garbage", "a.b.c"] {
        let http = f.http_get("album", Some(token)).await;
        let challenge = http.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        let grpc = f
            .resource_sets()
            .get_resource_set(bearer(GetResourceSetRequest { id: "album".into() }, token))
            .await
            .unwrap_err();
        Refusal::of(http, grpc)
            .await
            .assert_same("invalid_token", 401, Code::Unauthenticated);
    }
    // An expired PAT, too.
    f.app.clock.advance(3600 + 1);
    let http = f.http_get("album", Some(&f.http_rs.pat)).await;
    let grpc = f.grpc_get("album").await.unwrap_err();
    Refusal::of(http, grpc)
        .await
        .assert_same("invalid_token", 401, Code::Unauthenticated);
    f.app.stop().await;
}
