//! Staff accounts: `POST /accounts` (create), `POST /accounts/{id}/role`,
//! `POST /accounts/{id}/deactivate`, and `POST /auth/password` (the caller's own).

use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::{command_context, AppState};
use crate::app::accounts::{AccountSaved, NewAccount};
use crate::app::error::FieldError;
use crate::domain::identity::{LoginName, Password};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use events_schema::envelope::Role;
use events_schema::ids::AccountId;
use serde::Deserialize;

/// Longest reason accepted for an account change.
const MAX_REASON_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDto {
    pub login: String,
    pub password: String,
    pub role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDto {
    pub role: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivateDto {
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordDto {
    pub current_password: String,
    pub new_password: String,
}

fn role(field: &str, s: &str, errors: &mut Vec<FieldError>) -> Option<Role> {
    let parsed = Role::parse(s).filter(|r| crate::domain::identity::is_staff(*r));
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "must be one of owner, manager, front_desk, technician, finance, marketing, auditor",
        ));
    }
    parsed
}

fn reason(s: &str, errors: &mut Vec<FieldError>) -> String {
    let t = s.trim();
    if t.is_empty() {
        errors.push(FieldError::new("reason", "a reason is required"));
    } else if t.chars().count() > MAX_REASON_CHARS {
        errors.push(FieldError::new("reason", "must be at most 500 characters"));
    }
    t.to_owned()
}

fn account_id(id: &str) -> Result<AccountId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest("account id must be a UUID".into()))
}

fn checked<T>(errors: Vec<FieldError>, value: Option<T>) -> Result<T, ApiError> {
    match value {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(ApiError::Validation(errors)),
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: ApiJson<CreateDto>,
) -> Result<(StatusCode, Json<AccountSaved>), ApiError> {
    let ctx = command_context(&caller, &headers, "create_account", "", &body.value)?;
    let dto = body.dto;
    let mut errors = Vec::new();
    let login = LoginName::parse(&dto.login)
        .map_err(|m| errors.push(FieldError::new("login", m)))
        .ok();
    let password = Password::parse(&dto.password)
        .map_err(|m| errors.push(FieldError::new("password", m)))
        .ok();
    let role = role("role", &dto.role, &mut errors);
    let new = checked(
        errors,
        login
            .zip(password)
            .zip(role)
            .map(|((login, password), role)| NewAccount {
                login,
                password,
                role,
            }),
    )?;
    let saved = state.app.create_account(&ctx, new).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<RoleDto>,
) -> Result<Json<AccountSaved>, ApiError> {
    let account = account_id(&id)?;
    let ctx = command_context(&caller, &headers, "change_account_role", &id, &body.value)?;
    let mut errors = Vec::new();
    let new_role = role("role", &body.dto.role, &mut errors);
    let why = reason(&body.dto.reason, &mut errors);
    let new_role = checked(errors, new_role)?;
    Ok(Json(
        state
            .app
            .change_account_role(&ctx, account, new_role, &why)
            .await?,
    ))
}

pub async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: ApiJson<DeactivateDto>,
) -> Result<Json<AccountSaved>, ApiError> {
    let account = account_id(&id)?;
    let ctx = command_context(&caller, &headers, "deactivate_account", &id, &body.value)?;
    let mut errors = Vec::new();
    let why = reason(&body.dto.reason, &mut errors);
    checked(errors, Some(()))?;
    Ok(Json(
        state.app.deactivate_account(&ctx, account, &why).await?,
    ))
}

pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<PasswordDto>,
) -> Result<StatusCode, ApiError> {
    // No Idempotency-Key here: nothing derived from a body holding passwords is stored.
    let ctx = command_context(
        &caller,
        &HeaderMap::new(),
        "change_password",
        "",
        &serde_json::Value::Null,
    )?;
    if body.dto.current_password.len() > 1024 {
        return Err(ApiError::Validation(vec![FieldError::new(
            "current_password",
            "is too long",
        )]));
    }
    let new = Password::parse(&body.dto.new_password)
        .map_err(|m| ApiError::Validation(vec![FieldError::new("new_password", m)]))?;
    state
        .app
        .change_password(&ctx, &body.dto.current_password, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
