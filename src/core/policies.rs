//! Owner policies and held requests, managed by the resource server with its
//! PAT on the owner's behalf.

use super::Core;
use crate::domain::identifier::{self, Kind};
use crate::domain::policy::{Policy, PolicyDefinition};
use crate::domain::resource_set::ResourceSetId;
use crate::domain::{Error, Namespace};
use crate::store::{self, pending::PendingRecord};

/// Most policies on one resource set.
const MAX_POLICIES: usize = 10_000;

impl Core {
    async fn registered_scopes(&self, ns: &Namespace, rsid: &str) -> Result<Vec<String>, Error> {
        let rsid = ResourceSetId::parse(rsid)?;
        store::resource_sets::get(&self.inner.store, ns, rsid.as_str())
            .await?
            .map(|set| set.description.scopes)
            .ok_or_else(|| {
                Error::NotFound(format!("no resource set `{}` is registered", rsid.as_str()))
            })
    }

    /// Adds a policy to a registered resource set.
    pub async fn create_policy(
        &self,
        ns: &Namespace,
        rsid: &str,
        definition: PolicyDefinition,
    ) -> Result<Policy, Error> {
        let registered = self.registered_scopes(ns, rsid).await?;
        definition.validate(&registered)?;
        let existing = store::policies::for_resource_set(&self.inner.store, ns, rsid).await?;
        if existing.len() >= MAX_POLICIES {
            return Err(Error::invalid_request(format!(
                "a resource set holds at most {MAX_POLICIES} policies"
            )));
        }
        let policy = Policy {
            id: uuid::Uuid::new_v4().to_string(),
            definition,
        };
        store::policies::insert(&self.inner.store, ns, rsid, &policy, self.now()).await?;
        Ok(policy)
    }

    /// The policies on a registered resource set.
    pub async fn list_policies(&self, ns: &Namespace, rsid: &str) -> Result<Vec<Policy>, Error> {
        self.registered_scopes(ns, rsid).await?;
        store::policies::for_resource_set(&self.inner.store, ns, rsid).await
    }

    /// Removes a policy.
    pub async fn delete_policy(&self, ns: &Namespace, rsid: &str, id: &str) -> Result<(), Error> {
        identifier::require("policy_id", id, Kind::Id)?;
        self.registered_scopes(ns, rsid).await?;
        if store::policies::delete(&self.inner.store, ns, rsid, id, self.now()).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "no policy `{id}` on resource set `{rsid}`"
            )))
        }
    }

    /// The requests held for the owner's approval in this namespace.
    pub async fn list_pending(&self, ns: &Namespace) -> Result<Vec<PendingRecord>, Error> {
        store::pending::list(&self.inner.store, ns).await
    }

    /// The owner approves or denies a held request.
    pub async fn decide_pending(
        &self,
        ns: &Namespace,
        id: &str,
        approve: bool,
    ) -> Result<(), Error> {
        identifier::require("id", id, Kind::Id)?;
        store::pending::decide(&self.inner.store, ns, id, approve, self.now()).await
    }
}
