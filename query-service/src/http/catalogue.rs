//! `GET /categories` (SVC-1).

use super::error::ApiError;
use super::{ApiQuery, AppState, Caller};
use crate::consistency::wait_for;
use crate::read::catalogue::{self, Category};
use crate::read::tenant_tx;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadParams {
    consistency_token: Option<String>,
}

pub async fn categories(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<Category>>, ApiError> {
    wait_for(
        &state.waits,
        p.consistency_token.as_deref(),
        Some("rm.catalogue_checkpoint"),
    )
    .await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(catalogue::categories(&tx, caller.tenant).await?))
}

/// `GET /services`: every service of the salon, published or not (staff).
pub async fn services(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<ReadParams>,
) -> Result<Json<Vec<crate::read::catalogue::Service>>, ApiError> {
    wait_for(
        &state.waits,
        p.consistency_token.as_deref(),
        Some("rm.catalogue_checkpoint"),
    )
    .await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(
        catalogue::services(&tx, caller.tenant, false, "/images")
            .await
            .map_err(ApiError::Internal)?,
    ))
}

#[derive(serde::Serialize)]
pub struct PublicCatalogue {
    pub salon: String,
    pub categories: Vec<Category>,
    /// Published services only.
    pub services: Vec<crate::read::catalogue::Service>,
}

/// `GET /public/{slug}/catalogue`: a salon's categories and published services, for
/// anyone (no token). Cacheable for a minute.
pub async fn public_catalogue(
    State(state): State<AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if slug.len() > 64 {
        return Err(ApiError::NotFound("no such salon"));
    }
    let mut client = state.pool.get().await?;
    let Some((tenant, salon)) = catalogue::salon_by_slug(&client, &slug).await? else {
        return Err(ApiError::NotFound("no such salon"));
    };
    let tx = tenant_tx(&mut client, tenant).await?;
    let body = PublicCatalogue {
        salon,
        categories: catalogue::categories(&tx, tenant).await?,
        services: catalogue::services(&tx, tenant, true, &format!("/public/{slug}/images"))
            .await
            .map_err(ApiError::Internal)?,
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceParams {
    at: Option<String>,
    consistency_token: Option<String>,
}

#[derive(serde::Serialize)]
pub struct PriceAt {
    pub service_id: events_schema::ids::ServiceId,
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub price: events_schema::catalogue::ScheduledPrice,
}

/// `GET /services/{id}/price?at=`: the price in force at an instant (default now).
pub async fn price(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiQuery(p): ApiQuery<PriceParams>,
) -> Result<Json<PriceAt>, ApiError> {
    let service: events_schema::ids::ServiceId = id
        .parse()
        .map_err(|_| ApiError::BadRequest("service id must be a UUID".into()))?;
    let at = match p.at.as_deref() {
        None => chrono::Utc::now(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t.trim())
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| ApiError::param("at", "must be an RFC 3339 instant"))?,
    };
    wait_for(
        &state.waits,
        p.consistency_token.as_deref(),
        Some("rm.catalogue_checkpoint"),
    )
    .await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    let schedule = catalogue::price_schedule(&tx, caller.tenant, service)
        .await
        .map_err(ApiError::Internal)?
        .ok_or(ApiError::NotFound("no such service"))?;
    let price = events_schema::catalogue::price_at(&schedule, at)
        .cloned()
        .ok_or(ApiError::NotFound(
            "the service did not exist yet at that instant",
        ))?;
    Ok(Json(PriceAt {
        service_id: service,
        at,
        price,
    }))
}
