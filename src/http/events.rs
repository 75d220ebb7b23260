//! `/v1/events`: what one event caused (the delivery log) and a person's
//! events, through `store::delivery_log`.

use super::AppState;
use super::error::{ApiError, Json, Query};
use super::paging::paging;
use crate::store::delivery_log::{self, DeliveryLog, Event, EventFilter};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// A person's address (ignoring case): events that emailed it, minted a
    /// reset token for it, or concern an invite to it.
    pub email: Option<String>,
    /// Only this event type, e.g. `invite.created`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<Event>,
    /// All events matching the filter.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[utoipa::path(get, path = "/v1/events", params(ListQuery), tag = "events",
    responses((status = 200, body = EventList, description = "processed events, newest first"),
              (status = 400, description = "bad filter or paging")))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<EventList>, ApiError> {
    let (limit, offset) = paging(q.limit, q.offset)?;
    let filter = EventFilter {
        email: q.email,
        event_type: q.event_type,
        limit,
        offset,
    };
    let (events, count) = delivery_log::events(&state.pool, &filter).await?;
    Ok(Json(EventList {
        events,
        count,
        limit,
        offset,
    }))
}

#[utoipa::path(get, path = "/v1/events/{event_id}", params(("event_id" = String, Path)), tag = "events",
    responses((status = 200, body = DeliveryLog, description = "the event, its emails and its webhook deliveries, each with every attempt"),
              (status = 404, description = "Herald has not processed this event")))]
pub async fn get(
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<DeliveryLog>, ApiError> {
    delivery_log::for_event(&state.pool, &event_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no processed event {event_id:?}")))
}
