//! The use cases behind Steward's gRPC services. Every protocol rule lives
//! here, over the store and the pure domain; the gRPC adapters only
//! translate, and the HTTP façade only reaches these through gRPC.

pub mod audit;
mod auth;
mod authorization_api;
pub mod authorization_endpoint;
mod changes;
pub mod claims;
pub mod claims_gathering;
pub mod clients;
pub mod clock;
pub mod enforcement;
mod grants;
mod hasher;
pub mod keys;
mod permissions;
mod policies;
pub mod registration;
mod resource_sets;
mod rpt_status;
mod signer;
mod token_endpoint;
pub mod upstream;
pub mod users;

#[cfg(test)]
mod secrets_never_print;

use std::sync::Arc;

pub use authorization_api::{ClaimToken, Decided};
pub use clock::{Clock, ManualClock, SystemClock};
pub use permissions::IssuedTicket;
pub use rpt_status::RptStatus;
pub use signer::IssuedToken;

use crate::domain::Error;
use crate::domain::secret::Entropy;
use crate::store::Store;
use keys::KeyRing;

/// Rules that operators tune.
#[derive(Debug, Clone)]
pub struct CorePolicy {
    /// Steward's issuer URL (`iss` of its tokens).
    pub issuer: String,
    /// Lifetime of permission tickets, in seconds.
    pub ticket_ttl: u64,
    /// Lifetime of access tokens (PATs, AATs), in seconds.
    pub access_token_ttl: u64,
    /// Lifetime of a permission granted to an RPT, in seconds.
    pub permission_ttl: u64,
    /// Upstream issuers whose assertions and ID tokens are believed.
    pub trusted_issuers: Vec<crate::config::TrustedIssuer>,
    /// How long a browser session lasts, in seconds.
    pub session_ttl: u64,
    /// Lifetime of a refresh token, in seconds.
    pub refresh_token_ttl: u64,
    /// The initial access token of dynamic client registration (closed if unset).
    pub registration_token: Option<crate::config::Secret>,
    /// Rotate the signing key when it is this many days old (0: never).
    pub key_rotation_days: u64,
    /// Signing keys from PEM files instead of the database: the signer, and
    /// a previous key that still verifies.
    pub signing_key_file: Option<std::path::PathBuf>,
    pub previous_signing_key_file: Option<std::path::PathBuf>,
    /// Where audit events go.
    pub audit: audit::AuditSink,
    /// What an enforcement check answers for a request no profile covers.
    pub unmatched: crate::domain::enforcement::Unmatched,
}

impl CorePolicy {
    /// The core policy a set of settings asks for.
    pub fn from_settings(settings: &crate::config::Settings, issuer: String) -> CorePolicy {
        CorePolicy {
            issuer,
            ticket_ttl: settings.ticket_ttl,
            access_token_ttl: settings.access_token_ttl,
            permission_ttl: settings.permission_ttl,
            trusted_issuers: settings.trusted_issuers.clone(),
            session_ttl: settings.session_ttl,
            refresh_token_ttl: settings.refresh_token_ttl,
            registration_token: settings.registration_token.clone(),
            key_rotation_days: settings.key_rotation_days,
            signing_key_file: settings.signing_key_file.clone(),
            previous_signing_key_file: settings.previous_signing_key_file.clone(),
            audit: audit::AuditSink::parse(&settings.audit_log),
            unmatched: settings.ext_authz_unmatched,
        }
    }
}

/// The core services' shared state; cheap to clone.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Swapped whole on rotation or reload; readers clone the `Arc`.
    keys: std::sync::RwLock<std::sync::Arc<KeyRing>>,
    /// (key-set counter seen, when the ring was last loaded).
    keys_loaded: std::sync::Mutex<(i64, std::time::Instant)>,
    audit: audit::AuditLog,
    trusted: claims::TrustedIssuers,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    policy: CorePolicy,
    hasher: hasher::SecretHasher,
}

impl Core {
    /// Loads (or on first start creates) the signing keys and assembles the core.
    pub async fn new(
        store: Store,
        policy: CorePolicy,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Core, Error> {
        let keys = keys::load(&store, &policy, entropy.as_ref(), clock.now()).await?;
        let audit = audit::AuditLog::start(&policy.audit)?;
        let key_revision = store.key_revision();
        let trusted = claims::TrustedIssuers::load(&policy.trusted_issuers)?;
        let hasher = hasher::SecretHasher::start()?;
        Ok(Core {
            inner: Arc::new(Inner {
                store,
                keys: std::sync::RwLock::new(std::sync::Arc::new(keys)),
                keys_loaded: std::sync::Mutex::new((key_revision, std::time::Instant::now())),
                audit,
                trusted,
                clock,
                entropy,
                policy,
                hasher,
            }),
        })
    }

    /// The store, for readiness checks.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The operator policy in force.
    pub fn policy(&self) -> &CorePolicy {
        &self.inner.policy
    }

    /// The signing keys in force.
    fn keys(&self) -> std::sync::Arc<KeyRing> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn now(&self) -> crate::domain::UnixTime {
        self.inner.clock.now()
    }
}
