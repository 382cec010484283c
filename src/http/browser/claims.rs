//! Claims gathering for a permission ticket (UMA's
//! `requesting_party_claims_endpoint`): the core checks the request and
//! either sends the browser back to the client or asks the signed-in
//! person whether to share their claims; their answer goes to the core,
//! which binds the claims to the ticket and says where the browser goes.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::cookies::Cookies;
use super::decision::{Carried, Decision, answer, carried, page_for};
use super::pages::{self, ShareClaims};
use super::{PageError, query, see_other};
use crate::domain::Error;
use crate::grpc::Transport;
use crate::grpc::proto::consent_service_client::ConsentServiceClient;
use crate::grpc::proto::{AnswerClaimsRequest, ClaimsParameters, claims_check};
use crate::http::{Facade, authorized, paths};

carried!(ClaimsParameters at paths::CLAIMS, [ticket, client_id, redirect_uri, state]);

impl Decision for ClaimsParameters {
    const YES: &'static str = "share";

    async fn decide(
        self,
        mut consent: ConsentServiceClient<Transport>,
        session_token: String,
        share: bool,
    ) -> Result<String, tonic::Status> {
        let request = AnswerClaimsRequest {
            session_token,
            parameters: Some(self),
            share,
        };
        let answered = consent.answer_claims(authorized(request, None)).await?;
        Ok(answered.into_inner().location)
    }
}

/// `GET /uma/claims` (`requesting_party_claims_endpoint`; also
/// `user_endpoint?ticket=…`).
pub async fn claims(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let params = query(uri.query())?;
    page(&facade, &headers, &params).await
}

/// The claims-gathering page for a request's parameters.
pub(super) async fn page(
    facade: &Facade,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<Response, PageError> {
    let parameters = ClaimsParameters::read(params);
    let check = facade
        .clients
        .consent
        .clone()
        .check_claims(authorized(parameters.clone(), None))
        .await?
        .into_inner();
    let prompt = match check.outcome {
        Some(claims_check::Outcome::Redirect(to)) => return Ok(see_other(&to, Cookies::default())),
        Some(claims_check::Outcome::Prompt(prompt)) => prompt,
        None => return Err(Error::Internal("the core sent no outcome".into()).into()),
    };
    page_for(
        facade,
        headers,
        &parameters,
        &prompt.client_name,
        &prompt.redirect_uri,
        |ask, signed| {
            pages::share_claims(&ShareClaims {
                ask,
                claims: &shown(&signed.claims),
            })
        },
    )
    .await
}

/// The signed-in person's claims as the page lists them: names and values
/// as text (lists joined with commas).
fn shown(claims: &Value) -> Vec<(String, String)> {
    claims
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(name, value)| {
                    let shown = match value {
                        Value::String(s) => s.clone(),
                        Value::Array(items) => items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(", "),
                        other => other.to_string(),
                    };
                    (name.clone(), shown)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /uma/claims`: share the claims (or not) and go back to the client.
pub async fn claims_answer(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    answer::<ClaimsParameters>(&facade, &headers, body).await
}
