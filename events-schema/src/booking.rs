//! Events of bookings (APT-1..15), one stream per location and local date
//! (`schedule-<location>-<YYYY-MM-DD>`): the consistency boundary of DESIGN §7's first
//! guard. Every booking of that location on that date is decided against all the
//! others and appended with the version it was decided on, so two bookings that would
//! share a technician, a room or a capacity slot cannot both land. The second guard is
//! a reservation table with exclusion constraints written in the same transaction.
//!
//! Instants are UTC; the date of the stream is the location's local date. Business data
//! only (ids, instants, prices): nothing here is personal.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::{CustomerId, LocationId, RoomId, ServiceId, StaffId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "schedule";

pub fn stream_id(location: LocationId, date: NaiveDate) -> String {
    format!("schedule-{location}-{date}")
}

/// A half-open interval of instants `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// One service of a visit, with who does it, where, when, and the price fixed now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookedService {
    pub service_id: ServiceId,
    pub staff_id: StaffId,
    /// The room or equipment it holds (when the service needs one) and which of the
    /// room's places (`0 .. capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<(RoomId, u32)>,
    /// The whole service, buffers included: the customer's time, the room's time.
    pub span: Span,
    /// The technician's time: every segment but processing.
    pub staff_busy: Vec<Span>,
    /// Which of the service's own simultaneous places it holds, when it has a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_slot: Option<u32>,
    /// The price in force when it was booked (SVC-5: a booking keeps it).
    pub price: rust_decimal::Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingPlaced {
    pub booking_id: crate::ids::BookingId,
    pub location_id: LocationId,
    pub date: NaiveDate,
    /// The booking's number at the location that day (1, 2, …).
    pub number: u32,
    pub customer_id: CustomerId,
    pub services: Vec<BookedService>,
    /// Which of the location's simultaneous places it holds, when the location has a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_slot: Option<u32>,
    /// A staff override of a rule (outside shift or hours, capacity…), with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCancelled {
    pub booking_id: crate::ids::BookingId,
    pub reason: String,
}

/// A booking moved to another time (APT-9), on the schedule of the date it now has.
/// Within one date it replaces the booking there; from another date, the schedule it
/// left records [`BookingMovedAway`] in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRescheduled {
    /// The local date of the schedule it left (this one's for a move within the day).
    pub from_date: NaiveDate,
    /// The booking as it now stands: same id, customer, services and prices; new
    /// times, technicians, places, and the number of its new date (kept within a day).
    /// Its `override_reason` is the move's, if the move needed one.
    pub booking: BookingPlaced,
}

/// A booking left this schedule for another date's (where its
/// [`BookingRescheduled`] is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingMovedAway {
    pub booking_id: crate::ids::BookingId,
    pub to_date: NaiveDate,
}

/// The customer arrived (recorded by staff).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCheckedIn {
    pub booking_id: crate::ids::BookingId,
    pub at: DateTime<Utc>,
}

/// The visit took place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingCompleted {
    pub booking_id: crate::ids::BookingId,
    pub at: DateTime<Utc>,
}

/// The customer did not come; what is left of the visit's time is free again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingNoShowRecorded {
    pub booking_id: crate::ids::BookingId,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingEvent {
    Placed(BookingPlaced),
    Cancelled(BookingCancelled),
    Rescheduled(BookingRescheduled),
    MovedAway(BookingMovedAway),
    CheckedIn(BookingCheckedIn),
    Completed(BookingCompleted),
    NoShow(BookingNoShowRecorded),
}

/// Event types of the schedule streams.
const EVENT_TYPES: [&str; 7] = [
    "BookingPlaced",
    "BookingCancelled",
    "BookingRescheduled",
    "BookingMovedAway",
    "BookingCheckedIn",
    "BookingCompleted",
    "BookingNoShowRecorded",
];

impl DomainEvent for BookingEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            BookingEvent::Placed(_) => "BookingPlaced",
            BookingEvent::Cancelled(_) => "BookingCancelled",
            BookingEvent::Rescheduled(_) => "BookingRescheduled",
            BookingEvent::MovedAway(_) => "BookingMovedAway",
            BookingEvent::CheckedIn(_) => "BookingCheckedIn",
            BookingEvent::Completed(_) => "BookingCompleted",
            BookingEvent::NoShow(_) => "BookingNoShowRecorded",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            BookingEvent::Placed(e) => new_event(self.event_type(), 1, e),
            BookingEvent::Cancelled(e) => new_event(self.event_type(), 1, e),
            BookingEvent::Rescheduled(e) => new_event(self.event_type(), 1, e),
            BookingEvent::MovedAway(e) => new_event(self.event_type(), 1, e),
            BookingEvent::CheckedIn(e) => new_event(self.event_type(), 1, e),
            BookingEvent::Completed(e) => new_event(self.event_type(), 1, e),
            BookingEvent::NoShow(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("BookingPlaced", 1) => decode_payload(event_type, payload).map(BookingEvent::Placed),
            ("BookingCancelled", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::Cancelled)
            }
            ("BookingRescheduled", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::Rescheduled)
            }
            ("BookingMovedAway", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::MovedAway)
            }
            ("BookingCheckedIn", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::CheckedIn)
            }
            ("BookingCompleted", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::Completed)
            }
            ("BookingNoShowRecorded", 1) => {
                decode_payload(event_type, payload).map(BookingEvent::NoShow)
            }
            (t, v) if EVENT_TYPES.contains(&t) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

/// Where a booking of a schedule stands (APT-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Booked,
    CheckedIn,
    Completed,
    NoShow,
    Cancelled,
    /// Rescheduled to another date: that date's schedule holds it now.
    MovedAway,
}

impl VisitStatus {
    /// Stable name (`booked`, `checked_in`, …), as read models show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            VisitStatus::Booked => "booked",
            VisitStatus::CheckedIn => "checked_in",
            VisitStatus::Completed => "completed",
            VisitStatus::NoShow => "no_show",
            VisitStatus::Cancelled => "cancelled",
            VisitStatus::MovedAway => "moved_away",
        }
    }
}

/// The bookings of one location and date: the fold of its schedule stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaySchedule {
    /// Bookings holding their time: booked, checked in or completed (not cancelled,
    /// moved away or missed).
    pub bookings: Vec<BookingPlaced>,
    /// Bookings numbered that day, cancelled and moved ones included (numbers are
    /// never reused).
    pub placed: u32,
    /// Where every booking this schedule ever held stands.
    pub status: std::collections::HashMap<crate::ids::BookingId, VisitStatus>,
}

impl DaySchedule {
    pub fn apply(&mut self, event: &BookingEvent) {
        match event {
            BookingEvent::Placed(p) => {
                self.placed = self.placed.max(p.number);
                self.bookings.push(p.clone());
                self.status.insert(p.booking_id, VisitStatus::Booked);
            }
            BookingEvent::Cancelled(c) => {
                self.bookings.retain(|b| b.booking_id != c.booking_id);
                self.status.insert(c.booking_id, VisitStatus::Cancelled);
            }
            BookingEvent::Rescheduled(r) => {
                let b = &r.booking;
                self.placed = self.placed.max(b.number);
                self.bookings.retain(|x| x.booking_id != b.booking_id);
                self.bookings.push(b.clone());
                self.status.insert(b.booking_id, VisitStatus::Booked);
            }
            BookingEvent::MovedAway(m) => {
                self.bookings.retain(|b| b.booking_id != m.booking_id);
                self.status.insert(m.booking_id, VisitStatus::MovedAway);
            }
            BookingEvent::CheckedIn(c) => {
                self.status.insert(c.booking_id, VisitStatus::CheckedIn);
            }
            BookingEvent::Completed(c) => {
                self.status.insert(c.booking_id, VisitStatus::Completed);
            }
            BookingEvent::NoShow(n) => {
                self.bookings.retain(|b| b.booking_id != n.booking_id);
                self.status.insert(n.booking_id, VisitStatus::NoShow);
            }
        }
    }

    /// A booking of this schedule that still holds its time.
    pub fn booking(&self, id: crate::ids::BookingId) -> Option<&BookingPlaced> {
        self.bookings.iter().find(|b| b.booking_id == id)
    }

    /// Every booked service of the day.
    pub fn services(&self) -> impl Iterator<Item = &BookedService> {
        self.bookings.iter().flat_map(|b| b.services.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BookingId, CustomerId, LocationId};

    fn placed(id: BookingId, date: NaiveDate, number: u32) -> BookingPlaced {
        BookingPlaced {
            booking_id: id,
            location_id: LocationId::new(),
            date,
            number,
            customer_id: CustomerId::new(),
            services: Vec::new(),
            location_slot: None,
            override_reason: None,
        }
    }

    #[test]
    fn a_day_folds_moves_and_visit_steps_and_never_reuses_a_number() {
        let date = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default();
        let next = NaiveDate::from_ymd_opt(2027, 3, 2).unwrap_or_default();
        let (a, b) = (BookingId::new(), BookingId::new());
        let mut day = DaySchedule::default();
        day.apply(&BookingEvent::Placed(placed(a, date, 1)));
        day.apply(&BookingEvent::Placed(placed(b, date, 2)));
        // Moved within the day: replaced, number kept.
        day.apply(&BookingEvent::Rescheduled(BookingRescheduled {
            from_date: date,
            booking: placed(a, date, 1),
        }));
        assert_eq!(day.bookings.len(), 2);
        day.apply(&BookingEvent::CheckedIn(BookingCheckedIn {
            booking_id: b,
            at: Utc::now(),
        }));
        assert_eq!(day.status.get(&b), Some(&VisitStatus::CheckedIn));
        assert!(
            day.booking(b).is_some(),
            "a checked-in visit keeps its time"
        );
        // Moved away and missed: both leave the day's holds, numbers stay taken.
        day.apply(&BookingEvent::MovedAway(BookingMovedAway {
            booking_id: a,
            to_date: next,
        }));
        day.apply(&BookingEvent::NoShow(BookingNoShowRecorded {
            booking_id: b,
            at: Utc::now(),
        }));
        assert!(day.bookings.is_empty());
        assert_eq!(day.placed, 2);
        assert_eq!(day.status.get(&a), Some(&VisitStatus::MovedAway));
        assert_eq!(day.status.get(&b), Some(&VisitStatus::NoShow));
        // Every new event round-trips through its stored form at version 1.
        for e in [
            BookingEvent::MovedAway(BookingMovedAway {
                booking_id: a,
                to_date: next,
            }),
            BookingEvent::Completed(BookingCompleted {
                booking_id: b,
                at: Utc::now(),
            }),
        ] {
            let stored = e.to_new_event().map_err(|x| x.to_string());
            let back = stored.and_then(|n| {
                BookingEvent::from_stored(
                    n.event_type,
                    n.schema_version,
                    &crate::envelope::Payload::from_raw(n.payload),
                )
                .map_err(|x| x.to_string())
            });
            assert_eq!(back, Ok(e));
        }
    }
}
