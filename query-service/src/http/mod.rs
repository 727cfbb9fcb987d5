//! HTTP API of query-service. [`router`] lists every route in one place.

pub mod audit;
pub mod customers;
pub mod error;
pub mod openapi;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use error::ApiError;
use events_schema::envelope::Role;
use events_schema::ids::{AccountId, TenantId};
use events_schema::keystore::KeyStore;
use events_schema::permissions::{allows, Operation};
use events_schema::token::TokenSecret;
use serde::de::DeserializeOwned;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keys: KeyStore,
    pub tokens: TokenSecret,
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/customers", get(customers::search))
        .route("/customers/{id}", get(customers::detail))
        .route("/customers/{id}/history", get(customers::history))
        .route(
            "/audit/streams/{stream_id}/events",
            get(audit::stream_events),
        )
        .route("/audit/feed", get(audit::feed))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The authenticated caller; tenant and role come from the token only.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub account: AccountId,
    pub role: Role,
}

impl Caller {
    /// Deny by default.
    pub fn require(&self, op: Operation) -> Result<(), ApiError> {
        if allows(self.role, op) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        let claims = state
            .tokens
            .verify_bearer(header.map(|h| h.as_bytes()), chrono::Utc::now().timestamp())
            .map_err(ApiError::Unauthorized)?;
        Ok(Caller {
            tenant: claims.tenant,
            account: claims.sub,
            role: claims.role,
        })
    }
}

/// Query-string extractor with our own error body; unknown parameters are refused.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                ApiError::BadRequest(events_schema::values::redact_echoed_values(&e.body_text()))
            })
    }
}
