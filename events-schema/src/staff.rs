//! Events of staff records (STF-1), one stream per person (`staff-<uuid>`).
//!
//! Personal data — name, gender, birth date, native place, phone, email, and the
//! free-text reasons given for changes — is sealed with the person's own data key,
//! bound to (tenant, staff id, field), exactly as for customers (DESIGN §6): erasing
//! the key erases the person. Work terms (position, level, hire date, skills,
//! locations, the login account) stay plain: they identify no one by themselves.
//!
//! Each record event carries the whole record as it is after the event, and names the
//! fields that changed, so the history needs no diffing of sealed values.

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::{AccountId, LocationId, ServiceId, StaffId};
use crate::sealing::SealedValue;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "staff";

pub fn stream_id(id: StaffId) -> String {
    format!("staff-{id}")
}

/// Sealing label of the reason of a change or a deactivation.
pub const REASON_FIELD: &str = "reason";

/// The personal part of the record, each value sealed under its field name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedProfile {
    pub name: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_place: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SealedValue>,
}

impl SealedProfile {
    /// Field name → sealed value, for every field present.
    pub fn fields(&self) -> Vec<(&'static str, &SealedValue)> {
        [
            ("name", &self.name),
            ("gender", &self.gender),
            ("birth_date", &self.birth_date),
            ("native_place", &self.native_place),
            ("phone", &self.phone),
            ("email", &self.email),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
        .collect()
    }
}

/// What the person does and where: plain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkTerms {
    pub position: String,
    /// Technician level (prices and durations of services may depend on it).
    pub level: String,
    pub hire_date: NaiveDate,
    /// Services the person may perform.
    pub skills: Vec<ServiceId>,
    /// Locations the person works at.
    pub locations: Vec<LocationId>,
    /// The person's login account, if any (technicians see their own rota through it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffHired {
    pub staff_id: StaffId,
    pub profile: SealedProfile,
    pub work: WorkTerms,
}

/// The whole record after the change, the names of the fields that changed and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffChanged {
    pub staff_id: StaffId,
    pub profile: SealedProfile,
    pub work: WorkTerms,
    pub changed: Vec<String>,
    pub reason: SealedValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffDeactivated {
    pub staff_id: StaffId,
    pub reason: SealedValue,
}

/// The person's data keys were destroyed (STF-1, DESIGN §6): every value sealed for
/// them is unreadable from now on; the record's work terms and history stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffErased {
    pub staff_id: StaffId,
    /// The request it answers (a case number; never personal data).
    pub reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffEvent {
    Hired(StaffHired),
    Changed(StaffChanged),
    Deactivated(StaffDeactivated),
    Erased(StaffErased),
}

impl StaffEvent {
    pub fn staff_id(&self) -> StaffId {
        match self {
            StaffEvent::Hired(e) => e.staff_id,
            StaffEvent::Changed(e) => e.staff_id,
            StaffEvent::Deactivated(e) => e.staff_id,
            StaffEvent::Erased(e) => e.staff_id,
        }
    }
}

impl DomainEvent for StaffEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            StaffEvent::Hired(_) => "StaffHired",
            StaffEvent::Changed(_) => "StaffChanged",
            StaffEvent::Deactivated(_) => "StaffDeactivated",
            StaffEvent::Erased(_) => "StaffErased",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            StaffEvent::Hired(e) => new_event(self.event_type(), 1, e),
            StaffEvent::Changed(e) => new_event(self.event_type(), 1, e),
            StaffEvent::Deactivated(e) => new_event(self.event_type(), 1, e),
            StaffEvent::Erased(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("StaffHired", 1) => decode_payload(event_type, payload).map(StaffEvent::Hired),
            ("StaffChanged", 1) => decode_payload(event_type, payload).map(StaffEvent::Changed),
            ("StaffDeactivated", 1) => {
                decode_payload(event_type, payload).map(StaffEvent::Deactivated)
            }
            ("StaffErased", 1) => decode_payload(event_type, payload).map(StaffEvent::Erased),
            ("StaffHired" | "StaffChanged" | "StaffDeactivated" | "StaffErased", v) => {
                Err(DecodeError::UnknownVersion {
                    event_type: event_type.to_owned(),
                    version: v,
                })
            }
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
