//! The client registry's rules: what a client may be registered with, and
//! client authentication (argon2, on the core's hashing threads, constant-time in
//! whether the client exists).

use super::Core;
use crate::domain::Error;
use crate::domain::grant::GrantType;
use crate::domain::identifier::{self, Kind};
use crate::domain::scope;
use crate::domain::secret::{self, Secret};
use crate::store::{
    self,
    clients::{AuthMethod, ClientRecord},
};

// Authentication remembers a verified secret by its SHA-256 (in memory only):
// the argon2 hash stays the stored form, and a wrong secret for a remembered
// client is refused without another argon2 run.

/// Most redirect URIs one client registers.
const MAX_REDIRECT_URIS: usize = 16;

/// Whether `uri` may be a redirect URI: absolute, no fragment, and https —
/// or http on a loopback host (native apps, RFC 8252 §7.3, and development).
pub(crate) fn acceptable_redirect_uri(uri: &str) -> bool {
    if uri.len() > 2000
        || uri.contains('#')
        || uri.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    if let Some(rest) = uri.strip_prefix("https://") {
        return !rest.is_empty() && !rest.starts_with('/');
    }
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// What an operator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    /// The resource owner a resource server acts for; defaults to the client id.
    pub owner: Option<String>,
    /// Defaults to `uma_protection`.
    pub scopes: Vec<String>,
    /// Defaults to `client_credentials`.
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// A public client (`token_endpoint_auth_method=none`): no secret, and
    /// only the browser grants with PKCE.
    pub public: bool,
    /// `client_secret_post` instead of Basic (both are accepted either way).
    pub secret_post: bool,
    /// Dynamic registration: the hash of its registration access token.
    pub registration_token_hash: Option<String>,
}

/// A registered client with its secret, shown exactly once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    /// Empty for a public client.
    pub client_secret: Secret,
    pub client_name: String,
    pub owner: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: &'static str,
    pub created_at: crate::domain::UnixTime,
}

/// The metadata of a client after its rules applied: what is stored.
pub(crate) struct CheckedClient {
    pub name: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
}

/// Applies the registry's rules to what a client asks for.
pub(crate) fn check_client(request: &NewClient) -> Result<CheckedClient, Error> {
    let name = request.name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidClientMetadata(
            "a client needs a name of at most 200 characters".into(),
        ));
    }
    let metadata = |r: identifier::Refused| r.into_error(Error::InvalidClientMetadata);
    identifier::check("client_name", &name, Kind::Text).map_err(metadata)?;
    if let Some(owner) = &request.owner {
        identifier::check("owner", owner.trim(), Kind::Id).map_err(metadata)?;
    }
    let grant_types = if request.grant_types.is_empty() {
        vec![GrantType::ClientCredentials.as_str().to_string()]
    } else {
        request.grant_types.clone()
    };
    let implemented = |name: &str| GrantType::parse(name).filter(|g| g.is_implemented());
    if let Some(bad) = grant_types.iter().find(|g| implemented(g).is_none()) {
        let supported: Vec<_> = GrantType::ALL
            .into_iter()
            .filter(|g| g.is_implemented())
            .map(GrantType::as_str)
            .collect();
        return Err(Error::InvalidClientMetadata(format!(
            "grant type `{}` is not supported (supported: {})",
            bad.chars().take(100).collect::<String>(),
            supported.join(", ")
        )));
    }
    let auth_method = match (request.public, request.secret_post) {
        (true, _) => AuthMethod::None,
        (false, true) => AuthMethod::SecretPost,
        (false, false) => AuthMethod::SecretBasic,
    };
    if let Some(bad) = grant_types.iter().find(|g| {
        auth_method == AuthMethod::None
            && implemented(g).is_some_and(|g| !g.public_clients_may_use())
    }) {
        return Err(Error::InvalidClientMetadata(format!(
            "a public client cannot use the {bad} grant"
        )));
    }
    let scopes: Vec<String> = if request.scopes.is_empty() {
        vec![scope::PROTECTION.to_string()]
    } else {
        request
            .scopes
            .iter()
            .flat_map(|s| scope::split(s))
            .collect()
    };
    if scopes.len() > 32 || scopes.iter().any(|s| s.len() > 200) {
        return Err(Error::InvalidClientMetadata(
            "too many or too long scopes".into(),
        ));
    }
    identifier::scopes("scope", &scopes).map_err(metadata)?;
    if request.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(Error::InvalidRedirectUri(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    for uri in &request.redirect_uris {
        if !acceptable_redirect_uri(uri) {
            return Err(Error::InvalidRedirectUri(format!(
                "redirect URI `{}` must be an absolute https URI (http only on a loopback host) without a fragment",
                uri.chars().take(200).collect::<String>()
            )));
        }
    }
    let browser = GrantType::AuthorizationCode.allowed_in(&grant_types);
    if browser && request.redirect_uris.is_empty() {
        return Err(Error::InvalidRedirectUri(
            "the authorization_code grant needs at least one redirect URI".into(),
        ));
    }
    Ok(CheckedClient {
        name,
        scopes,
        grant_types,
        redirect_uris: request.redirect_uris.clone(),
        auth_method,
    })
}

impl Core {
    /// Registers a client and returns its one-time secret.
    pub async fn create_client(&self, request: NewClient) -> Result<CreatedClient, Error> {
        let checked = check_client(&request).map_err(|e| match e {
            // The operator's CLI speaks plain invalid_request.
            Error::InvalidClientMetadata(d) | Error::InvalidRedirectUri(d) => {
                Error::InvalidRequest(d)
            }
            other => other,
        })?;
        self.insert_client(checked, request.owner, request.registration_token_hash)
            .await
            .map(|(created, _)| created)
    }

    /// Stores a checked client under a new id (with a new secret unless
    /// public); returns it with its one-time secret, and as stored.
    pub(crate) async fn insert_client(
        &self,
        checked: CheckedClient,
        owner: Option<String>,
        registration_token_hash: Option<String>,
    ) -> Result<(CreatedClient, ClientRecord), Error> {
        let entropy = self.inner.entropy.as_ref();
        let client_id = secret::mint(entropy, 16)?;
        let (client_secret, secret_hash) = if checked.auth_method == AuthMethod::None {
            (String::new(), String::new())
        } else {
            let client_secret = secret::mint(entropy, 32)?;
            let hash = self.inner.hasher.hash(client_secret.clone()).await?;
            (client_secret, hash)
        };
        let owner = owner
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| client_id.clone());
        let record = ClientRecord {
            client_id: client_id.clone(),
            secret_hash,
            name: checked.name.clone(),
            owner: owner.clone(),
            scopes: checked.scopes.clone(),
            grant_types: checked.grant_types.clone(),
            redirect_uris: checked.redirect_uris.clone(),
            created_at: self.now(),
            auth_method: checked.auth_method,
            registration_token_hash,
        };
        store::clients::insert(&self.inner.store, &record).await?;
        let created = CreatedClient {
            client_id,
            client_secret: Secret::new(client_secret),
            client_name: checked.name,
            owner,
            scopes: checked.scopes,
            grant_types: checked.grant_types,
            redirect_uris: checked.redirect_uris,
            token_endpoint_auth_method: checked.auth_method.name(),
            created_at: record.created_at,
        };
        Ok((created, record))
    }

    /// Authenticates a client by id and secret (`invalid_client` otherwise).
    pub(crate) async fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ClientRecord, Error> {
        let refused = || Error::InvalidClient("client authentication failed".into());
        if client_id.is_empty()
            || client_id.len() > 256
            || client_secret.is_empty()
            || client_secret.len() > 1024
        {
            return Err(refused());
        }
        let store = &self.inner.store;
        let presented = secret::token_hash(client_secret);
        if let Some(known) = store::clients::verified(store, client_id) {
            if secret::constant_time_eq(&known.secret_sha256, &presented) {
                return Ok(known.record.clone());
            }
            return Err(refused());
        }
        let generation = store::clients::generation(store);
        let record = store::clients::find(store, client_id).await?;
        // Hash even for unknown clients so timing does not reveal which exist.
        let ok = self
            .inner
            .hasher
            .verify(
                client_secret.to_string(),
                record.as_ref().map(|r| r.secret_hash.clone()),
            )
            .await?;
        match record {
            Some(record) if ok => {
                store::clients::remember(
                    store,
                    store::clients::VerifiedClient {
                        secret_sha256: presented,
                        record: record.clone(),
                    },
                    generation,
                );
                Ok(record)
            }
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        assert!(acceptable_redirect_uri("https://app.example.com/cb"));
        assert!(acceptable_redirect_uri("http://127.0.0.1:8000/cb"));
        assert!(acceptable_redirect_uri("http://localhost/cb?x=1"));
        assert!(!acceptable_redirect_uri("http://app.example.com/cb"));
        assert!(!acceptable_redirect_uri("http://localhost.evil.com/cb"));
        assert!(!acceptable_redirect_uri("https://app.example.com/cb#frag"));
        assert!(!acceptable_redirect_uri("javascript:alert(1)"));
        assert!(!acceptable_redirect_uri("https:///path"));
        assert!(!acceptable_redirect_uri("https://app.example.com/cb\0"));
        assert!(!acceptable_redirect_uri("https://app.example.com/c\u{85}b"));
    }

    #[test]
    fn public_clients_cannot_take_confidential_grants() {
        let request = NewClient {
            name: "app".into(),
            public: true,
            grant_types: vec![GrantType::ClientCredentials.as_str().into()],
            ..NewClient::default()
        };
        assert!(matches!(
            check_client(&request),
            Err(Error::InvalidClientMetadata(_))
        ));
        let request = NewClient {
            name: "app".into(),
            grant_types: vec![GrantType::AuthorizationCode.as_str().into()],
            ..NewClient::default()
        };
        assert!(matches!(
            check_client(&request),
            Err(Error::InvalidRedirectUri(_))
        ));
    }
}
