//! Locations and their settings (APT-2, APT-3).

use deadpool_postgres::GenericClient;
use events_schema::ids::{LocationId, TenantId};
use events_schema::location::LocationSettings;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct LocationSummary {
    pub location_id: LocationId,
    pub name: String,
    pub time_zone: String,
    pub version: i64,
}

#[derive(Debug, Serialize)]
pub struct LocationDetail {
    pub location_id: LocationId,
    pub version: i64,
    #[serde(flatten)]
    pub settings: LocationSettings,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub async fn list(
    client: &impl GenericClient,
    tenant: TenantId,
) -> Result<Vec<LocationSummary>, tokio_postgres::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT location_id, name, time_zone, version FROM rm.locations
             WHERE tenant_id = $1 ORDER BY name, location_id LIMIT 500",
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid()])
        .await?
        .iter()
        .map(|r| LocationSummary {
            location_id: LocationId::from_uuid(r.get(0)),
            name: r.get(1),
            time_zone: r.get(2),
            version: r.get(3),
        })
        .collect())
}

/// The location, or `None`; `Err` also when its stored settings do not decode.
pub async fn detail(
    client: &impl GenericClient,
    tenant: TenantId,
    id: LocationId,
) -> Result<Option<LocationDetail>, anyhow::Error> {
    let stmt = client
        .prepare_cached(
            "SELECT version, settings, created_at, updated_at FROM rm.locations
             WHERE tenant_id = $1 AND location_id = $2",
        )
        .await?;
    let Some(r) = client
        .query_opt(&stmt, &[&tenant.as_uuid(), &id.as_uuid()])
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(LocationDetail {
        location_id: id,
        version: r.get(0),
        settings: serde_json::from_value(r.get(1))?,
        created_at: r.get(2),
        updated_at: r.get(3),
    }))
}
