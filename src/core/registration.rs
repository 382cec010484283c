//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592). Registration needs the operator's initial access token;
//! reading, updating and deleting a registration need the registration
//! access token handed out with it (stored as a hash only).

use serde::{Deserialize, Serialize};

use super::Core;
use super::clients::{NewClient, check_client};
use crate::domain::grant::GrantType;
use crate::domain::identifier::{self, Kind};
use crate::domain::secret::Secret;
use crate::domain::token::bearer_token;
use crate::domain::{Error, json, secret};
use crate::store::{
    self,
    clients::{AuthMethod, ClientRecord},
};

/// Client metadata as a registration request carries it (RFC 7591 §2).
/// Unknown members are ignored, as §3.1 asks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// The resource owner a resource server's `client_credentials` PATs act for.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A client's registration as the endpoints answer it (RFC 7591 §3.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<Secret>,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
    pub owner: String,
}

/// The default scopes of a dynamically registered client.
const DEFAULT_SCOPE: &str = "uma_protection uma_authorization";

fn parse(metadata_json: &str) -> Result<(ClientMetadata, NewClient), Error> {
    // Read strictly first (`invalid_request`, as the façade's JSON bodies):
    // a repeated member is refused, never last-one-wins.
    let document = json::parse_str(metadata_json)?;
    let metadata: ClientMetadata = serde_json::from_value(document).map_err(|e| {
        Error::InvalidClientMetadata(format!("the body is not client metadata JSON: {e}"))
    })?;
    let method = metadata
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    let method = AuthMethod::parse(method).ok_or_else(|| {
        Error::InvalidClientMetadata(
            "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none"
                .into(),
        )
    })?;
    let grant_types = if metadata.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode.as_str().to_string()]
    } else {
        metadata.grant_types.clone()
    };
    let browser = GrantType::AuthorizationCode.allowed_in(&grant_types);
    let response_types_ok = if metadata.response_types.is_empty() {
        true
    } else {
        metadata.response_types.iter().all(|r| r == "code") && browser
    };
    if !response_types_ok {
        return Err(Error::InvalidClientMetadata(
            "response_types may only be [\"code\"], with the authorization_code grant".into(),
        ));
    }
    let request = NewClient {
        name: metadata
            .client_name
            .clone()
            .unwrap_or_else(|| "Unnamed client".into()),
        owner: metadata.owner.clone(),
        scopes: vec![
            metadata
                .scope
                .clone()
                .unwrap_or_else(|| DEFAULT_SCOPE.into()),
        ],
        grant_types,
        redirect_uris: metadata.redirect_uris.clone(),
        public: method == AuthMethod::None,
        secret_post: method == AuthMethod::SecretPost,
        registration_token_hash: None,
    };
    Ok((metadata, request))
}

fn registration(record: &ClientRecord) -> Registration {
    let browser = GrantType::AuthorizationCode.allowed_in(&record.grant_types);
    Registration {
        client_id: record.client_id.clone(),
        client_secret: None,
        client_id_issued_at: record.created_at,
        client_secret_expires_at: (record.auth_method != AuthMethod::None).then_some(0),
        registration_access_token: None,
        client_name: record.name.clone(),
        redirect_uris: record.redirect_uris.clone(),
        grant_types: record.grant_types.clone(),
        response_types: if browser {
            vec!["code".into()]
        } else {
            Vec::new()
        },
        token_endpoint_auth_method: record.auth_method.name().into(),
        scope: record.scopes.join(" "),
        owner: record.owner.clone(),
    }
}

impl Core {
    /// Whether dynamic registration is open (an initial access token is set).
    pub fn registration_open(&self) -> bool {
        self.inner.policy.registration_token.is_some()
    }

    /// RFC 7591 registration, authorized by the initial access token.
    pub async fn register_client(
        &self,
        authorization: Option<&str>,
        metadata_json: &str,
    ) -> Result<Registration, Error> {
        let Some(expected) = &self.inner.policy.registration_token else {
            return Err(Error::AccessDenied(
                "dynamic client registration is closed on this server".into(),
            ));
        };
        let presented = bearer_token(authorization)?;
        if !secret::constant_time_eq(presented, expected.expose()) {
            return Err(Error::InvalidToken(
                "the initial access token is not valid".into(),
            ));
        }
        let (_, mut request) = parse(metadata_json)?;
        let registration_token = secret::mint(self.inner.entropy.as_ref(), 32)?;
        request.registration_token_hash = Some(secret::token_hash(&registration_token));
        let checked = check_client(&request)?;
        let (created, record) = self
            .insert_client(checked, request.owner, request.registration_token_hash)
            .await?;
        tracing::info!(client = %created.client_id, "client registered dynamically");
        Ok(Registration {
            client_secret: Some(created.client_secret).filter(|s| !s.is_empty()),
            registration_access_token: Some(Secret::new(registration_token)),
            ..registration(&record)
        })
    }

    /// The client a registration access token manages (RFC 7592 §2: an
    /// unknown client and a wrong token look the same, 401).
    async fn managed_client(
        &self,
        authorization: Option<&str>,
        client_id: &str,
    ) -> Result<ClientRecord, Error> {
        let presented = bearer_token(authorization)?;
        let refused = || Error::InvalidToken("the registration access token is not valid".into());
        identifier::check("client_id", client_id, Kind::Id)?;
        if client_id.is_empty() {
            return Err(refused());
        }
        let record = store::clients::find(&self.inner.store, client_id).await?;
        match record {
            Some(record)
                if record.registration_token_hash.as_deref().is_some_and(|h| {
                    secret::constant_time_eq(h, &secret::token_hash(presented))
                }) =>
            {
                Ok(record)
            }
            _ => Err(refused()),
        }
    }

    /// RFC 7592 read.
    pub async fn read_registration(
        &self,
        authorization: Option<&str>,
        client_id: &str,
    ) -> Result<Registration, Error> {
        Ok(registration(
            &self.managed_client(authorization, client_id).await?,
        ))
    }

    /// RFC 7592 update: the metadata is replaced as a whole; the id, secret
    /// and registration access token stay, and so must the kind of client
    /// (public or confidential).
    pub async fn update_registration(
        &self,
        authorization: Option<&str>,
        client_id: &str,
        metadata_json: &str,
    ) -> Result<Registration, Error> {
        let current = self.managed_client(authorization, client_id).await?;
        let (metadata, request) = parse(metadata_json)?;
        if metadata
            .client_id
            .as_deref()
            .is_some_and(|id| id != client_id)
        {
            return Err(Error::InvalidClientMetadata(
                "client_id does not match the registration".into(),
            ));
        }
        let checked = check_client(&request)?;
        if (checked.auth_method == AuthMethod::None) != (current.auth_method == AuthMethod::None) {
            return Err(Error::InvalidClientMetadata(
                "a client cannot switch between public and confidential; register a new one".into(),
            ));
        }
        let record = ClientRecord {
            name: checked.name,
            owner: request
                .owner
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| current.owner.clone()),
            scopes: checked.scopes,
            grant_types: checked.grant_types,
            redirect_uris: checked.redirect_uris,
            auth_method: checked.auth_method,
            ..current
        };
        if !store::clients::update(&self.inner.store, &record).await? {
            return Err(Error::InvalidToken(
                "the registration access token is not valid".into(),
            ));
        }
        Ok(registration(&record))
    }

    /// RFC 7592 delete: the client, and every grant it holds, are gone.
    pub async fn delete_registration(
        &self,
        authorization: Option<&str>,
        client_id: &str,
    ) -> Result<(), Error> {
        let current = self.managed_client(authorization, client_id).await?;
        store::grants::revoke_for_client(&self.inner.store, &current.client_id, self.now()).await?;
        store::clients::delete(&self.inner.store, &current.client_id).await?;
        tracing::info!(client = %current.client_id, "client registration deleted");
        Ok(())
    }
}
