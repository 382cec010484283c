//! The soak: constant traffic for a long while (minutes), with the server's
//! resident memory read from its `/metrics` every slice, so a leak — memory
//! that grows with the number of requests rather than with what is stored —
//! shows as a rising line instead of hiding in a five-second run.

use std::time::{Duration, Instant};

use serde_json::json;

use super::driver::{Plan, Stop};
use super::target::{self, Target};
use super::{Options, prepare};
use crate::domain::Error;

/// How long each operation runs before the next takes over (and memory is
/// read again).
const SLICE: Duration = Duration::from_secs(10);

/// One reading of the server's memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub elapsed: Duration,
    /// Requests completed (successful and failed) since the soak began.
    pub requests: u64,
    pub resident_bytes: Option<u64>,
}

/// What a soak found.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakReport {
    pub concurrency: usize,
    pub ops: Vec<&'static str>,
    pub readings: Vec<Reading>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Seeds the target, then drives `options.ops` in turn, [`SLICE`] each at
/// the first concurrency level, until `total` has passed, reading the
/// server's memory before the first slice and after every one.
pub async fn run(
    options: &Options,
    target: &Target,
    client: &reqwest::Client,
    total: Duration,
) -> Result<SoakReport, Error> {
    let (ops, work) = prepare(options, target, client).await?;
    let concurrency = options.concurrency.first().copied().unwrap_or(64);
    let plan = Plan {
        concurrency,
        stop: Stop::After(SLICE.min(total)),
    };
    let started = Instant::now();
    let mut report = SoakReport {
        concurrency,
        ops: ops.iter().map(|op| op.name()).collect(),
        readings: vec![Reading {
            elapsed: Duration::ZERO,
            requests: 0,
            resident_bytes: target::resident_memory(client, &target.http).await,
        }],
        errors: 0,
        first_error: None,
    };
    let mut requests = 0;
    for op in ops.iter().copied().cycle() {
        if started.elapsed() >= total {
            break;
        }
        eprintln!(
            "steward bench: soak {:>4}s/{}s: {} at concurrency {concurrency}",
            started.elapsed().as_secs(),
            total.as_secs(),
            op.name()
        );
        let sample = work.measure(op, &plan).await?;
        requests += sample.ok + sample.errors;
        report.errors += sample.errors;
        if report.first_error.is_none() {
            report.first_error = sample.first_error.clone();
        }
        report.readings.push(Reading {
            elapsed: started.elapsed(),
            requests,
            resident_bytes: target::resident_memory(client, &target.http).await,
        });
    }
    Ok(report)
}

fn megabytes(bytes: Option<u64>) -> String {
    // Display only: precision loss is irrelevant.
    #[allow(clippy::cast_precision_loss)]
    bytes.map_or_else(|| "-".into(), |b| format!("{:.1}", b as f64 / 1_048_576.0))
}

impl SoakReport {
    /// The readings at the start, in the middle and at the end.
    pub fn start_middle_end(&self) -> [Option<&Reading>; 3] {
        let n = self.readings.len();
        [
            self.readings.first(),
            self.readings.get(n / 2),
            self.readings.last(),
        ]
    }

    /// A text table: every reading, then start / middle / end.
    pub fn table(&self) -> String {
        let mut out = format!(
            "soak: {} at concurrency {}, {} slices of {}s\n{:>9} {:>12} {:>10}\n",
            self.ops.join(", "),
            self.concurrency,
            self.readings.len().saturating_sub(1),
            SLICE.as_secs(),
            "elapsed",
            "requests",
            "RSS MB"
        );
        for reading in &self.readings {
            out.push_str(&format!(
                "{:>8}s {:>12} {:>10}\n",
                reading.elapsed.as_secs(),
                reading.requests,
                megabytes(reading.resident_bytes)
            ));
        }
        let [start, middle, end] = self.start_middle_end();
        let rss = |r: Option<&Reading>| megabytes(r.and_then(|r| r.resident_bytes));
        out.push_str(&format!(
            "resident memory: start {} MB, middle {} MB, end {} MB; {} requests, {} failed\n",
            rss(start),
            rss(middle),
            rss(end),
            self.readings.last().map_or(0, |r| r.requests),
            self.errors
        ));
        if let Some(why) = &self.first_error {
            out.push_str(&format!("first failure: {why}\n"));
        }
        out
    }

    /// The report as JSON (for BENCHMARKS.md and charts).
    pub fn json(&self) -> Result<String, Error> {
        let readings: Vec<_> = self
            .readings
            .iter()
            .map(|r| {
                json!({
                    "elapsed_s": r.elapsed.as_secs_f64(),
                    "requests": r.requests,
                    "resident_bytes": r.resident_bytes,
                })
            })
            .collect();
        serde_json::to_string_pretty(&json!({
            "soak": {
                "ops": self.ops,
                "concurrency": self.concurrency,
                "slice_s": SLICE.as_secs(),
                "errors": self.errors,
                "readings": readings,
            }
        }))
        .map_err(|e| Error::Internal(format!("cannot encode the soak report: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_start_middle_and_end() {
        let reading = |s: u64, rss: u64| Reading {
            elapsed: Duration::from_secs(s),
            requests: s * 100,
            resident_bytes: Some(rss * 1_048_576),
        };
        let report = SoakReport {
            concurrency: 64,
            ops: vec!["http-perm"],
            readings: vec![
                reading(0, 20),
                reading(10, 30),
                reading(20, 31),
                reading(30, 31),
            ],
            errors: 0,
            first_error: None,
        };
        let table = report.table();
        assert!(
            table.contains("start 20.0 MB, middle 31.0 MB, end 31.0 MB"),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(json["soak"]["readings"].as_array().unwrap().len(), 4);
    }
}
