//! The event store's Prometheus series (see `pantau_platform::metrics`):
//! events appended and failed appends, by stream. Each appender resolves
//! its stream's counters once, so an append only adds to an atomic.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::append::{AppendError, Appended};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    stream: String,
    /// `conflict` (a stale expected sequence), `publish` (JetStream refused
    /// or did not answer), `closed` (the store was shut down).
    kind: &'static str,
}

struct Families {
    appended: Family<StreamLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let f = Families {
        appended: Family::default(),
        errors: Family::default(),
    };
    pantau_platform::metrics::register(
        "pantau_eventstore_events_appended",
        "Events stored by appends (retries recognised as duplicates not counted), by stream",
        f.appended.clone(),
    );
    pantau_platform::metrics::register(
        "pantau_eventstore_append_errors",
        "Appends that failed, by stream and kind (conflict, publish, closed)",
        f.errors.clone(),
    );
    f
});

/// One stream's counters.
#[derive(Clone)]
pub(crate) struct StreamMetrics {
    appended: Counter,
    conflicts: Counter,
    publish_errors: Counter,
    closed: Counter,
}

impl StreamMetrics {
    pub(crate) fn new(stream: &str) -> Self {
        let f = &*FAMILIES;
        let error = |kind| {
            f.errors.get_or_create_owned(&ErrorLabels {
                stream: stream.to_owned(),
                kind,
            })
        };
        Self {
            appended: f.appended.get_or_create_owned(&StreamLabels {
                stream: stream.to_owned(),
            }),
            conflicts: error("conflict"),
            publish_errors: error("publish"),
            closed: error("closed"),
        }
    }

    pub(crate) fn stored(&self, n: usize) {
        self.appended.inc_by(n as u64);
    }

    pub(crate) fn failed(&self, e: &AppendError) {
        match e {
            AppendError::Conflict { .. } => &self.conflicts,
            AppendError::Publish { .. } => &self.publish_errors,
            AppendError::Closed => &self.closed,
        }
        .inc();
    }

    pub(crate) fn record(&self, result: &Result<Appended, AppendError>) {
        match result {
            Ok(a) if !a.duplicate => self.stored(1),
            Ok(_) => {}
            Err(e) => self.failed(e),
        }
    }
}
