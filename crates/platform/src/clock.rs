//! Where a service reads the time: the system clock, which tests replace
//! to pin "now" (day boundaries, closing days, code expiry), and which a
//! development cluster lets a caller shift per request (the province
//! simulator writing a past month through the real APIs).
//!
//! Two times are kept apart. [`SettableClock::now`] is *business* time: when
//! a check-in happened, which day a report is for. [`SettableClock::wall`]
//! is *security* time: whether a token has expired. A request's
//! [`SIM_TIME_HEADER`] moves only the first, so a simulated October never
//! revives an expired token.

use std::future::Future;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// A source of "now".
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// gRPC metadata naming the business time of one request (RFC 3339). A
/// service honours it only when started with `PANTAU_DEV_CLOCK=true`; one
/// that is not refuses the request (see [`crate::grpc::DevClockLayer`]).
pub const SIM_TIME_HEADER: &str = "x-pantau-sim-time";

tokio::task_local! {
    static REQUEST_TIME: DateTime<Utc>;
}

/// Runs `fut` with `at` as the business time of every clock it reads.
pub fn with_request_time<F: Future>(
    at: DateTime<Utc>,
    fut: F,
) -> tokio::task::futures::TaskLocalFuture<DateTime<Utc>, F> {
    REQUEST_TIME.scope(at, fut)
}

/// Runs `f` with `at` as the business time of every clock it reads.
pub fn sync_with_request_time<R>(at: DateTime<Utc>, f: impl FnOnce() -> R) -> R {
    REQUEST_TIME.sync_scope(at, f)
}

/// The business time the current request was given, if any.
pub fn request_time() -> Option<DateTime<Utc>> {
    REQUEST_TIME.try_with(|t| *t).ok()
}

/// The system clock until [`SettableClock::set`] replaces it.
pub struct SettableClock(RwLock<Clock>);

impl Default for SettableClock {
    fn default() -> Self {
        SettableClock(RwLock::new(Arc::new(Utc::now)))
    }
}

impl SettableClock {
    /// Business time: the request's simulated time if it has one, else
    /// [`SettableClock::wall`].
    pub fn now(&self) -> DateTime<Utc> {
        request_time().unwrap_or_else(|| self.wall())
    }

    /// Security time (token expiry): the set clock, never the request's.
    pub fn wall(&self) -> DateTime<Utc> {
        let clock = match self.0.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        clock()
    }

    pub fn set(&self, clock: Clock) {
        match self.0.write() {
            Ok(mut c) => *c = clock,
            Err(p) => *p.into_inner() = clock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_replaces_the_system_clock() {
        let clock = SettableClock::default();
        let before = Utc::now();
        assert!(clock.now() >= before);
        let pinned = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        clock.set(Arc::new(move || pinned));
        assert_eq!(clock.now(), pinned);
    }

    #[tokio::test]
    async fn a_request_time_moves_business_time_but_not_the_wall() {
        let clock = SettableClock::default();
        let past = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let (now, wall) = with_request_time(past, async { (clock.now(), clock.wall()) }).await;
        assert_eq!(now, past);
        assert!(wall > past, "{wall}");
        assert_eq!(request_time(), None);
        assert!(clock.now() > past);
    }
}
