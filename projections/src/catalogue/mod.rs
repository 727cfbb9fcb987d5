//! The catalogue read model (SVC-1): one row per category with its name, description
//! and place in the salon's order. Category events carry the whole category, so a batch
//! is a set-wise upsert of each category's last state, guarded by its stream version.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::catalogue::{self, CategoryEvent};
use events_schema::envelope::{DomainEvent, FeedEvent};
use futures::future::BoxFuture;
use std::collections::HashMap;

pub struct CatalogueProjection;

struct Row {
    version: i64,
    name: String,
    description: String,
    position: i32,
    at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Rows(HashMap<(uuid::Uuid, uuid::Uuid), Row>);

impl Projection for CatalogueProjection {
    fn name(&self) -> &'static str {
        "catalogue"
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["categories"]
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
                if e.stream_type != catalogue::CATEGORY_STREAM_TYPE {
                    continue;
                }
                let (id, name, description, position) = match CategoryEvent::from_stored(
                    &e.event_type,
                    e.schema_version,
                    &e.payload,
                )? {
                    CategoryEvent::Created(c) => (c.category_id, c.name, c.description, c.position),
                    CategoryEvent::Changed(c) => (c.category_id, c.name, c.description, c.position),
                };
                let row = Row {
                    version: e.stream_version,
                    name,
                    description,
                    position,
                    at: e.metadata.occurred_at,
                };
                let key = (e.tenant_id.as_uuid(), id.as_uuid());
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
                .ok_or_else(|| anyhow::anyhow!("catalogue: foreign prepared batch"))?;
            if rows.0.is_empty() {
                return Ok(());
            }
            let (mut tenant, mut id, mut version, mut name, mut description, mut position, mut at) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            for ((t, c), r) in &rows.0 {
                tenant.push(*t);
                id.push(*c);
                version.push(r.version);
                name.push(r.name.as_str());
                description.push(r.description.as_str());
                position.push(r.position);
                at.push(r.at);
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO categories AS c (tenant_id, category_id, version, name, description,
                                                  position, created_at, updated_at)
                     SELECT u.t, u.c, u.v, u.n, u.d, u.p, u.a, u.a
                     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                                 $6::int[], $7::timestamptz[]) AS u(t, c, v, n, d, p, a)
                     ON CONFLICT (tenant_id, category_id) DO UPDATE SET
                         version = EXCLUDED.version, name = EXCLUDED.name,
                         description = EXCLUDED.description, position = EXCLUDED.position,
                         updated_at = EXCLUDED.updated_at
                     WHERE c.version < EXCLUDED.version",
                )
                .await?;
            tx.execute(
                &stmt,
                &[&tenant, &id, &version, &name, &description, &position, &at],
            )
            .await?;
            Ok(())
        })
    }
}
