//! Enforcement hosts in one normal form, claimed per host name.
//!
//! Older versions stored each profile entry as written (lower-cased, maybe
//! `host:port`, IPv6 and IDNA spellings as given) and claimed every entry
//! separately, so `photos.example.com:8080` could be another resource
//! server's than `photos.example.com`. From here on `enforcement_hosts`
//! holds one row per bare host in normal form (the server's own
//! `domain::host`, compiled into this crate), and profiles list their
//! entries in normal form.
//!
//! Profiles are taken oldest first (`updated_at`, then client id): a host
//! two resource servers' old claims now share stays the older profile's,
//! and the entry is dropped from the other profile. An entry that is not a
//! host at all under the new rules is dropped. The change counter moves, so
//! running replicas drop what they cached.

use std::collections::HashMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[path = "../../src/domain/host.rs"]
#[allow(dead_code)]
mod host;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EnforcementProfiles {
    Table,
    ClientId,
    Profile,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EnforcementHosts {
    Table,
    Host,
    ClientId,
}

#[derive(DeriveIden)]
enum Revisions {
    Table,
    Id,
    Value,
}

/// One profile's new entries and claims.
struct Rewrite {
    client_id: String,
    profile: Option<String>,
    claims: Vec<String>,
}

/// Normalises the `hosts` of profiles given oldest first; a bare host goes
/// to the first profile that lists it.
fn rewrite(profiles: Vec<(String, String)>) -> Vec<Rewrite> {
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(profiles.len());
    for (client_id, text) in profiles {
        let Ok(serde_json::Value::Object(mut profile)) = serde_json::from_str(&text) else {
            // Unreadable before as after: it serves nothing and claims nothing.
            out.push(Rewrite {
                client_id,
                profile: None,
                claims: Vec::new(),
            });
            continue;
        };
        let entries: Vec<String> = profile
            .get("hosts")
            .and_then(|h| h.as_array())
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut kept: Vec<String> = Vec::new();
        let mut claims: Vec<String> = Vec::new();
        for entry in entries {
            let Ok(authority) = host::parse_authority(&entry) else {
                continue;
            };
            let owner = owners
                .entry(authority.host.clone())
                .or_insert_with(|| client_id.clone());
            if *owner != client_id {
                continue;
            }
            if !claims.contains(&authority.host) {
                claims.push(authority.host.clone());
            }
            let normal = authority.to_string();
            if !kept.contains(&normal) {
                kept.push(normal);
            }
        }
        profile.insert(
            "hosts".into(),
            serde_json::Value::Array(kept.into_iter().map(serde_json::Value::String).collect()),
        );
        out.push(Rewrite {
            client_id,
            profile: Some(serde_json::Value::Object(profile).to_string()),
            claims,
        });
    }
    out
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let rows = db
            .query_all(
                &Query::select()
                    .columns([EnforcementProfiles::ClientId, EnforcementProfiles::Profile])
                    .from(EnforcementProfiles::Table)
                    .order_by(EnforcementProfiles::UpdatedAt, Order::Asc)
                    .order_by(EnforcementProfiles::ClientId, Order::Asc)
                    .to_owned(),
            )
            .await?;
        let mut profiles = Vec::with_capacity(rows.len());
        for row in rows {
            let client_id: String = row.try_get("", "client_id")?;
            let profile: String = row.try_get("", "profile")?;
            profiles.push((client_id, profile));
        }
        db.execute(
            &Query::delete()
                .from_table(EnforcementHosts::Table)
                .to_owned(),
        )
        .await?;
        for rewrite in rewrite(profiles) {
            if let Some(profile) = rewrite.profile {
                db.execute(
                    &Query::update()
                        .table(EnforcementProfiles::Table)
                        .value(EnforcementProfiles::Profile, profile)
                        .and_where(Expr::col(EnforcementProfiles::ClientId).eq(&rewrite.client_id))
                        .to_owned(),
                )
                .await?;
            }
            for claim in rewrite.claims {
                db.execute(
                    &Query::insert()
                        .into_table(EnforcementHosts::Table)
                        .columns([EnforcementHosts::Host, EnforcementHosts::ClientId])
                        .values_panic([claim.into(), rewrite.client_id.clone().into()])
                        .to_owned(),
                )
                .await?;
            }
        }
        db.execute(
            &Query::update()
                .table(Revisions::Table)
                .value(Revisions::Value, Expr::col(Revisions::Value).add(1))
                .and_where(Expr::col(Revisions::Id).eq(1))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    /// Nothing to undo: bare hosts in normal form are claims the older
    /// versions read too.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_claims_collapse_to_bare_hosts_and_the_older_profile_keeps_them() {
        let profile = |hosts: &[&str]| {
            serde_json::json!({"hosts": hosts, "methods": {"GET": ["view"]}}).to_string()
        };
        let out = rewrite(vec![
            (
                "a".into(),
                profile(&["photos.example.com", "a.example:8443"]),
            ),
            (
                "b".into(),
                profile(&["photos.example.com:8080", "b.example", "[0:0::1]:80", "a b"]),
            ),
            ("c".into(), "not json".into()),
        ]);
        assert_eq!(out[0].claims, ["photos.example.com", "a.example"]);
        assert_eq!(out[1].claims, ["b.example", "[::1]"]);
        let b: serde_json::Value =
            serde_json::from_str(out[1].profile.as_deref().unwrap()).unwrap();
        assert_eq!(b["hosts"], serde_json::json!(["b.example", "[::1]:80"]));
        assert_eq!(b["methods"], serde_json::json!({"GET": ["view"]}));
        assert!(out[2].profile.is_none() && out[2].claims.is_empty());
    }
}
