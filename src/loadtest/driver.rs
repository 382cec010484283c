//! The run loop: `concurrency` tokio tasks call one operation back to back
//! until a shared deadline (or a shared request budget) is spent, each
//! recording latencies into its own histogram so the hot path takes no lock;
//! the histograms are merged once at the end.
//!
//! Every task first makes one unmeasured call (so connection set-up is not
//! timed), then all tasks start together: the clock starts only when the
//! last task is warm, which keeps low-concurrency and high-concurrency runs
//! comparable.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::domain::Error;

/// The largest latency a histogram holds, in µs (one minute; anything
/// slower is recorded as one minute — requests time out well before).
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// How long all tasks together may take to warm up before the run is
/// abandoned (a target that cannot answer one request each in this time is
/// not worth measuring).
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// One operation as a task sees it. A task owns its probe (its own client
/// handle and its own rotation cursor), so calls share nothing but the
/// connection pool.
pub trait Probe: Send + 'static {
    /// Makes one request and checks the answer. `Err` carries a short
    /// description of what went wrong (status, gRPC code, unexpected body);
    /// it is counted as an error, never as a success.
    fn call(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// When a measurement ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Every task stops starting new requests at this long after the start.
    After(Duration),
    /// The tasks together make exactly this many measured requests.
    Requests(u64),
}

/// How one operation is measured.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    pub stop: Stop,
}

/// What a measurement found.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Latencies of successful requests, in µs.
    pub histogram: Histogram<u64>,
    /// Successful requests (the histogram's count).
    pub ok: u64,
    /// Failed requests, including failed warm-up calls.
    pub errors: u64,
    /// From the common start until the last task finished.
    pub elapsed: Duration,
    /// The first failure seen, to tell the operator why.
    pub first_error: Option<String>,
}

impl Sample {
    /// An empty sample.
    pub fn new() -> Result<Sample, Error> {
        Ok(Sample {
            histogram: new_histogram()?,
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            first_error: None,
        })
    }

    /// Records one successful request that took `latency`.
    pub fn record_ok(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // Clamp into the histogram's range: a sub-µs answer counts as 1 µs,
        // a pathological one as the maximum, never as a lost sample.
        self.histogram
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
        self.ok += 1;
    }

    /// Records one failed request.
    pub fn record_error(&mut self, why: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why);
        }
    }

    /// Adds another task's sample to this one; the elapsed time is the
    /// longer of the two (tasks run side by side, not one after the other).
    pub fn merge(&mut self, other: &Sample) {
        // Both histograms have the same bounds, so adding cannot fail; if it
        // somehow did, fall back to recording the other's values one by one.
        if self.histogram.add(&other.histogram).is_err() {
            for value in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed = self.elapsed.max(other.elapsed);
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Successful requests per second over the elapsed time.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// The latency at quantile `q` (0..=1) in µs; 0 when nothing succeeded.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_quantile(q)
        }
    }
}

/// A histogram of µs from 1 µs to [`MAX_LATENCY_US`] with 3 significant
/// digits (0.1% resolution, enough for p99.9).
pub fn new_histogram() -> Result<Histogram<u64>, Error> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| Error::Internal(format!("cannot create a latency histogram: {e}")))
}

/// Runs `plan.concurrency` tasks, task `w` calling the probe `make(w)`,
/// and returns their merged sample.
pub async fn measure<P: Probe>(
    plan: &Plan,
    mut make: impl FnMut(usize) -> P,
) -> Result<Sample, Error> {
    let concurrency = plan.concurrency.max(1);
    let stop = plan.stop;
    let budget = Arc::new(AtomicU64::new(match stop {
        Stop::Requests(n) => n,
        Stop::After(_) => u64::MAX,
    }));
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(concurrency);
    let (start_tx, start_rx) = watch::channel::<Option<Instant>>(None);
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let mut probe = make(worker);
        let ready = ready_tx.clone();
        let mut start = start_rx.clone();
        let budget = budget.clone();
        let mut sample = Sample::new()?;
        tasks.spawn(async move {
            if let Err(why) = probe.call().await {
                sample.record_error(format!("warm-up: {why}"));
            }
            let _ = ready.send(()).await;
            drop(ready);
            let Ok(started) = start.wait_for(Option::is_some).await.map(|s| *s) else {
                return sample;
            };
            let Some(started) = started else {
                return sample;
            };
            loop {
                match stop {
                    Stop::After(d) => {
                        if started.elapsed() >= d {
                            break;
                        }
                    }
                    Stop::Requests(_) => {
                        let claimed = budget
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                                left.checked_sub(1)
                            })
                            .is_ok();
                        if !claimed {
                            break;
                        }
                    }
                }
                let t0 = Instant::now();
                let result = probe.call().await;
                let took = t0.elapsed();
                match result {
                    Ok(()) => sample.record_ok(took),
                    Err(why) => sample.record_error(why),
                }
            }
            sample.elapsed = started.elapsed();
            sample
        });
    }
    drop(ready_tx);
    let warm = tokio::time::timeout(WARM_UP_LIMIT, async {
        let mut warmed = 0;
        while warmed < concurrency && ready_rx.recv().await.is_some() {
            warmed += 1;
        }
        warmed
    })
    .await;
    if !matches!(warm, Ok(n) if n == concurrency) {
        // Dropping the JoinSet aborts the tasks; nothing keeps running.
        tasks.abort_all();
        return Err(Error::Unavailable(format!(
            "the target did not answer one request per task within {}s",
            WARM_UP_LIMIT.as_secs()
        )));
    }
    let _ = start_tx.send(Some(Instant::now()));
    let mut total = Sample::new()?;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(sample) => total.merge(&sample),
            Err(e) => total.record_error(format!("load task failed: {e}")),
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe that succeeds instantly, failing every `fail_every`-th call.
    struct Counting {
        calls: u64,
        fail_every: u64,
    }

    impl Probe for Counting {
        async fn call(&mut self) -> Result<(), String> {
            self.calls += 1;
            if self.fail_every > 0 && self.calls.is_multiple_of(self.fail_every) {
                Err("boom".into())
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn a_request_budget_is_spent_exactly_and_errors_are_not_successes() {
        let plan = Plan {
            concurrency: 4,
            stop: Stop::Requests(1000),
        };
        // Warm-up is call 1 of each task; every 5th call fails.
        let sample = measure(&plan, |_| Counting {
            calls: 0,
            fail_every: 5,
        })
        .await
        .unwrap();
        assert_eq!(sample.ok + sample.errors, 1000, "warm-up calls all succeed");
        assert_eq!(sample.histogram.len(), sample.ok);
        assert!(
            sample.errors >= 196,
            "every 5th call failed: {}",
            sample.errors
        );
        assert_eq!(sample.first_error.as_deref(), Some("boom"));
    }

    #[tokio::test]
    async fn a_duration_bounds_the_run() {
        let plan = Plan {
            concurrency: 2,
            stop: Stop::After(Duration::from_millis(50)),
        };
        let t0 = Instant::now();
        let sample = measure(&plan, |_| Counting {
            calls: 0,
            fail_every: 0,
        })
        .await
        .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(sample.ok > 0);
        assert_eq!(sample.errors, 0);
        assert!(sample.elapsed >= Duration::from_millis(50));
    }
}
