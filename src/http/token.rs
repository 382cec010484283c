//! The OAuth token endpoint (RFC 6749 §3.2).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::extract::{authorization, form_body, param};
use super::{Facade, authorized};
use crate::domain::Error;
use crate::grpc::proto::IssueTokenRequest;

/// `POST /oauth/token`: client authentication by HTTP Basic or form
/// parameters (one method only, RFC 6749 §2.3), then the core decides.
pub async fn token(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let form = form_body(&headers, body, facade.max_body_bytes).await?;
    let basic = basic_credentials(authorization(&headers))?;
    let form_id = param(&form, "client_id");
    let form_secret = param(&form, "client_secret");
    let (client_id, client_secret) = match (basic, form_secret) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_request(
                "use one client authentication method, not both Basic and form",
            ));
        }
        (Some((id, secret)), None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(Error::invalid_request(
                    "client_id does not match the Basic credentials",
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => (form_id.unwrap_or_default().to_string(), secret.to_string()),
        // A public client names itself only (the core allows that for the
        // browser grants, where PKCE stands in for a secret).
        (None, None) => match form_id {
            Some(id) => (id.to_string(), String::new()),
            None => {
                return Err(Error::InvalidClient(
                    "client authentication is required".into(),
                ));
            }
        },
    };
    let issued = facade
        .clients
        .tokens
        .clone()
        .issue_token(authorized(
            IssueTokenRequest {
                grant_type: param(&form, "grant_type").unwrap_or_default().to_string(),
                client_id,
                client_secret,
                scope: param(&form, "scope").unwrap_or_default().to_string(),
                assertion: param(&form, "assertion").unwrap_or_default().to_string(),
                code: param(&form, "code").unwrap_or_default().to_string(),
                redirect_uri: param(&form, "redirect_uri").unwrap_or_default().to_string(),
                code_verifier: param(&form, "code_verifier")
                    .unwrap_or_default()
                    .to_string(),
                refresh_token: param(&form, "refresh_token")
                    .unwrap_or_default()
                    .to_string(),
            },
            None,
        ))
        .await?
        .into_inner();
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(refresh_token) = issued.refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Decodes `Authorization: Basic` client credentials; each part is
/// form-urlencoded (RFC 6749 §2.3.1). Other schemes are ignored here.
fn basic_credentials(value: Option<&str>) -> Result<Option<(String, String)>, Error> {
    let Some((scheme, encoded)) = value.and_then(|v| v.trim().split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || Error::InvalidClient("malformed Basic credentials".into());
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| malformed())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        assert_eq!(
            basic_credentials(Some(&header)).unwrap(),
            Some(("my client".to_string(), "s:cret".to_string()))
        );
        assert_eq!(basic_credentials(Some("Bearer x")).unwrap(), None);
        assert!(basic_credentials(Some("Basic !!!")).is_err());
        assert_eq!(basic_credentials(None).unwrap(), None);
    }
}
