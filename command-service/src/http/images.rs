//! `POST /services/{id}/images` and `DELETE /services/{id}/images/{image_id}`: a
//! service's images (issue 4 item 2). The upload's body is the image itself, with its
//! `Content-Type`; its optional alt text comes as `?alt=`.

use super::error::ApiError;
use super::extract::Caller;
use super::{command_context, outcome_response, AppState};
use crate::app::error::FieldError;
use crate::domain::image::{self, MAX_IMAGE_BYTES};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use events_schema::ids::{ImageId, ServiceId};
use serde::Deserialize;

/// The body limit of the upload route: a little above [`MAX_IMAGE_BYTES`], so that an
/// image just over it is read and refused with a 400 naming `image`; a body beyond
/// even this is refused unread, with the same answer.
pub const UPLOAD_BODY_LIMIT: usize = MAX_IMAGE_BYTES + 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    alt: Option<String>,
}

fn alt_text(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let t = raw.map(str::trim).filter(|t| !t.is_empty())?;
    if t.chars().count() > 200 || t.chars().any(char::is_control) {
        errors.push(FieldError::new("alt", "must be at most 200 characters"));
        return None;
    }
    Some(t.to_owned())
}

fn service_id(id: &str) -> Result<ServiceId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest("service id must be a UUID".into()))
}

/// `POST /services/{id}/images?alt=`: the body is a PNG, JPEG, WebP or GIF image of at
/// most 2 MiB, sent with its `Content-Type`. 201 `{service_id, image_id, version,
/// consistency_token}`; a wrong, missing or lying type, an empty or too large body →
/// 400 naming `image`, and nothing is written.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Result<Query<UploadParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let service = service_id(&id)?;
    let Query(params) = params.map_err(|e| {
        ApiError::BadRequest(events_schema::values::redact_echoed_values(&e.body_text()))
    })?;
    let mut errors = Vec::new();
    let alt = alt_text(params.alt.as_deref(), &mut errors);
    let checked = match body {
        Ok(bytes) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap_or(""));
            image::check(content_type, bytes).map_err(|e| e.0)
        }
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(image::too_large().0),
        Err(_) => return Err(ApiError::BadRequest("the image could not be read".into())),
    };
    let image = match checked {
        Ok(image) if errors.is_empty() => image,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(message) => {
            errors.insert(0, FieldError::new("image", message));
            return Err(ApiError::Validation(errors));
        }
    };
    // The key's request is this image (by its hash) with this type and alt text.
    let ctx = command_context(
        &caller,
        &headers,
        "add_service_image",
        &id,
        &serde_json::json!({
            "content_type": image.kind.mime(), "sha256": image.sha256, "alt": alt
        }),
    )?;
    Ok(outcome_response(
        state
            .app
            .add_service_image(&ctx, service, image, alt)
            .await?,
    ))
}

/// `DELETE /services/{id}/images/{image_id}`: the image is no longer shown (200; one
/// removed before: the same answer, nothing recorded; one the service never showed:
/// 404).
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, image)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let service = service_id(&id)?;
    let image_id: ImageId = image
        .parse()
        .map_err(|_| ApiError::BadRequest("image id must be a UUID".into()))?;
    let ctx = command_context(
        &caller,
        &headers,
        "remove_service_image",
        &id,
        &serde_json::json!({ "image_id": image_id }),
    )?;
    Ok(outcome_response(
        state
            .app
            .remove_service_image(&ctx, service, image_id)
            .await?,
    ))
}
