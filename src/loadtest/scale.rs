//! The scale run (`--scale`): the database is filled to production size —
//! by default 100 000 resource sets, 10 000 policies and 1 000 000
//! permissions across RPTs — before the operations are measured, and the
//! measured keys are drawn evenly from the whole of it, so a latency that
//! grows with the data shows up against the small-data run.
//!
//! The rows are bulk-loaded ([`crate::store::bulk`]) into the namespace of
//! the run's resource server, shaped as the public API would have made them:
//! a permit policy on every `sets / policies`-th set, one permission per RPT
//! on set `i % sets`, RPTs issued to the run's requesting client and bound
//! to its resource server.

use std::sync::Arc;

use super::ops::{SCOPE, bench_uri};
use super::seed::{Clients, SET_SCOPES};
use crate::core::{Clock, SystemClock};
use crate::domain::policy::{Approval, Effect, PolicyDefinition};
use crate::domain::rpt::{Permission, RPT_BYTES};
use crate::domain::secret::{self, OsEntropy};
use crate::domain::{Error, Namespace};
use crate::store::Store;
use crate::store::bulk::{self, Batch, BulkResourceSet, BulkRpt};

/// Rows of each kind per transaction: large enough that commits are not
/// the cost, small enough to keep the tool's memory flat.
const ROWS_PER_BATCH: usize = 10_000;

/// How long bulk permissions stay valid: longer than any run.
const PERMISSION_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// How much to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalePlan {
    pub resource_sets: usize,
    pub policies: usize,
    pub permissions: usize,
}

impl ScalePlan {
    /// The sizes the performance targets name.
    pub const PRESET: ScalePlan = ScalePlan {
        resource_sets: 100_000,
        policies: 10_000,
        permissions: 1_000_000,
    };

    /// Refuses sizes the loader cannot honour.
    pub fn check(self) -> Result<ScalePlan, Error> {
        if self.resource_sets == 0 || self.policies == 0 || self.permissions == 0 {
            return Err(Error::invalid_request(
                "--scale sizes must all be at least 1",
            ));
        }
        if self.policies > self.resource_sets {
            return Err(Error::invalid_request(format!(
                "--scale-policies ({}) cannot exceed --scale-resource-sets ({}): one policy per set",
                self.policies, self.resource_sets
            )));
        }
        const MAX_ROWS: usize = 10_000_000;
        if self.resource_sets > MAX_ROWS || self.permissions > MAX_ROWS {
            return Err(Error::invalid_request(format!(
                "--scale sizes are at most {MAX_ROWS}"
            )));
        }
        Ok(self)
    }

    /// Every `stride`-th set carries a policy.
    fn stride(self) -> usize {
        (self.resource_sets / self.policies).max(1)
    }
}

/// The measured keys: sets with a permit policy and active RPTs, spread
/// over the loaded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub resource_sets: Vec<String>,
    pub rpts: Vec<String>,
    /// The set each sampled RPT's permission is on.
    pub rpt_sets: Vec<String>,
}

fn rsid(i: usize) -> String {
    format!("scale-{i:07}")
}

/// `count` indices spread evenly over `0..total` (all of them if fewer).
fn spread(total: usize, count: usize) -> Vec<usize> {
    let count = count.min(total);
    (0..count).map(|k| k * total / count.max(1)).collect()
}

/// Loads `plan` into the run's resource server namespace and returns
/// `sets_sample` sets and `rpts_sample` RPTs to measure.
pub async fn load(
    database_url: &str,
    clients: &Clients,
    plan: ScalePlan,
    sets_sample: usize,
    rpts_sample: usize,
) -> Result<Sample, Error> {
    let store = Store::connect(database_url).await?;
    let ns = Namespace {
        client_id: clients.resource_server.id.clone(),
        owner: clients.owner.clone(),
    };
    let now = SystemClock.now();
    let started = std::time::Instant::now();
    let stride = plan.stride();
    let permit = PolicyDefinition {
        name: "scale: anyone may".into(),
        scopes: SET_SCOPES.iter().map(|s| s.to_string()).collect(),
        clients: Vec::new(),
        subjects: Vec::new(),
        claims: Vec::new(),
        not_before: None,
        not_after: None,
        effect: Effect::Permit,
        approval: Approval::Automatic,
    };

    let mut policy_sets = Vec::with_capacity(plan.policies);
    for start in (0..plan.resource_sets).step_by(ROWS_PER_BATCH) {
        let end = (start + ROWS_PER_BATCH).min(plan.resource_sets);
        let mut batch = Batch::default();
        for i in start..end {
            batch.resource_sets.push(BulkResourceSet {
                rsid: rsid(i),
                scopes: SET_SCOPES.iter().map(|s| s.to_string()).collect(),
                uris: vec![bench_uri(&rsid(i))],
            });
            if i.is_multiple_of(stride) && policy_sets.len() < plan.policies {
                policy_sets.push(rsid(i));
                batch
                    .policies
                    .push((rsid(i), uuid::Uuid::new_v4().to_string(), permit.clone()));
            }
        }
        bulk::write(&store, &ns, &batch, now).await?;
        progress("resource sets", end, plan.resource_sets);
    }

    let wanted: Arc<[usize]> = spread(plan.permissions, rpts_sample).into();
    let mut rpts = Vec::with_capacity(wanted.len());
    let mut rpt_sets = Vec::with_capacity(wanted.len());
    for start in (0..plan.permissions).step_by(ROWS_PER_BATCH) {
        let end = (start + ROWS_PER_BATCH).min(plan.permissions);
        let mut batch = Batch::default();
        for i in start..end {
            let token = secret::mint(&OsEntropy, RPT_BYTES)?;
            batch.rpts.push(BulkRpt {
                token_hash: secret::token_hash(&token),
                client_id: clients.requester.id.clone(),
                subject: clients.requester.id.clone(),
                permission: Permission {
                    owner: ns.owner.clone(),
                    resource_set_id: rsid(i % plan.resource_sets),
                    scopes: vec![SCOPE.to_string()],
                    issued_at: now,
                    expires_at: now + PERMISSION_LIFETIME_SECS,
                },
            });
            if wanted.binary_search(&i).is_ok() {
                rpts.push(token);
                rpt_sets.push(rsid(i % plan.resource_sets));
            }
        }
        bulk::write(&store, &ns, &batch, now).await?;
        progress("permissions", end, plan.permissions);
    }
    eprintln!(
        "steward bench: loaded {} resource sets, {} policies, {} permissions in {:.1} s",
        plan.resource_sets,
        policy_sets.len(),
        plan.permissions,
        started.elapsed().as_secs_f64()
    );
    let resource_sets = spread(policy_sets.len(), sets_sample)
        .into_iter()
        .filter_map(|i| policy_sets.get(i).cloned())
        .collect();
    Ok(Sample {
        resource_sets,
        rpts,
        rpt_sets,
    })
}

fn progress(what: &str, done: usize, total: usize) {
    if done == total || done.is_multiple_of(100_000) {
        eprintln!("steward bench: scale: {done}/{total} {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_spread_and_bounded() {
        assert_eq!(spread(10, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(1_000_000, 4), vec![0, 250_000, 500_000, 750_000]);
        assert!(spread(0, 5).is_empty());
    }

    #[test]
    fn plans_are_checked() {
        assert_eq!(ScalePlan::PRESET.check(), Ok(ScalePlan::PRESET));
        assert_eq!(ScalePlan::PRESET.stride(), 10);
        let too_many_policies = ScalePlan {
            policies: 11,
            resource_sets: 10,
            permissions: 1,
        };
        assert!(too_many_policies.check().is_err());
        let empty = ScalePlan {
            permissions: 0,
            ..ScalePlan::PRESET
        };
        assert!(empty.check().is_err());
    }
}
