//! Images of services: their bytes, from `media.images` (command-service's table,
//! written with the `ServiceImageAdded` event and never changed), fenced per tenant by
//! row-level security like the read models. The public ones are those the catalogue
//! read model shows with a published service.

use deadpool_postgres::GenericClient;
use events_schema::ids::{ImageId, TenantId};

/// One stored image. `bytes` is None when the client already holds this version
/// (its `If-None-Match` named the image's SHA-256): nothing to send but 304.
pub struct StoredImage {
    pub content_type: String,
    pub sha256: String,
    pub bytes: Option<Vec<u8>>,
}

/// What the client already holds: the entity tags of `If-None-Match`.
#[derive(Default)]
pub struct Held {
    /// `*`: any version.
    pub any: bool,
    /// The tags, unquoted (an image's tag is its SHA-256).
    pub tags: Vec<String>,
}

impl Held {
    /// Parses `If-None-Match` (`"tag"`, `W/"tag"`, a comma-separated list, or `*`).
    pub fn parse(header: Option<&str>) -> Held {
        let mut held = Held::default();
        for tag in header.unwrap_or("").split(',').map(str::trim) {
            if tag == "*" {
                held.any = true;
            } else {
                let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
                if !tag.is_empty() && tag.len() <= 64 {
                    held.tags.push(tag.to_owned());
                }
            }
        }
        held.tags.truncate(32);
        held
    }
}

fn stored(row: &tokio_postgres::Row) -> StoredImage {
    StoredImage {
        content_type: row.get(0),
        sha256: row.get(1),
        bytes: row.get(2),
    }
}

/// An image of the tenant that a published service shows (the public catalogue's).
pub async fn published(
    client: &impl GenericClient,
    tenant: TenantId,
    id: ImageId,
    held: &Held,
) -> Result<Option<StoredImage>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT m.content_type, m.sha256,
                    CASE WHEN $3 OR m.sha256 = ANY($4::text[]) THEN NULL ELSE m.bytes END
             FROM rm.service_images i
             JOIN rm.services s ON s.tenant_id = i.tenant_id AND s.service_id = i.service_id
             JOIN media.images m ON m.tenant_id = i.tenant_id AND m.image_id = i.image_id
             WHERE i.tenant_id = $1 AND i.image_id = $2 AND s.published",
        )
        .await?;
    Ok(client
        .query_opt(
            &stmt,
            &[&tenant.as_uuid(), &id.as_uuid(), &held.any, &held.tags],
        )
        .await?
        .as_ref()
        .map(stored))
}

/// Any image uploaded to the tenant (staff: unpublished services' and removed ones too).
pub async fn any(
    client: &impl GenericClient,
    tenant: TenantId,
    id: ImageId,
    held: &Held,
) -> Result<Option<StoredImage>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT content_type, sha256,
                    CASE WHEN $3 OR sha256 = ANY($4::text[]) THEN NULL ELSE bytes END
             FROM media.images WHERE tenant_id = $1 AND image_id = $2",
        )
        .await?;
    Ok(client
        .query_opt(
            &stmt,
            &[&tenant.as_uuid(), &id.as_uuid(), &held.any, &held.tags],
        )
        .await?
        .as_ref()
        .map(stored))
}

#[cfg(test)]
mod tests {
    use super::Held;

    #[test]
    fn if_none_match_is_read_as_tags_or_any() {
        let held = Held::parse(Some(r#""abc", W/"def" ,"""#));
        assert!(!held.any);
        assert_eq!(held.tags, ["abc", "def"]);
        assert!(Held::parse(Some("*")).any);
        assert!(Held::parse(None).tags.is_empty());
    }
}
