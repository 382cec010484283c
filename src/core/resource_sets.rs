//! Resource set registration (resource-reg-00 §2.3).

use super::Core;
use crate::domain::resource_set::{Precondition, ResourceSetDescription, ResourceSetId, Revision};
use crate::domain::{Error, Namespace};
use crate::store::{self, resource_sets::StoredResourceSet};

impl Core {
    /// Registers a new resource set under `rsid` (`invalid_request` if taken,
    /// or if the id is not one a set may have, `.` and `..` included).
    pub async fn create_resource_set(
        &self,
        ns: &Namespace,
        rsid: &str,
        description: &ResourceSetDescription,
    ) -> Result<Revision, Error> {
        let rsid = ResourceSetId::new_id(rsid)?;
        store::resource_sets::create(
            &self.inner.store,
            ns,
            rsid.as_str(),
            description,
            self.now(),
        )
        .await
    }

    /// Replaces a description when `precondition` holds.
    pub async fn update_resource_set(
        &self,
        ns: &Namespace,
        rsid: &str,
        description: &ResourceSetDescription,
        precondition: &Precondition,
    ) -> Result<Revision, Error> {
        let rsid = ResourceSetId::parse(rsid)?;
        store::resource_sets::update(
            &self.inner.store,
            ns,
            rsid.as_str(),
            description,
            precondition,
            self.now(),
        )
        .await
    }

    /// Reads a resource set (`not_found` if it is not in the namespace).
    pub async fn get_resource_set(
        &self,
        ns: &Namespace,
        rsid: &str,
    ) -> Result<StoredResourceSet, Error> {
        let rsid = ResourceSetId::parse(rsid)?;
        store::resource_sets::get(&self.inner.store, ns, rsid.as_str())
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("no resource set `{}` is registered", rsid.as_str()))
            })
    }

    /// Deletes a resource set and everything that names it.
    pub async fn delete_resource_set(
        &self,
        ns: &Namespace,
        rsid: &str,
        precondition: &Precondition,
    ) -> Result<(), Error> {
        let rsid = ResourceSetId::parse(rsid)?;
        store::resource_sets::delete(
            &self.inner.store,
            ns,
            rsid.as_str(),
            precondition,
            self.now(),
        )
        .await
    }

    /// The ids registered in the namespace.
    pub async fn list_resource_sets(&self, ns: &Namespace) -> Result<Vec<String>, Error> {
        store::resource_sets::list(&self.inner.store, ns).await
    }
}
