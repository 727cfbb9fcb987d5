//! Request extractors with our own error bodies: JSON bodies (size-limited, unknown
//! fields refused, serde messages stripped of echoed values) and bearer authentication.

use super::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use events_schema::envelope::{Actor, Role};
use events_schema::ids::{AccountId, TenantId};
use serde::de::DeserializeOwned;

/// A JSON body: the typed DTO and, for a command sent under an `Idempotency-Key`, the
/// parsed JSON tree its request hash is computed over (`Value::Null` otherwise: an
/// unkeyed command needs no hash, so the body is parsed once, straight into the DTO).
pub struct ApiJson<T> {
    pub value: serde_json::Value,
    pub dto: T,
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!(
        "the body is not valid JSON (line {}, column {})",
        e.line(),
        e.column()
    ))
}

fn bad_shape(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(events_schema::values::redact_echoed_values(&e.to_string()))
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::BadRequest(
                "Content-Type must be application/json".into(),
            ));
        }
        let keyed = req.headers().contains_key("idempotency-key");
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        if keyed {
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| not_json(&e))?;
            let dto = T::deserialize(&value).map_err(|e| bad_shape(&e))?;
            return Ok(ApiJson { value, dto });
        }
        let dto = serde_json::from_slice::<T>(&bytes).map_err(|e| {
            if e.is_data() {
                bad_shape(&e)
            } else {
                not_json(&e)
            }
        })?;
        Ok(ApiJson {
            value: serde_json::Value::Null,
            dto,
        })
    }
}

/// The authenticated caller, put there by the `authorize` middleware from the bearer
/// token. Tenant and role come from the token only, never from the path or body.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub account: AccountId,
    pub role: Role,
    /// For a customer's own account: her customer record.
    pub customer: Option<events_schema::ids::CustomerId>,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            account_id: Some(self.account),
            role: self.role,
        }
    }
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

/// The client's address as the TCP peer (the server is served with connect info).
/// Behind a reverse proxy this is the proxy; see deploy/CONFIG.md.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
