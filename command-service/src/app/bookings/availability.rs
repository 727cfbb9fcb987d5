//! Availability (APT-6): every start a visit could have at a location on some dates,
//! computed with the very rule a booking is decided by ([`super::first_fit`]), so every
//! start offered can be booked while nothing else changes.
//!
//! **Cache.** Deciding every minute of a day for twenty technicians costs tens of
//! milliseconds, and a salon's customers ask about the same few days over and over.
//! So one date's answer is kept, computed for every minute regardless of the clock,
//! together with what it was computed from: the versions of every stream the decision
//! reads (the location, the services, the day's schedule, every staff record and rota
//! of the tenant — a new technician is a new stream) and the technicians' holds in
//! other schedules. A request first reads those in one query; if they equal the kept
//! ones, the kept answer is served, cut to what is still ahead of the clock. The
//! versions are read *before* the answer is computed, so a write racing the
//! computation makes the next request compute again rather than serve stale times.

use super::{bookable_window, first_fit, Context, Fit, ServiceRequest};
use crate::app::{App, AppError};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use events_schema::booking as wire;
use events_schema::ids::{LocationId, RoomId, ServiceId, StaffId, TenantId};
use events_schema::localtime;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What is free: every bookable start of a visit at a location over some dates.
pub struct AvailabilityQuery {
    pub location_id: LocationId,
    pub services: Vec<ServiceRequest>,
    pub from: NaiveDate,
    pub days: u32,
}

/// Most dates one availability request covers.
pub const MAX_AVAILABILITY_DAYS: u32 = 7;
/// Slots offered (aligned to this many minutes) besides the complete windows.
const SLOT_MINUTES: u32 = 15;
/// Dates kept; past this the cache starts afresh (it refills from the next requests).
const CACHE_ENTRIES: usize = 4096;

/// One date's answer for one request shape, computed without regard to the clock.
struct DayAnswer {
    /// Runs of consecutive bookable minutes: (first start, last start).
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Starts on the quarter hour, best (smallest idle gap) first.
    slots: Vec<Slot>,
}

struct Slot {
    gap: i64,
    at: DateTime<Utc>,
    staff: Vec<StaffId>,
}

/// What a date's answer was computed from (see the module comment).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sources {
    /// (stream id, version) of every stream read, in stream order.
    streams: Vec<(String, i64)>,
    /// The technicians' holds in other schedules around the date, in order.
    elsewhere: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: TenantId,
    location: LocationId,
    date: NaiveDate,
    services: Vec<(ServiceId, Option<StaffId>, Option<RoomId>)>,
}

struct Entry {
    sources: Sources,
    /// The location's rules (lead time and horizon are applied when served).
    rules: events_schema::location::BookingRules,
    tz: Tz,
    time_zone: String,
    /// The technicians the answer considered (whose holds elsewhere count).
    technicians: Vec<StaffId>,
    answer: Arc<DayAnswer>,
}

/// Kept answers (one per instance; every instance checks its own against the store).
#[derive(Default)]
pub struct AvailabilityCache(Mutex<HashMap<Key, Arc<Entry>>>);

impl AvailabilityCache {
    fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Keeps `entry` and hands it back, shared.
    fn put(&self, key: Key, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CACHE_ENTRIES && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, entry.clone());
        entry
    }
}

/// What a date's answer depends on (read by `availability_sources`): `$1` tenant,
/// `$2` the named streams (location, schedule, services), `$3` the technicians'
/// resources, `$4` the date's schedule, `$5`..`$6` the window around the date. The named
/// streams by primary key (the tenant checked after: the `OFFSET 0` keeps the planner
/// from scanning the tenant's whole range of the by-type index for them); the tenant's
/// staff and rotas by type; holds elsewhere as in [`super::HOLDS_ELSEWHERE`].
pub const SOURCES: &str = r#"SELECT 0 AS part, s.stream_id COLLATE "C" AS key, s.version, NULL::timestamptz AS a, NULL::timestamptz AS b
  FROM (SELECT * FROM es.streams WHERE stream_id = ANY($2) OFFSET 0) s
 WHERE s.tenant_id = $1
UNION ALL
SELECT 0, stream_id COLLATE "C", version, NULL, NULL
  FROM es.streams
 WHERE tenant_id = $1 AND stream_type IN ('staff', 'rota')
UNION ALL
SELECT 1, r.resource COLLATE "C", 0, lower(r.during), upper(r.during)
  FROM unnest($3::text[]) AS q(resource)
 CROSS JOIN LATERAL (
       SELECT h.resource, h.during, h.stream_id FROM booking.reservations h
        WHERE h.tenant_id = $1 AND h.resource = q.resource COLLATE "C"
          AND lower(h.during) >= $5::timestamptz - interval '1 day' AND lower(h.during) < $6
          AND upper(h.during) > $5
       OFFSET 0) r
 WHERE r.stream_id <> $4
ORDER BY part, key, a, b"#;

/// The window around a local date in which holds elsewhere matter.
pub(super) fn day_window(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = localtime::instant(
        tz,
        date.and_time(chrono::NaiveTime::MIN),
        localtime::Side::Start,
    )
    .unwrap_or_else(|| date.and_time(chrono::NaiveTime::MIN).and_utc());
    (start, start + Duration::days(1) + Duration::hours(2))
}

impl App {
    /// Every minute a visit could start on each date (as windows of consecutive
    /// starts), and the starts on the quarter hour ranked by the idle gap they leave.
    pub async fn availability(
        &self,
        tenant: TenantId,
        q: AvailabilityQuery,
    ) -> Result<serde_json::Value, AppError> {
        let now = Utc::now();
        let mut dates = Vec::new();
        let mut zone = None;
        for date in q.from.iter_days().take(q.days as usize) {
            let entry = self.day_answer(tenant, &q, date).await?;
            dates.push(render(&entry, date, now));
            zone.get_or_insert_with(|| entry.time_zone.clone());
        }
        Ok(json!({ "location_id": q.location_id, "time_zone": zone, "dates": dates }))
    }

    /// One date's answer, kept or computed.
    async fn day_answer(
        &self,
        tenant: TenantId,
        q: &AvailabilityQuery,
        date: NaiveDate,
    ) -> Result<Arc<Entry>, AppError> {
        let key = Key {
            tenant,
            location: q.location_id,
            date,
            services: q
                .services
                .iter()
                .map(|r| (r.service_id, r.staff_id, r.room_id))
                .collect(),
        };
        if let Some(kept) = self.availability_cache.get(&key) {
            let now = self
                .availability_sources(tenant, q, date, kept.tz, &kept.technicians)
                .await?;
            if now == kept.sources {
                return Ok(kept);
            }
        }
        let settings = self
            .location_settings(tenant, q.location_id)
            .await?
            .ok_or(AppError::NotFound("location"))?;
        let tz: Tz = settings
            .time_zone
            .parse()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("a stored zone does not parse")))?;
        // Streams first (see the module comment); holds elsewhere are taken from the
        // very context the answer is computed with.
        let streams = self
            .availability_sources(tenant, q, date, tz, &[])
            .await?
            .streams;
        let time_zone = settings.time_zone.clone();
        let rules = settings.booking_rules.clone();
        let ctx = self
            .booking_context(tenant, q.location_id, &q.services, settings, tz, date, None)
            .await?;
        let (_, day) = self.load_day(tenant, q.location_id, date).await?;
        let answer = compute(&ctx, &day, date, &q.services);
        let mut elsewhere: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = ctx
            .technicians
            .iter()
            .flat_map(|t| {
                t.elsewhere
                    .iter()
                    .map(move |s| (format!("staff:{}", t.staff_id), s.start, s.end))
            })
            .collect();
        elsewhere.sort();
        let entry = Entry {
            sources: Sources { streams, elsewhere },
            rules,
            tz,
            time_zone,
            technicians: ctx.technicians.iter().map(|t| t.staff_id).collect(),
            answer: Arc::new(answer),
        };
        Ok(self.availability_cache.put(key, entry))
    }

    /// What a date's answer depends on, read in one query: the versions of the
    /// location, the services, the day's schedule, every staff record and rota of the
    /// tenant, and `technicians`' holds in other schedules around the date.
    async fn availability_sources(
        &self,
        tenant: TenantId,
        q: &AvailabilityQuery,
        date: NaiveDate,
        tz: Tz,
        technicians: &[StaffId],
    ) -> Result<Sources, AppError> {
        let schedule = wire::stream_id(q.location_id, date);
        let mut named = vec![
            events_schema::location::stream_id(q.location_id),
            schedule.clone(),
        ];
        named.extend(
            q.services
                .iter()
                .map(|r| events_schema::catalogue::service_stream_id(r.service_id)),
        );
        let resources: Vec<String> = technicians.iter().map(|s| format!("staff:{s}")).collect();
        let (from, to) = day_window(tz, date);
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(SOURCES).await?;
        let rows = client
            .query(
                &stmt,
                &[&tenant.as_uuid(), &named, &resources, &schedule, &from, &to],
            )
            .await?;
        let mut sources = Sources {
            streams: Vec::new(),
            elsewhere: Vec::new(),
        };
        for r in rows {
            if r.get::<_, i32>(0) == 0 {
                sources.streams.push((r.get(1), r.get(2)));
            } else {
                sources.elsewhere.push((r.get(1), r.get(3), r.get(4)));
            }
        }
        Ok(sources)
    }
}

/// The idle time a visit would leave its technicians: from their previous commitment
/// (or the start of their shift) to the visit, and from the visit to their next one (or
/// the end of their shift). Smaller packs the day tighter.
fn idle_gap(ctx: &Context, day: &wire::DaySchedule, date: NaiveDate, fit: &Fit) -> i64 {
    let mut gap = 0;
    for s in &fit.services {
        let Some(tech) = ctx.technicians.iter().find(|t| t.staff_id == s.staff_id) else {
            continue;
        };
        let shifts = ctx.shifts_of(tech, date);
        let Some((shift_start, shift_end)) = shifts
            .iter()
            .find(|(a, b)| *a <= s.span.start && s.span.end <= *b)
            .copied()
        else {
            continue;
        };
        let busy = ctx.busy_of(tech, day, date);
        let before = busy
            .iter()
            .map(|b| b.end)
            .filter(|e| *e <= s.span.start)
            .max()
            .unwrap_or(shift_start)
            .max(shift_start);
        let after = busy
            .iter()
            .map(|b| b.start)
            .filter(|x| *x >= s.span.end)
            .min()
            .unwrap_or(shift_end)
            .min(shift_end);
        gap += (s.span.start - before).num_minutes() + (after - s.span.end).num_minutes();
    }
    gap
}

/// Every minute of the date's opening hours decided, whatever the clock says.
fn compute(
    ctx: &Context,
    day: &wire::DaySchedule,
    date: NaiveDate,
    services: &[ServiceRequest],
) -> DayAnswer {
    let mut windows = Vec::new();
    let mut slots = Vec::new();
    for iv in ctx.settings.hours_on(date) {
        let Some((open, end)) = localtime::interval(ctx.tz, date, iv.start, iv.end) else {
            continue;
        };
        let mut run: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        let mut t = open;
        while t < end {
            // Whatever the misfit (taken, closed, nobody here does it): not then.
            match first_fit(ctx, day, date, t, services, false) {
                Ok((fit, staff)) => {
                    run = Some((run.map_or(t, |w| w.0), t));
                    let local = t.with_timezone(&ctx.tz).naive_local();
                    if chrono::Timelike::minute(&local) % SLOT_MINUTES == 0 {
                        slots.push(Slot {
                            gap: idle_gap(ctx, day, date, &fit),
                            at: t,
                            staff,
                        });
                    }
                }
                Err(_) => windows.extend(run.take()),
            }
            t += Duration::minutes(1);
        }
        windows.extend(run.take());
    }
    slots.sort_by_key(|s| (s.gap, s.at));
    DayAnswer { windows, slots }
}

/// A date's answer as of `now`: only starts after it that the location's rules let be
/// booked now (APT-10: none before the lead time or past the horizon).
fn render(entry: &Entry, date: NaiveDate, now: DateTime<Utc>) -> serde_json::Value {
    let tz = entry.tz;
    let (earliest, latest) = bookable_window(&entry.rules, now);
    // The first bookable start: strictly after `now`, not before `earliest`.
    let from = if earliest > now {
        earliest - Duration::nanoseconds(1)
    } else {
        now
    };
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .naive_local()
            .format("%H:%M")
            .to_string()
    };
    let windows: Vec<serde_json::Value> = entry
        .answer
        .windows
        .iter()
        .filter(|&&(first, last)| last > from && first <= latest)
        .filter_map(|&(first, last)| {
            // Starts are whole minutes from the opening; the first one after `from`.
            let first = if first > from {
                first
            } else {
                let behind = (from - first).num_minutes() + 1;
                first + Duration::minutes(behind)
            };
            let last = if last > latest {
                // The last whole minute from `first` not past `latest`.
                first + Duration::minutes((latest - first).num_minutes())
            } else {
                last
            };
            (first <= last).then(|| {
                json!({
                    "first_start": local(first),
                    "last_start": local(last),
                    "first_starts_at": first,
                    "last_starts_at": last,
                })
            })
        })
        .collect();
    let slots: Vec<serde_json::Value> = entry
        .answer
        .slots
        .iter()
        .filter(|s| s.at > from && s.at <= latest)
        .map(|s| {
            json!({
                "start": local(s.at),
                "starts_at": s.at,
                "staff": s.staff,
                "idle_gap_minutes": s.gap,
            })
        })
        .collect();
    json!({ "date": date, "windows": windows, "slots": slots })
}
