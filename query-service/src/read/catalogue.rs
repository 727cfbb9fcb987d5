//! The catalogue: its categories (SVC-1), in the salon's order, and its services
//! (SVC-2) with their prices (SVC-4) and images.

use deadpool_postgres::GenericClient;
use events_schema::catalogue::{price_at, ScheduledPrice};
use events_schema::ids::{CategoryId, TenantId};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Category {
    pub category_id: CategoryId,
    pub name: String,
    pub description: String,
    pub position: i32,
    pub version: i64,
}

pub async fn categories(
    client: &impl GenericClient,
    tenant: TenantId,
) -> Result<Vec<Category>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT category_id, name, description, position, version FROM rm.categories
             WHERE tenant_id = $1 ORDER BY position, name, category_id LIMIT 1000",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid()])
        .await?
        .iter()
        .map(|r| Category {
            category_id: CategoryId::from_uuid(r.get(0)),
            name: r.get(1),
            description: r.get(2),
            position: r.get(3),
            version: r.get(4),
        })
        .collect())
}

#[derive(Debug, Serialize)]
pub struct Service {
    pub service_id: events_schema::ids::ServiceId,
    pub version: i64,
    pub published: bool,
    /// Its details; `price` is the price in force now.
    #[serde(flatten)]
    pub details: events_schema::catalogue::ServiceDetails,
    /// Total minutes (every segment).
    pub duration_minutes: u32,
    /// Prices taking effect later (SVC-5: the price list shows them with their dates).
    pub upcoming_prices: Vec<ScheduledPrice>,
    /// The images it shows, in the order added.
    pub images: Vec<ServiceImage>,
}

/// An image a service shows, and where query-service serves it.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ServiceImage {
    pub image_id: events_schema::ids::ImageId,
    #[serde(default)]
    pub url: String,
    pub alt: Option<String>,
}

/// A service's prices with the instant each takes effect, as recorded.
pub async fn price_schedule(
    client: &impl GenericClient,
    tenant: TenantId,
    id: events_schema::ids::ServiceId,
) -> Result<Option<Vec<ScheduledPrice>>, anyhow::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT price_schedule FROM rm.services WHERE tenant_id = $1 AND service_id = $2",
        )
        .await?;
    match client
        .query_opt(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?
    {
        None => Ok(None),
        Some(r) => Ok(Some(serde_json::from_value(r.get(0))?)),
    }
}

/// The salon's services, or only its published ones; their images' URLs are
/// `{images_at}/{image_id}` (`/images` for staff, `/public/{slug}/images` for anyone).
pub async fn services(
    client: &impl GenericClient,
    tenant: TenantId,
    published_only: bool,
    images_at: &str,
) -> Result<Vec<Service>, anyhow::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT s.service_id, s.version, s.published, s.details, s.price_schedule,
                    COALESCE((SELECT json_agg(json_build_object('image_id', i.image_id,
                                                                'alt', i.alt)
                                              ORDER BY i.position)
                              FROM rm.service_images i
                              WHERE i.tenant_id = s.tenant_id AND i.service_id = s.service_id),
                             '[]'::json)
             FROM rm.services s
             WHERE s.tenant_id = $1 AND (s.published OR NOT $2)
             ORDER BY s.name, s.service_id LIMIT 2000",
        )
        .await?;
    let mut out = Vec::new();
    for r in client
        .query(&stmt, &[&tenant.as_uuid(), &published_only])
        .await?
    {
        let mut details: events_schema::catalogue::ServiceDetails =
            serde_json::from_value(r.get(3))?;
        let schedule: Vec<ScheduledPrice> = serde_json::from_value(r.get(4))?;
        let now = chrono::Utc::now();
        if let Some(current) = price_at(&schedule, now) {
            details.price = current.price;
        }
        let mut upcoming: Vec<ScheduledPrice> = schedule
            .into_iter()
            .filter(|p| p.effective_at > now)
            .collect();
        upcoming.sort_by_key(|p| p.effective_at);
        let mut images: Vec<ServiceImage> = serde_json::from_value(r.get(5))?;
        for image in &mut images {
            image.url = format!("{images_at}/{}", image.image_id);
        }
        out.push(Service {
            service_id: events_schema::ids::ServiceId::from_uuid(r.get(0)),
            version: r.get(1),
            published: r.get(2),
            duration_minutes: details.segments.total(),
            details,
            upcoming_prices: upcoming,
            images,
        });
    }
    Ok(out)
}

/// A salon of the public directory: (its tenant, its name).
pub async fn salon_by_slug(
    client: &impl GenericClient,
    slug: &str,
) -> Result<Option<(TenantId, String)>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached("SELECT salon_id, name FROM rm.salon_directory WHERE slug = $1")
        .await?;
    Ok(client
        .query_opt(&stmt, &[&slug])
        .await?
        .map(|r| (TenantId::from_uuid(r.get(0)), r.get(1))))
}
