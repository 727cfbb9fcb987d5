//! HTTP API of command-service. [`router`] lists every route in one place.

pub mod accounts;
pub mod auth;
pub mod bookings;
pub mod catalogue;
pub mod customers;
pub mod error;
pub mod extract;
pub mod images;
pub mod locations;
pub mod openapi;
pub mod staff;
pub mod waitlist;

use crate::app::{command_id_from_key, request_hash, App, CommandContext};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use error::ApiError;
use events_schema::ids::CommandId;
use events_schema::permissions::{self, Denied, Service};
use extract::Caller;

/// Largest accepted request body (but an image's: `images::UPLOAD_BODY_LIMIT`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The router's state: cloned for every request (by each `State` extractor), so it
/// shares the application rather than copying its handles.
#[derive(Clone)]
pub struct AppState {
    pub app: std::sync::Arc<App>,
}

/// Every route of the service; each is let through by [`authorize`] according to its
/// rule in `permissions::ROUTES`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/customer/code", post(auth::request_code))
        .route("/auth/customer/sign-in", post(auth::sign_in))
        .route("/auth/password", post(accounts::change_password))
        .route("/accounts", post(accounts::create))
        .route("/accounts/{id}/role", post(accounts::change_role))
        .route("/accounts/{id}/deactivate", post(accounts::deactivate))
        .route("/categories", post(catalogue::create))
        .route("/categories/{id}", put(catalogue::change))
        .route("/services", post(catalogue::create_service))
        .route("/services/{id}", put(catalogue::change_service))
        .route("/services/{id}/publish", post(catalogue::publish))
        .route("/services/{id}/unpublish", post(catalogue::unpublish))
        .route("/services/{id}/prices", post(catalogue::change_price))
        .route("/bookings", post(bookings::place))
        .route("/locations/{id}/availability", get(bookings::availability))
        .route("/bookings/{id}/cancel", post(bookings::cancel))
        .route("/bookings/{id}/reschedule", post(bookings::reschedule))
        .route("/bookings/{id}/check-in", post(bookings::check_in))
        .route("/bookings/{id}/complete", post(bookings::complete))
        .route("/bookings/{id}/no-show", post(bookings::no_show))
        .route("/me/bookings", post(bookings::place_own))
        .route(
            "/me/bookings/{id}/reschedule",
            post(bookings::reschedule_own),
        )
        .route("/me/bookings/{id}/cancel", post(bookings::cancel_own))
        .route("/staff", post(staff::hire))
        .route("/staff/{id}", put(staff::change))
        .route("/staff/{id}/deactivate", post(staff::deactivate))
        .route("/staff/{id}/erase", post(staff::erase))
        .route("/staff/{id}/rota", post(staff::edit_rota))
        .route("/shift-templates", post(staff::create_template))
        .route("/shift-templates/{id}", put(staff::change_template))
        .route("/settings", put(staff::change_settings))
        .route(
            "/services/{id}/images",
            post(images::upload).layer(DefaultBodyLimit::max(images::UPLOAD_BODY_LIMIT)),
        )
        .route("/services/{id}/images/{image_id}", delete(images::remove))
        .route("/waitlist", post(waitlist::join))
        .route("/waitlist/{id}/leave", post(waitlist::leave))
        .route("/waitlist/offers/{id}/accept", post(waitlist::accept))
        .route("/waitlist/offers/{id}/decline", post(waitlist::decline))
        .route("/locations", post(locations::create))
        .route("/locations/{id}", put(locations::change))
        .route("/customers", post(customers::register))
        .route("/customers/{id}", patch(customers::change))
        .route("/customers/{id}/reveal", post(customers::reveal))
        .route("/customers/{id}/erase", post(customers::erase))
        .route("/customers/{id}/export", post(customers::export))
        .route(
            "/customers/{id}/patch-tests",
            post(customers::record_patch_test),
        )
        .route(
            "/customers/{id}/consent/marketing",
            put(customers::marketing_consent),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
        Service::Command,
        req.method().as_str(),
        matched.as_ref().map_or("", |m| m.as_str()),
        req.headers()
            .get(axum::http::header::AUTHORIZATION)
            .map(|h| h.as_bytes()),
        &state.app.tokens,
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

/// A command's outcome as its HTTP response (status and JSON body).
pub(crate) fn outcome_response(outcome: crate::app::Outcome) -> Response {
    let status =
        axum::http::StatusCode::from_u16(outcome.status).unwrap_or(axum::http::StatusCode::OK);
    (status, Json(outcome.body)).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Builds the command context: the `Idempotency-Key` header (or a fresh id) and, for a
/// keyed command, the request hash over operation, target and body (an unkeyed command
/// can never be sent again under its id, so it needs none).
pub fn command_context(
    caller: &Caller,
    headers: &HeaderMap,
    operation: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<CommandContext, ApiError> {
    let (command_id, keyed) = match headers.get("idempotency-key") {
        None => (CommandId::new(), false),
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
                    )
                })?;
            (command_id_from_key(key), true)
        }
    };
    let correlation_id = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .unwrap_or_else(uuid::Uuid::now_v7);
    Ok(CommandContext {
        tenant: caller.tenant,
        actor: caller.actor(),
        command_id,
        request_hash: if keyed {
            request_hash(operation, target, body)
        } else {
            String::new()
        },
        correlation_id,
    })
}
