//! Logs (`tracing`, pretty or JSON), the Prometheus recorder, and what the
//! process measures itself ([`Telemetry`]).
use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt as _, util::SubscriberInitExt as _};

use crate::config::LogFormat;

pub fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(crate::config::DEFAULT_LOG_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(tracing_subscriber::fmt::layer().json()).init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).init(),
    }
}

/// The process-wide recorder, installed on first use (several apps in one
/// test process share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const LATENCY: &[f64] = &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a test harness); ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// What `/metrics` shows besides the recorder's counters.
pub struct Telemetry {
    /// The Prometheus registry that `/metrics` renders.
    pub metrics: PrometheusHandle,
    /// Statements this app sent to the database; exported on `/metrics`, so
    /// query counts (an N+1 regression, say) are visible per process.
    pub db_statements: Arc<AtomicU64>,
}

impl Telemetry {
    /// Counting `db_statements` (the database connection's metric callback
    /// adds to it).
    pub fn new(db_statements: Arc<AtomicU64>) -> Self {
        Self {
            metrics: metrics_handle(),
            db_statements,
        }
    }

    /// Statements sent to the database so far.
    pub fn statements_run(&self) -> u64 {
        self.db_statements.load(Ordering::Relaxed)
    }
}

/// Trouble with an outside service that the operator must hear of once, not
/// once per request: each cause (a refusal's status and code, an outage's
/// reason) is news once, until the service answers again
/// ([`answered`](Self::answered)) or another cause comes. Shared by the
/// Spotify client and the FCM client for their token endpoints.
#[derive(Debug, Default)]
pub struct OnceTold(std::sync::Mutex<Option<String>>);

impl OnceTold {
    /// Whether `cause` is news to the operator (log it then); it is
    /// remembered as told.
    pub fn news(&self, cause: &str) -> bool {
        let mut told = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if told.as_deref() == Some(cause) {
            return false;
        }
        *told = Some(cause.to_owned());
        true
    }

    /// The service answered: the next trouble is news again.
    pub fn answered(&self) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::OnceTold;

    #[test]
    fn a_cause_is_news_once_until_the_service_answers() {
        let told = OnceTold::default();
        assert!(told.news("400 invalid_client"));
        assert!(!told.news("400 invalid_client"));
        assert!(told.news("outage: HTTP 503"));
        assert!(told.news("400 invalid_client"), "another cause came between");
        told.answered();
        assert!(told.news("400 invalid_client"));
    }
}
