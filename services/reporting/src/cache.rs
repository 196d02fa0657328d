//! Computed answers kept for a few seconds. The public API is read by many
//! and changes slowly: each answer is computed once per interval however
//! many clients ask at the same moment, then served from memory until it is
//! due again. When it is due, the first caller recomputes it while everyone
//! else is still served the previous answer (stale while revalidating), so
//! an expiry never makes a crowd wait for a slow query; only a key never
//! computed before makes its first callers wait for that one computation.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

struct Slot<V> {
    /// The last answer and when it was computed.
    value: Mutex<Option<(Instant, V)>>,
    /// Held by the one caller computing the answer.
    computing: tokio::sync::Mutex<()>,
}

impl<V> Default for Slot<V> {
    fn default() -> Slot<V> {
        Slot {
            value: Mutex::new(None),
            computing: tokio::sync::Mutex::new(()),
        }
    }
}

pub struct Cache<V> {
    ttl: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
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

    fn remembered(&self, slot: &Slot<V>) -> Option<(bool, V)> {
        let held = slot.value.lock().unwrap_or_else(PoisonError::into_inner);
        held.as_ref()
            .map(|(at, v)| (at.elapsed() < self.ttl, v.clone()))
    }

    /// The answer for `key`: remembered if fresh; if due, recomputed by
    /// this caller unless another is already at it (then the previous
    /// answer); if never computed, computed once however many ask at once.
    /// Errors are not remembered.
    pub async fn get<E, F, Fut>(&self, key: String, f: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if self.ttl.is_zero() {
            return f().await;
        }
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if slots.len() >= MAX_KEYS && !slots.contains_key(&key) {
                slots.clear();
            }
            slots.entry(key).or_default().clone()
        };
        let _computing = match self.remembered(&slot) {
            Some((true, v)) => return Ok(v),
            Some((false, v)) => match slot.computing.try_lock() {
                Ok(guard) => guard,
                // Someone is recomputing it: the previous answer meanwhile.
                Err(_) => return Ok(v),
            },
            None => {
                let guard = slot.computing.lock().await;
                // Whoever held it may have computed it meanwhile.
                if let Some((true, v)) = self.remembered(&slot) {
                    return Ok(v);
                }
                guard
            }
        };
        let v = f().await?;
        *slot.value.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), v.clone()));
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
    async fn a_due_answer_is_recomputed_by_one_caller_while_the_rest_get_the_previous_one() {
        let cache = Arc::new(Cache::<usize>::new(Duration::from_millis(100)));
        assert_eq!(
            cache.get("k".into(), || async { Ok::<_, ()>(1) }).await,
            Ok(1)
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get("k".into(), || async {
                        let _ = wait.await;
                        Ok::<_, ()>(2)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The recompute is stuck: the others are answered at once, with 1.
        let started = Instant::now();
        for _ in 0..10 {
            assert_eq!(
                cache.get("k".into(), || async { Ok::<_, ()>(99) }).await,
                Ok(1)
            );
        }
        assert!(started.elapsed() < Duration::from_millis(50));
        let _ = release.send(());
        assert_eq!(slow.await.unwrap(), Ok(2));
        assert_eq!(
            cache.get("k".into(), || async { Ok::<_, ()>(99) }).await,
            Ok(2)
        );
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
