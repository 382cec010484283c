//! Reading requests the way the spec wants them read: bodies limited in size,
//! content types checked, JSON and forms parsed into clear `invalid_request`s.

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::{Error, json};

/// The raw `Authorization` header, forwarded to the core unchanged.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Reads the body, refusing more than `limit` bytes with 413.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let too_large =
        || Error::PayloadTooLarge(format!("the request body is larger than {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).map(|v| {
        v.to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Accepts no content type, `application/json` or `application/*+json`
/// (the draft's `application/intro-resource-set+json` & co.).
pub fn require_json(headers: &HeaderMap) -> Result<(), Error> {
    match media_type(headers) {
        None => Ok(()),
        Some(t)
            if t == "application/json"
                || (t.starts_with("application/") && t.ends_with("+json")) =>
        {
            Ok(())
        }
        Some(t) => Err(Error::UnsupportedMediaType(format!(
            "content type `{t}` is not supported; send application/json"
        ))),
    }
}

/// Reads a JSON body (content type checked, size limited, a key repeated
/// in any object refused: [`json::parse`]).
pub async fn json_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, Error> {
    require_json(headers)?;
    let bytes = read_body(headers, body, limit).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid_request("a JSON body is required"));
    }
    json::parse(&bytes)
}

/// Path parameters, like axum's `Path`, but a segment that does not decode
/// (invalid UTF-8 after percent-decoding, a value of the wrong type) is the
/// spec's JSON `invalid_request`, not axum's plain-text rejection.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let detail: String = rejection.body_text().chars().take(200).collect();
                if rejection.status().is_server_error() {
                    Err(Error::Internal(detail))
                } else {
                    Err(Error::invalid_request(format!(
                        "the request path is malformed: {detail}"
                    )))
                }
            }
        }
    }
}

/// Reads an `application/x-www-form-urlencoded` body into its parameters,
/// refusing repeated parameters (RFC 6749 §3.1).
pub async fn form_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<(String, String)>, Error> {
    match media_type(headers) {
        Some(t) if t == "application/x-www-form-urlencoded" => {}
        other => {
            return Err(Error::UnsupportedMediaType(format!(
                "content type `{}` is not supported; send application/x-www-form-urlencoded",
                other.unwrap_or_default()
            )));
        }
    }
    let bytes = read_body(headers, body, limit).await?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| Error::invalid_request(format!("malformed form body: {e}")))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::invalid_request(format!(
                "parameter `{name}` is repeated"
            )));
        }
    }
    Ok(pairs)
}

/// One form parameter by name.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A string member of a JSON object: `Ok(None)` when absent, an error when
/// present with another type.
pub fn string_member(object: &Value, key: &str) -> Result<Option<String>, Error> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid_request(format!("`{key}` must be a string"))),
    }
}
