//! The customer record aggregate (CUS-1, CUS-2, CUS-6).
//!
//! Works on validated plaintext values; the application layer seals them into the
//! wire events of `events_schema::customer` before anything is stored.

mod fields;

pub use fields::{Address, CustomerDetails, FieldValue, FreeText, Gender, Tag};

use events_schema::customer::{Consent, CustomerField};
use events_schema::ids::CustomerId;

/// A change's reason: 1..=500 characters of free text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(s: &str) -> Result<Reason, &'static str> {
        let t = s.trim();
        if t.is_empty() {
            return Err("a reason is required");
        }
        if t.chars().count() > 500 {
            return Err("must be at most 500 characters");
        }
        if t.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters");
        }
        Ok(Reason(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerCommand {
    Register {
        customer_id: CustomerId,
        details: Box<CustomerDetails>,
        consent: Consent,
    },
    Change {
        /// Fields to set, at most one value per field.
        set: Vec<FieldValue>,
        /// Optional fields to clear.
        clear: Vec<CustomerField>,
        reason: Reason,
    },
    /// Give or withdraw consent to marketing messages.
    SetMarketingConsent { marketing: bool },
}

/// Plaintext events; sealed by the application layer before storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerEvent {
    Registered {
        customer_id: CustomerId,
        details: Box<CustomerDetails>,
        consent: Consent,
    },
    Changed {
        customer_id: CustomerId,
        set: Vec<FieldValue>,
        cleared: Vec<CustomerField>,
        reason: Reason,
    },
    MarketingConsentChanged {
        customer_id: CustomerId,
        marketing: bool,
    },
    /// A patch test of a service (SVC-3); it changes none of the record's fields.
    PatchTestRecorded {
        customer_id: CustomerId,
        service_id: events_schema::ids::ServiceId,
        done_on: chrono::NaiveDate,
        result: events_schema::customer::PatchTestResult,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CustomerState {
    #[default]
    New,
    Active {
        customer_id: CustomerId,
        details: Box<CustomerDetails>,
        consent: Consent,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    #[error("the customer is already registered")]
    AlreadyRegistered,
    #[error("no such customer")]
    NotFound,
    #[error("the change sets every field to its current value")]
    NothingChanged,
    #[error("field {0} cannot be cleared")]
    NotClearable(&'static str),
    #[error("field {0} is both set and cleared")]
    SetAndCleared(&'static str),
}

pub fn decide(
    state: &CustomerState,
    command: CustomerCommand,
) -> Result<Vec<CustomerEvent>, CustomerError> {
    match (state, command) {
        (
            CustomerState::New,
            CustomerCommand::Register {
                customer_id,
                details,
                consent,
            },
        ) => Ok(vec![CustomerEvent::Registered {
            customer_id,
            details,
            consent,
        }]),
        (CustomerState::Active { .. }, CustomerCommand::Register { .. }) => {
            Err(CustomerError::AlreadyRegistered)
        }
        (
            CustomerState::New,
            CustomerCommand::Change { .. } | CustomerCommand::SetMarketingConsent { .. },
        ) => Err(CustomerError::NotFound),
        (
            CustomerState::Active {
                customer_id,
                consent,
                ..
            },
            CustomerCommand::SetMarketingConsent { marketing },
        ) => Ok(if consent.marketing == marketing {
            // Already so: nothing to record.
            vec![]
        } else {
            vec![CustomerEvent::MarketingConsentChanged {
                customer_id: *customer_id,
                marketing,
            }]
        }),
        (
            CustomerState::Active {
                customer_id,
                details,
                ..
            },
            CustomerCommand::Change { set, clear, reason },
        ) => {
            for f in &clear {
                if !f.is_optional() {
                    return Err(CustomerError::NotClearable(f.as_str()));
                }
                if set.iter().any(|v| v.field() == *f) {
                    return Err(CustomerError::SetAndCleared(f.as_str()));
                }
            }
            let set: Vec<FieldValue> = set.into_iter().filter(|v| !details.has_value(v)).collect();
            let cleared: Vec<CustomerField> = clear
                .into_iter()
                .filter(|f| details.is_present(*f))
                .collect();
            if set.is_empty() && cleared.is_empty() {
                return Err(CustomerError::NothingChanged);
            }
            Ok(vec![CustomerEvent::Changed {
                customer_id: *customer_id,
                set,
                cleared,
                reason,
            }])
        }
    }
}

pub fn evolve(state: CustomerState, event: &CustomerEvent) -> CustomerState {
    match (state, event) {
        (
            _,
            CustomerEvent::Registered {
                customer_id,
                details,
                consent,
            },
        ) => CustomerState::Active {
            customer_id: *customer_id,
            details: details.clone(),
            consent: consent.clone(),
        },
        (
            CustomerState::Active {
                customer_id,
                mut details,
                consent,
            },
            CustomerEvent::Changed { set, cleared, .. },
        ) => {
            for v in set {
                details.apply(v.clone());
            }
            for f in cleared {
                details.clear(*f);
            }
            CustomerState::Active {
                customer_id,
                details,
                consent,
            }
        }
        (
            CustomerState::Active {
                customer_id,
                details,
                mut consent,
            },
            CustomerEvent::MarketingConsentChanged { marketing, .. },
        ) => {
            consent.marketing = *marketing;
            CustomerState::Active {
                customer_id,
                details,
                consent,
            }
        }
        (
            state @ CustomerState::New,
            CustomerEvent::Changed { .. } | CustomerEvent::MarketingConsentChanged { .. },
        ) => state,
        (state, CustomerEvent::PatchTestRecorded { .. }) => state,
    }
}

#[cfg(test)]
mod tests;
