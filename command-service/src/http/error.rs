//! The service's one error type at the HTTP edge. Each variant's status:
//! validation → 400 with per-field messages; bad/missing token → 401; permission → 403;
//! unknown record → 404; conflict → 409; erased → 410; body too large → 413;
//! domain rule → 422; dependency down → 503 + `Retry-After`; anything else → 500 with
//! no internals.

use crate::app::accounts::AccountError;
use crate::app::disclosures::RevealError;
use crate::app::error::FieldError;
use crate::app::AppError;
use crate::domain::customer::CustomerError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Validation(Vec<FieldError>),
    Unauthorized(&'static str),
    Forbidden,
    PayloadTooLarge,
    App(AppError),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation(fields) => ApiError::Validation(fields),
            other => ApiError::App(other),
        }
    }
}

fn body(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => body(StatusCode::BAD_REQUEST, "bad_request", &m),
            ApiError::Validation(fields) => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "validation_failed",
                    "message": format!("{} field(s) are invalid", fields.len()),
                    "fields": fields,
                })),
            )
                .into_response(),
            ApiError::Unauthorized(m) => {
                let mut r = body(StatusCode::UNAUTHORIZED, "unauthorized", m);
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Forbidden => body(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role may not do this",
            ),
            ApiError::PayloadTooLarge => body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            ),
            ApiError::App(e) => app_error(e),
        }
    }
}

fn app_error(e: AppError) -> Response {
    let msg = e.to_string();
    match e {
        AppError::Validation(fields) => ApiError::Validation(fields).into_response(),
        AppError::Customer(CustomerError::NotFound) => {
            body(StatusCode::NOT_FOUND, "not_found", &msg)
        }
        AppError::Customer(CustomerError::AlreadyRegistered) => {
            body(StatusCode::CONFLICT, "conflict", &msg)
        }
        AppError::Customer(_) => body(StatusCode::UNPROCESSABLE_ENTITY, "rule_violated", &msg),
        AppError::Account(a) => {
            let (status, code) = match a {
                AccountError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                AccountError::DuplicateLogin => (StatusCode::CONFLICT, "duplicate_login"),
                AccountError::NotYours => (StatusCode::FORBIDDEN, "forbidden"),
                AccountError::Rule(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rule_violated"),
            };
            body(status, code, &msg)
        }
        AppError::Category(c) => {
            let (status, code) = match c {
                crate::app::catalogue::CategoryError::NotFound
                | crate::app::catalogue::CategoryError::ServiceNotFound
                | crate::app::catalogue::CategoryError::ImageNotFound => {
                    (StatusCode::NOT_FOUND, "not_found")
                }
                crate::app::catalogue::CategoryError::NothingChanged
                | crate::app::catalogue::CategoryError::ServiceUnchanged
                | crate::app::catalogue::CategoryError::BeyondBound { .. }
                | crate::app::catalogue::CategoryError::TooManyImages { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "rule_violated")
                }
            };
            body(status, code, &msg)
        }
        AppError::Location(l) => {
            let (status, code) = match l {
                crate::app::locations::LocationError::NotFound => {
                    (StatusCode::NOT_FOUND, "not_found")
                }
                crate::app::locations::LocationError::NothingChanged => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "rule_violated")
                }
            };
            body(status, code, &msg)
        }
        AppError::Reveal(r) => {
            let (status, code) = match r {
                RevealError::NotForYourRole => (StatusCode::FORBIDDEN, "forbidden"),
                RevealError::NoValue => (StatusCode::NOT_FOUND, "no_value"),
            };
            body(status, code, &msg)
        }
        AppError::Conflict => body(StatusCode::CONFLICT, "conflict", &msg),
        AppError::Unavailable409 { alternatives, .. } => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "unavailable",
                "message": msg,
                "alternatives": alternatives,
            })),
        )
            .into_response(),
        AppError::NotFound(_) => body(StatusCode::NOT_FOUND, "not_found", &msg),
        AppError::Rule(_) => body(StatusCode::UNPROCESSABLE_ENTITY, "rule_violated", &msg),
        AppError::Clash(_) => body(StatusCode::CONFLICT, "clash", &msg),
        AppError::DuplicatePhone => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "duplicate_phone",
                "message": msg,
                "fields": [{ "field": "phone", "message": msg }],
            })),
        )
            .into_response(),
        AppError::DuplicateTenant => body(StatusCode::CONFLICT, "duplicate_tenant", &msg),
        AppError::IdempotencyKeyReused => body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            &msg,
        ),
        AppError::BadCredentials => body(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "tenant, login or password is wrong",
        ),
        AppError::TooManyAttempts { retry_after } => {
            let mut r = body(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many login attempts; wait for Retry-After seconds",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        AppError::RateLimited { retry_after, .. } => {
            let mut r = body(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("{msg}; wait for Retry-After seconds"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        AppError::BadCode => body(
            StatusCode::UNAUTHORIZED,
            "bad_code",
            "the code is wrong, expired or already used; ask for a new one",
        ),
        AppError::Erased => body(StatusCode::GONE, "erased", &msg),
        AppError::Unavailable => {
            let mut r = body(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency is unavailable; retry shortly",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        AppError::Idempotent | AppError::Internal(_) => {
            tracing::error!(error = ?e, "internal error");
            body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}
