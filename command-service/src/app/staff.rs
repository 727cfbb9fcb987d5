//! Staff records (STF-1): created, changed and deactivated by administrators only, each
//! change with a reason; personal data sealed with the person's own key (DESIGN §6).
//!
//! The record travels whole in every event (profile sealed, work terms plain) with the
//! names of the fields that changed, so the history reads without diffing ciphertext.

use super::{App, AppError, CommandContext, Outcome, SideWrites};
use events_schema::envelope::DomainEvent;
use events_schema::ids::{AccountId, StaffId, TenantId};
use events_schema::sealing::{self, Dek, SealContext, SealedValue};
use events_schema::staff::{
    self as wire, SealedProfile, StaffChanged, StaffDeactivated, StaffErased, StaffEvent,
    StaffHired, WorkTerms, REASON_FIELD,
};
use events_schema::store::{self, ExpectedVersion};
use std::collections::BTreeMap;

/// The personal fields of a record, in clear and normalised (E.164 phone, ISO dates).
pub type Profile = BTreeMap<&'static str, String>;

/// A whole staff record in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffRecord {
    pub profile: Profile,
    pub work: WorkTerms,
}

/// A record as loaded from its stream.
pub struct LoadedStaff {
    pub version: i64,
    pub active: bool,
    pub record: StaffRecord,
}

pub struct ChangeStaff {
    pub staff_id: StaffId,
    pub expected_version: Option<i64>,
    pub record: StaffRecord,
    pub reason: String,
}

fn ctx(tenant: TenantId, staff: StaffId, field: &str) -> SealContext<'_> {
    SealContext {
        tenant,
        subject: staff.as_uuid(),
        field,
    }
}

fn seal_profile(
    tenant: TenantId,
    staff: StaffId,
    (version, dek): (u32, &Dek),
    profile: &Profile,
) -> SealedProfile {
    let seal = |field: &'static str| {
        profile
            .get(field)
            .map(|text| sealing::seal(dek, version, &ctx(tenant, staff, field), text))
    };
    SealedProfile {
        name: seal("name"),
        gender: seal("gender"),
        birth_date: seal("birth_date"),
        native_place: seal("native_place"),
        phone: seal("phone"),
        email: seal("email"),
    }
}

/// The fields whose values differ between two records.
fn changed_fields(old: &StaffRecord, new: &StaffRecord) -> Vec<String> {
    let mut out: Vec<String> = [
        "name",
        "gender",
        "birth_date",
        "native_place",
        "phone",
        "email",
    ]
    .into_iter()
    .filter(|f| old.profile.get(f) != new.profile.get(f))
    .map(str::to_owned)
    .collect();
    let (a, b) = (&old.work, &new.work);
    for (field, differs) in [
        ("position", a.position != b.position),
        ("level", a.level != b.level),
        ("hire_date", a.hire_date != b.hire_date),
        ("skills", a.skills != b.skills),
        ("locations", a.locations != b.locations),
        ("account_id", a.account_id != b.account_id),
    ] {
        if differs {
            out.push(field.to_owned());
        }
    }
    out
}

const LINK_ACCOUNT: &str =
    "INSERT INTO guard.staff_accounts (tenant_id, account_id, staff_id) VALUES ($1, $2, $3)";
const UNLINK_ACCOUNT: &str =
    "DELETE FROM guard.staff_accounts WHERE tenant_id = $1 AND account_id = $2 AND staff_id = $3";

impl App {
    pub async fn hire_staff(
        &self,
        ctx: &CommandContext,
        record: StaffRecord,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        self.check_work_terms(ctx.tenant, &record.work, None)
            .await?;
        let staff_id = StaffId::new();
        let key = self
            .keys
            .prepare_subject_key(ctx.tenant, staff_id.as_uuid());
        let profile = seal_profile(
            ctx.tenant,
            staff_id,
            (key.version, &key.dek),
            &record.profile,
        );
        let tenant = ctx.tenant.as_uuid();
        let staff = staff_id.as_uuid();
        let account = record.work.account_id.map(|a| a.as_uuid());
        let event = StaffEvent::Hired(StaffHired {
            staff_id,
            profile,
            work: record.work,
        });
        let mut side = SideWrites {
            key: Some(&key),
            ..Default::default()
        };
        if let Some(account) = &account {
            side.statements
                .push((LINK_ACCOUNT, vec![&tenant, account, &staff]));
        }
        self.append_one_with(
            ctx,
            (&wire::stream_id(staff_id), ExpectedVersion::NoStream),
            &event,
            201,
            ("staff_id", staff),
            &side,
        )
        .await
    }

    pub async fn change_staff(
        &self,
        ctx: &CommandContext,
        cmd: ChangeStaff,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let loaded = self.load_staff(ctx.tenant, cmd.staff_id).await?;
        if cmd.expected_version.is_some_and(|v| v != loaded.version) {
            return Err(AppError::Conflict);
        }
        if !loaded.active {
            return Err(AppError::Rule(
                "this staff member is deactivated; the record is kept as it was".into(),
            ));
        }
        let changed = changed_fields(&loaded.record, &cmd.record);
        if changed.is_empty() {
            return Err(AppError::Rule("the record is already exactly this".into()));
        }
        self.check_work_terms(ctx.tenant, &cmd.record.work, Some(cmd.staff_id))
            .await?;
        let (kv, dek) = self.staff_key(ctx.tenant, cmd.staff_id).await?;
        let profile = seal_profile(ctx.tenant, cmd.staff_id, (kv, &dek), &cmd.record.profile);
        let reason = sealing::seal(&dek, kv, &ctx_reason(ctx.tenant, cmd.staff_id), &cmd.reason);
        let tenant = ctx.tenant.as_uuid();
        let staff = cmd.staff_id.as_uuid();
        let old_account = loaded.record.work.account_id.map(|a| a.as_uuid());
        let new_account = cmd.record.work.account_id.map(|a| a.as_uuid());
        let mut side = SideWrites::default();
        if old_account != new_account {
            if let Some(old) = &old_account {
                side.statements
                    .push((UNLINK_ACCOUNT, vec![&tenant, old, &staff]));
            }
            if let Some(new) = &new_account {
                side.statements
                    .push((LINK_ACCOUNT, vec![&tenant, new, &staff]));
            }
        }
        let event = StaffEvent::Changed(StaffChanged {
            staff_id: cmd.staff_id,
            profile,
            work: cmd.record.work,
            changed,
            reason,
        });
        self.append_one_with(
            ctx,
            (
                &wire::stream_id(cmd.staff_id),
                ExpectedVersion::Exact(loaded.version),
            ),
            &event,
            200,
            ("staff_id", staff),
            &side,
        )
        .await
    }

    pub async fn deactivate_staff(
        &self,
        ctx: &CommandContext,
        staff_id: StaffId,
        reason: String,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let loaded = self.load_staff(ctx.tenant, staff_id).await?;
        if !loaded.active {
            // Already done: nothing to record (as for accounts).
            return Ok(Outcome {
                status: 200,
                body: serde_json::json!({
                    "staff_id": staff_id,
                    "version": loaded.version,
                    "active": false,
                }),
            });
        }
        let (kv, dek) = self.staff_key(ctx.tenant, staff_id).await?;
        let reason = sealing::seal(&dek, kv, &ctx_reason(ctx.tenant, staff_id), &reason);
        let event = StaffEvent::Deactivated(StaffDeactivated { staff_id, reason });
        let outcome = self
            .append_one(
                ctx,
                (
                    &wire::stream_id(staff_id),
                    ExpectedVersion::Exact(loaded.version),
                ),
                &event,
                200,
                ("staff_id", staff_id.as_uuid()),
            )
            .await?;
        // A deactivated person's pending shift reminders go with the next round.
        self.notifier.plan_wakeup.notify_one();
        Ok(outcome)
    }

    /// Erases a person's personal data (STF-1, DESIGN §6): destroys their data keys and
    /// appends `StaffErased` in one transaction; the record is deactivated, its work
    /// terms and history stay, and its account link is dropped. Owners only.
    pub async fn erase_staff(
        &self,
        ctx: &CommandContext,
        staff_id: StaffId,
        reference: String,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stream = wire::stream_id(staff_id);
        let stmt = client
            .prepare_cached(
                "SELECT version FROM es.streams WHERE stream_id = $1 AND tenant_id = $2",
            )
            .await?;
        let version: i64 = client
            .query_opt(&stmt, &[&stream, &ctx.tenant.as_uuid()])
            .await?
            .map(|r| r.get(0))
            .ok_or(AppError::NotFound("staff member"))?;
        drop(client);
        if self
            .keys
            .subject_key(ctx.tenant, staff_id.as_uuid(), 1)
            .await?
            .is_none()
        {
            return Err(AppError::Erased);
        }
        let (tenant, subject) = (ctx.tenant.as_uuid(), staff_id.as_uuid());
        let side = SideWrites {
            statements: vec![
                (
                    "INSERT INTO keys.erasures (tenant_id, subject_id) VALUES ($1, $2)",
                    vec![&tenant, &subject],
                ),
                (
                    "DELETE FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id = $2",
                    vec![&tenant, &subject],
                ),
                (
                    "DELETE FROM guard.staff_accounts WHERE tenant_id = $1 AND staff_id = $2",
                    vec![&tenant, &subject],
                ),
            ],
            ..Default::default()
        };
        let event = StaffEvent::Erased(StaffErased {
            staff_id,
            reference,
        });
        let outcome = self
            .append_one_with(
                ctx,
                (&stream, ExpectedVersion::Exact(version)),
                &event,
                200,
                ("staff_id", subject),
                &side,
            )
            .await?;
        self.keys.forget_subject(ctx.tenant, subject);
        self.notifier.plan_wakeup.notify_one();
        Ok(outcome)
    }

    /// The person's latest data key.
    async fn staff_key(&self, tenant: TenantId, staff: StaffId) -> Result<(u32, Dek), AppError> {
        // Version 1 is the only one a staff key has (KEK rotation re-wraps, it does not
        // re-key); a missing key is an erased person.
        self.keys
            .subject_key(tenant, staff.as_uuid(), 1)
            .await?
            .map(|dek| (1, dek))
            .ok_or(AppError::Erased)
    }

    /// Loads a staff record and opens its personal data.
    pub async fn load_staff(
        &self,
        tenant: TenantId,
        staff_id: StaffId,
    ) -> Result<LoadedStaff, AppError> {
        let (version, active, sealed, work) = self.load_staff_sealed(tenant, staff_id).await?;
        let mut profile = Profile::new();
        for (field, value) in sealed.fields() {
            profile.insert(
                field,
                self.open_staff_value(tenant, staff_id, field, value)
                    .await?,
            );
        }
        Ok(LoadedStaff {
            version,
            active,
            record: StaffRecord { profile, work },
        })
    }

    /// Whether a person is active, and their work terms, without opening their
    /// personal data (what scheduling needs).
    pub async fn load_staff_work(
        &self,
        tenant: TenantId,
        staff_id: StaffId,
    ) -> Result<(bool, WorkTerms), AppError> {
        let (_, active, _, work) = self.load_staff_sealed(tenant, staff_id).await?;
        Ok((active, work))
    }

    /// A staff record as its stream has it: version, active, sealed profile, work terms.
    pub(super) async fn load_staff_sealed(
        &self,
        tenant: TenantId,
        staff_id: StaffId,
    ) -> Result<(i64, bool, SealedProfile, WorkTerms), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::stream_id(staff_id)).await?;
        drop(client);
        let mut state: Option<(SealedProfile, WorkTerms, bool)> = None;
        for e in &history {
            let event = StaffEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?;
            state = match (state, event) {
                (_, StaffEvent::Hired(h)) => Some((h.profile, h.work, true)),
                (_, StaffEvent::Changed(c)) => Some((c.profile, c.work, true)),
                (Some((p, w, _)), StaffEvent::Deactivated(_) | StaffEvent::Erased(_)) => {
                    Some((p, w, false))
                }
                (None, StaffEvent::Deactivated(_) | StaffEvent::Erased(_)) => None,
            };
        }
        let (Some(last), Some((sealed, work, active))) = (history.last(), state) else {
            return Err(AppError::NotFound("staff member"));
        };
        Ok((last.stream_version, active, sealed, work))
    }

    async fn open_staff_value(
        &self,
        tenant: TenantId,
        staff: StaffId,
        field: &str,
        sealed: &SealedValue,
    ) -> Result<String, AppError> {
        self.keys
            .open(&ctx(tenant, staff, field), sealed)
            .await?
            .into_plain()
            .ok_or(AppError::Erased)
    }

    /// Skills must be services, locations locations, and the account a staff account
    /// of this salon not linked to another person.
    async fn check_work_terms(
        &self,
        tenant: TenantId,
        work: &WorkTerms,
        staff: Option<StaffId>,
    ) -> Result<(), AppError> {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for (i, s) in work.skills.iter().enumerate() {
            wanted.push((
                format!("skills[{i}]"),
                events_schema::catalogue::service_stream_id(*s),
            ));
        }
        for (i, l) in work.locations.iter().enumerate() {
            wanted.push((
                format!("locations[{i}]"),
                events_schema::location::stream_id(*l),
            ));
        }
        if let Some(a) = work.account_id {
            wanted.push((
                "account_id".into(),
                events_schema::identity::account_stream_id(a),
            ));
        }
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let ids: Vec<&str> = wanted.iter().map(|(_, s)| s.as_str()).collect();
        let stmt = client
            .prepare_cached(
                "SELECT stream_id FROM es.streams WHERE tenant_id = $1 AND stream_id = ANY($2)",
            )
            .await?;
        let found: Vec<String> = client
            .query(&stmt, &[&tenant.as_uuid(), &ids])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut errors: Vec<super::error::FieldError> = wanted
            .iter()
            .filter(|(_, s)| !found.contains(s))
            .map(|(field, _)| {
                let what = match field.split('[').next() {
                    Some("skills") => "no such service in this salon",
                    Some("locations") => "no such location in this salon",
                    _ => "no such staff account in this salon",
                };
                super::error::FieldError::new(field, what)
            })
            .collect();
        if let (Some(account), true) = (work.account_id, errors.is_empty()) {
            let stmt = client
                .prepare_cached(
                    "SELECT staff_id FROM guard.staff_accounts WHERE tenant_id = $1 AND account_id = $2",
                )
                .await?;
            let owner: Option<uuid::Uuid> = client
                .query_opt(&stmt, &[&tenant.as_uuid(), &account.as_uuid()])
                .await?
                .map(|r| r.get(0));
            if owner.is_some_and(|o| Some(o) != staff.map(|s| s.as_uuid())) {
                errors.push(super::error::FieldError::new(
                    "account_id",
                    "this account already belongs to another staff member",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(errors))
        }
    }

    /// The staff member linked to a login account, if any.
    pub async fn staff_of_account(
        &self,
        tenant: TenantId,
        account: AccountId,
    ) -> Result<Option<StaffId>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT staff_id FROM guard.staff_accounts WHERE tenant_id = $1 AND account_id = $2",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&tenant.as_uuid(), &account.as_uuid()])
            .await?
            .map(|r| StaffId::from_uuid(r.get(0))))
    }
}

fn ctx_reason(tenant: TenantId, staff: StaffId) -> SealContext<'static> {
    SealContext {
        tenant,
        subject: staff.as_uuid(),
        field: REASON_FIELD,
    }
}
