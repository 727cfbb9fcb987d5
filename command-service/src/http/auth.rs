//! `POST /auth/login`: tenant slug, login and password → access and refresh tokens;
//! `POST /auth/refresh`: a refresh token → the next pair; `POST /auth/logout`.

use super::error::ApiError;
use super::extract::{ApiJson, ClientAddr};
use super::AppState;
use crate::app::sessions::Session;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
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
