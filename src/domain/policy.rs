//! Owner policies and their evaluation: pure, deterministic, time passed in.
//!
//! Rules: default deny; a matching deny beats any permit; a grant never
//! exceeds what was requested and is registered; a policy that could permit
//! but lacks claims asks for them; a permit that needs the owner's approval
//! holds the request as pending. Every decision names the policies behind it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::identifier::{self, Kind};
use super::{Error, UnixTime};

/// Most entries in one policy list field.
const MAX_ITEMS: usize = 256;

/// Permit or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    #[default]
    Permit,
    Deny,
}

/// Whether a permit applies at once or waits for the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    #[default]
    Automatic,
    Owner,
}

/// A condition on one claim of the requesting party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    /// The claim name, e.g. `email`.
    pub name: String,
    /// The claim must equal this value (or, for an array claim, contain it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The claim must be one of these (or, for an array claim, share one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
}

impl ClaimCondition {
    fn validate(&self) -> Result<(), Error> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid_request("a claim condition needs a `name`"));
        }
        identifier::check("claims[].name", &self.name, Kind::Id)?;
        match (&self.equals, &self.one_of) {
            (Some(_), None) => Ok(()),
            (None, Some(values)) if !values.is_empty() => Ok(()),
            _ => Err(Error::invalid_request(format!(
                "claim condition `{}` needs exactly one of `equals` or a non-empty `one_of`",
                self.name
            ))),
        }
    }

    /// Whether the claims satisfy this condition; `None` when the claim is absent.
    fn holds(&self, claims: &Map<String, Value>) -> Option<bool> {
        let actual = claims.get(&self.name)?;
        let candidates: Vec<&Value> = match actual {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let wanted: Vec<&Value> = match (&self.equals, &self.one_of) {
            (Some(value), _) => vec![value],
            (None, Some(values)) => values.iter().collect(),
            (None, None) => return Some(false),
        };
        Some(candidates.iter().any(|c| wanted.contains(c)))
    }
}

/// What a resource server writes (on its owner's behalf) to create a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefinition {
    pub name: String,
    /// Scopes of the resource set this policy speaks about.
    pub scopes: Vec<String>,
    /// Client ids it applies to; empty means any client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Requesting-party subjects it applies to; empty means anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Conditions on verified claims, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<ClaimCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<UnixTime>,
    #[serde(default)]
    pub effect: Effect,
    #[serde(default)]
    pub approval: Approval,
}

impl PolicyDefinition {
    /// Checks the definition against the resource set's registered scopes.
    pub fn validate(&self, registered_scopes: &[String]) -> Result<(), Error> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid_request("a policy needs a `name`"));
        }
        identifier::check("name", &self.name, Kind::Text)?;
        if self.scopes.is_empty() {
            return Err(Error::invalid_request("a policy needs at least one scope"));
        }
        for list in [&self.scopes, &self.clients, &self.subjects] {
            if list.len() > MAX_ITEMS {
                return Err(Error::invalid_request(format!(
                    "policy lists hold at most {MAX_ITEMS} entries"
                )));
            }
        }
        if self.claims.len() > MAX_ITEMS {
            return Err(Error::invalid_request("too many claim conditions"));
        }
        // Scopes need no check of their own: each must be registered.
        for (field, ids) in [("clients", &self.clients), ("subjects", &self.subjects)] {
            for id in ids {
                identifier::require(&format!("{field}[]"), id, Kind::Id)?;
            }
        }
        if let Some(scope) = self.scopes.iter().find(|s| !registered_scopes.contains(s)) {
            return Err(Error::InvalidScope(format!(
                "scope `{scope}` is not registered for this resource set"
            )));
        }
        for condition in &self.claims {
            condition.validate()?;
        }
        if let (Some(from), Some(to)) = (self.not_before, self.not_after)
            && from >= to
        {
            return Err(Error::invalid_request(
                "`not_before` must be before `not_after`",
            ));
        }
        if self.effect == Effect::Deny && self.approval == Approval::Owner {
            return Err(Error::invalid_request(
                "a deny policy cannot wait for owner approval",
            ));
        }
        Ok(())
    }
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub definition: PolicyDefinition,
}

/// Who asks, for what.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRequest<'a> {
    pub client_id: &'a str,
    pub subject: &'a str,
    /// Verified claims about the requesting party.
    pub claims: &'a Map<String, Value>,
    pub requested_scopes: &'a [String],
    /// The resource set's currently registered scopes.
    pub registered_scopes: &'a [String],
    /// Whether the owner already approved this request.
    pub owner_approved: bool,
    pub now: UnixTime,
}

/// The outcome of evaluating a resource set's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Grant these scopes.
    Permit {
        scopes: Vec<String>,
        policies: Vec<String>,
    },
    /// Refuse (default deny when `policies` is empty).
    Deny { policies: Vec<String> },
    /// Could permit once these claims are supplied.
    NeedClaims {
        claims: Vec<String>,
        policies: Vec<String>,
    },
    /// Would permit once the owner approves.
    Pending {
        scopes: Vec<String>,
        policies: Vec<String>,
    },
}

/// Evaluates `policies` for `request`.
pub fn decide(policies: &[Policy], request: &DecisionRequest<'_>) -> Decision {
    // The requested scopes once each, in the order asked.
    let mut requested: Vec<String> = Vec::with_capacity(request.requested_scopes.len());
    for scope in request.requested_scopes {
        if !requested.contains(scope) {
            requested.push(scope.clone());
        }
    }
    let wanted: BTreeSet<&str> = requested
        .iter()
        .map(String::as_str)
        .filter(|s| request.registered_scopes.iter().any(|r| r == s))
        .collect();
    if wanted.is_empty() || wanted.len() != requested.len() {
        return Decision::Deny { policies: vec![] };
    }
    let applicable: Vec<&Policy> = policies
        .iter()
        .filter(|p| {
            let d = &p.definition;
            d.not_before.is_none_or(|t| request.now >= t)
                && d.not_after.is_none_or(|t| request.now < t)
                && (d.clients.is_empty() || d.clients.iter().any(|c| c == request.client_id))
                && (d.subjects.is_empty() || d.subjects.iter().any(|s| s == request.subject))
                && d.scopes.iter().any(|s| wanted.contains(s.as_str()))
        })
        .collect();

    // Claims: satisfied, or which ones are missing (a present but wrong claim fails).
    let claim_state = |p: &Policy| -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        for condition in &p.definition.claims {
            match condition.holds(request.claims) {
                Some(true) => {}
                Some(false) => return Err(Vec::new()),
                None => missing.push(condition.name.clone()),
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    };

    let denying: Vec<String> = applicable
        .iter()
        .filter(|p| p.definition.effect == Effect::Deny && claim_state(p).is_ok())
        .map(|p| p.id.clone())
        .collect();
    if !denying.is_empty() {
        return Decision::Deny { policies: denying };
    }
    // A deny that could apply once claims are known must be settled before
    // anything is granted: leaving a claim out must never dodge a deny.
    let mut deny_unknown: BTreeSet<String> = BTreeSet::new();
    let mut deny_unknown_policies = Vec::new();
    for p in applicable
        .iter()
        .filter(|p| p.definition.effect == Effect::Deny)
    {
        if let Err(missing) = claim_state(p)
            && !missing.is_empty()
        {
            deny_unknown.extend(missing);
            deny_unknown_policies.push(p.id.clone());
        }
    }
    let settle_denies_first = |grant: Decision| {
        if deny_unknown.is_empty() {
            grant
        } else {
            Decision::NeedClaims {
                claims: deny_unknown.iter().cloned().collect(),
                policies: deny_unknown_policies.clone(),
            }
        }
    };

    let mut automatic: BTreeSet<&str> = BTreeSet::new();
    let mut with_owner: BTreeSet<&str> = BTreeSet::new();
    let mut automatic_policies = Vec::new();
    let mut owner_policies = Vec::new();
    let mut missing_claims: BTreeSet<String> = BTreeSet::new();
    let mut claim_policies = Vec::new();
    for p in applicable
        .iter()
        .filter(|p| p.definition.effect == Effect::Permit)
    {
        match claim_state(p) {
            Ok(()) => {
                let scopes = p
                    .definition
                    .scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| wanted.contains(s));
                if p.definition.approval == Approval::Owner {
                    with_owner.extend(scopes);
                    owner_policies.push(p.id.clone());
                } else {
                    automatic.extend(scopes);
                    automatic_policies.push(p.id.clone());
                }
            }
            Err(missing) if !missing.is_empty() => {
                missing_claims.extend(missing);
                claim_policies.push(p.id.clone());
            }
            Err(_) => {}
        }
    }
    let scopes = requested.clone();
    if automatic.len() == wanted.len() {
        return settle_denies_first(Decision::Permit {
            scopes,
            policies: automatic_policies,
        });
    }
    if automatic.union(&with_owner).count() == wanted.len() {
        let mut policies = automatic_policies;
        policies.extend(owner_policies);
        return settle_denies_first(if request.owner_approved {
            Decision::Permit { scopes, policies }
        } else {
            Decision::Pending { scopes, policies }
        });
    }
    if !missing_claims.is_empty() {
        return Decision::NeedClaims {
            claims: missing_claims.into_iter().collect(),
            policies: claim_policies,
        };
    }
    Decision::Deny { policies: vec![] }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(id: &str, value: Value) -> Policy {
        Policy {
            id: id.into(),
            definition: serde_json::from_value(value).unwrap(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    struct Ask {
        client: &'static str,
        subject: &'static str,
        claims: Map<String, Value>,
        scopes: Vec<String>,
        approved: bool,
        now: UnixTime,
    }

    impl Ask {
        fn new(scopes: &[&str]) -> Ask {
            Ask {
                client: "app",
                subject: "bob",
                claims: Map::new(),
                scopes: strings(scopes),
                approved: false,
                now: 1_000,
            }
        }

        fn decide(&self, policies: &[Policy]) -> Decision {
            let registered = strings(&["view", "edit", "delete"]);
            decide(
                policies,
                &DecisionRequest {
                    client_id: self.client,
                    subject: self.subject,
                    claims: &self.claims,
                    requested_scopes: &self.scopes,
                    registered_scopes: &registered,
                    owner_approved: self.approved,
                    now: self.now,
                },
            )
        }
    }

    #[test]
    fn no_policy_means_deny() {
        assert_eq!(
            Ask::new(&["view"]).decide(&[]),
            Decision::Deny { policies: vec![] }
        );
    }

    #[test]
    fn a_matching_permit_grants_exactly_the_requested_scopes() {
        let p = policy(
            "p1",
            json!({"name": "friends", "scopes": ["view", "edit"], "subjects": ["bob"]}),
        );
        assert_eq!(
            Ask::new(&["view"]).decide(std::slice::from_ref(&p)),
            Decision::Permit {
                scopes: strings(&["view"]),
                policies: strings(&["p1"])
            }
        );
        let mut other = Ask::new(&["view"]);
        other.subject = "mallory";
        assert_eq!(
            other.decide(std::slice::from_ref(&p)),
            Decision::Deny { policies: vec![] }
        );
        assert_eq!(
            Ask::new(&["view", "delete"]).decide(&[p]),
            Decision::Deny { policies: vec![] }
        );
    }

    #[test]
    fn a_repeated_scope_counts_once() {
        let p = policy("p1", json!({"name": "all", "scopes": ["view"]}));
        assert_eq!(
            Ask::new(&["view", "view"]).decide(&[p]),
            Decision::Permit {
                scopes: strings(&["view"]),
                policies: strings(&["p1"])
            }
        );
    }

    #[test]
    fn unregistered_scopes_are_never_granted() {
        let p = policy("p1", json!({"name": "all", "scopes": ["view"]}));
        assert_eq!(
            Ask::new(&["view", "admin"]).decide(&[p]),
            Decision::Deny { policies: vec![] }
        );
    }

    #[test]
    fn deny_beats_permit() {
        let permit = policy("p", json!({"name": "all", "scopes": ["view"]}));
        let deny = policy(
            "d",
            json!({"name": "not app", "scopes": ["view"], "clients": ["app"], "effect": "deny"}),
        );
        assert_eq!(
            Ask::new(&["view"]).decide(&[permit, deny]),
            Decision::Deny {
                policies: strings(&["d"])
            }
        );
    }

    #[test]
    fn leaving_a_claim_out_does_not_dodge_a_deny() {
        let permit = policy("p", json!({"name": "all", "scopes": ["view"]}));
        let deny = policy(
            "d",
            json!({"name": "not eve", "scopes": ["view"], "effect": "deny", "claims": [{"name": "email", "equals": "eve@example.com"}]}),
        );
        let both = [permit, deny];
        assert_eq!(
            Ask::new(&["view"]).decide(&both),
            Decision::NeedClaims {
                claims: strings(&["email"]),
                policies: strings(&["d"])
            }
        );
        let mut eve = Ask::new(&["view"]);
        eve.claims.insert("email".into(), json!("eve@example.com"));
        assert_eq!(
            eve.decide(&both),
            Decision::Deny {
                policies: strings(&["d"])
            }
        );
        let mut bob = Ask::new(&["view"]);
        bob.claims.insert("email".into(), json!("bob@example.com"));
        assert!(matches!(bob.decide(&both), Decision::Permit { .. }));
    }

    #[test]
    fn missing_claims_are_named_and_wrong_claims_deny() {
        let p = policy(
            "p",
            json!({"name": "staff", "scopes": ["view"], "claims": [{"name": "email", "one_of": ["bob@example.com"]}]}),
        );
        assert_eq!(
            Ask::new(&["view"]).decide(std::slice::from_ref(&p)),
            Decision::NeedClaims {
                claims: strings(&["email"]),
                policies: strings(&["p"])
            }
        );
        let mut with = Ask::new(&["view"]);
        with.claims.insert("email".into(), json!("bob@example.com"));
        assert!(matches!(
            with.decide(std::slice::from_ref(&p)),
            Decision::Permit { .. }
        ));
        let mut wrong = Ask::new(&["view"]);
        wrong
            .claims
            .insert("email".into(), json!("eve@example.com"));
        assert_eq!(wrong.decide(&[p]), Decision::Deny { policies: vec![] });
    }

    #[test]
    fn array_claims_match_by_membership() {
        let p = policy(
            "p",
            json!({"name": "g", "scopes": ["view"], "claims": [{"name": "groups", "equals": "staff"}]}),
        );
        let mut ask = Ask::new(&["view"]);
        ask.claims
            .insert("groups".into(), json!(["users", "staff"]));
        assert!(matches!(ask.decide(&[p]), Decision::Permit { .. }));
    }

    #[test]
    fn validity_window_is_half_open() {
        let p = policy(
            "p",
            json!({"name": "w", "scopes": ["view"], "not_before": 1000, "not_after": 2000}),
        );
        let mut ask = Ask::new(&["view"]);
        for (now, permitted) in [(999, false), (1000, true), (1999, true), (2000, false)] {
            ask.now = now;
            assert_eq!(
                matches!(
                    ask.decide(std::slice::from_ref(&p)),
                    Decision::Permit { .. }
                ),
                permitted,
                "at {now}"
            );
        }
    }

    #[test]
    fn owner_approval_holds_until_approved_unless_an_automatic_policy_suffices() {
        let owner = policy(
            "o",
            json!({"name": "ask me", "scopes": ["view", "edit"], "approval": "owner"}),
        );
        let auto = policy("a", json!({"name": "view ok", "scopes": ["view"]}));
        let mut ask = Ask::new(&["edit"]);
        assert_eq!(
            ask.decide(&[owner.clone(), auto.clone()]),
            Decision::Pending {
                scopes: strings(&["edit"]),
                policies: strings(&["o"])
            }
        );
        ask.approved = true;
        assert!(matches!(
            ask.decide(&[owner.clone(), auto.clone()]),
            Decision::Permit { .. }
        ));
        assert_eq!(
            Ask::new(&["view"]).decide(&[owner, auto]),
            Decision::Permit {
                scopes: strings(&["view"]),
                policies: strings(&["a"])
            }
        );
    }

    #[test]
    fn definitions_are_validated() {
        let registered = strings(&["view"]);
        let parse = |v: Value| serde_json::from_value::<PolicyDefinition>(v);
        assert!(parse(json!({"name": "x", "scopes": ["view"], "bogus": 1})).is_err());
        let bad_scope = parse(json!({"name": "x", "scopes": ["edit"]})).unwrap();
        assert!(matches!(
            bad_scope.validate(&registered),
            Err(Error::InvalidScope(_))
        ));
        let bad_claim =
            parse(json!({"name": "x", "scopes": ["view"], "claims": [{"name": "email"}]})).unwrap();
        assert!(bad_claim.validate(&registered).is_err());
        let bad_window =
            parse(json!({"name": "x", "scopes": ["view"], "not_before": 5, "not_after": 5}))
                .unwrap();
        assert!(bad_window.validate(&registered).is_err());
        let ok = parse(
            json!({"name": "x", "scopes": ["view"], "claims": [{"name": "email", "equals": "a"}]}),
        )
        .unwrap();
        assert!(ok.validate(&registered).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const SCOPES: [&str; 4] = ["view", "edit", "delete", "share"];

        fn scope_set() -> impl Strategy<Value = Vec<String>> {
            proptest::sample::subsequence(SCOPES.to_vec(), 0..=SCOPES.len())
                .prop_map(|s| s.into_iter().map(str::to_string).collect())
        }

        fn arbitrary_policy() -> impl Strategy<Value = PolicyDefinition> {
            (
                scope_set().prop_filter("a policy names a scope", |s| !s.is_empty()),
                prop::option::of(prop::sample::select(vec!["app", "other"])),
                prop::option::of(prop::sample::select(vec!["bob", "eve"])),
                prop::option::of(prop::sample::select(vec![
                    "bob@example.com",
                    "eve@example.com",
                ])),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(scopes, client, subject, email, deny, owner)| {
                    PolicyDefinition {
                        name: "p".into(),
                        scopes,
                        clients: client.into_iter().map(str::to_string).collect(),
                        subjects: subject.into_iter().map(str::to_string).collect(),
                        claims: email
                            .into_iter()
                            .map(|e| ClaimCondition {
                                name: "email".into(),
                                equals: Some(json!(e)),
                                one_of: None,
                            })
                            .collect(),
                        not_before: None,
                        not_after: None,
                        effect: if deny { Effect::Deny } else { Effect::Permit },
                        approval: if owner && !deny {
                            Approval::Owner
                        } else {
                            Approval::Automatic
                        },
                    }
                })
        }

        proptest! {
            #[test]
            fn grants_never_exceed_requested_and_registered(
                definitions in prop::collection::vec(arbitrary_policy(), 0..6),
                requested in scope_set(),
                registered in scope_set(),
                with_email in any::<bool>(),
                approved in any::<bool>(),
            ) {
                let policies: Vec<Policy> = definitions
                    .into_iter()
                    .enumerate()
                    .map(|(i, definition)| Policy { id: format!("p{i}"), definition })
                    .collect();
                let mut claims = Map::new();
                if with_email {
                    claims.insert("email".into(), json!("bob@example.com"));
                }
                let decision = decide(&policies, &DecisionRequest {
                    client_id: "app",
                    subject: "bob",
                    claims: &claims,
                    requested_scopes: &requested,
                    registered_scopes: &registered,
                    owner_approved: approved,
                    now: 0,
                });
                match decision {
                    Decision::Permit { scopes, policies: deciding } | Decision::Pending { scopes, policies: deciding } => {
                        prop_assert!(!scopes.is_empty());
                        for s in &scopes {
                            prop_assert!(requested.contains(s) && registered.contains(s));
                        }
                        prop_assert!(!deciding.is_empty(), "a grant names its policies");
                        for id in &deciding {
                            let p = policies.iter().find(|p| &p.id == id).unwrap();
                            prop_assert_eq!(p.definition.effect, Effect::Permit);
                        }
                    }
                    Decision::Deny { policies: deciding } => {
                        for id in &deciding {
                            let p = policies.iter().find(|p| &p.id == id).unwrap();
                            prop_assert_eq!(p.definition.effect, Effect::Deny);
                        }
                    }
                    Decision::NeedClaims { claims: needed, .. } => {
                        prop_assert!(!with_email);
                        prop_assert_eq!(needed, vec!["email".to_string()]);
                    }
                }
            }

            #[test]
            fn without_policies_everything_is_denied(requested in scope_set(), registered in scope_set()) {
                let decision = decide(&[], &DecisionRequest {
                    client_id: "app",
                    subject: "bob",
                    claims: &Map::new(),
                    requested_scopes: &requested,
                    registered_scopes: &registered,
                    owner_approved: true,
                    now: 0,
                });
                prop_assert_eq!(decision, Decision::Deny { policies: vec![] });
            }
        }
    }
}
