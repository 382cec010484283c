//! Logs, traces and metrics. `tracing` everywhere; spans export over
//! OTLP/gRPC when an endpoint is configured; Prometheus metrics through a
//! process-wide recorder rendered at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Settings};
use crate::domain::Error;

/// Keeps the trace exporter alive; flushes pending spans when dropped.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("steward: flushing traces failed: {e}");
        }
    }
}

/// Installs the global subscriber: `RUST_LOG` filter (default `info`), text
/// or JSON logs, and an OTLP layer when `otlp_endpoint` is set. Call once,
/// from `main` (tests do not install one).
pub fn init(settings: &Settings) -> Result<TelemetryGuard, Error> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = match settings.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (otel, provider) = match &settings.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| Error::invalid_request(format!("cannot set up OTLP export: {e}")))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("steward")
                        .build(),
                )
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("steward"));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| Error::Internal(format!("cannot install the log subscriber: {e}")))?;
    Ok(TelemetryGuard { provider })
}

/// Logs an internal error's detail, once, at the edge that answers it
/// (gRPC status, JSON error, error page, batch item). One rebuilt from the
/// core's gRPC status has no detail left: the core logged it where it arose.
pub fn report_internal(error: &Error) {
    if let Error::Internal(detail) = error
        && !detail.is_empty()
    {
        tracing::error!(error.detail = %detail, "internal error");
    }
}

/// The process-wide Prometheus handle, installing the recorder on first use.
/// `None` if another metrics recorder was installed first.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// How often the Prometheus recorder's upkeep runs.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the Prometheus recorder's upkeep until `stop` turns true. Histogram
/// samples are otherwise only drained by a scrape of `/metrics`: with
/// nobody scraping (the chart's ServiceMonitor is off by default) they
/// would pile up, a few bytes per request, for the life of the process.
pub async fn metrics_upkeep(mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(handle) = metrics_handle() else {
        return;
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(METRICS_UPKEEP) => handle.run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// The process's resident memory in bytes (Linux: `VmRSS` of
/// `/proc/self/status`), exported as `process_resident_memory_bytes` so an
/// operator — and the load tool's scale run — can see what the caches cost.
/// `None` where the kernel does not say.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Reads W3C trace context from HTTP headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes W3C trace context into gRPC metadata.
struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// A span for one incoming HTTP or gRPC request, continuing the caller's
/// trace when it sent `traceparent`. Only method and route are recorded —
/// never headers, bodies or tokens.
pub fn request_span<B>(request: &http::Request<B>, protocol: &'static str) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(
            || request.uri().path().to_string(),
            |p| p.as_str().to_string(),
        );
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        protocol,
        http.request.method = %request.method(),
        http.route = %route,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    // Fails only when no OpenTelemetry layer is installed; then there is no trace to join.
    let _ = span.set_parent(parent);
    span
}

/// The W3C trace id of the current span, when tracing is on (an
/// OpenTelemetry layer is installed and the span is sampled into a trace).
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Propagates the current span's trace context to the core in gRPC metadata.
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

#[cfg(test)]
mod resident_memory_tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tsteward\nVmPeak:\t  99 kB\nVmRSS:\t   18432 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(18432 * 1024));
        assert_eq!(parse_vm_rss("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_resident_memory() {
        assert!(resident_memory_bytes().is_some_and(|b| b > 0));
    }
}
