//! The waitlist read model (APT-13, APT-14): every entry of every location's waitlist
//! and every offer made from it, with where each stands and when it got there — the
//! salon's view of waitlist activity (`GET /waitlist` on query-service). Events are
//! applied in feed order, one statement each; times come from the events themselves.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::waitlist::{self, WaitlistEvent};
use futures::future::BoxFuture;

pub struct WaitlistProjection;

struct Applied {
    tenant: uuid::Uuid,
    event: WaitlistEvent,
}

impl Projection for WaitlistProjection {
    fn name(&self) -> &'static str {
        "waitlist"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[waitlist::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["waitlist_entries", "waitlist_offers"]
    }

    fn prepare<'a>(
        &'a self,
        _tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        _after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for fe in events {
                let e = &fe.event;
                if e.stream_type != waitlist::STREAM_TYPE {
                    continue;
                }
                out.push(Applied {
                    tenant: e.tenant_id.as_uuid(),
                    event: WaitlistEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?,
                });
            }
            Ok(Box::new(out) as Prepared)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let applied = prepared
                .downcast_ref::<Vec<Applied>>()
                .ok_or_else(|| anyhow::anyhow!("waitlist: foreign prepared batch"))?;
            if applied.is_empty() {
                return Ok(());
            }
            let join = tx
                .prepare_cached(
                    "INSERT INTO waitlist_entries (tenant_id, entry_id, location_id, date,
                         customer_id, services, window_from, window_to, joined_at, status)
                     VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9, 'waiting')
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            let leave = tx
                .prepare_cached(
                    "UPDATE waitlist_entries SET status = 'left', ended_at = $3
                     WHERE tenant_id = $1 AND entry_id = $2 AND status = 'waiting'",
                )
                .await?;
            let offer = tx
                .prepare_cached(
                    "INSERT INTO waitlist_offers (tenant_id, offer_id, entry_id, location_id, date,
                         customer_id, slot_id, starts_at, ends_at, services, made_at, expires_at,
                         status)
                     SELECT $1, $2, $3, e.location_id, e.date, $4, $5, $6, $7, $8::text::jsonb,
                            $9, $10, 'open'
                     FROM waitlist_entries e WHERE e.tenant_id = $1 AND e.entry_id = $3
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            let answer = tx
                .prepare_cached(
                    "UPDATE waitlist_offers SET status = $3, answered_at = $4, booking_id = $5,
                         reason = $6
                     WHERE tenant_id = $1 AND offer_id = $2 AND status = 'open'",
                )
                .await?;
            let booked = tx
                .prepare_cached(
                    "UPDATE waitlist_entries e SET status = 'booked', ended_at = $3, booking_id = $4
                     FROM waitlist_offers o
                     WHERE o.tenant_id = $1 AND o.offer_id = $2
                       AND e.tenant_id = o.tenant_id AND e.entry_id = o.entry_id
                       AND e.status = 'waiting'",
                )
                .await?;
            for a in applied {
                let t = &a.tenant;
                let none: Option<uuid::Uuid> = None;
                let no_reason: Option<&str> = None;
                match &a.event {
                    WaitlistEvent::Joined(j) => {
                        let services = serde_json::to_string(&j.services)?;
                        tx.execute(
                            &join,
                            &[
                                t,
                                &j.entry_id.as_uuid(),
                                &j.location_id.as_uuid(),
                                &j.date,
                                &j.customer_id.as_uuid(),
                                &services,
                                &j.from,
                                &j.to,
                                &j.joined_at,
                            ],
                        )
                        .await?;
                    }
                    WaitlistEvent::Left(l) => {
                        tx.execute(&leave, &[t, &l.entry_id.as_uuid(), &l.at])
                            .await?;
                    }
                    WaitlistEvent::OfferMade(m) => {
                        let services = serde_json::to_string(&m.services)?;
                        tx.execute(
                            &offer,
                            &[
                                t,
                                &m.offer_id.as_uuid(),
                                &m.entry_id.as_uuid(),
                                &m.customer_id.as_uuid(),
                                &m.slot_id.as_uuid(),
                                &m.starts_at,
                                &m.ends_at,
                                &services,
                                &m.made_at,
                                &m.expires_at,
                            ],
                        )
                        .await?;
                    }
                    WaitlistEvent::OfferDeclined(d) => {
                        tx.execute(
                            &answer,
                            &[
                                t,
                                &d.offer_id.as_uuid(),
                                &"declined",
                                &d.at,
                                &none,
                                &no_reason,
                            ],
                        )
                        .await?;
                    }
                    WaitlistEvent::OfferExpired(x) => {
                        tx.execute(
                            &answer,
                            &[
                                t,
                                &x.offer_id.as_uuid(),
                                &"expired",
                                &x.at,
                                &none,
                                &no_reason,
                            ],
                        )
                        .await?;
                    }
                    WaitlistEvent::OfferWithdrawn(w) => {
                        tx.execute(
                            &answer,
                            &[
                                t,
                                &w.offer_id.as_uuid(),
                                &"withdrawn",
                                &w.at,
                                &none,
                                &Some(w.reason.as_str()),
                            ],
                        )
                        .await?;
                    }
                    WaitlistEvent::OfferAccepted(acc) => {
                        let booking = Some(acc.booking_id.as_uuid());
                        tx.execute(
                            &answer,
                            &[
                                t,
                                &acc.offer_id.as_uuid(),
                                &"accepted",
                                &acc.at,
                                &booking,
                                &no_reason,
                            ],
                        )
                        .await?;
                        tx.execute(&booked, &[t, &acc.offer_id.as_uuid(), &acc.at, &booking])
                            .await?;
                    }
                }
            }
            Ok(())
        })
    }
}
