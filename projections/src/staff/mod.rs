//! The staff read model (STF-1): one row per person with the record as its last event
//! left it — name in clear (searched), phone and email masked, work terms plain — and
//! the history of every change (actor, fields, reason). Sealed values are opened with
//! the person's key; an erased person's values read as erased, never break a replay.

use crate::{Prepared, Projection};
use deadpool_postgres::Transaction;
use events_schema::envelope::{DomainEvent, FeedEvent};
use events_schema::ids::{StaffId, TenantId};
use events_schema::keystore::KeyStore;
use events_schema::sealing::{Opened, SealContext, SealedValue};
use events_schema::staff::{self, SealedProfile, StaffEvent, WorkTerms};
use events_schema::values::{email::Email, mask_middle, phone::Phone};
use futures::future::BoxFuture;
use std::collections::HashMap;

pub struct StaffProjection {
    keys: KeyStore,
}

impl StaffProjection {
    pub fn new(keys: KeyStore) -> Self {
        StaffProjection { keys }
    }
}

/// What erased values read as.
const ERASED: &str = "(erased)";

struct Profile {
    name: String,
    gender: Option<String>,
    phone_masked: Option<String>,
    email_masked: Option<String>,
}

impl Profile {
    /// What is left of an erased person's profile.
    fn erased() -> Profile {
        Profile {
            name: ERASED.to_owned(),
            gender: None,
            phone_masked: None,
            email_masked: None,
        }
    }
}

struct Row {
    version: i64,
    /// The record as of the batch's last record event (none: only deactivated here).
    record: Option<(Profile, WorkTerms)>,
    active: bool,
    /// Erased in this batch: its profile and the reasons of its history go.
    erased: bool,
    at: chrono::DateTime<chrono::Utc>,
    /// The hiring's time, when the batch holds it.
    created: Option<chrono::DateTime<chrono::Utc>>,
}

struct HistoryRow {
    tenant: uuid::Uuid,
    staff: uuid::Uuid,
    version: i64,
    event_type: String,
    at: chrono::DateTime<chrono::Utc>,
    actor: Option<uuid::Uuid>,
    role: String,
    changed: Vec<String>,
    reason: Option<String>,
}

#[derive(Default)]
struct Batch {
    rows: HashMap<(uuid::Uuid, uuid::Uuid), Row>,
    history: Vec<HistoryRow>,
}

impl StaffProjection {
    async fn open(
        &self,
        tenant: TenantId,
        id: StaffId,
        field: &str,
        sealed: &SealedValue,
    ) -> anyhow::Result<String> {
        let ctx = SealContext::new(tenant, id.as_uuid(), field);
        Ok(match self.keys.open(&ctx, sealed).await? {
            Opened::Plain(s) => s,
            Opened::Erased => ERASED.to_owned(),
        })
    }

    async fn profile(
        &self,
        tenant: TenantId,
        id: StaffId,
        p: &SealedProfile,
    ) -> anyhow::Result<Profile> {
        let mut name = ERASED.to_owned();
        let mut out = Profile {
            name: String::new(),
            gender: None,
            phone_masked: None,
            email_masked: None,
        };
        for (field, sealed) in p.fields() {
            let plain = self.open(tenant, id, field, sealed).await?;
            if plain == ERASED {
                return Ok(Profile::erased());
            }
            match field {
                "name" => name = plain,
                "gender" => out.gender = Some(plain),
                "phone" => {
                    out.phone_masked = Some(
                        Phone::parse(&plain)
                            .map(|p| p.masked())
                            .unwrap_or_else(|_| mask_middle(&plain, 0, 0)),
                    );
                }
                "email" => {
                    out.email_masked = Some(
                        Email::parse(&plain)
                            .map(|e| e.masked())
                            .unwrap_or_else(|_| mask_middle(&plain, 0, 0)),
                    );
                }
                _ => {}
            }
        }
        out.name = name;
        Ok(out)
    }
}

impl Projection for StaffProjection {
    fn name(&self) -> &'static str {
        "staff"
    }

    fn stream_types(&self) -> &'static [&'static str] {
        &[staff::STREAM_TYPE]
    }

    fn ddl(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn indexes(&self) -> &'static str {
        include_str!("indexes.sql")
    }

    fn tables(&self) -> &'static [&'static str] {
        &["staff", "staff_history"]
    }

    fn prepare<'a>(
        &'a self,
        _tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        _after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>> {
        Box::pin(async move {
            let mut batch = Batch::default();
            for fe in events {
                let e = &fe.event;
                if e.stream_type != staff::STREAM_TYPE {
                    continue;
                }
                let event = StaffEvent::from_stored(&e.event_type, e.schema_version, &e.payload)?;
                let (tenant, id) = (e.tenant_id, event.staff_id());
                let at = e.metadata.occurred_at;
                let key = (tenant.as_uuid(), id.as_uuid());
                let (changed, reason) = match &event {
                    StaffEvent::Hired(h) => {
                        let profile = self.profile(tenant, id, &h.profile).await?;
                        batch.rows.insert(
                            key,
                            Row {
                                version: e.stream_version,
                                record: Some((profile, h.work.clone())),
                                active: true,
                                erased: false,
                                at,
                                created: Some(at),
                            },
                        );
                        (vec!["hired".to_owned()], None)
                    }
                    StaffEvent::Changed(c) => {
                        let profile = self.profile(tenant, id, &c.profile).await?;
                        let created = batch.rows.get(&key).and_then(|r| r.created);
                        batch.rows.insert(
                            key,
                            Row {
                                version: e.stream_version,
                                record: Some((profile, c.work.clone())),
                                active: true,
                                erased: false,
                                at,
                                created,
                            },
                        );
                        let reason = self
                            .open(tenant, id, staff::REASON_FIELD, &c.reason)
                            .await?;
                        (c.changed.clone(), Some(reason))
                    }
                    StaffEvent::Deactivated(d) => {
                        let reason = self
                            .open(tenant, id, staff::REASON_FIELD, &d.reason)
                            .await?;
                        let row = batch.rows.entry(key).or_insert(Row {
                            version: e.stream_version,
                            record: None,
                            active: false,
                            erased: false,
                            at,
                            created: None,
                        });
                        row.version = e.stream_version;
                        row.active = false;
                        row.at = at;
                        (vec!["active".to_owned()], Some(reason))
                    }
                    StaffEvent::Erased(_) => {
                        // Its keys are gone: no cached copy may open its values again.
                        self.keys.forget_subject(tenant, id.as_uuid());
                        let row = batch.rows.entry(key).or_insert(Row {
                            version: e.stream_version,
                            record: None,
                            active: false,
                            erased: true,
                            at,
                            created: None,
                        });
                        row.version = e.stream_version;
                        row.active = false;
                        row.erased = true;
                        row.at = at;
                        if let Some((profile, _)) = &mut row.record {
                            *profile = Profile::erased();
                        }
                        for h in batch
                            .history
                            .iter_mut()
                            .filter(|h| (h.tenant, h.staff) == key && h.reason.is_some())
                        {
                            h.reason = Some(ERASED.to_owned());
                        }
                        (
                            vec![
                                "name".to_owned(),
                                "gender".to_owned(),
                                "birth_date".to_owned(),
                                "native_place".to_owned(),
                                "phone".to_owned(),
                                "email".to_owned(),
                            ],
                            None,
                        )
                    }
                };
                batch.history.push(HistoryRow {
                    tenant: key.0,
                    staff: key.1,
                    version: e.stream_version,
                    event_type: e.event_type.clone(),
                    at,
                    actor: e.metadata.actor.account_id.map(|a| a.as_uuid()),
                    role: e.metadata.actor.role.as_str().to_owned(),
                    changed,
                    reason,
                });
            }
            Ok(Box::new(batch) as Prepared)
        })
    }

    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let batch = prepared
                .downcast_ref::<Batch>()
                .ok_or_else(|| anyhow::anyhow!("staff: foreign prepared batch"))?;
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO staff AS s (tenant_id, staff_id, version, name, gender, phone_masked,
                         email_masked, position, level, hire_date, skills, locations, account_id,
                         active, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16, $15)
                     ON CONFLICT (tenant_id, staff_id) DO UPDATE SET
                         version = EXCLUDED.version, name = EXCLUDED.name, gender = EXCLUDED.gender,
                         phone_masked = EXCLUDED.phone_masked, email_masked = EXCLUDED.email_masked,
                         position = EXCLUDED.position, level = EXCLUDED.level,
                         hire_date = EXCLUDED.hire_date, skills = EXCLUDED.skills,
                         locations = EXCLUDED.locations, account_id = EXCLUDED.account_id,
                         active = EXCLUDED.active, updated_at = EXCLUDED.updated_at
                     WHERE s.version < EXCLUDED.version",
                )
                .await?;
            let deactivate = tx
                .prepare_cached(
                    "UPDATE staff SET version = $3, active = false, updated_at = $4
                     WHERE tenant_id = $1 AND staff_id = $2 AND version < $3",
                )
                .await?;
            for ((tenant, id), row) in &batch.rows {
                match &row.record {
                    Some((p, w)) => {
                        let skills: Vec<uuid::Uuid> =
                            w.skills.iter().map(|s| s.as_uuid()).collect();
                        let locations: Vec<uuid::Uuid> =
                            w.locations.iter().map(|l| l.as_uuid()).collect();
                        let account = w.account_id.map(|a| a.as_uuid());
                        tx.execute(
                            &upsert,
                            &[
                                tenant,
                                id,
                                &row.version,
                                &p.name,
                                &p.gender,
                                &p.phone_masked,
                                &p.email_masked,
                                &w.position,
                                &w.level,
                                &w.hire_date,
                                &skills,
                                &locations,
                                &account,
                                &row.active,
                                &row.at,
                                &row.created.unwrap_or(row.at),
                            ],
                        )
                        .await?;
                    }
                    None => {
                        tx.execute(&deactivate, &[tenant, id, &row.version, &row.at])
                            .await?;
                    }
                }
            }
            let history = tx
                .prepare_cached(
                    "INSERT INTO staff_history (tenant_id, staff_id, stream_version, event_type,
                         occurred_at, actor_account_id, actor_role, changed, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            for h in &batch.history {
                tx.execute(
                    &history,
                    &[
                        &h.tenant,
                        &h.staff,
                        &h.version,
                        &h.event_type,
                        &h.at,
                        &h.actor,
                        &h.role,
                        &h.changed,
                        &h.reason,
                    ],
                )
                .await?;
            }
            // Erased in this batch: what earlier batches wrote of them goes too.
            let erase = tx
                .prepare_cached(
                    "UPDATE staff SET name = $3, gender = NULL, phone_masked = NULL,
                         email_masked = NULL
                     WHERE tenant_id = $1 AND staff_id = $2",
                )
                .await?;
            let erase_reasons = tx
                .prepare_cached(
                    "UPDATE staff_history SET reason = $3
                     WHERE tenant_id = $1 AND staff_id = $2 AND reason IS NOT NULL",
                )
                .await?;
            for ((tenant, id), _) in batch.rows.iter().filter(|(_, r)| r.erased) {
                tx.execute(&erase, &[tenant, id, &ERASED]).await?;
                tx.execute(&erase_reasons, &[tenant, id, &ERASED]).await?;
            }
            Ok(())
        })
    }
}
