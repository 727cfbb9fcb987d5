//! The disclosures read model: one row per unmasked field (who, whose, which field,
//! why, when), for the auditors' log (CUS-7, SEC-4). Insert-only, so a batch is one
//! set-wise insert.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::disclosure::{self, DisclosureEvent};
use events_schema::envelope::{DomainEvent, FeedEvent};
use futures::future::BoxFuture;

pub struct DisclosuresProjection;

/// Columns of the rows a batch inserts.
#[derive(Default)]
struct Rows {
    tenant_id: Vec<uuid::Uuid>,
    seq: Vec<i64>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
    actor_account_id: Vec<Option<uuid::Uuid>>,
    actor_role: Vec<&'static str>,
    customer_id: Vec<uuid::Uuid>,
    field: Vec<&'static str>,
    reason: Vec<serde_json::Value>,
}

impl Projection for DisclosuresProjection {
    fn name(&self) -> &'static str {
        "disclosures"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[disclosure::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["disclosures"]
    }

    fn prepare<'a>(
        &'a self,
        _tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        _after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>> {
        Box::pin(async move {
            let mut rows = Rows::default();
            for fe in events {
                let e = &fe.event;
                if e.stream_type != disclosure::STREAM_TYPE {
                    continue;
                }
                let (customer_id, field, reason) = match DisclosureEvent::from_stored(
                    &e.event_type,
                    e.schema_version,
                    &e.payload,
                )? {
                    DisclosureEvent::Revealed(r) => (r.customer_id, r.field.as_str(), r.reason),
                    DisclosureEvent::Exported(x) => (x.customer_id, "export", x.reason),
                };
                rows.tenant_id.push(e.tenant_id.as_uuid());
                rows.seq.push(fe.seq);
                rows.occurred_at.push(e.metadata.occurred_at);
                rows.actor_account_id
                    .push(e.metadata.actor.account_id.map(|a| a.as_uuid()));
                rows.actor_role.push(e.metadata.actor.role.as_str());
                rows.customer_id.push(customer_id.as_uuid());
                rows.field.push(field);
                rows.reason.push(serde_json::to_value(&reason)?);
            }
            Ok(Box::new(rows) as Prepared)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let rows = prepared
                .downcast_ref::<Rows>()
                .ok_or_else(|| anyhow::anyhow!("disclosures: foreign prepared batch"))?;
            if rows.seq.is_empty() {
                return Ok(());
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO disclosures (tenant_id, seq, occurred_at, actor_account_id,
                                              actor_role, customer_id, field, reason)
                     SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[], $4::uuid[],
                                          $5::text[], $6::uuid[], $7::text[], $8::jsonb[])
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &rows.tenant_id,
                    &rows.seq,
                    &rows.occurred_at,
                    &rows.actor_account_id,
                    &rows.actor_role,
                    &rows.customer_id,
                    &rows.field,
                    &rows.reason,
                ],
            )
            .await?;
            Ok(())
        })
    }
}
