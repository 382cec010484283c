//! Enforcement profiles (a resource server's hosts and method → scope map)
//! and the path index of its resource sets, both served from memory: an
//! Envoy `Check` needs them on every request.

use std::sync::Arc;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use super::entities::{enforcement_host, enforcement_profile, resource_set};
use super::{Store, bump_revision, db_error, read};
use crate::domain::enforcement::{EnforcementProfile, PathIndex, SetRef, UriPattern};
use crate::domain::{Error, UnixTime};

/// The resource server that serves a host, with its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedProfile {
    pub client_id: String,
    pub profile: EnforcementProfile,
}

/// Stores `client_id`'s profile, replacing any earlier one, and claims its
/// hosts: one row per bare host name in normal form, whatever ports the
/// profile lists, so the table's primary key makes a host one resource
/// server's on every port and in every spelling. A host another resource
/// server claims is refused and nothing changes.
pub async fn put(
    store: &Store,
    client_id: &str,
    profile: &EnforcementProfile,
    now: UnixTime,
) -> Result<(), Error> {
    let text = serde_json::to_string(profile)
        .map_err(|e| Error::Internal(format!("cannot store an enforcement profile: {e}")))?;
    let txn = store.db().begin().await.map_err(db_error)?;
    enforcement_host::Entity::delete_many()
        .filter(enforcement_host::Column::ClientId.eq(client_id))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    for host in &profile.claims() {
        let claimed = enforcement_host::Entity::insert(enforcement_host::ActiveModel {
            host: Set(host.clone()),
            client_id: Set(client_id.to_string()),
        })
        .exec_without_returning(&txn)
        .await;
        match claimed {
            Ok(_) => {}
            Err(e) if super::is_unique_violation(&e) => {
                // Dropping the transaction rolls it back.
                return Err(Error::invalid_request(format!(
                    "host `{host}` is already served by another resource server"
                )));
            }
            Err(e) => return Err(db_error(e)),
        }
    }
    enforcement_profile::Entity::delete_by_id(client_id.to_string())
        .exec(&txn)
        .await
        .map_err(db_error)?;
    enforcement_profile::Entity::insert(enforcement_profile::ActiveModel {
        client_id: Set(client_id.to_string()),
        profile: Set(text),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(db_error)?;
    bump_revision(&txn).await.map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    store.changed();
    Ok(())
}

/// Removes `client_id`'s profile and releases its hosts; whether there was one.
pub async fn delete(store: &Store, client_id: &str) -> Result<bool, Error> {
    let txn = store.db().begin().await.map_err(db_error)?;
    enforcement_host::Entity::delete_many()
        .filter(enforcement_host::Column::ClientId.eq(client_id))
        .exec(&txn)
        .await
        .map_err(db_error)?;
    let removed = enforcement_profile::Entity::delete_by_id(client_id.to_string())
        .exec(&txn)
        .await
        .map_err(db_error)?
        .rows_affected;
    bump_revision(&txn).await.map_err(db_error)?;
    txn.commit().await.map_err(db_error)?;
    store.changed();
    Ok(removed > 0)
}

/// `client_id`'s profile, if it has one.
pub async fn get(store: &Store, client_id: &str) -> Result<Option<EnforcementProfile>, Error> {
    let Some(row) =
        read(|| enforcement_profile::Entity::find_by_id(client_id.to_string()).one(store.db()))
            .await?
    else {
        return Ok(None);
    };
    serde_json::from_str(&row.profile)
        .map(Some)
        .map_err(|e| Error::Internal(format!("corrupt enforcement profile: {e}")))
}

/// The resource server that claimed `host` (a bare host in normal form),
/// from memory when nothing changed.
///
/// Every claim is loaded as one entry (claims are few: at most 64 per
/// resource server), so a host nobody claimed — any string a client puts in
/// `:authority` — is answered from memory without an entry of its own.
pub async fn for_host(store: &Store, host: &str) -> Result<Option<Arc<HostedProfile>>, Error> {
    let claims = store
        .cache
        .read_through(&store.cache.host_claims, (), || async {
            let rows = read(|| enforcement_host::Entity::find().all(store.db())).await?;
            Ok(Arc::new(
                rows.into_iter()
                    .map(|row| (row.host, row.client_id))
                    .collect::<std::collections::HashMap<_, _>>(),
            ))
        })
        .await?;
    let Some(client_id) = claims.get(host) else {
        return Ok(None);
    };
    store
        .cache
        .read_through(&store.cache.hosts, client_id.clone(), || async {
            Ok(get(store, client_id).await?.map(|profile| {
                Arc::new(HostedProfile {
                    client_id: client_id.clone(),
                    profile,
                })
            }))
        })
        .await
}

/// The path index of `client_id`'s resource sets (every owner's), literals
/// lower-cased when `case_insensitive`, from memory when nothing changed.
///
/// A stored pattern that no longer parses (written before patterns were
/// normalised, or by the bulk seeder) is skipped: what it spells (`..`,
/// `%2F`, `;`…) makes every request path that could match it refused.
pub async fn path_index(
    store: &Store,
    client_id: &str,
    case_insensitive: bool,
) -> Result<Arc<PathIndex>, Error> {
    store
        .cache
        .read_through(
            &store.cache.paths,
            (client_id.to_string(), case_insensitive),
            || async {
                let rows: Vec<(String, String, String)> = read(|| {
                    resource_set::Entity::find()
                        .select_only()
                        .column(resource_set::Column::Owner)
                        .column(resource_set::Column::Rsid)
                        .column(resource_set::Column::Extensions)
                        .filter(resource_set::Column::ClientId.eq(client_id))
                        .into_tuple()
                        .all(store.db())
                })
                .await?;
                let mut index = PathIndex::new(case_insensitive);
                for (owner, rsid, extensions) in rows {
                    let extensions: serde_json::Value = serde_json::from_str(&extensions)
                        .map_err(|e| Error::Internal(format!("corrupt extensions column: {e}")))?;
                    let Some(uris) = extensions.get("uris").and_then(|u| u.as_array()) else {
                        continue;
                    };
                    for text in uris.iter().filter_map(|u| u.as_str()) {
                        match UriPattern::parse(text) {
                            Ok(pattern) => index.insert(
                                &pattern,
                                SetRef {
                                    owner: owner.clone(),
                                    resource_set_id: rsid.clone(),
                                },
                            ),
                            Err(e) => tracing::warn!(
                                client_id,
                                resource_set_id = %rsid,
                                error = %e.description(),
                                "a stored uri pattern is refused and matches nothing"
                            ),
                        }
                    }
                }
                Ok(Arc::new(index))
            },
        )
        .await
}
