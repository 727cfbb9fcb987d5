//! A salon's own settings (one stream per tenant, `settings-<tenant uuid>`): the bound on
//! one price change (SVC-5) and the lead times of shift reminders (STF-3). Each event
//! carries the whole document; a tenant without events has [`SalonSettings::default`].

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::TenantId;
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "settings";

pub fn stream_id(tenant: TenantId) -> String {
    format!("settings-{tenant}")
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalonSettings {
    /// Largest change of a price, in percent of the current one, made without an
    /// explicit override (SVC-5; default 20).
    pub price_change_bound_percent: u32,
    /// Minutes before a shift's start at which its person is reminded (STF-3), one
    /// reminder per lead time; empty: no reminders.
    pub shift_reminder_leads_minutes: Vec<u32>,
}

impl Default for SalonSettings {
    fn default() -> Self {
        SalonSettings {
            price_change_bound_percent: 20,
            shift_reminder_leads_minutes: vec![12 * 60],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalonSettingsChanged {
    pub settings: SalonSettings,
    /// Why (business text).
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingsEvent {
    Changed(SalonSettingsChanged),
}

impl DomainEvent for SettingsEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        "SalonSettingsChanged"
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        let SettingsEvent::Changed(e) = self;
        new_event(self.event_type(), 1, e)
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("SalonSettingsChanged", 1) => {
                decode_payload(event_type, payload).map(SettingsEvent::Changed)
            }
            ("SalonSettingsChanged", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
