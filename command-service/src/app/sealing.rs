//! Sealing the customer aggregate's plaintext events into wire events, and opening
//! them back. Every personal field is sealed with the customer's data key, bound to
//! (tenant, customer, field name).

use super::AppError;
use crate::domain::customer::{self as domain, CustomerDetails, FieldValue, Reason, Tag};
use events_schema::customer::{self as wire, CustomerField, SealedDetails, REASON_FIELD};
use events_schema::ids::{CustomerId, TenantId};
use events_schema::sealing::{open, seal, Dek, SealContext};

/// The data key of one customer with its version.
pub struct SubjectKey<'a> {
    pub tenant: TenantId,
    pub customer: CustomerId,
    pub version: u32,
    pub dek: &'a Dek,
}

impl SubjectKey<'_> {
    fn ctx<'f>(&self, field: &'f str) -> SealContext<'f> {
        SealContext {
            tenant: self.tenant,
            subject: self.customer.as_uuid(),
            field,
        }
    }

    pub(super) fn seal_text(&self, field: &str, text: &str) -> events_schema::sealing::SealedValue {
        seal(self.dek, self.version, &self.ctx(field), text)
    }

    /// Opens a value sealed for this customer under `field`.
    pub(super) fn open_text(
        &self,
        field: &str,
        sealed: &events_schema::sealing::SealedValue,
    ) -> Result<String, AppError> {
        open(self.dek, &self.ctx(field), sealed).map_err(|err| AppError::Internal(err.into()))
    }

    fn seal_values(&self, values: &[FieldValue]) -> SealedDetails {
        let mut d = SealedDetails::default();
        for v in values {
            match v {
                FieldValue::SourceChannel(c) => d.source_channel = Some(*c),
                FieldValue::Tags(tags) => {
                    d.tags = Some(tags.iter().map(|t| t.as_str().to_owned()).collect());
                }
                personal => {
                    if let Some(text) = personal.sealable_text() {
                        let field = personal.field();
                        d.set_sealed(field, self.seal_text(field.as_str(), &text));
                    }
                }
            }
        }
        d
    }

    /// Seals a plaintext event into its wire form.
    pub fn seal_event(&self, event: &domain::CustomerEvent) -> wire::CustomerEvent {
        match event {
            domain::CustomerEvent::Registered {
                customer_id,
                details,
                consent,
            } => wire::CustomerEvent::Registered(wire::CustomerRegistered {
                customer_id: *customer_id,
                details: self.seal_values(&details.values()),
                consent: consent.clone(),
            }),
            domain::CustomerEvent::Changed {
                customer_id,
                set,
                cleared,
                reason,
            } => wire::CustomerEvent::Changed(wire::CustomerChanged {
                customer_id: *customer_id,
                details: self.seal_values(set),
                cleared: cleared.clone(),
                reason: self.seal_text(REASON_FIELD, reason.as_str()),
            }),
            domain::CustomerEvent::MarketingConsentChanged {
                customer_id,
                marketing,
            } => wire::CustomerEvent::MarketingConsentChanged(wire::MarketingConsentChanged {
                customer_id: *customer_id,
                marketing: *marketing,
            }),
            domain::CustomerEvent::PatchTestRecorded {
                customer_id,
                service_id,
                done_on,
                result,
            } => wire::CustomerEvent::PatchTestRecorded(wire::PatchTestRecorded {
                customer_id: *customer_id,
                service_id: *service_id,
                done_on: *done_on,
                result: self.seal_text(wire::PATCH_TEST_RESULT_FIELD, result.as_str()),
            }),
        }
    }

    fn open_values(
        &self,
        d: &SealedDetails,
        today: chrono::NaiveDate,
    ) -> Result<Vec<FieldValue>, AppError> {
        let mut values = Vec::new();
        for field in d.present_fields() {
            match field {
                CustomerField::SourceChannel => {
                    values.extend(d.source_channel.map(FieldValue::SourceChannel));
                }
                CustomerField::Tags => {
                    let tags = d
                        .tags
                        .iter()
                        .flatten()
                        .map(|t| Tag::parse(t))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| corrupt(field.as_str(), e))?;
                    values.push(FieldValue::Tags(tags));
                }
                personal => {
                    let Some(sealed) = d.sealed(personal) else {
                        continue;
                    };
                    let text = open(self.dek, &self.ctx(personal.as_str()), sealed)
                        .map_err(|e| AppError::Internal(e.into()))?;
                    values.push(
                        FieldValue::from_sealed_text(personal, &text, today)
                            .map_err(|e| corrupt(personal.as_str(), e))?,
                    );
                }
            }
        }
        Ok(values)
    }

    /// Opens a stored wire event into its plaintext form.
    pub fn open_event(
        &self,
        event: &wire::CustomerEvent,
        today: chrono::NaiveDate,
    ) -> Result<domain::CustomerEvent, AppError> {
        Ok(match event {
            wire::CustomerEvent::Registered(e) => {
                let values = self.open_values(&e.details, today)?;
                let details = CustomerDetails::from_values(values)
                    .ok_or_else(|| corrupt("details", "required field missing"))?;
                domain::CustomerEvent::Registered {
                    customer_id: e.customer_id,
                    details: Box::new(details),
                    consent: e.consent.clone(),
                }
            }
            wire::CustomerEvent::Changed(e) => {
                let reason = self.open_text(REASON_FIELD, &e.reason)?;
                domain::CustomerEvent::Changed {
                    customer_id: e.customer_id,
                    set: self.open_values(&e.details, today)?,
                    cleared: e.cleared.clone(),
                    reason: Reason::parse(&reason).map_err(|m| corrupt(REASON_FIELD, m))?,
                }
            }
            wire::CustomerEvent::MarketingConsentChanged(e) => {
                domain::CustomerEvent::MarketingConsentChanged {
                    customer_id: e.customer_id,
                    marketing: e.marketing,
                }
            }
            wire::CustomerEvent::PatchTestRecorded(e) => {
                let result = self.open_text(wire::PATCH_TEST_RESULT_FIELD, &e.result)?;
                domain::CustomerEvent::PatchTestRecorded {
                    customer_id: e.customer_id,
                    service_id: e.service_id,
                    done_on: e.done_on,
                    result: wire::PatchTestResult::parse(&result)
                        .ok_or_else(|| corrupt(wire::PATCH_TEST_RESULT_FIELD, "unknown result"))?,
                }
            }
            // Her keys are gone with it; nothing after it is decided on her record.
            wire::CustomerEvent::Erased(_) => return Err(AppError::Erased),
        })
    }
}

fn corrupt(field: &str, why: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored customer field {field}: {why}"))
}
