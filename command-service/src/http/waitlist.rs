//! `POST /waitlist`, `POST /waitlist/{id}/leave`, `POST /waitlist/offers/{id}/accept`
//! and `/decline` (APT-13). Staff act for any customer of the salon; a customer signed
//! in with her own account acts for herself only (another's entry or offer is 404 to
//! her, as if it did not exist).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, outcome_response, AppState};
use crate::app::error::FieldError;
use crate::app::waitlist::JoinRequest;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use events_schema::envelope::Role;
use events_schema::ids::{CustomerId, LocationId, OfferId, ServiceId, StaffId, WaitlistEntryId};
use events_schema::waitlist::WantedService;
use serde::Deserialize;

/// Most services in one wanted visit.
const MAX_SERVICES: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WantedDto {
    pub service_id: Option<String>,
    pub staff_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDto {
    pub location_id: Option<String>,
    pub customer_id: Option<String>,
    /// Local date at the location, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Earliest local start, `HH:MM`.
    pub from: Option<String>,
    /// Latest local end, `HH:MM`.
    pub to: Option<String>,
    #[serde(default)]
    pub services: Vec<WantedDto>,
}

/// An empty body (the routes that take none still refuse unknown fields).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

fn id_field<T: std::str::FromStr>(
    field: &str,
    raw: Option<&str>,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match raw {
        None if required => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        None => None,
        Some(r) => r
            .trim()
            .parse()
            .map_err(|_| errors.push(FieldError::new(field, "must be a UUID")))
            .ok(),
    }
}

fn time(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<chrono::NaiveTime> {
    match raw {
        None => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(r) => chrono::NaiveTime::parse_from_str(r.trim(), "%H:%M")
            .map_err(|_| errors.push(FieldError::new(field, "must be a local time as HH:MM")))
            .ok(),
    }
}

impl JoinDto {
    /// The request, for `own` (a customer's own account) or for the customer named.
    fn parse(self, own: Option<CustomerId>) -> Result<JoinRequest, Vec<FieldError>> {
        let mut e = Vec::new();
        let location_id =
            id_field::<LocationId>("location_id", self.location_id.as_deref(), true, &mut e);
        let named = id_field::<CustomerId>(
            "customer_id",
            self.customer_id.as_deref(),
            own.is_none(),
            &mut e,
        );
        let customer_id = match (own, named) {
            (Some(own), Some(named)) if own != named => {
                e.push(FieldError::new(
                    "customer_id",
                    "a customer puts only herself on a waitlist (leave it out)",
                ));
                None
            }
            (Some(own), _) => Some(own),
            (None, named) => named,
        };
        let date = match self.date.as_deref() {
            None => {
                e.push(FieldError::new("date", "is required"));
                None
            }
            Some(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
                .map_err(|_| e.push(FieldError::new("date", "must be a date as YYYY-MM-DD")))
                .ok(),
        };
        let from = time("from", self.from.as_deref(), &mut e);
        let to = time("to", self.to.as_deref(), &mut e);
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                e.push(FieldError::new("to", "must be after from"));
            }
        }
        if self.services.is_empty() {
            e.push(FieldError::new("services", "at least one service"));
        }
        if self.services.len() > MAX_SERVICES {
            e.push(FieldError::new(
                "services",
                format!("at most {MAX_SERVICES}"),
            ));
        }
        let mut services = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = |f: &str| format!("services[{i}].{f}");
            let service_id =
                id_field::<ServiceId>(&at("service_id"), s.service_id.as_deref(), true, &mut e);
            let staff_id =
                id_field::<StaffId>(&at("staff_id"), s.staff_id.as_deref(), false, &mut e);
            if let Some(service_id) = service_id {
                services.push(WantedService {
                    service_id,
                    staff_id,
                });
            }
        }
        match (location_id, customer_id, date, from, to) {
            (Some(location_id), Some(customer_id), Some(date), Some(from), Some(to))
                if e.is_empty() =>
            {
                Ok(JoinRequest {
                    location_id,
                    customer_id,
                    date,
                    from,
                    to,
                    services,
                })
            }
            _ => Err(e),
        }
    }
}

/// The customer a caller may act for only: hers for a customer's own account, none
/// (anyone of the salon) for staff.
fn only(caller: &Caller) -> Result<Option<CustomerId>, ApiError> {
    match caller.role {
        Role::Customer => caller.customer.map(Some).ok_or(ApiError::Forbidden),
        _ => Ok(None),
    }
}

pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<JoinDto>,
) -> Result<Response, ApiError> {
    let own = only(&caller)?;
    let ctx = command_context(&caller, &headers, "join_waitlist", "", &body.value)?;
    let request = body.dto.parse(own).map_err(ApiError::Validation)?;
    Ok(outcome_response(
        state.app.join_waitlist(&ctx, request).await?,
    ))
}

pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<NoBody>,
) -> Result<Response, ApiError> {
    let entry: WaitlistEntryId = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("waitlist entry id must be a UUID".into()))?;
    let own = only(&caller)?;
    let ctx = command_context(&caller, &headers, "leave_waitlist", &raw, &body.value)?;
    Ok(outcome_response(
        state.app.leave_waitlist(&ctx, entry, own).await?,
    ))
}

pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<NoBody>,
) -> Result<Response, ApiError> {
    let offer: OfferId = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("offer id must be a UUID".into()))?;
    let own = only(&caller)?;
    let ctx = command_context(
        &caller,
        &headers,
        "accept_waitlist_offer",
        &raw,
        &body.value,
    )?;
    Ok(outcome_response(
        state.app.accept_offer(&ctx, offer, own).await?,
    ))
}

pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<NoBody>,
) -> Result<Response, ApiError> {
    let offer: OfferId = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("offer id must be a UUID".into()))?;
    let own = only(&caller)?;
    let ctx = command_context(
        &caller,
        &headers,
        "decline_waitlist_offer",
        &raw,
        &body.value,
    )?;
    Ok(outcome_response(
        state.app.decline_offer(&ctx, offer, own).await?,
    ))
}
