//! Request extractors with our own error bodies: JSON bodies (size-limited, unknown
//! fields refused, serde messages stripped of echoed values) and bearer authentication.

use super::error::ApiError;
use super::AppState;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use events_schema::envelope::{Actor, Role};
use events_schema::ids::{AccountId, TenantId};
use events_schema::token::API_AUDIENCE;
use serde::de::DeserializeOwned;

/// A JSON body: the parsed value (for request hashing) and the typed DTO.
pub struct ApiJson<T> {
    pub value: serde_json::Value,
    pub dto: T,
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
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let dto =
            T::deserialize(&value).map_err(|e| ApiError::BadRequest(redact(&e.to_string())))?;
        Ok(ApiJson { value, dto })
    }
}

/// Serde messages may quote the offending value (`invalid type: string "138…"`);
/// personal data must not be echoed, so quoted values are removed. Field names in
/// `unknown field` / `missing field` messages are kept.
pub fn redact(msg: &str) -> String {
    let keep_quotes = msg.starts_with("unknown field") || msg.starts_with("missing field");
    if keep_quotes {
        return msg.to_owned();
    }
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                if !in_quote {
                    out.push_str("(value)");
                }
            }
            _ if in_quote => {}
            _ => out.push(c),
        }
    }
    out
}

/// The authenticated caller, from a bearer token. Tenant and role come from the
/// token only, never from the path or body.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub account: AccountId,
    pub role: Role,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor {
            account_id: Some(self.account),
            role: self.role,
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
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized("use Authorization: Bearer <token>"))?;
        let claims = state
            .app
            .tokens
            .verify(token.trim(), API_AUDIENCE, chrono::Utc::now().timestamp())
            .map_err(|e| match e {
                events_schema::token::TokenError::Expired => {
                    ApiError::Unauthorized("the token has expired")
                }
                _ => ApiError::Unauthorized("the token is not valid"),
            })?;
        Ok(Caller {
            tenant: claims.tenant,
            account: claims.sub,
            role: claims.role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn serde_messages_lose_quoted_values() {
        assert_eq!(
            redact("invalid type: string \"13812341234\", expected u32"),
            "invalid type: string (value), expected u32"
        );
        assert_eq!(
            redact("unknown field `tenant_id`, expected one of `name`"),
            "unknown field `tenant_id`, expected one of `name`"
        );
    }
}
