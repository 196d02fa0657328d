//! The projection runner's Prometheus series (see
//! `pantau_platform::metrics`): events applied, events dead-lettered, and
//! lag — the last stream sequence on the projection's subjects minus its
//! committed checkpoint, computed when Prometheus scrapes.

use std::sync::{Arc, LazyLock};

use futures::FutureExt;
use pantau_eventstore::EventStore;
use pantau_platform::metrics::ScrapeHook;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabels {
    projection: &'static str,
}

struct Families {
    applied: Family<ProjectionLabels, Counter>,
    dead_letters: Family<ProjectionLabels, Counter>,
    lag: Family<ProjectionLabels, Gauge>,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let f = Families {
        applied: Family::default(),
        dead_letters: Family::default(),
        lag: Family::default(),
    };
    pantau_platform::metrics::register(
        "pantau_projection_events_applied",
        "Events a projection applied and committed, by projection",
        f.applied.clone(),
    );
    pantau_platform::metrics::register(
        "pantau_projection_dead_letters",
        "Events a projection could not apply and recorded in dead_letters, by projection",
        f.dead_letters.clone(),
    );
    pantau_platform::metrics::register(
        "pantau_projection_lag_events",
        "Last stream sequence on the projection's subjects minus its committed checkpoint",
        f.lag.clone(),
    );
    f
});

/// One projection's series.
#[derive(Clone)]
pub(crate) struct ProjectionMetrics {
    pub(crate) applied: Counter,
    pub(crate) dead_letters: Counter,
    lag: Gauge,
}

impl ProjectionMetrics {
    pub(crate) fn new(projection: &'static str) -> Self {
        let f = &*FAMILIES;
        let labels = ProjectionLabels { projection };
        Self {
            applied: f.applied.get_or_create_owned(&labels),
            dead_letters: f.dead_letters.get_or_create_owned(&labels),
            lag: f.lag.get_or_create_owned(&labels),
        }
    }

    /// A scrape hook setting the lag gauge; it runs while the returned
    /// handle lives (the runner's task keeps it).
    pub(crate) fn lag_hook(
        &self,
        store: EventStore,
        subjects: Vec<String>,
        checkpoint: watch::Receiver<u64>,
    ) -> Arc<ScrapeHook> {
        let lag = self.lag.clone();
        let subjects: Arc<[String]> = subjects.into();
        pantau_platform::metrics::on_scrape(Arc::new(move || {
            let (store, subjects, checkpoint, lag) = (
                store.clone(),
                subjects.clone(),
                checkpoint.clone(),
                lag.clone(),
            );
            async move {
                let mut last = 0;
                for s in subjects.iter() {
                    match store.last_sequence_of(s).await {
                        Ok(seq) => last = last.max(seq),
                        // Leave the previous value: a failed read is not
                        // "caught up".
                        Err(e) => {
                            tracing::debug!(error = %e, "projection lag not refreshed");
                            return;
                        }
                    }
                }
                let applied = *checkpoint.borrow();
                lag.set(i64::try_from(last.saturating_sub(applied)).unwrap_or(i64::MAX));
            }
            .boxed()
        }))
    }
}
