//! Access-token checks on the hot path. A morning of check-ins brings a
//! token per worker that this replica has never seen, and an Ed25519
//! verification is the largest single cost of a check-in. Tokens waiting at
//! the same moment are verified together (like a group commit: batches grow
//! under load, and a lone token is checked on its own at once); a verified
//! token is remembered until it expires.

use std::collections::HashMap;
use std::sync::Mutex;

use pantau_authn::{AuthError, Claims, PendingToken, verify_batch};
use tokio::sync::{mpsc, oneshot};

/// Largest batch (a multi-scalar multiplication over 2n points).
const MAX_BATCH: usize = 128;
/// Verified tokens kept before the memory is cleared.
const CACHE_MAX: usize = 200_000;

type Job = (PendingToken, oneshot::Sender<Result<Claims, AuthError>>);

pub struct TokenChecker {
    tx: mpsc::Sender<Job>,
    verified: Mutex<HashMap<String, Claims>>,
}

impl TokenChecker {
    /// Starts the batching task on the current runtime.
    pub fn start() -> TokenChecker {
        let (tx, mut rx) = mpsc::channel::<Job>(MAX_BATCH * 16);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                // Let the tasks that are ready run first (they may be
                // requests bringing more tokens), then take what has come;
                // stop as soon as a round brings nothing. An idle service
                // pays a few microseconds; a busy one gets real batches
                // instead of the pairs it got without this.
                for _ in 0..8 {
                    let before = jobs.len();
                    tokio::task::yield_now().await;
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    if jobs.len() == before || jobs.len() >= MAX_BATCH {
                        break;
                    }
                }
                let (pending, replies): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
                // A big batch is milliseconds of arithmetic: off the async
                // workers, so the connections keep being served meanwhile.
                let results = if pending.len() > 8 {
                    match tokio::task::spawn_blocking(move || verify_batch(pending)).await {
                        Ok(r) => r,
                        Err(_) => continue, // the replies drop: callers see a refusal
                    }
                } else {
                    verify_batch(pending)
                };
                for (result, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(result);
                }
            }
        });
        TokenChecker {
            tx,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The claims of a token already verified and not yet expired.
    pub fn remembered(&self, token: &str, now_unix: i64) -> Option<Claims> {
        let cache = self.verified.lock().ok()?;
        cache
            .get(token)
            .filter(|c| c.exp.saturating_add(pantau_authn::LEEWAY_SECS) > now_unix)
            .cloned()
    }

    pub async fn verify(&self, token: &str, pending: PendingToken) -> Result<Claims, AuthError> {
        let (reply, rx) = oneshot::channel();
        let claims = match self.tx.send((pending, reply)).await {
            Ok(()) => rx.await.unwrap_or(Err(AuthError::BadSignature)),
            // The batching task is gone (shutting down): check it here.
            Err(mpsc::error::SendError((pending, _))) => pending.verify(),
        }?;
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }
}
