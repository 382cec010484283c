//! Resource set registration (resource-reg-00 §2.3, uma-core digest §3.1):
//! the HTTP API at `{rsreguri}/resource_set/{rsid}` and its gRPC twin
//! `steward.v1.ResourceSetService`, their error codes, their namespaces, and
//! the promise that a refused request changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use steward::grpc::proto::resource_set_service_client::ResourceSetServiceClient;
use steward::grpc::proto::{
    CreateResourceSetRequest, DeleteResourceSetRequest, GetResourceSetRequest,
    ListResourceSetsRequest, ResourceSetDescription, UpdateResourceSetRequest,
};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{TestApp, bearer, grpc_error_code, spawn_app, spawn_app_with};

const VIEW: &str = "http://photoz.example.com/dev/scopes/view";
const ALL: &str = "http://photoz.example.com/dev/scopes/all";

/// The draft's photo album example, with an extension member.
fn album() -> Value {
    json!({
        "name": "Photo Album",
        "icon_uri": "http://www.example.com/icons/flower.png",
        "scopes": [VIEW, ALL],
        "type": "http://www.example.com/rsets/photoalbum",
        "x-colour": "blue"
    })
}

fn item_url(app: &TestApp, rsid: &str) -> String {
    app.url(&format!("/uma/rs/resource_set/{rsid}"))
}

/// `PUT` with a raw body and an optional content type (none when `None`).
async fn put_raw(
    app: &TestApp,
    pat: &str,
    rsid: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    if_match: Option<&str>,
) -> Response {
    let mut request = app
        .http_client
        .put(item_url(app, rsid))
        .bearer_auth(pat)
        .body(body);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    if let Some(tag) = if_match {
        request = request.header(header::IF_MATCH, tag);
    }
    request.send().await.expect("PUT resource set")
}

async fn get_set(app: &TestApp, pat: &str, rsid: &str) -> Response {
    app.http_client
        .get(item_url(app, rsid))
        .bearer_auth(pat)
        .send()
        .await
        .expect("GET resource set")
}

async fn delete_set(app: &TestApp, pat: &str, rsid: &str, if_match: Option<&str>) -> Response {
    let mut request = app.http_client.delete(item_url(app, rsid)).bearer_auth(pat);
    if let Some(tag) = if_match {
        request = request.header(header::IF_MATCH, tag);
    }
    request.send().await.expect("DELETE resource set")
}

/// `GET {rsreguri}/resource_set` (or `path`), asserting 200 and a JSON array of strings.
async fn list_at(app: &TestApp, pat: &str, path: &str) -> Vec<String> {
    let response = app
        .http_client
        .get(app.url(path))
        .bearer_auth(pat)
        .send()
        .await
        .expect("GET resource set list");
    assert_eq!(response.status(), StatusCode::OK, "list succeeds");
    let body: Value = response.json().await.expect("list body is JSON");
    body.as_array()
        .unwrap_or_else(|| panic!("list body is an array: {body}"))
        .iter()
        .map(|id| {
            id.as_str()
                .unwrap_or_else(|| panic!("list entry is a string: {id}"))
                .to_string()
        })
        .collect()
}

async fn list(app: &TestApp, pat: &str) -> Vec<String> {
    list_at(app, pat, "/uma/rs/resource_set").await
}

/// The ids of a list, sorted: the API promises no order.
async fn list_sorted(app: &TestApp, pat: &str) -> Vec<String> {
    let mut ids = list(app, pat).await;
    ids.sort();
    ids
}

fn etag(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::ETAG)
        .map(|v| v.to_str().expect("ETag is ASCII").to_string())
}

/// Asserts a successful `PUT`: 201, `ETag: "<rev>"` and the status body.
async fn expect_put_ok(response: Response, status: &str, rsid: &str, rev: &str) {
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "PUT {rsid} ({status})"
    );
    assert_eq!(
        etag(&response).as_deref(),
        Some(format!("\"{rev}\"").as_str())
    );
    let body: Value = response.json().await.expect("PUT body is JSON");
    assert_eq!(body, json!({"status": status, "_id": rsid, "_rev": rev}));
}

/// Asserts a successful `GET` with revision `rev` and returns the document.
async fn expect_read(app: &TestApp, pat: &str, rsid: &str, rev: &str) -> Value {
    let response = get_set(app, pat, rsid).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {rsid}");
    assert_eq!(
        etag(&response).as_deref(),
        Some(format!("\"{rev}\"").as_str())
    );
    let body: Value = response.json().await.expect("GET body is JSON");
    assert_eq!(body["_id"], json!(rsid));
    assert_eq!(body["_rev"], json!(rev));
    body
}

/// `document` with the AS-written `_id` and `_rev` added.
fn stored(document: &Value, rsid: &str, rev: &str) -> Value {
    let mut object = document.as_object().expect("an object").clone();
    object.insert("_id".into(), json!(rsid));
    object.insert("_rev".into(), json!(rev));
    Value::Object(object)
}

/// Asserts an error response: its status, its `error` code and the common
/// error shape; returns the body.
async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let got = response.status();
    let cache = response
        .headers()
        .get(header::CACHE_CONTROL)
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let text = response.text().await.expect("error body");
    assert_eq!(got, status, "status of an error whose body is {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {text}"));
    assert_eq!(body["error"], json!(code), "error code in {body}");
    assert_eq!(body["status"], json!("error"), "status member in {body}");
    assert_eq!(cache.as_deref(), Some("no-store"), "errors are not cached");
    body
}

async fn create_album(app: &TestApp, pat: &str, rsid: &str) {
    let response = app.put_resource_set(pat, rsid, &album(), None).await;
    expect_put_ok(response, "created", rsid, "1").await;
}

fn allowed_methods(response: &Response) -> BTreeSet<String> {
    let allow = response
        .headers()
        .get(header::ALLOW)
        .unwrap_or_else(|| panic!("a 405 carries Allow: {:?}", response.headers()))
        .to_str()
        .expect("Allow is ASCII");
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .collect()
}

fn grpc_client(channel: Channel) -> ResourceSetServiceClient<Channel> {
    ResourceSetServiceClient::new(channel)
}

fn grpc_album() -> ResourceSetDescription {
    ResourceSetDescription {
        name: "Photo Album".into(),
        icon_uri: Some("http://www.example.com/icons/flower.png".into()),
        scopes: vec![VIEW.into(), ALL.into()],
        r#type: Some("http://www.example.com/rsets/photoalbum".into()),
        extensions_json: json!({"x-colour": "blue"}).to_string(),
    }
}

fn assert_grpc_error(status: &tonic::Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "gRPC code of {status:?}");
    assert_eq!(
        grpc_error_code(status),
        reason,
        "ErrorInfo.reason of {status:?}"
    );
}

// ---------------------------------------------------------------- lifecycle

#[tokio::test]
async fn full_lifecycle_create_read_update_list_delete() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    assert!(
        list(&app, &rs.pat).await.is_empty(),
        "a new namespace is empty"
    );

    // Create.
    let created = app
        .put_resource_set(&rs.pat, "112210f47de98100", &album(), None)
        .await;
    expect_put_ok(created, "created", "112210f47de98100", "1").await;

    // Read: the description as written, plus _id and _rev.
    let read = expect_read(&app, &rs.pat, "112210f47de98100", "1").await;
    assert_eq!(read, stored(&album(), "112210f47de98100", "1"));

    // Update: a full replacement (icon_uri, type and x-colour dropped).
    let replacement = json!({"name": "Holiday Album", "scopes": [VIEW], "x-size": 3});
    let updated = app
        .put_resource_set(&rs.pat, "112210f47de98100", &replacement, Some("\"1\""))
        .await;
    expect_put_ok(updated, "updated", "112210f47de98100", "2").await;

    // Read again: new revision, new content, nothing of the old left.
    let reread = expect_read(&app, &rs.pat, "112210f47de98100", "2").await;
    assert_eq!(reread, stored(&replacement, "112210f47de98100", "2"));

    // A second set; the list shows both, on both spellings of the collection.
    create_album(&app, &rs.pat, "34234df47eL95300").await;
    let expected = vec![
        "112210f47de98100".to_string(),
        "34234df47eL95300".to_string(),
    ];
    assert_eq!(list_sorted(&app, &rs.pat).await, expected);
    let mut with_slash = list_at(&app, &rs.pat, "/uma/rs/resource_set/").await;
    with_slash.sort();
    assert_eq!(with_slash, expected);

    // Delete with the current tag.
    let deleted = delete_set(&app, &rs.pat, "112210f47de98100", Some("\"2\"")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.text().await.unwrap().is_empty(), "204 has no body");
    expect_error(
        get_set(&app, &rs.pat, "112210f47de98100").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        list(&app, &rs.pat).await,
        vec!["34234df47eL95300".to_string()]
    );

    // Delete without If-Match is unconditional.
    let deleted = delete_set(&app, &rs.pat, "34234df47eL95300", None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_error(
        get_set(&app, &rs.pat, "34234df47eL95300").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(list(&app, &rs.pat).await.is_empty(), "everything deleted");

    // A deleted id can be registered afresh, starting again at revision 1.
    create_album(&app, &rs.pat, "112210f47de98100").await;
    expect_read(&app, &rs.pat, "112210f47de98100", "1").await;
    app.stop().await;
}

#[tokio::test]
async fn revisions_keep_counting_and_if_match_accepts_the_usual_forms() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    // Quoted, weak, bare and `*` all name the current revision.
    for (tag, rev) in [("\"1\"", "2"), ("W/\"2\"", "3"), ("3", "4"), ("*", "5")] {
        let body = json!({"name": format!("rev {rev}"), "scopes": [VIEW]});
        let response = app
            .put_resource_set(&rs.pat, "album", &body, Some(tag))
            .await;
        expect_put_ok(response, "updated", "album", rev).await;
        let read = expect_read(&app, &rs.pat, "album", rev).await;
        assert_eq!(read["name"], json!(format!("rev {rev}")));
    }
    // A tag that is not a revision of ours never matches.
    let before = app.dump().await;
    let response = app
        .put_resource_set(&rs.pat, "album", &album(), Some("\"abc\""))
        .await;
    expect_error(
        response,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn extensions_type_alias_icon_uri_and_duplicate_scopes() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let document = json!({
        "name": "Photo Album",
        "icon_uri": "http://www.example.com/icons/flower.png",
        "scopes": [VIEW, ALL, VIEW],
        "resource_set_type": "http://www.example.com/rsets/photoalbum",
        "x-colour": "blue",
        "x-nested": {"a": [1, 2, {"b": null}]},
        "_id": "forged",
        "_rev": "99"
    });
    let response = app
        .put_resource_set(&rs.pat, "album", &document, None)
        .await;
    expect_put_ok(response, "created", "album", "1").await;
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(
        read,
        json!({
            "_id": "album",
            "_rev": "1",
            "name": "Photo Album",
            "icon_uri": "http://www.example.com/icons/flower.png",
            "scopes": [VIEW, ALL],
            "type": "http://www.example.com/rsets/photoalbum",
            "x-colour": "blue",
            "x-nested": {"a": [1, 2, {"b": null}]}
        })
    );
    app.stop().await;
}

#[tokio::test]
async fn json_media_types_are_accepted() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let body = album().to_string();
    for (rsid, content_type) in [
        ("intro", Some("application/intro-resource-set+json")),
        ("charset", Some("application/json; charset=utf-8")),
        ("none", None),
    ] {
        let response = put_raw(&app, &rs.pat, rsid, content_type, body.clone(), None).await;
        expect_put_ok(response, "created", rsid, "1").await;
        let read = expect_read(&app, &rs.pat, rsid, "1").await;
        assert_eq!(read, stored(&album(), rsid, "1"));
    }
    // The draft media type works for updates too.
    let response = put_raw(
        &app,
        &rs.pat,
        "intro",
        Some("application/intro-resource-set+json"),
        json!({"name": "Renamed", "scopes": [VIEW]}).to_string(),
        Some("\"1\""),
    )
    .await;
    expect_put_ok(response, "updated", "intro", "2").await;
    app.stop().await;
}

// ---------------------------------------------------- errors: no side effects

#[tokio::test]
async fn put_without_if_match_on_an_existing_id_is_invalid_request() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    let response = app
        .put_resource_set(
            &rs.pat,
            "album",
            &json!({"name": "Other", "scopes": [VIEW]}),
            None,
        )
        .await;
    expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(
        app.dump().await,
        before,
        "a duplicate create changes nothing"
    );
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(read, stored(&album(), "album", "1"));
    app.stop().await;
}

#[tokio::test]
async fn stale_if_match_update_is_precondition_failed() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let bumped = app
        .put_resource_set(&rs.pat, "album", &album(), Some("\"1\""))
        .await;
    expect_put_ok(bumped, "updated", "album", "2").await;

    let before = app.dump().await;
    for stale in ["\"1\"", "\"3\"", "\"0\""] {
        let response = app
            .put_resource_set(
                &rs.pat,
                "album",
                &json!({"name": "Lost update", "scopes": [VIEW]}),
                Some(stale),
            )
            .await;
        expect_error(
            response,
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        )
        .await;
        assert_eq!(app.dump().await, before, "If-Match {stale} changes nothing");
    }
    let read = expect_read(&app, &rs.pat, "album", "2").await;
    assert_eq!(read, stored(&album(), "album", "2"));
    app.stop().await;
}

#[tokio::test]
async fn if_match_on_an_unknown_id_is_not_found() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    for tag in ["\"1\"", "*"] {
        let response = app
            .put_resource_set(&rs.pat, "ghost", &album(), Some(tag))
            .await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(
        app.dump().await,
        before,
        "an update of nothing creates nothing"
    );
    assert_eq!(list(&app, &rs.pat).await, vec!["album".to_string()]);
    app.stop().await;
}

#[tokio::test]
async fn reading_or_deleting_an_unknown_id_is_not_found() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    expect_error(
        get_set(&app, &rs.pat, "ghost").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete_set(&app, &rs.pat, "ghost", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete_set(&app, &rs.pat, "ghost", Some("\"1\"")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.dump().await, before);
    app.stop().await;
}

#[tokio::test]
async fn stale_if_match_delete_is_precondition_failed() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    for stale in ["\"2\"", "\"0\"", "\"abc\""] {
        expect_error(
            delete_set(&app, &rs.pat, "album", Some(stale)).await,
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        )
        .await;
        assert_eq!(
            app.dump().await,
            before,
            "DELETE If-Match {stale} changes nothing"
        );
    }
    expect_read(&app, &rs.pat, "album", "1").await;
    // The current tag deletes.
    let response = delete_set(&app, &rs.pat, "album", Some("\"1\"")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_ne!(
        app.dump().await,
        before,
        "the successful delete changed the database"
    );
    assert!(list(&app, &rs.pat).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn invalid_descriptions_are_invalid_request_and_change_nothing() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let cases: Vec<(&str, String)> = vec![
        ("missing name", json!({"scopes": [VIEW]}).to_string()),
        ("missing scopes", json!({"name": "x"}).to_string()),
        (
            "empty scopes",
            json!({"name": "x", "scopes": []}).to_string(),
        ),
        (
            "scopes not strings",
            json!({"name": "x", "scopes": [1, 2]}).to_string(),
        ),
        (
            "scopes a string",
            json!({"name": "x", "scopes": VIEW}).to_string(),
        ),
        (
            "name not a string",
            json!({"name": 7, "scopes": [VIEW]}).to_string(),
        ),
        (
            "empty name",
            json!({"name": "", "scopes": [VIEW]}).to_string(),
        ),
        (
            "icon_uri not a string",
            json!({"name": "x", "icon_uri": 1, "scopes": [VIEW]}).to_string(),
        ),
        (
            "malformed JSON",
            "{\"name\": \"x\", \"scopes\": [".to_string(),
        ),
        ("JSON array", json!(["name", "scopes"]).to_string()),
        ("JSON string", json!("album").to_string()),
        ("JSON null", "null".to_string()),
        ("empty body", String::new()),
        ("whitespace body", "  \n ".to_string()),
    ];
    let before = app.dump().await;
    for (what, body) in &cases {
        // As a create of a new id, and as an update of the existing one.
        for (rsid, if_match) in [("fresh", None), ("album", Some("\"1\""))] {
            let response = put_raw(
                &app,
                &rs.pat,
                rsid,
                Some("application/json"),
                body.clone(),
                if_match,
            )
            .await;
            let status = response.status();
            let text = response.text().await.unwrap();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what} ({rsid}): {text}");
            let error: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(error["error"], json!("invalid_request"), "{what} ({rsid})");
            assert!(
                error["error_description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{what} ({rsid}) is described: {error}"
            );
            assert_eq!(app.dump().await, before, "{what} ({rsid}) changes nothing");
        }
    }
    assert_eq!(list(&app, &rs.pat).await, vec!["album".to_string()]);
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(read, stored(&album(), "album", "1"));
    app.stop().await;
}

#[tokio::test]
async fn non_json_content_type_is_unsupported_media_type() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    let body = album().to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        for (rsid, if_match) in [("fresh", None), ("album", Some("\"1\""))] {
            let response = put_raw(
                &app,
                &rs.pat,
                rsid,
                Some(content_type),
                body.clone(),
                if_match,
            )
            .await;
            expect_error(
                response,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
            .await;
            assert_eq!(app.dump().await, before, "{content_type} changes nothing");
        }
    }
    expect_error(
        get_set(&app, &rs.pat, "fresh").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn bodies_above_max_body_bytes_are_payload_too_large() {
    let app = spawn_app_with(|s| s.max_body_bytes = 2048).await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;

    // Just under the limit is fine.
    let small = json!({"name": "x", "scopes": [VIEW], "x-pad": "p".repeat(1800)});
    assert!(small.to_string().len() < 2048);
    let response = app.put_resource_set(&rs.pat, "small", &small, None).await;
    expect_put_ok(response, "created", "small", "1").await;

    let before = app.dump().await;
    let big = json!({"name": "x", "scopes": [VIEW], "x-pad": "p".repeat(4096)});
    assert!(big.to_string().len() > 2048);
    for (rsid, if_match) in [("big", None), ("album", Some("\"1\""))] {
        let response = app.put_resource_set(&rs.pat, rsid, &big, if_match).await;
        expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
        assert_eq!(app.dump().await, before, "a 413 ({rsid}) changes nothing");
    }
    // Just over the limit, too.
    let edge = format!(
        "{{\"name\":\"x\",\"scopes\":[\"a\"],\"x-pad\":\"{}\"}}",
        "p".repeat(2049 - 38)
    );
    assert_eq!(edge.len(), 2049);
    let response = put_raw(&app, &rs.pat, "edge", Some("application/json"), edge, None).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "request_too_large").await;
    assert_eq!(app.dump().await, before);
    assert_eq!(
        list_sorted(&app, &rs.pat).await,
        vec!["album".to_string(), "small".to_string()]
    );
    app.stop().await;
}

#[tokio::test]
async fn unusable_resource_set_ids_are_invalid_request() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let before = app.dump().await;
    for rsid in ["with%20space", "a%2Fb", "tab%09id", &"x".repeat(256)] {
        let response = app.put_resource_set(&rs.pat, rsid, &album(), None).await;
        expect_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        expect_error(
            get_set(&app, &rs.pat, rsid).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(app.dump().await, before, "id {rsid} changes nothing");
    }
    assert!(list(&app, &rs.pat).await.is_empty());
    // The longest accepted id, and a non-ASCII one, are fine.
    let longest = "x".repeat(255);
    create_album(&app, &rs.pat, &longest).await;
    let response = app
        .put_resource_set(&rs.pat, "caf%C3%A9", &album(), None)
        .await;
    expect_put_ok(response, "created", "café", "1").await;
    let read = get_set(&app, &rs.pat, "caf%C3%A9").await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read, stored(&album(), "café", "1"));
    assert_eq!(
        list_sorted(&app, &rs.pat).await,
        vec!["café".to_string(), longest]
    );
    app.stop().await;
}

#[tokio::test]
async fn other_methods_are_unsupported_method_type() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let before = app.dump().await;
    let item = item_url(&app, "album");
    let fresh = item_url(&app, "fresh");
    let collection = app.url("/uma/rs/resource_set");
    let collection_slash = app.url("/uma/rs/resource_set/");
    let cases = [
        (Method::POST, &item),
        (Method::PATCH, &item),
        (Method::POST, &fresh),
        (Method::POST, &collection),
        (Method::POST, &collection_slash),
        (Method::PUT, &collection),
        (Method::DELETE, &collection),
        (Method::PATCH, &collection),
    ];
    for (method, url) in cases {
        let response = app
            .http_client
            .request(method.clone(), url.as_str())
            .bearer_auth(&rs.pat)
            .json(&json!({"name": "x", "scopes": [VIEW]}))
            .send()
            .await
            .unwrap();
        let allow = allowed_methods(&response);
        assert!(allow.contains("GET"), "{method} {url}: Allow {allow:?}");
        if url.as_str() == item.as_str() || url.as_str() == fresh.as_str() {
            assert!(
                !allow.contains(method.as_str()),
                "{method} {url}: Allow {allow:?} must not list the refused method"
            );
        }
        expect_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "unsupported_method_type",
        )
        .await;
        assert_eq!(app.dump().await, before, "{method} {url} changes nothing");
    }
    // The item's Allow lists exactly its operations.
    let response = app
        .http_client
        .post(item.as_str())
        .bearer_auth(&rs.pat)
        .send()
        .await
        .unwrap();
    let allow = allowed_methods(&response);
    for method in ["GET", "PUT", "DELETE"] {
        assert!(
            allow.contains(method),
            "item Allow {allow:?} lists {method}"
        );
    }
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(read, stored(&album(), "album", "1"));
    assert_eq!(list(&app, &rs.pat).await, vec!["album".to_string()]);
    app.stop().await;
}

#[tokio::test]
async fn the_collection_allow_header_lists_only_get() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    for path in ["/uma/rs/resource_set", "/uma/rs/resource_set/"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let response = app
                .http_client
                .request(method.clone(), app.url(path))
                .bearer_auth(&rs.pat)
                .json(&album())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            let allow = allowed_methods(&response);
            assert!(
                allow.iter().all(|m| m == "GET" || m == "HEAD"),
                "{method} {path}: the collection only serves GET, yet Allow is {allow:?}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_or_missing_tokens_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    // An AAT: a valid token without the protection scope.
    let (aat_client, aat_secret) = app.create_client("alice", &["uma_authorization"]).await;
    let aat_response = app
        .token_request(&aat_client, &aat_secret, "uma_authorization")
        .await;
    assert_eq!(aat_response.status(), StatusCode::OK);
    let aat: Value = aat_response.json().await.unwrap();
    let aat = aat["access_token"].as_str().unwrap().to_string();
    // A tampered PAT: one character in the middle of the signature changed.
    let mut tampered: Vec<char> = rs.pat.chars().collect();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    assert_ne!(tampered, rs.pat);

    let before = app.dump().await;
    let replacement = json!({"name": "Hijacked", "scopes": [VIEW]});
    for (what, token, status, code) in [
        (
            "garbage",
            "not-a-token",
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "tampered",
            tampered.as_str(),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "AAT",
            aat.as_str(),
            StatusCode::FORBIDDEN,
            "insufficient_scope",
        ),
    ] {
        let requests = [
            app.put_resource_set(token, "fresh", &replacement, None)
                .await,
            app.put_resource_set(token, "album", &replacement, Some("\"1\""))
                .await,
            app.put_resource_set(token, "album", &replacement, None)
                .await,
            delete_set(&app, token, "album", None).await,
            get_set(&app, token, "album").await,
            app.http_client
                .get(app.url("/uma/rs/resource_set"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        ];
        for response in requests {
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert!(
                challenge.starts_with("Bearer ") && challenge.contains(code),
                "{what}: WWW-Authenticate {challenge:?}"
            );
            expect_error(response, status, code).await;
        }
        assert_eq!(app.dump().await, before, "a {what} token changes nothing");
    }

    // No token at all.
    let response = app
        .http_client
        .delete(item_url(&app, "album"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer realm=")),
        "a bare Bearer challenge"
    );
    let response = app
        .http_client
        .put(item_url(&app, "fresh"))
        .json(&album())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.dump().await, before, "no token changes nothing");

    // An expired PAT.
    app.clock.advance(3601);
    let response = app
        .put_resource_set(&rs.pat, "album", &replacement, Some("\"1\""))
        .await;
    expect_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.dump().await, before, "an expired PAT changes nothing");
    app.stop().await;
}

// -------------------------------------------------------- tenant isolation

/// `a` and `b` each register "photos" and can't see or touch each other's.
async fn assert_isolated(app: &TestApp, a: &str, b: &str) {
    let a_doc = json!({"name": "A's photos", "scopes": [VIEW], "x-owner": "a"});
    let b_doc = json!({"name": "B's photos", "scopes": [ALL], "x-owner": "b"});
    let created = app.put_resource_set(a, "photos", &a_doc, None).await;
    expect_put_ok(created, "created", "photos", "1").await;
    let created = app.put_resource_set(b, "photos", &b_doc, None).await;
    expect_put_ok(created, "created", "photos", "1").await;
    let created = app.put_resource_set(a, "a-only", &a_doc, None).await;
    expect_put_ok(created, "created", "a-only", "1").await;

    assert_eq!(
        list_sorted(app, a).await,
        vec!["a-only".to_string(), "photos".to_string()]
    );
    assert_eq!(list(app, b).await, vec!["photos".to_string()]);
    assert_eq!(
        expect_read(app, a, "photos", "1").await,
        stored(&a_doc, "photos", "1")
    );
    assert_eq!(
        expect_read(app, b, "photos", "1").await,
        stored(&b_doc, "photos", "1")
    );

    // B cannot reach A's "a-only" in any way.
    let before = app.dump().await;
    expect_error(
        get_set(app, b, "a-only").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let hijack = json!({"name": "hijacked", "scopes": [VIEW]});
    for tag in ["\"1\"", "*"] {
        let response = app.put_resource_set(b, "a-only", &hijack, Some(tag)).await;
        expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    expect_error(
        delete_set(app, b, "a-only", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete_set(app, b, "a-only", Some("\"1\"")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.dump().await, before, "B's attempts changed nothing");

    // B updating and deleting its own "photos" leaves A's untouched.
    let response = app
        .put_resource_set(b, "photos", &hijack, Some("\"1\""))
        .await;
    expect_put_ok(response, "updated", "photos", "2").await;
    assert_eq!(
        expect_read(app, a, "photos", "1").await,
        stored(&a_doc, "photos", "1")
    );
    let response = delete_set(app, b, "photos", Some("\"2\"")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(list(app, b).await.is_empty());
    assert_eq!(
        expect_read(app, a, "photos", "1").await,
        stored(&a_doc, "photos", "1")
    );
    assert_eq!(
        expect_read(app, a, "a-only", "1").await,
        stored(&a_doc, "a-only", "1")
    );
    assert_eq!(
        list_sorted(app, a).await,
        vec!["a-only".to_string(), "photos".to_string()]
    );
}

#[tokio::test]
async fn resource_servers_of_different_owners_are_isolated() {
    let app = spawn_app().await;
    let alice = app.resource_server("alice").await;
    let bob = app.resource_server("bob").await;
    assert_isolated(&app, &alice.pat, &bob.pat).await;
    app.stop().await;
}

#[tokio::test]
async fn two_resource_servers_of_the_same_owner_are_isolated() {
    let app = spawn_app().await;
    let first = app.resource_server("alice").await;
    let second = app.resource_server("alice").await;
    assert_ne!(first.client_id, second.client_id);
    assert_isolated(&app, &first.pat, &second.pat).await;
    app.stop().await;
}

#[tokio::test]
async fn a_fresh_pat_of_the_same_resource_server_sees_the_same_namespace() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;
    let response = app
        .token_request(&rs.client_id, &rs.client_secret, "uma_protection")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let second_pat = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second_pat, rs.pat);
    assert_eq!(list(&app, &second_pat).await, vec!["album".to_string()]);
    let response = app
        .put_resource_set(&second_pat, "album", &album(), Some("\"1\""))
        .await;
    expect_put_ok(response, "updated", "album", "2").await;
    expect_read(&app, &rs.pat, "album", "2").await;
    app.stop().await;
}

// --------------------------------------------------------------------- gRPC

#[tokio::test]
async fn grpc_lifecycle() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let mut client = grpc_client(app.channel().await);

    let created = client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "album".into(),
                description: Some(grpc_album()),
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            created.id.as_str(),
            created.rev.as_str(),
            created.status.as_str()
        ),
        ("album", "1", "created")
    );

    let got = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "album".into() },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, "album");
    assert_eq!(got.rev, "1");
    let description = got.description.expect("a description");
    assert_eq!(description.name, "Photo Album");
    assert_eq!(
        description.icon_uri.as_deref(),
        Some("http://www.example.com/icons/flower.png")
    );
    assert_eq!(description.scopes, vec![VIEW.to_string(), ALL.to_string()]);
    assert_eq!(
        description.r#type.as_deref(),
        Some("http://www.example.com/rsets/photoalbum")
    );
    let extensions: Value = serde_json::from_str(&description.extensions_json).unwrap();
    assert_eq!(extensions, json!({"x-colour": "blue"}));

    // gRPC and HTTP are two views of one store.
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(read, stored(&album(), "album", "1"));

    let updated = client
        .update_resource_set(bearer(
            UpdateResourceSetRequest {
                id: "album".into(),
                description: Some(ResourceSetDescription {
                    name: "Renamed".into(),
                    scopes: vec![VIEW.into()],
                    ..ResourceSetDescription::default()
                }),
                if_match: Some("\"1\"".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            updated.id.as_str(),
            updated.rev.as_str(),
            updated.status.as_str()
        ),
        ("album", "2", "updated")
    );
    let got = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "album".into() },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.rev, "2");
    assert_eq!(
        got.description.expect("a description"),
        ResourceSetDescription {
            name: "Renamed".into(),
            icon_uri: None,
            scopes: vec![VIEW.into()],
            r#type: None,
            extensions_json: String::new(),
        }
    );

    // An update without if_match is unconditional.
    let updated = client
        .update_resource_set(bearer(
            UpdateResourceSetRequest {
                id: "album".into(),
                description: Some(grpc_album()),
                if_match: None,
            },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.rev, "3");

    client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "second".into(),
                description: Some(grpc_album()),
            },
            &rs.pat,
        ))
        .await
        .unwrap();
    let mut ids = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &rs.pat))
        .await
        .unwrap()
        .into_inner()
        .ids;
    ids.sort();
    assert_eq!(ids, vec!["album".to_string(), "second".to_string()]);

    client
        .delete_resource_set(bearer(
            DeleteResourceSetRequest {
                id: "album".into(),
                if_match: Some("\"3\"".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap();
    client
        .delete_resource_set(bearer(
            DeleteResourceSetRequest {
                id: "second".into(),
                if_match: None,
            },
            &rs.pat,
        ))
        .await
        .unwrap();
    let status = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "album".into() },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let ids = client
        .list_resource_sets(bearer(ListResourceSetsRequest {}, &rs.pat))
        .await
        .unwrap()
        .into_inner()
        .ids;
    assert!(ids.is_empty(), "everything deleted: {ids:?}");
    assert!(list(&app, &rs.pat).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn grpc_errors_have_their_codes_and_change_nothing() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let other = app.resource_server("bob").await;
    let mut client = grpc_client(app.channel().await);
    client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "album".into(),
                description: Some(grpc_album()),
            },
            &rs.pat,
        ))
        .await
        .unwrap();
    let before = app.dump().await;

    // Unknown id.
    let status = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "ghost".into() },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = client
        .update_resource_set(bearer(
            UpdateResourceSetRequest {
                id: "ghost".into(),
                description: Some(grpc_album()),
                if_match: Some("\"1\"".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = client
        .delete_resource_set(bearer(
            DeleteResourceSetRequest {
                id: "ghost".into(),
                if_match: None,
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");

    // Another namespace's set is as unknown as a missing one.
    let status = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "album".into() },
            &other.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");
    let status = client
        .delete_resource_set(bearer(
            DeleteResourceSetRequest {
                id: "album".into(),
                if_match: None,
            },
            &other.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::NotFound, "not_found");

    // Stale if_match on update and delete.
    let status = client
        .update_resource_set(bearer(
            UpdateResourceSetRequest {
                id: "album".into(),
                description: Some(grpc_album()),
                if_match: Some("\"7\"".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::FailedPrecondition, "precondition_failed");
    let status = client
        .delete_resource_set(bearer(
            DeleteResourceSetRequest {
                id: "album".into(),
                if_match: Some("2".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::FailedPrecondition, "precondition_failed");

    // Duplicate create.
    let status = client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "album".into(),
                description: Some(grpc_album()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");

    // Missing or invalid descriptions.
    let status = client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "fresh".into(),
                description: None,
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    let status = client
        .update_resource_set(bearer(
            UpdateResourceSetRequest {
                id: "album".into(),
                description: None,
                if_match: Some("\"1\"".into()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");
    for (what, description) in [
        (
            "no scopes",
            ResourceSetDescription {
                name: "x".into(),
                ..ResourceSetDescription::default()
            },
        ),
        (
            "no name",
            ResourceSetDescription {
                scopes: vec![VIEW.into()],
                ..ResourceSetDescription::default()
            },
        ),
        (
            "extensions not an object",
            ResourceSetDescription {
                extensions_json: "[1]".into(),
                ..grpc_album()
            },
        ),
    ] {
        let status = client
            .create_resource_set(bearer(
                CreateResourceSetRequest {
                    id: "fresh".into(),
                    description: Some(description),
                },
                &rs.pat,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert_eq!(grpc_error_code(&status), "invalid_request", "{what}");
    }

    // An id the HTTP API could not address.
    let status = client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "a b".into(),
                description: Some(grpc_album()),
            },
            &rs.pat,
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::InvalidArgument, "invalid_request");

    // Bad and missing tokens.
    let status = client
        .create_resource_set(bearer(
            CreateResourceSetRequest {
                id: "fresh".into(),
                description: Some(grpc_album()),
            },
            "not-a-token",
        ))
        .await
        .unwrap_err();
    assert_grpc_error(&status, Code::Unauthenticated, "invalid_token");
    let status = client
        .list_resource_sets(tonic::Request::new(ListResourceSetsRequest {}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    assert_eq!(
        app.dump().await,
        before,
        "no refused gRPC call changed anything"
    );
    let got = client
        .get_resource_set(bearer(
            GetResourceSetRequest { id: "album".into() },
            &rs.pat,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.rev, "1");
    assert_eq!(got.description, Some(grpc_album()));
    app.stop().await;
}

// -------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_the_same_etag_let_exactly_one_win() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    create_album(&app, &rs.pat, "album").await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let client = app.http_client.clone();
        let url = item_url(&app, "album");
        let pat = rs.pat.clone();
        tasks.spawn(async move {
            let body = json!({"name": format!("writer {i}"), "scopes": [VIEW]});
            let response = client
                .put(url)
                .bearer_auth(pat)
                .header(header::IF_MATCH, "\"1\"")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let etag = etag(&response);
            let body: Value = response.json().await.unwrap();
            (i, status, etag, body)
        });
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for (i, status, etag, body) in tasks.join_all().await {
        match status {
            StatusCode::CREATED => {
                assert_eq!(etag.as_deref(), Some("\"2\""), "the winner's ETag");
                assert_eq!(
                    body,
                    json!({"status": "updated", "_id": "album", "_rev": "2"})
                );
                winners.push(i);
            }
            StatusCode::PRECONDITION_FAILED => {
                assert_eq!(body["error"], json!("precondition_failed"), "{body}");
                losers += 1;
            }
            other => panic!("writer {i} got {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins: {winners:?}");
    assert_eq!(losers, 7);
    let read = expect_read(&app, &rs.pat, "album", "2").await;
    assert_eq!(read["name"], json!(format!("writer {}", winners[0])));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_id_let_exactly_one_win() {
    let app = spawn_app().await;
    let rs = app.resource_server("alice").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let client = app.http_client.clone();
        let url = item_url(&app, "album");
        let pat = rs.pat.clone();
        tasks.spawn(async move {
            let body = json!({"name": format!("creator {i}"), "scopes": [VIEW]});
            let response = client
                .put(url)
                .bearer_auth(pat)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (i, status, body)
        });
    }
    let mut winners = Vec::new();
    for (i, status, body) in tasks.join_all().await {
        match status {
            StatusCode::CREATED => winners.push(i),
            StatusCode::BAD_REQUEST => {
                assert_eq!(body["error"], json!("invalid_request"), "{body}");
            }
            other => panic!("creator {i} got {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one creator wins: {winners:?}");
    let read = expect_read(&app, &rs.pat, "album", "1").await;
    assert_eq!(read["name"], json!(format!("creator {}", winners[0])));
    assert_eq!(list(&app, &rs.pat).await, vec!["album".to_string()]);
    app.stop().await;
}
