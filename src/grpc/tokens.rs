//! `steward.v1.TokenService` over the core.

use tonic::{Request, Response, Status};

use super::protected;
use super::proto::token_service_server::TokenService;
use super::proto::{
    GetJwksRequest, GetJwksResponse, GetMetadataRequest, GetMetadataResponse, IntrospectRptRequest,
    IntrospectRptResponse, IssueTokenRequest, IssueTokenResponse,
};
use crate::core::{Core, RptStatus};
use crate::domain::grant::TokenRequest;
use crate::domain::secret::Secret;

/// The adapter.
pub(super) struct Tokens {
    core: Core,
}

impl Tokens {
    pub(super) fn new(core: Core) -> Self {
        Tokens { core }
    }
}

#[tonic::async_trait]
impl TokenService for Tokens {
    #[tracing::instrument(name = "TokenService/IssueToken", skip_all)]
    async fn issue_token(
        &self,
        request: Request<IssueTokenRequest>,
    ) -> Result<Response<IssueTokenResponse>, Status> {
        let message = request.into_inner();
        let issued = self
            .core
            .issue_token(TokenRequest {
                grant_type: message.grant_type,
                client_id: message.client_id,
                client_secret: message.client_secret.into(),
                scope: message.scope,
                assertion: message.assertion.into(),
                code: message.code.into(),
                redirect_uri: message.redirect_uri,
                code_verifier: message.code_verifier.into(),
                refresh_token: message.refresh_token.into(),
            })
            .await?;
        Ok(Response::new(IssueTokenResponse {
            access_token: issued.access_token.into_exposed(),
            token_type: issued.token_type.into(),
            expires_in: issued.expires_in,
            scope: issued.scope,
            refresh_token: issued.refresh_token.map(Secret::into_exposed),
        }))
    }

    #[tracing::instrument(name = "TokenService/IntrospectRpt", skip_all)]
    async fn introspect_rpt(
        &self,
        request: Request<IntrospectRptRequest>,
    ) -> Result<Response<IntrospectRptResponse>, Status> {
        let (ns, message) = protected(&self.core, request).await?;
        let status = self
            .core
            .rpt_status(&ns, &message.rpt, message.resource_set_id.as_deref())
            .await?;
        Ok(Response::new(match status {
            RptStatus::Invalid => IntrospectRptResponse::default(),
            RptStatus::Active {
                issued_at,
                expires_at,
                permissions,
                ..
            } => IntrospectRptResponse {
                active: true,
                permissions: permissions.into_iter().map(Into::into).collect(),
                exp: expires_at,
                iat: issued_at,
            },
        }))
    }

    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        Ok(Response::new(GetJwksResponse {
            jwks_json: self.core.jwks().to_string(),
        }))
    }

    async fn get_metadata(
        &self,
        _request: Request<GetMetadataRequest>,
    ) -> Result<Response<GetMetadataResponse>, Status> {
        Ok(Response::new(GetMetadataResponse {
            grant_types_supported: self
                .core
                .grant_types_supported()
                .into_iter()
                .map(str::to_string)
                .collect(),
            claim_profiles_supported: vec!["openid".into()],
            registration_open: self.core.registration_open(),
        }))
    }
}
