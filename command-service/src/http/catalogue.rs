//! `POST /categories` and `PUT /categories/{id}` (SVC-1).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, AppState};
use crate::app::catalogue::{CategoryFields, ChangeCategory};
use crate::app::error::FieldError;
use crate::app::Outcome;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
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

fn outcome_response(outcome: Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.status).unwrap_or(StatusCode::OK);
    (status, Json(outcome.body)).into_response()
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
