//! Typed settings: defaults → optional TOML file (`--config FILE`) →
//! `STEWARD_*` environment variables → command-line flags. Every setting has
//! a working default, so `steward` alone serves on a local SQLite file.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::domain::Error;
use crate::domain::network::IpRange;

/// Which parts of Steward this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Core services and HTTP façade in one process (façade calls in-process).
    #[default]
    All,
    /// Only the core gRPC services.
    Core,
    /// Only the HTTP façade, calling a core at `core_url`.
    Facade,
}

/// The `ext_authz_unmatched` setting: a rule of the core, parsed here.
pub use crate::domain::enforcement::Unmatched;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A setting that may hold a password; `Debug` never shows it (the
/// domain's one redacting type).
pub use crate::domain::secret::Secret;

/// An upstream identity provider whose signed tokens Steward believes: JWT
/// bearer assertions (AATs for its users) and pushed ID tokens (claims).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must carry for Steward.
    pub audience: String,
    /// A local JWK Set file with its public keys...
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// ...or the URL it publishes them at (fetched, cached, refreshed on an unknown `kid`).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Sign-in at this provider (OpenID Connect relying party): Steward's
    /// client id there. Users can then sign in to Steward's pages with it.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Steward's client secret there (`client_secret_basic`).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The provider's OpenID configuration document
    /// (`…/.well-known/openid-configuration`): endpoints and `jwks_uri` from it...
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// ...or its authorization endpoint...
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// ...and token endpoint, named directly.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// What the sign-in page's button calls it (defaults to the issuer).
    #[serde(default)]
    pub display_name: Option<String>,
}

impl TrustedIssuer {
    /// Whether users can sign in at this provider.
    pub fn offers_sign_in(&self) -> bool {
        self.client_id.is_some()
    }

    /// The name shown to users.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.issuer)
    }
}

/// Everything Steward can be configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    pub database_url: Secret,
    /// Where the HTTP façade listens.
    pub http_addr: SocketAddr,
    /// Where the core's gRPC services listen.
    pub grpc_addr: SocketAddr,
    /// Issuer URL; defaults to `http://{http_addr}` as bound.
    pub issuer: Option<String>,
    /// Permission ticket lifetime, seconds.
    pub ticket_ttl: u64,
    /// Access token (PAT/AAT) lifetime, seconds.
    pub access_token_ttl: u64,
    /// Lifetime of a permission granted to an RPT, seconds.
    pub permission_ttl: u64,
    /// Upstream issuers whose tokens are trusted (TOML `[[trusted_issuers]]`).
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Largest accepted request body, bytes (413 past it).
    pub max_body_bytes: usize,
    /// OTLP/gRPC collector endpoint; tracing export is off when unset.
    pub otlp_endpoint: Option<String>,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// Which parts to run.
    pub role: Role,
    /// The core's gRPC URL when `role = "facade"`.
    pub core_url: Option<String>,
    /// How long to wait for in-flight requests on shutdown, seconds.
    pub shutdown_grace: u64,
    /// How often each replica checks the database for changes made by other
    /// replicas, milliseconds: the bound on how stale a cached answer can be.
    pub cache_refresh_ms: u64,
    /// How long the change log (ChangeService) keeps a change, seconds.
    pub change_retention_secs: u64,
    /// Envoy `ext_authz`: what a request no enforcement profile covers gets.
    pub ext_authz_unmatched: Unmatched,
    /// Envoy `ext_authz`: when set, `Check` calls must carry
    /// `authorization: Bearer <this>` metadata (Envoy's `initial_metadata`).
    pub ext_authz_token: Option<Secret>,
    /// Initial access token for dynamic client registration (RFC 7591):
    /// registration is closed while unset.
    pub registration_token: Option<Secret>,
    /// How long a browser stays signed in at Steward's pages, seconds.
    pub session_ttl: u64,
    /// Refresh token lifetime (browser-flow grants), seconds.
    pub refresh_token_ttl: u64,
    /// Apply pending migrations at start-up. Off when a separate step
    /// (`steward migrate`, the Helm chart's hook Job) does it, so replicas
    /// never race on a schema change.
    pub migrate_on_start: bool,
    /// Audit events: `stdout` (JSON lines), `off`, or a file path to append to.
    pub audit_log: String,
    /// Rotate the signing key when it is this many days old (0: never).
    pub key_rotation_days: u64,
    /// A PEM (PKCS#8 Ed25519) signing key, e.g. from a mounted Secret,
    /// instead of keys generated into the database.
    pub signing_key_file: Option<std::path::PathBuf>,
    /// The previous PEM signing key, still accepted while its tokens live.
    pub previous_signing_key_file: Option<std::path::PathBuf>,
    /// The credential the HTTP façade presents to the core's identity
    /// services (sessions, consent, client registration), which answer no
    /// one else. Set the same value on the core and the façade of a split
    /// deployment; one process (`role = "all"`) mints its own when unset.
    pub facade_token: Option<Secret>,
    /// Proxies (CIDR ranges or addresses) whose `X-Forwarded-For` hop is
    /// believed for the client's address (sign-in limits count by it). Empty:
    /// the connection's peer is the client.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain: with `tls_key_file`, both listeners serve TLS
    /// (HTTPS and gRPC over TLS). Reloaded when the files change.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`.
    pub tls_key_file: Option<std::path::PathBuf>,
    /// PEM CA certificates: when set, the gRPC listener requires a client
    /// certificate issued by one of them (mutual TLS for mesh callers and the
    /// façade). Needs `tls_cert_file`.
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    /// How often the TLS files are checked for changes, milliseconds.
    pub tls_reload_ms: u64,
    /// A façade reaching an `https://` core: PEM CA certificates to verify
    /// the core's certificate with.
    pub core_tls_ca_file: Option<std::path::PathBuf>,
    /// A façade's client certificate (PEM) for a core that requires mTLS.
    pub core_tls_cert_file: Option<std::path::PathBuf>,
    /// The private key of `core_tls_cert_file`.
    pub core_tls_key_file: Option<std::path::PathBuf>,
    /// An extra plain-HTTP listener serving only `/healthz` and `/readyz`,
    /// for probes that cannot speak TLS or present a client certificate
    /// (the kubelet's). Off when unset.
    pub health_addr: Option<SocketAddr>,
    /// Most client connections each listener (HTTP, gRPC) keeps open; past
    /// it new connections wait in the kernel's backlog.
    pub max_client_connections: usize,
    /// How long a client has to send a request's headers (HTTP), or its
    /// first bytes (gRPC's connection preface), milliseconds.
    pub header_read_timeout_ms: u64,
    /// Pooled database connections for requests (0: 16 on PostgreSQL, 8
    /// on SQLite). Each process opens two more: one for the ticket writer,
    /// one for the readiness check.
    pub db_max_connections: u32,
    /// PostgreSQL `statement_timeout` of request connections, milliseconds
    /// (0: not set; the server's or role's value applies). A statement
    /// running longer is cancelled and the request answers 503.
    pub db_statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout`, milliseconds (0: not set): how long a
    /// statement waits for a lock (a locked table) before the request
    /// answers 503. On SQLite, how long a write waits for another writer.
    pub db_lock_timeout_ms: u64,
    /// How long a request waits for a free pooled connection before it
    /// answers 503, milliseconds.
    pub db_acquire_timeout_ms: u64,
}

/// Reads a list setting from TOML (an array) or from an environment
/// variable (`a,b,c`).
fn list_or_comma_separated<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(items) => items,
        ListOrText::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(String::from)
            .collect(),
    })
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: Secret::new("sqlite://steward.db?mode=rwc"),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            issuer: None,
            ticket_ttl: 300,
            access_token_ttl: 3600,
            permission_ttl: 3600,
            trusted_issuers: Vec::new(),
            max_body_bytes: 64 * 1024,
            otlp_endpoint: None,
            log_format: LogFormat::Text,
            role: Role::All,
            core_url: None,
            shutdown_grace: 10,
            cache_refresh_ms: 500,
            change_retention_secs: 7 * 24 * 3600,
            ext_authz_unmatched: Unmatched::Deny,
            ext_authz_token: None,
            registration_token: None,
            session_ttl: 8 * 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            migrate_on_start: true,
            audit_log: "stdout".into(),
            key_rotation_days: 90,
            signing_key_file: None,
            previous_signing_key_file: None,
            facade_token: None,
            trusted_proxies: Vec::new(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_reload_ms: 10_000,
            core_tls_ca_file: None,
            core_tls_cert_file: None,
            core_tls_key_file: None,
            health_addr: None,
            max_client_connections: 4096,
            header_read_timeout_ms: 10_000,
            db_max_connections: 0,
            db_statement_timeout_ms: 5_000,
            db_lock_timeout_ms: 2_000,
            db_acquire_timeout_ms: 1_000,
        }
    }
}

/// The settings readable from `STEWARD_*` variables.
const ENV_KEYS: [&str; 41] = [
    "database_url",
    "http_addr",
    "grpc_addr",
    "issuer",
    "ticket_ttl",
    "access_token_ttl",
    "permission_ttl",
    "max_body_bytes",
    "otlp_endpoint",
    "log_format",
    "role",
    "core_url",
    "shutdown_grace",
    "cache_refresh_ms",
    "change_retention_secs",
    "ext_authz_unmatched",
    "ext_authz_token",
    "registration_token",
    "session_ttl",
    "refresh_token_ttl",
    "migrate_on_start",
    "audit_log",
    "key_rotation_days",
    "signing_key_file",
    "previous_signing_key_file",
    "facade_token",
    "trusted_proxies",
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "tls_reload_ms",
    "core_tls_ca_file",
    "core_tls_cert_file",
    "core_tls_key_file",
    "health_addr",
    "max_client_connections",
    "header_read_timeout_ms",
    "db_max_connections",
    "db_statement_timeout_ms",
    "db_lock_timeout_ms",
    "db_acquire_timeout_ms",
];

impl Settings {
    /// Loads defaults, then `file` (which must exist if given), then the
    /// `STEWARD_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, Error> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Error::invalid_request(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            // Only our keys: Kubernetes injects STEWARD_PORT & co. for a
            // service named `steward`, and those must not break start-up.
            .merge(Env::prefixed("STEWARD_").only(&ENV_KEYS))
            .extract()
            .map_err(|e| Error::invalid_request(format!("invalid configuration: {e}")))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| {
            Err(Error::invalid_request(format!(
                "invalid configuration: {m}"
            )))
        };
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad(
                "database_url must start with sqlite:, postgres:// or postgresql://".into(),
            );
        }
        if self.previous_signing_key_file.is_some() && self.signing_key_file.is_none() {
            return bad("previous_signing_key_file needs signing_key_file".into());
        }
        if self.session_ttl == 0 || self.refresh_token_ttl == 0 {
            return bad("session_ttl and refresh_token_ttl must be positive".into());
        }
        if self
            .registration_token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return bad("registration_token must be at least 16 characters".into());
        }
        if self.ticket_ttl == 0 || self.access_token_ttl == 0 || self.permission_ttl == 0 {
            return bad("ticket_ttl, access_token_ttl and permission_ttl must be positive".into());
        }
        for trusted in &self.trusted_issuers {
            if trusted.issuer.is_empty() || trusted.audience.is_empty() {
                return bad("every trusted issuer needs `issuer` and `audience`".into());
            }
            let named_keys = trusted.jwks_file.is_some() as u8 + trusted.jwks_uri.is_some() as u8;
            if named_keys > 1 || (named_keys == 0 && trusted.discovery_url.is_none()) {
                return bad(format!(
                    "trusted issuer `{}` needs exactly one of jwks_file or jwks_uri (or a discovery_url)",
                    trusted.issuer
                ));
            }
            let endpoints =
                trusted.authorization_endpoint.is_some() && trusted.token_endpoint.is_some();
            if trusted.offers_sign_in() && !endpoints && trusted.discovery_url.is_none() {
                return bad(format!(
                    "trusted issuer `{}` has a client_id for sign-in: it also needs discovery_url, or authorization_endpoint and token_endpoint",
                    trusted.issuer
                ));
            }
            for url in [
                &trusted.discovery_url,
                &trusted.authorization_endpoint,
                &trusted.token_endpoint,
                &trusted.jwks_uri,
            ]
            .into_iter()
            .flatten()
            {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return bad(format!(
                        "trusted issuer `{}`: `{url}` is not an http(s) URL",
                        trusted.issuer
                    ));
                }
            }
        }
        if !(10..=60_000).contains(&self.cache_refresh_ms) {
            return bad("cache_refresh_ms must be between 10 and 60000".into());
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes must be at least 1024".into());
        }
        if let Some(issuer) = &self.issuer
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            return bad(format!("issuer `{issuer}` must be an http(s) URL"));
        }
        if self.role == Role::Facade && self.core_url.is_none() {
            return bad("role `facade` needs core_url (--core-url or STEWARD_CORE_URL)".into());
        }
        if let Some(token) = &self.facade_token {
            let token = token.expose();
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(
                    "facade_token must be at least 16 printable ASCII characters without spaces"
                        .into(),
                );
            }
        } else if self.role == Role::Facade {
            return bad(
                "role `facade` needs facade_token (the same value as on the core), or the sign-in, consent and registration pages cannot work".into(),
            );
        }
        for proxy in &self.trusted_proxies {
            if let Err(e) = proxy.parse::<IpRange>() {
                return bad(format!("trusted_proxies: {}", e.description()));
            }
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return bad("tls_cert_file and tls_key_file go together".into());
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return bad("tls_client_ca_file needs tls_cert_file and tls_key_file".into());
        }
        if self.core_tls_cert_file.is_some() != self.core_tls_key_file.is_some() {
            return bad("core_tls_cert_file and core_tls_key_file go together".into());
        }
        if self.max_client_connections == 0 {
            return bad("max_client_connections must be positive".into());
        }
        if !(100..=600_000).contains(&self.header_read_timeout_ms) {
            return bad("header_read_timeout_ms must be between 100 and 600000".into());
        }
        if !(100..=3_600_000).contains(&self.tls_reload_ms) {
            return bad("tls_reload_ms must be between 100 and 3600000".into());
        }
        if self.db_max_connections > 1000 {
            return bad("db_max_connections must be at most 1000".into());
        }
        if self.db_statement_timeout_ms > 600_000 || self.db_lock_timeout_ms > 600_000 {
            return bad(
                "db_statement_timeout_ms and db_lock_timeout_ms must be at most 600000".into(),
            );
        }
        if !(10..=60_000).contains(&self.db_acquire_timeout_ms) {
            return bad("db_acquire_timeout_ms must be between 10 and 60000".into());
        }
        if let Some(url) = &self.core_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad(format!(
                "core_url `{url}` must be an http:// or https:// URL"
            ));
        }
        Ok(())
    }

    /// The trusted proxy ranges (validated by [`Settings::validate`]).
    pub fn trusted_proxy_ranges(&self) -> Vec<IpRange> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Whether both listeners serve TLS.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert_file.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_hide_the_database_url() {
        let settings = Settings::default();
        assert!(settings.validate().is_ok());
        let mut with_password = settings.clone();
        with_password.database_url = Secret::new("postgres://u:hunter2@db/x");
        assert!(!format!("{with_password:?}").contains("hunter2"));
    }

    #[test]
    fn a_toml_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("steward-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("steward.toml");
        std::fs::write(&path, "ticket_ttl = 42\nhttp_addr = \"127.0.0.1:9999\"\n").unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.ticket_ttl, 42);
        assert_eq!(settings.http_addr.port(), 9999);
        std::fs::write(
            &path,
            "[[trusted_issuers]]\nissuer = \"https://idp\"\naudience = \"steward\"\njwks_uri = \"https://idp/jwks\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        assert_eq!(settings.trusted_issuers.len(), 1);
        assert_eq!(settings.trusted_issuers[0].audience, "steward");
        std::fs::write(
            &path,
            "[[trusted_issuers]]\nissuer = \"https://idp\"\naudience = \"s\"\n",
        )
        .unwrap();
        assert!(
            Settings::load(Some(&path)).is_err(),
            "a trusted issuer needs keys"
        );
        std::fs::write(&path, "no_such_setting = 1\n").unwrap();
        assert!(Settings::load(Some(&path)).is_err());
        assert!(Settings::load(Some(&dir.join("missing.toml"))).is_err());
    }

    #[test]
    fn facade_needs_a_core_url_and_a_facade_token() {
        let settings = Settings {
            role: Role::Facade,
            facade_token: Some(Secret::new("a-facade-token-of-length")),
            ..Settings::default()
        };
        assert!(settings.validate().is_err(), "no core_url");
        let settings = Settings {
            core_url: Some("http://core:50051".into()),
            ..settings
        };
        assert!(settings.validate().is_ok());
        assert!(
            Settings {
                facade_token: None,
                ..settings.clone()
            }
            .validate()
            .is_err(),
            "no facade_token"
        );
        for weak in [
            "short",
            "has spaces in the token",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert!(
                Settings {
                    facade_token: Some(Secret::new(weak)),
                    ..settings.clone()
                }
                .validate()
                .is_err(),
                "{weak}"
            );
        }
        assert!(
            Settings {
                core_url: Some("core:50051".into()),
                ..settings
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn tls_and_proxy_settings_are_checked() {
        let ok = Settings::default();
        let cases = [
            Settings {
                tls_cert_file: Some("cert.pem".into()),
                ..ok.clone()
            },
            Settings {
                tls_client_ca_file: Some("ca.pem".into()),
                ..ok.clone()
            },
            Settings {
                core_tls_cert_file: Some("c.pem".into()),
                ..ok.clone()
            },
            Settings {
                trusted_proxies: vec!["10.0.0.0/33".into()],
                ..ok.clone()
            },
            Settings {
                tls_reload_ms: 0,
                ..ok.clone()
            },
            Settings {
                max_client_connections: 0,
                ..ok.clone()
            },
            Settings {
                header_read_timeout_ms: 10,
                ..ok.clone()
            },
        ];
        for bad in cases {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let good = Settings {
            tls_cert_file: Some("cert.pem".into()),
            tls_key_file: Some("key.pem".into()),
            tls_client_ca_file: Some("ca.pem".into()),
            trusted_proxies: vec!["10.0.0.0/8".into(), "::1".into()],
            ..ok
        };
        assert!(good.validate().is_ok());
        assert!(good.serves_tls());
        assert_eq!(good.trusted_proxy_ranges().len(), 2);
    }

    #[test]
    fn database_limits_have_bounds_and_reach_the_store() {
        let ok = Settings::default();
        for bad in [
            Settings {
                db_acquire_timeout_ms: 0,
                ..ok.clone()
            },
            Settings {
                db_acquire_timeout_ms: 60_001,
                ..ok.clone()
            },
            Settings {
                db_statement_timeout_ms: 600_001,
                ..ok.clone()
            },
            Settings {
                db_lock_timeout_ms: 600_001,
                ..ok.clone()
            },
            Settings {
                db_max_connections: 1001,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let off = Settings {
            db_statement_timeout_ms: 0,
            db_lock_timeout_ms: 0,
            db_max_connections: 40,
            ..ok.clone()
        };
        assert!(off.validate().is_ok());
        let limits = crate::store::DatabaseLimits::from_settings(&off);
        assert_eq!(limits.max_connections, Some(40));
        assert!(limits.statement_timeout.is_zero() && limits.lock_timeout.is_zero());
        // The defaults are the store's defaults.
        assert_eq!(
            crate::store::DatabaseLimits::from_settings(&ok),
            crate::store::DatabaseLimits::default()
        );
        let from_toml: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(
                "db_lock_timeout_ms = 750\ndb_acquire_timeout_ms = 250",
            ))
            .extract()
            .unwrap();
        assert_eq!(from_toml.db_lock_timeout_ms, 750);
        assert_eq!(from_toml.db_acquire_timeout_ms, 250);
        assert!(ENV_KEYS.contains(&"db_statement_timeout_ms"));
    }

    #[test]
    fn trusted_proxies_come_from_toml_lists_and_comma_separated_text() {
        let from_list: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("trusted_proxies = [\"10.0.0.0/8\", \"::1\"]"))
            .extract()
            .unwrap();
        assert_eq!(from_list.trusted_proxies, vec!["10.0.0.0/8", "::1"]);
        let from_text: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(
                "trusted_proxies = \"10.0.0.0/8, 192.168.0.0/16\"",
            ))
            .extract()
            .unwrap();
        assert_eq!(
            from_text.trusted_proxies,
            vec!["10.0.0.0/8", "192.168.0.0/16"]
        );
    }
}
