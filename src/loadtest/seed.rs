//! The data the operations need, made the way an operator and a resource
//! server make it: two clients through the client registry (there is no
//! public API for that — the operator CLI writes the database directly),
//! then everything else over the public HTTP API: a PAT, N resource sets
//! each with a permit policy, and M RPTs each holding a permission obtained
//! with a ticket and a permission request (draft-06 §3.4).
//!
//! Every run registers new clients, so the resource sets live in a fresh
//! namespace and a re-run against the same server does not collide.

use std::future::Future;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::ops::{SCOPE, bench_host, bench_uri};
use crate::config::Settings;
use crate::core::clients::NewClient;
use crate::core::{Core, CorePolicy, SystemClock};
use crate::domain::Error;
use crate::domain::secret::OsEntropy;
use crate::http::paths;
use crate::store::Store;

/// Seeding requests in flight at once: enough to hide round trips, few
/// enough not to be a load test of its own (client authentication hashes
/// the secret, which is deliberately slow).
const SEED_PARALLELISM: usize = 8;

/// The scopes every seeded resource set registers.
pub const SET_SCOPES: [&str; 2] = [SCOPE, "edit"];

/// A client's id and secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

/// The clients the run uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// A resource server (`uma_protection`): its PAT registers sets,
    /// policies and permissions and asks for RPT status and decisions.
    pub resource_server: Credentials,
    /// A requesting client (`uma_authorization`) acting for itself: its
    /// AATs get the RPTs. Its id is also the requesting party's subject.
    pub requester: Credentials,
    /// The resource owner the resource server's PAT acts for.
    pub owner: String,
}

/// What the operations rotate over.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub clients: Clients,
    pub pat: String,
    pub resource_sets: Vec<String>,
    pub rpts: Vec<String>,
    /// The resource set each RPT's permission is on (same order as `rpts`).
    pub rpt_sets: Vec<String>,
    /// The host of the run's enforcement profile.
    pub host: String,
}

/// Registers the two clients in the database behind `database_url`, as
/// `steward client create` does.
pub async fn register_clients(database_url: &str, issuer: &str) -> Result<Clients, Error> {
    let store = Store::connect(database_url).await?;
    store.migrate().await?;
    let policy = CorePolicy::from_settings(&Settings::default(), issuer.to_string());
    let core = Core::new(store, policy, Arc::new(SystemClock), Arc::new(OsEntropy)).await?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let owner = format!("bench-owner-{}", &run[..8]);
    let resource_server = core
        .create_client(NewClient {
            name: format!("steward bench resource server {}", &run[..8]),
            owner: Some(owner.clone()),
            scopes: vec!["uma_protection".into()],
            ..NewClient::default()
        })
        .await?;
    let requester = core
        .create_client(NewClient {
            name: format!("steward bench requesting client {}", &run[..8]),
            scopes: vec!["uma_authorization".into()],
            ..NewClient::default()
        })
        .await?;
    Ok(Clients {
        resource_server: Credentials {
            id: resource_server.client_id,
            secret: resource_server.client_secret.into_exposed(),
        },
        requester: Credentials {
            id: requester.client_id,
            secret: requester.client_secret.into_exposed(),
        },
        owner,
    })
}

/// The HTTP side of seeding, against the façade at `base`.
pub async fn seed(
    client: &reqwest::Client,
    base: &str,
    clients: Clients,
    resource_sets: usize,
    rpts: usize,
) -> Result<Seeded, Error> {
    let api = Api {
        client: client.clone(),
        base: base.to_string(),
    };
    let pat = api
        .token(&clients.resource_server, "uma_protection")
        .await?;

    let sets: Vec<String> = (0..resource_sets)
        .map(|i| format!("bench-{i:05}"))
        .collect();
    parallel(sets.len(), |i| {
        let api = api.clone();
        let pat = pat.clone();
        let rsid = sets.get(i).cloned().unwrap_or_default();
        async move { api.resource_set_with_policy(&pat, &rsid).await }
    })
    .await?;
    let host = bench_host(&clients.resource_server.id);
    api.enforcement_profile(&pat, &host).await?;

    let sets = Arc::new(sets);
    let rpt_sets: Vec<String> = (0..rpts)
        .map(|j| sets.get(j % sets.len().max(1)).cloned().unwrap_or_default())
        .collect();
    let rpts = parallel(rpts, |j| {
        let api = api.clone();
        let pat = pat.clone();
        let requester = clients.requester.clone();
        let rsid = sets.get(j % sets.len().max(1)).cloned().unwrap_or_default();
        async move { api.rpt_with_permission(&pat, &requester, &rsid).await }
    })
    .await?;

    Ok(Seeded {
        clients,
        pat,
        resource_sets: Arc::unwrap_or_clone(sets),
        rpts,
        rpt_sets,
        host,
    })
}

/// Runs `f(0..count)` with at most [`SEED_PARALLELISM`] in flight; the
/// results in index order, or the first error.
async fn parallel<T, Fut>(count: usize, mut f: impl FnMut(usize) -> Fut) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    Fut: Future<Output = Result<T, Error>> + Send + 'static,
{
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut tasks = JoinSet::new();
    let mut next = 0;
    loop {
        while next < count && tasks.len() < SEED_PARALLELISM {
            let index = next;
            let work = f(index);
            tasks.spawn(async move { (index, work.await) });
            next += 1;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (index, result) =
            joined.map_err(|e| Error::Internal(format!("a seeding task failed: {e}")))?;
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(result?);
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Internal("a seeding result is missing".into())))
        .collect()
}

/// The public HTTP API, as a resource server and a client use it.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `request` and returns the JSON body if the status is `want`;
    /// otherwise an error naming `what` and the answer.
    async fn expect(
        &self,
        request: reqwest::RequestBuilder,
        want: StatusCode,
        what: &str,
    ) -> Result<Value, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("seeding ({what}): {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Unavailable(format!("seeding ({what}): {e}")))?;
        if status != want {
            return Err(Error::Unavailable(format!(
                "seeding ({what}): expected {want}, got {status}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::Unavailable(format!("seeding ({what}): not JSON: {e}")))
    }

    /// `client_credentials` at the token endpoint.
    async fn token(&self, client: &Credentials, scope: &str) -> Result<String, Error> {
        let body = self
            .expect(
                self.client
                    .post(self.url(paths::TOKEN))
                    .basic_auth(&client.id, Some(&client.secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", scope)]),
                StatusCode::OK,
                "token",
            )
            .await?;
        string_member(&body, "access_token", "token")
    }

    /// `PUT /uma/rs/resource_set/{rsid}` then `POST /uma/rs/policy/{rsid}`
    /// with a policy that permits every scope to anyone.
    async fn resource_set_with_policy(&self, pat: &str, rsid: &str) -> Result<(), Error> {
        self.expect(
            self.client
                .put(self.url(&format!(
                    "{}/resource_set/{rsid}",
                    paths::RESOURCE_SET_REGISTRATION
                )))
                .bearer_auth(pat)
                .json(&json!({
                    "name": format!("bench set {rsid}"),
                    "scopes": SET_SCOPES,
                    "uris": [bench_uri(rsid)],
                })),
            StatusCode::CREATED,
            "resource set registration",
        )
        .await?;
        self.expect(
            self.client
                .post(self.url(&format!("{}/{rsid}", paths::POLICIES)))
                .bearer_auth(pat)
                .json(&json!({"name": "bench: anyone may", "scopes": SET_SCOPES})),
            StatusCode::CREATED,
            "policy",
        )
        .await?;
        Ok(())
    }

    /// The enforcement profile the `ext_authz` operation needs: the run's
    /// host, `GET` → the seeded scope.
    async fn enforcement_profile(&self, pat: &str, host: &str) -> Result<(), Error> {
        self.expect(
            self.client
                .put(self.url(paths::ENFORCEMENT))
                .bearer_auth(pat)
                .json(&json!({"hosts": [host], "methods": {"GET": [SCOPE]}})),
            StatusCode::OK,
            "enforcement profile",
        )
        .await
        .map(|_| ())
    }

    /// A new AAT (one live RPT per AAT, so one AAT per RPT), an empty RPT,
    /// a ticket for `rsid`, and the permission request that puts the
    /// ticket's permission on the RPT.
    async fn rpt_with_permission(
        &self,
        pat: &str,
        requester: &Credentials,
        rsid: &str,
    ) -> Result<String, Error> {
        let aat = self.token(requester, "uma_authorization").await?;
        let issued = self
            .expect(
                self.client.post(self.url(paths::RPT)).bearer_auth(&aat),
                StatusCode::CREATED,
                "RPT",
            )
            .await?;
        let rpt = string_member(&issued, "rpt", "RPT")?;
        let registered = self
            .expect(
                self.client
                    .post(self.url(paths::PERMISSION_REGISTRATION))
                    .bearer_auth(pat)
                    .json(&json!({"resource_set_id": rsid, "scopes": [SCOPE]})),
                StatusCode::CREATED,
                "permission registration",
            )
            .await?;
        let ticket = string_member(&registered, "ticket", "permission registration")?;
        let granted = self
            .expect(
                self.client
                    .post(self.url(paths::PERMISSION_REQUEST))
                    .bearer_auth(&aat)
                    .json(&json!({"rpt": rpt, "ticket": ticket})),
                StatusCode::OK,
                "permission request",
            )
            .await?;
        string_member(&granted, "rpt", "permission request")
    }
}

/// `document[name]` as a string.
fn string_member(document: &Value, name: &str, what: &str) -> Result<String, Error> {
    document
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Unavailable(format!("seeding ({what}): no `{name}` in the answer")))
}
