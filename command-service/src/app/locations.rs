//! Locations (APT-2, APT-3): a salon's time zone, opening hours with breaks, closures,
//! exceptions, rooms and capacity. Created and changed by administrators; every change
//! carries the whole settings document and a reason, so the stream is the history.

use super::{App, AppError, CommandContext, Outcome};
use events_schema::envelope::DomainEvent;
use events_schema::ids::LocationId;
use events_schema::location::{
    self as wire, LocationCreated, LocationEvent, LocationSettings, LocationSettingsChanged,
};
use events_schema::store::{self, ExpectedVersion};

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("no such location")]
    NotFound,
    #[error("the settings are already exactly these")]
    NothingChanged,
}

pub struct ChangeLocation {
    pub location_id: LocationId,
    pub expected_version: Option<i64>,
    pub settings: LocationSettings,
    pub reason: String,
}

impl App {
    pub async fn create_location(
        &self,
        ctx: &CommandContext,
        settings: LocationSettings,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let location_id = LocationId::new();
        let event = LocationEvent::Created(LocationCreated {
            location_id,
            settings,
        });
        self.append_location(ctx, location_id, ExpectedVersion::NoStream, &event, 201)
            .await
    }

    pub async fn change_location(
        &self,
        ctx: &CommandContext,
        cmd: ChangeLocation,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (version, current) = self.load_location(ctx.tenant, cmd.location_id).await?;
        if cmd.expected_version.is_some_and(|v| v != version) {
            return Err(AppError::Conflict);
        }
        let mut cmd = cmd;
        keep_room_ids(&current, &mut cmd.settings);
        if current == cmd.settings {
            return Err(LocationError::NothingChanged.into());
        }
        let event = LocationEvent::SettingsChanged(LocationSettingsChanged {
            location_id: cmd.location_id,
            settings: cmd.settings,
            reason: cmd.reason,
        });
        self.append_location(
            ctx,
            cmd.location_id,
            ExpectedVersion::Exact(version),
            &event,
            200,
        )
        .await
    }

    /// The location's version and current settings.
    pub(super) async fn load_location(
        &self,
        tenant: events_schema::ids::TenantId,
        id: LocationId,
    ) -> Result<(i64, LocationSettings), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::stream_id(id)).await?;
        let mut current = None;
        for e in &history {
            let event = LocationEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?;
            current = Some(match event {
                LocationEvent::Created(c) => c.settings,
                LocationEvent::SettingsChanged(c) => c.settings,
            });
        }
        match (history.last(), current) {
            (Some(last), Some(settings)) => Ok((last.stream_version, settings)),
            _ => Err(LocationError::NotFound.into()),
        }
    }

    async fn append_location(
        &self,
        ctx: &CommandContext,
        id: LocationId,
        expected: ExpectedVersion,
        event: &LocationEvent,
        status: u16,
    ) -> Result<Outcome, AppError> {
        self.append_one(
            ctx,
            (&wire::stream_id(id), expected),
            event,
            status,
            ("location_id", id.as_uuid()),
        )
        .await
    }
}

/// A room sent without its id (so given a fresh one) but named as an existing room is
/// that room: it keeps its id, so what refers to it (bookings, services) still does —
/// unless another room of the new settings names that id itself.
fn keep_room_ids(current: &LocationSettings, next: &mut LocationSettings) {
    let taken: Vec<_> = next.rooms.iter().map(|r| r.room_id).collect();
    for room in &mut next.rooms {
        if current.rooms.iter().any(|r| r.room_id == room.room_id) {
            continue;
        }
        if let Some(same) = current.rooms.iter().find(|r| r.name == room.name) {
            if !taken.contains(&same.room_id) {
                room.room_id = same.room_id;
            }
        }
    }
}
