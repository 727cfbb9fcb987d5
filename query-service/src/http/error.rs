//! The service's one error type at the HTTP edge: bad query → 400 naming the
//! parameter; bad/missing token → 401; role → 403; unknown → 404; read model not yet
//! at the consistency token, or database down → 503 + `Retry-After`; else 500.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    BadParam {
        field: String,
        message: String,
    },
    BadRequest(String),
    Unauthorized(&'static str),
    Forbidden,
    NotFound(&'static str),
    NotYet,
    Unavailable,
    /// The request ran past its deadline and was abandoned.
    TooSlow,
    /// 429: an expensive read refused for now.
    RateLimited {
        message: &'static str,
        retry_after: u64,
    },
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn param(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadParam {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

fn body(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

fn retry(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadParam { field, message } => (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "validation_failed",
                    "message": format!("{field}: {message}"),
                    "fields": [{ "field": field, "message": message }],
                })),
            )
                .into_response(),
            ApiError::BadRequest(m) => body(StatusCode::BAD_REQUEST, "bad_request", &m),
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
            ApiError::NotFound(what) => body(StatusCode::NOT_FOUND, "not_found", what),
            ApiError::NotYet => retry(body(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_caught_up",
                "the read model has not caught up with your consistency_token yet; retry shortly",
            )),
            ApiError::TooSlow => retry(body(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_slow",
                "the request took too long and was abandoned; narrow it or retry shortly",
            )),
            ApiError::RateLimited {
                message,
                retry_after,
            } => {
                let mut r = body(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            ApiError::Unavailable => retry(body(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a dependency is unavailable; retry shortly",
            )),
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() || e.as_db_error().is_none() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::Unavailable
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl From<events_schema::store::StoreError> for ApiError {
    fn from(e: events_schema::store::StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(e.into())
    }
}

impl From<crate::read::disclosures::DisclosureError> for ApiError {
    fn from(e: crate::read::disclosures::DisclosureError) -> Self {
        match e {
            crate::read::disclosures::DisclosureError::Db(e) => e.into(),
            crate::read::disclosures::DisclosureError::Keys(e) => e.into(),
        }
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool unavailable");
        ApiError::Unavailable
    }
}

impl From<crate::consistency::WaitError> for ApiError {
    fn from(e: crate::consistency::WaitError) -> Self {
        use crate::consistency::WaitError;
        match e {
            WaitError::BadToken => {
                ApiError::param("consistency_token", "must be a positive integer")
            }
            WaitError::NotYet => ApiError::NotYet,
            WaitError::Pool(p) => p.into(),
            WaitError::Pg(p) => p.into(),
            WaitError::Db(d) if d.is_unavailable() => ApiError::Unavailable,
            WaitError::Db(d) => ApiError::Internal(d.into()),
        }
    }
}

impl From<events_schema::keystore::KeyStoreError> for ApiError {
    fn from(e: events_schema::keystore::KeyStoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "key store unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(e.into())
    }
}

impl From<crate::read::audit::AuditError> for ApiError {
    fn from(e: crate::read::audit::AuditError) -> Self {
        match e {
            crate::read::audit::AuditError::Store(s) if s.is_unavailable() => ApiError::Unavailable,
            crate::read::audit::AuditError::Keys(k) => k.into(),
            other => ApiError::Internal(other.into()),
        }
    }
}
