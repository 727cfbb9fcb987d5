//! The utilisation read model (issue 5 item 9: booked service time ÷ shift time, per
//! technician and day). It keeps the numerator only: for every live booking, each
//! technician's own minutes in it — the sum of their `staff_busy` spans, so a
//! processing segment (customer busy, technician free) does not count — on the
//! booking's local date and location (`booked_time`).
//!
//! The denominator is not stored. Shift time comes from rota rules (weekly patterns
//! without an end date), which would have to be expanded for every date there will
//! ever be, and a rota change would rewrite rows of dates nobody asks about.
//! query-service's `GET /utilisation` expands the rota read model for the asked dates
//! only (the same expansion as `/rota`) and divides there. Both halves come from events
//! alone (no clock), so `projections verify` covers this one like the others.
//!
//! What counts as booked: a booking that holds its time — booked, checked in or
//! completed. A cancelled booking counts nowhere; a moved one counts on the date and
//! with the technicians of its `BookingRescheduled` (which carries the whole booking;
//! the `BookingMovedAway` of the schedule it left, in the same transaction and in
//! either feed order, changes nothing here). A no-show does not count: recording it
//! frees the rest of its time for other bookings (`DaySchedule`), which would then be
//! counted twice.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::booking::{self, BookingEvent, BookingPlaced};
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::ids::StaffId;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

pub struct UtilisationProjection;

/// What one event does to `booked_time`.
enum Change {
    /// A booking's rows, replacing any it had (placed, or rescheduled).
    Book {
        booking: uuid::Uuid,
        location: uuid::Uuid,
        date: chrono::NaiveDate,
        minutes: Vec<(StaffId, i32)>,
    },
    /// The booking no longer holds its time (cancelled, no-show).
    Release { booking: uuid::Uuid },
}

struct Applied {
    tenant: uuid::Uuid,
    change: Change,
}

/// Each technician's own minutes in a booking (processing excluded), by technician.
pub fn busy_minutes(p: &BookingPlaced) -> anyhow::Result<Vec<(StaffId, i32)>> {
    let mut seconds: BTreeMap<StaffId, i64> = BTreeMap::new();
    for s in &p.services {
        let own: i64 = s
            .staff_busy
            .iter()
            .map(|span| (span.end - span.start).num_seconds().max(0))
            .sum();
        *seconds.entry(s.staff_id).or_default() += own;
    }
    seconds
        .into_iter()
        .map(|(staff, secs)| Ok((staff, i32::try_from(secs / 60)?)))
        .collect()
}

impl Projection for UtilisationProjection {
    fn name(&self) -> &'static str {
        "utilisation"
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
        &["booked_time"]
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
                let event = BookingEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?;
                let change = match &event {
                    BookingEvent::Placed(p) => book(p)?,
                    BookingEvent::Rescheduled(r) => book(&r.booking)?,
                    BookingEvent::Cancelled(c) => Change::Release {
                        booking: c.booking_id.as_uuid(),
                    },
                    BookingEvent::NoShow(n) => Change::Release {
                        booking: n.booking_id.as_uuid(),
                    },
                    BookingEvent::MovedAway(_)
                    | BookingEvent::CheckedIn(_)
                    | BookingEvent::Completed(_) => continue,
                };
                out.push(Applied {
                    tenant: e.tenant_id.as_uuid(),
                    change,
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
                .ok_or_else(|| anyhow::anyhow!("utilisation: foreign prepared batch"))?;
            if applied.is_empty() {
                return Ok(());
            }
            let release = tx
                .prepare_cached("DELETE FROM booked_time WHERE tenant_id = $1 AND booking_id = $2")
                .await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO booked_time (tenant_id, booking_id, staff_id, location_id,
                         date, minutes)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            for a in applied {
                match &a.change {
                    Change::Release { booking } => {
                        tx.execute(&release, &[&a.tenant, booking]).await?;
                    }
                    Change::Book {
                        booking,
                        location,
                        date,
                        minutes,
                    } => {
                        tx.execute(&release, &[&a.tenant, booking]).await?;
                        for (staff, m) in minutes {
                            tx.execute(
                                &insert,
                                &[&a.tenant, booking, &staff.as_uuid(), location, date, m],
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

fn book(p: &BookingPlaced) -> anyhow::Result<Change> {
    Ok(Change::Book {
        booking: p.booking_id.as_uuid(),
        location: p.location_id.as_uuid(),
        date: p.date,
        minutes: busy_minutes(p)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate, Utc};
    use events_schema::booking::{BookedService, Span};
    use events_schema::ids::{BookingId, CustomerId, LocationId, ServiceId};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    fn span(a: &str, b: &str) -> Span {
        Span {
            start: at(a),
            end: at(b),
        }
    }

    #[test]
    fn a_technicians_minutes_are_their_busy_spans_summed_processing_excluded() {
        let (wang, li) = (StaffId::new(), StaffId::new());
        let service = |staff, whole: Span, busy: Vec<Span>| BookedService {
            service_id: ServiceId::new(),
            staff_id: staff,
            room: None,
            span: whole,
            staff_busy: busy,
            service_slot: None,
            price: Default::default(),
        };
        let p = BookingPlaced {
            booking_id: BookingId::new(),
            location_id: LocationId::new(),
            date: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default(),
            number: 1,
            customer_id: CustomerId::new(),
            services: vec![
                // 10:00–11:30 with 30 minutes of processing in the middle: 60 minutes.
                service(
                    wang,
                    span("2027-03-01T02:00:00Z", "2027-03-01T03:30:00Z"),
                    vec![
                        span("2027-03-01T02:00:00Z", "2027-03-01T02:30:00Z"),
                        span("2027-03-01T03:00:00Z", "2027-03-01T03:30:00Z"),
                    ],
                ),
                service(
                    li,
                    span("2027-03-01T03:30:00Z", "2027-03-01T04:15:00Z"),
                    vec![span("2027-03-01T03:30:00Z", "2027-03-01T04:15:00Z")],
                ),
                // Wang again: adds to her minutes in this booking.
                service(
                    wang,
                    span("2027-03-01T04:15:00Z", "2027-03-01T04:35:00Z"),
                    vec![span("2027-03-01T04:15:00Z", "2027-03-01T04:35:00Z")],
                ),
            ],
            location_slot: None,
            override_reason: None,
        };
        let mut got = busy_minutes(&p).map_err(|e| e.to_string());
        if let Ok(v) = got.as_mut() {
            v.sort_by_key(|(s, _)| (*s != wang, *s));
        }
        assert_eq!(got, Ok(vec![(wang, 80), (li, 45)]));
    }
}
