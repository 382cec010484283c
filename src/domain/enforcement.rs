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
//!
//! Envoy hands `Check` the request-target exactly as the client sent it, so
//! patterns and paths are compared in one normal form ([`normalize_path`]):
//! segments percent-decoded once, empty segments merged, and everything an
//! upstream could read differently from us (dot segments, encoded `/`,
//! `\`, `;` parameters, double encoding…) refused rather than guessed.
//! Hosts have one normal form too ([`super::host`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::Error;
use super::host::{Authority, parse_authority};
use super::identifier;

/// Most patterns one resource set may carry.
pub const MAX_URIS: usize = 64;
/// Most hosts one resource server may claim.
pub const MAX_HOSTS: usize = 64;
/// Longest pattern accepted.
const MAX_TEXT: usize = 1024;
/// Longest request-target looked at (8 KiB); a longer one is refused.
pub const MAX_PATH: usize = 8 * 1024;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: the rest of the path, possibly empty (last segment only).
    Rest,
}

/// A validated path pattern, its literal segments in the normal form of
/// [`normalize_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    text: String,
    segments: Vec<Segment>,
}

impl UriPattern {
    /// Parses `/a/*/b/**`: absolute, no query or fragment, `**` only last,
    /// literal segments percent-decoded once and refused when a request
    /// path like them would be (dot segments, `%2F`, `;`, …).
    pub fn parse(text: &str) -> Result<UriPattern, Error> {
        let bad =
            |why: &str| Error::invalid_request(format!("uri pattern `{}`: {why}", clip(text)));
        if text.len() > MAX_TEXT {
            return Err(bad("too long"));
        }
        if !text.starts_with('/') {
            return Err(bad("must start with `/`"));
        }
        if text.contains('?') {
            return Err(bad("must be a path without a query"));
        }
        // Raw non-ASCII is fine in a JSON document; it means its UTF-8.
        check_raw(text, true).map_err(bad)?;
        let parts: Vec<&str> = split_path(text).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "*" => Segment::One,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(bad("`**` may only be the last segment")),
                p if p.contains('*') => return Err(bad("`*` must be a whole segment")),
                p => Segment::Literal(decode_segment(p).map_err(bad)?),
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

fn ambiguous(why: &str) -> Error {
    Error::invalid_request(format!("the request path is refused: {why}"))
}

/// The request path as an upstream serves it: the decoded segments that
/// patterns are matched against, or a refusal (`invalid_request`) when
/// upstreams could read it differently from each other or from us.
///
/// The request-target must be origin-form (`/…`; not `*`, not absolute,
/// not empty, not `//…`, which URL parsers read as a host) and at most
/// [`MAX_PATH`] bytes. The query is cut at the first `?`. Refused: `#`,
/// raw `\`, `;` (path parameters: Tomcat and Spring serve `/admin;x` as
/// `/admin`), whitespace, control and raw non-ASCII characters; malformed
/// percent-escapes, escapes of `/`, `\`, `;` or control bytes, escapes
/// that are not UTF-8, a segment that still holds an escape once decoded
/// (double encoding); and every dot segment (`.`, `..`, `%2e%2e`, `.%2E`…).
/// Dot segments are refused rather than resolved (RFC 3986 §5.2.4) because
/// upstreams disagree about them: nginx, Go and Envoy's `normalize_path`
/// resolve them, routers that match the raw path (Express and many others)
/// do not, and for the latter `/a1/../b2` is under `a1`. Browsers and HTTP
/// libraries resolve them before sending, and Envoy's `normalize_path`
/// does before `ext_authz`, so only hand-made requests carry them.
///
/// Otherwise every segment is percent-decoded once, and empty segments
/// (`//`, a trailing `/`) are dropped. With `case_insensitive` (for
/// upstreams that ignore case, like IIS) segments are lower-cased, and a
/// segment ending in `.` or a space (which Windows drops) is refused.
pub fn normalize_path(target: &str, case_insensitive: bool) -> Result<Vec<String>, Error> {
    if target.len() > MAX_PATH {
        return Err(ambiguous("it is longer than 8 KiB"));
    }
    if !target.starts_with('/') {
        return Err(ambiguous("it must be an absolute path starting with `/`"));
    }
    if target.starts_with("//") {
        return Err(ambiguous("it must not start with `//`"));
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    check_raw(path, false).map_err(ambiguous)?;
    let mut segments = Vec::new();
    for raw in split_path(path) {
        let segment = decode_segment(raw).map_err(ambiguous)?;
        if case_insensitive {
            if segment.ends_with(['.', ' ']) {
                return Err(ambiguous(
                    "a segment ends in `.` or a space, which Windows upstreams drop",
                ));
            }
            segments.push(segment.to_lowercase());
        } else {
            segments.push(segment);
        }
    }
    Ok(segments)
}

/// Characters refused before decoding, in paths and patterns alike.
fn check_raw(text: &str, allow_non_ascii: bool) -> Result<(), &'static str> {
    for c in text.chars() {
        match c {
            '#' => return Err("a fragment (`#`) is not part of a path"),
            '\\' => return Err("a backslash is read as `/` by some servers"),
            ';' => return Err("`;` path parameters are stripped by some servers"),
            c if c.is_whitespace() || c.is_control() => {
                return Err("whitespace or control characters");
            }
            c if !c.is_ascii() && !allow_non_ascii => {
                return Err("raw non-ASCII characters (percent-encode them)");
            }
            _ => {}
        }
    }
    Ok(())
}

/// One segment percent-decoded once, or why it cannot be.
fn decode_segment(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).and_then(|h| hex(*h)),
            bytes.get(i + 2).and_then(|l| hex(*l)),
        ) else {
            return Err("a malformed percent-escape");
        };
        let decoded = high * 16 + low;
        match decoded {
            b'/' | b'\\' => return Err("an encoded `/` or `\\` (`%2F`, `%5C`)"),
            b';' => return Err("an encoded `;` (`%3B`)"),
            0x00..=0x1f | 0x7f => return Err("an encoded control character"),
            _ => out.push(decoded),
        }
        i += 3;
    }
    let segment = String::from_utf8(out).map_err(|_| "percent-escapes that are not UTF-8")?;
    if segment.chars().any(char::is_control) {
        return Err("an encoded control character");
    }
    if holds_escape(&segment) {
        return Err("double percent-encoding (`%25XX`)");
    }
    if segment == "." || segment == ".." {
        return Err("a dot segment (`.` or `..`, encoded or not)");
    }
    Ok(segment)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `text` contains a `%XX` escape.
fn holds_escape(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| matches!(w, [b'%', h, l] if hex(*h).is_some() && hex(*l).is_some()))
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
    case_insensitive: bool,
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

impl Node {
    fn approximate_bytes(&self) -> usize {
        let sets = |sets: &[SetRef]| {
            sets.iter()
                .map(|s| s.owner.len() + s.resource_set_id.len() + 48)
                .sum::<usize>()
        };
        96 + self
            .literal
            .iter()
            .map(|(segment, node)| segment.len() + 32 + node.approximate_bytes())
            .sum::<usize>()
            + self.one.as_ref().map_or(0, |node| node.approximate_bytes())
            + sets(&self.rest)
            + sets(&self.here)
    }
}

impl PathIndex {
    /// An estimate of the memory the index holds (caches bound themselves by it).
    pub fn approximate_bytes(&self) -> usize {
        self.root.approximate_bytes()
    }

    /// An empty index; `case_insensitive` lower-cases the patterns' literal
    /// segments, to be matched against paths normalised the same way.
    pub fn new(case_insensitive: bool) -> PathIndex {
        PathIndex {
            root: Node::default(),
            case_insensitive,
        }
    }

    /// Whether literals were lower-cased ([`normalize_path`] must be told the same).
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Adds `set` under `pattern`.
    pub fn insert(&mut self, pattern: &UriPattern, set: SetRef) {
        let mut node = &mut self.root;
        for segment in &pattern.segments {
            match segment {
                Segment::Literal(s) => {
                    let key = if self.case_insensitive {
                        s.to_lowercase()
                    } else {
                        s.clone()
                    };
                    node = node.literal.entry(key).or_default();
                }
                Segment::One => node = node.one.get_or_insert_with(Box::default),
                Segment::Rest => {
                    insert_sorted(&mut node.rest, set);
                    return;
                }
            }
        }
        insert_sorted(&mut node.here, set);
    }

    /// The set a path belongs to, given its segments from [`normalize_path`]
    /// (with this index's case rule), most literal pattern first; of equally
    /// literal ones the first by (owner, id).
    pub fn lookup(&self, segments: &[String]) -> Option<&SetRef> {
        find(&self.root, segments)
    }
}

fn insert_sorted(sets: &mut Vec<SetRef>, set: SetRef) {
    if let Err(at) = sets.binary_search(&set) {
        sets.insert(at, set);
    }
}

/// Each trie node sits at one depth, so a lookup visits every node at most
/// once (no exponential backtracking whatever the patterns).
fn find<'a>(node: &'a Node, segments: &[String]) -> Option<&'a SetRef> {
    let Some((first, rest)) = segments.split_first() else {
        return node.here.first().or_else(|| node.rest.first());
    };
    if let Some(found) = node.literal.get(first).and_then(|n| find(n, rest)) {
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

impl UpstreamHeaders {
    /// The three names (subject, client, scopes).
    pub fn names(&self) -> [&str; 3] {
        [&self.subject, &self.client, &self.scopes]
    }
}

/// Header names a profile may not use for identity: the RPT's, and those
/// that frame or route the request.
const RESERVED_HEADERS: [&str; 8] = [
    "authorization",
    "proxy-authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];

/// The identity headers an OK answer must remove from the request before
/// Envoy forwards it, so that the upstream never trusts a value the client
/// made up: the profile's names (when the host has a profile) and always
/// the three default `x-steward-*` names — except those the answer itself
/// sets (Envoy removes after it sets; setting already overwrites them).
pub fn identity_headers_to_remove(profile: Option<&UpstreamHeaders>, setting: bool) -> Vec<String> {
    let defaults = UpstreamHeaders::default();
    let set: Vec<&str> = match (profile, setting) {
        (Some(headers), true) => headers.names().to_vec(),
        _ => Vec::new(),
    };
    let mut names: Vec<String> = Vec::with_capacity(6);
    let candidates = profile
        .filter(|_| !setting)
        .map(UpstreamHeaders::names)
        .into_iter()
        .flatten()
        .chain(defaults.names());
    for name in candidates {
        let name = name.to_ascii_lowercase();
        if !set.iter().any(|s| s.eq_ignore_ascii_case(&name)) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// What an enforcement point answers for a request no enforcement profile
/// covers (unknown host, unlisted port, unmapped method, no matching
/// resource set): an operator's choice, applied by the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// 403: only what a resource server described is let through.
    #[default]
    Deny,
    /// Let it through untouched but for identity headers (Steward guards
    /// only what is described).
    Allow,
}

/// What a resource server tells Steward about its HTTP surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnforcementProfile {
    /// Hosts whose requests are this resource server's, in the normal form
    /// of [`parse_authority`]. A host is claimed whole, on every port (no
    /// other resource server may list it, with any port); an entry with a
    /// port (`photoz.example.com:8443`) restricts which ports this profile
    /// decides, an entry without one serves them all.
    pub hosts: Vec<String>,
    /// The scopes an HTTP method needs (`{"GET": ["view"]}`). A method not
    /// listed is not allowed through.
    pub methods: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub upstream_headers: UpstreamHeaders,
    /// Compare paths and patterns lower-cased, for upstreams that ignore
    /// case (IIS, Windows file systems): there `/ALBUMS/b2` is `/albums/b2`.
    #[serde(default)]
    pub case_insensitive_paths: bool,
}

impl EnforcementProfile {
    /// Validates and normalises (hosts to their normal form, methods
    /// upper-case, header names lower-case).
    pub fn validate(mut self) -> Result<EnforcementProfile, Error> {
        if self.hosts.is_empty() || self.hosts.len() > MAX_HOSTS {
            return Err(Error::invalid_request(format!(
                "`hosts` must list between 1 and {MAX_HOSTS} hosts"
            )));
        }
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for host in &self.hosts {
            let normal = parse_authority(host)
                .map_err(|e| {
                    Error::invalid_request(format!("host `{}` is refused: {e}", clip(host)))
                })?
                .to_string();
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
            identifier::scopes(&format!("methods.{upper}"), &scopes)?;
            if methods.insert(upper.clone(), scopes).is_some() {
                return Err(Error::invalid_request(format!(
                    "method {upper} is listed twice (methods are case-insensitive)"
                )));
            }
        }
        self.methods = methods;
        let headers = &mut self.upstream_headers;
        for name in [
            &mut headers.subject,
            &mut headers.client,
            &mut headers.scopes,
        ] {
            let valid = !name.is_empty()
                && name.len() <= 128
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !RESERVED_HEADERS
                    .iter()
                    .any(|r| name.eq_ignore_ascii_case(r));
            if !valid {
                return Err(Error::invalid_request(format!(
                    "`{}` is not a usable header name",
                    clip(name)
                )));
            }
            name.make_ascii_lowercase();
        }
        let [subject, client, scopes] = headers.names();
        if subject == client || subject == scopes || client == scopes {
            return Err(Error::invalid_request(
                "`upstream_headers` must name three different headers",
            ));
        }
        Ok(self)
    }

    /// The scopes `method` needs, if it is allowed at all.
    pub fn scopes_for(&self, method: &str) -> Option<&[String]> {
        self.methods
            .get(&method.to_ascii_uppercase())
            .map(Vec::as_slice)
    }

    /// The bare hosts this profile claims (each once, whatever its ports).
    pub fn claims(&self) -> Vec<String> {
        let mut claims: Vec<String> = Vec::with_capacity(self.hosts.len());
        for entry in &self.hosts {
            if let Ok(authority) = parse_authority(entry)
                && !claims.contains(&authority.host)
            {
                claims.push(authority.host);
            }
        }
        claims
    }

    /// The entry that makes this profile decide requests to `host` (normal
    /// form) on `port` (explicit, or the scheme's default): `host` itself,
    /// which serves every port, or `host:port`.
    pub fn entry_for(&self, host: &str, port: Option<u16>) -> Option<&str> {
        self.hosts
            .iter()
            .find(|entry| {
                entry.strip_prefix(host).is_some_and(|rest| {
                    rest.is_empty()
                        || (rest.strip_prefix(':'))
                            .zip(port)
                            .is_some_and(|(listed, port)| listed.parse() == Ok(port))
                })
            })
            .map(String::as_str)
    }
}

/// The one authority of a request, from every value it gives for it
/// (Envoy's `HttpRequest.host`, the `:authority` and `host` headers): all
/// must parse and agree, else the request is refused (`invalid_request`).
pub fn request_authority(values: &[&str]) -> Result<Authority, Error> {
    let refuse =
        |why: String| Error::invalid_request(format!("the request authority is refused: {why}"));
    let mut found: Option<Authority> = None;
    for value in values {
        let authority = parse_authority(value).map_err(|e| refuse(e.to_string()))?;
        match &found {
            Some(first) if *first != authority => {
                return Err(refuse(
                    "`:authority` and `host` name different hosts".into(),
                ));
            }
            Some(_) => {}
            None => found = Some(authority),
        }
    }
    found.ok_or_else(|| refuse("the request names no host".into()))
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
    use proptest::prelude::*;

    use super::*;

    fn set(id: &str) -> SetRef {
        SetRef {
            owner: "alice".into(),
            resource_set_id: id.into(),
        }
    }

    fn index_with(case_insensitive: bool, patterns: &[(&str, &str)]) -> PathIndex {
        let mut index = PathIndex::new(case_insensitive);
        for (pattern, id) in patterns {
            index.insert(&UriPattern::parse(pattern).unwrap(), set(id));
        }
        index
    }

    fn index(patterns: &[(&str, &str)]) -> PathIndex {
        index_with(false, patterns)
    }

    /// The set a raw request-target reaches, or the refusal.
    fn at(index: &PathIndex, target: &str) -> Result<Option<String>, Error> {
        let segments = normalize_path(target, index.case_insensitive())?;
        Ok(index.lookup(&segments).map(|s| s.resource_set_id.clone()))
    }

    fn segments(target: &str) -> Vec<String> {
        normalize_path(target, false).unwrap()
    }

    #[test]
    fn patterns_are_checked() {
        for good in [
            "/",
            "/albums",
            "/albums/*",
            "/albums/*/photos/**",
            "/a//b/",
            "/caf%C3%A9",
            "/café",
            "/100%25",
        ] {
            assert!(UriPattern::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "albums",
            "/a?x=1",
            "/a#f",
            "/a/**/b",
            "/al*",
            "/a b",
            "",
            "/a/../b",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a/.%2E",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
            "/a;v=1",
            "/a%3Bv=1",
            "/a%252e",
            "/a%zz",
            "/a%2",
            "/a%00",
            "/a%C3",
        ] {
            let error = UriPattern::parse(bad).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{bad}");
        }
        assert!(UriPattern::parse(&format!("/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn paths_are_decoded_once_and_merged() {
        assert_eq!(segments("/albums/a1/p.jpg"), ["albums", "a1", "p.jpg"]);
        assert_eq!(segments("/alb%75ms/a1"), ["albums", "a1"]);
        assert_eq!(segments("/albums//a1///p.jpg/"), ["albums", "a1", "p.jpg"]);
        assert_eq!(segments("/albums/a1?x=../../b2;y#z"), ["albums", "a1"]);
        assert_eq!(segments("/my%20photo.jpg"), ["my photo.jpg"]);
        assert_eq!(segments("/caf%C3%A9"), ["café"]);
        assert_eq!(segments("/100%25"), ["100%"]);
        assert_eq!(segments("/q%3Fa%23b"), ["q?a#b"]);
        assert_eq!(segments("/...hidden/..."), ["...hidden", "..."]);
        assert_eq!(segments("/"), Vec::<String>::new());
        assert_eq!(segments("/?a"), Vec::<String>::new());
        assert_eq!(segments("/Albums"), ["Albums"], "case is kept by default");
        assert_eq!(
            normalize_path("/ALB%55MS/A1", true).unwrap(),
            ["albums", "a1"]
        );
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "",
            "*",
            "albums/a1",
            "http://photoz.example.com/albums/a1",
            "//evil.example/albums",
            "/albums/a1/../b2/secret.jpg",
            "/albums/a1/./../b2",
            "/albums/a1/%2e%2e/b2",
            "/albums/a1/%2E%2E/b2",
            "/albums/a1/.%2e/b2",
            "/albums/a1/%2e./b2",
            "/albums/a1/%2e/b2",
            "/albums/a1/..",
            "/albums/a1/.",
            "/..",
            "/albums/a1%2F..%2Fb2",
            "/albums/a1%2f..%2fb2",
            "/albums/a1%5C..%5Cb2",
            "/albums/a1%5c..",
            "/albums/a1\\..\\b2",
            "/admin;x",
            "/albums;jsessionid=1/a1",
            "/admin%3bx",
            "/albums/a1/%252e%252e/b2",
            "/albums/%2541",
            "/albums/%zz",
            "/albums/%4",
            "/albums/%",
            "/albums/%00",
            "/albums/%1f",
            "/albums/%7F",
            "/albums/%C2%85",
            "/albums/%C3",
            "/albums/%FF",
            "/albums/a1#frag",
            "/albums/a 1",
            "/albums/a1\t",
            "/albums/a1\n",
            "/albums/café",
        ] {
            let error = normalize_path(bad, false).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{bad:?}");
        }
        assert!(normalize_path(&format!("/{}", "a".repeat(MAX_PATH)), false).is_err());
        assert!(normalize_path(&format!("/{}", "a/".repeat(4000)), false).is_ok());
        // What Windows drops is refused where paths ignore case.
        assert!(normalize_path("/secret.jpg.", true).is_err());
        assert!(normalize_path("/secret.jpg%20", true).is_err());
        assert!(normalize_path("/secret.jpg.", false).is_ok());
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
        let at = |path: &str| at(&index, path).unwrap();
        assert_eq!(at("/albums/holiday").as_deref(), Some("holiday"));
        assert_eq!(
            at("/albums/holiday/").as_deref(),
            Some("holiday"),
            "a trailing slash does not count"
        );
        assert_eq!(at("/albums/paris").as_deref(), Some("one-album"));
        assert_eq!(at("/albums/paris/photos/1.jpg").as_deref(), Some("photos"));
        assert_eq!(
            at("/albums/paris/photos").as_deref(),
            Some("photos"),
            "`**` matches nothing too"
        );
        assert_eq!(at("/albums/paris/other").as_deref(), Some("all-albums"));
        assert_eq!(at("/albums").as_deref(), Some("all-albums"));
        assert_eq!(
            at("/albums/holiday?x=1").as_deref(),
            Some("holiday"),
            "the query is ignored"
        );
        assert_eq!(at("/").as_deref(), Some("root"));
        assert_eq!(at("/elsewhere"), None);
    }

    #[test]
    fn patterns_and_paths_share_one_normal_form() {
        let index = index(&[("/albums/a1/**", "a1"), ("/alb%75ms/b2/**", "b2")]);
        assert_eq!(
            at(&index, "/alb%75ms/a1/p.jpg").unwrap().as_deref(),
            Some("a1")
        );
        assert_eq!(
            at(&index, "/albums/b2/p.jpg").unwrap().as_deref(),
            Some("b2")
        );
        assert_eq!(
            at(&index, "/albums//b2//p.jpg").unwrap().as_deref(),
            Some("b2")
        );
        assert_eq!(
            at(&index, "/ALBUMS/b2/p.jpg").unwrap(),
            None,
            "case-sensitive"
        );
        assert!(at(&index, "/albums/a1/../b2/p.jpg").is_err());

        let folded = index_with(true, &[("/Albums/A1/**", "a1")]);
        assert_eq!(
            at(&folded, "/albums/a1/p.jpg").unwrap().as_deref(),
            Some("a1")
        );
        assert_eq!(
            at(&folded, "/ALBUMS/A1/P.JPG").unwrap().as_deref(),
            Some("a1")
        );
        assert_eq!(at(&folded, "/%41lbums/a1").unwrap().as_deref(), Some("a1"));
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
        assert_eq!(
            index.lookup(&segments("/shared")),
            Some(&set("z")),
            "alice before bob"
        );
    }

    #[test]
    fn uris_members_are_validated() {
        use serde_json::json;
        assert_eq!(parse_uris(None).unwrap(), vec![]);
        assert_eq!(parse_uris(Some(&json!(["/a", "/b/*"]))).unwrap().len(), 2);
        assert!(parse_uris(Some(&json!("/a"))).is_err());
        assert!(parse_uris(Some(&json!([1]))).is_err());
        assert!(parse_uris(Some(&json!(["nope"]))).is_err());
        assert!(parse_uris(Some(&json!(["/a/../b"]))).is_err());
        let many: Vec<String> = (0..=MAX_URIS).map(|i| format!("/{i}")).collect();
        assert!(parse_uris(Some(&json!(many))).is_err());
    }

    fn base() -> EnforcementProfile {
        EnforcementProfile {
            hosts: vec!["a.example".into()],
            methods: BTreeMap::from([("GET".into(), vec!["view".into()])]),
            upstream_headers: UpstreamHeaders::default(),
            case_insensitive_paths: false,
        }
    }

    #[test]
    fn profiles_are_validated_and_normalised() {
        let profile: EnforcementProfile = serde_json::from_value(serde_json::json!({
            "hosts": ["Photoz.Example.com.", "photoz.example.com", "api.example.com:8443",
                      "API.example.com.:8443", "[0:0::1]:8080", "bücher.example"],
            "methods": {"get": ["view"], "POST": ["edit"]},
            "upstream_headers": {"subject": "X-User"}
        }))
        .unwrap();
        let profile = profile.validate().unwrap();
        assert_eq!(
            profile.hosts,
            vec![
                "photoz.example.com",
                "api.example.com:8443",
                "[::1]:8080",
                "xn--bcher-kva.example"
            ]
        );
        assert_eq!(
            profile.claims(),
            vec![
                "photoz.example.com",
                "api.example.com",
                "[::1]",
                "xn--bcher-kva.example"
            ]
        );
        assert_eq!(profile.scopes_for("get"), Some(&["view".to_string()][..]));
        assert_eq!(profile.scopes_for("DELETE"), None);
        assert_eq!(profile.upstream_headers.subject, "x-user");
        assert!(!profile.case_insensitive_paths);

        let mut no_hosts = base();
        no_hosts.hosts.clear();
        let mut bad_host = base();
        bad_host.hosts = vec!["a b".into()];
        let mut userinfo = base();
        userinfo.hosts = vec!["me@a.example".into()];
        let mut port_zero = base();
        port_zero.hosts = vec!["a.example:0".into()];
        let mut no_methods = base();
        no_methods.methods.clear();
        let mut bad_method = base();
        bad_method.methods = BTreeMap::from([("G3T".into(), vec!["view".into()])]);
        let mut no_scopes = base();
        no_scopes.methods = BTreeMap::from([("GET".into(), vec![])]);
        let mut rpt_header = base();
        rpt_header.upstream_headers.subject = "Authorization".into();
        let mut host_header = base();
        host_header.upstream_headers.client = "Host".into();
        let mut same_twice = base();
        same_twice.upstream_headers.client = "X-Steward-Subject".into();
        for bad in [
            no_hosts,
            bad_host,
            userinfo,
            port_zero,
            no_methods,
            bad_method,
            no_scopes,
            rpt_header,
            host_header,
            same_twice,
        ] {
            assert!(bad.clone().validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_profile_entry_serves_its_host_on_its_ports() {
        let mut profile = base();
        profile.hosts = vec![
            "a.example".into(),
            "b.example:8443".into(),
            "[::1]:80".into(),
        ];
        let profile = profile.validate().unwrap();
        assert_eq!(profile.entry_for("a.example", None), Some("a.example"));
        assert_eq!(
            profile.entry_for("a.example", Some(8080)),
            Some("a.example")
        );
        assert_eq!(
            profile.entry_for("b.example", Some(8443)),
            Some("b.example:8443")
        );
        assert_eq!(profile.entry_for("b.example", Some(443)), None);
        assert_eq!(profile.entry_for("b.example", None), None);
        assert_eq!(profile.entry_for("[::1]", Some(80)), Some("[::1]:80"));
        assert_eq!(profile.entry_for("a.exampl", None), None);
        assert_eq!(profile.entry_for("a.example.org", None), None);
    }

    #[test]
    fn a_request_has_one_authority() {
        let one = request_authority(&["Photoz.example.com.:443"]).unwrap();
        assert_eq!(one.to_string(), "photoz.example.com:443");
        assert!(request_authority(&["a.example", "A.EXAMPLE."]).is_ok());
        for bad in [
            &[][..],
            &[""][..],
            &["a.example", "b.example"][..],
            &["a.example", "a.example:8080"][..],
            &["a.example,b.example"][..],
            &["a.example", "nope nope"][..],
        ] {
            let error = request_authority(bad).unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{bad:?}");
        }
    }

    #[test]
    fn identity_headers_are_always_removed_unless_set() {
        let custom = UpstreamHeaders {
            subject: "x-user".into(),
            ..UpstreamHeaders::default()
        };
        assert_eq!(
            identity_headers_to_remove(None, false),
            ["x-steward-subject", "x-steward-client", "x-steward-scopes"]
        );
        assert_eq!(
            identity_headers_to_remove(Some(&custom), false),
            [
                "x-user",
                "x-steward-client",
                "x-steward-scopes",
                "x-steward-subject"
            ]
        );
        assert_eq!(
            identity_headers_to_remove(Some(&custom), true),
            ["x-steward-subject"],
            "what the answer sets is overwritten, not removed after"
        );
        assert!(identity_headers_to_remove(Some(&UpstreamHeaders::default()), true).is_empty());
    }

    /// Percent-encodes all but the unreserved characters.
    fn encode(segment: &str) -> String {
        segment
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    proptest! {
        /// Whatever the client sends, a path that is not refused is in
        /// normal form: no dot segment, no empty segment, no `/`, `\`, `;`
        /// or control character, no escape left; normalising the
        /// re-encoded segments gives the same segments (idempotent); and
        /// the normal form matches only patterns that match it literally.
        #[test]
        fn normal_paths_hold_no_ambiguity(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("..".to_string()), Just(".".to_string()), Just("%2e".to_string()),
                    Just("%2E%2e".to_string()), Just("%2F".to_string()), Just("%5c".to_string()),
                    Just(";x".to_string()), Just("%25".to_string()), Just("%252e".to_string()),
                    Just("".to_string()), Just("a1".to_string()), Just("b2".to_string()),
                    Just("%61".to_string()), Just("%zz".to_string()), Just("%".to_string()),
                    "[a-zA-Z0-9._~%-]{0,6}",
                ],
                0..8,
            )
        ) {
            let target = format!("/{}", parts.join("/"));
            if let Ok(segments) = normalize_path(&target, false) {
                for segment in &segments {
                    prop_assert!(!segment.is_empty());
                    prop_assert!(segment != "." && segment != "..");
                    prop_assert!(!segment.contains(['/', '\\', ';']));
                    prop_assert!(!segment.chars().any(char::is_control));
                    prop_assert!(!holds_escape(segment));
                }
                let encoded: Vec<String> = segments.iter().map(|s| encode(s)).collect();
                let again = normalize_path(&format!("/{}", encoded.join("/")), false);
                prop_assert_eq!(again.ok(), Some(segments.clone()));
                // `/a1/**` catches exactly the paths whose first normal segment is a1.
                let index = index(&[("/a1/**", "a1")]);
                let hit = index.lookup(&segments).is_some();
                prop_assert_eq!(hit, segments.first().map(String::as_str) == Some("a1"));
            }
        }
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
