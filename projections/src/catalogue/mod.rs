//! The catalogue read model (SVC-1, SVC-2): one row per category with its name,
//! description and place in the salon's order; one row per service with its details and
//! whether it is published; one row per image a service shows; and the public
//! directory of salons (slug → salon) from the tenants' creation. Category and service
//! events carry whole documents, so a batch folds each stream to its last state and
//! writes it set-wise.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::catalogue::{self, CategoryEvent, ScheduledPrice, ServiceEvent};
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::identity::{TenantEvent, TENANT_STREAM_TYPE};
use futures::future::BoxFuture;
use std::collections::HashMap;

pub struct CatalogueProjection;

struct Row {
    version: i64,
    name: String,
    description: String,
    position: i32,
    at: chrono::DateTime<chrono::Utc>,
    /// When the batch holds the creation: its time (a row's `created_at`).
    created: Option<chrono::DateTime<chrono::Utc>>,
}

/// A service's last state in the batch: its details if an event set them, its
/// publication if an event changed it.
#[derive(Default)]
struct ServiceRow {
    version: i64,
    details: Option<(uuid::Uuid, String, serde_json::Value)>,
    published: Option<bool>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// The schedule's first entry, when the batch holds the creation.
    initial: Option<serde_json::Value>,
    /// The creation's time, when the batch holds it.
    created: Option<chrono::DateTime<chrono::Utc>>,
    /// Price changes of the batch, in order.
    prices: Vec<serde_json::Value>,
}

/// An image a service shows.
struct ImageRow {
    service_id: uuid::Uuid,
    position: i64,
    content_type: String,
    size: i32,
    sha256: String,
    alt: Option<String>,
}

#[derive(Default)]
struct Rows {
    categories: HashMap<(uuid::Uuid, uuid::Uuid), Row>,
    services: HashMap<(uuid::Uuid, uuid::Uuid), ServiceRow>,
    salons: Vec<(String, uuid::Uuid, String)>,
    /// Images added in the batch and still shown at its end, by (tenant, image).
    images: HashMap<(uuid::Uuid, uuid::Uuid), ImageRow>,
    /// Images added before the batch and removed in it. Image ids are never reused,
    /// so an image added and removed within the batch is in neither.
    removed_images: Vec<(uuid::Uuid, uuid::Uuid)>,
}

impl Projection for CatalogueProjection {
    fn name(&self) -> &'static str {
        "catalogue"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[
            TENANT_STREAM_TYPE,
            catalogue::SERVICE_STREAM_TYPE,
            catalogue::CATEGORY_STREAM_TYPE,
        ]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "categories",
            "services",
            "service_images",
            "salon_directory",
        ]
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
                if e.stream_type == TENANT_STREAM_TYPE {
                    let TenantEvent::Created(t) =
                        TenantEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?;
                    rows.salons.push((t.slug, t.tenant_id.as_uuid(), t.name));
                    continue;
                }
                if e.stream_type == catalogue::SERVICE_STREAM_TYPE {
                    let event =
                        ServiceEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?;
                    let (mut initial, mut price) = (None, None);
                    let (id, details, published) = match event {
                        ServiceEvent::Created(c) => {
                            initial = Some(serde_json::to_value([ScheduledPrice {
                                price: c.details.price,
                                effective_at: e.metadata.occurred_at,
                                method: None,
                            }])?);
                            (c.service_id, Some(c.details), None)
                        }
                        ServiceEvent::Changed(c) => (c.service_id, Some(c.details), None),
                        ServiceEvent::Published(p) => (p.service_id, None, Some(true)),
                        ServiceEvent::Unpublished(p) => (p.service_id, None, Some(false)),
                        ServiceEvent::PriceChanged(p) => {
                            price = Some(serde_json::to_value(ScheduledPrice {
                                price: p.price,
                                effective_at: p.effective_at,
                                method: Some(p.method),
                            })?);
                            (p.service_id, None, None)
                        }
                        ServiceEvent::ImageAdded(i) => {
                            rows.images.insert(
                                (e.tenant_id.as_uuid(), i.image_id.as_uuid()),
                                ImageRow {
                                    service_id: i.service_id.as_uuid(),
                                    position: e.stream_version,
                                    content_type: i.content_type,
                                    size: i32::try_from(i.size)?,
                                    sha256: i.sha256,
                                    alt: i.alt,
                                },
                            );
                            (i.service_id, None, None)
                        }
                        ServiceEvent::ImageRemoved(i) => {
                            let key = (e.tenant_id.as_uuid(), i.image_id.as_uuid());
                            if rows.images.remove(&key).is_none() {
                                rows.removed_images.push(key);
                            }
                            (i.service_id, None, None)
                        }
                    };
                    let row = rows
                        .services
                        .entry((e.tenant_id.as_uuid(), id.as_uuid()))
                        .or_default();
                    row.version = row.version.max(e.stream_version);
                    row.at = Some(e.metadata.occurred_at);
                    if let Some(d) = details {
                        row.details = Some((
                            d.category_id.as_uuid(),
                            d.name.clone(),
                            serde_json::to_value(&d)?,
                        ));
                    }
                    if published.is_some() {
                        row.published = published;
                    }
                    if initial.is_some() {
                        row.initial = initial;
                        row.created = Some(e.metadata.occurred_at);
                    }
                    row.prices.extend(price);
                    continue;
                }
                if e.stream_type != catalogue::CATEGORY_STREAM_TYPE {
                    continue;
                }
                let at = e.metadata.occurred_at;
                let (id, name, description, position, created) = match CategoryEvent::from_stored(
                    &e.event_type,
                    e.schema_version,
                    &e.payload,
                )? {
                    CategoryEvent::Created(c) => {
                        (c.category_id, c.name, c.description, c.position, Some(at))
                    }
                    CategoryEvent::Changed(c) => {
                        (c.category_id, c.name, c.description, c.position, None)
                    }
                };
                let key = (e.tenant_id.as_uuid(), id.as_uuid());
                let earlier = rows.categories.get(&key);
                if earlier.is_none_or(|r| r.version < e.stream_version) {
                    let created = created.or(earlier.and_then(|r| r.created));
                    rows.categories.insert(
                        key,
                        Row {
                            version: e.stream_version,
                            name,
                            description,
                            position,
                            at,
                            created,
                        },
                    );
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
            write_services(tx, rows).await?;
            write_images(tx, rows).await?;
            write_salons(tx, rows).await?;
            if rows.categories.is_empty() {
                return Ok(());
            }
            let (mut tenant, mut id, mut version, mut name, mut description, mut position, mut at) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            let mut created = vec![];
            for ((t, c), r) in &rows.categories {
                tenant.push(*t);
                id.push(*c);
                version.push(r.version);
                name.push(r.name.as_str());
                description.push(r.description.as_str());
                position.push(r.position);
                at.push(r.at);
                created.push(r.created.unwrap_or(r.at));
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO categories AS c (tenant_id, category_id, version, name, description,
                                                  position, created_at, updated_at)
                     SELECT u.t, u.c, u.v, u.n, u.d, u.p, u.k, u.a
                     FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                                 $6::int[], $7::timestamptz[], $8::timestamptz[])
                          AS u(t, c, v, n, d, p, a, k)
                     ON CONFLICT (tenant_id, category_id) DO UPDATE SET
                         version = EXCLUDED.version, name = EXCLUDED.name,
                         description = EXCLUDED.description, position = EXCLUDED.position,
                         updated_at = EXCLUDED.updated_at
                     WHERE c.version < EXCLUDED.version",
                )
                .await?;
            tx.execute(
                &stmt,
                &[
                    &tenant,
                    &id,
                    &version,
                    &name,
                    &description,
                    &position,
                    &at,
                    &created,
                ],
            )
            .await?;
            Ok(())
        })
    }
}

/// Services with new details are upserted (a new one starts unpublished); publications
/// then set the flag. The runner applies each event exactly once, in order, and a batch
/// is folded to each service's last state, so the two statements commute.
async fn write_services(tx: &Transaction<'_>, rows: &Rows) -> anyhow::Result<()> {
    let (mut tenant, mut id, mut version, mut category, mut name, mut details, mut at) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut p_tenant, mut p_id, mut p_version, mut p_published, mut p_at) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut s_tenant, mut s_id, mut s_version, mut s_prices, mut s_at) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut t_tenant, mut t_id, mut t_version, mut t_at) = (vec![], vec![], vec![], vec![]);
    let mut initial = vec![];
    let mut created = vec![];
    for ((t, s), r) in &rows.services {
        let when = r.at.unwrap_or_default();
        if r.details.is_none() && r.prices.is_empty() && r.published.is_none() {
            // Only images changed: the row's version and time still follow its stream.
            t_tenant.push(*t);
            t_id.push(*s);
            t_version.push(r.version);
            t_at.push(when);
        }
        if let Some((c, n, d)) = &r.details {
            tenant.push(*t);
            id.push(*s);
            version.push(r.version);
            category.push(*c);
            name.push(n.as_str());
            details.push(d);
            at.push(when);
            created.push(r.created.unwrap_or(when));
            initial.push(
                r.initial
                    .clone()
                    .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
            );
        }
        if !r.prices.is_empty() {
            s_tenant.push(*t);
            s_id.push(*s);
            s_version.push(r.version);
            s_prices.push(serde_json::Value::Array(r.prices.clone()));
            s_at.push(when);
        }
        if let Some(p) = r.published {
            p_tenant.push(*t);
            p_id.push(*s);
            p_version.push(r.version);
            p_published.push(p);
            p_at.push(when);
        }
    }
    if !tenant.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO services AS s (tenant_id, service_id, version, category_id, name,
                                            published, details, created_at, updated_at,
                                            price_schedule)
                 SELECT u.t, u.s, u.v, u.c, u.n, false, u.d, u.k, u.a, u.p
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[],
                             $6::jsonb[], $7::timestamptz[], $8::jsonb[], $9::timestamptz[])
                      AS u(t, s, v, c, n, d, a, p, k)
                 ON CONFLICT (tenant_id, service_id) DO UPDATE SET
                     version = GREATEST(s.version, EXCLUDED.version),
                     category_id = EXCLUDED.category_id, name = EXCLUDED.name,
                     details = EXCLUDED.details, updated_at = EXCLUDED.updated_at",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &tenant, &id, &version, &category, &name, &details, &at, &initial, &created,
            ],
        )
        .await?;
    }
    if !s_tenant.is_empty() {
        let stmt = tx
            .prepare_cached(
                "UPDATE services s SET price_schedule = s.price_schedule || u.p,
                                       version = GREATEST(s.version, u.v), updated_at = u.a
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::jsonb[], $5::timestamptz[])
                      AS u(t, s, v, p, a)
                 WHERE s.tenant_id = u.t AND s.service_id = u.s",
            )
            .await?;
        tx.execute(&stmt, &[&s_tenant, &s_id, &s_version, &s_prices, &s_at])
            .await?;
    }
    if !p_tenant.is_empty() {
        let stmt = tx
            .prepare_cached(
                "UPDATE services s SET published = u.p, version = GREATEST(s.version, u.v),
                                       updated_at = u.a
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::bool[], $5::timestamptz[])
                      AS u(t, s, v, p, a)
                 WHERE s.tenant_id = u.t AND s.service_id = u.s",
            )
            .await?;
        tx.execute(&stmt, &[&p_tenant, &p_id, &p_version, &p_published, &p_at])
            .await?;
    }
    if !t_tenant.is_empty() {
        let stmt = tx
            .prepare_cached(
                "UPDATE services s SET version = GREATEST(s.version, u.v), updated_at = u.a
                 FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[])
                      AS u(t, s, v, a)
                 WHERE s.tenant_id = u.t AND s.service_id = u.s",
            )
            .await?;
        tx.execute(&stmt, &[&t_tenant, &t_id, &t_version, &t_at])
            .await?;
    }
    Ok(())
}

/// Images shown from this batch on are inserted, images no longer shown deleted. Each
/// image id is added once and removed at most once, so the two statements commute.
async fn write_images(tx: &Transaction<'_>, rows: &Rows) -> anyhow::Result<()> {
    if !rows.images.is_empty() {
        let (mut tenant, mut id, mut service, mut position) = (vec![], vec![], vec![], vec![]);
        let (mut content_type, mut size, mut sha256, mut alt) = (vec![], vec![], vec![], vec![]);
        for ((t, i), r) in &rows.images {
            tenant.push(*t);
            id.push(*i);
            service.push(r.service_id);
            position.push(r.position);
            content_type.push(r.content_type.as_str());
            size.push(r.size);
            sha256.push(r.sha256.as_str());
            alt.push(r.alt.as_deref());
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO service_images (tenant_id, image_id, service_id, position,
                                             content_type, size, sha256, alt)
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[],
                                      $5::text[], $6::int[], $7::text[], $8::text[])
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &tenant,
                &id,
                &service,
                &position,
                &content_type,
                &size,
                &sha256,
                &alt,
            ],
        )
        .await?;
    }
    if !rows.removed_images.is_empty() {
        let (tenant, id): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) =
            rows.removed_images.iter().copied().unzip();
        let stmt = tx
            .prepare_cached(
                "DELETE FROM service_images i
                 USING UNNEST($1::uuid[], $2::uuid[]) AS u(t, i)
                 WHERE i.tenant_id = u.t AND i.image_id = u.i",
            )
            .await?;
        tx.execute(&stmt, &[&tenant, &id]).await?;
    }
    Ok(())
}

async fn write_salons(tx: &Transaction<'_>, rows: &Rows) -> anyhow::Result<()> {
    if rows.salons.is_empty() {
        return Ok(());
    }
    let slugs: Vec<&str> = rows.salons.iter().map(|s| s.0.as_str()).collect();
    let ids: Vec<uuid::Uuid> = rows.salons.iter().map(|s| s.1).collect();
    let names: Vec<&str> = rows.salons.iter().map(|s| s.2.as_str()).collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO salon_directory (slug, salon_id, name)
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::text[])
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&slugs, &ids, &names]).await?;
    Ok(())
}
