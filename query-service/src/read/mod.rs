//! SQL over the read models (schema `rm`), the event store and the images beside it
//! (`media`). Only SELECTs.

pub mod audit;
pub mod bookings;
pub mod catalogue;
pub mod customers;
pub mod disclosures;
pub mod images;
pub mod locations;
pub mod staff;

use events_schema::ids::TenantId;

/// A read-only transaction that sees the read-model rows of one tenant only: every
/// read-model table enforces row-level security on `belle.tenant_id`, set here for this
/// transaction alone (a pooled connection forgets it at the end). Without it, the
/// query role sees no tenant row at all.
pub async fn tenant_tx(
    client: &mut deadpool_postgres::Object,
    tenant: TenantId,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    let tx = client.build_transaction().read_only(true).start().await?;
    let stmt = tx
        .prepare_cached("SELECT set_config('belle.tenant_id', $1, true)")
        .await?;
    tx.execute(&stmt, &[&tenant.as_uuid().to_string()]).await?;
    Ok(tx)
}
