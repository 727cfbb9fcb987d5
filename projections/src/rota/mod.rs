//! The rota read model (STF-2): each person's rota as the fold of their rota stream,
//! and the shift templates. A batch reads the rotas it touches (or takes them from the
//! batch prepared just before it), applies its events past each rota's version, and
//! writes the results back guarded by version, so a replayed event changes nothing.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::rota::{self, Rota, RotaEvent, ShiftTemplateEvent};
use futures::future::BoxFuture;
use std::collections::HashMap;

pub struct RotaProjection;

type Key = (uuid::Uuid, uuid::Uuid);

#[derive(Clone)]
struct RotaRow {
    version: i64,
    rota: Rota,
    at: chrono::DateTime<chrono::Utc>,
}

struct TemplateRow {
    version: i64,
    name: String,
    intervals: serde_json::Value,
    at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Batch {
    rotas: HashMap<Key, RotaRow>,
    templates: HashMap<Key, TemplateRow>,
}

impl Projection for RotaProjection {
    fn name(&self) -> &'static str {
        "rota"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[rota::STREAM_TYPE, rota::TEMPLATE_STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rota", "shift_templates"]
    }

    fn prepare<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>> {
        Box::pin(async move {
            let mut batch = Batch::default();
            let previous = after.and_then(|p| p.downcast_ref::<Batch>());
            // The rotas this batch touches, as they stand before it.
            let mut wanted: Vec<Key> = Vec::new();
            for fe in events {
                let e = &fe.event;
                if e.stream_type == rota::STREAM_TYPE {
                    let key = (
                        e.tenant_id.as_uuid(),
                        RotaEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?
                            .staff_id()
                            .as_uuid(),
                    );
                    if !wanted.contains(&key) {
                        wanted.push(key);
                    }
                }
            }
            if !wanted.is_empty() {
                let tenants: Vec<uuid::Uuid> = wanted.iter().map(|k| k.0).collect();
                let staff: Vec<uuid::Uuid> = wanted.iter().map(|k| k.1).collect();
                let stmt = tx
                    .prepare_cached(
                        "SELECT r.tenant_id, r.staff_id, r.version, r.rota, r.updated_at
                         FROM UNNEST($1::uuid[], $2::uuid[]) AS u(t, s)
                         JOIN rota r ON r.tenant_id = u.t AND r.staff_id = u.s",
                    )
                    .await?;
                for row in tx.query(&stmt, &[&tenants, &staff]).await? {
                    let rota: Rota = serde_json::from_value(row.get(3))?;
                    batch.rotas.insert(
                        (row.get(0), row.get(1)),
                        RotaRow {
                            version: row.get(2),
                            rota,
                            at: row.get(4),
                        },
                    );
                }
                if let Some(previous) = previous {
                    for key in &wanted {
                        if let Some(r) = previous.rotas.get(key) {
                            if batch.rotas.get(key).is_none_or(|x| x.version < r.version) {
                                batch.rotas.insert(*key, r.clone());
                            }
                        }
                    }
                }
            }
            for fe in events {
                let e = &fe.event;
                let at = e.metadata.occurred_at;
                if e.stream_type == rota::STREAM_TYPE {
                    let event =
                        RotaEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?;
                    let key = (e.tenant_id.as_uuid(), event.staff_id().as_uuid());
                    let row = batch.rotas.entry(key).or_insert(RotaRow {
                        version: 0,
                        rota: Rota::default(),
                        at,
                    });
                    if row.version < e.stream_version {
                        row.rota.apply(&event);
                        row.version = e.stream_version;
                        row.at = at;
                    }
                } else if e.stream_type == rota::TEMPLATE_STREAM_TYPE {
                    let ShiftTemplateEvent::Saved(s) = ShiftTemplateEvent::from_stored(
                        &e.event_type,
                        e.schema_version,
                        &e.payload,
                    )?;
                    let key = (e.tenant_id.as_uuid(), s.template_id.as_uuid());
                    if batch
                        .templates
                        .get(&key)
                        .is_none_or(|t| t.version < e.stream_version)
                    {
                        batch.templates.insert(
                            key,
                            TemplateRow {
                                version: e.stream_version,
                                name: s.template.name.clone(),
                                intervals: serde_json::to_value(&s.template.intervals)?,
                                at,
                            },
                        );
                    }
                }
            }
            Ok(Box::new(batch) as Prepared)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let batch = prepared
                .downcast_ref::<Batch>()
                .ok_or_else(|| anyhow::anyhow!("rota: foreign prepared batch"))?;
            if !batch.rotas.is_empty() {
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO rota AS r (tenant_id, staff_id, version, rota, updated_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (tenant_id, staff_id) DO UPDATE SET
                             version = EXCLUDED.version, rota = EXCLUDED.rota,
                             updated_at = EXCLUDED.updated_at
                         WHERE r.version < EXCLUDED.version",
                    )
                    .await?;
                for ((tenant, staff), row) in &batch.rotas {
                    let doc = serde_json::to_value(&row.rota)?;
                    tx.execute(&stmt, &[tenant, staff, &row.version, &doc, &row.at])
                        .await?;
                }
            }
            if !batch.templates.is_empty() {
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO shift_templates AS t (tenant_id, template_id, version, name,
                             intervals, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (tenant_id, template_id) DO UPDATE SET
                             version = EXCLUDED.version, name = EXCLUDED.name,
                             intervals = EXCLUDED.intervals, updated_at = EXCLUDED.updated_at
                         WHERE t.version < EXCLUDED.version",
                    )
                    .await?;
                for ((tenant, id), t) in &batch.templates {
                    tx.execute(
                        &stmt,
                        &[tenant, id, &t.version, &t.name, &t.intervals, &t.at],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }
}
