//! `GET /locations`, `GET /locations/{id}`, `GET /locations/{id}/opening`.

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::opening::{calendar, OpenInterval};
use crate::read::locations::{self, LocationDetail, LocationSummary};
use crate::read::tenant_tx;
use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use events_schema::ids::LocationId;
use serde::Deserialize;

const CHECKPOINT: Option<&str> = Some("rm.locations_checkpoint");
/// Longest range of one opening-calendar request.
pub const MAX_CALENDAR_DAYS: i64 = 93;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    consistency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningParams {
    from: Option<String>,
    to: Option<String>,
    consistency_token: Option<String>,
}

fn location_id(id: &str) -> Result<LocationId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::BadRequest("location id must be a UUID".into()))
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::Internal(e)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<LocationSummary>>, ApiError> {
    wait_for(&state.waits, p.consistency_token.as_deref(), CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(locations::list(&tx, caller.tenant).await?))
}

async fn load(
    state: &AppState,
    caller: &Caller,
    id: LocationId,
    token: Option<&str>,
) -> Result<LocationDetail, ApiError> {
    wait_for(&state.waits, token, CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    locations::detail(&tx, caller.tenant, id)
        .await
        .map_err(internal)?
        .ok_or(ApiError::NotFound("no such location"))
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<LocationDetail>, ApiError> {
    let id = location_id(&id)?;
    Ok(Json(
        load(&state, &caller, id, p.consistency_token.as_deref()).await?,
    ))
}

fn date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::param(field, "must be a date as YYYY-MM-DD"))
}

/// The open intervals of each date from `from` to `to` (inclusive, at most
/// [`MAX_CALENDAR_DAYS`]), in local time and as UTC instants. Without `from`: today at
/// the location; without `to`: a week from `from`.
pub async fn opening(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<OpeningParams>,
) -> Result<Json<Vec<OpenInterval>>, ApiError> {
    let id = location_id(&id)?;
    let from = p.from.as_deref().map(|d| date("from", d)).transpose()?;
    let to = p.to.as_deref().map(|d| date("to", d)).transpose()?;
    let location = load(&state, &caller, id, p.consistency_token.as_deref()).await?;
    let tz: chrono_tz::Tz = location
        .settings
        .time_zone
        .parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("stored time zone does not parse")))?;
    let from = from.unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
    let to = to.unwrap_or(from + chrono::Duration::days(6));
    if to < from {
        return Err(ApiError::param("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_CALENDAR_DAYS {
        return Err(ApiError::param(
            "to",
            format!("the range may span at most {MAX_CALENDAR_DAYS} days"),
        ));
    }
    Ok(Json(calendar(&location.settings, tz, from, to)))
}
