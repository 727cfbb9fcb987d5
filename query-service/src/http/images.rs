//! `GET /public/{slug}/images/{image_id}` (anyone: images of published services) and
//! `GET /images/{image_id}` (staff: any image of their salon). An image id is never
//! reused and its bytes never change, so the public answer may be cached for a year;
//! its `ETag` is the bytes' SHA-256, and `If-None-Match` gets 304 without the bytes.

use super::error::ApiError;
use super::{AppState, Caller};
use crate::read::catalogue::salon_by_slug;
use crate::read::images::{self, Held, StoredImage};
use crate::read::tenant_tx;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::ids::ImageId;

/// Public images: any cache may keep them for a year, unchanged.
const PUBLIC_CACHE: &str = "public, max-age=31536000, immutable";
/// Staff images: the browser of the staff member only, for a day (a role taken away
/// should not keep seeing unpublished images from shared caches).
const PRIVATE_CACHE: &str = "private, max-age=86400";

fn held(headers: &HeaderMap) -> Held {
    Held::parse(
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The image as a response: its bytes with their type, or 304 when the client holds
/// them.
fn respond(image: StoredImage, cache: &'static str) -> Result<Response, ApiError> {
    let etag = HeaderValue::from_str(&format!("\"{}\"", image.sha256))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = match image.bytes {
        None => StatusCode::NOT_MODIFIED.into_response(),
        Some(bytes) => {
            let mut r = bytes.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&image.content_type)
                    .map_err(|e| ApiError::Internal(e.into()))?,
            );
            r
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// `GET /public/{slug}/images/{image_id}`: no token; 404 unless a published service of
/// that salon shows the image.
pub async fn public_image(
    State(state): State<AppState>,
    Path((slug, image)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    const NOT_FOUND: ApiError = ApiError::NotFound("no such image");
    let Ok(image_id) = image.parse::<ImageId>() else {
        return Err(NOT_FOUND);
    };
    if slug.len() > 64 {
        return Err(NOT_FOUND);
    }
    let mut client = state.pool.get().await?;
    let Some((tenant, _)) = salon_by_slug(&client, &slug).await? else {
        return Err(NOT_FOUND);
    };
    let tx = tenant_tx(&mut client, tenant).await?;
    let found = images::published(&tx, tenant, image_id, &held(&headers)).await?;
    respond(found.ok_or(NOT_FOUND)?, PUBLIC_CACHE)
}

/// `GET /images/{image_id}`: any image uploaded to the caller's salon.
pub async fn image(
    State(state): State<AppState>,
    caller: Caller,
    Path(image): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let image_id: ImageId = image
        .parse()
        .map_err(|_| ApiError::BadRequest("image id must be a UUID".into()))?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let found = images::any(&tx, caller.tenant, image_id, &held(&headers)).await?;
    respond(
        found.ok_or(ApiError::NotFound("no such image"))?,
        PRIVATE_CACHE,
    )
}
