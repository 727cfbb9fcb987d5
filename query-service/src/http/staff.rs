//! `GET /staff`, `/staff/{id}`, `/staff/{id}/history`, `/shift-templates`, `/rota`,
//! `/me/rota`, `/settings`.

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::staff::{self, HistoryEntry, StaffSearch, StaffView, TemplateView};
use crate::read::tenant_tx;
use crate::rota::{expand, Place, RotaView};
use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use events_schema::ids::{LocationId, StaffId};
use events_schema::settings::{self as settings_wire, SalonSettings, SettingsEvent};
use serde::Deserialize;
use std::collections::HashMap;

const STAFF: Option<&str> = Some("rm.staff_checkpoint");
const ROTA: Option<&str> = Some("rm.rota_checkpoint");
/// Longest range of one rota view.
pub const MAX_ROTA_DAYS: i64 = 62;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    consistency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    name: Option<String>,
    position: Option<String>,
    hired_from: Option<String>,
    hired_to: Option<String>,
    location_id: Option<String>,
    include_inactive: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
    consistency_token: Option<String>,
}

#[derive(serde::Serialize)]
pub struct StaffPage {
    total: i64,
    items: Vec<StaffView>,
}

fn date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::param(field, "must be a date as YYYY-MM-DD"))
}

fn uuid_param<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.trim()
        .parse()
        .map_err(|_| ApiError::param(field, "must be a UUID"))
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<StaffPage>, ApiError> {
    let name = p.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 64) {
        return Err(ApiError::param("name", "at most 64 characters"));
    }
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::param("limit", "must be 1 to 200"));
    }
    let offset = p.offset.unwrap_or(0);
    if !(0..=100_000).contains(&offset) {
        return Err(ApiError::param("offset", "must be 0 to 100000"));
    }
    let q = StaffSearch {
        name: name.map(str::to_owned),
        position: p.position.as_deref().map(str::trim).map(str::to_owned),
        hired_from: p
            .hired_from
            .as_deref()
            .map(|d| date("hired_from", d))
            .transpose()?,
        hired_to: p
            .hired_to
            .as_deref()
            .map(|d| date("hired_to", d))
            .transpose()?,
        location: p
            .location_id
            .as_deref()
            .map(|l| uuid_param("location_id", l))
            .transpose()?,
        include_inactive: p.include_inactive.unwrap_or(false),
        limit,
        offset,
    };
    wait_for(&state.waits, p.consistency_token.as_deref(), STAFF).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let (total, items) = staff::search(&tx, caller.tenant, &q).await?;
    Ok(Json(StaffPage { total, items }))
}

fn staff_id(raw: &str) -> Result<StaffId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest("staff id must be a UUID".into()))
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<StaffView>, ApiError> {
    let id = staff_id(&id)?;
    wait_for(&state.waits, p.consistency_token.as_deref(), STAFF).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    staff::detail(&tx, caller.tenant, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("no such staff member"))
}

pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let id = staff_id(&id)?;
    wait_for(&state.waits, p.consistency_token.as_deref(), STAFF).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let entries = staff::history(&tx, caller.tenant, id).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound("no such staff member"));
    }
    Ok(Json(entries))
}

pub async fn templates(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    wait_for(&state.waits, p.consistency_token.as_deref(), ROTA).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(staff::templates(&tx, caller.tenant).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotaParams {
    from: Option<String>,
    to: Option<String>,
    location_id: Option<String>,
    staff_id: Option<String>,
    consistency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnRotaParams {
    from: Option<String>,
    to: Option<String>,
    consistency_token: Option<String>,
}

/// The dates of a rota request: `from` (default today, UTC) to `to` (default a week
/// later), at most [`MAX_ROTA_DAYS`].
fn range(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let from = from
        .map(|d| date("from", d))
        .transpose()?
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let to = to
        .map(|d| date("to", d))
        .transpose()?
        .unwrap_or(from + chrono::Duration::days(6));
    if to < from {
        return Err(ApiError::param("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_ROTA_DAYS {
        return Err(ApiError::param(
            "to",
            format!("the range may span at most {MAX_ROTA_DAYS} days"),
        ));
    }
    Ok((from, to))
}

async fn rota_view(
    state: &AppState,
    caller: &Caller,
    (from, to): (NaiveDate, NaiveDate),
    location: Option<LocationId>,
    person: Option<StaffId>,
) -> Result<RotaView, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let people = staff::rotas(&tx, caller.tenant, person)
        .await
        .map_err(ApiError::Internal)?;
    let mut places = HashMap::new();
    for l in crate::read::locations::list(&tx, caller.tenant).await? {
        let Some(detail) = crate::read::locations::detail(&tx, caller.tenant, l.location_id)
            .await
            .map_err(ApiError::Internal)?
        else {
            continue;
        };
        let Ok(tz) = detail.settings.time_zone.parse::<chrono_tz::Tz>() else {
            continue;
        };
        places.insert(
            l.location_id,
            Place {
                name: l.name,
                settings: detail.settings,
                tz,
            },
        );
    }
    Ok(expand(&people, &places, location, from, to))
}

/// Everyone's shifts and time off over a range, of one location or one person.
pub async fn rota(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<RotaParams>,
) -> Result<Json<RotaView>, ApiError> {
    let dates = range(p.from.as_deref(), p.to.as_deref())?;
    let location = p
        .location_id
        .as_deref()
        .map(|l| uuid_param::<LocationId>("location_id", l))
        .transpose()?;
    let person = p
        .staff_id
        .as_deref()
        .map(|s| uuid_param::<StaffId>("staff_id", s))
        .transpose()?;
    wait_for(&state.waits, p.consistency_token.as_deref(), ROTA).await?;
    wait_for(&state.waits, p.consistency_token.as_deref(), STAFF).await?;
    Ok(Json(
        rota_view(&state, &caller, dates, location, person).await?,
    ))
}

/// The caller's own shifts and time off, through the staff record linked to their
/// account.
pub async fn own_rota(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<OwnRotaParams>,
) -> Result<Json<OwnRota>, ApiError> {
    let dates = range(p.from.as_deref(), p.to.as_deref())?;
    wait_for(&state.waits, p.consistency_token.as_deref(), ROTA).await?;
    wait_for(&state.waits, p.consistency_token.as_deref(), STAFF).await?;
    let me = {
        let mut client = state.pool.get().await?;
        let tx = tenant_tx(&mut client, caller.tenant).await?;
        staff::of_account(&tx, caller.tenant, caller.account).await?
    };
    let view = match me {
        Some(me) => rota_view(&state, &caller, dates, None, Some(me)).await?,
        None => RotaView {
            from: dates.0,
            to: dates.1,
            shifts: Vec::new(),
            time_off: Vec::new(),
        },
    };
    Ok(Json(OwnRota { staff_id: me, view }))
}

/// The caller's rota, with the staff record it belongs to (none: no record is linked
/// to the caller's account, so there is nothing to show).
#[derive(serde::Serialize)]
pub struct OwnRota {
    staff_id: Option<StaffId>,
    #[serde(flatten)]
    view: RotaView,
}

#[derive(serde::Serialize)]
pub struct SettingsView {
    version: i64,
    #[serde(flatten)]
    settings: SalonSettings,
}

/// The salon's settings, read from its settings stream (the defaults until changed).
pub async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SettingsView>, ApiError> {
    let client = state.pool.get().await?;
    let history = events_schema::store::read_stream(
        &client,
        caller.tenant,
        &settings_wire::stream_id(caller.tenant),
    )
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut current = SalonSettings::default();
    for e in &history {
        use events_schema::envelope::DomainEvent;
        let SettingsEvent::Changed(c) =
            SettingsEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| ApiError::Internal(err.into()))?;
        current = c.settings;
    }
    Ok(Json(SettingsView {
        version: history.last().map_or(0, |e| e.stream_version),
        settings: current,
    }))
}
