//! The audit and decision log: one structured event per permission
//! decision, ticket registration, RPT issuance and RPT revocation, as JSON
//! lines on stdout (or in a file). Events name who asked (requesting party,
//! client), whose resources (resource server, owner, resource set, scopes),
//! what was decided and by which policies, the ticket → RPT lineage and the
//! trace id. They never carry a token or a secret: tickets are named by their
//! id, RPTs by the SHA-256 the change stream also uses.
//!
//! Writing never blocks a request on I/O: events go through a bounded
//! queue to a writer thread that batches them into the sink.

use std::io::Write as _;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::domain::{Error, UnixTime};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A resource server registered the permission a request needed.
    TicketRegistered,
    /// The owner's policies were evaluated for a permission request or a
    /// decision-service call.
    PermissionDecided,
    /// An RPT was issued (blank, or minted with its first permission).
    RptIssued,
    /// An RPT was revoked (replaced by a newer RPT of the same AAT).
    RptRevoked,
}

/// One audit event (a JSON line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Seconds since the Unix epoch (the core's clock).
    pub at: UnixTime,
    pub event: Option<AuditKind>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub requesting_party: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_set_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// `permit`, `deny`, `need_claims`, `pending`, or the refusal's code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub outcome: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_ids: Vec<String>,
    /// The ticket's id (its `Location`), never its value.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ticket_id: String,
    /// The RPT's SHA-256, never the RPT.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rpt_id: String,
    /// The W3C trace id of the request, when tracing is on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
}

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    Off,
    Stdout,
    File(std::path::PathBuf),
}

impl AuditSink {
    /// Parses the `audit_log` setting: `stdout`, `off`, or a file path.
    pub fn parse(setting: &str) -> AuditSink {
        match setting {
            "off" | "" => AuditSink::Off,
            "stdout" | "-" => AuditSink::Stdout,
            path => AuditSink::File(path.into()),
        }
    }
}

/// Events waiting for the writer before emitters wait for room.
const QUEUE: usize = 8192;

/// Most events one write takes (the queue holds two such batches).
const MAX_BATCH: usize = 4096;

/// How long the writer lets events gather between writes: an event is on
/// disk at most this much later than it happened.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// The handle the core emits through (cheap to clone).
#[derive(Clone)]
pub struct AuditLog {
    queue: Option<mpsc::Sender<AuditEvent>>,
}

impl AuditLog {
    /// Starts the writer task for `sink` on the current runtime (a file is
    /// opened for appending now, so a bad path fails start-up).
    pub fn start(sink: &AuditSink) -> Result<AuditLog, Error> {
        let mut out: Box<dyn std::io::Write + Send> = match sink {
            AuditSink::Off => return Ok(AuditLog { queue: None }),
            AuditSink::Stdout => Box::new(std::io::stdout()),
            AuditSink::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        Error::invalid_request(format!(
                            "cannot open the audit log {}: {e}",
                            path.display()
                        ))
                    })?,
            ),
        };
        let (queue, mut events) = mpsc::channel::<AuditEvent>(QUEUE);
        // A thread of its own: file and pipe writes block, the runtime must not.
        std::thread::Builder::new()
            .name("steward-audit".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Some(first) = events.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_BATCH
                        && let Ok(next) = events.try_recv()
                    {
                        batch.push(next);
                    }
                    let mut text = Vec::new();
                    for event in batch.drain(..) {
                        if serde_json::to_writer(&mut text, &event).is_ok() {
                            text.push(b'\n');
                        }
                    }
                    if let Err(e) = out.write_all(&text).and_then(|()| out.flush()) {
                        tracing::error!(error = %e, "cannot write the audit log");
                    }
                    // Let the next events gather: waking this thread for
                    // every event cost a quarter of a busy decision service.
                    std::thread::sleep(GATHER);
                }
            })
            .map_err(|e| Error::Internal(format!("cannot start the audit writer: {e}")))?;
        Ok(AuditLog { queue: Some(queue) })
    }

    /// Records an event (with the current trace id). Waits only when the
    /// writer is thousands of events behind.
    pub async fn record(&self, mut event: AuditEvent) {
        let Some(queue) = &self.queue else {
            return;
        };
        if event.trace_id.is_empty() {
            event.trace_id = crate::telemetry::current_trace_id().unwrap_or_default();
        }
        if queue.send(event).await.is_err() {
            tracing::error!("the audit log writer has stopped");
        }
    }
}

/// `(outcome, policy ids)` of a decision, as events name them.
pub fn outcome_of(decision: &crate::domain::policy::Decision) -> (&'static str, Vec<String>) {
    use crate::domain::policy::Decision;
    match decision {
        Decision::Permit { policies, .. } => ("permit", policies.clone()),
        Decision::Deny { policies } => ("deny", policies.clone()),
        Decision::NeedClaims { policies, .. } => ("need_claims", policies.clone()),
        Decision::Pending { policies, .. } => ("pending", policies.clone()),
    }
}

impl super::Core {
    /// Records an audit event stamped with the core's clock.
    pub(crate) async fn audit(&self, kind: AuditKind, event: AuditEvent) {
        self.inner
            .audit
            .record(AuditEvent {
                at: self.now(),
                event: Some(kind),
                ..event
            })
            .await;
    }
}
