//! `POST /categories` and `PUT /categories/{id}` (SVC-1).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, outcome_response, AppState};
use crate::app::catalogue::{CategoryFields, ChangeCategory};
use crate::app::error::FieldError;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use events_schema::ids::CategoryId;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDto {
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeDto {
    pub expected_version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i64>,
}

fn name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 32 || t.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "must be 1 to 32 characters"));
        return None;
    }
    Some(t.to_owned())
}

fn description(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let t = raw.trim();
    if t.chars().count() > 500 || t.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(FieldError::new(
            "description",
            "must be at most 500 characters",
        ));
        return None;
    }
    Some(t.to_owned())
}

fn position(raw: i64, errors: &mut Vec<FieldError>) -> Option<i32> {
    match i32::try_from(raw).ok().filter(|p| (1..=1000).contains(p)) {
        Some(p) => Some(p),
        None => {
            errors.push(FieldError::new("position", "must be 1 to 1000"));
            None
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CreateDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "create_category", "", &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let n = match dto.name.as_deref() {
        Some(n) => name(n, &mut errors),
        None => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
    };
    let d = description(dto.description.as_deref().unwrap_or(""), &mut errors);
    let p = position(dto.position.unwrap_or(1000), &mut errors);
    let (Some(name), Some(description), Some(position), true) = (n, d, p, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let outcome = state
        .app
        .create_category(
            &ctx,
            CategoryFields {
                name,
                description,
                position,
            },
        )
        .await?;
    Ok(outcome_response(outcome))
}

pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ChangeDto>,
) -> Result<Response, ApiError> {
    let category_id: CategoryId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("category id must be a UUID".into()))?;
    let ctx = command_context(&caller, &headers, "change_category", &id, &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let n = dto.name.as_deref().map(|n| name(n, &mut errors));
    let d = dto
        .description
        .as_deref()
        .map(|d| description(d, &mut errors));
    let p = dto.position.map(|p| position(p, &mut errors));
    if n.is_none() && d.is_none() && p.is_none() {
        errors.push(FieldError::new(
            "name",
            "give at least one of name, description and position",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let outcome = state
        .app
        .change_category(
            &ctx,
            ChangeCategory {
                category_id,
                expected_version: dto.expected_version,
                name: n.flatten(),
                description: d.flatten(),
                position: p.flatten(),
            },
        )
        .await?;
    Ok(outcome_response(outcome))
}

// ---- services (SVC-2) ----

use events_schema::catalogue::{LevelTerms, Segments, ServiceDetails};
use events_schema::ids::ServiceId;
use rust_decimal::Decimal;
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsDto {
    #[serde(default)]
    pub buffer_before: i64,
    #[serde(default)]
    pub work: i64,
    #[serde(default)]
    pub processing: i64,
    #[serde(default)]
    pub finishing: i64,
    #[serde(default)]
    pub buffer_after: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDto {
    pub level: String,
    pub price: serde_json::Value,
    pub segments: Option<SegmentsDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDto {
    pub category_id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub segments: Option<SegmentsDto>,
    pub price: Option<serde_json::Value>,
    #[serde(default)]
    pub levels: Vec<LevelDto>,
    #[serde(default)]
    pub suitable_groups: Vec<String>,
    #[serde(default)]
    pub contraindicated_groups: Vec<String>,
    #[serde(default)]
    pub process_steps: Vec<String>,
    #[serde(default)]
    pub required_skills: Vec<String>,
    pub required_room_kind: Option<String>,
    pub max_simultaneous_bookings: Option<i64>,
    pub requires_patch_test_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceChangeDto {
    pub expected_version: Option<i64>,
    pub reason: Option<String>,
    pub details: ServiceDto,
}

/// A price in the tenant's currency (CNY: at most 2 decimals), above zero.
fn price(field: &str, raw: &serde_json::Value, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    let text = match raw {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let parsed = Decimal::from_str(&text).ok();
    match parsed {
        None => errors.push(FieldError::new(
            field,
            "must be a decimal amount such as \"268.00\"",
        )),
        Some(p) if p.scale() > 2 && p.normalize().scale() > 2 => errors.push(FieldError::new(
            field,
            "has more decimals than the currency (CNY: 2)",
        )),
        Some(p) if p <= Decimal::ZERO || p > Decimal::from(1_000_000) => {
            errors.push(FieldError::new(
                field,
                "must be above 0 and at most 1000000",
            ));
        }
        Some(p) => return Some(p.round_dp(2)),
    }
    None
}

fn segments(field: &str, raw: &SegmentsDto, errors: &mut Vec<FieldError>) -> Option<Segments> {
    let mut ok = true;
    let mut minutes = |name: &str, v: i64| -> u16 {
        match u16::try_from(v).ok().filter(|m| *m <= 600) {
            Some(m) => m,
            None => {
                errors.push(FieldError::new(
                    format!("{field}.{name}"),
                    "must be 0 to 600 minutes",
                ));
                ok = false;
                0
            }
        }
    };
    let s = Segments {
        buffer_before: minutes("buffer_before", raw.buffer_before),
        work: minutes("work", raw.work),
        processing: minutes("processing", raw.processing),
        finishing: minutes("finishing", raw.finishing),
        buffer_after: minutes("buffer_after", raw.buffer_after),
    };
    if ok && s.work == 0 {
        errors.push(FieldError::new(
            format!("{field}.work"),
            "must be above 0 (a service takes some work)",
        ));
        ok = false;
    }
    if ok && s.total() > 720 {
        errors.push(FieldError::new(field, "must add up to at most 720 minutes"));
        ok = false;
    }
    ok.then_some(s)
}

fn list(field: &str, raw: &[String], max_len: usize, errors: &mut Vec<FieldError>) -> Vec<String> {
    if raw.len() > 30 {
        errors.push(FieldError::new(field, "at most 30 entries"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let t = item.trim();
        if t.is_empty() || t.chars().count() > max_len || t.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("must be 1 to {max_len} characters"),
            ));
        } else {
            out.push(t.to_owned());
        }
    }
    out
}

impl ServiceDto {
    pub fn parse(self) -> Result<ServiceDetails, Vec<FieldError>> {
        let mut errors = Vec::new();
        let category_id = match self.category_id.as_deref() {
            None => {
                errors.push(FieldError::new("category_id", "is required"));
                None
            }
            Some(c) => c.parse::<CategoryId>().ok().or_else(|| {
                errors.push(FieldError::new(
                    "category_id",
                    "must be a category id (UUID)",
                ));
                None
            }),
        };
        let name = match self.name.as_deref().map(str::trim) {
            Some(n)
                if !n.is_empty() && n.chars().count() <= 64 && !n.chars().any(char::is_control) =>
            {
                Some(n.to_owned())
            }
            Some(_) => {
                errors.push(FieldError::new("name", "must be 1 to 64 characters"));
                None
            }
            None => {
                errors.push(FieldError::new("name", "is required"));
                None
            }
        };
        let description = self.description.trim().to_owned();
        if description.chars().count() > 2000 {
            errors.push(FieldError::new(
                "description",
                "must be at most 2000 characters",
            ));
        }
        let segs = match &self.segments {
            None => {
                errors.push(FieldError::new(
                    "segments",
                    "is required (at least work minutes)",
                ));
                None
            }
            Some(s) => segments("segments", s, &mut errors),
        };
        let base_price = match &self.price {
            None => {
                errors.push(FieldError::new("price", "is required"));
                None
            }
            Some(p) => price("price", p, &mut errors),
        };
        let mut levels: Vec<LevelTerms> = Vec::new();
        for (i, l) in self.levels.iter().enumerate() {
            let at = format!("levels[{i}]");
            let level = l.level.trim();
            if level.is_empty() || level.chars().count() > 32 {
                errors.push(FieldError::new(
                    format!("{at}.level"),
                    "must be 1 to 32 characters",
                ));
                continue;
            }
            if levels.iter().any(|x| x.level == level) {
                errors.push(FieldError::new(format!("{at}.level"), "appears twice"));
                continue;
            }
            let p = price(&format!("{at}.price"), &l.price, &mut errors);
            let s = l
                .segments
                .as_ref()
                .map(|s| segments(&format!("{at}.segments"), s, &mut errors));
            if let (Some(price), false) = (p, matches!(s, Some(None))) {
                levels.push(LevelTerms {
                    level: level.to_owned(),
                    price,
                    segments: s.flatten(),
                });
            }
        }
        let suitable_groups = list("suitable_groups", &self.suitable_groups, 100, &mut errors);
        let contraindicated_groups = list(
            "contraindicated_groups",
            &self.contraindicated_groups,
            100,
            &mut errors,
        );
        let process_steps = list("process_steps", &self.process_steps, 500, &mut errors);
        let required_skills = list("required_skills", &self.required_skills, 64, &mut errors);
        let required_room_kind = match self.required_room_kind.as_deref().map(str::trim) {
            None => None,
            Some(k)
                if !k.is_empty()
                    && k.len() <= 32
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Some(k.to_owned())
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "required_room_kind",
                    "must be 1 to 32 of a-z, 0-9 and _ (a room kind of the location)",
                ));
                None
            }
        };
        let max_simultaneous_bookings = match self.max_simultaneous_bookings {
            None => None,
            Some(n) => match u32::try_from(n).ok().filter(|n| (1..=100).contains(n)) {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::new(
                        "max_simultaneous_bookings",
                        "must be 1 to 100 (leave it out for no limit of its own)",
                    ));
                    None
                }
            },
        };
        let requires_patch_test_days = match self.requires_patch_test_days {
            None => None,
            Some(n) => match u32::try_from(n).ok().filter(|n| (1..=365).contains(n)) {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::new(
                        "requires_patch_test_days",
                        "must be 1 to 365: how many days before the visit a passed patch \
                         test stays valid (leave it out when none is needed)",
                    ));
                    None
                }
            },
        };
        match (category_id, name, segs, base_price) {
            (Some(category_id), Some(name), Some(segments), Some(price)) if errors.is_empty() => {
                Ok(ServiceDetails {
                    category_id,
                    name,
                    description,
                    segments,
                    price,
                    levels,
                    suitable_groups,
                    contraindicated_groups,
                    process_steps,
                    required_skills,
                    required_room_kind,
                    max_simultaneous_bookings,
                    requires_patch_test_days,
                })
            }
            _ => Err(errors),
        }
    }
}

fn service_id(id: &str) -> Result<ServiceId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest("service id must be a UUID".into()))
}

pub async fn create_service(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<ServiceDto>,
) -> Result<Response, ApiError> {
    let ctx = command_context(&caller, &headers, "create_service", "", &body.value)?;
    let details = body.dto.parse().map_err(ApiError::Validation)?;
    Ok(outcome_response(
        state.app.create_service(&ctx, details).await?,
    ))
}

pub async fn change_service(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<ServiceChangeDto>,
) -> Result<Response, ApiError> {
    let service = service_id(&id)?;
    let ctx = command_context(&caller, &headers, "change_service", &id, &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let reason = match dto.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() && r.chars().count() <= 500 => Some(r.to_owned()),
        Some(_) => {
            errors.push(FieldError::new("reason", "must be 1 to 500 characters"));
            None
        }
        None => {
            errors.push(FieldError::new("reason", "a reason is required"));
            None
        }
    };
    let details = dto.details.parse().map_err(|more| {
        more.into_iter()
            .map(|mut e| {
                e.field = format!("details.{}", e.field);
                e
            })
            .collect::<Vec<_>>()
    });
    let (Some(reason), Ok(details), true) = (reason, &details, errors.is_empty()) else {
        if let Err(more) = details {
            errors.extend(more);
        }
        return Err(ApiError::Validation(errors));
    };
    Ok(outcome_response(
        state
            .app
            .change_service(&ctx, service, dto.expected_version, details.clone(), reason)
            .await?,
    ))
}

async fn publication(
    state: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
    publish: bool,
) -> Result<Response, ApiError> {
    let service = service_id(&id)?;
    let op = if publish {
        "publish_service"
    } else {
        "unpublish_service"
    };
    let ctx = command_context(&caller, &headers, op, &id, &body.value)?;
    Ok(outcome_response(
        state.app.publish_service(&ctx, service, publish).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyDto {}

pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
) -> Result<Response, ApiError> {
    publication(state, caller, id, headers, body, true).await
}

pub async fn unpublish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<EmptyDto>,
) -> Result<Response, ApiError> {
    publication(state, caller, id, headers, body, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceDto {
    pub price: Option<serde_json::Value>,
    /// RFC 3339 instant; none: now.
    pub effective_at: Option<String>,
    pub method: Option<String>,
    pub reason: Option<String>,
    pub override_reason: Option<String>,
}

/// `POST /services/{id}/prices`: a new price from now or a future instant (SVC-4/5).
pub async fn change_price(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<PriceDto>,
) -> Result<Response, ApiError> {
    use crate::app::catalogue::NewPrice;
    use events_schema::catalogue::PricingMethod;
    let service = service_id(&id)?;
    let ctx = command_context(&caller, &headers, "change_price", &id, &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let new_price = match &dto.price {
        Some(p) => price("price", p, &mut errors),
        None => {
            errors.push(FieldError::new("price", "is required"));
            None
        }
    };
    let effective_at = match dto.effective_at.as_deref() {
        None => Some(None),
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t.trim()) {
            Ok(t) => Some(Some(t.with_timezone(&chrono::Utc))),
            Err(_) => {
                errors.push(FieldError::new(
                    "effective_at",
                    "must be an RFC 3339 instant (2027-03-01T00:00:00+08:00)",
                ));
                None
            }
        },
    };
    let method = match dto
        .method
        .as_deref()
        .map(str::trim)
        .map(PricingMethod::parse)
    {
        Some(Some(m)) => Some(m),
        _ => {
            errors.push(FieldError::new(
                "method",
                "must be one of cost, market, demand, composite",
            ));
            None
        }
    };
    let text =
        |field: &str, raw: Option<&str>, required: bool, errors: &mut Vec<FieldError>| match raw
            .map(str::trim)
        {
            Some(r) if !r.is_empty() && r.chars().count() <= 500 => Some(Some(r.to_owned())),
            None if !required => Some(None),
            None => {
                errors.push(FieldError::new(field, "is required"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(field, "must be 1 to 500 characters"));
                None
            }
        };
    let reason = text("reason", dto.reason.as_deref(), true, &mut errors);
    let override_reason = text(
        "override_reason",
        dto.override_reason.as_deref(),
        false,
        &mut errors,
    );
    let (
        Some(price),
        Some(effective_at),
        Some(method),
        Some(Some(reason)),
        Some(override_reason),
        true,
    ) = (
        new_price,
        effective_at,
        method,
        reason,
        override_reason,
        errors.is_empty(),
    )
    else {
        return Err(ApiError::Validation(errors));
    };
    Ok(outcome_response(
        state
            .app
            .change_price(
                &ctx,
                service,
                NewPrice {
                    price,
                    effective_at,
                    method,
                    reason,
                    override_reason,
                },
            )
            .await?,
    ))
}
