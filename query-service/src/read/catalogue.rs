//! The catalogue's categories (SVC-1), in the salon's order.

use deadpool_postgres::GenericClient;
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
