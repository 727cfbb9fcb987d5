//! HTTP API of query-service. [`router`] lists every route in one place.

pub mod audit;
pub mod customers;
pub mod error;
pub mod openapi;

use axum::extract::{FromRequestParts, MatchedPath, Query, Request, State};
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::Pool;
use error::ApiError;
use events_schema::envelope::Role;
use events_schema::ids::{AccountId, TenantId};
use events_schema::keystore::KeyStore;
use events_schema::permissions::{self, Denied, Service};
use events_schema::token::TokenSecret;
use serde::de::DeserializeOwned;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keys: KeyStore,
    pub tokens: TokenSecret,
}

/// Every route of the service; each is let through by [`authorize`] according to its
/// rule in `permissions::ROUTES`.
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
        .route("/audit/chain", get(audit::chain))
        .route("/audit/disclosures", get(audit::disclosures))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Deny by default: the matched route's rule decides (public, or a token whose role
/// may perform the route's operation); the caller is handed to the handler.
async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let decision = permissions::authorize(
        Service::Query,
        req.method().as_str(),
        matched.as_ref().map_or("", |m| m.as_str()),
        req.headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(|h| h.as_bytes()),
        &state.tokens,
        chrono::Utc::now().timestamp(),
    );
    match decision {
        Ok(Some(claims)) => {
            req.extensions_mut().insert(Caller {
                tenant: claims.tenant,
                account: claims.sub,
                role: claims.role,
            });
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(Denied::Unauthenticated(message)) => ApiError::Unauthorized(message).into_response(),
        Err(Denied::Forbidden) => ApiError::Forbidden.into_response(),
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The authenticated caller, put there by [`authorize`] from the bearer token; tenant
/// and role come from the token only.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub account: AccountId,
    pub role: Role,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .copied()
            .ok_or(ApiError::Unauthorized("a bearer token is required"))
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
