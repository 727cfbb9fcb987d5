//! `POST /auth/login`: tenant slug, login and password → bearer token.

use super::error::ApiError;
use super::extract::{ApiJson, ClientAddr};
use super::AppState;
use axum::extract::State;
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
) -> Result<Json<crate::app::identity::LoginOutcome>, ApiError> {
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
