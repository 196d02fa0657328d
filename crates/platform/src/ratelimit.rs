//! Token buckets keyed by who is asking (an account's login id, a client's
//! address): each key may spend `burst` at once and earns it back at
//! `burst / window`. In memory, per replica: a deployment of N replicas
//! allows up to N times the limit, which is still the difference between a
//! password guessed in hours and one never guessed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many keys, buckets that have filled up again are forgotten
/// (they are indistinguishable from new ones), so memory follows the keys
/// seen in the last window, not every key ever seen.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct KeyedLimiter<K> {
    burst: f64,
    /// Tokens earned per second.
    rate: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Eq + Hash + Clone> KeyedLimiter<K> {
    /// `burst` spends per key, all earned back over `window`. A `burst` of 0
    /// or a zero `window` limits nothing.
    pub fn new(burst: u32, window: Duration) -> Self {
        let rate = if window.is_zero() {
            0.0
        } else {
            f64::from(burst) / window.as_secs_f64()
        };
        Self {
            burst: f64::from(burst),
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn off(&self) -> bool {
        self.burst == 0.0 || self.rate == 0.0
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let earned = now.saturating_duration_since(b.at).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + earned).min(self.burst);
        b.at = now;
    }

    /// Spends one for `key` at `now`; `Err(wait)` when it has none left,
    /// with how long until it has one.
    pub fn spend(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.off() {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            let burst = self.burst;
            let rate = self.rate;
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
        }
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }

    /// Whether `key` could spend one at `now`, without spending it; `Err`
    /// as for [`KeyedLimiter::spend`].
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.off() {
            return Ok(());
        }
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(mut b) = buckets.get(key).copied() else {
            return Ok(());
        };
        self.refill(&mut b, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.rate))
        }
    }
}

/// A wait as whole seconds, rounded up, for messages and `Retry-After`.
pub fn whole_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_spends_its_burst_then_waits_for_one_to_be_earned_back() {
        let limiter = KeyedLimiter::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.spend(&"a", t0), Ok(()));
        }
        let wait = limiter.spend(&"a", t0).expect_err("the burst is spent");
        assert_eq!(whole_secs(wait), 10, "{wait:?}");
        // Another key has its own bucket.
        assert_eq!(limiter.spend(&"b", t0), Ok(()));
        // Ten seconds later one is back, and only one.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(limiter.check(&"a", t1), Ok(()));
        assert_eq!(limiter.spend(&"a", t1), Ok(()));
        assert!(limiter.spend(&"a", t1).is_err());
        // A whole window refills the burst, never more.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.spend(&"a", t2), Ok(()));
        }
        assert!(limiter.spend(&"a", t2).is_err());
    }

    #[test]
    fn checking_spends_nothing_and_a_zero_limit_is_off() {
        let limiter = KeyedLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limiter.check(&1, t0), Ok(()));
        assert_eq!(limiter.check(&1, t0), Ok(()));
        assert_eq!(limiter.spend(&1, t0), Ok(()));
        assert!(limiter.check(&1, t0).is_err());
        let off = KeyedLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert_eq!(off.spend(&1, t0), Ok(()));
        }
    }

    #[test]
    fn full_buckets_are_forgotten_once_there_are_many_keys() {
        let limiter = KeyedLimiter::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        for k in 0..=SWEEP_ABOVE {
            limiter.spend(&k, t0).expect("a new key has its burst");
        }
        // A second later every bucket is full again: the next spend sweeps them.
        limiter
            .spend(&usize::MAX, t0 + Duration::from_secs(1))
            .expect("new key");
        let kept = limiter.buckets.lock().expect("lock").len();
        assert_eq!(kept, 1, "only the bucket just spent from remains");
    }
}
