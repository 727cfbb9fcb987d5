//! Events of location streams (`location-<uuid>`): a salon's settings for booking
//! (APT-2, APT-3) — its IANA time zone, opening hours per weekday with breaks, holiday
//! closures, one-off exceptions, rooms and equipment with a type and capacity, and the
//! most bookings it takes at once. Business data only: nothing here is sealed.
//!
//! Each event carries the whole settings document as it is after the event, so a
//! reader never has to fold partial changes, and the history shows every version.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::{LocationId, RoomId};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "location";

pub fn stream_id(id: LocationId) -> String {
    format!("location-{id}")
}

/// Local wall-clock interval `[start, end)` within one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// The hours of one weekday: open intervals, sorted, not overlapping (the gaps between
/// them are breaks). Empty: closed that weekday.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyHours {
    pub mon: Vec<Interval>,
    pub tue: Vec<Interval>,
    pub wed: Vec<Interval>,
    pub thu: Vec<Interval>,
    pub fri: Vec<Interval>,
    pub sat: Vec<Interval>,
    pub sun: Vec<Interval>,
}

/// Weekdays by their short names (`mon` … `sun`), Monday first.
pub const WEEKDAYS: [(chrono::Weekday, &str); 7] = [
    (chrono::Weekday::Mon, "mon"),
    (chrono::Weekday::Tue, "tue"),
    (chrono::Weekday::Wed, "wed"),
    (chrono::Weekday::Thu, "thu"),
    (chrono::Weekday::Fri, "fri"),
    (chrono::Weekday::Sat, "sat"),
    (chrono::Weekday::Sun, "sun"),
];

/// A weekday's short name (`mon`).
pub fn weekday_name(day: chrono::Weekday) -> &'static str {
    WEEKDAYS[day.num_days_from_monday() as usize].1
}

/// The weekday of a short name (`mon` … `sun`).
pub fn weekday_named(name: &str) -> Option<chrono::Weekday> {
    WEEKDAYS.iter().find(|(_, n)| *n == name).map(|(d, _)| *d)
}

impl WeeklyHours {
    /// The hours of a weekday, to change.
    pub fn of_mut(&mut self, weekday: chrono::Weekday) -> &mut Vec<Interval> {
        use chrono::Weekday::*;
        match weekday {
            Mon => &mut self.mon,
            Tue => &mut self.tue,
            Wed => &mut self.wed,
            Thu => &mut self.thu,
            Fri => &mut self.fri,
            Sat => &mut self.sat,
            Sun => &mut self.sun,
        }
    }

    /// The hours of a weekday (Monday = 0).
    pub fn of(&self, weekday: chrono::Weekday) -> &[Interval] {
        use chrono::Weekday::*;
        match weekday {
            Mon => &self.mon,
            Tue => &self.tue,
            Wed => &self.wed,
            Thu => &self.thu,
            Fri => &self.fri,
            Sat => &self.sat,
            Sun => &self.sun,
        }
    }
}

/// Closed on every day from `from` to `to` inclusive (holidays).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub reason: String,
}

/// Other hours on one date (empty: closed that day), taking precedence over the week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exception {
    pub date: NaiveDate,
    pub hours: Vec<Interval>,
    pub reason: String,
}

/// A room or piece of equipment that bookings may need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub room_id: RoomId,
    pub name: String,
    /// What it is (`facial_room`, `laser`, …): services ask for a kind.
    pub kind: String,
    /// Bookings it holds at once.
    pub capacity: u32,
}

/// Everything a location is, as set by its administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationSettings {
    pub name: String,
    /// IANA zone name (`Asia/Shanghai`, `Europe/London`).
    pub time_zone: String,
    pub weekly_hours: WeeklyHours,
    pub closures: Vec<Closure>,
    pub exceptions: Vec<Exception>,
    pub rooms: Vec<Room>,
    /// Most bookings at once across the location; none: no limit but its people.
    pub max_simultaneous_bookings: Option<u32>,
    /// Minutes before a visit at which its customer is reminded (APT-4), one reminder
    /// per lead time; empty: none. Settings saved before it existed read as a day ahead.
    #[serde(default = "default_reminder_leads")]
    pub reminder_leads_minutes: Vec<u32>,
    /// Who may book when (APT-9, APT-10, APT-3). Settings saved before they existed
    /// read as the defaults.
    #[serde(default)]
    pub booking_rules: BookingRules,
    /// Minutes a waiting customer has to answer an offer of a freed slot (APT-13).
    #[serde(default = "default_waitlist_reply_minutes")]
    pub waitlist_reply_minutes: u32,
    /// Most waitlist offers one customer is sent in 24 hours; beyond it she is
    /// skipped (APT-13's limit on messages per customer).
    #[serde(default = "default_waitlist_offers_per_day")]
    pub waitlist_offers_per_day: u32,
}

/// Half an hour to answer an offer.
pub const fn default_waitlist_reply_minutes() -> u32 {
    30
}

/// Three offers a day at most.
pub const fn default_waitlist_offers_per_day() -> u32 {
    3
}

/// A location's bookable rules (APT-9, APT-10, APT-3). Staff allowed to override
/// booking rules may pass all but the cut-off (which binds customers only) with a
/// reason; customers never can.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingRules {
    /// A visit starts at least this many minutes after it is booked or moved.
    pub min_lead_minutes: u32,
    /// A visit starts at most this many days ahead.
    pub max_horizon_days: u32,
    /// A customer changes or cancels her own booking no later than this many minutes
    /// before it starts (staff are not bound by it).
    pub self_service_cutoff_minutes: u32,
    /// Most upcoming bookings one customer holds at this location; none: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_upcoming_per_customer: Option<u32>,
    /// Most visits one technician takes here per day; none: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bookings_per_technician_per_day: Option<u32>,
    /// Most minutes one technician works on visits here per day (processing, when
    /// they are free, not counted); none: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_minutes_per_technician_per_day: Option<u32>,
}

impl Default for BookingRules {
    fn default() -> Self {
        BookingRules {
            min_lead_minutes: 0,
            max_horizon_days: 366,
            self_service_cutoff_minutes: 120,
            max_upcoming_per_customer: None,
            max_bookings_per_technician_per_day: None,
            max_minutes_per_technician_per_day: None,
        }
    }
}

/// A visit's reminder a day ahead.
pub fn default_reminder_leads() -> Vec<u32> {
    vec![24 * 60]
}

impl LocationSettings {
    /// The open intervals of a date: none on a closure, an exception's hours where
    /// there is one, else the weekday's.
    pub fn hours_on(&self, date: NaiveDate) -> &[Interval] {
        if self.closures.iter().any(|c| c.from <= date && date <= c.to) {
            return &[];
        }
        self.exceptions.iter().find(|x| x.date == date).map_or_else(
            || self.weekly_hours.of(chrono::Datelike::weekday(&date)),
            |x| x.hours.as_slice(),
        )
    }

    /// Whether `[start, end)` on `date` lies within one open interval of that date.
    pub fn is_open_throughout(&self, date: NaiveDate, start: NaiveTime, end: NaiveTime) -> bool {
        self.hours_on(date)
            .iter()
            .any(|iv| iv.start <= start && end <= iv.end)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationCreated {
    pub location_id: LocationId,
    pub settings: LocationSettings,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationSettingsChanged {
    pub location_id: LocationId,
    pub settings: LocationSettings,
    /// Why (business text, not personal data).
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocationEvent {
    Created(LocationCreated),
    SettingsChanged(LocationSettingsChanged),
}

impl DomainEvent for LocationEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            LocationEvent::Created(_) => "LocationCreated",
            LocationEvent::SettingsChanged(_) => "LocationSettingsChanged",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            LocationEvent::Created(e) => new_event(self.event_type(), 1, e),
            LocationEvent::SettingsChanged(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("LocationCreated", 1) => {
                decode_payload(event_type, payload).map(LocationEvent::Created)
            }
            ("LocationSettingsChanged", 1) => {
                decode_payload(event_type, payload).map(LocationEvent::SettingsChanged)
            }
            ("LocationCreated" | "LocationSettingsChanged", v) => {
                Err(DecodeError::UnknownVersion {
                    event_type: event_type.to_owned(),
                    version: v,
                })
            }
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
