//! Bookings (APT-1..15): `POST /bookings`, `/bookings/{id}/cancel`,
//! `/bookings/{id}/reschedule`, `/bookings/{id}/check-in`, `/complete` and `/no-show`
//! by staff; `POST /me/bookings`, `/me/bookings/{id}/reschedule` and `/cancel` by a
//! signed-in customer, for herself only; availability. Every field is checked and
//! named before anything is decided.

use super::catalogue::EmptyDto;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::locations::text;
use super::{command_context, outcome_response, AppState};
use crate::app::bookings::{BookingRequest, Fold, ServiceRequest};
use crate::app::error::FieldError;
use crate::app::visits::{RescheduleRequest, VisitStep};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::NaiveDateTime;
use events_schema::ids::{BookingId, CustomerId, LocationId, RoomId, ServiceId, StaffId};
use events_schema::permissions::{allows, Operation};
use serde::Deserialize;

/// Most services in one visit.
const MAX_SERVICES: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDto {
    pub service_id: Option<String>,
    pub staff_id: Option<String>,
    pub room_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingDto {
    pub location_id: Option<String>,
    pub customer_id: Option<String>,
    /// Local wall-clock time at the location, `YYYY-MM-DDTHH:MM`.
    pub start: Option<String>,
    pub fold: Option<String>,
    #[serde(default)]
    pub services: Vec<ServiceDto>,
    pub override_reason: Option<String>,
}

fn uuid_field<T: std::str::FromStr>(
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

/// The visit's local start (`YYYY-MM-DDTHH:MM`).
fn start_field(raw: Option<&str>, e: &mut Vec<FieldError>) -> Option<NaiveDateTime> {
    match raw {
        None => {
            e.push(FieldError::new("start", "is required"));
            None
        }
        Some(s) => NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M")
            .map_err(|_| {
                e.push(FieldError::new(
                    "start",
                    "must be a local time at the location as YYYY-MM-DDTHH:MM",
                ))
            })
            .ok(),
    }
}

fn fold_field(raw: Option<&str>, e: &mut Vec<FieldError>) -> Option<Fold> {
    match raw {
        None => None,
        Some("earlier") => Some(Fold::Earlier),
        Some("later") => Some(Fold::Later),
        Some(_) => {
            e.push(FieldError::new("fold", "must be earlier or later"));
            None
        }
    }
}

/// A visit's services in order, one to [`MAX_SERVICES`].
fn services_field(raw: &[ServiceDto], e: &mut Vec<FieldError>) -> Vec<ServiceRequest> {
    if raw.is_empty() {
        e.push(FieldError::new("services", "at least one service"));
    }
    if raw.len() > MAX_SERVICES {
        e.push(FieldError::new(
            "services",
            format!("at most {MAX_SERVICES}"),
        ));
    }
    let mut services = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let at = |f: &str| format!("services[{i}].{f}");
        let service_id =
            uuid_field::<ServiceId>(&at("service_id"), s.service_id.as_deref(), true, e);
        let staff_id = uuid_field::<StaffId>(&at("staff_id"), s.staff_id.as_deref(), false, e);
        let room_id = uuid_field::<RoomId>(&at("room_id"), s.room_id.as_deref(), false, e);
        if let Some(service_id) = service_id {
            services.push(ServiceRequest {
                service_id,
                staff_id,
                room_id,
            });
        }
    }
    services
}

fn override_field(raw: Option<&str>, e: &mut Vec<FieldError>) -> Option<String> {
    match raw.map(|r| text(r, 500)) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(m)) => {
            e.push(FieldError::new("override_reason", m));
            None
        }
    }
}

impl BookingDto {
    fn parse(self) -> Result<BookingRequest, Vec<FieldError>> {
        let mut e = Vec::new();
        let location_id =
            uuid_field::<LocationId>("location_id", self.location_id.as_deref(), true, &mut e);
        let customer_id =
            uuid_field::<CustomerId>("customer_id", self.customer_id.as_deref(), true, &mut e);
        let start = start_field(self.start.as_deref(), &mut e);
        let fold = fold_field(self.fold.as_deref(), &mut e);
        let services = services_field(&self.services, &mut e);
        let override_reason = override_field(self.override_reason.as_deref(), &mut e);
        match (location_id, customer_id, start) {
            (Some(location_id), Some(customer_id), Some(start)) if e.is_empty() => {
                Ok(BookingRequest {
                    location_id,
                    customer_id,
                    start,
                    fold,
                    services,
                    override_reason,
                })
            }
            _ => Err(e),
        }
    }
}

pub async fn place(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<BookingDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "place_booking", "", &body.value)?;
    let request = body.dto.parse().map_err(ApiError::Validation)?;
    if request.override_reason.is_some() && !allows(caller.role, Operation::OverrideBookingRules) {
        return Err(ApiError::Forbidden);
    }
    Ok(outcome_response(
        state.app.place_booking(&ctx, request).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelDto {
    pub reason: Option<String>,
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<CancelDto>,
) -> Result<Response, ApiError> {
    let booking_id: BookingId = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("booking id must be a UUID".into()))?;
    let ctx = command_context(&caller, &headers, "cancel_booking", &raw, &body.value)?;
    let reason = match body.dto.reason.as_deref().map(|r| text(r, 500)) {
        Some(Ok(r)) => r,
        None => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "reason",
                "a reason is required",
            )]))
        }
        Some(Err(m)) => return Err(ApiError::Validation(vec![FieldError::new("reason", m)])),
    };
    Ok(outcome_response(
        state
            .app
            .cancel_booking(&ctx, booking_id, reason, None)
            .await?,
    ))
}

/// The signed-in customer's own record; an account without one books nothing.
fn her(caller: &Caller) -> Result<CustomerId, ApiError> {
    caller
        .customer
        .ok_or(ApiError::App(crate::app::AppError::NotFound(
            "customer record of this account",
        )))
}

fn booking_id(raw: &str) -> Result<BookingId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest("booking id must be a UUID".into()))
}

/// `POST /me/bookings`: the body of `POST /bookings` without `customer_id` (hers,
/// from the token) and `override_reason` (customers never override).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnBookingDto {
    pub location_id: Option<String>,
    pub start: Option<String>,
    pub fold: Option<String>,
    #[serde(default)]
    pub services: Vec<ServiceDto>,
}

pub async fn place_own(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<OwnBookingDto>,
) -> Result<Response, ApiError> {
    let customer = her(&caller)?;
    let ctx = command_context(&caller, &headers, "place_own_booking", "", &body.value)?;
    let dto = body.dto;
    let request = BookingDto {
        location_id: dto.location_id,
        customer_id: Some(customer.to_string()),
        start: dto.start,
        fold: dto.fold,
        services: dto.services,
        override_reason: None,
    }
    .parse()
    .map_err(ApiError::Validation)?;
    Ok(outcome_response(
        state.app.place_booking(&ctx, request).await?,
    ))
}

pub async fn cancel_own(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<CancelDto>,
) -> Result<Response, ApiError> {
    let customer = her(&caller)?;
    let id = booking_id(&raw)?;
    let ctx = command_context(&caller, &headers, "cancel_own_booking", &raw, &body.value)?;
    // Her reason is optional: the salon asks, she need not say.
    let reason = match body.dto.reason.as_deref().map(|r| text(r, 500)) {
        None => "cancelled by the customer".to_owned(),
        Some(Ok(r)) => r,
        Some(Err(m)) => return Err(ApiError::Validation(vec![FieldError::new("reason", m)])),
    };
    Ok(outcome_response(
        state
            .app
            .cancel_booking(&ctx, id, reason, Some(customer))
            .await?,
    ))
}

/// A move: the new local start, optionally each service's technician or room.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleDto {
    /// Local wall-clock time at the location, `YYYY-MM-DDTHH:MM`.
    pub start: Option<String>,
    pub fold: Option<String>,
    /// The booking's services in order; absent: the same technicians.
    pub services: Option<Vec<ServiceDto>>,
    pub override_reason: Option<String>,
}

impl RescheduleDto {
    fn parse(
        self,
        booking_id: BookingId,
        own: Option<CustomerId>,
    ) -> Result<RescheduleRequest, Vec<FieldError>> {
        let mut e = Vec::new();
        let start = start_field(self.start.as_deref(), &mut e);
        let fold = fold_field(self.fold.as_deref(), &mut e);
        let services = self.services.map(|s| services_field(&s, &mut e));
        let override_reason = override_field(self.override_reason.as_deref(), &mut e);
        match start {
            Some(start) if e.is_empty() => Ok(RescheduleRequest {
                booking_id,
                start,
                fold,
                services,
                override_reason,
                own,
            }),
            _ => Err(e),
        }
    }
}

pub async fn reschedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RescheduleDto>,
) -> Result<Response, ApiError> {
    let id = booking_id(&raw)?;
    let ctx = command_context(&caller, &headers, "reschedule_booking", &raw, &body.value)?;
    let request = body.dto.parse(id, None).map_err(ApiError::Validation)?;
    if request.override_reason.is_some() && !allows(caller.role, Operation::OverrideBookingRules) {
        return Err(ApiError::Forbidden);
    }
    Ok(outcome_response(
        state.app.reschedule_booking(&ctx, request).await?,
    ))
}

pub async fn reschedule_own(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RescheduleDto>,
) -> Result<Response, ApiError> {
    let customer = her(&caller)?;
    let id = booking_id(&raw)?;
    let ctx = command_context(
        &caller,
        &headers,
        "reschedule_own_booking",
        &raw,
        &body.value,
    )?;
    let request = body
        .dto
        .parse(id, Some(customer))
        .map_err(ApiError::Validation)?;
    if request.override_reason.is_some() {
        return Err(ApiError::Forbidden);
    }
    Ok(outcome_response(
        state.app.reschedule_booking(&ctx, request).await?,
    ))
}

async fn visit_step(
    state: AppState,
    caller: Caller,
    raw: String,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
    (operation, step): (&str, VisitStep),
) -> Result<Response, ApiError> {
    let id = booking_id(&raw)?;
    let ctx = command_context(&caller, &headers, operation, &raw, &body.value)?;
    Ok(outcome_response(
        state.app.record_visit(&ctx, id, step).await?,
    ))
}

/// `POST /bookings/{id}/check-in`: the customer arrived.
pub async fn check_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
) -> Result<Response, ApiError> {
    let what = ("check_in_booking", VisitStep::CheckIn);
    visit_step(state, caller, raw, headers, body, what).await
}

/// `POST /bookings/{id}/complete`: the visit took place.
pub async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
) -> Result<Response, ApiError> {
    let what = ("complete_booking", VisitStep::Complete);
    visit_step(state, caller, raw, headers, body, what).await
}

/// `POST /bookings/{id}/no-show`: the customer did not come.
pub async fn no_show(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
) -> Result<Response, ApiError> {
    let what = ("record_no_show", VisitStep::NoShow);
    visit_step(state, caller, raw, headers, body, what).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityParams {
    /// Comma-separated service ids, in the order of the visit.
    pub service_id: Option<String>,
    /// One technician for every service; absent: any who may.
    pub staff_id: Option<String>,
    /// First date (default: today at the location).
    pub date: Option<String>,
    /// How many dates (1 to 7, default 1).
    pub days: Option<u32>,
}

/// `GET /locations/{id}/availability?service_id=&staff_id=&date=&days=`.
pub async fn availability(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    query: Result<
        axum::extract::Query<AvailabilityParams>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let location_id: LocationId = raw
        .parse()
        .map_err(|_| ApiError::BadRequest("location id must be a UUID".into()))?;
    let axum::extract::Query(p) = query.map_err(|e| {
        ApiError::BadRequest(events_schema::values::redact_echoed_values(&e.body_text()))
    })?;
    let mut e = Vec::new();
    let staff_id = uuid_field::<StaffId>("staff_id", p.staff_id.as_deref(), false, &mut e);
    let mut services = Vec::new();
    match p
        .service_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => e.push(FieldError::new(
            "service_id",
            "is required (comma-separated ids)",
        )),
        Some(list) => {
            for (i, raw) in list.split(',').enumerate() {
                match raw.trim().parse::<ServiceId>() {
                    Ok(service_id) => services.push(ServiceRequest {
                        service_id,
                        staff_id,
                        room_id: None,
                    }),
                    Err(_) => e.push(FieldError::new(
                        format!("service_id[{i}]"),
                        "must be a UUID",
                    )),
                }
            }
            if services.len() > MAX_SERVICES {
                e.push(FieldError::new(
                    "service_id",
                    format!("at most {MAX_SERVICES}"),
                ));
            }
        }
    }
    let days = p.days.unwrap_or(1);
    if !(1..=crate::app::bookings::MAX_AVAILABILITY_DAYS).contains(&days) {
        e.push(FieldError::new("days", "must be 1 to 7"));
    }
    let from = match p.date.as_deref() {
        None => None,
        Some(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
            .map_err(|_| e.push(FieldError::new("date", "must be a date as YYYY-MM-DD")))
            .ok(),
    };
    if !e.is_empty() {
        return Err(ApiError::Validation(e));
    }
    let from = match from {
        Some(d) => d,
        None => {
            let tz: chrono_tz::Tz = state
                .app
                .location_settings(caller.tenant, location_id)
                .await?
                .ok_or(crate::app::AppError::NotFound("location"))?
                .time_zone
                .parse()
                .unwrap_or(chrono_tz::UTC);
            chrono::Utc::now().with_timezone(&tz).date_naive()
        }
    };
    let answer = state
        .app
        .availability(
            caller.tenant,
            crate::app::bookings::AvailabilityQuery {
                location_id,
                services,
                from,
                days,
            },
        )
        .await?;
    Ok(axum::Json(answer))
}
