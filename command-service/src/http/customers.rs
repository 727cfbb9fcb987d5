//! `POST /customers` (register) and `PATCH /customers/{id}` (change with a reason).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, outcome_response, AppState};
use crate::app::customers::{ChangeCustomer, RegisterCustomer};
use crate::app::error::FieldError;
use crate::domain::customer::{
    Address, CustomerDetails, FieldValue, FreeText, Gender, Reason, Tag,
};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use events_schema::customer::{Consent, CustomerField, SourceChannel};
use events_schema::ids::CustomerId;
use events_schema::values::{Birthday, Email, IdCardNumber, PersonName, Phone};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentDto {
    pub privacy_policy_version: String,
    /// What she agrees her data may be used for; default `customer_record`.
    pub purpose: Option<String>,
    #[serde(default)]
    pub marketing: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDto {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub email: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub source_channel: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub allergies: Option<String>,
    pub conditions: Option<String>,
    pub consent: Option<ConsentDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeDto {
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
    /// Field name → new value; `null` clears an optional field.
    pub changes: serde_json::Map<String, Value>,
}

/// Parses one field's raw JSON value into a validated value.
fn parse_field(
    field: CustomerField,
    raw: &Value,
    today: chrono::NaiveDate,
) -> Result<FieldValue, String> {
    if field == CustomerField::Tags {
        let Value::Array(items) = raw else {
            return Err("must be an array of strings".into());
        };
        let mut tags = Vec::new();
        for item in items {
            let s = item.as_str().ok_or("must be an array of strings")?;
            let tag = Tag::parse(s)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > 20 {
            return Err("at most 20 tags".into());
        }
        tags.sort();
        return Ok(FieldValue::Tags(tags));
    }
    let s = raw.as_str().ok_or("must be a string")?;
    let msg = |e: events_schema::values::ValueError| e.to_string();
    Ok(match field {
        CustomerField::Name => FieldValue::Name(PersonName::parse(s).map_err(msg)?),
        CustomerField::Phone => FieldValue::Phone(Phone::parse(s).map_err(msg)?),
        CustomerField::Gender => FieldValue::Gender(Gender::parse(s)?),
        CustomerField::Birthday => FieldValue::Birthday(Birthday::parse(s, today).map_err(msg)?),
        CustomerField::Email => FieldValue::Email(Email::parse(s).map_err(msg)?),
        CustomerField::IdNumber => {
            FieldValue::IdNumber(IdCardNumber::parse(s, today).map_err(msg)?)
        }
        CustomerField::Address => FieldValue::Address(Address::parse(s)?),
        CustomerField::SourceChannel => {
            FieldValue::SourceChannel(SourceChannel::parse(s).ok_or(
                "must be one of walk_in, referral, online, campaign, phone, social, other",
            )?)
        }
        CustomerField::Notes => FieldValue::Notes(FreeText::parse(s, 2000)?),
        CustomerField::Allergies => FieldValue::Allergies(FreeText::parse(s, 2000)?),
        CustomerField::Conditions => FieldValue::Conditions(FreeText::parse(s, 2000)?),
        CustomerField::Tags => return Err("must be an array of strings".into()),
    })
}

impl RegisterDto {
    pub(crate) fn parse(
        self,
        today: chrono::NaiveDate,
    ) -> Result<RegisterCustomer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut values = Vec::new();
        let raw: [(CustomerField, Option<Value>); 12] = [
            (CustomerField::Name, self.name.map(Value::String)),
            (CustomerField::Phone, self.phone.map(Value::String)),
            (CustomerField::Gender, self.gender.map(Value::String)),
            (CustomerField::Birthday, self.birthday.map(Value::String)),
            (CustomerField::Email, self.email.map(Value::String)),
            (CustomerField::IdNumber, self.id_number.map(Value::String)),
            (CustomerField::Address, self.address.map(Value::String)),
            (
                CustomerField::SourceChannel,
                Some(Value::String(
                    self.source_channel.unwrap_or_else(|| "walk_in".into()),
                )),
            ),
            (
                CustomerField::Tags,
                Some(Value::Array(
                    self.tags.into_iter().map(Value::String).collect(),
                )),
            ),
            (CustomerField::Notes, self.notes.map(Value::String)),
            (CustomerField::Allergies, self.allergies.map(Value::String)),
            (
                CustomerField::Conditions,
                self.conditions.map(Value::String),
            ),
        ];
        for (field, value) in raw {
            match value {
                None if !field.is_optional() => {
                    errors.push(FieldError::new(field.as_str(), "is required"));
                }
                None => {}
                Some(v) => match parse_field(field, &v, today) {
                    Ok(parsed) => values.push(parsed),
                    Err(m) => errors.push(FieldError::new(field.as_str(), m)),
                },
            }
        }
        let consent = match self.consent {
            None => {
                errors.push(FieldError::new(
                    "consent",
                    "privacy-policy acceptance is required before personal data is recorded",
                ));
                None
            }
            Some(c) => {
                let v = c.privacy_policy_version.trim();
                if v.is_empty() || v.len() > 32 {
                    errors.push(FieldError::new(
                        "consent.privacy_policy_version",
                        "must be 1 to 32 characters",
                    ));
                    None
                } else {
                    let purpose = c.purpose.as_deref().map_or("customer_record", str::trim);
                    if purpose.is_empty() || purpose.chars().count() > 200 {
                        errors.push(FieldError::new(
                            "consent.purpose",
                            "must be 1 to 200 characters",
                        ));
                        None
                    } else {
                        Some(Consent {
                            privacy_policy_version: v.to_owned(),
                            purpose: Some(purpose.to_owned()),
                            marketing: c.marketing,
                        })
                    }
                }
            }
        };
        match (CustomerDetails::from_values(values), consent) {
            (Some(details), Some(consent)) if errors.is_empty() => {
                Ok(RegisterCustomer { details, consent })
            }
            _ => Err(errors),
        }
    }
}

impl ChangeDto {
    fn parse(
        self,
        customer_id: CustomerId,
        today: chrono::NaiveDate,
    ) -> Result<ChangeCustomer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let reason = match self.reason.as_deref().map(Reason::parse) {
            None => {
                errors.push(FieldError::new("reason", "a reason is required"));
                None
            }
            Some(Err(m)) => {
                errors.push(FieldError::new("reason", m));
                None
            }
            Some(Ok(r)) => Some(r),
        };
        if self.changes.is_empty() {
            errors.push(FieldError::new("changes", "at least one field must change"));
        }
        let mut set = Vec::new();
        let mut clear = Vec::new();
        for (name, raw) in &self.changes {
            let Some(field) = CustomerField::parse(name) else {
                errors.push(FieldError::new(
                    format!("changes.{name}"),
                    "is not a field of the customer record",
                ));
                continue;
            };
            let label = format!("changes.{name}");
            if raw.is_null() {
                if field.is_optional() {
                    clear.push(field);
                } else {
                    errors.push(FieldError::new(label, "is required and cannot be cleared"));
                }
                continue;
            }
            match parse_field(field, raw, today) {
                Ok(v) => set.push(v),
                Err(m) => errors.push(FieldError::new(label, m)),
            }
        }
        if let Some(v) = self.expected_version {
            if v < 1 {
                errors.push(FieldError::new("expected_version", "must be at least 1"));
            }
        }
        match reason {
            Some(reason) if errors.is_empty() => Ok(ChangeCustomer {
                customer_id,
                expected_version: self.expected_version,
                set,
                clear,
                reason,
            }),
            _ => Err(errors),
        }
    }
}

pub async fn register(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<RegisterDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "register_customer", "", &body.value)?;
    let cmd = body
        .dto
        .parse(chrono::Utc::now().date_naive())
        .map_err(ApiError::Validation)?;
    let outcome = state.app.register_customer(&ctx, cmd).await?;
    Ok(outcome_response(outcome))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ChangeDto>,
) -> Result<Response, ApiError> {
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "change_customer", &id, &body.value)?;
    let cmd = body
        .dto
        .parse(customer_id, chrono::Utc::now().date_naive())
        .map_err(ApiError::Validation)?;
    let outcome = state.app.change_customer(&ctx, cmd).await?;
    Ok(outcome_response(outcome))
}

fn customer_id(id: &str) -> Result<CustomerId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest("customer id must be a UUID".into()))
}

/// A response holding personal data in clear: `Cache-Control: no-store`.
fn never_cached(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealDto {
    pub field: String,
    pub reason: String,
}

/// `POST /customers/{id}/reveal`: one sealed field in clear, logged with the reason
/// before it is returned; never cached.
pub async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RevealDto>,
) -> Result<Response, ApiError> {
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "reveal_customer_field", &id, &body.value)?;
    let mut errors = Vec::new();
    let field = CustomerField::parse(&body.dto.field).filter(|f| f.is_personal());
    if field.is_none() {
        errors.push(FieldError::new(
            "field",
            "must be a sealed field: name, gender, birthday, phone, email, id_number, address, notes, allergies or conditions",
        ));
    }
    let reason = Reason::parse(&body.dto.reason)
        .map_err(|m| errors.push(FieldError::new("reason", m)))
        .ok();
    let (Some(field), Some(reason), true) = (field, reason, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let revealed = state.app.reveal(&ctx, customer_id, field, &reason).await?;
    Ok(never_cached(Json(revealed)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseDto {
    /// The operator's request number (no personal data): 1 to 64 of A-Z a-z 0-9 . _ # / -.
    pub reference: String,
}

/// `POST /customers/{id}/erase`: crypto-shredding; answers the evidence.
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EraseDto>,
) -> Result<Response, ApiError> {
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "erase_customer", &id, &body.value)?;
    let reference = body.dto.reference.trim();
    let ok = (1..=64).contains(&reference.len())
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._#/-".contains(c));
    if !ok {
        return Err(ApiError::Validation(vec![FieldError::new(
            "reference",
            "must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ # / - (a request number, no personal data)",
        )]));
    }
    let evidence = state
        .app
        .erase_customer(&ctx, customer_id, reference)
        .await?;
    Ok(Json(evidence).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportDto {
    pub reason: String,
}

/// `POST /customers/{id}/export`: everything held about her, in clear (data-subject
/// access); logged as a disclosure before it is returned; never cached.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ExportDto>,
) -> Result<Response, ApiError> {
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "export_customer", &id, &body.value)?;
    let reason = Reason::parse(&body.dto.reason)
        .map_err(|m| ApiError::Validation(vec![FieldError::new("reason", m)]))?;
    let export = state
        .app
        .export_customer(&ctx, customer_id, &reason)
        .await?;
    Ok(never_cached(Json(export)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChangeDto {
    pub marketing: bool,
}

/// `PUT /customers/{id}/consent/marketing`: give or withdraw marketing consent.
pub async fn marketing_consent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ConsentChangeDto>,
) -> Result<Response, ApiError> {
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "marketing_consent", &id, &body.value)?;
    let outcome = state
        .app
        .set_marketing_consent(&ctx, customer_id, body.dto.marketing)
        .await?;
    Ok(outcome_response(outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTestDto {
    pub service_id: Option<String>,
    pub done_on: Option<String>,
    pub result: Option<String>,
}

/// `POST /customers/{id}/patch-tests`: record a patch test of a service (SVC-3).
pub async fn record_patch_test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PatchTestDto>,
) -> Result<Response, ApiError> {
    use events_schema::customer::PatchTestResult;
    let customer_id = customer_id(&id)?;
    let ctx = command_context(&caller, &headers, "record_patch_test", &id, &body.value)?;
    let mut errors = Vec::new();
    let service_id = match body.dto.service_id.as_deref().map(str::parse) {
        Some(Ok(s)) => Some(s),
        _ => {
            errors.push(FieldError::new(
                "service_id",
                "must be a service's id (UUID)",
            ));
            None
        }
    };
    let done_on = match body
        .dto
        .done_on
        .as_deref()
        .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d"))
    {
        Some(Ok(d)) => Some(d),
        _ => {
            errors.push(FieldError::new(
                "done_on",
                "must be the date the test was done (YYYY-MM-DD)",
            ));
            None
        }
    };
    let result = match body.dto.result.as_deref().and_then(PatchTestResult::parse) {
        Some(r) => Some(r),
        None => {
            errors.push(FieldError::new(
                "result",
                "must be \"passed\" or \"failed\"",
            ));
            None
        }
    };
    let (Some(service_id), Some(done_on), Some(result), true) =
        (service_id, done_on, result, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let outcome = state
        .app
        .record_patch_test(
            &ctx,
            crate::app::patch_tests::RecordPatchTest {
                customer_id,
                service_id,
                done_on,
                result,
            },
        )
        .await?;
    Ok(outcome_response(outcome))
}
