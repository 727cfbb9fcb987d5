//! HTTP API of query-service. [`router`] lists every route in one place.

pub mod audit;
pub mod bookings;
pub mod catalogue;
pub mod customers;
pub mod error;
pub mod images;
pub mod locations;
pub mod openapi;
pub mod staff;
pub mod utilisation;
pub mod waitlist;

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
    /// Reads waiting for a consistency token, and the one watcher serving them.
    pub waits: std::sync::Arc<crate::consistency::Waits>,
    pub keys: KeyStore,
    pub tokens: TokenSecret,
    /// Admits full-chain verifications (one at a time, a few per tenant and hour).
    pub chain_gate: std::sync::Arc<crate::limits::ChainGate>,
}

/// Every route of the service; each is let through by [`authorize`] according to its
/// rule in `permissions::ROUTES`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/customers", get(customers::search))
        .route("/customers/{id}", get(customers::detail))
        .route("/me", get(customers::me))
        .route("/categories", get(catalogue::categories))
        .route("/services", get(catalogue::services))
        .route("/services/{id}/price", get(catalogue::price))
        .route("/public/{slug}/catalogue", get(catalogue::public_catalogue))
        .route("/staff", get(staff::search))
        .route("/staff/{id}", get(staff::detail))
        .route("/staff/{id}/history", get(staff::history))
        .route("/shift-templates", get(staff::templates))
        .route("/rota", get(staff::rota))
        .route("/me/rota", get(staff::own_rota))
        .route("/settings", get(staff::settings))
        .route(
            "/public/{slug}/images/{image_id}",
            get(images::public_image),
        )
        .route("/images/{image_id}", get(images::image))
        .route("/waitlist", get(waitlist::list))
        .route("/utilisation", get(utilisation::utilisation))
        .route("/locations", get(locations::list))
        .route("/locations/{id}", get(locations::detail))
        .route("/locations/{id}/opening", get(locations::opening))
        .route("/locations/{id}/calendar", get(bookings::calendar))
        .route("/customers/{id}/bookings", get(bookings::of_customer))
        .route("/me/bookings", get(bookings::mine))
        .route("/customers/{id}/history", get(customers::history))
        .route(
            "/audit/streams/{stream_id}/events",
            get(audit::stream_events),
        )
        .route("/audit/feed", get(audit::feed))
        .route("/audit/chain", get(audit::chain))
        .route("/audit/disclosures", get(audit::disclosures))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(REQUEST_DEADLINE, deadline))
        .with_state(state)
}

/// How long a request may run before it is abandoned (503 + `Retry-After`); the
/// database also stops any statement of the query role after 5 s
/// (`statement_timeout`, migration `projections/0003_resource_limits`).
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Abandons a request that runs past `limit` (its future is dropped: a read holds
/// nothing that needs finishing).
pub async fn deadline(
    State(limit): State<std::time::Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis(),
                "request abandoned at its deadline"
            );
            ApiError::TooSlow.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_request_past_its_deadline_gets_503_and_a_quick_one_its_answer() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/quick", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                std::time::Duration::from_millis(50),
                deadline,
            ));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(
                    Request::builder()
                        .uri(path)
                        .body(Body::empty())
                        .unwrap_or_default(),
                )
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
            }
        };
        assert_eq!(call("/slow").await, 503);
        assert_eq!(call("/quick").await, 200);
    }
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
                customer: claims.customer,
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
    /// A customer's own record (customer tokens only).
    pub customer: Option<events_schema::ids::CustomerId>,
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
