//! A resource server's side of the draft (digest §5) as a `tower` layer, so a
//! Rust HTTP service can be guarded by a Steward without UMA code of its own.
//!
//! For every request the service's [`Resolver`] names the resource set and
//! scopes it needs (or `None`: not guarded). Then:
//! - no bearer RPT, or one the AS calls invalid → `401` with
//!   `WWW-Authenticate: UMA realm, host_id, as_uri`;
//! - an RPT without a sufficient, unexpired permission → the guard registers
//!   the permission that would suffice and answers `403` with the ticket
//!   (header, UMA 1.0; JSON body, draft-06);
//! - a sufficient RPT → the request goes through with a [`Granted`]
//!   extension.
//!
//! The guard discovers Steward's endpoints from its configuration document,
//! gets and renews its own PAT with `client_credentials`, and caches an RPT's
//! status only as long as the AS's `Cache-Control: max-age` allows (Steward
//! says `no-store`, so by default every request is checked). If the AS
//! cannot be reached the guard fails closed with `503`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::{Layer, Service};

use crate::domain::enforcement::{insufficient_challenge, uma_challenge};
use crate::domain::secret::token_hash;

/// Longest `Authorization` header read.
const MAX_AUTHORIZATION: usize = 4096;
/// Most cached RPT statuses (a map emptied when full).
const MAX_CACHED: usize = 10_000;
/// A PAT is renewed this long before it expires.
const PAT_MARGIN: Duration = Duration::from_secs(30);

/// What a request needs: scopes on one resource set of the service's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub resource_set_id: String,
    pub scopes: Vec<String>,
}

/// Maps a request to what it needs; `None` leaves it unguarded.
pub type Resolver = Arc<dyn Fn(&http::request::Parts) -> Option<Requirement> + Send + Sync>;

/// Put into the request's extensions when access is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub resource_set_id: String,
    /// The scopes the request needed (all granted).
    pub scopes: Vec<String>,
}

/// How the guard reaches its Steward.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Steward's issuer URL (`as_uri`), e.g. `https://steward.example.com`.
    pub as_uri: String,
    /// The resource server's OAuth client (registered with `uma_protection`).
    pub client_id: String,
    pub client_secret: crate::domain::secret::Secret,
    /// `realm` of the challenges.
    pub realm: String,
    /// `host_id` of the challenges (this service's host name).
    pub host_id: String,
}

/// The layer; cheap to clone (clones share the PAT, endpoints and cache).
#[derive(Clone)]
pub struct UmaGuardLayer {
    shared: Arc<Shared>,
}

impl UmaGuardLayer {
    pub fn new(config: GuardConfig, resolver: Resolver) -> Result<UmaGuardLayer, GuardError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| GuardError(format!("cannot build an HTTP client: {e}")))?;
        Ok(UmaGuardLayer {
            shared: Arc::new(Shared {
                config,
                resolver,
                http,
                endpoints: tokio::sync::OnceCell::new(),
                pat: tokio::sync::Mutex::new(None),
                statuses: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl<S> Layer<S> for UmaGuardLayer {
    type Service = UmaGuard<S>;

    fn layer(&self, inner: S) -> UmaGuard<S> {
        UmaGuard {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The guarded service.
#[derive(Clone)]
pub struct UmaGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// A failure to talk to the AS (reported as `503`, logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("UMA guard: {0}")]
pub struct GuardError(String);

struct Endpoints {
    token: String,
    rpt_status: String,
    permission_registration: String,
}

struct Shared {
    config: GuardConfig,
    resolver: Resolver,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
    /// The current PAT and when to renew it.
    pat: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// RPT hash → cached status.
    statuses: Mutex<HashMap<String, CachedStatus>>,
}

/// An RPT's permissions and until when the AS lets us reuse them.
type CachedStatus = (Instant, Arc<Vec<Permission>>);

/// One permission of an RPT's status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Permission {
    resource_set_id: String,
    scopes: Vec<String>,
    exp: Option<i64>,
}

enum Status {
    Invalid,
    Active(Arc<Vec<Permission>>),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for UmaGuard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let Some(needed) = (shared.resolver)(&parts) else {
                return inner.call(Request::from_parts(parts, body)).await;
            };
            let Some(rpt) = bearer(&parts.headers) else {
                return Ok(shared.unauthorized());
            };
            match shared.decide(&rpt, &needed).await {
                Ok(Decision::Granted) => {
                    parts.extensions.insert(Granted {
                        resource_set_id: needed.resource_set_id,
                        scopes: needed.scopes,
                    });
                    inner.call(Request::from_parts(parts, body)).await
                }
                Ok(Decision::Invalid) => Ok(shared.unauthorized()),
                Ok(Decision::Ticket(ticket)) => Ok(shared.forbidden(&ticket)),
                Err(e) => {
                    tracing::warn!(error = %e, "UMA guard cannot reach the authorization server");
                    Ok(plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"error": "temporarily_unavailable"}).to_string(),
                    ))
                }
            }
        })
    }
}

enum Decision {
    Granted,
    Invalid,
    Ticket(String),
}

/// The bearer token of the request, if it has a usable one.
fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    if value.len() > MAX_AUTHORIZATION {
        return None;
    }
    crate::domain::token::bearer_token(Some(value))
        .ok()
        .map(str::to_string)
}

fn plain<B: From<String>>(status: StatusCode, body: String) -> Response<B> {
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// How long a response may be reused: `max-age`, unless `no-store` or `no-cache`.
fn cache_period(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            max_age = seconds.parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age.filter(|d| !d.is_zero())
}

impl Shared {
    fn unauthorized<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(String::new()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let challenge = uma_challenge(
            &self.config.realm,
            &self.config.host_id,
            &self.config.as_uri,
        );
        if let Ok(value) = HeaderValue::try_from(challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }

    fn forbidden<B: From<String>>(&self, ticket: &str) -> Response<B> {
        let mut response = plain(
            StatusCode::FORBIDDEN,
            json!({ "ticket": ticket }).to_string(),
        );
        let challenge = insufficient_challenge(
            &self.config.realm,
            &self.config.host_id,
            &self.config.as_uri,
            ticket,
        );
        if let Ok(value) = HeaderValue::try_from(challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }

    async fn decide(&self, rpt: &str, needed: &Requirement) -> Result<Decision, GuardError> {
        let Status::Active(permissions) = self.status(rpt).await? else {
            return Ok(Decision::Invalid);
        };
        let now = now_unix();
        let granted: Vec<&String> = permissions
            .iter()
            .filter(|p| p.resource_set_id == needed.resource_set_id)
            .filter(|p| p.exp.is_none_or(|exp| exp > now))
            .flat_map(|p| p.scopes.iter())
            .collect();
        if needed.scopes.iter().all(|s| granted.contains(&s)) {
            return Ok(Decision::Granted);
        }
        self.register(needed).await.map(Decision::Ticket)
    }

    async fn endpoints(&self) -> Result<&Endpoints, GuardError> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/uma-configuration",
                    self.config.as_uri.trim_end_matches('/')
                );
                let document: Value = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| GuardError(format!("discovery at {url}: {e}")))?
                    .json()
                    .await
                    .map_err(|e| GuardError(format!("discovery at {url}: {e}")))?;
                let member = |name: &str| {
                    document[name]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| GuardError(format!("discovery has no `{name}`")))
                };
                Ok(Endpoints {
                    token: member("token_endpoint")?,
                    rpt_status: member("rpt_status_endpoint")?,
                    permission_registration: member("permission_registration_endpoint")?,
                })
            })
            .await
    }

    /// The current PAT; a new one when there is none, it is about to expire,
    /// or `stale` (the AS refused it) is the one held.
    async fn pat(&self, stale: Option<&str>) -> Result<String, GuardError> {
        let mut held = self.pat.lock().await;
        if let Some((pat, renew_at)) = held.as_ref()
            && Instant::now() < *renew_at
            && stale != Some(pat.as_str())
        {
            return Ok(pat.clone());
        }
        let endpoints = self.endpoints().await?;
        let answer: Value = self
            .http
            .post(&endpoints.token)
            .basic_auth(
                &self.config.client_id,
                Some(self.config.client_secret.expose()),
            )
            .form(&[
                (
                    "grant_type",
                    crate::domain::grant::GrantType::ClientCredentials.as_str(),
                ),
                ("scope", "uma_protection"),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| GuardError(format!("PAT request: {e}")))?
            .json()
            .await
            .map_err(|e| GuardError(format!("PAT request: {e}")))?;
        let pat = answer["access_token"]
            .as_str()
            .ok_or_else(|| GuardError("the token endpoint sent no access_token".into()))?
            .to_string();
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(60));
        let renew_at = Instant::now() + lifetime.saturating_sub(PAT_MARGIN);
        *held = Some((pat.clone(), renew_at));
        Ok(pat)
    }

    /// Sends a protection-API request with the PAT, renewing it once if refused.
    async fn protected(&self, url: &str, body: &Value) -> Result<reqwest::Response, GuardError> {
        let mut pat = self.pat(None).await?;
        for attempt in 0..2 {
            let response = self
                .http
                .post(url)
                .bearer_auth(&pat)
                .json(body)
                .send()
                .await
                .map_err(|e| GuardError(format!("{url}: {e}")))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                pat = self.pat(Some(&pat)).await?;
                continue;
            }
            return Ok(response);
        }
        Err(GuardError(format!("{url}: the PAT was refused twice")))
    }

    async fn status(&self, rpt: &str) -> Result<Status, GuardError> {
        let key = token_hash(rpt);
        if let Some((until, permissions)) = self
            .statuses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && Instant::now() < *until
        {
            return Ok(Status::Active(permissions.clone()));
        }
        let endpoints = self.endpoints().await?;
        let response = self
            .protected(&endpoints.rpt_status, &json!({ "rpt": rpt }))
            .await?;
        if !response.status().is_success() {
            return Err(GuardError(format!(
                "RPT status answered {}",
                response.status()
            )));
        }
        let period = cache_period(response.headers());
        let answer: Value = response
            .json()
            .await
            .map_err(|e| GuardError(format!("RPT status: {e}")))?;
        let Some(items) = answer.as_array() else {
            return Ok(Status::Invalid);
        };
        let permissions: Arc<Vec<Permission>> = Arc::new(
            items
                .iter()
                .map(|p| Permission {
                    resource_set_id: p["resource_set_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    scopes: p["scopes"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                    exp: p["exp"].as_i64(),
                })
                .collect(),
        );
        if let Some(period) = period {
            let mut statuses = self.statuses.lock().unwrap_or_else(PoisonError::into_inner);
            if statuses.len() >= MAX_CACHED {
                statuses.clear();
            }
            statuses.insert(key, (Instant::now() + period, permissions.clone()));
        }
        Ok(Status::Active(permissions))
    }

    async fn register(&self, needed: &Requirement) -> Result<String, GuardError> {
        let endpoints = self.endpoints().await?;
        let response = self
            .protected(
                &endpoints.permission_registration,
                &json!({"resource_set_id": needed.resource_set_id, "scopes": needed.scopes}),
            )
            .await?;
        if response.status() != reqwest::StatusCode::CREATED {
            return Err(GuardError(format!(
                "permission registration answered {}",
                response.status()
            )));
        }
        let answer: Value = response
            .json()
            .await
            .map_err(|e| GuardError(format!("permission registration: {e}")))?;
        answer["ticket"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| GuardError("permission registration sent no ticket".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usable_bearer_tokens_are_read() {
        let with = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer(&headers)
        };
        assert_eq!(with("Bearer abc"), Some("abc".into()));
        assert_eq!(with("bearer abc"), Some("abc".into()));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer a b"), None);
        assert_eq!(
            with(&format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION))),
            None
        );
        assert_eq!(bearer(&http::HeaderMap::new()), None);
    }

    #[test]
    fn statuses_are_cached_only_as_the_as_allows() {
        let with = |value: &str| {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                reqwest::header::CACHE_CONTROL,
                reqwest::header::HeaderValue::from_str(value).unwrap(),
            );
            cache_period(&headers)
        };
        assert_eq!(with("private, max-age=30"), Some(Duration::from_secs(30)));
        assert_eq!(with("no-store"), None);
        assert_eq!(with("max-age=30, no-cache"), None);
        assert_eq!(with("max-age=0"), None);
        assert_eq!(with("max-age=soon"), None);
        assert_eq!(cache_period(&reqwest::header::HeaderMap::new()), None);
    }
}
