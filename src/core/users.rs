//! Steward's own users and browser sessions: accounts with argon2 password
//! hashes, sign-in with per-account and per-address limits on failed
//! attempts, and sessions stored by hash only.

use serde_json::{Map, Value};

use super::Core;
use crate::domain::identifier::{self, Kind};
use crate::domain::secret::Secret;
use crate::domain::{Error, UnixTime, network, secret};
use crate::store::{self, sessions::SessionRecord, users::UserRecord};

/// A signed-in user as the browser flows see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    pub subject: String,
    pub claims: Map<String, Value>,
}

/// Sign-in attempts checked per account per window: once that many have
/// failed, the account is locked for the rest of the window.
pub const MAX_ACCOUNT_FAILURES: u32 = 5;
/// Sign-in attempts checked per network address per window (only failures
/// stay counted).
pub const MAX_ADDRESS_FAILURES: u32 = 20;
/// The window those limits count in, seconds.
pub const FAILURE_WINDOW: i64 = 15 * 60;
/// Longest accepted password (argon2 takes any length; this bounds the work).
const MAX_PASSWORD: usize = 1024;
/// The session `issuer` of Steward's own accounts.
pub const LOCAL_ISSUER: &str = "local";

/// Claims an account may carry (OpenID Connect standard claims and `groups`).
const ACCOUNT_CLAIMS: [&str; 8] = [
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "phone_number",
    "groups",
];

/// A new account as the CLI asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password: Secret,
    pub claims: Map<String, Value>,
}

/// A browser session just opened; the token goes into a cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    pub token: Secret,
    pub user: SignedInUser,
    pub expires_at: UnixTime,
}

/// Whether `username` is acceptable: 1–64 characters of letters, digits and `._@-`.
fn valid_username(username: &str) -> bool {
    (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

impl Core {
    /// Creates a local account.
    pub async fn create_user(&self, request: NewUser) -> Result<(), Error> {
        if !valid_username(&request.username) {
            return Err(Error::invalid_request(
                "a username has 1 to 64 characters: letters, digits, `.`, `_`, `@`, `-`",
            ));
        }
        let password = request.password.expose();
        if password.chars().count() < 8 || password.len() > MAX_PASSWORD {
            return Err(Error::invalid_request(
                "a password has at least 8 and at most 1024 characters",
            ));
        }
        if let Some(bad) = request
            .claims
            .keys()
            .find(|k| !ACCOUNT_CLAIMS.contains(&k.as_str()))
        {
            return Err(Error::invalid_request(format!(
                "claim `{bad}` is not one an account can carry (allowed: {})",
                ACCOUNT_CLAIMS.join(", ")
            )));
        }
        let password_hash = self.inner.hasher.hash(password.to_string()).await?;
        let created = store::users::insert(
            &self.inner.store,
            &UserRecord {
                username: request.username.clone(),
                password_hash,
                claims: request.claims,
                created_at: self.now(),
            },
        )
        .await?;
        if created {
            Ok(())
        } else {
            Err(Error::invalid_request(format!(
                "user `{}` already exists",
                request.username
            )))
        }
    }

    /// Signs a user in with a password.
    ///
    /// Each attempt is counted against its address and its account *before*
    /// the password is checked, and the count returned by that same atomic
    /// step decides: an attempt whose count is over a limit is refused
    /// without hashing. So however many attempts arrive at once, on however
    /// many replicas, no more wrong passwords are checked in a window than
    /// [`MAX_ADDRESS_FAILURES`] per address and [`MAX_ACCOUNT_FAILURES`] per
    /// account (a correct sign-in starts the account's count again). A wrong
    /// password leaves its attempt counted; a right one clears the account's
    /// count and gives the address back its attempt. Checked attempts hash
    /// even for unknown users, so timing does not tell which exist.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<OpenedSession, Error> {
        let refused = || Error::AccessDenied("the username or password is wrong".into());
        let too_many = || {
            tracing::warn!("sign-in refused: too many failed attempts");
            Error::TooManyAttempts(
                "too many failed sign-in attempts; try again in a few minutes".into(),
            )
        };
        // A username or address no account or client could have is a
        // malformed request, refused before anything is counted or looked up.
        identifier::check("username", username, Kind::Username)?;
        identifier::check("remote_address", address, Kind::Text)?;
        if password.len() > MAX_PASSWORD || address.len() > 128 {
            return Err(refused());
        }
        let store = &self.inner.store;
        let now = self.now();
        let account_key = format!("account:{}", username.to_lowercase());
        // IPv6 clients count by their /64 (see `network::limit_key`); the
        // façade always sends an address, so an unparsable one is kept as is.
        let address_key = match address.parse::<std::net::IpAddr>() {
            Ok(ip) => format!("address:{}", network::limit_key(ip)),
            Err(_) => format!("address:{address}"),
        };
        // The address first: an address out of attempts then costs the
        // accounts it tries nothing.
        let from_address =
            store::sign_in::reserve(store, &address_key, now, FAILURE_WINDOW).await?;
        if from_address.count > i64::from(MAX_ADDRESS_FAILURES) {
            return Err(too_many());
        }
        let account = store::sign_in::reserve(store, &account_key, now, FAILURE_WINDOW).await?;
        if account.count > i64::from(MAX_ACCOUNT_FAILURES) {
            // Not checked, so no failure of the address: someone whose
            // account another locked does not lock the address too. (The
            // address's count never drops below its checked failures.)
            store::sign_in::give_back(store, &address_key, &from_address).await?;
            return Err(too_many());
        }
        let user = store::users::find(store, username).await?;
        let ok = !password.is_empty()
            && self
                .inner
                .hasher
                .verify(
                    password.to_string(),
                    user.as_ref().map(|u| u.password_hash.clone()),
                )
                .await?;
        match user {
            Some(user) if ok => {
                let (record, opened) =
                    self.new_session(&user.username, LOCAL_ISSUER, user.claims)?;
                store::sign_in::succeed(
                    store,
                    &account_key,
                    &address_key,
                    &from_address,
                    &record,
                    record.created_at,
                )
                .await?;
                tracing::info!("user signed in");
                Ok(opened)
            }
            _ => {
                tracing::info!("sign-in failed");
                Err(refused())
            }
        }
    }

    /// Opens a session for a user whose identity was verified.
    pub(crate) async fn open_session(
        &self,
        subject: &str,
        issuer: &str,
        claims: Map<String, Value>,
    ) -> Result<OpenedSession, Error> {
        let (record, opened) = self.new_session(subject, issuer, claims)?;
        store::sessions::insert(&self.inner.store, &record, record.created_at).await?;
        Ok(opened)
    }

    /// A new session: the record to store, and what its user gets.
    fn new_session(
        &self,
        subject: &str,
        issuer: &str,
        claims: Map<String, Value>,
    ) -> Result<(SessionRecord, OpenedSession), Error> {
        let now = self.now();
        let token = secret::mint(self.inner.entropy.as_ref(), 32)?;
        let ttl = i64::try_from(self.inner.policy.session_ttl).unwrap_or(i64::MAX);
        let record = SessionRecord {
            token_hash: secret::token_hash(&token),
            subject: subject.to_string(),
            issuer: issuer.to_string(),
            claims: claims.clone(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        let opened = OpenedSession {
            token: Secret::new(token),
            user: SignedInUser {
                subject: subject.to_string(),
                claims,
            },
            expires_at: record.expires_at,
        };
        Ok((record, opened))
    }

    /// The user a session cookie belongs to, if it is alive.
    pub async fn session(&self, token: &str) -> Result<Option<SignedInUser>, Error> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let found = store::sessions::find(&self.inner.store, &secret::token_hash(token)).await?;
        Ok(found
            .filter(|s| self.now() < s.expires_at)
            .map(|s| SignedInUser {
                subject: s.subject,
                claims: s.claims,
            }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, token: &str) -> Result<(), Error> {
        if token.is_empty() || token.len() > 256 {
            return Ok(());
        }
        store::sessions::delete(&self.inner.store, &secret::token_hash(token)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("alice"));
        assert!(valid_username("alice.smith@example.com"));
        assert!(!valid_username(""));
        assert!(!valid_username("alice smith"));
        assert!(!valid_username("<script>"));
        assert!(!valid_username(&"a".repeat(65)));
    }
}
