//! Events of waitlists (APT-13), one stream per location and local date
//! (`waitlist-<location>-<YYYY-MM-DD>`), beside that day's schedule: customers who want
//! a visit in a window of that date, in the order they joined, and the offers of freed
//! slots made to them one at a time.
//!
//! A freed slot is the time a booking gave up: cancelled (`slot_id` = that booking's
//! id) or moved away from (`slot_id` derived from the booking and the revision it left:
//! [`SlotId::moved_from`]). A slot id is never a booking to act on.
//! It is offered to one waiting customer at a time, with a reply window; she accepts
//! (the visit is booked through the ordinary booking path), declines, or lets it expire,
//! and then it goes to the next. An offer holds nothing until accepted.
//!
//! Ids, instants and service choices only: nothing here is personal.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::{
    BookingId, CustomerId, LocationId, OfferId, ServiceId, SlotId, StaffId, WaitlistEntryId,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "waitlist";

pub fn stream_id(location: LocationId, date: NaiveDate) -> String {
    format!("waitlist-{location}-{date}")
}

/// One wanted service, and the technician wanted for it (none: anyone who may).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WantedService {
    pub service_id: ServiceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<StaffId>,
}

/// A customer asks for a visit of these services starting at or after `from` and
/// ending by `to` (instants of the stream's local date).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistJoined {
    pub entry_id: WaitlistEntryId,
    pub location_id: LocationId,
    pub date: NaiveDate,
    pub customer_id: CustomerId,
    pub services: Vec<WantedService>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub joined_at: DateTime<Utc>,
}

/// She no longer waits (she or the salon took her off).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistLeft {
    pub entry_id: WaitlistEntryId,
    pub at: DateTime<Utc>,
}

/// A booked service of an offered visit: which service, by whom, from when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedService {
    pub service_id: ServiceId,
    pub staff_id: StaffId,
}

/// A freed slot offered to one waiting customer until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferMade {
    pub offer_id: OfferId,
    pub entry_id: WaitlistEntryId,
    pub customer_id: CustomerId,
    /// The freed time this is (of a cancellation or a move; never a booking's id to
    /// act on).
    pub slot_id: SlotId,
    /// Start of the offered visit; its services follow one another.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub services: Vec<OfferedService>,
    pub made_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// She said no; the slot goes to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferDeclined {
    pub offer_id: OfferId,
    pub at: DateTime<Utc>,
}

/// Her reply window passed; the slot goes to the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferExpired {
    pub offer_id: OfferId,
    pub at: DateTime<Utc>,
}

/// She took it: the visit was booked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferAccepted {
    pub offer_id: OfferId,
    pub booking_id: BookingId,
    pub at: DateTime<Utc>,
}

/// She accepted, but the time could no longer be booked (taken meanwhile, closed…):
/// the offer ends without a booking and she keeps waiting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferWithdrawn {
    pub offer_id: OfferId,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitlistEvent {
    Joined(WaitlistJoined),
    Left(WaitlistLeft),
    OfferMade(OfferMade),
    OfferDeclined(OfferDeclined),
    OfferExpired(OfferExpired),
    OfferAccepted(OfferAccepted),
    OfferWithdrawn(OfferWithdrawn),
}

const TYPES: [&str; 7] = [
    "WaitlistJoined",
    "WaitlistLeft",
    "OfferMade",
    "OfferDeclined",
    "OfferExpired",
    "OfferAccepted",
    "OfferWithdrawn",
];

impl DomainEvent for WaitlistEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            WaitlistEvent::Joined(_) => TYPES[0],
            WaitlistEvent::Left(_) => TYPES[1],
            WaitlistEvent::OfferMade(_) => TYPES[2],
            WaitlistEvent::OfferDeclined(_) => TYPES[3],
            WaitlistEvent::OfferExpired(_) => TYPES[4],
            WaitlistEvent::OfferAccepted(_) => TYPES[5],
            WaitlistEvent::OfferWithdrawn(_) => TYPES[6],
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let t = self.event_type();
        match self {
            WaitlistEvent::Joined(e) => new_event(t, 1, e),
            WaitlistEvent::Left(e) => new_event(t, 1, e),
            WaitlistEvent::OfferMade(e) => new_event(t, 1, e),
            WaitlistEvent::OfferDeclined(e) => new_event(t, 1, e),
            WaitlistEvent::OfferExpired(e) => new_event(t, 1, e),
            WaitlistEvent::OfferAccepted(e) => new_event(t, 1, e),
            WaitlistEvent::OfferWithdrawn(e) => new_event(t, 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        let t = event_type;
        match (t, schema_version) {
            ("WaitlistJoined", 1) => decode_payload(t, payload).map(WaitlistEvent::Joined),
            ("WaitlistLeft", 1) => decode_payload(t, payload).map(WaitlistEvent::Left),
            ("OfferMade", 1) => decode_payload(t, payload).map(WaitlistEvent::OfferMade),
            ("OfferDeclined", 1) => decode_payload(t, payload).map(WaitlistEvent::OfferDeclined),
            ("OfferExpired", 1) => decode_payload(t, payload).map(WaitlistEvent::OfferExpired),
            ("OfferAccepted", 1) => decode_payload(t, payload).map(WaitlistEvent::OfferAccepted),
            ("OfferWithdrawn", 1) => decode_payload(t, payload).map(WaitlistEvent::OfferWithdrawn),
            (t, v) if TYPES.contains(&t) => Err(DecodeError::UnknownVersion {
                event_type: t.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(t.to_owned())),
        }
    }
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    Waiting,
    Left,
    /// An offer of hers was accepted: she has her visit.
    Booked,
}

impl EntryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "waiting",
            EntryStatus::Left => "left",
            EntryStatus::Booked => "booked",
        }
    }
}

/// Where an offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferStatus {
    Open,
    Declined,
    Expired,
    Accepted(BookingId),
    Withdrawn,
}

impl OfferStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Declined => "declined",
            OfferStatus::Expired => "expired",
            OfferStatus::Accepted(_) => "accepted",
            OfferStatus::Withdrawn => "withdrawn",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub joined: WaitlistJoined,
    pub status: EntryStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub made: OfferMade,
    pub status: OfferStatus,
}

/// The waitlist of one location and date: the fold of its stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayWaitlist {
    /// Every entry, in the order they joined.
    pub entries: Vec<Entry>,
    /// Every offer, in the order they were made.
    pub offers: Vec<Offer>,
}

impl DayWaitlist {
    pub fn apply(&mut self, event: &WaitlistEvent) {
        let set_offer = |offers: &mut Vec<Offer>, id: OfferId, status: OfferStatus| {
            if let Some(o) = offers.iter_mut().find(|o| o.made.offer_id == id) {
                o.status = status;
            }
        };
        match event {
            WaitlistEvent::Joined(j) => self.entries.push(Entry {
                joined: j.clone(),
                status: EntryStatus::Waiting,
            }),
            WaitlistEvent::Left(l) => {
                if let Some(e) = self.entry_mut(l.entry_id) {
                    e.status = EntryStatus::Left;
                }
            }
            WaitlistEvent::OfferMade(m) => self.offers.push(Offer {
                made: m.clone(),
                status: OfferStatus::Open,
            }),
            WaitlistEvent::OfferDeclined(d) => {
                set_offer(&mut self.offers, d.offer_id, OfferStatus::Declined);
            }
            WaitlistEvent::OfferExpired(x) => {
                set_offer(&mut self.offers, x.offer_id, OfferStatus::Expired);
            }
            WaitlistEvent::OfferWithdrawn(w) => {
                set_offer(&mut self.offers, w.offer_id, OfferStatus::Withdrawn);
            }
            WaitlistEvent::OfferAccepted(a) => {
                set_offer(
                    &mut self.offers,
                    a.offer_id,
                    OfferStatus::Accepted(a.booking_id),
                );
                let entry = self.offer(a.offer_id).map(|o| o.made.entry_id);
                if let Some(e) = entry.and_then(|id| self.entry_mut(id)) {
                    e.status = EntryStatus::Booked;
                }
            }
        }
    }

    pub fn entry(&self, id: WaitlistEntryId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.joined.entry_id == id)
    }

    fn entry_mut(&mut self, id: WaitlistEntryId) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.joined.entry_id == id)
    }

    pub fn offer(&self, id: OfferId) -> Option<&Offer> {
        self.offers.iter().find(|o| o.made.offer_id == id)
    }

    /// The open offer of a slot, if any (there is at most one).
    pub fn open_offer_of_slot(&self, slot: SlotId) -> Option<&Offer> {
        self.offers
            .iter()
            .find(|o| o.made.slot_id == slot && o.status == OfferStatus::Open)
    }

    /// Whether the entry holds an open offer.
    pub fn holds_offer(&self, entry: WaitlistEntryId) -> bool {
        self.offers
            .iter()
            .any(|o| o.made.entry_id == entry && o.status == OfferStatus::Open)
    }

    /// Whether the slot was offered to the entry before (she is not asked twice).
    pub fn was_offered(&self, slot: SlotId, entry: WaitlistEntryId) -> bool {
        self.offers
            .iter()
            .any(|o| o.made.slot_id == slot && o.made.entry_id == entry)
    }
}
