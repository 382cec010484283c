//! `steward.v1.SessionService`, `ConsentService` and
//! `ClientRegistrationService` over the core: the browser flows and dynamic
//! client registration, for the façade's pages and endpoints.

use serde_json::Value;
use tonic::{Request, Response, Status};

use super::authorization as bearer;
use super::proto::client_registration_service_server::ClientRegistrationService;
use super::proto::consent_service_server::ConsentService;
use super::proto::session_service_server::SessionService;
use super::proto::{
    self, AnswerAuthorizationRequest, AnswerClaimsRequest, AuthorizationParameters,
    ClaimsParameters, ClientMetadataRequest, ClientRegistration, ClientRegistrationRequest,
    DeleteClientRegistrationResponse, EndSessionRequest, EndSessionResponse,
    FinishUpstreamSignInRequest, GetSessionRequest, ListProvidersRequest, ListProvidersResponse,
    Redirect, Session, SignInRequest, StartUpstreamSignInRequest, StartUpstreamSignInResponse,
    authorization_check, claims_check,
};
use crate::core::Core;
use crate::core::authorization_endpoint::{AuthorizationCheck, AuthorizationRequest, ConsentRole};
use crate::core::claims_gathering::{ClaimsCheck, ClaimsRequest};
use crate::core::registration::Registration;
use crate::core::upstream::UpstreamReturn;
use crate::core::users::OpenedSession;
use crate::core::users::SignedInUser;
use crate::domain::Error;

/// The adapter (one type serves the three services).
pub(super) struct Identity {
    core: Core,
}

impl Identity {
    pub(super) fn new(core: Core) -> Self {
        Identity { core }
    }

    /// The signed-in user of a session token, or `access_denied`.
    async fn user(&self, token: &str) -> Result<SignedInUser, Status> {
        self.core
            .session(token)
            .await?
            .ok_or_else(|| Error::AccessDenied("sign in first".into()).into())
    }
}

fn opened(session: OpenedSession) -> Session {
    Session {
        session_token: session.token.into_exposed(),
        subject: session.user.subject,
        claims_json: Value::Object(session.user.claims).to_string(),
        expires_at: session.expires_at,
    }
}

impl From<AuthorizationParameters> for AuthorizationRequest {
    fn from(p: AuthorizationParameters) -> Self {
        AuthorizationRequest {
            response_type: p.response_type,
            client_id: p.client_id,
            redirect_uri: p.redirect_uri,
            scope: p.scope,
            state: p.state,
            code_challenge: p.code_challenge,
            code_challenge_method: p.code_challenge_method,
        }
    }
}

impl From<ClaimsParameters> for ClaimsRequest {
    fn from(p: ClaimsParameters) -> Self {
        ClaimsRequest {
            ticket: p.ticket.into(),
            client_id: p.client_id,
            redirect_uri: p.redirect_uri,
            state: p.state,
        }
    }
}

fn registration(registration: &Registration) -> Result<ClientRegistration, Status> {
    let registration_json = serde_json::to_string(registration)
        .map_err(|e| Error::Internal(format!("cannot encode a registration: {e}")))?;
    Ok(ClientRegistration { registration_json })
}

#[tonic::async_trait]
impl SessionService for Identity {
    #[tracing::instrument(name = "SessionService/SignIn", skip_all)]
    async fn sign_in(&self, request: Request<SignInRequest>) -> Result<Response<Session>, Status> {
        let m = request.into_inner();
        let session = self
            .core
            .sign_in(&m.username, &m.password, &m.remote_address)
            .await?;
        Ok(Response::new(opened(session)))
    }

    #[tracing::instrument(name = "SessionService/ListProviders", skip_all)]
    async fn list_providers(
        &self,
        _request: Request<ListProvidersRequest>,
    ) -> Result<Response<ListProvidersResponse>, Status> {
        let providers = self
            .core
            .sign_in_providers()
            .into_iter()
            .map(|p| proto::Provider {
                issuer: p.issuer,
                label: p.label,
            })
            .collect();
        Ok(Response::new(ListProvidersResponse { providers }))
    }

    #[tracing::instrument(name = "SessionService/StartUpstreamSignIn", skip_all)]
    async fn start_upstream_sign_in(
        &self,
        request: Request<StartUpstreamSignInRequest>,
    ) -> Result<Response<StartUpstreamSignInResponse>, Status> {
        let m = request.into_inner();
        let start = self
            .core
            .start_upstream_sign_in(&m.issuer, &m.callback_uri)
            .await?;
        Ok(Response::new(StartUpstreamSignInResponse {
            authorization_url: start.authorization_url,
            state: start.state.into_exposed(),
            nonce: start.nonce.into_exposed(),
            code_verifier: start.code_verifier.into_exposed(),
        }))
    }

    #[tracing::instrument(name = "SessionService/FinishUpstreamSignIn", skip_all)]
    async fn finish_upstream_sign_in(
        &self,
        request: Request<FinishUpstreamSignInRequest>,
    ) -> Result<Response<Session>, Status> {
        let m = request.into_inner();
        let session = self
            .core
            .finish_upstream_sign_in(&UpstreamReturn {
                issuer: m.issuer,
                code: m.code.into(),
                callback_uri: m.callback_uri,
                code_verifier: m.code_verifier.into(),
                nonce: m.nonce.into(),
            })
            .await?;
        Ok(Response::new(opened(session)))
    }

    #[tracing::instrument(name = "SessionService/GetSession", skip_all)]
    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<Session>, Status> {
        let m = request.into_inner();
        let user = self
            .core
            .session(&m.session_token)
            .await?
            .ok_or_else(|| Error::NotFound("no such session".into()))?;
        Ok(Response::new(Session {
            session_token: String::new(),
            subject: user.subject,
            claims_json: Value::Object(user.claims).to_string(),
            expires_at: 0,
        }))
    }

    #[tracing::instrument(name = "SessionService/EndSession", skip_all)]
    async fn end_session(
        &self,
        request: Request<EndSessionRequest>,
    ) -> Result<Response<EndSessionResponse>, Status> {
        self.core
            .sign_out(&request.into_inner().session_token)
            .await?;
        Ok(Response::new(EndSessionResponse {}))
    }
}

#[tonic::async_trait]
impl ConsentService for Identity {
    #[tracing::instrument(name = "ConsentService/CheckAuthorization", skip_all)]
    async fn check_authorization(
        &self,
        request: Request<AuthorizationParameters>,
    ) -> Result<Response<proto::AuthorizationCheck>, Status> {
        let check = self
            .core
            .check_authorization(&request.into_inner().into())
            .await?;
        let outcome = match check {
            AuthorizationCheck::Redirect(to) => authorization_check::Outcome::Redirect(to),
            AuthorizationCheck::Prompt(p) => {
                authorization_check::Outcome::Prompt(proto::ConsentPrompt {
                    client_id: p.client_id,
                    client_name: p.client_name,
                    redirect_uri: p.redirect_uri,
                    scopes: p.scopes,
                    roles: p
                        .roles
                        .into_iter()
                        .map(|r| match r {
                            ConsentRole::Protection => proto::ConsentRole::Protection as i32,
                            ConsentRole::Authorization => proto::ConsentRole::Authorization as i32,
                        })
                        .collect(),
                })
            }
        };
        Ok(Response::new(proto::AuthorizationCheck {
            outcome: Some(outcome),
        }))
    }

    #[tracing::instrument(name = "ConsentService/AnswerAuthorization", skip_all)]
    async fn answer_authorization(
        &self,
        request: Request<AnswerAuthorizationRequest>,
    ) -> Result<Response<Redirect>, Status> {
        let m = request.into_inner();
        let user = self.user(&m.session_token).await?;
        let location = self
            .core
            .answer_authorization(&user, &m.parameters.unwrap_or_default().into(), m.approved)
            .await?;
        Ok(Response::new(Redirect { location }))
    }

    #[tracing::instrument(name = "ConsentService/CheckClaims", skip_all)]
    async fn check_claims(
        &self,
        request: Request<ClaimsParameters>,
    ) -> Result<Response<proto::ClaimsCheck>, Status> {
        let check = self
            .core
            .check_claims_request(&request.into_inner().into())
            .await?;
        let outcome = match check {
            ClaimsCheck::Redirect(to) => claims_check::Outcome::Redirect(to),
            ClaimsCheck::Prompt(p) => claims_check::Outcome::Prompt(proto::ClaimsPrompt {
                client_id: p.client_id,
                client_name: p.client_name,
                redirect_uri: p.redirect_uri,
            }),
        };
        Ok(Response::new(proto::ClaimsCheck {
            outcome: Some(outcome),
        }))
    }

    #[tracing::instrument(name = "ConsentService/AnswerClaims", skip_all)]
    async fn answer_claims(
        &self,
        request: Request<AnswerClaimsRequest>,
    ) -> Result<Response<Redirect>, Status> {
        let m = request.into_inner();
        let user = self.user(&m.session_token).await?;
        let location = self
            .core
            .answer_claims_request(&user, &m.parameters.unwrap_or_default().into(), m.share)
            .await?;
        Ok(Response::new(Redirect { location }))
    }
}

#[tonic::async_trait]
impl ClientRegistrationService for Identity {
    #[tracing::instrument(name = "ClientRegistrationService/RegisterClient", skip_all)]
    async fn register_client(
        &self,
        request: Request<ClientMetadataRequest>,
    ) -> Result<Response<ClientRegistration>, Status> {
        let registered = self
            .core
            .register_client(bearer(&request), &request.get_ref().metadata_json)
            .await?;
        Ok(Response::new(registration(&registered)?))
    }

    #[tracing::instrument(name = "ClientRegistrationService/GetClientRegistration", skip_all)]
    async fn get_client_registration(
        &self,
        request: Request<ClientRegistrationRequest>,
    ) -> Result<Response<ClientRegistration>, Status> {
        let found = self
            .core
            .read_registration(bearer(&request), &request.get_ref().client_id)
            .await?;
        Ok(Response::new(registration(&found)?))
    }

    #[tracing::instrument(name = "ClientRegistrationService/UpdateClientRegistration", skip_all)]
    async fn update_client_registration(
        &self,
        request: Request<ClientMetadataRequest>,
    ) -> Result<Response<ClientRegistration>, Status> {
        let m = request.get_ref();
        let updated = self
            .core
            .update_registration(bearer(&request), &m.client_id, &m.metadata_json)
            .await?;
        Ok(Response::new(registration(&updated)?))
    }

    #[tracing::instrument(name = "ClientRegistrationService/DeleteClientRegistration", skip_all)]
    async fn delete_client_registration(
        &self,
        request: Request<ClientRegistrationRequest>,
    ) -> Result<Response<DeleteClientRegistrationResponse>, Status> {
        self.core
            .delete_registration(bearer(&request), &request.get_ref().client_id)
            .await?;
        Ok(Response::new(DeleteClientRegistrationResponse {}))
    }
}
