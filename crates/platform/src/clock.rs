//! Where a service reads the time: the system clock, which tests replace
//! to pin "now" (day boundaries, closing days, code expiry).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// A source of "now".
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock until [`SettableClock::set`] replaces it.
pub struct SettableClock(RwLock<Clock>);

impl Default for SettableClock {
    fn default() -> Self {
        SettableClock(RwLock::new(Arc::new(Utc::now)))
    }
}

impl SettableClock {
    pub fn now(&self) -> DateTime<Utc> {
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
}
