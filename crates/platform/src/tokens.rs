//! Access-token checks on the hot path. A morning of check-ins brings a
//! token per worker that this replica has never seen, and an Ed25519
//! verification is the largest single cost of a check-in. Tokens waiting at
//! the same moment are verified together (like a group commit: batches grow
//! under load, and a lone token is checked on its own at once); a verified
//! token is remembered until it expires.
//!
//! A service keeps one [`TokenChecker`] and asks it for each request's
//! [`TokenChecker::claims`], handing it the key lookup of the service's own
//! key set (the identity stream's published keys).

use std::collections::HashMap;
use std::sync::Mutex;

use pantau_authn::{AuthError, Claims, PendingToken, verify_batch};
use tokio::sync::{mpsc, oneshot};

/// Largest batch (a multi-scalar multiplication over 2n points).
const MAX_BATCH: usize = 128;
/// Verified tokens kept before the memory is cleared.
const CACHE_MAX: usize = 200_000;

type Job = (PendingToken, oneshot::Sender<Result<Claims, AuthError>>);

/// Batching, remembering access-token verification (one per service).
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

    /// The claims of `token` at `now_unix`: remembered when it was verified
    /// before, else `prepare`d (`Verifier::prepare` on the service's keys:
    /// format, key, issuer and expiry) and its signature verified in a
    /// batch. `prepare` runs before anything is awaited, so a lock it takes
    /// on the keys is released before the verification waits.
    pub async fn claims(
        &self,
        token: &str,
        now_unix: i64,
        prepare: impl FnOnce(&str, i64) -> Result<PendingToken, AuthError>,
    ) -> Result<Claims, AuthError> {
        if let Some(claims) = self.remembered(token, now_unix) {
            return Ok(claims);
        }
        let pending = prepare(token, now_unix)?;
        self.verify(token, pending).await
    }

    /// Verifies `pending` (prepared from `token`) with whatever other
    /// tokens are waiting, and remembers its claims.
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use pantau_authn::{Issuer, SigningKeyPair, Verifier};

    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn keys() -> anyhow::Result<(Issuer, Verifier)> {
        let key = SigningKeyPair::from_secret_bytes([7; 32]);
        let mut verifier = Verifier::new();
        verifier.add_key(key.key_id(), key.public_key_bytes())?;
        Ok((Issuer::new(key), verifier))
    }

    fn token(issuer: &Issuer, sub: &str, ttl_secs: i64) -> String {
        issuer.issue(&Claims::new(
            sub,
            vec!["worker".into()],
            None,
            None,
            NOW,
            ttl_secs,
            format!("jti-{sub}"),
        ))
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_until_it_expires() -> anyhow::Result<()> {
        let (issuer, verifier) = keys()?;
        let checker = TokenChecker::start();
        let t = token(&issuer, "a1", 600);
        let prepared = AtomicUsize::new(0);
        let prepare = |t: &str, now: i64| {
            prepared.fetch_add(1, Ordering::SeqCst);
            verifier.prepare(t, now)
        };
        assert_eq!(checker.claims(&t, NOW, prepare).await?.sub, "a1");
        assert_eq!(checker.claims(&t, NOW + 1, prepare).await?.sub, "a1");
        assert_eq!(prepared.load(Ordering::SeqCst), 1);
        let later = NOW + 600 + pantau_authn::LEEWAY_SECS;
        assert!(checker.remembered(&t, later).is_none());
        assert!(matches!(
            checker.claims(&t, later, prepare).await,
            Err(AuthError::Expired { .. })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_forged_token_is_refused_and_not_remembered() -> anyhow::Result<()> {
        let (issuer, verifier) = keys()?;
        let checker = TokenChecker::start();
        let genuine = token(&issuer, "a1", 600);
        let (signed, _) = genuine.rsplit_once('.').ok_or(anyhow::anyhow!("no dot"))?;
        let other = token(&issuer, "a2", 600);
        let (_, signature) = other.rsplit_once('.').ok_or(anyhow::anyhow!("no dot"))?;
        let forged = format!("{signed}.{signature}");
        let result = checker
            .claims(&forged, NOW, |t, now| verifier.prepare(t, now))
            .await;
        assert_eq!(result, Err(AuthError::BadSignature));
        assert!(checker.remembered(&forged, NOW).is_none());
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn tokens_arriving_together_are_each_answered_with_their_own_claims() -> anyhow::Result<()>
    {
        let (issuer, verifier) = keys()?;
        let checker = Arc::new(TokenChecker::start());
        let verifier = Arc::new(verifier);
        let stranger = token(&issuer, "stranger", 600);
        let (_, wrong_signature) = stranger.rsplit_once('.').ok_or(anyhow::anyhow!("no dot"))?;
        let mut tasks = Vec::new();
        for i in 0..300 {
            let sub = format!("a{i}");
            let mut t = token(&issuer, &sub, 600);
            if i % 37 == 0 {
                // Every 37th carries another token's signature: it fails
                // alone, whatever batch it lands in.
                let (signed, _) = t.rsplit_once('.').ok_or(anyhow::anyhow!("no dot"))?;
                t = format!("{signed}.{wrong_signature}");
            }
            let (checker, verifier) = (checker.clone(), verifier.clone());
            tasks.push(tokio::spawn(async move {
                let r = checker
                    .claims(&t, NOW, |t, now| verifier.prepare(t, now))
                    .await;
                (i, sub, r)
            }));
        }
        for task in tasks {
            let (i, sub, r) = task.await?;
            if i % 37 == 0 {
                assert_eq!(r, Err(AuthError::BadSignature), "token {i} was forged");
            } else {
                assert_eq!(r?.sub, sub);
            }
        }
        Ok(())
    }
}
