//! A salon's own settings (SVC-5's price-change bound, STF-3's shift-reminder lead
//! times): one whole-document stream per tenant, changed by owners with a reason.

use super::{App, AppError, CommandContext, Outcome};
use events_schema::envelope::DomainEvent;
use events_schema::ids::TenantId;
use events_schema::settings::{self as wire, SalonSettings, SalonSettingsChanged, SettingsEvent};
use events_schema::store::{self, ExpectedVersion};

impl App {
    /// The tenant's settings with their stream version (0 and the defaults when never
    /// changed).
    pub async fn salon_settings(&self, tenant: TenantId) -> Result<(i64, SalonSettings), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::stream_id(tenant)).await?;
        let mut current = SalonSettings::default();
        for e in &history {
            let SettingsEvent::Changed(c) =
                SettingsEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))?;
            current = c.settings;
        }
        Ok((history.last().map_or(0, |e| e.stream_version), current))
    }

    pub async fn change_settings(
        &self,
        ctx: &CommandContext,
        expected_version: Option<i64>,
        settings: SalonSettings,
        reason: String,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (version, current) = self.salon_settings(ctx.tenant).await?;
        if expected_version.is_some_and(|v| v != version) {
            return Err(AppError::Conflict);
        }
        if current == settings {
            return Err(AppError::Rule(
                "the settings are already exactly these".into(),
            ));
        }
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let event = SettingsEvent::Changed(SalonSettingsChanged { settings, reason });
        let outcome = self
            .append_one(
                ctx,
                (&wire::stream_id(ctx.tenant), expected),
                &event,
                200,
                ("tenant_id", ctx.tenant.as_uuid()),
            )
            .await?;
        // New lead times take effect at the next planning round.
        self.notifier.plan_wakeup.notify_one();
        Ok(outcome)
    }
}
