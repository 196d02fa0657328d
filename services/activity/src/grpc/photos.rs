//! Evidence photos: stored by any signed-in person (the worker reporting,
//! or their supervisor on their behalf), read back by their SHA-256.

use pantau_platform::ServiceError;
use pantau_proto::activity::v1 as api;

use super::{Activity, not_found};
use crate::domain::Principal;

pub async fn upload(
    a: &Activity,
    p: &Principal,
    req: api::UploadPhotoRequest,
) -> Result<api::UploadPhotoResponse, ServiceError> {
    let stored = pantau_photos::put(&a.pool, &req.content, &p.subject).await?;
    Ok(api::UploadPhotoResponse {
        sha256: stored.sha256,
        content_type: stored.content_type.to_owned(),
        size: stored.size,
    })
}

/// The hash is the capability: anyone signed in who knows it may read.
pub async fn get(
    a: &Activity,
    _p: &Principal,
    req: api::GetPhotoRequest,
) -> Result<api::GetPhotoResponse, ServiceError> {
    let photo = pantau_photos::get(&a.pool, &req.sha256)
        .await?
        .ok_or_else(|| not_found("photo", &req.sha256))?;
    Ok(api::GetPhotoResponse {
        content: photo.bytes,
        content_type: photo.content_type,
    })
}
