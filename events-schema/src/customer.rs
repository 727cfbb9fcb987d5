//! Events of the `customer` stream type (one stream per customer, `customer-<uuid>`).
//!
//! Every personal field is a [`SealedValue`] bound to (tenant, customer, field); only
//! ids, tags, the source channel, consent flags and timestamps stay plain (DESIGN §6).

use crate::envelope::{decode_payload, new_event, DecodeError, DomainEvent, NewEvent, Payload};
use crate::ids::CustomerId;
use crate::sealing::SealedValue;
use serde::{Deserialize, Serialize};

pub const STREAM_TYPE: &str = "customer";

/// The stream id of a customer's record.
pub fn stream_id(id: CustomerId) -> String {
    format!("customer-{id}")
}

/// A field of the customer record; its name is the sealing field label and the
/// name used in change history and API error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerField {
    Name,
    Gender,
    Birthday,
    Phone,
    Email,
    IdNumber,
    Address,
    SourceChannel,
    Tags,
    Notes,
    Allergies,
    Conditions,
}

impl CustomerField {
    pub const ALL: [CustomerField; 12] = [
        CustomerField::Name,
        CustomerField::Gender,
        CustomerField::Birthday,
        CustomerField::Phone,
        CustomerField::Email,
        CustomerField::IdNumber,
        CustomerField::Address,
        CustomerField::SourceChannel,
        CustomerField::Tags,
        CustomerField::Notes,
        CustomerField::Allergies,
        CustomerField::Conditions,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CustomerField::Name => "name",
            CustomerField::Gender => "gender",
            CustomerField::Birthday => "birthday",
            CustomerField::Phone => "phone",
            CustomerField::Email => "email",
            CustomerField::IdNumber => "id_number",
            CustomerField::Address => "address",
            CustomerField::SourceChannel => "source_channel",
            CustomerField::Tags => "tags",
            CustomerField::Notes => "notes",
            CustomerField::Allergies => "allergies",
            CustomerField::Conditions => "conditions",
        }
    }

    pub fn parse(s: &str) -> Option<CustomerField> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether the field is personal data (sealed in events).
    pub const fn is_personal(self) -> bool {
        !matches!(self, CustomerField::SourceChannel | CustomerField::Tags)
    }

    /// Whether the field may be cleared (set to nothing) by a change.
    pub const fn is_optional(self) -> bool {
        !matches!(
            self,
            CustomerField::Name | CustomerField::Phone | CustomerField::SourceChannel
        )
    }
}

/// How the customer found the salon (CUS-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceChannel {
    WalkIn,
    Referral,
    Online,
    Campaign,
    Phone,
    Social,
    Other,
}

impl SourceChannel {
    pub const ALL: [SourceChannel; 7] = [
        SourceChannel::WalkIn,
        SourceChannel::Referral,
        SourceChannel::Online,
        SourceChannel::Campaign,
        SourceChannel::Phone,
        SourceChannel::Social,
        SourceChannel::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SourceChannel::WalkIn => "walk_in",
            SourceChannel::Referral => "referral",
            SourceChannel::Online => "online",
            SourceChannel::Campaign => "campaign",
            SourceChannel::Phone => "phone",
            SourceChannel::Social => "social",
            SourceChannel::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<SourceChannel> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Consent recorded at registration (SEC-5). Plain: it identifies no one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Version of the privacy policy the customer accepted.
    pub privacy_policy_version: String,
    /// What she agreed her data may be used for (SEC-5), as the policy states it;
    /// `customer_record` (her record, bookings and service history) unless the salon's
    /// form says otherwise. Absent from registrations recorded before it was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Whether she agreed to marketing messages (separate, withdrawable).
    pub marketing: bool,
}

/// The record's fields as carried by events: sealed personal fields, plain attributes.
/// In `CustomerRegistered` it holds every given field; in `CustomerChanged` only the
/// fields that changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allergies: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<SealedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_channel: Option<SourceChannel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl SealedDetails {
    /// The sealed value of a personal field, if present.
    pub fn sealed(&self, field: CustomerField) -> Option<&SealedValue> {
        match field {
            CustomerField::Name => self.name.as_ref(),
            CustomerField::Gender => self.gender.as_ref(),
            CustomerField::Birthday => self.birthday.as_ref(),
            CustomerField::Phone => self.phone.as_ref(),
            CustomerField::Email => self.email.as_ref(),
            CustomerField::IdNumber => self.id_number.as_ref(),
            CustomerField::Address => self.address.as_ref(),
            CustomerField::Notes => self.notes.as_ref(),
            CustomerField::Allergies => self.allergies.as_ref(),
            CustomerField::Conditions => self.conditions.as_ref(),
            CustomerField::SourceChannel | CustomerField::Tags => None,
        }
    }

    /// Sets a personal field's sealed value (ignored for plain fields).
    pub fn set_sealed(&mut self, field: CustomerField, value: SealedValue) {
        let slot = match field {
            CustomerField::Name => &mut self.name,
            CustomerField::Gender => &mut self.gender,
            CustomerField::Birthday => &mut self.birthday,
            CustomerField::Phone => &mut self.phone,
            CustomerField::Email => &mut self.email,
            CustomerField::IdNumber => &mut self.id_number,
            CustomerField::Address => &mut self.address,
            CustomerField::Notes => &mut self.notes,
            CustomerField::Allergies => &mut self.allergies,
            CustomerField::Conditions => &mut self.conditions,
            CustomerField::SourceChannel | CustomerField::Tags => return,
        };
        *slot = Some(value);
    }

    /// The fields present, in declaration order.
    pub fn present_fields(&self) -> Vec<CustomerField> {
        CustomerField::ALL
            .into_iter()
            .filter(|f| match f {
                CustomerField::SourceChannel => self.source_channel.is_some(),
                CustomerField::Tags => self.tags.is_some(),
                other => self.sealed(*other).is_some(),
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRegistered {
    pub customer_id: CustomerId,
    pub details: SealedDetails,
    pub consent: Consent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerChanged {
    pub customer_id: CustomerId,
    /// New values of the fields that changed.
    pub details: SealedDetails,
    /// Optional fields that were cleared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleared: Vec<CustomerField>,
    /// Why the change was made (free text, so sealed under field `reason`).
    pub reason: SealedValue,
}

/// Sealing label of a change's reason.
pub const REASON_FIELD: &str = "reason";

/// The customer's personal data was erased (PIPL Art. 47): her data keys were destroyed
/// in the same transaction, so every value sealed for her is unreadable from here on.
/// Holds no personal data; `reference` is the operator's request number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerErased {
    pub customer_id: CustomerId,
    pub reference: String,
    /// How many data keys were destroyed.
    pub keys_destroyed: u32,
}

/// She gave or withdrew her consent to marketing messages (SEC-5), separate from the
/// privacy-policy acceptance, which stays. Not personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketingConsentChanged {
    pub customer_id: CustomerId,
    pub marketing: bool,
}

/// A patch test's result (SVC-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchTestResult {
    Passed,
    Failed,
}

impl PatchTestResult {
    pub const fn as_str(self) -> &'static str {
        match self {
            PatchTestResult::Passed => "passed",
            PatchTestResult::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<PatchTestResult> {
        match s {
            "passed" => Some(PatchTestResult::Passed),
            "failed" => Some(PatchTestResult::Failed),
            _ => None,
        }
    }
}

/// Sealing label of a patch test's result.
pub const PATCH_TEST_RESULT_FIELD: &str = "patch_test_result";

/// Staff tested the customer's skin for a service's products (SVC-3). The service and
/// the date stay plain: they say no more than a booking of the service does, and the
/// booking rule reads them. The result says how her skin reacted — health data — so
/// it is sealed with her data key under [`PATCH_TEST_RESULT_FIELD`] (its plaintext
/// `passed` or `failed`) and goes with her keys when she is erased. No free-text
/// notes are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTestRecorded {
    pub customer_id: CustomerId,
    pub service_id: crate::ids::ServiceId,
    /// The day the test was done (the salon's local date).
    pub done_on: chrono::NaiveDate,
    pub result: SealedValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerEvent {
    Registered(CustomerRegistered),
    Changed(CustomerChanged),
    Erased(CustomerErased),
    MarketingConsentChanged(MarketingConsentChanged),
    PatchTestRecorded(PatchTestRecorded),
}

impl CustomerEvent {
    pub fn customer_id(&self) -> CustomerId {
        match self {
            CustomerEvent::Registered(r) => r.customer_id,
            CustomerEvent::Changed(c) => c.customer_id,
            CustomerEvent::Erased(e) => e.customer_id,
            CustomerEvent::MarketingConsentChanged(m) => m.customer_id,
            CustomerEvent::PatchTestRecorded(p) => p.customer_id,
        }
    }

    /// The version of the customer's data key its values are sealed with (all values
    /// of one event share it): its first sealed field's, or for a change that only
    /// clears fields, its reason's.
    pub fn key_version(&self) -> Option<u32> {
        let details = match self {
            CustomerEvent::Registered(r) => &r.details,
            CustomerEvent::Changed(c) => &c.details,
            CustomerEvent::PatchTestRecorded(p) => return Some(p.result.kv),
            CustomerEvent::Erased(_) | CustomerEvent::MarketingConsentChanged(_) => return None,
        };
        details
            .present_fields()
            .into_iter()
            .find_map(|f| details.sealed(f).map(|s| s.kv))
            .or(match self {
                CustomerEvent::Changed(c) => Some(c.reason.kv),
                _ => None,
            })
    }
}

impl DomainEvent for CustomerEvent {
    const STREAM_TYPE: &'static str = STREAM_TYPE;

    fn event_type(&self) -> &'static str {
        match self {
            CustomerEvent::Registered(_) => "CustomerRegistered",
            CustomerEvent::Changed(_) => "CustomerChanged",
            CustomerEvent::Erased(_) => "CustomerErased",
            CustomerEvent::MarketingConsentChanged(_) => "MarketingConsentChanged",
            CustomerEvent::PatchTestRecorded(_) => "PatchTestRecorded",
        }
    }

    fn to_new_event(&self) -> Result<NewEvent, serde_json::Error> {
        match self {
            CustomerEvent::Registered(e) => new_event(self.event_type(), 1, e),
            CustomerEvent::Changed(e) => new_event(self.event_type(), 1, e),
            CustomerEvent::Erased(e) => new_event(self.event_type(), 1, e),
            CustomerEvent::MarketingConsentChanged(e) => new_event(self.event_type(), 1, e),
            CustomerEvent::PatchTestRecorded(e) => new_event(self.event_type(), 1, e),
        }
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &Payload,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("CustomerRegistered", 1) => {
                decode_payload(event_type, payload).map(CustomerEvent::Registered)
            }
            ("CustomerChanged", 1) => {
                decode_payload(event_type, payload).map(CustomerEvent::Changed)
            }
            ("CustomerErased", 1) => decode_payload(event_type, payload).map(CustomerEvent::Erased),
            ("MarketingConsentChanged", 1) => {
                decode_payload(event_type, payload).map(CustomerEvent::MarketingConsentChanged)
            }
            ("PatchTestRecorded", 1) => {
                decode_payload(event_type, payload).map(CustomerEvent::PatchTestRecorded)
            }
            (
                "CustomerRegistered"
                | "CustomerChanged"
                | "CustomerErased"
                | "MarketingConsentChanged"
                | "PatchTestRecorded",
                v,
            ) => Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: v,
            }),
            _ => Err(DecodeError::UnknownType(event_type.to_owned())),
        }
    }
}

/// Blind-index purposes of the customer record's searchable sealed fields. The index
/// is HMAC-SHA256 under the tenant's index key over the normalised value.
pub mod index {
    /// Full phone number, E.164.
    pub const PHONE: &str = "phone";
    /// Last four digits of the phone number.
    pub const PHONE_TAIL: &str = "phone_tail";
    /// Resident ID number, upper-case.
    pub const ID_NUMBER: &str = "id_number";
}

/// The masked display form of a personal field's plaintext.
pub fn masked(field: CustomerField, text: &str) -> String {
    let far_future = chrono::NaiveDate::MAX;
    match field {
        CustomerField::Name => crate::values::PersonName::parse(text)
            .map(|n| n.masked())
            .unwrap_or_else(|_| crate::values::mask_middle(text, 1, 0)),
        CustomerField::Phone => crate::values::Phone::parse(text)
            .map(|p| p.masked())
            .unwrap_or_else(|_| crate::values::mask_middle(text, 3, 4)),
        CustomerField::IdNumber => crate::values::IdCardNumber::parse(text, far_future)
            .map(|i| i.masked())
            .unwrap_or_else(|_| crate::values::mask_middle(text, 3, 4)),
        CustomerField::Email => crate::values::Email::parse(text)
            .map(|e| e.masked())
            .unwrap_or_else(|_| crate::values::mask_middle(text, 1, 0)),
        CustomerField::Birthday => crate::values::Birthday::parse(text, far_future)
            .map(|b| b.masked())
            .unwrap_or_else(|_| crate::values::mask_middle(text, 0, 0)),
        CustomerField::Address => crate::values::mask_middle(text, 6, 0),
        CustomerField::Gender => text.to_owned(),
        CustomerField::Notes | CustomerField::Allergies | CustomerField::Conditions => {
            "(recorded)".to_owned()
        }
        CustomerField::SourceChannel | CustomerField::Tags => text.to_owned(),
    }
}
