//! `POST /locations` and `PUT /locations/{id}`: a location's settings, validated field by
//! field (every problem is named, nothing is written unless all are right).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, outcome_response, AppState};
use crate::app::error::FieldError;
use crate::app::locations::ChangeLocation;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{NaiveDate, NaiveTime};
use events_schema::ids::{LocationId, RoomId};
use events_schema::location::{
    BookingRules, Closure, Exception, Interval, LocationSettings, Room, WeeklyHours,
};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Most rooms, closures and exceptions one location keeps.
const MAX_ITEMS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalDto {
    pub start: String,
    pub end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureDto {
    pub from: String,
    pub to: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDto {
    pub date: String,
    #[serde(default)]
    pub hours: Vec<IntervalDto>,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomDto {
    /// Kept when given (an existing room), else a new id.
    pub room_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub capacity: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsDto {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// Weekday (`mon` … `sun`) → open intervals; a weekday left out is closed.
    #[serde(default)]
    pub weekly_hours: BTreeMap<String, Vec<IntervalDto>>,
    #[serde(default)]
    pub closures: Vec<ClosureDto>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionDto>,
    #[serde(default)]
    pub rooms: Vec<RoomDto>,
    pub max_simultaneous_bookings: Option<i64>,
    /// Minutes before a visit at which its customer is reminded; absent: a day ahead.
    pub reminder_leads_minutes: Option<Vec<i64>>,
    /// Bookable rules (APT-9, APT-10, APT-3); absent, or a rule left out: its default.
    pub booking_rules: Option<BookingRulesDto>,
    /// Minutes a waiting customer has to answer an offer (5 to 1440, default 30).
    pub waitlist_reply_minutes: Option<i64>,
    /// Most waitlist offers one customer gets in 24 hours (1 to 20, default 3).
    pub waitlist_offers_per_day: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BookingRulesDto {
    pub min_lead_minutes: Option<i64>,
    pub max_horizon_days: Option<i64>,
    pub self_service_cutoff_minutes: Option<i64>,
    pub max_upcoming_per_customer: Option<i64>,
    pub max_bookings_per_technician_per_day: Option<i64>,
    pub max_minutes_per_technician_per_day: Option<i64>,
}

impl BookingRulesDto {
    fn parse(&self, errors: &mut Vec<FieldError>) -> BookingRules {
        let mut rules = BookingRules::default();
        let mut number = |field: &str, raw: Option<i64>, range: std::ops::RangeInclusive<u32>| {
            let raw = raw?;
            match u32::try_from(raw).ok().filter(|n| range.contains(n)) {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::new(
                        format!("booking_rules.{field}"),
                        format!("must be {} to {}", range.start(), range.end()),
                    ));
                    None
                }
            }
        };
        if let Some(n) = number("min_lead_minutes", self.min_lead_minutes, 0..=30 * 24 * 60) {
            rules.min_lead_minutes = n;
        }
        if let Some(n) = number("max_horizon_days", self.max_horizon_days, 1..=730) {
            rules.max_horizon_days = n;
        }
        if let Some(n) = number(
            "self_service_cutoff_minutes",
            self.self_service_cutoff_minutes,
            0..=7 * 24 * 60,
        ) {
            rules.self_service_cutoff_minutes = n;
        }
        rules.max_upcoming_per_customer = number(
            "max_upcoming_per_customer",
            self.max_upcoming_per_customer,
            1..=100,
        );
        rules.max_bookings_per_technician_per_day = number(
            "max_bookings_per_technician_per_day",
            self.max_bookings_per_technician_per_day,
            1..=100,
        );
        rules.max_minutes_per_technician_per_day = number(
            "max_minutes_per_technician_per_day",
            self.max_minutes_per_technician_per_day,
            1..=24 * 60,
        );
        rules
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeDto {
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
    pub settings: SettingsDto,
}

pub(super) fn time(raw: &str) -> Result<NaiveTime, &'static str> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| "must be a time of day as HH:MM (00:00 to 23:59)")
}

pub(super) fn date(raw: &str) -> Result<NaiveDate, &'static str> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")
}

pub(super) fn text(raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(format!(
            "must be 1 to {max} characters, without control characters"
        ));
    }
    Ok(t.to_owned())
}

/// Intervals of one day: each start before its end, sorted, none overlapping another
/// (touching is fine: 12:00–13:00 then 13:00–18:00).
pub(super) fn intervals(
    field: &str,
    raw: &[IntervalDto],
    errors: &mut Vec<FieldError>,
) -> Vec<Interval> {
    let mut out = Vec::new();
    for (i, iv) in raw.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match (time(&iv.start), time(&iv.end)) {
            (Ok(start), Ok(end)) if start < end => out.push(Interval { start, end }),
            (Ok(_), Ok(_)) => errors.push(FieldError::new(
                &at,
                "start must be before end (an interval of zero or negative length)",
            )),
            (s, e) => {
                if let Err(m) = s {
                    errors.push(FieldError::new(format!("{at}.start"), m));
                }
                if let Err(m) = e {
                    errors.push(FieldError::new(format!("{at}.end"), m));
                }
            }
        }
    }
    out.sort_by_key(|iv| iv.start);
    if out.windows(2).any(|w| w[1].start < w[0].end) {
        errors.push(FieldError::new(
            field,
            "intervals overlap (breaks must lie between the open intervals)",
        ));
    }
    out
}

impl SettingsDto {
    pub fn parse(self) -> Result<LocationSettings, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match self.name.as_deref().map(|n| text(n, 64)) {
            None => {
                errors.push(FieldError::new("name", "is required"));
                None
            }
            Some(Err(m)) => {
                errors.push(FieldError::new("name", m));
                None
            }
            Some(Ok(n)) => Some(n),
        };
        let time_zone = match self.time_zone.as_deref().map(str::trim) {
            None => {
                errors.push(FieldError::new("time_zone", "is required"));
                None
            }
            Some(z) => match z.parse::<chrono_tz::Tz>() {
                Ok(tz) => Some(tz.name().to_owned()),
                Err(_) => {
                    errors.push(FieldError::new(
                        "time_zone",
                        "must be an IANA time zone such as Asia/Shanghai or Europe/London",
                    ));
                    None
                }
            },
        };
        let mut weekly = WeeklyHours::default();
        for (day, raw) in &self.weekly_hours {
            let field = format!("weekly_hours.{day}");
            let parsed = intervals(&field, raw, &mut errors);
            let Some(weekday) = events_schema::location::weekday_named(day) else {
                errors.push(FieldError::new(
                    &field,
                    "is not a weekday (mon, tue, wed, thu, fri, sat, sun)",
                ));
                continue;
            };
            *weekly.of_mut(weekday) = parsed;
        }
        for (field, len) in [
            ("closures", self.closures.len()),
            ("exceptions", self.exceptions.len()),
            ("rooms", self.rooms.len()),
        ] {
            if len > MAX_ITEMS {
                errors.push(FieldError::new(field, format!("at most {MAX_ITEMS}")));
            }
        }
        let mut closures = Vec::new();
        for (i, c) in self.closures.iter().enumerate() {
            let at = format!("closures[{i}]");
            let from =
                date(&c.from).map_err(|m| errors.push(FieldError::new(format!("{at}.from"), m)));
            let to = date(&c.to).map_err(|m| errors.push(FieldError::new(format!("{at}.to"), m)));
            let reason = text(&c.reason, 200)
                .map_err(|m| errors.push(FieldError::new(format!("{at}.reason"), m)));
            if let (Ok(from), Ok(to), Ok(reason)) = (from, to, reason) {
                if to < from {
                    errors.push(FieldError::new(&at, "to must not be before from"));
                } else {
                    closures.push(Closure { from, to, reason });
                }
            }
        }
        closures.sort_by_key(|c| c.from);
        let mut exceptions: Vec<Exception> = Vec::new();
        for (i, x) in self.exceptions.iter().enumerate() {
            let at = format!("exceptions[{i}]");
            let day =
                date(&x.date).map_err(|m| errors.push(FieldError::new(format!("{at}.date"), m)));
            let hours = intervals(&format!("{at}.hours"), &x.hours, &mut errors);
            let reason = text(&x.reason, 200)
                .map_err(|m| errors.push(FieldError::new(format!("{at}.reason"), m)));
            if let (Ok(date), Ok(reason)) = (day, reason) {
                if exceptions.iter().any(|e| e.date == date) {
                    errors.push(FieldError::new(format!("{at}.date"), "appears twice"));
                } else {
                    exceptions.push(Exception {
                        date,
                        hours,
                        reason,
                    });
                }
            }
        }
        exceptions.sort_by_key(|e| e.date);
        let mut rooms: Vec<Room> = Vec::new();
        for (i, r) in self.rooms.iter().enumerate() {
            let at = format!("rooms[{i}]");
            let room_id = match r.room_id.as_deref() {
                None => Ok(RoomId::new()),
                Some(id) => id.parse::<RoomId>().map_err(|_| {
                    errors.push(FieldError::new(format!("{at}.room_id"), "must be a UUID"))
                }),
            };
            let name = text(&r.name, 64)
                .map_err(|m| errors.push(FieldError::new(format!("{at}.name"), m)));
            let kind = r.kind.trim();
            let kind_ok = !kind.is_empty()
                && kind.len() <= 32
                && kind
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !kind_ok {
                errors.push(FieldError::new(
                    format!("{at}.kind"),
                    "must be 1 to 32 of a-z, 0-9 and _ (e.g. facial_room, laser)",
                ));
            }
            let capacity = u32::try_from(r.capacity)
                .ok()
                .filter(|c| (1..=100).contains(c));
            if capacity.is_none() {
                errors.push(FieldError::new(
                    format!("{at}.capacity"),
                    "must be 1 to 100",
                ));
            }
            if let (Ok(room_id), Ok(name), true, Some(capacity)) =
                (room_id, name, kind_ok, capacity)
            {
                if rooms.iter().any(|x| x.name == name) {
                    errors.push(FieldError::new(format!("{at}.name"), "appears twice"));
                } else if rooms.iter().any(|x| x.room_id == room_id) {
                    errors.push(FieldError::new(format!("{at}.room_id"), "appears twice"));
                } else {
                    rooms.push(Room {
                        room_id,
                        name,
                        kind: kind.to_owned(),
                        capacity,
                    });
                }
            }
        }
        let max_simultaneous_bookings = match self.max_simultaneous_bookings {
            None => None,
            Some(n) => match u32::try_from(n).ok().filter(|n| (1..=1000).contains(n)) {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::new(
                        "max_simultaneous_bookings",
                        "must be 1 to 1000 (leave it out for no limit)",
                    ));
                    None
                }
            },
        };
        let mut reminder_leads_minutes = Vec::new();
        match &self.reminder_leads_minutes {
            None => reminder_leads_minutes = events_schema::location::default_reminder_leads(),
            Some(raw) if raw.len() > 5 => {
                errors.push(FieldError::new("reminder_leads_minutes", "at most 5"));
            }
            Some(raw) => {
                for (i, l) in raw.iter().enumerate() {
                    match u32::try_from(*l)
                        .ok()
                        .filter(|l| (1..=14 * 24 * 60).contains(l))
                    {
                        Some(l) if !reminder_leads_minutes.contains(&l) => {
                            reminder_leads_minutes.push(l);
                        }
                        Some(_) => errors.push(FieldError::new(
                            format!("reminder_leads_minutes[{i}]"),
                            "appears twice",
                        )),
                        None => errors.push(FieldError::new(
                            format!("reminder_leads_minutes[{i}]"),
                            "must be 1 to 20160 minutes (two weeks)",
                        )),
                    }
                }
                reminder_leads_minutes.sort_unstable();
            }
        }
        let booking_rules = self.booking_rules.unwrap_or_default().parse(&mut errors);
        let mut bounded =
            |field: &str, raw: Option<i64>, default: u32, (lo, hi): (u32, u32)| match raw {
                None => default,
                Some(n) => match u32::try_from(n).ok().filter(|n| (lo..=hi).contains(n)) {
                    Some(n) => n,
                    None => {
                        errors.push(FieldError::new(field, format!("must be {lo} to {hi}")));
                        default
                    }
                },
            };
        let waitlist_reply_minutes = bounded(
            "waitlist_reply_minutes",
            self.waitlist_reply_minutes,
            events_schema::location::default_waitlist_reply_minutes(),
            (5, 1440),
        );
        let waitlist_offers_per_day = bounded(
            "waitlist_offers_per_day",
            self.waitlist_offers_per_day,
            events_schema::location::default_waitlist_offers_per_day(),
            (1, 20),
        );
        match (name, time_zone) {
            (Some(name), Some(time_zone)) if errors.is_empty() => Ok(LocationSettings {
                name,
                time_zone,
                weekly_hours: weekly,
                closures,
                exceptions,
                rooms,
                max_simultaneous_bookings,
                reminder_leads_minutes,
                booking_rules,
                waitlist_reply_minutes,
                waitlist_offers_per_day,
            }),
            _ => Err(errors),
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<SettingsDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "create_location", "", &body.value)?;
    let settings = body.dto.parse().map_err(ApiError::Validation)?;
    let outcome = state.app.create_location(&ctx, settings).await?;
    Ok(outcome_response(outcome))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ChangeDto>,
) -> Result<Response, ApiError> {
    let location_id: LocationId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("location id must be a UUID".into()))?;
    let ctx = command_context(&caller, &headers, "change_location", &id, &body.value)?;
    let dto = body.dto;
    let reason = dto.reason.as_deref().map(|r| text(r, 500));
    let settings = dto.settings.parse();
    let (reason, settings) = match (reason, settings) {
        (Some(Ok(reason)), Ok(settings)) => (reason, settings),
        (reason, settings) => {
            let mut errors = match reason {
                None => vec![FieldError::new("reason", "a reason is required")],
                Some(Err(m)) => vec![FieldError::new("reason", m)],
                Some(Ok(_)) => Vec::new(),
            };
            if let Err(more) = settings {
                errors.extend(more.into_iter().map(|mut e| {
                    e.field = format!("settings.{}", e.field);
                    e
                }));
            }
            return Err(ApiError::Validation(errors));
        }
    };
    let outcome = state
        .app
        .change_location(
            &ctx,
            ChangeLocation {
                location_id,
                expected_version: dto.expected_version,
                settings,
                reason,
            },
        )
        .await?;
    Ok(outcome_response(outcome))
}
