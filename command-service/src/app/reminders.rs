//! Shift reminders (STF-3) through the notification mechanism (DESIGN §9).
//!
//! A planner round reads every person's rota (`rota.current`, written with each rota
//! event), expands the shifts that start soon in their location's zone, and queues one
//! message per shift and lead time, due `lead` before the shift starts. Each message
//! carries a key naming its shift and lead (`shift:<staff>:<start>:<lead>`) under a
//! unique index, so rounds that run again — on a timer, on another instance, after a
//! restart — add nothing; the outbox worker then sends each exactly once. A queued
//! reminder whose shift went away (moved, removed, time off, person deactivated) is
//! withdrawn while unsent.

use super::notify::Message;
use super::{App, AppError};
use chrono::{DateTime, Duration, Utc};
use events_schema::ids::{LocationId, StaffId, TenantId};
use events_schema::location::LocationSettings;
use events_schema::rota::Rota;
use std::collections::{HashMap, HashSet};
use tokio::sync::watch;

/// The kind recorded in the outbox and the notification events.
pub const KIND: &str = "shift_reminder";
/// How far ahead of its due time a reminder is queued.
const QUEUE_AHEAD: Duration = Duration::minutes(30);
/// How often a round runs without being woken.
const ROUND_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// One reminder a round wants queued.
struct Planned {
    key: String,
    due: DateTime<Utc>,
    text: String,
}

fn dedupe_key(staff: StaffId, start: DateTime<Utc>, lead_minutes: u32) -> String {
    format!(
        "shift:{staff}:{}:{lead_minutes}",
        start.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// The reminders of one rota due within `[.., now + QUEUE_AHEAD]` for shifts that have
/// not started.
fn plan(
    staff: StaffId,
    rota: &Rota,
    locations: &HashMap<LocationId, LocationSettings>,
    leads: &[u32],
    now: DateTime<Utc>,
) -> Vec<Planned> {
    let longest = leads.iter().copied().max().unwrap_or(0);
    let horizon = now + QUEUE_AHEAD + Duration::minutes(i64::from(longest));
    let mut out = Vec::new();
    // Local dates around the window in any zone (UTC−12 … UTC+14).
    let first = (now - Duration::days(1)).date_naive();
    let last = (horizon + Duration::days(1)).date_naive();
    for date in first.iter_days().take_while(|d| *d <= last) {
        for shift in rota.shifts_on(date) {
            let Some(settings) = locations.get(&shift.location_id) else {
                continue;
            };
            let Ok(tz) = settings.time_zone.parse::<chrono_tz::Tz>() else {
                continue;
            };
            let Some((start, _)) =
                events_schema::localtime::interval(tz, date, shift.start, shift.end)
            else {
                continue;
            };
            if start <= now || start > horizon {
                continue;
            }
            for lead in leads {
                let due = start - Duration::minutes(i64::from(*lead));
                if due > now + QUEUE_AHEAD {
                    continue;
                }
                out.push(Planned {
                    key: dedupe_key(staff, start, *lead),
                    due,
                    text: format!(
                        "Shift reminder: you work at {} on {} from {} to {}.",
                        settings.name,
                        date.format("%Y-%m-%d"),
                        shift.start.format("%H:%M"),
                        shift.end.format("%H:%M"),
                    ),
                });
            }
        }
    }
    out
}

/// When the shift of a planned key starts (its second part).
fn key_start(key: &str) -> Option<DateTime<Utc>> {
    let rest = key.strip_prefix("shift:")?;
    let (_, rest) = rest.split_once(':')?;
    let (start, _) = rest.rsplit_once(':')?;
    DateTime::parse_from_rfc3339(start)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl App {
    /// One planning round over every tenant; returns how many reminders it queued.
    pub async fn plan_shift_reminders(&self) -> Result<usize, AppError> {
        let now = Utc::now();
        let rows = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            let stmt = client
                .prepare_cached("SELECT tenant_id, staff_id, rota FROM rota.current")
                .await?;
            client.query(&stmt, &[]).await?
        };
        let mut leads: HashMap<TenantId, Vec<u32>> = HashMap::new();
        let mut locations: HashMap<LocationId, LocationSettings> = HashMap::new();
        let mut queued = 0;
        for row in rows {
            let tenant = TenantId::from_uuid(row.get(0));
            let staff = StaffId::from_uuid(row.get(1));
            let rota: Rota = serde_json::from_value(row.get(2))
                .map_err(|e| AppError::Internal(anyhow::anyhow!("rota snapshot: {e}")))?;
            let tenant_leads = match leads.get(&tenant) {
                Some(l) => l.clone(),
                None => {
                    let l = self
                        .salon_settings(tenant)
                        .await?
                        .1
                        .shift_reminder_leads_minutes;
                    leads.insert(tenant, l.clone());
                    l
                }
            };
            let missing: HashSet<LocationId> = rota
                .patterns
                .iter()
                .map(|p| p.location_id)
                .chain(rota.overrides.values().flatten().map(|s| s.location_id))
                .filter(|l| !locations.contains_key(l))
                .collect();
            for l in missing {
                if let Some(s) = self.location_settings(tenant, l).await? {
                    locations.insert(l, s);
                }
            }
            let mut planned = plan(staff, &rota, &locations, &tenant_leads, now);
            if !planned.is_empty() {
                // Whether there is anyone to remind, read without opening the record.
                let reachable = match self.load_staff_sealed(tenant, staff).await {
                    Ok((_, active, sealed, _)) => active && sealed.phone.is_some(),
                    Err(AppError::NotFound(_)) => false,
                    Err(e) => return Err(e),
                };
                if !reachable {
                    // Nobody to remind (no phone, deactivated): withdraw them all.
                    planned.clear();
                }
            }
            let wanted: HashSet<&str> = planned.iter().map(|p| p.key.as_str()).collect();
            self.withdraw_reminders(tenant, staff, &wanted, now).await?;
            let queued_before = self.queued_keys(tenant, &planned).await?;
            planned.retain(|p| !queued_before.contains(&p.key));
            if planned.is_empty() {
                continue;
            }
            // Her phone is opened only when something is left to queue.
            let phone = match self.load_staff(tenant, staff).await {
                Ok(s) => s.record.profile.get("phone").cloned(),
                Err(AppError::Erased | AppError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            if let Some(phone) = phone {
                for p in &planned {
                    queued +=
                        usize::from(self.queue_reminder(tenant, staff, &phone, p, now).await?);
                }
            }
        }
        if queued > 0 {
            self.wake_notifier();
        }
        Ok(queued)
    }

    /// One planning round of visit reminders (APT-4): for every live booking about to
    /// start, one message per lead time of its location, due `lead` before the visit,
    /// keyed `booking:<id>:<lead>` (`booking:<id>:r<revision>:<lead>` once moved). A
    /// cancelled or moved booking's unsent reminders were withdrawn in the cancelling
    /// or moving transaction; a moved visit's new time gets reminders of its own
    /// revision. Returns how many it queued.
    pub async fn plan_booking_reminders(&self) -> Result<usize, AppError> {
        self.plan_booking_reminders_at(Utc::now()).await
    }

    /// [`App::plan_booking_reminders`] as if the clock read `now` (tests choose instants
    /// around daylight-saving transitions). A reminder is never due before `now`.
    pub async fn plan_booking_reminders_at(&self, now: DateTime<Utc>) -> Result<usize, AppError> {
        let rows = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            // No lead time is longer than two weeks (see the locations' validation).
            let stmt = client
                .prepare_cached(
                    "SELECT tenant_id, booking_id, customer_id, location_id, starts_at, revision
                     FROM booking.bookings
                     WHERE cancelled_at IS NULL AND status = 'booked'
                       AND starts_at > $1 AND starts_at <= $2
                     ORDER BY starts_at",
                )
                .await?;
            let horizon = now + Duration::days(14) + QUEUE_AHEAD;
            client.query(&stmt, &[&now, &horizon]).await?
        };
        let mut locations: HashMap<LocationId, Option<LocationSettings>> = HashMap::new();
        let mut queued = 0;
        for row in rows {
            let tenant = TenantId::from_uuid(row.get(0));
            let booking: uuid::Uuid = row.get(1);
            let customer = events_schema::ids::CustomerId::from_uuid(row.get(2));
            let location = LocationId::from_uuid(row.get(3));
            let start: DateTime<Utc> = row.get(4);
            // A moved visit's reminders are keyed by its revision (its first time's keep
            // the original keys), so one sent for an earlier time never stands in.
            let revision: i32 = row.get(5);
            let key = |lead: u32| match revision {
                0 => format!("booking:{booking}:{lead}"),
                r => format!("booking:{booking}:r{r}:{lead}"),
            };
            let settings = match locations.get(&location) {
                Some(s) => s.clone(),
                None => {
                    let s = self.location_settings(tenant, location).await?;
                    locations.insert(location, s.clone());
                    s
                }
            };
            let Some(settings) = settings else {
                continue;
            };
            let Ok(tz) = settings.time_zone.parse::<chrono_tz::Tz>() else {
                continue;
            };
            let due: Vec<(u32, DateTime<Utc>)> = settings
                .reminder_leads_minutes
                .iter()
                .map(|l| (*l, start - Duration::minutes(i64::from(*l))))
                .filter(|(_, due)| *due <= now + QUEUE_AHEAD)
                .collect();
            let keys: Vec<Planned> = due
                .iter()
                .map(|(lead, due)| Planned {
                    key: key(*lead),
                    due: *due,
                    text: String::new(),
                })
                .collect();
            let queued_before = self.queued_keys(tenant, &keys).await?;
            let due: Vec<(u32, DateTime<Utc>)> = due
                .into_iter()
                .zip(&keys)
                .filter(|(_, k)| !queued_before.contains(&k.key))
                .map(|(d, _)| d)
                .collect();
            if due.is_empty() {
                continue;
            }
            // Her phone is opened only when something is left to queue.
            let phone = match self.customer_phone(tenant, customer).await {
                Ok(p) => p,
                // Erased or gone: nobody to remind.
                Err(AppError::Erased | AppError::Customer(_) | AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let local = start.with_timezone(&tz).naive_local();
            for (lead, due) in due {
                let planned = Planned {
                    key: key(lead),
                    due,
                    text: format!(
                        "Reminder: your visit at {} is on {} at {}.",
                        settings.name,
                        local.format("%Y-%m-%d"),
                        local.format("%H:%M"),
                    ),
                };
                queued += usize::from(
                    self.queue_message(
                        tenant,
                        "booking_reminder",
                        customer.as_uuid(),
                        &phone,
                        &planned,
                        now,
                    )
                    .await?,
                );
            }
        }
        if queued > 0 {
            self.wake_notifier();
        }
        Ok(queued)
    }

    /// Which of the planned messages' keys are in the outbox already.
    async fn queued_keys(
        &self,
        tenant: TenantId,
        planned: &[Planned],
    ) -> Result<HashSet<String>, AppError> {
        if planned.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<&str> = planned.iter().map(|p| p.key.as_str()).collect();
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT dedupe_key FROM notify.outbox WHERE tenant_id = $1 AND dedupe_key = ANY($2)",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&tenant.as_uuid(), &keys])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Queues one shift reminder unless its key is already there; `true` when it queued.
    async fn queue_reminder(
        &self,
        tenant: TenantId,
        staff: StaffId,
        phone: &str,
        planned: &Planned,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        self.queue_message(tenant, KIND, staff.as_uuid(), phone, planned, now)
            .await
    }

    /// Queues one planned message unless its key is already there; `true` when it
    /// queued.
    async fn queue_message(
        &self,
        tenant: TenantId,
        kind: &'static str,
        subject: uuid::Uuid,
        phone: &str,
        planned: &Planned,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached("SELECT 1 FROM notify.outbox WHERE tenant_id = $1 AND dedupe_key = $2")
            .await?;
        if client
            .query_opt(&stmt, &[&tenant.as_uuid(), &planned.key])
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let tx = client.transaction().await?;
        let queued = self
            .enqueue_tx(
                &tx,
                &Message {
                    tenant,
                    kind,
                    subject: Some(subject),
                    recipient: phone,
                    text: &planned.text,
                    not_before: Some(planned.due.max(now)),
                    dedupe_key: Some(&planned.key),
                },
            )
            .await;
        match queued {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            // Another round queued it between our look and our insert.
            Err(AppError::Clash(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Withdraws the person's unsent reminders of shifts still ahead that the plan no
    /// longer holds, with their message keys.
    async fn withdraw_reminders(
        &self,
        tenant: TenantId,
        staff: StaffId,
        wanted: &HashSet<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT notification_id, dedupe_key FROM notify.outbox
                 WHERE tenant_id = $1 AND subject_id = $2 AND kind = $3
                   AND sent_at IS NULL AND failed_at IS NULL AND dedupe_key IS NOT NULL",
            )
            .await?;
        let pending = client
            .query(&stmt, &[&tenant.as_uuid(), &staff.as_uuid(), &KIND])
            .await?;
        let stale: Vec<uuid::Uuid> = pending
            .iter()
            .filter(|r| {
                let key: &str = r.get(1);
                !wanted.contains(key) && key_start(key).is_some_and(|s| s > now)
            })
            .map(|r| r.get(0))
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        let tx = client.transaction().await?;
        // A row the worker holds is being sent: the delete waits, then finds it sent
        // and leaves it.
        let stmt = tx
            .prepare_cached(
                "DELETE FROM notify.outbox WHERE notification_id = ANY($1)
                   AND sent_at IS NULL AND failed_at IS NULL
                 RETURNING notification_id",
            )
            .await?;
        let gone: Vec<uuid::Uuid> = tx
            .query(&stmt, &[&stale])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let stmt = tx
            .prepare_cached(
                "DELETE FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id = ANY($2)",
            )
            .await?;
        tx.execute(&stmt, &[&tenant.as_uuid(), &gone]).await?;
        tx.commit().await?;
        for id in gone {
            self.keys.forget_subject(tenant, id);
        }
        Ok(())
    }
}

/// Plans reminders until `shutdown`: every minute, and at once when a rota, a staff
/// record or the settings change.
pub async fn run_planner(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = app.plan_shift_reminders().await {
            tracing::error!(error = %e, "shift reminder planning failed");
        }
        if let Err(e) = app.plan_booking_reminders().await {
            tracing::error!(error = %e, "visit reminder planning failed");
        }
        tokio::select! {
            _ = app.notifier.plan_wakeup.notified() => {}
            _ = tokio::time::sleep(ROUND_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use events_schema::location::{LocationSettings, WeeklyHours};
    use events_schema::rota::LocatedInterval;

    fn shanghai() -> LocationSettings {
        LocationSettings {
            name: "上海店".into(),
            time_zone: "Asia/Shanghai".into(),
            weekly_hours: WeeklyHours::default(),
            closures: vec![],
            exceptions: vec![],
            rooms: vec![],
            max_simultaneous_bookings: None,
            reminder_leads_minutes: vec![],
            booking_rules: Default::default(),
            waitlist_reply_minutes: 30,
            waitlist_offers_per_day: 3,
        }
    }

    /// A rota with one shift starting at `start` (UTC, whole minutes), an hour long.
    fn one_shift(loc: LocationId, start: DateTime<Utc>) -> Rota {
        let local = start
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .naive_local();
        let mut rota = Rota::default();
        rota.overrides.insert(
            local.date(),
            vec![LocatedInterval {
                location_id: loc,
                start: local.time(),
                end: local.time() + Duration::minutes(60),
            }],
        );
        rota
    }

    #[test]
    fn a_reminder_is_planned_when_it_comes_due_and_never_for_a_started_shift() {
        let loc = LocationId::new();
        let places = HashMap::from([(loc, shanghai())]);
        let staff = StaffId::new();
        // 04:00 UTC is noon in Shanghai: the shift cannot run past midnight.
        let now: DateTime<Utc> = "2027-03-10T04:00:00Z".parse().unwrap_or_default();
        let leads = [60, 240];
        let planned =
            |start: DateTime<Utc>| plan(staff, &one_shift(loc, start), &places, &leads, now);

        // Five hours ahead: neither lead is due within the next half hour.
        assert!(planned(now + Duration::hours(5)).is_empty());
        // 4 h 20 min ahead: the four-hour reminder is due in 20 minutes.
        let start = now + Duration::minutes(260);
        let p = planned(start);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].due, start - Duration::hours(4));
        assert_eq!(p[0].key, dedupe_key(staff, start, 240));
        assert!(
            p[0].text.contains("上海店") && p[0].text.contains("16:20"),
            "{}",
            p[0].text
        );
        // 50 minutes ahead: both are due (one late, sent at once).
        let p = planned(now + Duration::minutes(50));
        assert_eq!(p.len(), 2);
        // Started: none.
        assert!(planned(now - Duration::minutes(10)).is_empty());
        // No lead times set: none.
        assert!(plan(
            staff,
            &one_shift(loc, now + Duration::minutes(50)),
            &places,
            &[],
            now
        )
        .is_empty());
    }

    #[test]
    fn a_key_names_its_shift_start() {
        let start: DateTime<Utc> = "2027-03-28T08:00:00Z".parse().unwrap_or_default();
        let key = dedupe_key(StaffId::new(), start, 60);
        assert_eq!(key_start(&key), Some(start));
    }
}
