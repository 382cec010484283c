//! The authorization endpoint's pages (RFC 6749 §4.1): the core checks the
//! request and either sends the browser back to the client or asks the
//! signed-in person to consent; their answer goes to the core, which says
//! where the browser goes next.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::cookies::Cookies;
use super::decision::{Carried, Decision, answer, carried, page_for};
use super::pages::{self, Consent, Role};
use super::{PageError, claims, query, see_other};
use crate::domain::Error;
use crate::grpc::Transport;
use crate::grpc::proto::consent_service_client::ConsentServiceClient;
use crate::grpc::proto::{
    AnswerAuthorizationRequest, AuthorizationParameters, ConsentRole, authorization_check,
};
use crate::http::extract::param;
use crate::http::{Facade, authorized, paths};

carried!(AuthorizationParameters at paths::AUTHORIZE, [
    response_type,
    client_id,
    redirect_uri,
    scope,
    state,
    code_challenge,
    code_challenge_method,
]);

impl Decision for AuthorizationParameters {
    const YES: &'static str = "allow";

    async fn decide(
        self,
        mut consent: ConsentServiceClient<Transport>,
        session_token: String,
        approved: bool,
    ) -> Result<String, tonic::Status> {
        let request = AnswerAuthorizationRequest {
            session_token,
            parameters: Some(self),
            approved,
        };
        let answered = consent
            .answer_authorization(authorized(request, None))
            .await?;
        Ok(answered.into_inner().location)
    }
}

/// `GET /oauth/authorize` (`user_endpoint`): an authorization request
/// (RFC 6749 §4.1.1), or — with `ticket` — a claims-gathering request.
pub async fn authorize(
    State(facade): State<Facade>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let params = query(uri.query())?;
    if param(&params, "ticket").is_some() {
        return claims::page(&facade, &headers, &params).await;
    }
    let parameters = AuthorizationParameters::read(&params);
    let check = facade
        .clients
        .consent
        .clone()
        .check_authorization(authorized(parameters.clone(), None))
        .await?
        .into_inner();
    let prompt = match check.outcome {
        Some(authorization_check::Outcome::Redirect(to)) => {
            return Ok(see_other(&to, Cookies::default()));
        }
        Some(authorization_check::Outcome::Prompt(prompt)) => prompt,
        None => return Err(Error::Internal("the core sent no outcome".into()).into()),
    };
    page_for(
        &facade,
        &headers,
        &parameters,
        &prompt.client_name,
        &prompt.redirect_uri,
        |ask, signed| {
            pages::consent(&Consent {
                ask,
                roles: &roles(&prompt.roles, &signed.subject),
                scopes: &prompt.scopes,
            })
        },
    )
    .await
}

/// What each role the client asks for would let it do, in words.
fn roles(asked: &[i32], subject: &str) -> Vec<Role> {
    asked
        .iter()
        .filter_map(|r| match ConsentRole::try_from(*r).ok()? {
            ConsentRole::Protection => Some(Role {
                title: "Protect your resources",
                detail: format!(
                    "As a resource server, register your resources with Steward and ask it who may use them (a protection API token for {subject})."
                ),
            }),
            ConsentRole::Authorization => Some(Role {
                title: "Ask for access on your behalf",
                detail: "As a client, ask resource owners' policies for permission to their resources for you (an authorization API token).".into(),
            }),
            ConsentRole::Unspecified => None,
        })
        .collect()
}

/// `POST /oauth/authorize`: the consent page's answer.
pub async fn authorize_answer(
    State(facade): State<Facade>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    answer::<AuthorizationParameters>(&facade, &headers, body).await
}
