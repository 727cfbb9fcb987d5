//! Bookings that never collide (APT-1..15, DESIGN §7).
//!
//! **Two guards.** A location's bookings of one local date are one stream (the
//! schedule); a booking is decided against the whole day — and against the technicians'
//! reservations at other locations — and appended with the version it was decided on,
//! so of two bookings that want the same technician, room place or capacity place only
//! one lands; the other is decided again and refused with alternatives (409). In the same
//! transaction every resource the booking holds is written to `booking.reservations`,
//! whose exclusion constraint refuses two overlapping holds of one resource even if
//! the decision were wrong.
//!
//! **Time.** The visit's start is a local wall-clock time at the location: one inside
//! the spring-forward gap does not exist (422), one in the repeated autumn hour needs a
//! choice (`fold`). Services follow one another; the technician is free during a
//! service's processing segment.
//!
//! **Overrides.** Staff allowed to may book outside shifts or opening hours, or beyond
//! a capacity limit, with a reason (recorded in the event). Nothing overrides two
//! bookings of one technician or one room place at once.

use super::{App, AppError, CommandContext, Outcome, SideWrites};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use events_schema::booking::{
    self as wire, BookedService, BookingCancelled, BookingEvent, BookingPlaced, DaySchedule, Span,
    VisitStatus,
};
use events_schema::catalogue::Segments;
use events_schema::ids::{BookingId, CustomerId, LocationId, RoomId, ServiceId, StaffId, TenantId};
use events_schema::localtime;
use events_schema::location::{BookingRules, LocationSettings};
use events_schema::rota::Rota;
use events_schema::staff::WorkTerms;
use events_schema::store::ExpectedVersion;
use serde_json::json;
use std::collections::HashMap;

mod availability;

/// Deletes the data keys of a booking's unsent reminders (a reminder being sent right
/// now is held by the worker: this waits, then leaves it). `$1` tenant, `$2` booking.
pub(super) const WITHDRAW_REMINDER_KEYS: &str =
    "DELETE FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id IN (
         SELECT notification_id FROM notify.outbox
         WHERE tenant_id = $1 AND dedupe_key LIKE 'booking:' || $2::uuid::text || ':%'
           AND sent_at IS NULL AND failed_at IS NULL)";
/// Deletes a booking's unsent reminders, after [`WITHDRAW_REMINDER_KEYS`].
pub(super) const WITHDRAW_REMINDERS: &str = "DELETE FROM notify.outbox
     WHERE tenant_id = $1 AND dedupe_key LIKE 'booking:' || $2::uuid::text || ':%'
       AND sent_at IS NULL AND failed_at IS NULL";

/// Where a booking is now ([`App::locate_booking`]).
pub struct Located {
    pub stream: String,
    pub customer: CustomerId,
    pub location: LocationId,
    pub starts_at: DateTime<Utc>,
}

/// Technicians' holds in a time window in other schedules than `$3` (but the holds of
/// booking `$6`, one being moved): `$1` tenant, `$2` the technicians' resources,
/// `$4`..`$5` the window. One probe per technician of the btree on (resource, start),
/// from a day before the window (no technician's hold is longer: migration 0012) to its
/// end; the `OFFSET 0` keeps the planner from turning the probes into one scan of the
/// window. The day's own holds are dropped by their schedule column.
pub const HOLDS_ELSEWHERE: &str = "\
SELECT r.resource, lower(r.during), upper(r.during)
  FROM unnest($2::text[]) AS q(resource)
 CROSS JOIN LATERAL (
       SELECT h.resource, h.during, h.stream_id, h.booking_id FROM booking.reservations h
        WHERE h.tenant_id = $1 AND h.resource = q.resource COLLATE \"C\"
          AND lower(h.during) >= $4::timestamptz - interval '1 day' AND lower(h.during) < $5
          AND upper(h.during) > $4
       OFFSET 0) r
 WHERE r.stream_id <> $3 AND r.booking_id <> $6";

/// Tries of one booking when another booking of the day lands first.
pub(super) const RETRIES: usize = 8;
/// Alternatives offered per kind.
const ALTERNATIVES: usize = 3;
/// Step of the times tried as alternatives.
const STEP_MINUTES: i64 = 15;
/// How far back an override may record a visit that already began (a walk-in
/// entered late).
const RECORD_LATE_HOURS: i64 = 24;

/// The earliest and latest starts the location's rules let be booked at `now`
/// (APT-10: minimum lead time, maximum horizon).
pub fn bookable_window(rules: &BookingRules, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        now + minutes(rules.min_lead_minutes),
        now + Duration::days(i64::from(rules.max_horizon_days)),
    )
}

/// Whether a visit may start at `start` (APT-10); an override passes the lead time and
/// the horizon, and may record a visit that began up to a day ago.
pub fn check_window(
    rules: &BookingRules,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    overriding: bool,
) -> Result<(), AppError> {
    if start < now - Duration::hours(RECORD_LATE_HOURS) {
        return Err(AppError::Rule(format!(
            "the visit would start more than {RECORD_LATE_HOURS} hours in the past"
        )));
    }
    if overriding {
        return Ok(());
    }
    if start < now {
        return Err(AppError::Rule("the visit would start in the past".into()));
    }
    let (earliest, latest) = bookable_window(rules, now);
    if start < earliest {
        return Err(AppError::Rule(format!(
            "this location takes bookings at least {} minutes ahead (min_lead_minutes)",
            rules.min_lead_minutes
        )));
    }
    if start > latest {
        return Err(AppError::Rule(format!(
            "this location takes bookings at most {} days ahead (max_horizon_days)",
            rules.max_horizon_days
        )));
    }
    Ok(())
}

/// Whether a customer may still change her booking starting at `start` herself
/// (APT-9): not within the location's cut-off.
pub fn check_cutoff(
    rules: &BookingRules,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if start - now < minutes(rules.self_service_cutoff_minutes) {
        return Err(AppError::Rule(format!(
            "a booking can be changed or cancelled online until {} minutes before it starts \
             (self_service_cutoff_minutes): please call the salon",
            rules.self_service_cutoff_minutes
        )));
    }
    Ok(())
}

/// An ambiguous local time's choice (the repeated hour when clocks go back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    Earlier,
    Later,
}

#[derive(Clone, Debug)]
pub struct ServiceRequest {
    pub service_id: ServiceId,
    /// None: any technician who may do it.
    pub staff_id: Option<StaffId>,
    pub room_id: Option<RoomId>,
}

#[derive(Clone, Debug)]
pub struct BookingRequest {
    pub location_id: LocationId,
    pub customer_id: CustomerId,
    pub start: NaiveDateTime,
    pub fold: Option<Fold>,
    pub services: Vec<ServiceRequest>,
    pub override_reason: Option<String>,
}

/// A local wall-clock time at a zone, or why it is not one instant.
pub fn resolve_local(
    tz: Tz,
    local: NaiveDateTime,
    fold: Option<Fold>,
) -> Result<DateTime<Utc>, AppError> {
    use chrono::{LocalResult, TimeZone};
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, late) => match fold {
            Some(Fold::Earlier) => Ok(early.with_timezone(&Utc)),
            Some(Fold::Later) => Ok(late.with_timezone(&Utc)),
            None => Err(AppError::Rule(format!(
                "{} happens twice at this location (the clocks go back): say fold \"earlier\" or \"later\"",
                local.format("%Y-%m-%d %H:%M")
            ))),
        },
        LocalResult::None => Err(AppError::Rule(format!(
            "{} does not exist at this location (the clocks go forward over it): choose another time",
            local.format("%Y-%m-%d %H:%M")
        ))),
    }
}

/// A technician as the decision needs them.
#[derive(Clone, Debug)]
pub struct Technician {
    pub staff_id: StaffId,
    pub work: WorkTerms,
    pub rota: Rota,
    /// Their holds at other locations (and other days' streams) that day.
    pub elsewhere: Vec<Span>,
}

/// A service as the decision needs it.
#[derive(Clone, Debug)]
pub struct Offered {
    pub service_id: ServiceId,
    pub details: events_schema::catalogue::ServiceDetails,
    pub price_now: rust_decimal::Decimal,
}

/// Everything a decision reads besides the day's bookings.
pub struct Context {
    pub location_id: LocationId,
    pub settings: LocationSettings,
    pub tz: Tz,
    pub services: HashMap<ServiceId, Offered>,
    pub technicians: Vec<Technician>,
    /// Instants of opening hours and shifts per date, computed once (availability
    /// asks about every minute of a day).
    pub memo: Memo,
}

type Instants = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// Opening hours and shifts in instants, per date (and technician).
#[derive(Default)]
pub struct Memo {
    open: std::sync::Mutex<HashMap<NaiveDate, std::sync::Arc<Instants>>>,
    shifts: std::sync::Mutex<HashMap<(StaffId, NaiveDate), std::sync::Arc<Instants>>>,
    busy: std::sync::Mutex<HashMap<(StaffId, NaiveDate), Holds>>,
}

/// A technician's holds of one date.
type Holds = std::sync::Arc<Vec<Span>>;

impl Context {
    /// The location's open intervals on a date.
    fn open_on(&self, date: NaiveDate) -> std::sync::Arc<Instants> {
        let mut memo = self
            .memo
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memo.entry(date)
            .or_insert_with(|| {
                std::sync::Arc::new(
                    self.settings
                        .hours_on(date)
                        .iter()
                        .filter_map(|iv| localtime::interval(self.tz, date, iv.start, iv.end))
                        .collect(),
                )
            })
            .clone()
    }

    /// A technician's holds on a date: the day's bookings here and holds elsewhere
    /// (a context is used with one schedule per date).
    fn busy_of(
        &self,
        tech: &Technician,
        day: &DaySchedule,
        date: NaiveDate,
    ) -> std::sync::Arc<Vec<Span>> {
        let mut memo = self
            .memo
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memo.entry((tech.staff_id, date))
            .or_insert_with(|| {
                std::sync::Arc::new(
                    day.services()
                        .filter(|b| b.staff_id == tech.staff_id)
                        .flat_map(|b| b.staff_busy.iter().copied())
                        .chain(tech.elsewhere.iter().copied())
                        .collect(),
                )
            })
            .clone()
    }

    /// A technician's shifts at this location on a date.
    fn shifts_of(&self, tech: &Technician, date: NaiveDate) -> std::sync::Arc<Instants> {
        let mut memo = self
            .memo
            .shifts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memo.entry((tech.staff_id, date))
            .or_insert_with(|| {
                std::sync::Arc::new(
                    tech.rota
                        .shifts_on(date)
                        .iter()
                        .filter(|s| s.location_id == self.location_id)
                        .filter_map(|s| localtime::interval(self.tz, date, s.start, s.end))
                        .collect(),
                )
            })
            .clone()
    }
}

/// Why a visit does not fit at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misfit {
    /// Taken or closed: try another time or technician (409 with alternatives).
    Unavailable(String),
    /// Not bookable whatever the time (422).
    Rule(String),
}

fn unavailable(s: impl Into<String>) -> Misfit {
    Misfit::Unavailable(s.into())
}

/// A placed visit: its services and the location place it holds.
pub struct Fit {
    pub services: Vec<BookedService>,
    pub location_slot: Option<u32>,
}

/// The segments and price for a technician's level.
fn terms(offered: &Offered, level: &str) -> (Segments, rust_decimal::Decimal) {
    match offered.details.levels.iter().find(|l| l.level == level) {
        Some(l) => (l.segments.unwrap_or(offered.details.segments), l.price),
        None => (offered.details.segments, offered.price_now),
    }
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

/// The technician's busy spans of a service starting at `t`: all but processing.
fn busy(t: DateTime<Utc>, s: &Segments) -> Vec<Span> {
    let first_end = t + minutes(u32::from(s.buffer_before) + u32::from(s.work));
    let second_start = first_end + minutes(u32::from(s.processing));
    let end = t + minutes(s.total());
    if s.processing == 0 {
        return vec![Span { start: t, end }];
    }
    let mut out = vec![Span {
        start: t,
        end: first_end,
    }];
    if end > second_start {
        out.push(Span {
            start: second_start,
            end,
        });
    }
    out
}

/// Whether `span` lies within one of the intervals.
fn within(span: &Span, intervals: &[(DateTime<Utc>, DateTime<Utc>)]) -> bool {
    intervals
        .iter()
        .any(|(s, e)| *s <= span.start && span.end <= *e)
}

/// A free place `0..places` of a resource for `span`, given the taken places.
fn free_place(places: u32, span: &Span, taken: &[(u32, Span)]) -> Option<u32> {
    (0..places).find(|k| !taken.iter().any(|(p, s)| p == k && s.overlaps(span)))
}

/// Decides whether the visit fits at `start` with these technicians (one per service).
pub fn fit(
    ctx: &Context,
    day: &DaySchedule,
    date: NaiveDate,
    start: DateTime<Utc>,
    services: &[ServiceRequest],
    choice: &[StaffId],
    overriding: bool,
) -> Result<Fit, Misfit> {
    let open = ctx.open_on(date);
    let mut placed: Vec<BookedService> = Vec::new();
    let mut t = start;
    for (req, staff_id) in services.iter().zip(choice) {
        let offered = ctx
            .services
            .get(&req.service_id)
            .ok_or_else(|| Misfit::Rule(format!("no such service {}", req.service_id)))?;
        let tech = ctx
            .technicians
            .iter()
            .find(|x| x.staff_id == *staff_id)
            .ok_or_else(|| Misfit::Rule(format!("no such technician {staff_id}")))?;
        if !tech.work.locations.contains(&ctx.location_id) {
            return Err(Misfit::Rule(format!(
                "technician {staff_id} does not work at this location"
            )));
        }
        if !tech.work.skills.contains(&req.service_id) {
            return Err(Misfit::Rule(format!(
                "technician {staff_id} may not perform service {}",
                req.service_id
            )));
        }
        let (segments, price) = terms(offered, &tech.work.level);
        let span = Span {
            start: t,
            end: t + minutes(segments.total()),
        };
        let staff_busy = busy(t, &segments);
        if !overriding && !within(&span, &open) {
            return Err(unavailable("the location is not open for the whole visit"));
        }
        if !overriding {
            let shifts = ctx.shifts_of(tech, date);
            if !staff_busy.iter().all(|b| within(b, &shifts)) {
                return Err(unavailable(format!(
                    "technician {staff_id} is not on shift then"
                )));
            }
        }
        let held = ctx.busy_of(tech, day, date);
        let theirs = placed
            .iter()
            .filter(|b| b.staff_id == *staff_id)
            .flat_map(|b| b.staff_busy.iter())
            .chain(held.iter());
        for other in theirs {
            if staff_busy.iter().any(|b| b.overlaps(other)) {
                return Err(unavailable(format!("technician {staff_id} is busy then")));
            }
        }
        let room = match &offered.details.required_room_kind {
            None => None,
            Some(kind) => {
                let mut found = None;
                for r in ctx.settings.rooms.iter().filter(|r| &r.kind == kind) {
                    if req.room_id.is_some_and(|want| want != r.room_id) {
                        continue;
                    }
                    let taken: Vec<(u32, Span)> = day
                        .services()
                        .chain(placed.iter())
                        .filter_map(|b| match b.room {
                            Some((id, k)) if id == r.room_id => Some((k, b.span)),
                            _ => None,
                        })
                        .collect();
                    if let Some(k) = free_place(r.capacity, &span, &taken) {
                        found = Some((r.room_id, k));
                        break;
                    }
                }
                if found.is_none() {
                    return Err(unavailable(format!("no free {kind} then")));
                }
                found
            }
        };
        let service_slot = match offered.details.max_simultaneous_bookings {
            Some(m) if !overriding => {
                let taken: Vec<(u32, Span)> = day
                    .services()
                    .chain(placed.iter())
                    .filter(|b| b.service_id == req.service_id)
                    .filter_map(|b| b.service_slot.map(|k| (k, b.span)))
                    .collect();
                Some(free_place(m, &span, &taken).ok_or_else(|| {
                    unavailable("the service takes no more bookings at that time")
                })?)
            }
            _ => None,
        };
        placed.push(BookedService {
            service_id: req.service_id,
            staff_id: *staff_id,
            room,
            span,
            staff_busy,
            service_slot,
            price,
        });
        t = span.end;
    }
    let visit = Span { start, end: t };
    let location_slot =
        match ctx.settings.max_simultaneous_bookings {
            Some(n) if !overriding => {
                let taken: Vec<(u32, Span)> = day
                    .bookings
                    .iter()
                    .filter_map(|b| {
                        let k = b.location_slot?;
                        let s = b.services.first()?.span.start;
                        let e = b.services.last()?.span.end;
                        Some((k, Span { start: s, end: e }))
                    })
                    .collect();
                Some(free_place(n, &visit, &taken).ok_or_else(|| {
                    unavailable("the location takes no more bookings at that time")
                })?)
            }
            _ => None,
        };
    if !overriding {
        within_daily_caps(&ctx.settings.booking_rules, day, &placed)?;
    }
    Ok(Fit {
        services: placed,
        location_slot,
    })
}

/// The daily caps of each technician of a visit (APT-3), counting the day's other
/// visits at this location and this one.
fn within_daily_caps(
    rules: &BookingRules,
    day: &DaySchedule,
    placed: &[BookedService],
) -> Result<(), Misfit> {
    if rules.max_bookings_per_technician_per_day.is_none()
        && rules.max_minutes_per_technician_per_day.is_none()
    {
        return Ok(());
    }
    let mut seen: Vec<StaffId> = Vec::new();
    for s in placed {
        if seen.contains(&s.staff_id) {
            continue;
        }
        seen.push(s.staff_id);
        if let Some(max) = rules.max_bookings_per_technician_per_day {
            let visits = day
                .bookings
                .iter()
                .filter(|b| b.services.iter().any(|x| x.staff_id == s.staff_id))
                .count();
            if visits >= max as usize {
                return Err(unavailable(format!(
                    "technician {} takes no more visits that day (max_bookings_per_technician_per_day)",
                    s.staff_id
                )));
            }
        }
        if let Some(max) = rules.max_minutes_per_technician_per_day {
            let worked: i64 = day
                .services()
                .chain(placed.iter())
                .filter(|x| x.staff_id == s.staff_id)
                .flat_map(|x| x.staff_busy.iter())
                .map(|b| (b.end - b.start).num_minutes())
                .sum();
            if worked > i64::from(max) {
                return Err(unavailable(format!(
                    "technician {} works no more minutes on visits that day (max_minutes_per_technician_per_day)",
                    s.staff_id
                )));
            }
        }
    }
    Ok(())
}

/// Whether a contraindicated group of any service of the visit (`孕期`, `皮肤破损`…)
/// appears in the customer's recorded conditions or allergies (lower-cased).
pub fn contraindicated(ctx: &Context, health: &str) -> bool {
    !health.is_empty()
        && ctx.services.values().any(|s| {
            s.details
                .contraindicated_groups
                .iter()
                .map(|g| g.trim().to_lowercase())
                .any(|g| !g.is_empty() && health.contains(&g))
        })
}

/// The services of the visit that need a patch test (SVC-3), with how many days
/// before the visit one stays valid.
pub fn patch_test_needs(ctx: &Context) -> Vec<(ServiceId, u32)> {
    ctx.services
        .values()
        .filter_map(|s| {
            s.details
                .requires_patch_test_days
                .map(|days| (s.service_id, days))
        })
        .collect()
}

/// The technicians to try for each service: the one asked for, or everyone who may.
fn candidates(ctx: &Context, services: &[ServiceRequest]) -> Vec<Vec<StaffId>> {
    services
        .iter()
        .map(|r| match r.staff_id {
            Some(id) => vec![id],
            None => ctx
                .technicians
                .iter()
                .filter(|t| {
                    t.work.skills.contains(&r.service_id)
                        && t.work.locations.contains(&ctx.location_id)
                })
                .map(|t| t.staff_id)
                .collect(),
        })
        .collect()
}

/// The first assignment of technicians (in order) that fits at `start`.
pub(super) fn first_fit(
    ctx: &Context,
    day: &DaySchedule,
    date: NaiveDate,
    start: DateTime<Utc>,
    services: &[ServiceRequest],
    overriding: bool,
) -> Result<(Fit, Vec<StaffId>), Misfit> {
    let options = candidates(ctx, services);
    if let Some(i) = options.iter().position(Vec::is_empty) {
        return Err(Misfit::Rule(format!(
            "no technician of this location may perform service {}",
            services[i].service_id
        )));
    }
    let mut choice: Vec<usize> = vec![0; options.len()];
    // Every combination, first technicians first (visits have few services).
    loop {
        let staff: Vec<StaffId> = choice.iter().zip(&options).map(|(i, o)| o[*i]).collect();
        let last = match fit(ctx, day, date, start, services, &staff, overriding) {
            Ok(f) => return Ok((f, staff)),
            Err(m) => m,
        };
        if matches!(last, Misfit::Rule(_)) {
            return Err(last);
        }
        let mut k = 0;
        loop {
            if k == choice.len() {
                return Err(last);
            }
            choice[k] += 1;
            if choice[k] < options[k].len() {
                break;
            }
            choice[k] = 0;
            k += 1;
        }
    }
}

impl App {
    pub async fn place_booking(
        &self,
        ctx: &CommandContext,
        req: BookingRequest,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let settings = self
            .location_settings(ctx.tenant, req.location_id)
            .await?
            .ok_or(AppError::NotFound("location"))?;
        let tz: Tz = settings
            .time_zone
            .parse()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a stored zone does not parse")))?;
        let start = resolve_local(tz, req.start, req.fold)?;
        let now = Utc::now();
        let overriding = req.override_reason.is_some();
        check_window(&settings.booking_rules, start, now, overriding)?;
        let (phone, health) = self
            .customer_for_booking(ctx.tenant, req.customer_id)
            .await?;
        if !overriding {
            self.check_customer_limit(ctx.tenant, &req, &settings.booking_rules, now)
                .await?;
        }
        let date = req.start.date();
        let _turn = self
            .stream_turns
            .take(&wire::stream_id(req.location_id, date))
            .await;
        let mut tries = 0;
        loop {
            tries += 1;
            let context = self
                .booking_context(
                    ctx.tenant,
                    req.location_id,
                    &req.services,
                    settings.clone(),
                    tz,
                    date,
                    None,
                )
                .await?;
            if !overriding && contraindicated(&context, &health) {
                // Never says which: the front desk may not read her health record.
                return Err(AppError::Rule(
                    "a contraindication of a service matches a condition or allergy recorded \
                     for the customer: a technician or manager should review it (an override \
                     with a reason books it anyway)"
                        .into(),
                ));
            }
            if !overriding && tries == 1 {
                self.check_patch_tests(
                    ctx.tenant,
                    req.customer_id,
                    &patch_test_needs(&context),
                    date,
                )
                .await?;
            }
            let (version, day) = self.load_day(ctx.tenant, req.location_id, date).await?;
            let (fit, _) = match first_fit(&context, &day, date, start, &req.services, overriding) {
                Ok(f) => f,
                Err(Misfit::Rule(r)) => return Err(AppError::Rule(r)),
                Err(Misfit::Unavailable(why)) => {
                    let alternatives = self
                        .alternatives(ctx.tenant, &context, &req, date, start, &day, None)
                        .await?;
                    return Err(AppError::Unavailable409 { why, alternatives });
                }
            };
            let booking_id = BookingId::new();
            let number = day.placed + 1;
            let placed = BookingPlaced {
                booking_id,
                location_id: req.location_id,
                date,
                number,
                customer_id: req.customer_id,
                services: fit.services,
                location_slot: fit.location_slot,
                override_reason: req.override_reason.clone(),
            };
            let answer = answer_of(&placed);
            let (resources, starts, ends) = hold_columns(&placed);
            let stream = wire::stream_id(req.location_id, date);
            let (tenant, booking) = (ctx.tenant.as_uuid(), booking_id.as_uuid());
            let (customer, location) = (req.customer_id.as_uuid(), req.location_id.as_uuid());
            let service_ids: Vec<uuid::Uuid> = req
                .services
                .iter()
                .map(|s| s.service_id.as_uuid())
                .collect();
            let side = SideWrites {
                statements: vec![
                    (
                        "INSERT INTO booking.reservations (tenant_id, booking_id, resource, during, stream_id)
                         SELECT $1, $2, u.r, tstzrange(u.s, u.e, '[)'), $6
                         FROM UNNEST($3::text[], $4::timestamptz[], $5::timestamptz[]) AS u(r, s, e)",
                        vec![&tenant, &booking, &resources, &starts, &ends, &stream],
                    ),
                    (
                        "INSERT INTO booking.bookings (tenant_id, booking_id, stream_id, customer_id,
                                                       location_id, starts_at, service_ids)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        vec![
                            &tenant,
                            &booking,
                            &stream,
                            &customer,
                            &location,
                            &start,
                            &service_ids,
                        ],
                    ),
                ],
                ..Default::default()
            };
            let expected = if version == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(version)
            };
            match self
                .append_one_then(
                    ctx,
                    (&stream, expected),
                    &BookingEvent::Placed(placed),
                    201,
                    (answer, &side),
                    {
                        // The confirmation goes out with the booking, or not at all.
                        let (app, phone) = (self.clone(), phone.clone());
                        let text = format!(
                            "Booking confirmed: no. {} at {} on {}.",
                            number,
                            settings.name,
                            req.start.format("%Y-%m-%d %H:%M")
                        );
                        let (tenant, customer) = (ctx.tenant, req.customer_id.as_uuid());
                        move |tx| {
                            Box::pin(async move {
                                app.enqueue_tx(
                                    tx,
                                    &super::notify::Message {
                                        tenant,
                                        kind: "booking_confirmation",
                                        subject: Some(customer),
                                        recipient: &phone,
                                        text: &text,
                                        not_before: None,
                                        dedupe_key: None,
                                    },
                                )
                                .await
                                .map(|_| ())
                            })
                        }
                    },
                )
                .await
            {
                Ok(outcome) => {
                    self.wake_notifier();
                    self.notifier.plan_wakeup.notify_one();
                    return Ok(outcome);
                }
                Err(AppError::Conflict) if tries < RETRIES => continue,
                Err(AppError::Conflict) => {
                    let (_, day) = self.load_day(ctx.tenant, req.location_id, date).await?;
                    let context = self
                        .booking_context(
                            ctx.tenant,
                            req.location_id,
                            &req.services,
                            settings.clone(),
                            tz,
                            date,
                            None,
                        )
                        .await?;
                    let alternatives = self
                        .alternatives(ctx.tenant, &context, &req, date, start, &day, None)
                        .await?;
                    return Err(AppError::Unavailable409 {
                        why: "taken by another booking just now".into(),
                        alternatives,
                    });
                }
                other => return other,
            }
        }
    }

    /// Cancels a booking (APT-14): staff any booked or checked-in visit; a customer
    /// (`own`) only her own, and not within the location's cut-off. Cancelling again
    /// records nothing and answers the same.
    pub async fn cancel_booking(
        &self,
        ctx: &CommandContext,
        booking_id: BookingId,
        reason: String,
        own: Option<CustomerId>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let at = self.locate_booking(ctx.tenant, booking_id, own).await?;
            let _turn = self.stream_turns.take(&at.stream).await;
            let (version, day) = self.read_day(ctx.tenant, &at.stream).await?;
            match day.status.get(&booking_id) {
                Some(VisitStatus::Cancelled) => {
                    // Already cancelled: nothing to record (as for deactivations).
                    return Ok(Outcome {
                        status: 200,
                        body: json!({ "booking_id": booking_id, "version": version, "cancelled": true }),
                    });
                }
                Some(VisitStatus::Booked) => {}
                Some(VisitStatus::CheckedIn) if own.is_none() => {}
                Some(
                    s @ (VisitStatus::CheckedIn | VisitStatus::Completed | VisitStatus::NoShow),
                ) => {
                    return Err(AppError::Rule(format!(
                        "the visit is {}: it can no longer be cancelled",
                        s.as_str().replace('_', " ")
                    )));
                }
                // Moved to another date meanwhile: find it there.
                Some(VisitStatus::MovedAway) | None if tries < RETRIES => continue,
                Some(VisitStatus::MovedAway) | None => return Err(AppError::Conflict),
            }
            if own.is_some() {
                let settings = self
                    .location_settings(ctx.tenant, at.location)
                    .await?
                    .ok_or(AppError::NotFound("location"))?;
                check_cutoff(&settings.booking_rules, at.starts_at, Utc::now())?;
            }
            let (tenant, booking) = (ctx.tenant.as_uuid(), booking_id.as_uuid());
            let side = SideWrites {
                statements: vec![
                    (
                        "DELETE FROM booking.reservations WHERE tenant_id = $1 AND booking_id = $2",
                        vec![&tenant, &booking],
                    ),
                    (
                        "UPDATE booking.bookings SET cancelled_at = now(), status = 'cancelled'
                         WHERE tenant_id = $1 AND booking_id = $2",
                        vec![&tenant, &booking],
                    ),
                    (WITHDRAW_REMINDER_KEYS, vec![&tenant, &booking]),
                    (WITHDRAW_REMINDERS, vec![&tenant, &booking]),
                ],
                ..Default::default()
            };
            match self
                .append_one_with(
                    ctx,
                    (&at.stream, ExpectedVersion::Exact(version)),
                    &BookingEvent::Cancelled(BookingCancelled {
                        booking_id,
                        reason: reason.clone(),
                    }),
                    200,
                    ("booking_id", booking),
                    &side,
                )
                .await
            {
                Err(AppError::Conflict) if tries < RETRIES => continue,
                Ok(outcome) => {
                    // APT-13: the freed time goes to the waitlist (never fails the
                    // cancellation; the waitlist sweeper catches up on a failure).
                    if let Some(freed) = day.bookings.iter().find(|b| b.booking_id == booking_id) {
                        self.offer_freed_booking(ctx, freed).await;
                    }
                    return Ok(outcome);
                }
                other => return other,
            }
        }
    }

    /// Where a booking is now (its schedule stream, customer, location and start);
    /// 404 when there is none, or when `own` is given and it is not hers.
    pub(super) async fn locate_booking(
        &self,
        tenant: TenantId,
        booking_id: BookingId,
        own: Option<CustomerId>,
    ) -> Result<Located, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT stream_id, customer_id, location_id, starts_at FROM booking.bookings
                 WHERE tenant_id = $1 AND booking_id = $2",
            )
            .await?;
        let row = client
            .query_opt(&stmt, &[&tenant.as_uuid(), &booking_id.as_uuid()])
            .await?
            .ok_or(AppError::NotFound("booking"))?;
        let located = Located {
            stream: row.get(0),
            customer: CustomerId::from_uuid(row.get(1)),
            location: LocationId::from_uuid(row.get(2)),
            starts_at: row.get(3),
        };
        match own {
            Some(c) if c != located.customer => Err(AppError::NotFound("booking")),
            _ => Ok(located),
        }
    }

    /// APT-10: a customer holds at most the location's number of upcoming bookings.
    async fn check_customer_limit(
        &self,
        tenant: TenantId,
        req: &BookingRequest,
        rules: &BookingRules,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Some(max) = rules.max_upcoming_per_customer else {
            return Ok(());
        };
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT count(*) FROM booking.bookings
                 WHERE tenant_id = $1 AND customer_id = $2 AND location_id = $3
                   AND cancelled_at IS NULL AND status IN ('booked', 'checked_in')
                   AND starts_at > $4",
            )
            .await?;
        let held: i64 = client
            .query_one(
                &stmt,
                &[
                    &tenant.as_uuid(),
                    &req.customer_id.as_uuid(),
                    &req.location_id.as_uuid(),
                    &now,
                ],
            )
            .await?
            .get(0);
        if held >= i64::from(max) {
            return Err(AppError::Rule(format!(
                "a customer holds at most {max} upcoming bookings at this location \
                 (max_upcoming_per_customer)"
            )));
        }
        Ok(())
    }

    /// The customer's phone (E.164), where her notices go; 404 / 410 for no customer
    /// or an erased one.
    pub(super) async fn customer_phone(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<String, AppError> {
        Ok(self.customer_for_booking(tenant, customer).await?.0)
    }

    /// Her phone, and her recorded conditions and allergies (lower-cased) to check
    /// services' contraindications against (SVC-3).
    pub(super) async fn customer_for_booking(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<(String, String), AppError> {
        match self.load_customer(tenant, customer).await?.state {
            crate::domain::customer::CustomerState::Active { details, .. } => {
                let health = [details.conditions.as_ref(), details.allergies.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|t| t.as_str().to_lowercase())
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((details.phone.as_e164().to_owned(), health))
            }
            crate::domain::customer::CustomerState::New => Err(AppError::NotFound("customer")),
        }
    }

    pub(super) async fn load_day(
        &self,
        tenant: TenantId,
        location: LocationId,
        date: NaiveDate,
    ) -> Result<(i64, DaySchedule), AppError> {
        self.read_day(tenant, &wire::stream_id(location, date))
            .await
    }

    pub(super) async fn read_day(
        &self,
        tenant: TenantId,
        stream: &str,
    ) -> Result<(i64, DaySchedule), AppError> {
        self.fold_stream(tenant, stream, DaySchedule::apply).await
    }

    /// Services, technicians (with rotas and holds elsewhere) for a request; `except`:
    /// a booking being moved, whose own holds do not count.
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's parts, each needed"
    )]
    pub(super) async fn booking_context(
        &self,
        tenant: TenantId,
        location_id: LocationId,
        wanted_services: &[ServiceRequest],
        settings: LocationSettings,
        tz: Tz,
        date: NaiveDate,
        except: Option<BookingId>,
    ) -> Result<Context, AppError> {
        let now = Utc::now();
        let mut services = HashMap::new();
        for r in wanted_services {
            if services.contains_key(&r.service_id) {
                continue;
            }
            let loaded = self.load_service(tenant, r.service_id).await?;
            if !loaded.published() {
                return Err(AppError::Rule(format!(
                    "service {} is not published",
                    r.service_id
                )));
            }
            let price_now = loaded
                .price_at(now)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a service without a price")))?;
            services.insert(
                r.service_id,
                Offered {
                    service_id: r.service_id,
                    details: loaded.details().clone(),
                    price_now,
                },
            );
        }
        let wanted: Vec<StaffId> = if wanted_services.iter().all(|r| r.staff_id.is_some()) {
            wanted_services.iter().filter_map(|r| r.staff_id).collect()
        } else {
            self.staff_ids(tenant).await?
        };
        let window = availability::day_window(tz, date);
        let mut technicians = Vec::new();
        for staff_id in wanted {
            if technicians
                .iter()
                .any(|t: &Technician| t.staff_id == staff_id)
            {
                continue;
            }
            let work = match self.load_staff_work(tenant, staff_id).await {
                Ok((true, work)) => work,
                Ok((false, _)) => continue,
                Err(AppError::NotFound(_)) => {
                    return Err(AppError::Rule(format!("no such technician {staff_id}")))
                }
                Err(e) => return Err(e),
            };
            let (_, rota) = self.load_rota(tenant, staff_id).await?;
            technicians.push(Technician {
                staff_id,
                work,
                rota,
                elsewhere: Vec::new(),
            });
        }
        let ids: Vec<StaffId> = technicians.iter().map(|t| t.staff_id).collect();
        let mut elsewhere = self
            .holds_elsewhere(tenant, &ids, (location_id, date, except), window)
            .await?;
        for t in &mut technicians {
            t.elsewhere = elsewhere.remove(&t.staff_id).unwrap_or_default();
        }
        Ok(Context {
            location_id,
            settings,
            tz,
            services,
            technicians,
            memo: Memo::default(),
        })
    }

    async fn staff_ids(&self, tenant: TenantId) -> Result<Vec<StaffId>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT stream_id FROM es.streams WHERE tenant_id = $1 AND stream_type = 'staff'
                 ORDER BY stream_id",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&tenant.as_uuid()])
            .await?
            .iter()
            .filter_map(|r| {
                r.get::<_, &str>(0)
                    .strip_prefix("staff-")
                    .and_then(|id| id.parse().ok())
            })
            .collect())
    }

    /// Technicians' holds around a date in other schedules than this one (but the
    /// holds of `except`, a booking being moved).
    async fn holds_elsewhere(
        &self,
        tenant: TenantId,
        staff: &[StaffId],
        (location, date, except): (LocationId, NaiveDate, Option<BookingId>),
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<HashMap<StaffId, Vec<Span>>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(HOLDS_ELSEWHERE).await?;
        let resources: Vec<String> = staff.iter().map(|s| format!("staff:{s}")).collect();
        let except = except.map_or(uuid::Uuid::nil(), |b| b.as_uuid());
        let mut out: HashMap<StaffId, Vec<Span>> = HashMap::new();
        for r in client
            .query(
                &stmt,
                &[
                    &tenant.as_uuid(),
                    &resources,
                    &wire::stream_id(location, date),
                    &from,
                    &to,
                    &except,
                ],
            )
            .await?
        {
            let Some(id) = r
                .get::<_, &str>(0)
                .strip_prefix("staff:")
                .and_then(|id| id.parse().ok())
            else {
                continue;
            };
            out.entry(id).or_default().push(Span {
                start: r.get(1),
                end: r.get(2),
            });
        }
        Ok(out)
    }

    /// Nearest free times with the same technicians, other technicians at the same
    /// time, and the same time on the next days.
    #[expect(
        clippy::too_many_arguments,
        reason = "one request's parts, each needed"
    )]
    pub(super) async fn alternatives(
        &self,
        tenant: TenantId,
        ctx: &Context,
        req: &BookingRequest,
        date: NaiveDate,
        start: DateTime<Utc>,
        day: &DaySchedule,
        except: Option<BookingId>,
    ) -> Result<serde_json::Value, AppError> {
        let overriding = req.override_reason.is_some();
        let now = Utc::now();
        let (earliest, latest) = if overriding {
            (now, DateTime::<Utc>::MAX_UTC)
        } else {
            bookable_window(&ctx.settings.booking_rules, now)
        };
        let offerable = |t: DateTime<Utc>| t > now && t >= earliest && t <= latest;
        let describe = |t: DateTime<Utc>, fit: &Fit| {
            json!({
                "start": t.with_timezone(&ctx.tz).naive_local().format("%Y-%m-%dT%H:%M").to_string(),
                "starts_at": t,
                "staff": fit.services.iter().map(|s| s.staff_id).collect::<Vec<_>>(),
            })
        };
        // The same technicians (or anyone, when any was asked for), other times that day.
        let mut same_day: Vec<(i64, serde_json::Value)> = Vec::new();
        let open = ctx.settings.hours_on(date);
        for iv in open {
            let Some((s, e)) = localtime::interval(ctx.tz, date, iv.start, iv.end) else {
                continue;
            };
            let mut t = s;
            while t < e {
                if t != start && offerable(t) {
                    if let Ok((fit, _)) = first_fit(ctx, day, date, t, &req.services, overriding) {
                        same_day.push(((t - start).num_minutes().abs(), describe(t, &fit)));
                    }
                }
                t += Duration::minutes(STEP_MINUTES);
            }
        }
        same_day.sort_by_key(|(d, _)| *d);
        let same_day: Vec<_> = same_day
            .into_iter()
            .take(ALTERNATIVES)
            .map(|(_, v)| v)
            .collect();
        // Other technicians at the same time (each service to anyone who may do it).
        let mut other_staff = Vec::new();
        if req.services.iter().any(|r| r.staff_id.is_some()) {
            let anyone: Vec<ServiceRequest> = req
                .services
                .iter()
                .map(|r| ServiceRequest {
                    staff_id: None,
                    ..r.clone()
                })
                .collect();
            let everyone = self.staff_ids(tenant).await?;
            let mut wider = Context {
                location_id: ctx.location_id,
                settings: ctx.settings.clone(),
                tz: ctx.tz,
                services: ctx.services.clone(),
                technicians: ctx.technicians.clone(),
                memo: Memo::default(),
            };
            for staff_id in everyone {
                if wider.technicians.iter().any(|t| t.staff_id == staff_id) {
                    continue;
                }
                if let Ok((true, work)) = self.load_staff_work(tenant, staff_id).await {
                    if work.locations.contains(&ctx.location_id) {
                        let (_, rota) = self.load_rota(tenant, staff_id).await?;
                        let (from, to) = (start - Duration::days(1), start + Duration::days(1));
                        let elsewhere = self
                            .holds_elsewhere(
                                tenant,
                                &[staff_id],
                                (ctx.location_id, date, except),
                                (from, to),
                            )
                            .await?
                            .remove(&staff_id)
                            .unwrap_or_default();
                        wider.technicians.push(Technician {
                            staff_id,
                            work,
                            rota,
                            elsewhere,
                        });
                    }
                }
            }
            let asked: Vec<StaffId> = req.services.iter().filter_map(|r| r.staff_id).collect();
            let options = candidates(&wider, &anyone);
            if options.len() == 1 {
                for staff in &options[0] {
                    if asked.contains(staff) || other_staff.len() >= ALTERNATIVES {
                        continue;
                    }
                    if let Ok(fit) = fit(&wider, day, date, start, &anyone, &[*staff], overriding) {
                        other_staff.push(describe(start, &fit));
                    }
                }
            } else if let Ok((fit, staff)) =
                first_fit(&wider, day, date, start, &anyone, overriding)
            {
                if staff != asked {
                    other_staff.push(describe(start, &fit));
                }
            }
        }
        // The same time on the next days.
        let mut next_days = Vec::new();
        for d in 1..=14 {
            if next_days.len() >= ALTERNATIVES {
                break;
            }
            let other = date + Duration::days(d);
            let Ok(t) = resolve_local(
                ctx.tz,
                other.and_time(req.start.time()),
                req.fold.or(Some(Fold::Earlier)),
            ) else {
                continue;
            };
            if !offerable(t) {
                continue;
            }
            let (_, other_day) = self.load_day(tenant, ctx.location_id, other).await?;
            let mut later = Context {
                location_id: ctx.location_id,
                settings: ctx.settings.clone(),
                tz: ctx.tz,
                services: ctx.services.clone(),
                technicians: Vec::new(),
                memo: Memo::default(),
            };
            let ids: Vec<StaffId> = ctx.technicians.iter().map(|t| t.staff_id).collect();
            let mut elsewhere = self
                .holds_elsewhere(
                    tenant,
                    &ids,
                    (ctx.location_id, other, except),
                    (t - Duration::days(1), t + Duration::days(1)),
                )
                .await?;
            for tech in &ctx.technicians {
                later.technicians.push(Technician {
                    elsewhere: elsewhere.remove(&tech.staff_id).unwrap_or_default(),
                    ..tech.clone()
                });
            }
            if let Ok((fit, _)) = first_fit(&later, &other_day, other, t, &req.services, overriding)
            {
                next_days.push(describe(t, &fit));
            }
        }
        Ok(json!({
            "same_day": same_day,
            "other_staff": other_staff,
            "next_days": next_days,
        }))
    }
}

pub use availability::{
    AvailabilityCache, AvailabilityQuery, MAX_AVAILABILITY_DAYS, SOURCES as AVAILABILITY_SOURCES,
};

/// A placed or moved booking as the command answers it.
pub(super) fn answer_of(placed: &BookingPlaced) -> serde_json::Value {
    json!({
        "booking_id": placed.booking_id,
        "number": placed.number,
        "date": placed.date,
        "services": placed.services.iter().map(|s| json!({
            "service_id": s.service_id,
            "staff_id": s.staff_id,
            "room_id": s.room.map(|(r, _)| r),
            "starts_at": s.span.start,
            "ends_at": s.span.end,
            "price": s.price,
        })).collect::<Vec<_>>(),
    })
}

/// A booking's holds as the columns `booking.reservations` is filled from.
pub(super) type HoldColumns = (Vec<String>, Vec<DateTime<Utc>>, Vec<DateTime<Utc>>);

pub(super) fn hold_columns(placed: &BookingPlaced) -> HoldColumns {
    holds(placed)
        .into_iter()
        .fold((vec![], vec![], vec![]), |mut acc, (r, s)| {
            acc.0.push(r);
            acc.1.push(s.start);
            acc.2.push(s.end);
            acc
        })
}

/// Every resource a booking holds, with when: `staff:<id>` per busy span,
/// `room:<id>:<place>`, `service:<location>:<service>:<place>`,
/// `location:<id>:<place>`.
pub fn holds(b: &BookingPlaced) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for s in &b.services {
        for busy in &s.staff_busy {
            out.push((format!("staff:{}", s.staff_id), *busy));
        }
        if let Some((room, k)) = s.room {
            out.push((format!("room:{room}:{k}"), s.span));
        }
        if let Some(k) = s.service_slot {
            out.push((
                format!("service:{}:{}:{k}", b.location_id, s.service_id),
                s.span,
            ));
        }
    }
    if let (Some(k), Some(first), Some(last)) =
        (b.location_slot, b.services.first(), b.services.last())
    {
        out.push((
            format!("location:{}:{k}", b.location_id),
            Span {
                start: first.span.start,
                end: last.span.end,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_technician_is_free_while_a_service_processes() {
        let s = Segments {
            buffer_before: 5,
            work: 30,
            processing: 20,
            finishing: 10,
            buffer_after: 5,
        };
        let spans = busy(at("2027-03-01T09:00:00Z"), &s);
        assert_eq!(
            spans,
            vec![
                Span {
                    start: at("2027-03-01T09:00:00Z"),
                    end: at("2027-03-01T09:35:00Z")
                },
                Span {
                    start: at("2027-03-01T09:55:00Z"),
                    end: at("2027-03-01T10:10:00Z")
                },
            ]
        );
    }

    /// A visit of one technician from `start` to `end` (all busy).
    fn visit(staff_id: StaffId, start: &str, end: &str) -> BookedService {
        let span = Span {
            start: at(start),
            end: at(end),
        };
        BookedService {
            service_id: ServiceId::new(),
            staff_id,
            room: None,
            span,
            staff_busy: vec![span],
            service_slot: None,
            price: rust_decimal::Decimal::ONE,
        }
    }

    #[test]
    fn a_technicians_daily_caps_count_the_days_visits_and_minutes() {
        let (tech, other) = (StaffId::new(), StaffId::new());
        let mut day = DaySchedule::default();
        for (i, (s, e)) in [
            ("2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"),
            ("2027-03-01T11:00:00Z", "2027-03-01T12:30:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            day.apply(&BookingEvent::Placed(BookingPlaced {
                booking_id: BookingId::new(),
                location_id: LocationId::new(),
                date: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default(),
                number: u32::try_from(i).unwrap_or(0) + 1,
                customer_id: CustomerId::new(),
                services: vec![visit(tech, s, e)],
                location_slot: None,
                override_reason: None,
            }));
        }
        let next = [visit(tech, "2027-03-01T14:00:00Z", "2027-03-01T15:00:00Z")];
        let rules = |visits: Option<u32>, minutes: Option<u32>| BookingRules {
            max_bookings_per_technician_per_day: visits,
            max_minutes_per_technician_per_day: minutes,
            ..BookingRules::default()
        };
        let refused = |r: Result<(), Misfit>| matches!(r, Err(Misfit::Unavailable(_)));
        assert!(within_daily_caps(&rules(None, None), &day, &next).is_ok());
        assert!(within_daily_caps(&rules(Some(3), None), &day, &next).is_ok());
        assert!(refused(within_daily_caps(
            &rules(Some(2), None),
            &day,
            &next
        )));
        // 60 + 90 worked, 60 more: 210 minutes.
        assert!(within_daily_caps(&rules(None, Some(210)), &day, &next).is_ok());
        assert!(refused(within_daily_caps(
            &rules(None, Some(209)),
            &day,
            &next
        )));
        // Another technician's day is theirs.
        let theirs = [visit(other, "2027-03-01T14:00:00Z", "2027-03-01T15:00:00Z")];
        assert!(within_daily_caps(&rules(Some(1), Some(60)), &day, &theirs).is_ok());
    }

    #[test]
    fn lead_time_horizon_and_cut_off_bound_starts() {
        let now = at("2027-03-01T08:00:00Z");
        let rules = BookingRules {
            min_lead_minutes: 60,
            max_horizon_days: 2,
            self_service_cutoff_minutes: 120,
            ..BookingRules::default()
        };
        let ok = |t: &str, overriding: bool| check_window(&rules, at(t), now, overriding).is_ok();
        assert!(!ok("2027-03-01T08:30:00Z", false), "inside the lead time");
        assert!(ok("2027-03-01T09:00:00Z", false));
        assert!(ok("2027-03-03T08:00:00Z", false));
        assert!(!ok("2027-03-03T08:01:00Z", false), "past the horizon");
        assert!(ok("2027-03-05T08:00:00Z", true), "an override passes both");
        assert!(ok("2027-03-01T07:00:00Z", true), "and enters a visit begun");
        assert!(
            !ok("2027-02-28T07:00:00Z", true),
            "but not one of yesterday"
        );
        assert!(check_cutoff(&rules, at("2027-03-01T10:00:00Z"), now).is_ok());
        assert!(check_cutoff(&rules, at("2027-03-01T09:59:00Z"), now).is_err());
    }

    #[test]
    fn local_times_in_the_gap_or_the_repeated_hour_are_refused_or_chosen() {
        let london: Tz = chrono_tz::Europe::London;
        let local =
            |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap_or_default();
        let gap = resolve_local(london, local("2027-03-28T01:30"), None);
        assert!(matches!(gap, Err(AppError::Rule(m)) if m.contains("does not exist")));
        let twice = resolve_local(london, local("2027-10-31T01:30"), None);
        assert!(matches!(twice, Err(AppError::Rule(m)) if m.contains("twice")));
        assert_eq!(
            resolve_local(london, local("2027-10-31T01:30"), Some(Fold::Earlier)).ok(),
            Some(at("2027-10-31T00:30:00Z"))
        );
        assert_eq!(
            resolve_local(london, local("2027-10-31T01:30"), Some(Fold::Later)).ok(),
            Some(at("2027-10-31T01:30:00Z"))
        );
    }
}
