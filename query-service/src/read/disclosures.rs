//! The auditors' log of unmasked fields (read model `rm.disclosures`).

use deadpool_postgres::GenericClient;
use events_schema::customer::REASON_FIELD;
use events_schema::ids::TenantId;
use events_schema::keystore::{KeyStore, KeyStoreError};
use events_schema::sealing::{Opened, SealContext, SealedValue};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Disclosure {
    /// Feed position (pass as `after` for the next page).
    pub seq: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor_account_id: Option<uuid::Uuid>,
    pub actor_role: String,
    pub customer_id: uuid::Uuid,
    pub field: String,
    /// Why, as the member of staff wrote it (`[erased]` once the customer is erased).
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DisclosureError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
}

/// A page of the tenant's disclosures after `after`, optionally of one customer.
pub async fn list(
    client: &impl GenericClient,
    keys: &KeyStore,
    tenant: TenantId,
    customer: Option<uuid::Uuid>,
    after: i64,
    limit: i64,
) -> Result<Vec<Disclosure>, DisclosureError> {
    let stmt = client
        .prepare_cached(
            "SELECT seq, occurred_at, actor_account_id, actor_role, customer_id, field, reason
             FROM rm.disclosures
             WHERE tenant_id = $1 AND seq > $2 AND ($3::uuid IS NULL OR customer_id = $3)
             ORDER BY seq LIMIT $4",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&tenant.as_uuid(), &after, &customer, &limit])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let customer_id: uuid::Uuid = row.get(4);
        let sealed: Option<SealedValue> = serde_json::from_value(row.get(6)).ok();
        let reason = match sealed {
            None => "[sealed]".to_owned(),
            Some(sealed) => match keys
                .open(
                    &SealContext {
                        tenant,
                        subject: customer_id,
                        field: REASON_FIELD,
                    },
                    &sealed,
                )
                .await
            {
                Ok(Opened::Plain(text)) => text,
                Ok(Opened::Erased) => "[erased]".to_owned(),
                Err(_) => "[sealed]".to_owned(),
            },
        };
        out.push(Disclosure {
            seq: row.get(0),
            occurred_at: row.get(1),
            actor_account_id: row.get(2),
            actor_role: row.get(3),
            customer_id,
            field: row.get(5),
            reason,
        });
    }
    Ok(out)
}
