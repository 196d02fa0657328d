//! The ceremony scanners' devices, as attendance's stream tells of them
//! (`ScannerRegistered`, `ScannerRevoked`: ids and secret hashes, never a
//! secret). Identity follows them only to let a scanner officer's phone,
//! which holds a device token and no person's sign-in, fetch the portraits
//! it shows beside each verdict. The stream may not exist yet when identity
//! starts (attendance creates it): the follower keeps trying until it does.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pantau_authn::{DeviceToken, DeviceTokenError};
use pantau_eventstore::{Follower, StreamSpec};
use pantau_platform::shutdown::Shutdown;
use pantau_proto::events::v1::{AttendanceEvent, attendance_event::Event as A};
use prost::Message;

use crate::domain::DomainError;
use crate::error::ServiceError;

/// Scanner events only: the rest of attendance's stream is not identity's business.
const SCANNER_SUBJECTS: &str = "pantau.attendance.scanner.>";
const RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct Devices {
    /// Scanner id -> (SHA-256 of its secret, revoked).
    scanners: HashMap<String, (Vec<u8>, bool)>,
}

pub type SharedDevices = Arc<RwLock<Devices>>;

fn apply(d: &mut Devices, payload: &[u8]) {
    match AttendanceEvent::decode(payload).ok().and_then(|m| m.event) {
        Some(A::ScannerRegistered(r)) => {
            d.scanners.insert(r.scanner_id, (r.secret_sha256, false));
        }
        Some(A::ScannerRevoked(r)) => {
            if let Some(s) = d.scanners.get_mut(&r.scanner_id) {
                s.1 = true;
            }
        }
        _ => {}
    }
}

/// Follows attendance's scanner events into `devices` until `shutdown`,
/// waiting for the stream to exist if it does not yet.
pub fn follow(js: async_nats::jetstream::Context, devices: SharedDevices, shutdown: Shutdown) {
    let stream = StreamSpec::for_context("attendance").name;
    tokio::spawn(async move {
        loop {
            match Follower::start(
                js.clone(),
                &stream,
                vec![SCANNER_SUBJECTS.to_owned()],
                devices.clone(),
                apply,
                shutdown.clone(),
            )
            .await
            {
                // The follower's own task carries on from here.
                Ok(_) => return,
                Err(e) => tracing::debug!(error = %e, "scanner devices not followed yet; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = shutdown.wait() => return,
            }
        }
    });
}

impl Devices {
    /// The scanner a bearer device token belongs to, if the token is one of
    /// a registered, unrevoked scanner. `Ok(None)`: not a device token.
    pub fn authenticate(&self, bearer: &str) -> Result<Option<String>, ServiceError> {
        let unauthenticated = |m: &str| ServiceError::Unauthenticated(m.to_owned());
        let token = match DeviceToken::parse(bearer) {
            Ok(t) => t,
            Err(DeviceTokenError::NotADeviceToken) => return Ok(None),
            Err(DeviceTokenError::Malformed) => {
                return Err(unauthenticated("malformed device token"));
            }
        };
        let (sha, revoked) = self
            .scanners
            .get(&token.scanner_id)
            .ok_or_else(|| unauthenticated("unknown scanner"))?;
        if !token.matches(sha) {
            return Err(unauthenticated("wrong device secret"));
        }
        if *revoked {
            return Err(DomainError::PermissionDenied(format!(
                "scanner {} has been revoked",
                token.scanner_id
            ))
            .into());
        }
        Ok(Some(token.scanner_id))
    }
}
