//! Worker portraits: stored by agency and province admins before they
//! register or update a worker with the portrait's SHA-256 as photo_ref,
//! and read back by anyone signed in (a scanner officer compares faces).

use pantau_proto::identity::v1 as api;

use super::Identity;
use crate::domain::{Action, DomainError, Principal, authorize};
use crate::error::ServiceError;

pub async fn upload(
    id: &Identity,
    p: &Principal,
    req: api::UploadPhotoRequest,
) -> Result<api::UploadPhotoResponse, ServiceError> {
    authorize(p, &Action::UploadPhoto)?;
    let stored = pantau_photos::put(&id.pool, &req.content, &p.subject).await?;
    Ok(api::UploadPhotoResponse {
        sha256: stored.sha256,
        content_type: stored.content_type.to_owned(),
        size: stored.size,
    })
}

/// The hash is the capability: anyone signed in who knows it may read.
pub async fn get(
    id: &Identity,
    req: api::GetPhotoRequest,
) -> Result<api::GetPhotoResponse, ServiceError> {
    let photo = pantau_photos::get(&id.pool, &req.sha256)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("photo {}", req.sha256)))?;
    Ok(api::GetPhotoResponse {
        content: photo.bytes,
        content_type: photo.content_type,
    })
}
