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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingEvent {
    Placed(BookingPlaced),
    Cancelled(BookingCancelled),
}

impl DomainEvent for BookingEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            BookingEvent::Placed(_) => "BookingPlaced",
            BookingEvent::Cancelled(_) => "BookingCancelled",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            BookingEvent::Placed(e) => new_event(self.event_type(), 1, e),
            BookingEvent::Cancelled(e) => new_event(self.event_type(), 1, e),
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
            ("BookingPlaced" | "BookingCancelled", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

/// The bookings of one location and date: the fold of its schedule stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaySchedule {
    /// Live (not cancelled) bookings.
    pub bookings: Vec<BookingPlaced>,
    /// Bookings placed that day, cancelled ones included (numbers are never reused).
    pub placed: u32,
}

impl DaySchedule {
    pub fn apply(&mut self, event: &BookingEvent) {
        match event {
            BookingEvent::Placed(p) => {
                self.placed = self.placed.max(p.number);
                self.bookings.push(p.clone());
            }
            BookingEvent::Cancelled(c) => self.bookings.retain(|b| b.booking_id != c.booking_id),
        }
    }

    /// Every booked service of the day.
    pub fn services(&self) -> impl Iterator<Item = &BookedService> {
        self.bookings.iter().flat_map(|b| b.services.iter())
    }
}
