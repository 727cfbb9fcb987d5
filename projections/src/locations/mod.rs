//! The locations read model: one row per location with its current settings (APT-2,
//! APT-3). Every location event carries the whole settings document, so a batch is a
//! set-wise upsert of each location's last state, guarded by its stream version (a
//! replayed event never moves a row back).

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::location::{self, LocationEvent};
use futures::future::BoxFuture;
use std::collections::HashMap;

pub struct LocationsProjection;

struct Row {
    version: i64,
    name: String,
    time_zone: String,
    settings: serde_json::Value,
    at: chrono::DateTime<chrono::Utc>,
    /// The creation's time, when the batch holds it.
    created: Option<chrono::DateTime<chrono::Utc>>,
}

/// The batch's last state per (tenant, location).
#[derive(Default)]
struct Rows(HashMap<(uuid::Uuid, uuid::Uuid), Row>);

impl Projection for LocationsProjection {
    fn name(&self) -> &'static str {
        "locations"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[location::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["locations"]
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
                if e.stream_type != location::STREAM_TYPE {
                    continue;
                }
                let at = e.metadata.occurred_at;
                let (id, settings, created) = match LocationEvent::from_stored(
                    &e.event_type,
                    e.schema_version,
                    &e.payload,
                )? {
                    LocationEvent::Created(c) => (c.location_id, c.settings, Some(at)),
                    LocationEvent::SettingsChanged(c) => (c.location_id, c.settings, None),
                };
                let key = (e.tenant_id.as_uuid(), id.as_uuid());
                let created = created.or(rows.0.get(&key).and_then(|r| r.created));
                let row = Row {
                    version: e.stream_version,
                    name: settings.name.clone(),
                    time_zone: settings.time_zone.clone(),
                    settings: serde_json::to_value(&settings)?,
                    at,
                    created,
                };
                if rows.0.get(&key).is_none_or(|r| r.version < row.version) {
                    rows.0.insert(key, row);
                }
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
                .ok_or_else(|| anyhow::anyhow!("locations: foreign prepared batch"))?;
            if rows.0.is_empty() {
                return Ok(());
            }
            let (mut tenant, mut id, mut version, mut name, mut zone, mut settings, mut at) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            let mut created = vec![];
            for ((t, l), r) in &rows.0 {
                tenant.push(*t);
                id.push(*l);
                version.push(r.version);
                name.push(r.name.as_str());
                zone.push(r.time_zone.as_str());
                settings.push(&r.settings);
                at.push(r.at);
                created.push(r.created.unwrap_or(r.at));
            }
            // A new row's creation time is its `LocationCreated`'s (in this batch:
            // a later change in the same batch does not move it); a change keeps it.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO locations AS l (tenant_id, location_id, version, name, time_zone,
                                                 settings, created_at, updated_at)
                     SELECT u.t, u.l, u.v, u.n, u.z, u.s, u.k, u.a
                     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                                 $6::jsonb[], $7::timestamptz[], $8::timestamptz[])
                          AS u(t, l, v, n, z, s, a, k)
                     ON CONFLICT (tenant_id, location_id) DO UPDATE SET
                         version = EXCLUDED.version, name = EXCLUDED.name,
                         time_zone = EXCLUDED.time_zone, settings = EXCLUDED.settings,
                         updated_at = EXCLUDED.updated_at
                     WHERE l.version < EXCLUDED.version",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &tenant, &id, &version, &name, &zone, &settings, &at, &created,
                ],
            )
            .await?;
            Ok(())
        })
    }
}
