//! RPT status (draft-06 §3.3.1) and introspection: what an RPT currently
//! grants, as one resource server may see it.

use super::Core;
use crate::domain::identifier::{self, Kind};
use crate::domain::rpt::{self, Permission};
use crate::domain::secret;
use crate::domain::{Error, Namespace, UnixTime};
use crate::store;

/// What RPT status says about an RPT to one resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RptStatus {
    /// Unknown, revoked, expired, or bound to another resource server.
    Invalid,
    /// Valid, with the permissions this resource server may see.
    Active {
        issued_at: UnixTime,
        expires_at: Option<UnixTime>,
        permissions: Vec<Permission>,
        /// The client it was issued to.
        client_id: String,
        /// The requesting party.
        subject: String,
    },
}

impl Core {
    /// RPT status for the resource server `ns` (draft-06 §3.3.1): the RPT's
    /// currently valid permissions on this server's resource sets.
    pub async fn rpt_status(
        &self,
        ns: &Namespace,
        rpt: &str,
        resource_set_id: Option<&str>,
    ) -> Result<RptStatus, Error> {
        identifier::require("rpt", rpt, Kind::Token)?;
        identifier::check("resource_set_id", resource_set_id.unwrap_or(""), Kind::Id)?;
        if rpt.len() > 1024 {
            return Ok(RptStatus::Invalid);
        }
        let hash = secret::token_hash(rpt);
        let Some(view) = store::rpts::status_view(&self.inner.store, &hash, &ns.client_id).await?
        else {
            return Ok(RptStatus::Invalid);
        };
        let record = &view.record;
        let now = self.now();
        let expired = record.expires_at.is_some_and(|exp| now >= exp);
        let foreign = record
            .resource_server
            .as_deref()
            .is_some_and(|rs| rs != ns.client_id);
        if record.revoked_at.is_some() || expired || foreign {
            return Ok(RptStatus::Invalid);
        }
        Ok(RptStatus::Active {
            issued_at: record.created_at,
            expires_at: record.expires_at,
            client_id: record.client_id.clone(),
            subject: record.subject.clone(),
            permissions: rpt::visible_permissions(
                view.permissions.clone(),
                &view.registered,
                resource_set_id,
                now,
            ),
        })
    }
}
