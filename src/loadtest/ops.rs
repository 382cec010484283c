//! The probes: one request of each measured operation, with the check that
//! tells a real answer from an error. Baselines use the same probe types
//! (an HTTP probe against the no-op route, a gRPC probe against the no-op
//! health service) so the only difference measured is the server.
//!
//! Request bodies are rendered once, at set-up, so the hot loop spends its
//! time on the wire rather than in `serde_json`; each task walks the seeded
//! keys from its own starting point so the server is not answering one key.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::driver::Probe;
use crate::domain::Error;
use crate::grpc::proto::decide_response::Outcome;
use crate::grpc::proto::decision_service_client::DecisionServiceClient;
use crate::grpc::proto::token_service_client::TokenServiceClient;
use crate::grpc::proto::{DecideRequest, IntrospectRptRequest};
use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};

/// A request that takes longer than this is an error, not a latency: it
/// bounds how far past its deadline a run can go.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this many HTTP/2 connections per gRPC measurement: one
/// connection serialises its frames, so a single channel would make high
/// concurrency measure the client's connection rather than the server.
pub const MAX_GRPC_CHANNELS: usize = 4;

/// The scope every seeded resource set and permission uses.
pub const SCOPE: &str = "view";

/// The host of a bench resource server's enforcement profile: its own per
/// run, since a host belongs to one resource server.
pub fn bench_host(resource_server: &str) -> String {
    let hash = crate::domain::secret::token_hash(resource_server);
    format!("bench-{}.steward.test", &hash[..12])
}

/// The path pattern of seeded set `rsid` (`/bench/{rsid}/**`).
pub fn bench_uri(rsid: &str) -> String {
    format!("/bench/{rsid}/**")
}

/// Enough of a failed answer to say what it was.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(160).collect();
    if text.chars().count() > 160 {
        out.push('…');
    }
    out
}

/// A `tonic::Status` as one short line.
fn status_text(status: &tonic::Status) -> String {
    format!(
        "gRPC {:?}: {}",
        status.code(),
        snippet(status.message().as_bytes())
    )
}

/// An HTTP client for one measurement: HTTP/1.1 with keep-alive and a pool
/// as large as the concurrency (one connection per task), no proxy (the
/// target is on loopback and must stay there), Nagle off like the server.
pub fn http_client(concurrency: usize) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency.max(1))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Error::Internal(format!("cannot build an HTTP client: {e}")))
}

/// `min(concurrency, MAX_GRPC_CHANNELS)` separately connected channels to
/// `url`; task `w` uses channel `w % len`.
pub struct Channels(Vec<Channel>);

impl Channels {
    /// Connects the channels now, so connection set-up is not measured.
    pub async fn connect(url: &str, concurrency: usize) -> Result<Channels, Error> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| Error::invalid_request(format!("invalid gRPC URL `{url}`: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true);
        let count = concurrency.clamp(1, MAX_GRPC_CHANNELS);
        let mut channels = Vec::with_capacity(count);
        for _ in 0..count {
            // Each `connect` opens its own HTTP/2 connection.
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| Error::Unavailable(format!("cannot connect to {url}: {e}")))?;
            channels.push(channel);
        }
        Ok(Channels(channels))
    }

    /// The channel of task `worker`.
    pub fn pick(&self, worker: usize) -> Channel {
        // `connect` makes at least one channel (`clamp(1, ..)`), so the
        // modulus is never zero.
        self.0[worker % self.0.len()].clone()
    }
}

/// A `Bearer` token as gRPC metadata.
pub fn bearer_metadata(token: &str) -> Result<AsciiMetadataValue, Error> {
    MetadataValue::try_from(format!("Bearer {token}"))
        .map_err(|e| Error::Internal(format!("a token is not valid metadata: {e}")))
}

/// A `Bearer` token as an HTTP header value.
pub fn bearer_header(token: &str) -> Result<HeaderValue, Error> {
    HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|e| Error::Internal(format!("a token is not a valid header: {e}")))
}

/// What a good answer's body looks like (beyond its status code).
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The body starts with this (e.g. `[` for an active RPT's status).
    StartsWith(&'static str),
    /// The body contains this.
    Contains(&'static str),
}

impl Expect {
    fn holds(self, body: &[u8]) -> bool {
        match self {
            Expect::StartsWith(prefix) => body.starts_with(prefix.as_bytes()),
            Expect::Contains(needle) => {
                let needle = needle.as_bytes();
                needle.is_empty() || body.windows(needle.len()).any(|w| w == needle)
            }
        }
    }
}

/// One HTTP operation: a POST to `url` with one of `bodies`.
#[derive(Debug)]
pub struct HttpSpec {
    pub url: String,
    pub authorization: Option<HeaderValue>,
    pub content_type: HeaderValue,
    /// Rotated over; never empty (seeding makes at least one key).
    pub bodies: Vec<String>,
    /// The one status a success has.
    pub status: u16,
    pub expect: Expect,
}

/// A task's handle on an [`HttpSpec`].
pub struct HttpCall {
    client: reqwest::Client,
    spec: Arc<HttpSpec>,
    cursor: usize,
}

impl HttpCall {
    /// Task `worker`'s probe; tasks start at different bodies.
    pub fn new(client: reqwest::Client, spec: Arc<HttpSpec>, worker: usize) -> HttpCall {
        HttpCall {
            client,
            spec,
            cursor: worker,
        }
    }
}

impl Probe for HttpCall {
    async fn call(&mut self) -> Result<(), String> {
        let spec = &self.spec;
        let body = spec
            .bodies
            .get(self.cursor % spec.bodies.len().max(1))
            .cloned()
            .ok_or_else(|| "no request bodies to send".to_string())?;
        self.cursor = self.cursor.wrapping_add(1);
        let mut request = self
            .client
            .post(&spec.url)
            .header(CONTENT_TYPE, spec.content_type.clone())
            .body(body);
        if let Some(authorization) = &spec.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        // Read the whole body: the answer is not complete (and the
        // connection not reusable) before that.
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if status.as_u16() != spec.status {
            return Err(format!("HTTP {status}: {}", snippet(&body)));
        }
        if !spec.expect.holds(&body) {
            return Err(format!("unexpected answer: {}", snippet(&body)));
        }
        Ok(())
    }
}

/// `DecisionService/Decide` for the seeded requesting client on a rotating
/// resource set; a success must be a `PERMIT` (every set has a permit policy).
pub struct DecideCall {
    client: DecisionServiceClient<Channel>,
    pat: AsciiMetadataValue,
    resource_sets: Arc<[String]>,
    requester: Arc<str>,
    cursor: usize,
}

impl DecideCall {
    pub fn new(
        channel: Channel,
        pat: AsciiMetadataValue,
        resource_sets: Arc<[String]>,
        requester: Arc<str>,
        worker: usize,
    ) -> DecideCall {
        DecideCall {
            client: DecisionServiceClient::new(channel),
            pat,
            resource_sets,
            requester,
            cursor: worker,
        }
    }
}

impl Probe for DecideCall {
    async fn call(&mut self) -> Result<(), String> {
        let resource_set_id = self
            .resource_sets
            .get(self.cursor % self.resource_sets.len().max(1))
            .cloned()
            .ok_or_else(|| "no resource sets to ask about".to_string())?;
        self.cursor = self.cursor.wrapping_add(1);
        let mut request = tonic::Request::new(DecideRequest {
            resource_set_id,
            scopes: vec![SCOPE.to_string()],
            client_id: self.requester.to_string(),
            subject: self.requester.to_string(),
            claim_tokens: Vec::new(),
        });
        request
            .metadata_mut()
            .insert("authorization", self.pat.clone());
        let answer = self
            .client
            .decide(request)
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        match answer.outcome() {
            Outcome::Permit => Ok(()),
            other => Err(format!("decision {}", other.as_str_name())),
        }
    }
}

/// `TokenService/IntrospectRpt` of a rotating seeded RPT; a success must be
/// an active RPT carrying its permission.
pub struct IntrospectCall {
    client: TokenServiceClient<Channel>,
    pat: AsciiMetadataValue,
    rpts: Arc<[String]>,
    cursor: usize,
}

impl IntrospectCall {
    pub fn new(
        channel: Channel,
        pat: AsciiMetadataValue,
        rpts: Arc<[String]>,
        worker: usize,
    ) -> IntrospectCall {
        IntrospectCall {
            client: TokenServiceClient::new(channel),
            pat,
            rpts,
            cursor: worker,
        }
    }
}

impl Probe for IntrospectCall {
    async fn call(&mut self) -> Result<(), String> {
        let rpt = self
            .rpts
            .get(self.cursor % self.rpts.len().max(1))
            .cloned()
            .ok_or_else(|| "no RPTs to introspect".to_string())?;
        self.cursor = self.cursor.wrapping_add(1);
        let mut request = tonic::Request::new(IntrospectRptRequest {
            rpt,
            resource_set_id: None,
        });
        request
            .metadata_mut()
            .insert("authorization", self.pat.clone());
        let answer = self
            .client
            .introspect_rpt(request)
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        if answer.active && !answer.permissions.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "RPT active={} with {} permissions",
                answer.active,
                answer.permissions.len()
            ))
        }
    }
}

/// Envoy `Authorization/Check` of a `GET` under a rotating seeded set with
/// the RPT that holds its permission; a success must be an OK answer.
pub struct CheckCall {
    client: AuthorizationClient<Channel>,
    host: Arc<str>,
    /// (path, `Authorization` header) pairs.
    requests: Arc<[(String, String)]>,
    cursor: usize,
}

impl CheckCall {
    pub fn new(
        channel: Channel,
        host: Arc<str>,
        requests: Arc<[(String, String)]>,
        worker: usize,
    ) -> CheckCall {
        CheckCall {
            client: AuthorizationClient::new(channel),
            host,
            requests,
            cursor: worker,
        }
    }
}

impl Probe for CheckCall {
    async fn call(&mut self) -> Result<(), String> {
        let (path, authorization) = self
            .requests
            .get(self.cursor % self.requests.len().max(1))
            .cloned()
            .ok_or_else(|| "no requests to check".to_string())?;
        self.cursor = self.cursor.wrapping_add(1);
        let request = CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(attribute_context::Request {
                    http: Some(attribute_context::HttpRequest {
                        method: "GET".into(),
                        host: self.host.to_string(),
                        path,
                        headers: std::collections::HashMap::from([(
                            "authorization".to_string(),
                            authorization,
                        )]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let answer = self
            .client
            .check(request)
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        match answer.status.as_ref().map(|s| s.code) {
            Some(0) => Ok(()),
            other => Err(format!(
                "Check answered code {other:?}: {}",
                answer.status.map(|s| s.message).unwrap_or_default()
            )),
        }
    }
}

/// The gRPC baseline: `grpc.health.v1.Health/Check` on a server that
/// does nothing else.
pub struct HealthCall {
    client: HealthClient<Channel>,
}

impl HealthCall {
    pub fn new(channel: Channel) -> HealthCall {
        HealthCall {
            client: HealthClient::new(channel),
        }
    }
}

impl Probe for HealthCall {
    async fn call(&mut self) -> Result<(), String> {
        let answer = self
            .client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        if answer.status() == ServingStatus::Serving {
            Ok(())
        } else {
            Err(format!("health {}", answer.status().as_str_name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_read_the_body() {
        assert!(Expect::StartsWith("[").holds(br#"[{"resource_set_id":"a"}]"#));
        assert!(!Expect::StartsWith("[").holds(br#"{"rpt_status":"invalid"}"#));
        assert!(Expect::Contains(r#""active":true"#).holds(br#"{"active":true,"x":1}"#));
        assert!(!Expect::Contains(r#""active":true"#).holds(br#"{"active":false}"#));
        assert!(!Expect::Contains("ticket").holds(b""));
    }
}
