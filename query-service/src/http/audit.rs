//! Auditors' API: `GET /audit/streams/{stream_id}/events` and `GET /audit/feed`.

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::audit::{self, AuditEvent};
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

pub const MAX_FEED_PAGE: i64 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    consistency_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// Feed position to read after (exclusive); 0 for the start.
    after: Option<i64>,
    limit: Option<i64>,
    consistency_token: Option<String>,
}

#[derive(Serialize)]
pub struct FeedPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` to read the next page.
    pub next_after: i64,
}

pub async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(stream_id): Path<String>,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    if stream_id.len() > 100 {
        return Err(ApiError::param("stream_id", "is too long"));
    }
    wait_for(&state.waits, p.consistency_token.as_deref(), None).await?;
    let client = state.pool.get().await?;
    let events = audit::stream_events(&client, &state.keys, caller.tenant, &stream_id).await?;
    if events.is_empty() {
        return Err(ApiError::NotFound("no such stream"));
    }
    Ok(Json(events))
}

pub async fn feed(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<FeedParams>,
) -> Result<Json<FeedPage>, ApiError> {
    let after = p.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::param("after", "must not be negative"));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_FEED_PAGE).contains(&limit) {
        return Err(ApiError::param(
            "limit",
            format!("must be between 1 and {MAX_FEED_PAGE}"),
        ));
    }
    wait_for(&state.waits, p.consistency_token.as_deref(), None).await?;
    let client = state.pool.get().await?;
    let events = audit::feed(&client, &state.keys, caller.tenant, after, limit).await?;
    let next_after = events.last().and_then(|e| e.seq).unwrap_or(after);
    Ok(Json(FeedPage { events, next_after }))
}

/// `GET /audit/chain`: recomputes the hash chain over the whole feed (all tenants: the
/// log is one) and names the first position that does not match. Only positions and
/// the kind of problem are shown, nothing of any event. Expensive: admitted by
/// [`crate::limits::ChainGate`] (429 + `Retry-After` otherwise).
pub async fn chain(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<events_schema::store::chain::ChainReport>, ApiError> {
    use crate::limits::Refused;
    let _running = state
        .chain_gate
        .admit(caller.tenant, std::time::Instant::now())
        .map_err(|refused| match refused {
            Refused::Busy { retry_after } => ApiError::RateLimited {
                message: "a chain verification is already running; retry shortly",
                retry_after,
            },
            Refused::TooMany { retry_after } => ApiError::RateLimited {
                message: "this salon has verified the chain often this hour; wait for Retry-After seconds",
                retry_after,
            },
        })?;
    let client = state.pool.get().await?;
    Ok(Json(events_schema::store::chain::verify(&client).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureParams {
    customer_id: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
    consistency_token: Option<String>,
}

/// `GET /audit/disclosures`: who unmasked which field of whom, when and why.
pub async fn disclosures(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<DisclosureParams>,
) -> Result<Json<Vec<crate::read::disclosures::Disclosure>>, ApiError> {
    let customer = match p.customer_id.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            uuid::Uuid::parse_str(c)
                .map_err(|_| ApiError::param("customer_id", "must be a customer id (UUID)"))?,
        ),
    };
    let after = p.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::param("after", "must not be negative"));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_FEED_PAGE).contains(&limit) {
        return Err(ApiError::param(
            "limit",
            format!("must be between 1 and {MAX_FEED_PAGE}"),
        ));
    }
    wait_for(
        &state.waits,
        p.consistency_token.as_deref(),
        Some("rm.disclosures_checkpoint"),
    )
    .await?;
    let mut client = state.pool.get().await?;
    let tx = crate::read::tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(
        crate::read::disclosures::list(&tx, &state.keys, caller.tenant, customer, after, limit)
            .await?,
    ))
}
