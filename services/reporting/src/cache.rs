//! Computed answers kept for a few seconds. The public API is read by many
//! and changes slowly: each answer is computed once per interval however
//! many clients ask at the same moment (the others wait for that one
//! computation), then served from memory until it is due again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Slot<V> = Arc<tokio::sync::Mutex<Option<(Instant, V)>>>;

pub struct Cache<V> {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot<V>>>,
}

/// Keys kept before the cache starts afresh (months × agencies is small;
/// this only bounds memory against made-up keys).
const MAX_KEYS: usize = 10_000;

impl<V: Clone> Cache<V> {
    pub fn new(ttl: Duration) -> Cache<V> {
        Cache {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`: remembered if fresh, else computed by `f`
    /// (once, however many ask at once). Errors are not remembered.
    pub async fn get<E, F, Fut>(&self, key: String, f: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if self.ttl.is_zero() {
            return f().await;
        }
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slots.len() >= MAX_KEYS && !slots.contains_key(&key) {
                slots.clear();
            }
            slots.entry(key).or_default().clone()
        };
        let mut held = slot.lock().await;
        if let Some((at, v)) = held.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(v.clone());
        }
        let v = f().await?;
        *held = Some((Instant::now(), v.clone()));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn many_callers_at_once_compute_once_and_a_stale_answer_is_computed_again() {
        let cache = Arc::new(Cache::<usize>::new(Duration::from_millis(200)));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, runs) = (cache.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k".into(), || async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst))
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(0));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = cache
            .get("k".into(), || async {
                Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst))
            })
            .await;
        assert_eq!(again, Ok(1));
    }

    #[tokio::test]
    async fn errors_are_not_remembered_and_no_ttl_means_no_cache() {
        let cache = Cache::<u32>::new(Duration::from_secs(60));
        assert_eq!(
            cache
                .get("k".into(), || async { Err::<u32, _>("down") })
                .await,
            Err("down")
        );
        assert_eq!(
            cache.get("k".into(), || async { Ok::<_, &str>(7) }).await,
            Ok(7)
        );
        let none = Cache::<u32>::new(Duration::ZERO);
        assert_eq!(
            none.get("k".into(), || async { Ok::<_, ()>(1) }).await,
            Ok(1)
        );
        assert_eq!(
            none.get("k".into(), || async { Ok::<_, ()>(2) }).await,
            Ok(2)
        );
    }
}
