//! proto ⇄ domain conversions.

use serde_json::{Map, Value};

use super::proto;
use crate::domain::resource_set::ResourceSetDescription;
use crate::domain::rpt::Permission;
use crate::domain::{Error, json};

impl TryFrom<proto::ResourceSetDescription> for ResourceSetDescription {
    type Error = Error;

    fn try_from(d: proto::ResourceSetDescription) -> Result<Self, Error> {
        let extensions = if d.extensions_json.trim().is_empty() {
            Map::new()
        } else {
            match json::parse_str(&d.extensions_json) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(Error::invalid_request(
                        "`extensions_json` must be a JSON object",
                    ));
                }
                Err(e) => {
                    return Err(Error::invalid_request(format!(
                        "`extensions_json`: {}",
                        e.description()
                    )));
                }
            }
        };
        ResourceSetDescription::new(d.name, d.icon_uri, d.scopes, d.r#type, extensions)
    }
}

impl From<ResourceSetDescription> for proto::ResourceSetDescription {
    fn from(d: ResourceSetDescription) -> Self {
        proto::ResourceSetDescription {
            extensions_json: if d.extensions.is_empty() {
                String::new()
            } else {
                Value::Object(d.extensions).to_string()
            },
            name: d.name,
            icon_uri: d.icon_uri,
            scopes: d.scopes,
            r#type: d.kind,
        }
    }
}

impl From<proto::ResourceSetDescription> for Map<String, Value> {
    /// The description as the JSON document the HTTP API shows (extensions
    /// first, then the described members).
    fn from(d: proto::ResourceSetDescription) -> Self {
        let mut object = match serde_json::from_str(&d.extensions_json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        object.insert("name".into(), Value::String(d.name));
        if let Some(uri) = d.icon_uri {
            object.insert("icon_uri".into(), Value::String(uri));
        }
        object.insert(
            "scopes".into(),
            Value::Array(d.scopes.into_iter().map(Value::String).collect()),
        );
        if let Some(kind) = d.r#type {
            object.insert("type".into(), Value::String(kind));
        }
        object
    }
}

impl From<Permission> for proto::RptPermission {
    fn from(p: Permission) -> Self {
        proto::RptPermission {
            resource_set_id: p.resource_set_id,
            scopes: p.scopes,
            exp: p.expires_at,
            iat: p.issued_at,
        }
    }
}

/// The description of a create/update request (required).
pub(super) fn required_description(
    d: Option<proto::ResourceSetDescription>,
) -> Result<ResourceSetDescription, Error> {
    d.ok_or_else(|| Error::invalid_request("`description` is required"))?
        .try_into()
}
