//! What both front doors share: the reports, the projections' progress and
//! who a caller is (access tokens, checked against identity's published
//! keys).

use std::sync::{Arc, RwLock};

use pantau_authn::Verifier;
use pantau_eventstore::EventStore;
use pantau_platform::ServiceError;
use pantau_platform::authz::Principal;
use pantau_platform::tokens::TokenChecker;
use pantau_projection::ProjectionHandle;
use pantau_proto::events::v1::{IdentityEvent, identity_event::Event as I};
use prost::Message;
use tonic::metadata::MetadataMap;

use crate::report::Reports;

/// Identity's token keys, followed from its stream.
#[derive(Default)]
pub struct Keys(pub Verifier);

pub fn apply_identity_payload(k: &mut Keys, payload: &[u8]) {
    if let Some(I::SigningKeyPublished(key)) =
        IdentityEvent::decode(payload).ok().and_then(|m| m.event)
        && let Ok(bytes) = <[u8; 32]>::try_from(key.public_key.as_slice())
        && let Err(e) = k.0.add_key(&key.key_id, bytes)
    {
        tracing::warn!(key_id = %key.key_id, error = %e, "ignoring unusable signing key");
    }
}

/// A projection with the stream it reads.
pub struct Feed {
    pub store: EventStore,
    pub handle: ProjectionHandle,
}

pub struct Reporting {
    pub reports: Reports,
    pub feeds: Vec<Feed>,
    pub keys: Arc<RwLock<Keys>>,
    pub tokens: TokenChecker,
    pub tile_url: String,
    pub tile_attribution: String,
}

impl Reporting {
    pub async fn principal(&self, metadata: &MetadataMap) -> Result<Principal, ServiceError> {
        let token = pantau_authn::bearer_token(metadata)?;
        let now = chrono::Utc::now().timestamp();
        let claims = self
            .tokens
            .claims(token, now, |t, n| {
                self.keys
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
                    .prepare(t, n)
            })
            .await?;
        Ok(Principal::from_claims(claims))
    }

    /// Per stream: its last sequence and what the projection has applied.
    pub async fn progress(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        for f in &self.feeds {
            let last = f.store.last_sequence().await.unwrap_or(0);
            out.push((
                f.store.stream_name().to_owned(),
                last,
                f.handle.checkpoint(),
            ));
        }
        out
    }

    /// Waits until every projection has applied what its stream holds now.
    pub async fn settle(&self, timeout: std::time::Duration) -> bool {
        for f in &self.feeds {
            let Ok(last) = f.store.last_sequence().await else {
                return false;
            };
            if !f.handle.wait_for(last, timeout).await {
                return false;
            }
        }
        true
    }
}
