//! Resource set descriptions (resource-reg-00 §2.2) and their revisions.

use serde_json::{Map, Value};

use super::Error;
use super::identifier::{self, Kind};

/// Longest accepted name, icon URI or type, in bytes (ids and scopes have
/// the shorter limits of [`identifier`]).
pub const MAX_TEXT_LEN: usize = identifier::MAX_TEXT;
/// Most scopes one resource set may declare.
pub const MAX_SCOPES: usize = identifier::MAX_SCOPES;

/// A resource-server-chosen resource set id, checked to be safe in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceSetId(String);

impl ResourceSetId {
    /// Accepts 1..=255 bytes ([`identifier::MAX_ID`]) without `/`, spaces or
    /// control characters: the id of a set to read, update or delete.
    pub fn parse(id: &str) -> Result<ResourceSetId, Error> {
        identifier::require("resource_set_id", id, Kind::Id)?;
        if id.chars().any(|c| c == '/' || c.is_whitespace()) {
            return Err(Error::invalid_request(
                "`resource_set_id` must not contain '/', spaces or control characters",
            ));
        }
        Ok(ResourceSetId(id.to_string()))
    }

    /// As [`parse`](ResourceSetId::parse), for an id about to be created:
    /// `.` and `..` are refused too, as every URL resolver reads them as
    /// dot segments and the set could not be addressed by its URL.
    pub fn new_id(id: &str) -> Result<ResourceSetId, Error> {
        if id == "." || id == ".." {
            return Err(Error::invalid_request(
                "`resource_set_id` must not be `.` or `..`",
            ));
        }
        ResourceSetId::parse(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated resource set description.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSetDescription {
    /// Human-readable label (REQUIRED).
    pub name: String,
    /// Optional icon URI.
    pub icon_uri: Option<String>,
    /// The scopes available for this set (REQUIRED, at least one, no duplicates).
    pub scopes: Vec<String>,
    /// Optional semantics identifier (`type`).
    pub kind: Option<String>,
    /// Unknown members, stored and echoed back.
    pub extensions: Map<String, Value>,
}

/// Members the AS itself writes; never stored as extensions.
const RESERVED: [&str; 8] = [
    "name",
    "icon_uri",
    "scopes",
    "type",
    "resource_set_type",
    "_id",
    "_rev",
    "policy_uri",
];

impl ResourceSetDescription {
    /// Validates a description from its parts (the gRPC shape).
    pub fn new(
        name: String,
        icon_uri: Option<String>,
        scopes: Vec<String>,
        kind: Option<String>,
        extensions: Map<String, Value>,
    ) -> Result<ResourceSetDescription, Error> {
        check_text("name", &name)?;
        if let Some(uri) = &icon_uri {
            check_text("icon_uri", uri)?;
        }
        if let Some(kind) = &kind {
            check_text("type", kind)?;
        }
        if scopes.is_empty() {
            return Err(Error::invalid_request(
                "`scopes` must list at least one scope",
            ));
        }
        identifier::scopes("scopes", &scopes)?;
        let mut unique: Vec<String> = Vec::with_capacity(scopes.len());
        for scope in scopes {
            if !unique.contains(&scope) {
                unique.push(scope);
            }
        }
        // `uris` (path patterns for enforcement points) is an extension
        // member Steward reads, so it must be well formed.
        super::enforcement::parse_uris(extensions.get("uris"))?;
        let extensions = extensions
            .into_iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .collect();
        Ok(ResourceSetDescription {
            name,
            icon_uri,
            scopes: unique,
            kind,
            extensions,
        })
    }

    /// Validates a description from its JSON document (the HTTP shape).
    /// Accepts `resource_set_type` as an alias of `type` (the -00 example's slip).
    pub fn from_json(value: Value) -> Result<ResourceSetDescription, Error> {
        let Value::Object(mut object) = value else {
            return Err(Error::invalid_request(
                "the resource set description must be a JSON object",
            ));
        };
        let name = match object.remove("name") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(Error::invalid_request("`name` must be a string")),
            None => return Err(Error::invalid_request("`name` is required")),
        };
        let icon_uri = optional_string(&mut object, "icon_uri")?;
        let kind = match optional_string(&mut object, "type")? {
            Some(kind) => Some(kind),
            None => optional_string(&mut object, "resource_set_type")?,
        };
        let scopes = match object.remove("scopes") {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(Error::invalid_request(
                        "`scopes` must be an array of strings",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(Error::invalid_request(
                    "`scopes` must be an array of strings",
                ));
            }
            None => return Err(Error::invalid_request("`scopes` is required")),
        };
        ResourceSetDescription::new(name, icon_uri, scopes, kind, object)
    }

    /// The description as a JSON object, extensions included.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut object = self.extensions.clone();
        object.insert("name".into(), Value::String(self.name.clone()));
        if let Some(uri) = &self.icon_uri {
            object.insert("icon_uri".into(), Value::String(uri.clone()));
        }
        object.insert(
            "scopes".into(),
            Value::Array(self.scopes.iter().cloned().map(Value::String).collect()),
        );
        if let Some(kind) = &self.kind {
            object.insert("type".into(), Value::String(kind.clone()));
        }
        object
    }
}

fn check_text(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::invalid_request(format!(
            "`{field}` must not be empty"
        )));
    }
    identifier::check(field, value, Kind::Text)?;
    Ok(())
}

fn optional_string(object: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid_request(format!("`{key}` must be a string"))),
    }
}

/// A revision number, rendered as `_rev` and (quoted) as the `ETag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision(pub i64);

impl Revision {
    /// The first revision of a new resource set.
    pub const FIRST: Revision = Revision(1);

    /// The `ETag` header value: the revision in double quotes.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What an `If-Match` header (or the gRPC `if_match` field) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No condition, or `*`: any current revision.
    Any,
    /// Only this revision.
    Revision(Revision),
    /// A tag that can never match a revision of ours.
    Never,
}

impl Precondition {
    /// Parses `"3"`, `3`, `W/"3"`, `*` or a list `"2", "3"` (first tag wins).
    pub fn parse(if_match: Option<&str>) -> Precondition {
        let Some(value) = if_match.map(str::trim) else {
            return Precondition::Any;
        };
        if value.is_empty() || value == "*" {
            return Precondition::Any;
        }
        let first = value.split(',').next().unwrap_or(value).trim();
        let bare = first.strip_prefix("W/").unwrap_or(first).trim_matches('"');
        match bare.parse::<i64>() {
            Ok(rev) => Precondition::Revision(Revision(rev)),
            Err(_) => Precondition::Never,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_full_description_round_trips_with_extensions() {
        let doc = json!({
            "name": "Photo Album",
            "icon_uri": "http://www.example.com/icons/flower.png",
            "scopes": ["http://photoz.example.com/dev/scopes/view", "http://photoz.example.com/dev/scopes/all"],
            "type": "http://www.example.com/rsets/photoalbum",
            "x-colour": "blue"
        });
        let description = ResourceSetDescription::from_json(doc.clone()).unwrap();
        assert_eq!(Value::Object(description.to_json()), doc);
    }

    #[test]
    fn name_and_scopes_are_required() {
        for doc in [
            json!({"scopes": ["a"]}),
            json!({"name": "x"}),
            json!({"name": "x", "scopes": []}),
            json!({"name": "", "scopes": ["a"]}),
            json!({"name": 3, "scopes": ["a"]}),
            json!({"name": "x", "scopes": "a"}),
            json!({"name": "x", "scopes": [1]}),
            json!({"name": "x", "scopes": ["has space"]}),
            json!(["not", "an", "object"]),
        ] {
            assert!(
                matches!(
                    ResourceSetDescription::from_json(doc.clone()),
                    Err(Error::InvalidRequest(_))
                ),
                "{doc} should be refused"
            );
        }
    }

    #[test]
    fn resource_set_type_is_an_alias_and_reserved_members_are_dropped() {
        let doc = json!({"name": "x", "scopes": ["a", "a"], "resource_set_type": "t", "_id": "evil", "_rev": "9"});
        let description = ResourceSetDescription::from_json(doc).unwrap();
        assert_eq!(description.kind.as_deref(), Some("t"));
        assert_eq!(description.scopes, vec!["a".to_string()]);
        assert!(description.extensions.is_empty());
    }

    #[test]
    fn ids_with_slashes_or_spaces_are_refused() {
        assert!(ResourceSetId::parse("112210f47de98100").is_ok());
        assert!(ResourceSetId::parse("a/b").is_err());
        assert!(ResourceSetId::parse("a b").is_err());
        assert!(ResourceSetId::parse("").is_err());
        assert!(ResourceSetId::parse(&"x".repeat(256)).is_err());
        assert!(ResourceSetId::parse("nul\0").is_err());
        assert!(ResourceSetId::parse("c1\u{85}").is_err());
    }

    #[test]
    fn dot_ids_cannot_be_created_but_old_ones_stay_addressable() {
        for dots in [".", ".."] {
            assert!(ResourceSetId::new_id(dots).is_err());
            assert!(ResourceSetId::parse(dots).is_ok());
        }
        assert!(ResourceSetId::new_id("...").is_ok());
        assert!(ResourceSetId::new_id(".hidden").is_ok());
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(Precondition::parse(None), Precondition::Any);
        assert_eq!(Precondition::parse(Some("*")), Precondition::Any);
        assert_eq!(
            Precondition::parse(Some("\"2\"")),
            Precondition::Revision(Revision(2))
        );
        assert_eq!(
            Precondition::parse(Some("W/\"2\"")),
            Precondition::Revision(Revision(2))
        );
        assert_eq!(
            Precondition::parse(Some("2")),
            Precondition::Revision(Revision(2))
        );
        assert_eq!(Precondition::parse(Some("\"abc\"")), Precondition::Never);
        assert_eq!(Revision(7).etag(), "\"7\"");
    }
}
