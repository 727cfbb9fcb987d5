//! Bookings over the read models (APT): a location's day by technician and room, a
//! customer's upcoming and past visits.

use deadpool_postgres::GenericClient;
use events_schema::ids::{CustomerId, LocationId, TenantId};
use serde::Serialize;

/// One booked service.
#[derive(Clone, Debug, Serialize)]
pub struct BookedView {
    pub booking_id: uuid::Uuid,
    pub number: i32,
    pub status: String,
    pub date: chrono::NaiveDate,
    pub location_id: uuid::Uuid,
    pub customer_id: uuid::Uuid,
    /// The customer's name (read models keep names; none once she is erased).
    pub customer_name: Option<String>,
    pub service_id: uuid::Uuid,
    pub service_name: Option<String>,
    pub staff_id: uuid::Uuid,
    pub room_id: Option<uuid::Uuid>,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub price: String,
}

const SELECT: &str = "
SELECT b.booking_id, b.number, b.status, b.date, b.location_id, b.customer_id, c.name,
       s.service_id, sv.name, s.staff_id, s.room_id, s.starts_at, s.ends_at, s.price::text
FROM rm.bookings b
JOIN rm.booked_services s ON s.tenant_id = b.tenant_id AND s.booking_id = b.booking_id
LEFT JOIN rm.customers c ON c.tenant_id = b.tenant_id AND c.customer_id = b.customer_id
LEFT JOIN rm.services sv ON sv.tenant_id = s.tenant_id AND sv.service_id = s.service_id";

fn row(r: &tokio_postgres::Row) -> BookedView {
    BookedView {
        booking_id: r.get(0),
        number: r.get(1),
        status: r.get(2),
        date: r.get(3),
        location_id: r.get(4),
        customer_id: r.get(5),
        customer_name: r.get(6),
        service_id: r.get(7),
        service_name: r.get(8),
        staff_id: r.get(9),
        room_id: r.get(10),
        starts_at: r.get(11),
        ends_at: r.get(12),
        price: r.get(13),
    }
}

/// The bookings of a location on a date but the cancelled ones (booked, checked in,
/// completed, missed), by start.
pub async fn of_day(
    client: &impl GenericClient,
    tenant: TenantId,
    location: LocationId,
    date: chrono::NaiveDate,
) -> Result<Vec<BookedView>, tokio_postgres::Error> {
    let sql = format!(
        "{SELECT} WHERE b.tenant_id = $1 AND b.location_id = $2 AND b.date = $3
                    AND b.status <> 'cancelled'
         ORDER BY s.starts_at, s.staff_id"
    );
    let stmt = client.prepare_cached(&sql).await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid(), &location.as_uuid(), &date])
        .await?
        .iter()
        .map(row)
        .collect())
}

/// A customer's bookings (cancelled ones too), latest first, at most `limit`.
pub async fn of_customer(
    client: &impl GenericClient,
    tenant: TenantId,
    customer: CustomerId,
    limit: i64,
) -> Result<Vec<BookedView>, tokio_postgres::Error> {
    let sql = format!(
        "{SELECT} WHERE b.tenant_id = $1 AND b.customer_id = $2
         ORDER BY s.starts_at DESC, s.position LIMIT $3"
    );
    let stmt = client.prepare_cached(&sql).await?;
    Ok(client
        .query(&stmt, &[&tenant.as_uuid(), &customer.as_uuid(), &limit])
        .await?
        .iter()
        .map(row)
        .collect())
}
