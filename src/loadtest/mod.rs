//! `steward bench`: a load tool that drives a Steward over real sockets and
//! compares each operation with no-op tonic and axum baselines measured the
//! same way in the same run, so the numbers say what Steward itself costs
//! on this machine rather than what the machine can do.
//!
//! The flow: pick the target (a Steward given by `--http`/`--grpc` on
//! loopback, or one spawned in-process over a fresh SQLite file), seed it
//! ([`seed`]), start the baselines ([`baseline`]), then for every
//! concurrency level measure each protocol's baseline and its operations
//! ([`driver`]) and report ([`report`]).

mod baseline;
mod driver;
mod ops;
mod report;
mod scale;
mod seed;
mod soak;
mod target;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::domain::Error;
use crate::http::paths;
use baseline::Baselines;
use driver::{Plan, Stop, measure};
use ops::{
    Channels, CheckCall, DecideCall, Expect, HealthCall, HttpCall, HttpSpec, IntrospectCall,
};
use report::Record;
use seed::Seeded;
use target::{ServerRuntime, Target};

/// The most tasks one measurement may run: far above what loopback needs,
/// low enough that a typo cannot exhaust file descriptors.
const MAX_CONCURRENCY: usize = 1024;
/// The longest one measurement may run.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The most seeded resource sets or RPTs.
const MAX_SEEDED: usize = 10_000;

/// Options of `steward bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of a running Steward's HTTP façade (loopback only), e.g.
    /// http://127.0.0.1:8080. Without --http/--grpc an in-process Steward is
    /// spawned.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,
    /// URL of the running Steward's gRPC core (loopback only), e.g.
    /// http://127.0.0.1:50051; without it the gRPC operations are skipped.
    #[arg(long, value_name = "URL", requires = "http")]
    pub grpc: Option<String>,
    /// Start an in-process Steward on ephemeral ports over a fresh SQLite
    /// file in a temporary directory and measure it (the default).
    #[arg(long, conflicts_with_all = ["http", "grpc"])]
    pub spawn: bool,
    /// The running Steward's database, where the tool registers its clients
    /// (as `steward client create` does). Not used with --spawn.
    #[arg(
        long,
        value_name = "URL",
        env = "STEWARD_DATABASE_URL",
        default_value = "sqlite://steward.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Concurrent tasks; repeatable or a comma list (each level is a run).
    #[arg(long, value_name = "N", value_delimiter = ',', default_values_t = [1usize, 64])]
    pub concurrency: Vec<usize>,
    /// Seconds each operation is measured at each concurrency level.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub duration: f64,
    /// Measure a fixed number of requests per operation and level instead
    /// of a duration.
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Resource sets to seed (each with a permit policy).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub resource_sets: usize,
    /// RPTs to seed (each with one permission).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub rpts: usize,
    /// Fill the database to production size before measuring (100 000
    /// resource sets, 10 000 policies, 1 000 000 permissions across RPTs,
    /// bulk-loaded), and measure keys drawn from all of it.
    #[arg(long)]
    pub scale: bool,
    /// With --scale: resource sets to load.
    #[arg(long, value_name = "N", requires = "scale")]
    pub scale_resource_sets: Option<usize>,
    /// With --scale: policies to load (one each on evenly spaced sets).
    #[arg(long, value_name = "N", requires = "scale")]
    pub scale_policies: Option<usize>,
    /// With --scale: permissions to load (one per RPT).
    #[arg(long, value_name = "N", requires = "scale")]
    pub scale_permissions: Option<usize>,
    /// Operations to measure, comma separated (default: all).
    #[arg(long, value_enum, value_name = "OPS", value_delimiter = ',')]
    pub ops: Vec<Op>,
    /// Also write the results as JSON: one record per op × concurrency.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the results as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Soak instead of measuring: drive the operations in turn, without
    /// pause, for this many seconds at the first concurrency level, and
    /// report the server's resident memory as it goes (start, middle, end).
    #[arg(long, value_name = "SECS", conflicts_with = "requests")]
    pub soak: Option<u64>,
}

/// A measured operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// gRPC `DecisionService/Decide` (a permit).
    GrpcDecide,
    /// gRPC `TokenService/IntrospectRpt` (an active RPT).
    GrpcIntrospectRpt,
    /// Envoy `Authorization/Check` on the gRPC port (an allowed request).
    GrpcExtAuthz,
    /// HTTP `POST /uma/rs/status` (rpt_status_endpoint).
    HttpRptStatus,
    /// HTTP `POST /uma/rs/introspect` (introspection_endpoint).
    HttpIntrospect,
    /// HTTP `POST /uma/rs/perm` (permission registration).
    HttpPerm,
    /// HTTP `POST /oauth/token` (client_credentials PAT).
    HttpToken,
}

/// Every operation, in the order they are measured.
const ALL_OPS: [Op; 7] = [
    Op::GrpcDecide,
    Op::GrpcIntrospectRpt,
    Op::GrpcExtAuthz,
    Op::HttpRptStatus,
    Op::HttpIntrospect,
    Op::HttpPerm,
    Op::HttpToken,
];

/// Which baseline an operation is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }

    fn baseline_name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc-noop",
            Protocol::Http => "http-noop",
        }
    }
}

impl Op {
    /// The name `--ops` accepts and the report shows.
    fn name(self) -> &'static str {
        match self {
            Op::GrpcDecide => "grpc-decide",
            Op::GrpcIntrospectRpt => "grpc-introspect-rpt",
            Op::GrpcExtAuthz => "grpc-ext-authz",
            Op::HttpRptStatus => "http-rpt-status",
            Op::HttpIntrospect => "http-introspect",
            Op::HttpPerm => "http-perm",
            Op::HttpToken => "http-token",
        }
    }

    fn protocol(self) -> Protocol {
        match self {
            Op::GrpcDecide | Op::GrpcIntrospectRpt | Op::GrpcExtAuthz => Protocol::Grpc,
            _ => Protocol::Http,
        }
    }
}

/// The arguments, checked.
struct Options {
    concurrency: Vec<usize>,
    stop: Stop,
    ops: Vec<Op>,
    resource_sets: usize,
    rpts: usize,
    scale: Option<scale::ScalePlan>,
}

impl Options {
    fn from_args(args: &BenchArgs) -> Result<Options, Error> {
        let mut concurrency = Vec::new();
        for &level in &args.concurrency {
            if !(1..=MAX_CONCURRENCY).contains(&level) {
                return Err(Error::invalid_request(format!(
                    "--concurrency must be between 1 and {MAX_CONCURRENCY}, not {level}"
                )));
            }
            if !concurrency.contains(&level) {
                concurrency.push(level);
            }
        }
        if concurrency.is_empty() {
            return Err(Error::invalid_request("--concurrency needs a level"));
        }
        let stop = match args.requests {
            Some(0) => return Err(Error::invalid_request("--requests must be at least 1")),
            Some(n) => Stop::Requests(n),
            None => {
                let duration = Duration::try_from_secs_f64(args.duration)
                    .ok()
                    .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
                    .ok_or_else(|| {
                        Error::invalid_request(format!(
                            "--duration must be more than 0 and at most {} seconds",
                            MAX_DURATION.as_secs()
                        ))
                    })?;
                Stop::After(duration)
            }
        };
        for (flag, value) in [
            ("--resource-sets", args.resource_sets),
            ("--rpts", args.rpts),
        ] {
            if !(1..=MAX_SEEDED).contains(&value) {
                return Err(Error::invalid_request(format!(
                    "{flag} must be between 1 and {MAX_SEEDED}, not {value}"
                )));
            }
        }
        // Keep the measuring order fixed whatever order --ops names them in.
        let ops = ALL_OPS
            .into_iter()
            .filter(|op| args.ops.is_empty() || args.ops.contains(op))
            .collect();
        let scale = if args.scale {
            let preset = scale::ScalePlan::PRESET;
            Some(
                scale::ScalePlan {
                    resource_sets: args.scale_resource_sets.unwrap_or(preset.resource_sets),
                    policies: args.scale_policies.unwrap_or(preset.policies),
                    permissions: args.scale_permissions.unwrap_or(preset.permissions),
                }
                .check()?,
            )
        } else {
            None
        };
        Ok(Options {
            concurrency,
            stop,
            ops,
            resource_sets: args.resource_sets,
            rpts: args.rpts,
            scale,
        })
    }
}

/// Runs the load tool. Exits with an error after printing the report when
/// any request failed, so scripts cannot mistake a failing run for a result.
pub async fn run(args: BenchArgs) -> Result<(), Error> {
    let result = run_checked(args).await;
    // The CLI prints only an error's public description, which for an
    // internal error hides the detail; an operator running a load tool
    // needs it.
    if let Err(Error::Internal(detail)) = &result {
        eprintln!("steward bench: {detail}");
    }
    result
}

async fn run_checked(args: BenchArgs) -> Result<(), Error> {
    let options = Options::from_args(&args)?;
    let servers = ServerRuntime::new()?;
    let server_handle = servers
        .handle()
        .ok_or_else(|| Error::Internal("the server runtime is gone".into()))?;
    let setup_client = ops::http_client(8)?;
    let target = match &args.http {
        Some(http) => {
            Target::external(
                http,
                args.grpc.as_deref(),
                args.database_url.clone(),
                &setup_client,
            )
            .await?
        }
        None => Target::spawn(&server_handle).await?,
    };
    eprintln!(
        "steward bench: {} Steward http={} grpc={}",
        if target.is_spawned() {
            "spawned"
        } else {
            "given"
        },
        target.http,
        target.grpc.as_deref().unwrap_or("-"),
    );
    if let Some(seconds) = args.soak {
        let soaked = soak::run(
            &options,
            &target,
            &setup_client,
            Duration::from_secs(seconds),
        )
        .await;
        target.stop().await;
        drop(servers);
        let report = soaked?;
        print!("{}", report.table());
        if let Some(path) = &args.json {
            write_file(path, &report.json()?)?;
        }
        if report.errors > 0 {
            return Err(Error::Unavailable(format!(
                "{} requests failed during the soak",
                report.errors
            )));
        }
        return Ok(());
    }
    let idle_memory = target::resident_memory(&setup_client, &target.http).await;
    let measured = measure_target(&options, &server_handle, &target, &setup_client).await;
    let loaded_memory = target::resident_memory(&setup_client, &target.http).await;
    let memory = report::memory_line(target.is_spawned(), idle_memory, loaded_memory);
    target.stop().await;
    drop(servers);
    let mut records = measured?;
    report::apply_ratios(&mut records);

    print!("{}", report::table(&records));
    println!("{memory}");
    if let Some(path) = &args.json {
        write_file(path, &report::json(&records)?)?;
    }
    if let Some(path) = &args.csv {
        write_file(path, &report::csv(&records))?;
    }
    let failed: u64 = records.iter().map(|r| r.errors).sum();
    if failed > 0 {
        return Err(Error::Unavailable(format!(
            "{failed} requests failed; see the failures under the table"
        )));
    }
    Ok(())
}

fn write_file(path: &std::path::Path, contents: &str) -> Result<(), Error> {
    std::fs::write(path, contents)
        .map_err(|e| Error::invalid_request(format!("cannot write {}: {e}", path.display())))
}

/// Seeds, starts the baselines and measures every level × operation.
/// Seeds the target and prepares the operations' workload.
async fn prepare(
    options: &Options,
    target: &Target,
    setup_client: &reqwest::Client,
) -> Result<(Vec<Op>, Workload), Error> {
    let mut ops = options.ops.clone();
    if target.grpc.is_none() && ops.iter().any(|op| op.protocol() == Protocol::Grpc) {
        eprintln!("steward bench: no --grpc target; skipping the gRPC operations");
        ops.retain(|op| op.protocol() != Protocol::Grpc);
    }
    if ops.is_empty() {
        return Err(Error::invalid_request("no operation left to measure"));
    }
    eprintln!(
        "steward bench: seeding {} resource sets and {} RPTs",
        options.resource_sets, options.rpts
    );
    let clients = seed::register_clients(&target.database_url, &target.issuer).await?;
    let mut seeded = seed::seed(
        setup_client,
        &target.http,
        clients.clone(),
        options.resource_sets,
        options.rpts,
    )
    .await?;
    if let Some(plan) = options.scale {
        let sample = scale::load(
            &target.database_url,
            &clients,
            plan,
            options.resource_sets,
            options.rpts,
        )
        .await?;
        seeded.resource_sets = sample.resource_sets;
        seeded.rpts = sample.rpts;
        seeded.rpt_sets = sample.rpt_sets;
    }
    Ok((ops, Workload::new(&seeded, target)?))
}

async fn measure_target(
    options: &Options,
    server_handle: &tokio::runtime::Handle,
    target: &Target,
    setup_client: &reqwest::Client,
) -> Result<Vec<Record>, Error> {
    let (ops, work) = prepare(options, target, setup_client).await?;

    let baselines = Baselines::start(server_handle).await?;
    let result = measure_levels(options, &ops, &work, &baselines).await;
    baselines.stop();
    result
}

async fn measure_levels(
    options: &Options,
    ops: &[Op],
    work: &Workload,
    baselines: &Baselines,
) -> Result<Vec<Record>, Error> {
    let mut records = Vec::new();
    for &concurrency in &options.concurrency {
        let plan = Plan {
            concurrency,
            stop: options.stop,
        };
        for protocol in [Protocol::Grpc, Protocol::Http] {
            let mine: Vec<Op> = ops
                .iter()
                .copied()
                .filter(|op| op.protocol() == protocol)
                .collect();
            if mine.is_empty() {
                continue;
            }
            // The baseline right before its operations, so both see the
            // machine in the same state.
            let name = protocol.baseline_name();
            progress(name, concurrency);
            let sample = match protocol {
                Protocol::Grpc => {
                    let channels = Channels::connect(&baselines.grpc, concurrency).await?;
                    measure(&plan, |w| HealthCall::new(channels.pick(w))).await?
                }
                Protocol::Http => {
                    let spec = Arc::new(work.noop_spec(baselines)?);
                    let client = ops::http_client(concurrency)?;
                    measure(&plan, |w| HttpCall::new(client.clone(), spec.clone(), w)).await?
                }
            };
            records.push(Record::new(
                name,
                protocol.as_str(),
                true,
                concurrency,
                &sample,
            ));
            for op in mine {
                progress(op.name(), concurrency);
                let sample = work.measure(op, &plan).await?;
                records.push(Record::new(
                    op.name(),
                    protocol.as_str(),
                    false,
                    concurrency,
                    &sample,
                ));
            }
        }
    }
    Ok(records)
}

fn progress(name: &str, concurrency: usize) {
    eprintln!("steward bench: measuring {name} at concurrency {concurrency}");
}

/// Everything the probes need, rendered once.
struct Workload {
    grpc: Option<String>,
    pat_metadata: tonic::metadata::AsciiMetadataValue,
    resource_sets: Arc<[String]>,
    rpts: Arc<[String]>,
    /// Envoy checks: the host, and (path under the RPT's set, `Bearer` RPT).
    check_host: Arc<str>,
    checks: Arc<[(String, String)]>,
    requester: Arc<str>,
    rpt_status: Arc<HttpSpec>,
    introspect: Arc<HttpSpec>,
    perm: Arc<HttpSpec>,
    token: Arc<HttpSpec>,
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

impl Workload {
    fn new(seeded: &Seeded, target: &Target) -> Result<Workload, Error> {
        let pat = ops::bearer_header(&seeded.pat)?;
        let url = |path: &str| format!("{}{path}", target.http);
        let form = |pairs: &[(&str, &str)]| {
            serde_urlencoded::to_string(pairs)
                .map_err(|e| Error::Internal(format!("cannot encode a form: {e}")))
        };
        let rpt_status = HttpSpec {
            url: url(paths::RPT_STATUS),
            authorization: Some(pat.clone()),
            content_type: JSON,
            bodies: seeded
                .rpts
                .iter()
                .map(|rpt| serde_json::json!({ "rpt": rpt }).to_string())
                .collect(),
            status: 200,
            // An active RPT's status is the array of its permissions.
            expect: Expect::StartsWith("["),
        };
        let introspect = HttpSpec {
            url: url(paths::INTROSPECTION),
            authorization: Some(pat.clone()),
            content_type: FORM,
            bodies: seeded
                .rpts
                .iter()
                .map(|rpt| form(&[("token", rpt)]))
                .collect::<Result<_, _>>()?,
            status: 200,
            expect: Expect::Contains(r#""active":true"#),
        };
        let perm = HttpSpec {
            url: url(paths::PERMISSION_REGISTRATION),
            authorization: Some(pat),
            content_type: JSON,
            bodies: seeded
                .resource_sets
                .iter()
                .map(|rsid| {
                    serde_json::json!({ "resource_set_id": rsid, "scopes": [ops::SCOPE] })
                        .to_string()
                })
                .collect(),
            status: 201,
            expect: Expect::Contains(r#""ticket""#),
        };
        let rs = &seeded.clients.resource_server;
        let token = HttpSpec {
            url: url(paths::TOKEN),
            authorization: Some(basic(&rs.id, &rs.secret)?),
            content_type: FORM,
            bodies: vec![form(&[
                ("grant_type", "client_credentials"),
                ("scope", "uma_protection"),
            ])?],
            status: 200,
            expect: Expect::Contains(r#""access_token""#),
        };
        Ok(Workload {
            grpc: target.grpc.clone(),
            pat_metadata: ops::bearer_metadata(&seeded.pat)?,
            resource_sets: seeded.resource_sets.clone().into(),
            rpts: seeded.rpts.clone().into(),
            check_host: seeded.host.as_str().into(),
            checks: seeded
                .rpts
                .iter()
                .zip(&seeded.rpt_sets)
                .map(|(rpt, rsid)| (format!("/bench/{rsid}/photo.jpg"), format!("Bearer {rpt}")))
                .collect(),
            requester: seeded.clients.requester.id.as_str().into(),
            rpt_status: Arc::new(rpt_status),
            introspect: Arc::new(introspect),
            perm: Arc::new(perm),
            token: Arc::new(token),
        })
    }

    /// The HTTP baseline: the same kind of probe as the operations, with a
    /// small JSON body like theirs.
    fn noop_spec(&self, baselines: &Baselines) -> Result<HttpSpec, Error> {
        Ok(HttpSpec {
            url: baselines.noop_url(),
            authorization: None,
            content_type: JSON,
            bodies: vec![r#"{"ping":1}"#.to_string()],
            status: 200,
            expect: Expect::Contains(r#""ok""#),
        })
    }

    /// Measures `op` under `plan`.
    async fn measure(&self, op: Op, plan: &Plan) -> Result<driver::Sample, Error> {
        let http = |spec: &Arc<HttpSpec>| {
            let spec = spec.clone();
            ops::http_client(plan.concurrency).map(|client| (client, spec))
        };
        match op {
            Op::GrpcDecide | Op::GrpcIntrospectRpt | Op::GrpcExtAuthz => {
                let url = self
                    .grpc
                    .as_deref()
                    .ok_or_else(|| Error::invalid_request("no gRPC target"))?;
                let channels = Channels::connect(url, plan.concurrency).await?;
                if op == Op::GrpcExtAuthz {
                    measure(plan, |w| {
                        CheckCall::new(
                            channels.pick(w),
                            self.check_host.clone(),
                            self.checks.clone(),
                            w,
                        )
                    })
                    .await
                } else if op == Op::GrpcDecide {
                    measure(plan, |w| {
                        DecideCall::new(
                            channels.pick(w),
                            self.pat_metadata.clone(),
                            self.resource_sets.clone(),
                            self.requester.clone(),
                            w,
                        )
                    })
                    .await
                } else {
                    measure(plan, |w| {
                        IntrospectCall::new(
                            channels.pick(w),
                            self.pat_metadata.clone(),
                            self.rpts.clone(),
                            w,
                        )
                    })
                    .await
                }
            }
            Op::HttpRptStatus | Op::HttpIntrospect | Op::HttpPerm | Op::HttpToken => {
                let spec = match op {
                    Op::HttpRptStatus => &self.rpt_status,
                    Op::HttpIntrospect => &self.introspect,
                    Op::HttpPerm => &self.perm,
                    _ => &self.token,
                };
                let (client, spec) = http(spec)?;
                measure(plan, |w| HttpCall::new(client.clone(), spec.clone(), w)).await
            }
        }
    }
}

/// `Basic base64(id:secret)` (RFC 6749 §2.3.1 form-encodes id and secret
/// first; generated ids and secrets are URL-safe already).
fn basic(id: &str, secret: &str) -> Result<HeaderValue, Error> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    HeaderValue::try_from(format!("Basic {encoded}"))
        .map_err(|e| Error::Internal(format!("cannot build a Basic header: {e}")))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn options(argv: &[&str]) -> Result<Options, Error> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .map_err(|e| Error::invalid_request(e.to_string()))?;
        Options::from_args(&cli.bench)
    }

    #[test]
    fn flags_parse_and_are_bounded() {
        let o = options(&[]).unwrap();
        assert_eq!(o.concurrency, vec![1, 64]);
        assert_eq!(o.stop, Stop::After(Duration::from_secs(5)));
        assert_eq!(o.ops, ALL_OPS.to_vec());
        let o = options(&[
            "--concurrency",
            "8,1",
            "--concurrency",
            "8",
            "--requests",
            "10",
            "--ops",
            "http-token,grpc-decide",
        ])
        .unwrap();
        assert_eq!(o.concurrency, vec![8, 1]);
        assert_eq!(o.stop, Stop::Requests(10));
        assert_eq!(o.ops, vec![Op::GrpcDecide, Op::HttpToken]);
        assert!(options(&["--concurrency", "0"]).is_err());
        assert!(options(&["--duration", "0"]).is_err());
        assert!(options(&["--rpts", "0"]).is_err());
        assert!(
            options(&["--grpc", "http://127.0.0.1:1"]).is_err(),
            "needs --http"
        );
        assert!(options(&["--spawn", "--http", "http://127.0.0.1:1"]).is_err());
    }
}
