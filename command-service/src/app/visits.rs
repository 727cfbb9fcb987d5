//! A booking after it is placed (APT-9): moved to another time, and its visit
//! recorded — the customer checked in, the visit completed, or a no-show.
//!
//! **Moving is decided like placing.** A reschedule is decided by the very rule a new
//! booking is ([`super::bookings::fit`], the location's bookable rules and the
//! technicians' holds elsewhere), on the target date's schedule without the booking
//! itself, so its own holds never block it. It keeps its id, customer, services and the
//! prices fixed when it was placed (SVC-5); within its date it keeps its number, on
//! another date it takes that date's next one (numbers are per location and day).
//!
//! **Across dates, one transaction.** A booking belongs to the schedule stream of its
//! date. Moving it to another date appends `BookingRescheduled` (the booking as it
//! now is) to the target date's stream and `BookingMovedAway` to the stream it leaves,
//! both with the versions they were decided on, in the same transaction as its
//! reservations (old holds deleted, new ones written: the exclusion constraint still
//! guards), its `booking.bookings` row (which stream holds it, when it starts, its
//! revision) and the withdrawal of its unsent reminders. Either everything commits or
//! nothing does, so no crash can lose the booking (in neither stream) or duplicate it
//! (in both); a concurrent change of either stream fails the compare-and-set and the
//! move is decided again. Within one instance the two streams' turns are taken in
//! the order of their ids, so two opposite moves cannot wait on each other; across
//! instances a deadlock is detected by PostgreSQL and decided again like a conflict.
//!
//! **Reminders move with it.** Its unsent reminders are deleted in the moving
//! transaction and the planner plans the new time's under keys carrying the new
//! revision (`booking:<id>:r<revision>:<lead>`), so a reminder already sent for the old
//! time does not stop the new time's.
//!
//! **She is told.** A notice of the new time (`booking_moved`) is queued in the
//! moving transaction, like a booking's confirmation: it goes out exactly when the
//! move happened.
//!
//! **The old time goes to the waitlist (APT-13).** The moving transaction records the
//! time the booking left (its services' spans as it was placed or last moved) in
//! `booking.moves`, under the revision it left and a slot id derived from the two
//! ([`SlotId::moved_from`]), so every move frees a slot of its own and a retry derives
//! the same one. After the commit the slot is offered as a cancellation's is
//! ([`App::offer_moved_from`]); that never fails the move, and the waitlist sweeper
//! offers a recorded move whose slot was not (the hook did not run).

use super::bookings::{
    answer_of, check_cutoff, check_window, first_fit, hold_columns, resolve_local, BookingRequest,
    Fold, Misfit, ServiceRequest, RETRIES, WITHDRAW_REMINDERS, WITHDRAW_REMINDER_KEYS,
};
use super::{App, AppError, CommandContext, Outcome, SideWrites};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use events_schema::booking::{
    self as wire, BookedService, BookingCheckedIn, BookingCompleted, BookingEvent,
    BookingMovedAway, BookingNoShowRecorded, BookingPlaced, BookingRescheduled, VisitStatus,
};
use events_schema::envelope::DomainEvent;
use events_schema::ids::{BookingId, CustomerId, LocationId, SlotId, TenantId};
use events_schema::store::{self, ExpectedVersion, StoreError, StreamAppend};
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// How long before its start a visit may be checked in.
const CHECK_IN_HOURS: i64 = 12;

/// A move of a booking to another time.
#[derive(Clone, Debug)]
pub struct RescheduleRequest {
    pub booking_id: BookingId,
    /// The new local start at the booking's location.
    pub start: NaiveDateTime,
    pub fold: Option<Fold>,
    /// The booking's services in order, each with the technician (none: anyone who
    /// may) and room wanted; none: the same technicians, any fitting room.
    pub services: Option<Vec<ServiceRequest>>,
    pub override_reason: Option<String>,
    /// A customer's own request: the booking must be hers, and she is bound by the
    /// cut-off.
    pub own: Option<CustomerId>,
}

/// What staff record of a visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisitStep {
    CheckIn,
    Complete,
    NoShow,
}

impl VisitStep {
    fn target(self) -> VisitStatus {
        match self {
            VisitStep::CheckIn => VisitStatus::CheckedIn,
            VisitStep::Complete => VisitStatus::Completed,
            VisitStep::NoShow => VisitStatus::NoShow,
        }
    }
}

/// Decides a step of a visit in state `status` that starts at `start`: the status it
/// moves to, `None` when it is there already (a repeat records nothing), or why not.
pub fn decide_step(
    step: VisitStep,
    status: VisitStatus,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<VisitStatus>, String> {
    use VisitStatus as V;
    use VisitStep as S;
    if status == step.target() {
        return Ok(None);
    }
    match (step, status) {
        (_, V::Cancelled) => Err("the booking was cancelled".into()),
        (_, V::MovedAway) => Err("the booking was moved to another date".into()),
        (S::CheckIn, V::Booked) if now < start - Duration::hours(CHECK_IN_HOURS) => Err(format!(
            "a visit is checked in at most {CHECK_IN_HOURS} hours before it starts"
        )),
        (S::CheckIn, V::Booked) => Ok(Some(V::CheckedIn)),
        (S::CheckIn | S::NoShow, V::Completed) => Err("the visit is already completed".into()),
        (S::CheckIn | S::Complete, V::NoShow) => {
            Err("the visit was recorded as a no-show".into())
        }
        (S::Complete, V::CheckedIn) => Ok(Some(V::Completed)),
        (S::Complete, V::Booked) if now < start => Err(
            "the visit has not started: check the customer in first, or complete it once it has started"
                .into(),
        ),
        (S::Complete, V::Booked) => Ok(Some(V::Completed)),
        (S::NoShow, V::Booked) if now < start => {
            Err("a no-show is recorded only after the visit's start time".into())
        }
        (S::NoShow, V::Booked) => Ok(Some(V::NoShow)),
        (S::NoShow, V::CheckedIn) => Err("the customer checked in: she came".into()),
        // Each step's own target was answered above.
        (S::CheckIn, V::CheckedIn) | (S::Complete, V::Completed) | (S::NoShow, V::NoShow) => {
            Ok(None)
        }
    }
}

/// Records, in the moving transaction, the time a booking leaves (`left`: location,
/// date, start and end): under the revision it leaves (the row's, already advanced by
/// this move, less one) and the slot id derived from the two, which it returns.
async fn record_move(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: TenantId,
    booking: BookingId,
    (location, date, starts_at, ends_at): (LocationId, NaiveDate, DateTime<Utc>, DateTime<Utc>),
) -> Result<SlotId, AppError> {
    let (tenant, id) = (tenant.as_uuid(), booking.as_uuid());
    let stmt = tx
        .prepare_cached(
            "SELECT revision FROM booking.bookings WHERE tenant_id = $1 AND booking_id = $2",
        )
        .await?;
    let revision: i32 = tx.query_one(&stmt, &[&tenant, &id]).await?.get(0);
    let left = revision.saturating_sub(1);
    let slot = SlotId::moved_from(booking, left);
    let stmt = tx
        .prepare_cached(
            "INSERT INTO booking.moves (tenant_id, booking_id, revision, slot_id, location_id,
                                        date, starts_at, ends_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &tenant,
            &id,
            &left,
            &slot.as_uuid(),
            &location.as_uuid(),
            &date,
            &starts_at,
            &ends_at,
        ],
    )
    .await?;
    Ok(slot)
}

impl App {
    /// Moves a booking to another time (see the module's documentation).
    pub async fn reschedule_booking(
        &self,
        ctx: &CommandContext,
        req: RescheduleRequest,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let overriding = req.override_reason.is_some();
        let mut tries = 0;
        loop {
            tries += 1;
            let at = self
                .locate_booking(ctx.tenant, req.booking_id, req.own)
                .await?;
            let settings = self
                .location_settings(ctx.tenant, at.location)
                .await?
                .ok_or(AppError::NotFound("location"))?;
            let tz: Tz = settings
                .time_zone
                .parse()
                .map_err(|_| AppError::Internal(anyhow::anyhow!("a stored zone does not parse")))?;
            let now = Utc::now();
            if req.own.is_some() {
                check_cutoff(&settings.booking_rules, at.starts_at, now)?;
            }
            let start = resolve_local(tz, req.start, req.fold)?;
            check_window(&settings.booking_rules, start, now, overriding)?;
            let date = req.start.date();
            let target = wire::stream_id(at.location, date);
            let same_day = target == at.stream;
            // Turns in the order of the streams' ids.
            let mut streams = [at.stream.clone(), target.clone()];
            streams.sort();
            let _first = self.stream_turns.take(&streams[0]).await;
            let _second = if same_day {
                None
            } else {
                Some(self.stream_turns.take(&streams[1]).await)
            };
            let (from_version, from_day) = self.read_day(ctx.tenant, &at.stream).await?;
            let current = match (
                from_day.status.get(&req.booking_id),
                from_day.booking(req.booking_id),
            ) {
                (Some(VisitStatus::Booked), Some(b)) => b.clone(),
                (Some(VisitStatus::MovedAway) | None, _) if tries < RETRIES => continue,
                (Some(s), _) if *s != VisitStatus::MovedAway => {
                    return Err(AppError::Rule(format!(
                        "the visit is {}: only a booked visit can be rescheduled",
                        s.as_str().replace('_', " ")
                    )))
                }
                _ => return Err(AppError::Conflict),
            };
            let services: Vec<ServiceRequest> = match &req.services {
                None => current
                    .services
                    .iter()
                    .map(|s| ServiceRequest {
                        service_id: s.service_id,
                        staff_id: Some(s.staff_id),
                        room_id: None,
                    })
                    .collect(),
                Some(asked) => {
                    if asked.len() != current.services.len()
                        || asked
                            .iter()
                            .zip(&current.services)
                            .any(|(a, b)| a.service_id != b.service_id)
                    {
                        return Err(AppError::Rule(
                            "a reschedule keeps the booking's services in their order: list \
                             each with the technician or room wanted, or leave services out"
                                .into(),
                        ));
                    }
                    asked.clone()
                }
            };
            let (to_version, mut to_day) = if same_day {
                (from_version, from_day.clone())
            } else {
                self.read_day(ctx.tenant, &target).await?
            };
            // Its own holds never block it.
            to_day.bookings.retain(|b| b.booking_id != req.booking_id);
            let context = self
                .booking_context(
                    ctx.tenant,
                    at.location,
                    &services,
                    settings.clone(),
                    tz,
                    date,
                    Some(req.booking_id),
                )
                .await?;
            // SVC-3: a visit moved beyond its patch test's validity needs a new one.
            if !overriding {
                self.check_patch_tests(
                    ctx.tenant,
                    current.customer_id,
                    &super::bookings::patch_test_needs(&context),
                    date,
                )
                .await?;
            }
            let fit = match first_fit(&context, &to_day, date, start, &services, overriding) {
                Ok((fit, _)) => fit,
                Err(Misfit::Rule(r)) => return Err(AppError::Rule(r)),
                Err(Misfit::Unavailable(why)) => {
                    let asked = BookingRequest {
                        location_id: at.location,
                        customer_id: current.customer_id,
                        start: req.start,
                        fold: req.fold,
                        services,
                        override_reason: req.override_reason.clone(),
                    };
                    let alternatives = self
                        .alternatives(
                            ctx.tenant,
                            &context,
                            &asked,
                            date,
                            start,
                            &to_day,
                            Some(req.booking_id),
                        )
                        .await?;
                    return Err(AppError::Unavailable409 { why, alternatives });
                }
            };
            // The prices fixed when it was booked stay (SVC-5).
            let moved_services: Vec<BookedService> = fit
                .services
                .into_iter()
                .zip(&current.services)
                .map(|(s, was)| BookedService {
                    price: was.price,
                    ..s
                })
                .collect();
            let number = if same_day {
                current.number
            } else {
                to_day.placed + 1
            };
            let moved = BookingPlaced {
                booking_id: req.booking_id,
                location_id: at.location,
                date,
                number,
                customer_id: current.customer_id,
                services: moved_services,
                location_slot: fit.location_slot,
                override_reason: req.override_reason.clone(),
            };
            let mut answer = answer_of(&moved);
            if let Some(body) = answer.as_object_mut() {
                body.insert("rescheduled".into(), true.into());
            }
            let (resources, starts, ends) = hold_columns(&moved);
            let (tenant, booking) = (ctx.tenant.as_uuid(), req.booking_id.as_uuid());
            let side = SideWrites {
                statements: vec![
                    (
                        "DELETE FROM booking.reservations WHERE tenant_id = $1 AND booking_id = $2",
                        vec![&tenant, &booking],
                    ),
                    (
                        "INSERT INTO booking.reservations (tenant_id, booking_id, resource, during, stream_id)
                         SELECT $1, $2, u.r, tstzrange(u.s, u.e, '[)'), $6
                         FROM UNNEST($3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(r, s, e)",
                        vec![&tenant, &booking, &resources, &starts, &ends, &target],
                    ),
                    (
                        "UPDATE booking.bookings
                         SET stream_id = $3, starts_at = $4, revision = revision + 1
                         WHERE tenant_id = $1 AND booking_id = $2",
                        vec![&tenant, &booking, &target, &start],
                    ),
                    (WITHDRAW_REMINDER_KEYS, vec![&tenant, &booking]),
                    (WITHDRAW_REMINDERS, vec![&tenant, &booking]),
                ],
                ..Default::default()
            };
            let expected = if to_version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(to_version)
            };
            let event = BookingEvent::Rescheduled(BookingRescheduled {
                from_date: current.date,
                booking: moved,
            });
            // Leaving another date's schedule: its event in the same transaction.
            let away = if same_day {
                None
            } else {
                Some(
                    BookingEvent::MovedAway(BookingMovedAway {
                        booking_id: req.booking_id,
                        to_date: date,
                    })
                    .to_new_event()
                    .map_err(|e| AppError::Internal(e.into()))?,
                )
            };
            // Her notice of the new time goes out with the move, or not at all (none when
            // her record is erased: nobody to tell).
            let phone = match self.customer_phone(ctx.tenant, current.customer_id).await {
                Ok(p) => Some(p),
                Err(AppError::Erased | AppError::NotFound(_) | AppError::Customer(_)) => None,
                Err(e) => return Err(e),
            };
            let notice = format!(
                "Booking moved: no. {} at {} is now on {}.",
                number,
                settings.name,
                req.start.format("%Y-%m-%d %H:%M")
            );
            let (leaving, command, app) = (at.stream.clone(), ctx.clone(), self.clone());
            let customer = current.customer_id.as_uuid();
            // The time it leaves, recorded with the move; its slot, once committed.
            let left = match (current.services.first(), current.services.last()) {
                (Some(first), Some(last)) => Some((
                    current.location_id,
                    current.date,
                    first.span.start,
                    last.span.end,
                )),
                _ => None,
            };
            let freed: Arc<OnceLock<SlotId>> = Arc::default();
            let (slot_of_move, moving) = (freed.clone(), req.booking_id);
            match self
                .append_one_then(
                    ctx,
                    (&target, expected),
                    &event,
                    200,
                    (answer, &side),
                    move |tx| {
                        Box::pin(async move {
                            if let Some(left) = left {
                                let slot = record_move(tx, command.tenant, moving, left).await?;
                                let _ = slot_of_move.set(slot);
                            }
                            if let Some(phone) = &phone {
                                app.enqueue_tx(
                                    tx,
                                    &super::notify::Message {
                                        tenant: command.tenant,
                                        kind: "booking_moved",
                                        subject: Some(customer),
                                        recipient: phone,
                                        text: &notice,
                                        not_before: None,
                                        dedupe_key: None,
                                    },
                                )
                                .await?;
                            }
                            let Some(away) = away else {
                                return Ok(());
                            };
                            store::append_tx(
                                tx,
                                &StreamAppend {
                                    tenant_id: command.tenant,
                                    stream_id: &leaving,
                                    stream_type: wire::STREAM_TYPE,
                                    expected: ExpectedVersion::Exact(from_version),
                                    events: std::slice::from_ref(&away),
                                    metadata: &command.metadata(Utc::now()),
                                },
                            )
                            .await
                            .map(|_| ())
                            .map_err(|e| match e {
                                StoreError::Conflict { .. } => AppError::Conflict,
                                e => e.into(),
                            })
                        })
                    },
                )
                .await
            {
                Ok(outcome) => {
                    self.wake_notifier();
                    self.notifier.plan_wakeup.notify_one();
                    drop((_first, _second));
                    // APT-13: the old time goes to the waitlist (never fails the move; the
                    // waitlist sweeper catches up on a failure).
                    if let Some(slot) = freed.get() {
                        self.offer_moved_from(ctx, *slot).await;
                    }
                    return Ok(outcome);
                }
                Err(AppError::Conflict) if tries < RETRIES => continue,
                other => return other,
            }
        }
    }

    /// Records a step of a visit (check-in, completion, no-show) by staff; a repeat
    /// records nothing and answers the same. A no-show frees what is left of the
    /// visit's time (its holds go).
    pub async fn record_visit(
        &self,
        ctx: &CommandContext,
        booking_id: BookingId,
        step: VisitStep,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let at = self.locate_booking(ctx.tenant, booking_id, None).await?;
            let _turn = self.stream_turns.take(&at.stream).await;
            let (version, day) = self.read_day(ctx.tenant, &at.stream).await?;
            let status = match day.status.get(&booking_id) {
                Some(VisitStatus::MovedAway) | None if tries < RETRIES => continue,
                Some(VisitStatus::MovedAway) | None => return Err(AppError::Conflict),
                Some(s) => *s,
            };
            let start = day
                .booking(booking_id)
                .and_then(|b| b.services.first())
                .map_or(at.starts_at, |s| s.span.start);
            let now = Utc::now();
            let next = match decide_step(step, status, start, now).map_err(AppError::Rule)? {
                Some(next) => next,
                None => {
                    return Ok(Outcome {
                        status: 200,
                        body: json!({ "booking_id": booking_id, "status": status.as_str(),
                                      "version": version }),
                    })
                }
            };
            let event = match step {
                VisitStep::CheckIn => BookingEvent::CheckedIn(BookingCheckedIn {
                    booking_id,
                    at: now,
                }),
                VisitStep::Complete => BookingEvent::Completed(BookingCompleted {
                    booking_id,
                    at: now,
                }),
                VisitStep::NoShow => BookingEvent::NoShow(BookingNoShowRecorded {
                    booking_id,
                    at: now,
                }),
            };
            let (tenant, booking, status_name) = (
                ctx.tenant.as_uuid(),
                booking_id.as_uuid(),
                next.as_str().to_owned(),
            );
            let mut statements: Vec<(
                &'static str,
                Vec<&(dyn tokio_postgres::types::ToSql + Sync)>,
            )> = vec![(
                "UPDATE booking.bookings SET status = $3 WHERE tenant_id = $1 AND booking_id = $2",
                vec![&tenant, &booking, &status_name],
            )];
            if next == VisitStatus::NoShow {
                statements.push((
                    "DELETE FROM booking.reservations WHERE tenant_id = $1 AND booking_id = $2",
                    vec![&tenant, &booking],
                ));
            }
            let side = SideWrites {
                statements,
                body: vec![("status", json!(next.as_str()))],
                ..Default::default()
            };
            match self
                .append_one_with(
                    ctx,
                    (&at.stream, ExpectedVersion::Exact(version)),
                    &event,
                    200,
                    ("booking_id", booking),
                    &side,
                )
                .await
            {
                Err(AppError::Conflict) if tries < RETRIES => continue,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_visit_moves_through_its_states_only_forward_and_repeats_record_nothing() {
        use VisitStatus::{Booked, Cancelled, CheckedIn, Completed};
        use VisitStep::{CheckIn, Complete};
        const MISSED: VisitStatus = VisitStatus::NoShow;
        const NO_SHOW: VisitStep = VisitStep::NoShow;
        let start = at("2027-03-01T10:00:00Z");
        let before = at("2027-03-01T09:00:00Z");
        let after = at("2027-03-01T10:30:00Z");
        let long_before = at("2027-02-27T10:00:00Z");
        assert_eq!(
            decide_step(CheckIn, Booked, start, before),
            Ok(Some(CheckedIn))
        );
        assert!(decide_step(CheckIn, Booked, start, long_before).is_err());
        assert_eq!(decide_step(CheckIn, CheckedIn, start, after), Ok(None));
        assert!(decide_step(CheckIn, Cancelled, start, before).is_err());
        assert!(decide_step(CheckIn, Completed, start, after).is_err());
        assert_eq!(
            decide_step(Complete, CheckedIn, start, before),
            Ok(Some(Completed))
        );
        assert!(decide_step(Complete, Booked, start, before).is_err());
        assert_eq!(
            decide_step(Complete, Booked, start, after),
            Ok(Some(Completed))
        );
        assert_eq!(decide_step(Complete, Completed, start, after), Ok(None));
        assert!(decide_step(Complete, MISSED, start, after).is_err());
        assert!(decide_step(NO_SHOW, Booked, start, before).is_err());
        assert_eq!(decide_step(NO_SHOW, Booked, start, after), Ok(Some(MISSED)));
        assert_eq!(decide_step(NO_SHOW, MISSED, start, after), Ok(None));
        assert!(decide_step(NO_SHOW, CheckedIn, start, after).is_err());
        assert!(decide_step(NO_SHOW, Cancelled, start, after).is_err());
    }
}
