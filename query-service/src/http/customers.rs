//! `GET /customers` (search), `GET /customers/{id}` (masked detail),
//! `GET /customers/{id}/history` (who, when, what, why).

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::customers::{
    self, CustomerDetail, CustomerSummary, HistoryEntry, Page, Search, Sort,
};
use crate::read::tenant_tx;
use axum::extract::{Path, State};
use axum::Json;
use events_schema::customer::index as purpose;
use events_schema::ids::CustomerId;
use events_schema::sealing::blind_index;
use events_schema::values::{normalise_pinyin_query, IdCardNumber, Phone};
use serde::Deserialize;

const CHECKPOINT: Option<&str> = Some("rm.customers_checkpoint");
pub const MAX_PER_PAGE: i64 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Anything a front desk types: a phone, its last 4 digits, pinyin, initials or a name.
    q: Option<String>,
    phone: Option<String>,
    phone_tail: Option<String>,
    id_number: Option<String>,
    name: Option<String>,
    pinyin: Option<String>,
    /// Comma-separated; every tag must be present.
    tags: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
    consistency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    consistency_token: Option<String>,
}

/// Parses `YYYY-MM-DD` (start of that day, UTC+8 business day is the caller's concern)
/// or an RFC 3339 instant.
fn parse_instant(
    field: &str,
    s: &str,
    end_of_day: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ApiError::param(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    let d = if end_of_day {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    };
    Ok(d.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn non_empty<'a>(field: &str, v: &'a Option<String>) -> Result<Option<&'a str>, ApiError> {
    match v.as_deref().map(str::trim) {
        Some("") => Err(ApiError::param(field, "must not be empty")),
        Some(s) if s.chars().count() > 64 => Err(ApiError::param(field, "is too long")),
        other => Ok(other),
    }
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<Page<CustomerSummary>>, ApiError> {
    let mut s = Search {
        page: p.page.unwrap_or(1),
        per_page: p.per_page.unwrap_or(20),
        ..Search::default()
    };
    if s.page < 1 || s.page > 10_000 {
        return Err(ApiError::param("page", "must be between 1 and 10000"));
    }
    if !(1..=MAX_PER_PAGE).contains(&s.per_page) {
        return Err(ApiError::param(
            "per_page",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    let key = state.keys.find_index_key(caller.tenant).await?;
    // Without an index key the tenant has no customers; hashes under a throwaway key match nothing.
    let key = key.unwrap_or_else(events_schema::sealing::IndexKey::generate);
    let mut phone = non_empty("phone", &p.phone)?.map(|v| ("phone", v.to_owned()));
    let mut tail = non_empty("phone_tail", &p.phone_tail)?.map(|v| ("phone_tail", v.to_owned()));
    let mut name = non_empty("name", &p.name)?.map(str::to_owned);
    let mut pinyin = non_empty("pinyin", &p.pinyin)?.map(str::to_owned);
    if let Some(q) = non_empty("q", &p.q)? {
        let digits = q.chars().filter(char::is_ascii_digit).count();
        if q.len() == 4 && digits == 4 {
            tail = Some(("q", q.to_owned()));
        } else if digits >= 7 {
            phone = Some(("q", q.to_owned()));
        } else if q.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
            pinyin = Some(q.to_owned());
        } else {
            name = Some(q.to_owned());
        }
    }
    if let Some((field, v)) = phone {
        let phone = Phone::parse(&v).map_err(|e| ApiError::param(field, e.to_string()))?;
        s.phone_hash = Some(blind_index(&key, purpose::PHONE, phone.as_e164()));
    }
    if let Some((field, v)) = tail {
        if v.len() != 4 || !v.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::param(
                field,
                "must be the last 4 digits of a phone number",
            ));
        }
        s.phone_tail_hash = Some(blind_index(&key, purpose::PHONE_TAIL, &v));
    }
    if let Some(v) = non_empty("id_number", &p.id_number)? {
        let id = IdCardNumber::parse(v, chrono::NaiveDate::MAX)
            .map_err(|e| ApiError::param("id_number", e.to_string()))?;
        s.id_number_hash = Some(blind_index(&key, purpose::ID_NUMBER, id.as_str()));
    }
    s.name = name;
    if let Some(v) = pinyin {
        let n = normalise_pinyin_query(&v);
        if n.is_empty() {
            return Err(ApiError::param("pinyin", "must contain latin letters"));
        }
        s.pinyin = Some(n);
    }
    if let Some(tags) = non_empty("tags", &p.tags)? {
        s.tags = tags
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
    }
    if let Some(v) = non_empty("created_from", &p.created_from)? {
        s.created_from = Some(parse_instant("created_from", v, false)?);
    }
    if let Some(v) = non_empty("created_to", &p.created_to)? {
        s.created_to = Some(parse_instant("created_to", v, true)?);
    }
    if let Some(v) = non_empty("sort", &p.sort)? {
        s.sort = Some(Sort::parse(v).ok_or_else(|| {
            ApiError::param(
                "sort",
                "must be one of created_at, -created_at, name, -name",
            )
        })?);
    }
    wait_for(&state.waits, p.consistency_token.as_deref(), CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(customers::search(&tx, caller.tenant, &s).await?))
}

fn customer_id(id: &str) -> Result<CustomerId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::param("id", "must be a customer id (UUID)"))
}

pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<CustomerDetail>, ApiError> {
    let id = customer_id(&id)?;
    wait_for(&state.waits, p.consistency_token.as_deref(), CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    customers::detail(&tx, caller.tenant, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("no such customer"))
}

/// `GET /me`: a signed-in customer's own record (masked like every detail; her full
/// data comes with an export).
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<CustomerDetail>, ApiError> {
    let id = caller
        .customer
        .ok_or(ApiError::NotFound("this account has no customer record"))?;
    wait_for(&state.waits, p.consistency_token.as_deref(), CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    customers::detail(&tx, caller.tenant, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("no such customer"))
}

pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let id = customer_id(&id)?;
    wait_for(&state.waits, p.consistency_token.as_deref(), CHECKPOINT).await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let entries = customers::history(&tx, caller.tenant, id).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound("no such customer"));
    }
    Ok(Json(entries))
}
