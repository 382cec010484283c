//! Enforcement for service meshes (Envoy `ext_authz`): how a resource
//! server's HTTP surface maps to its resource sets and scopes, and the UMA
//! challenges an enforcement point sends back (digest §5).
//!
//! A resource set may carry `uris`: path patterns, segment by segment, where
//! `*` stands for exactly one segment and a final `**` for any number
//! (including none): `/albums/*/photos/**`. A resource server's
//! [`EnforcementProfile`] names the hosts it serves and which scopes each
//! HTTP method needs. Matching prefers the most literal pattern: at each
//! segment a literal beats `*`, which beats `**`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::Error;

/// Most patterns one resource set may carry.
pub const MAX_URIS: usize = 64;
/// Most hosts one resource server may claim.
pub const MAX_HOSTS: usize = 64;
/// Longest pattern or host accepted.
const MAX_TEXT: usize = 1024;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: the rest of the path, possibly empty (last segment only).
    Rest,
}

/// A validated path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    text: String,
    segments: Vec<Segment>,
}

impl UriPattern {
    /// Parses `/a/*/b/**`: absolute, no query or fragment, `**` only last.
    pub fn parse(text: &str) -> Result<UriPattern, Error> {
        let bad =
            |why: &str| Error::invalid_request(format!("uri pattern `{}`: {why}", clip(text)));
        if text.len() > MAX_TEXT {
            return Err(bad("too long"));
        }
        if !text.starts_with('/') {
            return Err(bad("must start with `/`"));
        }
        if text.contains(['?', '#']) || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must be a path without query, fragment or spaces"));
        }
        let parts: Vec<&str> = split_path(text).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "*" => Segment::One,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(bad("`**` may only be the last segment")),
                p if p.contains('*') => return Err(bad("`*` must be a whole segment")),
                p => Segment::Literal(p.to_string()),
            });
        }
        Ok(UriPattern {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Non-empty segments of a path (`//` and a trailing `/` do not count).
fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// Parses the `uris` member of a resource set description, if present.
pub fn parse_uris(value: Option<&serde_json::Value>) -> Result<Vec<UriPattern>, Error> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| Error::invalid_request("`uris` must be an array of path patterns"))?;
    if items.len() > MAX_URIS {
        return Err(Error::invalid_request(format!(
            "`uris` may list at most {MAX_URIS} patterns"
        )));
    }
    items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| Error::invalid_request("`uris` must be an array of path patterns"))
                .and_then(UriPattern::parse)
        })
        .collect()
}

/// Where a path leads: a resource set of some owner in the resource server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SetRef {
    pub owner: String,
    pub resource_set_id: String,
}

/// The patterns of one resource server's sets, for matching paths.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PathIndex {
    root: Node,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Node {
    literal: HashMap<String, Node>,
    one: Option<Box<Node>>,
    /// Sets whose pattern ends here with `**`.
    rest: Vec<SetRef>,
    /// Sets whose pattern ends exactly here.
    here: Vec<SetRef>,
}

impl PathIndex {
    /// Adds `set` under `pattern`.
    pub fn insert(&mut self, pattern: &UriPattern, set: SetRef) {
        let mut node = &mut self.root;
        for segment in &pattern.segments {
            match segment {
                Segment::Literal(s) => node = node.literal.entry(s.clone()).or_default(),
                Segment::One => node = node.one.get_or_insert_with(Box::default),
                Segment::Rest => {
                    insert_sorted(&mut node.rest, set);
                    return;
                }
            }
        }
        insert_sorted(&mut node.here, set);
    }

    /// The set `path` belongs to (query string ignored), most literal
    /// pattern first; of equally literal ones the first by (owner, id).
    pub fn lookup(&self, path: &str) -> Option<&SetRef> {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let segments: Vec<&str> = split_path(path).collect();
        find(&self.root, &segments)
    }
}

fn insert_sorted(sets: &mut Vec<SetRef>, set: SetRef) {
    if let Err(at) = sets.binary_search(&set) {
        sets.insert(at, set);
    }
}

fn find<'a>(node: &'a Node, segments: &[&str]) -> Option<&'a SetRef> {
    let Some((first, rest)) = segments.split_first() else {
        return node.here.first().or_else(|| node.rest.first());
    };
    if let Some(found) = node.literal.get(*first).and_then(|n| find(n, rest)) {
        return Some(found);
    }
    if let Some(found) = node.one.as_deref().and_then(|n| find(n, rest)) {
        return Some(found);
    }
    node.rest.first()
}

/// The names of the headers Steward adds for the upstream on an allowed
/// request. Never the RPT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamHeaders {
    #[serde(default = "default_subject_header")]
    pub subject: String,
    #[serde(default = "default_client_header")]
    pub client: String,
    #[serde(default = "default_scopes_header")]
    pub scopes: String,
}

fn default_subject_header() -> String {
    "x-steward-subject".into()
}
fn default_client_header() -> String {
    "x-steward-client".into()
}
fn default_scopes_header() -> String {
    "x-steward-scopes".into()
}

impl Default for UpstreamHeaders {
    fn default() -> Self {
        UpstreamHeaders {
            subject: default_subject_header(),
            client: default_client_header(),
            scopes: default_scopes_header(),
        }
    }
}

/// What a resource server tells Steward about its HTTP surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementProfile {
    /// Hosts (`photoz.example.com`, optionally with a port) whose requests
    /// are this resource server's.
    pub hosts: Vec<String>,
    /// The scopes an HTTP method needs (`{"GET": ["view"]}`). A method not
    /// listed is not allowed through.
    pub methods: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub upstream_headers: UpstreamHeaders,
}

impl EnforcementProfile {
    /// Validates and normalises (hosts lower-case, methods upper-case).
    pub fn validate(mut self) -> Result<EnforcementProfile, Error> {
        if self.hosts.is_empty() || self.hosts.len() > MAX_HOSTS {
            return Err(Error::invalid_request(format!(
                "`hosts` must list between 1 and {MAX_HOSTS} hosts"
            )));
        }
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for host in &self.hosts {
            let normal = normalize_host(host);
            let valid = !normal.is_empty()
                && normal.len() <= MAX_TEXT
                && normal
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !valid {
                return Err(Error::invalid_request(format!(
                    "host `{}` is not a host name",
                    clip(host)
                )));
            }
            if !hosts.contains(&normal) {
                hosts.push(normal);
            }
        }
        self.hosts = hosts;
        if self.methods.is_empty() {
            return Err(Error::invalid_request(
                "`methods` must map at least one HTTP method to scopes",
            ));
        }
        let mut methods = BTreeMap::new();
        for (method, scopes) in self.methods {
            let upper = method.to_ascii_uppercase();
            if upper.is_empty()
                || upper.len() > 32
                || !upper.chars().all(|c| c.is_ascii_uppercase())
            {
                return Err(Error::invalid_request(format!(
                    "`{}` is not an HTTP method",
                    clip(&method)
                )));
            }
            if scopes.is_empty()
                || scopes
                    .iter()
                    .any(|s| s.is_empty() || s.chars().any(char::is_whitespace))
            {
                return Err(Error::invalid_request(format!(
                    "method {upper} needs at least one scope, without whitespace"
                )));
            }
            methods.insert(upper, scopes);
        }
        self.methods = methods;
        for name in [
            &self.upstream_headers.subject,
            &self.upstream_headers.client,
            &self.upstream_headers.scopes,
        ] {
            let valid = !name.is_empty()
                && name.len() <= 128
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !name.eq_ignore_ascii_case("authorization");
            if !valid {
                return Err(Error::invalid_request(format!(
                    "`{}` is not a usable header name",
                    clip(name)
                )));
            }
        }
        Ok(self)
    }

    /// The scopes `method` needs, if it is allowed at all.
    pub fn scopes_for(&self, method: &str) -> Option<&[String]> {
        self.methods
            .get(&method.to_ascii_uppercase())
            .map(Vec::as_slice)
    }
}

/// A host as matched: lower-case, without a trailing dot; a default port
/// is not stripped (a profile may list `host:8443` on purpose), so lookups
/// try the host with its port first, then without.
pub fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The host without its `:port`, if it has one (IPv6 literals keep their brackets).
pub fn host_without_port(host: &str) -> Option<&str> {
    let (name, port) = host.rsplit_once(':')?;
    let bracketed_v6 = host.starts_with('[') && name.ends_with(']');
    let plain = !name.contains(':');
    (port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() && (bracketed_v6 || plain))
        .then_some(name)
}

/// Quotes a `WWW-Authenticate` parameter value (RFC 9110 quoted-string).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `WWW-Authenticate: UMA realm=…, host_id=…, as_uri=…` — draft-06 §3.1.1.
pub fn uma_challenge(realm: &str, host_id: &str, as_uri: &str) -> String {
    format!(
        "UMA realm={}, host_id={}, as_uri={}",
        quoted(realm),
        quoted(host_id),
        quoted(as_uri)
    )
}

/// The 403 challenge with the ticket (UMA 1.0's header form) and
/// `error="insufficient_scope"` (draft-06's body carries the ticket too).
pub fn insufficient_challenge(realm: &str, host_id: &str, as_uri: &str, ticket: &str) -> String {
    format!(
        "{}, ticket={}, error=\"insufficient_scope\"",
        uma_challenge(realm, host_id, as_uri),
        quoted(ticket)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: &str) -> SetRef {
        SetRef {
            owner: "alice".into(),
            resource_set_id: id.into(),
        }
    }

    fn index(patterns: &[(&str, &str)]) -> PathIndex {
        let mut index = PathIndex::default();
        for (pattern, id) in patterns {
            index.insert(&UriPattern::parse(pattern).unwrap(), set(id));
        }
        index
    }

    #[test]
    fn patterns_are_checked() {
        for good in ["/", "/albums", "/albums/*", "/albums/*/photos/**", "/a//b/"] {
            assert!(UriPattern::parse(good).is_ok(), "{good}");
        }
        for bad in ["albums", "/a?x=1", "/a#f", "/a/**/b", "/al*", "/a b", ""] {
            assert!(UriPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(UriPattern::parse(&format!("/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn the_most_literal_pattern_wins() {
        let index = index(&[
            ("/albums/**", "all-albums"),
            ("/albums/*", "one-album"),
            ("/albums/holiday", "holiday"),
            ("/albums/*/photos/**", "photos"),
            ("/", "root"),
        ]);
        let at = |path: &str| index.lookup(path).map(|s| s.resource_set_id.as_str());
        assert_eq!(at("/albums/holiday"), Some("holiday"));
        assert_eq!(
            at("/albums/holiday/"),
            Some("holiday"),
            "a trailing slash does not count"
        );
        assert_eq!(at("/albums/paris"), Some("one-album"));
        assert_eq!(at("/albums/paris/photos/1.jpg"), Some("photos"));
        assert_eq!(
            at("/albums/paris/photos"),
            Some("photos"),
            "`**` matches nothing too"
        );
        assert_eq!(at("/albums/paris/other"), Some("all-albums"));
        assert_eq!(at("/albums"), Some("all-albums"));
        assert_eq!(
            at("/albums/holiday?x=1"),
            Some("holiday"),
            "the query is ignored"
        );
        assert_eq!(at("/"), Some("root"));
        assert_eq!(at("/elsewhere"), None);
    }

    #[test]
    fn equally_literal_patterns_resolve_by_owner_then_id() {
        let mut index = PathIndex::default();
        let pattern = UriPattern::parse("/shared").unwrap();
        index.insert(
            &pattern,
            SetRef {
                owner: "bob".into(),
                resource_set_id: "a".into(),
            },
        );
        index.insert(&pattern, set("z"));
        assert_eq!(index.lookup("/shared"), Some(&set("z")), "alice before bob");
    }

    #[test]
    fn uris_members_are_validated() {
        use serde_json::json;
        assert_eq!(parse_uris(None).unwrap(), vec![]);
        assert_eq!(parse_uris(Some(&json!(["/a", "/b/*"]))).unwrap().len(), 2);
        assert!(parse_uris(Some(&json!("/a"))).is_err());
        assert!(parse_uris(Some(&json!([1]))).is_err());
        assert!(parse_uris(Some(&json!(["nope"]))).is_err());
        let many: Vec<String> = (0..=MAX_URIS).map(|i| format!("/{i}")).collect();
        assert!(parse_uris(Some(&json!(many))).is_err());
    }

    #[test]
    fn profiles_are_validated_and_normalised() {
        let profile: EnforcementProfile = serde_json::from_value(serde_json::json!({
            "hosts": ["Photoz.Example.com.", "photoz.example.com", "api.example.com:8443"],
            "methods": {"get": ["view"], "POST": ["edit"]}
        }))
        .unwrap();
        let profile = profile.validate().unwrap();
        assert_eq!(
            profile.hosts,
            vec!["photoz.example.com", "api.example.com:8443"]
        );
        assert_eq!(profile.scopes_for("get"), Some(&["view".to_string()][..]));
        assert_eq!(profile.scopes_for("DELETE"), None);
        assert_eq!(profile.upstream_headers, UpstreamHeaders::default());

        let base = || EnforcementProfile {
            hosts: vec!["a.example".into()],
            methods: BTreeMap::from([("GET".into(), vec!["view".into()])]),
            upstream_headers: UpstreamHeaders::default(),
        };
        let mut no_hosts = base();
        no_hosts.hosts.clear();
        let mut bad_host = base();
        bad_host.hosts = vec!["a b".into()];
        let mut no_methods = base();
        no_methods.methods.clear();
        let mut bad_method = base();
        bad_method.methods = BTreeMap::from([("G3T".into(), vec!["view".into()])]);
        let mut no_scopes = base();
        no_scopes.methods = BTreeMap::from([("GET".into(), vec![])]);
        let mut rpt_header = base();
        rpt_header.upstream_headers.subject = "Authorization".into();
        for bad in [
            no_hosts, bad_host, no_methods, bad_method, no_scopes, rpt_header,
        ] {
            assert!(bad.clone().validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_lose_their_port_for_the_second_lookup() {
        assert_eq!(
            host_without_port("photoz.example.com:8080"),
            Some("photoz.example.com")
        );
        assert_eq!(host_without_port("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_without_port("photoz.example.com"), None);
        assert_eq!(host_without_port("[::1]"), None);
        assert_eq!(host_without_port("a:b"), None);
    }

    #[test]
    fn challenges_quote_their_values() {
        assert_eq!(
            uma_challenge("steward", "photoz.example.com", "https://as.example.com"),
            r#"UMA realm="steward", host_id="photoz.example.com", as_uri="https://as.example.com""#
        );
        assert_eq!(
            insufficient_challenge("r", "h\"x", "https://as", "t1"),
            r#"UMA realm="r", host_id="h\"x", as_uri="https://as", ticket="t1", error="insufficient_scope""#
        );
    }
}
