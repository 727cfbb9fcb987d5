//! `POST /auth/login`: tenant slug, login and password → access and refresh tokens;
//! `POST /auth/refresh`: a refresh token → the next pair; `POST /auth/logout`;
//! customers: `POST /auth/customer/code` and `POST /auth/customer/sign-in`.

use super::customers::{ConsentDto, RegisterDto};
use super::error::ApiError;
use super::extract::{ApiJson, ClientAddr};
use super::AppState;
use crate::app::sessions::Session;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use events_schema::values::Phone;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginDto {
    pub tenant: String,
    pub login: String,
    pub password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<LoginDto>,
) -> Result<Json<Session>, ApiError> {
    let dto = body.dto;
    if dto.password.len() > 1024 {
        return Err(ApiError::BadRequest("password is too long".into()));
    }
    let outcome = state
        .app
        .login(dto.tenant.trim(), &dto.login, &dto.password, client)
        .await?;
    Ok(Json(outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshDto {
    pub refresh_token: String,
}

fn refresh_token(dto: &RefreshDto) -> Result<&str, ApiError> {
    let t = dto.refresh_token.trim();
    if t.is_empty() || t.len() > 128 {
        return Err(ApiError::BadRequest(
            "refresh_token must be the token a login or refresh returned".into(),
        ));
    }
    Ok(t)
}

pub async fn refresh(
    State(state): State<AppState>,
    body: ApiJson<RefreshDto>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(state.app.refresh(refresh_token(&body.dto)?).await?))
}

pub async fn logout(
    State(state): State<AppState>,
    body: ApiJson<RefreshDto>,
) -> Result<StatusCode, ApiError> {
    state.app.logout(refresh_token(&body.dto)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequestDto {
    pub tenant: String,
    pub phone: String,
}

fn parse_phone(raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw).map_err(|e| {
        ApiError::Validation(vec![crate::app::error::FieldError::new(
            "phone",
            e.to_string(),
        )])
    })
}

/// `POST /auth/customer/code`: sends a one-time sign-in code to the phone (202 whether
/// or not the salon or the phone is known).
pub async fn request_code(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<CodeRequestDto>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let dto = body.dto;
    let phone = parse_phone(&dto.phone)?;
    state
        .app
        .request_sign_in_code(dto.tenant.trim(), &phone, client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "message": "if this salon exists, a sign-in code is on its way to this phone",
            "expires_in": crate::app::sign_in::CODE_TTL.as_secs(),
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInDto {
    pub tenant: String,
    pub phone: String,
    pub code: String,
    /// Sign-up only (a phone new to the salon): her name, consent and, if she likes,
    /// a few more details.
    pub name: Option<String>,
    pub consent: Option<ConsentDto>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub email: Option<String>,
}

/// `POST /auth/customer/sign-in`: a code from `/auth/customer/code` → a customer
/// session (signing her up first when the phone is new and her details are given).
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<SignInDto>,
) -> Result<Json<Session>, ApiError> {
    let dto = body.dto;
    let phone = parse_phone(&dto.phone)?;
    let code = dto.code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Validation(vec![
            crate::app::error::FieldError::new("code", "must be the 6 digits sent to the phone"),
        ]));
    }
    let signs_up = dto.name.is_some()
        || dto.consent.is_some()
        || dto.gender.is_some()
        || dto.birthday.is_some()
        || dto.email.is_some();
    let registration = if signs_up {
        let register = RegisterDto {
            name: dto.name,
            phone: Some(dto.phone.clone()),
            gender: dto.gender,
            birthday: dto.birthday,
            email: dto.email,
            id_number: None,
            address: None,
            source_channel: Some("online".into()),
            tags: Vec::new(),
            notes: None,
            allergies: None,
            conditions: None,
            consent: dto.consent,
        };
        Some(
            register
                .parse(chrono::Utc::now().date_naive())
                .map_err(ApiError::Validation)?,
        )
    } else {
        None
    };
    let session = state
        .app
        .sign_in_with_code(dto.tenant.trim(), &phone, code, registration, client)
        .await?;
    Ok(Json(session))
}
