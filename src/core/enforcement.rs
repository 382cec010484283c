//! The resource server's side of the draft (digest §5), done by Steward for
//! an enforcement point (Envoy `ext_authz`): find the resource server by
//! host, the resource set by path and the scopes by method, check the
//! bearer RPT's status, and when it falls short register the permission that
//! would suffice and hand back its ticket.
//!
//! Host and path are read in their normal forms (`domain::host`,
//! `domain::enforcement::normalize_path`): a request whose authority cannot
//! be parsed, or whose path is ambiguous on a host that has a profile, is
//! refused (400) before anything else, never passed through.

use super::{Core, RptStatus};
use crate::domain::enforcement::{
    EnforcementProfile, Unmatched, UpstreamHeaders, identity_headers_to_remove, normalize_path,
    request_authority,
};
use crate::domain::host::default_port;
use crate::domain::{Error, Namespace};
use crate::store;

/// Longest `Authorization` header looked at; a longer one is refused unread.
const MAX_AUTHORIZATION: usize = 4096;

/// The parts of an HTTP request that decide it, as the client sent them.
#[derive(Debug, Clone, Copy)]
pub struct AccessCheck<'a> {
    /// Every value the request gives for its authority (Envoy's
    /// `HttpRequest.host`, the `:authority` and `host` headers), each
    /// `host[:port]`; they must agree.
    pub authorities: &'a [&'a str],
    /// `http` or `https`: the port of an authority that names none.
    pub scheme: &'a str,
    /// The request-target, possibly with a query string.
    pub path: &'a str,
    pub method: &'a str,
    /// The request's `Authorization` header, if any (duplicates joined by
    /// `,`, as Envoy joins them).
    pub authorization: Option<&'a str>,
}

/// What the enforcement point should do: every rule applied, so the
/// adapter only renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Let the request through, telling the upstream who and what.
    Allow {
        client_id: String,
        subject: String,
        scopes: Vec<String>,
        /// The names to send `subject`, `client_id` and `scopes` in.
        headers: UpstreamHeaders,
        /// Request headers to strip first: identity headers the client may
        /// have made up, and the RPT (it has done its work; the upstream
        /// never sees it).
        remove_headers: Vec<String>,
    },
    /// 401: no RPT (or not a bearer one); the client should get one.
    NoRpt { host_id: String },
    /// 401: an RPT that is unknown, revoked, expired or another resource
    /// server's (digest §5 [REC]: invalid → 401 without a ticket).
    InvalidRpt { host_id: String, reason: String },
    /// 403: the RPT lacks the permission; this ticket asks for it.
    Insufficient { host_id: String, ticket: String },
    /// No resource server, set or method mapping covers the request and
    /// the operator lets such requests through ([`Unmatched::Allow`]):
    /// untouched but for `remove_headers`, the identity headers the
    /// upstream trusts (a client must not bring its own).
    PassThrough {
        reason: String,
        remove_headers: Vec<String>,
    },
    /// 403 `access_denied`: nothing covers the request and the operator
    /// refuses what is not described ([`Unmatched::Deny`]).
    Uncovered { reason: String },
    /// 400: the authority cannot be parsed, or the path is ambiguous on a
    /// host that has a profile. Never passed through, never a ticket.
    BadRequest { reason: String },
}

impl Core {
    /// Stores the calling resource server's enforcement profile.
    pub async fn set_enforcement_profile(
        &self,
        ns: &Namespace,
        profile: EnforcementProfile,
    ) -> Result<EnforcementProfile, Error> {
        let profile = profile.validate()?;
        store::enforcement::put(&self.inner.store, &ns.client_id, &profile, self.now()).await?;
        Ok(profile)
    }

    /// The calling resource server's enforcement profile (`not_found` if none).
    pub async fn enforcement_profile(&self, ns: &Namespace) -> Result<EnforcementProfile, Error> {
        store::enforcement::get(&self.inner.store, &ns.client_id)
            .await?
            .ok_or_else(|| Error::NotFound("no enforcement profile is registered".into()))
    }

    /// Removes the calling resource server's enforcement profile.
    pub async fn delete_enforcement_profile(&self, ns: &Namespace) -> Result<(), Error> {
        if store::enforcement::delete(&self.inner.store, &ns.client_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(
                "no enforcement profile is registered".into(),
            ))
        }
    }

    /// Decides one HTTP request for an enforcement point.
    pub async fn check_access(&self, request: AccessCheck<'_>) -> Result<CheckOutcome, Error> {
        let store = &self.inner.store;
        let authority = match request_authority(request.authorities) {
            Ok(authority) => authority,
            Err(e) => return Ok(bad_request(e)),
        };
        let Some(hosted) = store::enforcement::for_host(store, &authority.host).await? else {
            return Ok(self.unmatched(
                format!("no resource server serves host `{}`", authority.host),
                None,
            ));
        };
        let profile = &hosted.profile;
        let unmatched = |reason: String| self.unmatched(reason, Some(&profile.upstream_headers));
        // On a host that has a profile, an ambiguous path is refused whatever
        // else the request says: passing it through could hand the upstream
        // a path other than the one decided on.
        let segments = match normalize_path(request.path, profile.case_insensitive_paths) {
            Ok(segments) => segments,
            Err(e) => return Ok(bad_request(e)),
        };
        let port = authority.port.or_else(|| default_port(request.scheme));
        if profile.entry_for(&authority.host, port).is_none() {
            return Ok(unmatched(format!(
                "the profile of host `{}` does not list port {}",
                authority.host,
                port.map_or_else(|| "(unknown)".to_string(), |p| p.to_string())
            )));
        }
        let Some(scopes) = profile.scopes_for(request.method) else {
            return Ok(unmatched(format!(
                "method `{}` is not mapped to scopes",
                clip(request.method)
            )));
        };
        let index = store::enforcement::path_index(
            store,
            &hosted.client_id,
            profile.case_insensitive_paths,
        )
        .await?;
        let Some(set) = index.lookup(&segments) else {
            return Ok(unmatched(format!(
                "no resource set matches path `{}`",
                clip(request.path)
            )));
        };
        let host_id = authority.to_string();
        let rpt = match bearer(request.authorization) {
            Bearer::Missing => return Ok(CheckOutcome::NoRpt { host_id }),
            Bearer::Malformed(reason) => {
                return Ok(CheckOutcome::InvalidRpt {
                    host_id,
                    reason: reason.into(),
                });
            }
            Bearer::Token(rpt) => rpt,
        };
        let ns = Namespace {
            client_id: hosted.client_id.clone(),
            owner: set.owner.clone(),
        };
        let RptStatus::Active {
            permissions,
            client_id,
            subject,
            ..
        } = self
            .rpt_status(&ns, rpt, Some(&set.resource_set_id))
            .await?
        else {
            return Ok(CheckOutcome::InvalidRpt {
                host_id,
                reason: "the RPT is not active for this resource server".into(),
            });
        };
        let granted: Vec<&String> = permissions
            .iter()
            .filter(|p| p.owner == set.owner && p.resource_set_id == set.resource_set_id)
            .flat_map(|p| p.scopes.iter())
            .collect();
        if scopes.iter().all(|s| granted.contains(&s)) {
            let headers = profile.upstream_headers.clone();
            // The names this answer sets are overwritten anyway (Envoy
            // removes after it sets, so never remove one of them).
            let mut remove_headers = identity_headers_to_remove(Some(&headers), true);
            remove_headers.push("authorization".into());
            return Ok(CheckOutcome::Allow {
                client_id,
                subject,
                scopes: scopes.to_vec(),
                headers,
                remove_headers,
            });
        }
        let issued = self
            .register_permission(&ns, set.resource_set_id.clone(), scopes.to_vec())
            .await?;
        Ok(CheckOutcome::Insufficient {
            host_id,
            ticket: issued.ticket.into_exposed(),
        })
    }

    /// The operator's answer ([`CorePolicy::unmatched`](super::CorePolicy))
    /// to a request nothing covers; `profile_headers` are the identity
    /// headers of the resource server whose host it is, if any.
    fn unmatched(&self, reason: String, profile_headers: Option<&UpstreamHeaders>) -> CheckOutcome {
        unmatched_outcome(self.inner.policy.unmatched, reason, profile_headers)
    }
}

/// What `policy` answers to a request nothing covers.
fn unmatched_outcome(
    policy: Unmatched,
    reason: String,
    profile_headers: Option<&UpstreamHeaders>,
) -> CheckOutcome {
    match policy {
        Unmatched::Allow => CheckOutcome::PassThrough {
            reason,
            remove_headers: identity_headers_to_remove(profile_headers, false),
        },
        Unmatched::Deny => CheckOutcome::Uncovered { reason },
    }
}

fn bad_request(error: Error) -> CheckOutcome {
    CheckOutcome::BadRequest {
        reason: error.description().to_string(),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(120).collect()
}

enum Bearer<'a> {
    Missing,
    Malformed(&'static str),
    Token(&'a str),
}

/// The bearer token of an `Authorization` header.
fn bearer(header: Option<&str>) -> Bearer<'_> {
    let Some(header) = header else {
        return Bearer::Missing;
    };
    if header.len() > MAX_AUTHORIZATION {
        return Bearer::Malformed("the Authorization header is too large");
    }
    // Basic & co. are not an RPT (missing): the client has to get one.
    match crate::domain::token::bearer_token(Some(header)) {
        // RFC 6750 b64token: anything else (a `,` of two joined headers
        // above all) is not one token.
        Ok(token) if !is_b64token(token) => {
            Bearer::Malformed("the bearer token is malformed (several Authorization headers?)")
        }
        Ok(token) => Bearer::Token(token),
        Err(Error::MissingToken) => Bearer::Missing,
        Err(_) => Bearer::Malformed("the bearer token is malformed"),
    }
}

/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_nothing_covers_follows_the_operator() {
        let custom = UpstreamHeaders {
            subject: "X-User".into(),
            ..UpstreamHeaders::default()
        };
        assert_eq!(
            unmatched_outcome(Unmatched::Deny, "no set".into(), Some(&custom)),
            CheckOutcome::Uncovered {
                reason: "no set".into()
            }
        );
        // Let through, but never with identity headers the client made:
        // the profile's names and the defaults alike.
        let CheckOutcome::PassThrough {
            reason,
            remove_headers,
        } = unmatched_outcome(Unmatched::Allow, "no set".into(), Some(&custom))
        else {
            panic!("passed through");
        };
        assert_eq!(reason, "no set");
        for name in [
            "x-user",
            "x-steward-subject",
            "x-steward-client",
            "x-steward-scopes",
        ] {
            assert!(remove_headers.iter().any(|r| r == name), "{name}");
        }
        let CheckOutcome::PassThrough { remove_headers, .. } =
            unmatched_outcome(Unmatched::Allow, "no host".into(), None)
        else {
            panic!("passed through");
        };
        assert_eq!(remove_headers, identity_headers_to_remove(None, false));
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert!(matches!(bearer(None), Bearer::Missing));
        assert!(matches!(
            bearer(Some("Basic dXNlcjpwdw==")),
            Bearer::Missing
        ));
        assert!(matches!(bearer(Some("Bearer")), Bearer::Missing));
        assert!(matches!(bearer(Some("Bearer a b")), Bearer::Malformed(_)));
        assert!(matches!(bearer(Some("Bearer  ")), Bearer::Missing));
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION));
        assert!(matches!(bearer(Some(&huge)), Bearer::Malformed(_)));
        assert!(matches!(bearer(Some("bearer tok")), Bearer::Token("tok")));
        assert!(matches!(bearer(Some("Bearer tok")), Bearer::Token("tok")));
        assert!(matches!(
            bearer(Some("Bearer a.b_c~d+e/f==")),
            Bearer::Token(_)
        ));
        // Two Authorization headers joined by Envoy are never one token.
        for joined in [
            "Bearer tok,Bearer tok",
            "Bearer tok,tok",
            "Bearer tok,",
            "Bearer tok, Bearer other",
            "Bearer ==",
            "Bearer t\"ok",
        ] {
            assert!(
                matches!(bearer(Some(joined)), Bearer::Malformed(_)),
                "{joined}"
            );
        }
    }
}
