//! Turning samples into records, ratios to the no-op baselines, and the
//! three renderings: the stdout table, JSON and CSV.

use std::fmt::Write as _;

use serde::Serialize;

use super::driver::Sample;
use crate::domain::Error;

/// One operation at one concurrency level.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    /// The operation's name as `--ops` spells it (baselines: `grpc-noop`,
    /// `http-noop`).
    pub op: String,
    /// `grpc` or `http`: which baseline the ratio is taken against.
    pub protocol: &'static str,
    /// Whether this is a no-op baseline row.
    pub baseline: bool,
    pub concurrency: usize,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests (non-2xx, gRPC error, or an unexpected answer).
    pub errors: u64,
    pub elapsed_secs: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    /// Throughput divided by the same protocol's baseline at the same
    /// concurrency; absent when there is no usable baseline.
    pub ratio: Option<f64>,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl Record {
    /// The record of `sample`.
    pub fn new(
        op: &str,
        protocol: &'static str,
        baseline: bool,
        concurrency: usize,
        sample: &Sample,
    ) -> Record {
        Record {
            op: op.to_string(),
            protocol,
            baseline,
            concurrency,
            requests: sample.ok,
            errors: sample.errors,
            elapsed_secs: sample.elapsed.as_secs_f64(),
            throughput_rps: sample.throughput(),
            p50_us: sample.quantile_us(0.50),
            p99_us: sample.quantile_us(0.99),
            p999_us: sample.quantile_us(0.999),
            ratio: None,
            first_error: sample.first_error.clone(),
        }
    }
}

/// Sets every record's ratio to its protocol's baseline at its concurrency.
/// A baseline that failed or measured nothing gives no ratio rather than a
/// flattering or infinite one.
pub fn apply_ratios(records: &mut [Record]) {
    let baselines: Vec<(&'static str, usize, f64)> = records
        .iter()
        .filter(|r| r.baseline && r.errors == 0 && r.throughput_rps > 0.0)
        .map(|r| (r.protocol, r.concurrency, r.throughput_rps))
        .collect();
    for record in records.iter_mut() {
        record.ratio = baselines
            .iter()
            .find(|(protocol, concurrency, _)| {
                *protocol == record.protocol && *concurrency == record.concurrency
            })
            .map(|(_, _, base)| record.throughput_rps / base);
    }
}

/// µs as milliseconds with three decimals (µs precision).
fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// The line under the table: the server's resident memory before seeding
/// and after the run, from its `/metrics`. A spawned Steward shares the
/// tool's process, so its figure includes the tool.
pub fn memory_line(spawned: bool, idle: Option<u64>, after: Option<u64>) -> String {
    let mb = |bytes: Option<u64>| {
        // Precision loss only above 2^53 bytes.
        #[allow(clippy::cast_precision_loss)]
        bytes.map_or_else(
            || "unknown".to_string(),
            |b| format!("{:.1} MB", b as f64 / 1_000_000.0),
        )
    };
    format!(
        "resident memory of {}: before seeding {}, after the run {}",
        if spawned {
            "the bench process (tool and in-process Steward)"
        } else {
            "the Steward process"
        },
        mb(idle),
        mb(after)
    )
}

/// The table printed to stdout.
pub fn table(records: &[Record]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<5} {:>5} {:>11} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "op", "proto", "conc", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "ratio"
    );
    for r in records {
        let ratio = r
            .ratio
            .map_or_else(|| "-".to_string(), |x| format!("{x:.3}"));
        let _ = writeln!(
            out,
            "{:<22} {:<5} {:>5} {:>11.1} {:>9} {:>9} {:>9} {:>7} {:>7}",
            r.op,
            r.protocol,
            r.concurrency,
            r.throughput_rps,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            r.errors,
            ratio
        );
    }
    let failures: Vec<&Record> = records.iter().filter(|r| r.errors > 0).collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures (first error of each):");
        for r in failures {
            let _ = writeln!(
                out,
                "  {} @ {}: {} errors, first: {}",
                r.op,
                r.concurrency,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    out
}

/// The records as a JSON array, one object per op × concurrency.
pub fn json(records: &[Record]) -> Result<String, Error> {
    serde_json::to_string_pretty(records)
        .map_err(|e| Error::Internal(format!("cannot render the results as JSON: {e}")))
}

/// The records as CSV with a header line.
pub fn csv(records: &[Record]) -> String {
    let mut out = String::from(
        "op,protocol,baseline,concurrency,requests,errors,elapsed_secs,throughput_rps,p50_us,p99_us,p999_us,ratio\n",
    );
    for r in records {
        let ratio = r.ratio.map_or_else(String::new, |x| format!("{x:.6}"));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.6},{:.3},{},{},{},{}",
            r.op,
            r.protocol,
            r.baseline,
            r.concurrency,
            r.requests,
            r.errors,
            r.elapsed_secs,
            r.throughput_rps,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            ratio
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A sample of `latencies` (µs) over `secs`.
    fn sample(latencies: impl IntoIterator<Item = u64>, secs: u64) -> Sample {
        let mut s = Sample::new().unwrap();
        for us in latencies {
            s.record_ok(Duration::from_micros(us));
        }
        s.elapsed = Duration::from_secs(secs);
        s
    }

    #[test]
    fn merged_percentiles_throughput_and_ratios() {
        // Two tasks: one saw 1..=500 µs, the other 501..=1000 µs, side by side.
        let mut merged = sample(1..=500, 2);
        let mut other = sample(501..=1000, 1);
        other.record_error("503".into());
        merged.merge(&other);
        assert_eq!(merged.ok, 1000);
        assert_eq!(merged.errors, 1);
        assert_eq!(merged.first_error.as_deref(), Some("503"));
        assert_eq!(
            merged.elapsed,
            Duration::from_secs(2),
            "longest task, not the sum"
        );
        assert_eq!(merged.throughput(), 500.0, "errors are not throughput");
        // 3 significant digits: exact below 1024 µs.
        assert_eq!(merged.quantile_us(0.5), 500);
        assert_eq!(merged.quantile_us(0.99), 990);
        assert_eq!(merged.quantile_us(0.999), 999);

        let base = sample(std::iter::repeat_n(100, 2000), 2); // 1000 req/s
        let mut records = vec![
            Record::new("http-noop", "http", true, 8, &base),
            Record::new("http-perm", "http", false, 8, &merged),
            Record::new("grpc-decide", "grpc", false, 8, &merged),
        ];
        apply_ratios(&mut records);
        assert_eq!(records[0].ratio, Some(1.0));
        assert_eq!(records[1].ratio, Some(0.5));
        assert_eq!(records[1].p99_us, 990);
        assert_eq!(records[2].ratio, None, "no gRPC baseline measured");

        let table = table(&records);
        assert!(table.contains("0.990"), "p99 in ms: {table}");
        assert!(table.contains("0.500"), "ratio: {table}");
        assert!(table.contains("http-perm @ 8: 1 errors, first: 503"));
        let csv = csv(&records);
        assert_eq!(csv.lines().count(), 4);
        let parsed: serde_json::Value = serde_json::from_str(&json(&records).unwrap()).unwrap();
        assert_eq!(parsed[1]["p999_us"], 999);
        assert_eq!(parsed[1]["ratio"], 0.5);
    }

    #[test]
    fn an_empty_sample_reports_zeros() {
        let empty = Sample::new().unwrap();
        assert_eq!(empty.throughput(), 0.0);
        assert_eq!(empty.quantile_us(0.99), 0);
        assert_eq!(ms(1_234_567), "1234.567");
    }
}
