//! Events of disclosure streams (`disclosure-<customer id>`): each time a member of
//! staff unmasks one of a customer's sealed fields, with the reason they gave (CUS-7,
//! SEC-4, PIPL Art. 51). The value itself is never in the event; the reason is sealed
//! with the customer's key, like the reasons of her record's changes.

use crate::customer::CustomerField;
use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::CustomerId;
use crate::sealing::SealedValue;
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "disclosure";

/// The disclosure log of one customer.
pub fn stream_id(customer: CustomerId) -> String {
    format!("disclosure-{customer}")
}

/// Someone was shown the plaintext of one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFieldRevealed {
    pub customer_id: CustomerId,
    pub field: CustomerField,
    /// Why (sealed under the customer's key, field `reason`).
    pub reason: SealedValue,
}

/// Everything held about her was exported (data-subject access).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerExported {
    pub customer_id: CustomerId,
    pub reason: SealedValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisclosureEvent {
    Revealed(CustomerFieldRevealed),
    Exported(CustomerExported),
}

impl DomainEvent for DisclosureEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            DisclosureEvent::Revealed(_) => "CustomerFieldRevealed",
            DisclosureEvent::Exported(_) => "CustomerExported",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            DisclosureEvent::Revealed(e) => new_event(self.event_type(), 1, e),
            DisclosureEvent::Exported(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("CustomerFieldRevealed", 1) => {
                decode_payload(event_type, payload).map(DisclosureEvent::Revealed)
            }
            ("CustomerExported", 1) => {
                decode_payload(event_type, payload).map(DisclosureEvent::Exported)
            }
            ("CustomerFieldRevealed" | "CustomerExported", v) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}
