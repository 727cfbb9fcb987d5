//! The bookings read model (APT): each booking with its services as placed or last
//! moved, and where it stands (`booked`, `checked_in`, `completed`, `no_show`,
//! `cancelled`). Events are applied in feed order, one statement each (bookings are
//! few per batch next to customers); a replayed placement changes nothing. A move to
//! another date is read from its `BookingRescheduled` (which carries the whole
//! booking); the leaving schedule's `BookingMovedAway` changes nothing here.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::booking::{self, BookingEvent, VisitStatus};
use events_schema::envelope::{DomainEvent, FeedEvent};
use futures::future::BoxFuture;

pub struct BookingsProjection;

struct Applied {
    tenant: uuid::Uuid,
    at: chrono::DateTime<chrono::Utc>,
    event: BookingEvent,
}

impl Projection for BookingsProjection {
    fn name(&self) -> &'static str {
        "bookings"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[booking::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["bookings", "booked_services"]
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
                if e.stream_type != booking::STREAM_TYPE {
                    continue;
                }
                out.push(Applied {
                    tenant: e.tenant_id.as_uuid(),
                    at: e.metadata.occurred_at,
                    event: BookingEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?,
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
                .ok_or_else(|| anyhow::anyhow!("bookings: foreign prepared batch"))?;
            if applied.is_empty() {
                return Ok(());
            }
            let place = tx
                .prepare_cached(
                    "INSERT INTO bookings (tenant_id, booking_id, location_id, date, number,
                         customer_id, status, starts_at, ends_at, override_reason, placed_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7, $8, $9, $10)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            let service = tx
                .prepare_cached(
                    "INSERT INTO booked_services (tenant_id, booking_id, position, service_id,
                         staff_id, room_id, starts_at, ends_at, price)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::numeric)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            let cancel = tx
                .prepare_cached(
                    "UPDATE bookings SET status = 'cancelled', cancelled_at = $3, cancel_reason = $4
                     WHERE tenant_id = $1 AND booking_id = $2 AND status = 'booked'",
                )
                .await?;
            let moved = tx
                .prepare_cached(
                    "UPDATE bookings SET date = $3, number = $4, starts_at = $5, ends_at = $6,
                         override_reason = coalesce($7, override_reason)
                     WHERE tenant_id = $1 AND booking_id = $2",
                )
                .await?;
            let unbook = tx
                .prepare_cached(
                    "DELETE FROM booked_services WHERE tenant_id = $1 AND booking_id = $2",
                )
                .await?;
            let step = tx
                .prepare_cached(
                    "UPDATE bookings SET status = $3
                     WHERE tenant_id = $1 AND booking_id = $2 AND status <> 'cancelled'",
                )
                .await?;
            for a in applied {
                let (placed, replace) = match &a.event {
                    BookingEvent::Placed(p) => (p, false),
                    BookingEvent::Rescheduled(r) => (&r.booking, true),
                    BookingEvent::Cancelled(c) => {
                        tx.execute(
                            &cancel,
                            &[&a.tenant, &c.booking_id.as_uuid(), &a.at, &c.reason],
                        )
                        .await?;
                        continue;
                    }
                    BookingEvent::MovedAway(_) => continue,
                    BookingEvent::CheckedIn(e) => {
                        let s = VisitStatus::CheckedIn.as_str();
                        tx.execute(&step, &[&a.tenant, &e.booking_id.as_uuid(), &s])
                            .await?;
                        continue;
                    }
                    BookingEvent::Completed(e) => {
                        let s = VisitStatus::Completed.as_str();
                        tx.execute(&step, &[&a.tenant, &e.booking_id.as_uuid(), &s])
                            .await?;
                        continue;
                    }
                    BookingEvent::NoShow(e) => {
                        let s = VisitStatus::NoShow.as_str();
                        tx.execute(&step, &[&a.tenant, &e.booking_id.as_uuid(), &s])
                            .await?;
                        continue;
                    }
                };
                {
                    let p = placed;
                    {
                        let (Some(first), Some(last)) = (p.services.first(), p.services.last())
                        else {
                            continue;
                        };
                        let number = i32::try_from(p.number)?;
                        if replace {
                            tx.execute(
                                &moved,
                                &[
                                    &a.tenant,
                                    &p.booking_id.as_uuid(),
                                    &p.date,
                                    &number,
                                    &first.span.start,
                                    &last.span.end,
                                    &p.override_reason,
                                ],
                            )
                            .await?;
                            tx.execute(&unbook, &[&a.tenant, &p.booking_id.as_uuid()])
                                .await?;
                        }
                        tx.execute(
                            &place,
                            &[
                                &a.tenant,
                                &p.booking_id.as_uuid(),
                                &p.location_id.as_uuid(),
                                &p.date,
                                &number,
                                &p.customer_id.as_uuid(),
                                &first.span.start,
                                &last.span.end,
                                &p.override_reason,
                                &a.at,
                            ],
                        )
                        .await?;
                        for (i, s) in p.services.iter().enumerate() {
                            let position = i32::try_from(i)?;
                            let room = s.room.map(|(r, _)| r.as_uuid());
                            tx.execute(
                                &service,
                                &[
                                    &a.tenant,
                                    &p.booking_id.as_uuid(),
                                    &position,
                                    &s.service_id.as_uuid(),
                                    &s.staff_id.as_uuid(),
                                    &room,
                                    &s.span.start,
                                    &s.span.end,
                                    &s.price.to_string(),
                                ],
                            )
                            .await?;
                        }
                    }
                }
            }
            Ok(())
        })
    }
}
