//! Images of services (issue 4 item 2). An upload, already checked at the edge
//! (`domain::image`), appends `ServiceImageAdded` to the service's stream and writes the
//! bytes to `media.images` in the same transaction (migration `0006_service_images`):
//! both or neither. The event names the image by id and SHA-256; query-service serves
//! the bytes. Removing an image appends `ServiceImageRemoved`; the bytes stay, since the
//! log still names them.

use super::catalogue::CategoryError;
use super::{App, AppError, CommandContext, Outcome, SideWrites};
use crate::domain::image::CheckedImage;
use deadpool_postgres::GenericClient;
use events_schema::catalogue::{
    self as wire, ServiceEvent, ServiceImageAdded, ServiceImageRemoved,
};
use events_schema::ids::{ImageId, ServiceId, TenantId};
use events_schema::store::ExpectedVersion;

/// Most images a service shows at once.
pub const MAX_IMAGES_PER_SERVICE: usize = 10;

/// Decisions made on a stale version are made again on fresh state this often (two
/// images uploaded to one service at once both land), then 409.
const ATTEMPTS: usize = 3;

impl App {
    /// Adds an image to a service (201 `{service_id, image_id, version,
    /// consistency_token}`); a service showing [`MAX_IMAGES_PER_SERVICE`] already is
    /// refused (422).
    pub async fn add_service_image(
        &self,
        ctx: &CommandContext,
        service: ServiceId,
        image: CheckedImage,
        alt: Option<String>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let image_id = ImageId::new();
        let size = u32::try_from(image.size())
            .map_err(|_| AppError::Internal(anyhow::anyhow!("image size beyond u32")))?;
        let event = ServiceEvent::ImageAdded(ServiceImageAdded {
            service_id: service,
            image_id,
            content_type: image.kind.mime().to_owned(),
            size,
            sha256: image.sha256.clone(),
            alt,
        });
        let mut attempt = 1;
        loop {
            let loaded = self.load_service(ctx.tenant, service).await?;
            if loaded.images.len() >= MAX_IMAGES_PER_SERVICE {
                return Err(CategoryError::TooManyImages {
                    max: MAX_IMAGES_PER_SERVICE,
                }
                .into());
            }
            let (tenant, bytes) = (ctx.tenant, image.clone());
            let result = self
                .append_one_then(
                    ctx,
                    (
                        &wire::service_stream_id(service),
                        ExpectedVersion::Exact(loaded.version),
                    ),
                    &event,
                    201,
                    (
                        serde_json::json!({ "service_id": service, "image_id": image_id }),
                        &SideWrites::default(),
                    ),
                    move |tx| Box::pin(insert_image(tx, tenant, image_id, bytes)),
                )
                .await;
            match result {
                Err(AppError::Conflict) if attempt < ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    /// Removes an image from a service (200). One it showed and no longer does is
    /// answered as removed with nothing recorded; one it never showed is 404.
    pub async fn remove_service_image(
        &self,
        ctx: &CommandContext,
        service: ServiceId,
        image_id: ImageId,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let mut attempt = 1;
        loop {
            let loaded = self.load_service(ctx.tenant, service).await?;
            if !loaded.images.contains(&image_id) {
                if !loaded.removed_images.contains(&image_id) {
                    return Err(CategoryError::ImageNotFound.into());
                }
                return Ok(Outcome {
                    status: 200,
                    body: serde_json::json!({
                        "service_id": service,
                        "image_id": image_id,
                        "version": loaded.version,
                        "consistency_token": loaded.last_position.to_string(),
                    }),
                });
            }
            let event = ServiceEvent::ImageRemoved(ServiceImageRemoved {
                service_id: service,
                image_id,
            });
            let result = self
                .append_one_then(
                    ctx,
                    (
                        &wire::service_stream_id(service),
                        ExpectedVersion::Exact(loaded.version),
                    ),
                    &event,
                    200,
                    (
                        serde_json::json!({ "service_id": service, "image_id": image_id }),
                        &SideWrites::default(),
                    ),
                    |_| Box::pin(async { Ok(()) }),
                )
                .await;
            match result {
                Err(AppError::Conflict) if attempt < ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }
}

/// Writes an image's bytes (inside the append's transaction).
async fn insert_image(
    tx: &impl GenericClient,
    tenant: TenantId,
    id: ImageId,
    image: CheckedImage,
) -> Result<(), AppError> {
    let size = i32::try_from(image.size())
        .map_err(|_| AppError::Internal(anyhow::anyhow!("image size beyond i32")))?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO media.images (tenant_id, image_id, content_type, size, sha256, bytes)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &tenant.as_uuid(),
            &id.as_uuid(),
            &image.kind.mime(),
            &size,
            &image.sha256,
            &&image.bytes[..],
        ],
    )
    .await?;
    Ok(())
}
