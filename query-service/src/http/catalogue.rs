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
        &state.pool,
        p.consistency_token.as_deref(),
        Some("rm.catalogue_checkpoint"),
    )
    .await?;
    let mut client = state.pool.get().await?;
    let tx = tenant_tx(&mut client, caller.tenant).await?;
    Ok(Json(catalogue::categories(&tx, caller.tenant).await?))
}
