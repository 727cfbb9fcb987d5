//! Waitlists (APT-13, APT-14): a freed slot offered to one waiting customer at a time.
//!
//! **Streams.** A location's waitlist of one local date is one stream
//! (`waitlist-<location>-<date>`, beside that day's schedule): entries in the order
//! they joined and every offer made to them. Each decision (join, leave, offer,
//! decline, expire, accept) is made on the whole fold and appended with the version
//! it was decided on, so two concurrent decisions cannot both land.
//!
//! **A freed slot** is the time a booking gave up: a cancelled booking's (the slot's id
//! is the booking's, [`SlotId::cancelled`]) or the time a rescheduled booking moved
//! away from (see *Other ways time frees up*). The cancellation
//! ([`App::offer_freed_booking`], called by `cancel_booking` after its commit) and the
//! sweeper ([`App::sweep_waitlist`], for a cancellation whose hook did not run) record
//! it in `waitlist.slots` and offer it: to the first waiting
//! entry, in join order, that holds no open offer, was not offered this slot before,
//! has not had `waitlist_offers_per_day` offers in the last 24 hours (the limit on
//! messages per customer: she is skipped), and whose services fit — decided by
//! `bookings::first_fit`, the rule bookings are decided by — at a start within both
//! the freed time and her window. The offer is `OfferMade` with an expiry
//! (`waitlist_reply_minutes`), a row in `waitlist.offers`, and a message to her in
//! `notify.outbox` (dedupe key `waitlist:<slot>:<entry>`), all in one transaction.
//!
//! **Two customers never hold the same offer.** Besides the stream version, the
//! database holds it: `waitlist.offers` has a partial unique index on the slot over
//! the open (and accepting) offers, and another on the entry, so a second holder of a
//! slot is refused by PostgreSQL whatever a decision said (treated as a conflict:
//! decided again on the fresh fold, which then shows the first offer).
//!
//! **Answers.** A decline or an expiry (the sweeper, given the instant to judge by, so
//! tests choose it) ends the offer and offers the slot to the next. An acceptance
//! first claims the offer's row (`open → accepting`, only while unexpired), so an
//! expiry cannot overtake it; then it books the visit through `place_booking` — both
//! double-booking guards apply, and the booking's command id is derived from the
//! offer, so a retried or concurrent acceptance books once — and records
//! `OfferAccepted`. If the time can no longer be booked the offer is withdrawn and
//! the acceptance answers as the booking did (409 with alternatives, 422). An
//! acceptance interrupted after its claim is finished by the sweeper the same way.
//! An offer holds nothing until accepted.
//!
//! **Other ways time frees up.** A reschedule frees the time the booking held before
//! the move (its services' spans as it was placed or last moved). The moving
//! transaction records that time in `booking.moves` under the revision it left and a
//! slot id derived from the booking and that revision ([`SlotId::moved_from`], UUID
//! v5): every move of a booking frees a slot of its own, a retry derives the same id
//! (recorded once: `ON CONFLICT DO NOTHING`), and none is ever a booking's or a
//! cancellation's id. After its commit `reschedule_booking` offers it
//! ([`App::offer_moved_from`]) exactly as a cancellation's is, never failing the move;
//! the sweeper offers a recorded move whose slot has no `waitlist.slots` row (the hook
//! did not run), as it does a cancellation's. A cancellation after moves frees the
//! booking's current time, under the booking's own id. An accepted offer books a new
//! visit through `place_booking`; the slot id only finds the slot's row (its
//! location), never a booking. A no-show's remaining time is not offered.

use super::bookings::{self, BookingRequest, Fold, ServiceRequest};
use super::notify::Message;
use super::SideWrites;
use super::{command_id_from_key, request_hash, App, AppError, CommandContext, Outcome};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use events_schema::booking::{BookingPlaced, DaySchedule};
use events_schema::envelope::{Actor, DomainEvent};
use events_schema::ids::{
    BookingId, CommandId, CustomerId, LocationId, OfferId, SlotId, TenantId, WaitlistEntryId,
};
use events_schema::location::LocationSettings;
use events_schema::store::{self, ExpectedVersion};
use events_schema::waitlist::{
    self as wire, DayWaitlist, EntryStatus, OfferAccepted, OfferDeclined, OfferExpired, OfferMade,
    OfferStatus, OfferWithdrawn, OfferedService, WaitlistEvent, WaitlistJoined, WaitlistLeft,
    WantedService,
};
use serde_json::json;
use tokio::sync::watch;

/// The kind recorded in the outbox and the notification events.
pub const OFFER_KIND: &str = "waitlist_offer";
/// Tries of one decision when another lands first.
const RETRIES: usize = 8;
/// Step of the starts tried within a freed slot.
const STEP_MINUTES: i64 = 5;
/// How often the sweeper runs.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(15);
/// An acceptance claimed this long ago and not finished is finished by the sweeper.
const STUCK_AFTER_SECONDS: f64 = 120.0;
/// Furthest ahead a window may be.
const HORIZON_DAYS: i64 = 366;
/// Rows one sweep takes of each kind.
const SWEEP_BATCH: i64 = 100;

/// A request to wait for a window of one date.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub location_id: LocationId,
    pub customer_id: CustomerId,
    pub date: NaiveDate,
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub services: Vec<WantedService>,
}

/// A freed slot: the time a cancelled booking held, or a moved one left.
#[derive(Clone, Debug)]
struct Slot {
    tenant: TenantId,
    slot_id: SlotId,
    location_id: LocationId,
    date: NaiveDate,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// A chosen entry and the visit that fits her.
struct Choice {
    entry: WaitlistJoined,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    services: Vec<OfferedService>,
    phone: String,
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub offered: usize,
    pub finished: usize,
}

/// A reaction's command context: the system acts, correlated with what caused it.
fn system_context(tenant: TenantId, correlation_id: uuid::Uuid) -> CommandContext {
    CommandContext {
        tenant,
        actor: Actor::system(),
        command_id: CommandId::new(),
        request_hash: String::new(),
        correlation_id,
    }
}

fn expected(version: i64) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version)
    }
}

fn zone(settings: &LocationSettings) -> Result<Tz, AppError> {
    settings
        .time_zone
        .parse()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("a stored zone does not parse")))
}

/// Moves an offer's row from one state to another inside an append's transaction;
/// a row no longer in `from` (claimed, expired or answered meanwhile) refuses the
/// whole transaction.
async fn set_state(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: uuid::Uuid,
    offer: uuid::Uuid,
    (from, to): (&'static str, &'static str),
) -> Result<(), AppError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE waitlist.offers SET state = $4 WHERE tenant_id = $1 AND offer_id = $2 AND state = $3",
        )
        .await?;
    match tx.execute(&stmt, &[&tenant, &offer, &from, &to]).await? {
        1 => Ok(()),
        _ => Err(AppError::Clash(
            "the offer was answered or ended meanwhile".into(),
        )),
    }
}

impl App {
    async fn read_waitlist(
        &self,
        tenant: TenantId,
        stream: &str,
    ) -> Result<(i64, DayWaitlist), AppError> {
        self.fold_stream(tenant, stream, DayWaitlist::apply).await
    }

    /// Puts a customer on the waitlist of a location and date (one waiting entry per
    /// customer and date).
    pub async fn join_waitlist(
        &self,
        ctx: &CommandContext,
        req: JoinRequest,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let settings = self
            .location_settings(ctx.tenant, req.location_id)
            .await?
            .ok_or(AppError::NotFound("location"))?;
        let tz = zone(&settings)?;
        let from = bookings::resolve_local(tz, req.date.and_time(req.from), Some(Fold::Earlier))?;
        let to = bookings::resolve_local(tz, req.date.and_time(req.to), Some(Fold::Later))?;
        let now = Utc::now();
        if to <= from {
            return Err(AppError::Rule("the window must end after it starts".into()));
        }
        if to <= now {
            return Err(AppError::Rule("the window is over".into()));
        }
        if from > now + Duration::days(HORIZON_DAYS) {
            return Err(AppError::Rule(format!(
                "a window may be at most {HORIZON_DAYS} days ahead"
            )));
        }
        // Someone to send offers to (404 / 410 otherwise).
        self.customer_phone(ctx.tenant, req.customer_id).await?;
        for s in &req.services {
            let service = match self.load_service(ctx.tenant, s.service_id).await {
                Ok(service) => service,
                Err(AppError::NotFound(_)) => return Err(AppError::NotFound("service")),
                Err(e) => return Err(e),
            };
            if !service.published() {
                return Err(AppError::Rule(format!(
                    "service {} is not published",
                    s.service_id
                )));
            }
            if let Some(staff) = s.staff_id {
                let (active, work) = match self.load_staff_work(ctx.tenant, staff).await {
                    Ok(w) => w,
                    Err(AppError::NotFound(_)) => return Err(AppError::NotFound("staff member")),
                    Err(e) => return Err(e),
                };
                if !active
                    || !work.locations.contains(&req.location_id)
                    || !work.skills.contains(&s.service_id)
                {
                    return Err(AppError::Rule(format!(
                        "technician {staff} does not perform service {} at this location",
                        s.service_id
                    )));
                }
            }
        }
        let stream = wire::stream_id(req.location_id, req.date);
        let _turn = self.stream_turns.take(&stream).await;
        let mut tries = 0;
        loop {
            tries += 1;
            let (version, list) = self.read_waitlist(ctx.tenant, &stream).await?;
            if list.entries.iter().any(|e| {
                e.joined.customer_id == req.customer_id && e.status == EntryStatus::Waiting
            }) {
                return Err(AppError::Clash(
                    "the customer already waits for this date at this location".into(),
                ));
            }
            let entry_id = WaitlistEntryId::new();
            let joined = WaitlistJoined {
                entry_id,
                location_id: req.location_id,
                date: req.date,
                customer_id: req.customer_id,
                services: req.services.clone(),
                from,
                to,
                joined_at: now,
            };
            let (tenant, entry, customer) = (
                ctx.tenant.as_uuid(),
                entry_id.as_uuid(),
                req.customer_id.as_uuid(),
            );
            let side = SideWrites {
                statements: vec![(
                    "INSERT INTO waitlist.entries (tenant_id, entry_id, stream_id, customer_id)
                     VALUES ($1, $2, $3, $4)",
                    vec![&tenant, &entry, &stream, &customer],
                )],
                ..Default::default()
            };
            match self
                .append_one_with(
                    ctx,
                    (&stream, expected(version)),
                    &WaitlistEvent::Joined(joined),
                    201,
                    ("entry_id", entry),
                    &side,
                )
                .await
            {
                Err(AppError::Conflict) if tries < RETRIES => continue,
                other => return other,
            }
        }
    }

    /// The stream and owner of an entry; 404 for none, or for another customer's
    /// when `only` names the caller.
    async fn entry_row(
        &self,
        tenant: TenantId,
        entry: WaitlistEntryId,
        only: Option<CustomerId>,
    ) -> Result<String, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT stream_id, customer_id FROM waitlist.entries
                 WHERE tenant_id = $1 AND entry_id = $2",
            )
            .await?;
        let row = client
            .query_opt(&stmt, &[&tenant.as_uuid(), &entry.as_uuid()])
            .await?
            .ok_or(AppError::NotFound("waitlist entry"))?;
        let owner = CustomerId::from_uuid(row.get(1));
        if only.is_some_and(|c| c != owner) {
            return Err(AppError::NotFound("waitlist entry"));
        }
        Ok(row.get(0))
    }

    /// Takes an entry off the waitlist; an open offer of hers is declined with it.
    /// Leaving twice records once.
    pub async fn leave_waitlist(
        &self,
        ctx: &CommandContext,
        entry_id: WaitlistEntryId,
        only: Option<CustomerId>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let stream = self.entry_row(ctx.tenant, entry_id, only).await?;
        let held = {
            let _turn = self.stream_turns.take(&stream).await;
            let mut tries = 0;
            loop {
                tries += 1;
                let (version, list) = self.read_waitlist(ctx.tenant, &stream).await?;
                let entry = list
                    .entry(entry_id)
                    .ok_or(AppError::NotFound("waitlist entry"))?;
                if entry.status != EntryStatus::Waiting {
                    return Ok(Outcome {
                        status: 200,
                        body: json!({ "entry_id": entry_id, "status": entry.status.as_str(),
                                      "version": version }),
                    });
                }
                let held = list
                    .offers
                    .iter()
                    .find(|o| o.made.entry_id == entry_id && o.status == OfferStatus::Open)
                    .map(|o| o.made.offer_id);
                match self
                    .append_one_then(
                        ctx,
                        (&stream, ExpectedVersion::Exact(version)),
                        &WaitlistEvent::Left(WaitlistLeft {
                            entry_id,
                            at: Utc::now(),
                        }),
                        200,
                        (
                            json!({ "entry_id": entry_id, "status": "left" }),
                            &SideWrites::default(),
                        ),
                        |_| Box::pin(async { Ok(()) }),
                    )
                    .await
                {
                    Err(AppError::Conflict) if tries < RETRIES => continue,
                    Ok(outcome) => break (outcome, held),
                    Err(e) => return Err(e),
                }
            }
        };
        let (outcome, held) = held;
        if let Some(offer) = held {
            let system = system_context(ctx.tenant, ctx.correlation_id);
            match self.decline_offer(&system, offer, None).await {
                Ok(_) | Err(AppError::Clash(_)) => {}
                Err(e) => tracing::warn!(error = %e, %offer, "declining a leaver's offer failed"),
            }
        }
        Ok(outcome)
    }

    /// The stream, owner and slot of an offer; 404 as for entries.
    async fn offer_row(
        &self,
        tenant: TenantId,
        offer: OfferId,
        only: Option<CustomerId>,
    ) -> Result<(String, SlotId), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT stream_id, customer_id, slot_id FROM waitlist.offers
                 WHERE tenant_id = $1 AND offer_id = $2",
            )
            .await?;
        let row = client
            .query_opt(&stmt, &[&tenant.as_uuid(), &offer.as_uuid()])
            .await?
            .ok_or(AppError::NotFound("offer"))?;
        if only.is_some_and(|c| c != CustomerId::from_uuid(row.get(1))) {
            return Err(AppError::NotFound("offer"));
        }
        Ok((row.get(0), SlotId::from_uuid(row.get(2))))
    }

    /// Declines an open offer; the slot goes to the next waiting customer. An offer
    /// that already ended is answered with its status (nothing is recorded).
    pub async fn decline_offer(
        &self,
        ctx: &CommandContext,
        offer_id: OfferId,
        only: Option<CustomerId>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (stream, _) = self.offer_row(ctx.tenant, offer_id, only).await?;
        let outcome = {
            let _turn = self.stream_turns.take(&stream).await;
            let mut tries = 0;
            loop {
                tries += 1;
                let (version, list) = self.read_waitlist(ctx.tenant, &stream).await?;
                let offer = list.offer(offer_id).ok_or(AppError::NotFound("offer"))?;
                if offer.status != OfferStatus::Open {
                    return Ok(ended(offer_id, offer.status, version));
                }
                let (tenant, id) = (ctx.tenant.as_uuid(), offer_id.as_uuid());
                match self
                    .append_one_then(
                        ctx,
                        (&stream, ExpectedVersion::Exact(version)),
                        &WaitlistEvent::OfferDeclined(OfferDeclined {
                            offer_id,
                            at: Utc::now(),
                        }),
                        200,
                        (
                            json!({ "offer_id": offer_id, "status": "declined" }),
                            &SideWrites::default(),
                        ),
                        move |tx| Box::pin(set_state(tx, tenant, id, ("open", "declined"))),
                    )
                    .await
                {
                    Err(AppError::Conflict) if tries < RETRIES => continue,
                    Err(AppError::Clash(_)) => {
                        return Err(AppError::Clash("the offer is being accepted".into()))
                    }
                    Ok(outcome) => break outcome,
                    Err(e) => return Err(e),
                }
            }
        };
        self.offer_next(
            ctx.tenant,
            offer_id,
            &stream,
            Utc::now(),
            ctx.correlation_id,
        )
        .await;
        Ok(outcome)
    }

    /// Accepts an open offer: books the visit through the ordinary booking path.
    pub async fn accept_offer(
        &self,
        ctx: &CommandContext,
        offer_id: OfferId,
        only: Option<CustomerId>,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (stream, _) = self.offer_row(ctx.tenant, offer_id, only).await?;
        // The claim: from here an expiry cannot overtake the acceptance. A claim left
        // by an interrupted acceptance is taken over (the booking is idempotent).
        let claimed = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            let stmt = client
                .prepare_cached(
                    "UPDATE waitlist.offers SET state = 'accepting', claimed_at = now()
                     WHERE tenant_id = $1 AND offer_id = $2
                       AND ((state = 'open' AND expires_at > now()) OR state = 'accepting')",
                )
                .await?;
            client
                .execute(&stmt, &[&ctx.tenant.as_uuid(), &offer_id.as_uuid()])
                .await?
                == 1
        };
        if !claimed {
            let (version, list) = self.read_waitlist(ctx.tenant, &stream).await?;
            let offer = list.offer(offer_id).ok_or(AppError::NotFound("offer"))?;
            return match offer.status {
                OfferStatus::Accepted(_) => Ok(ended(offer_id, offer.status, version)),
                OfferStatus::Open => Err(AppError::Clash("the offer has expired".into())),
                other => Err(AppError::Clash(format!(
                    "the offer has ended ({})",
                    other.as_str()
                ))),
            };
        }
        self.finish_accept(ctx, offer_id, &stream).await
    }

    /// Books a claimed offer's visit and records the outcome.
    async fn finish_accept(
        &self,
        ctx: &CommandContext,
        offer_id: OfferId,
        stream: &str,
    ) -> Result<Outcome, AppError> {
        let (_, list) = self.read_waitlist(ctx.tenant, stream).await?;
        let offer = list
            .offer(offer_id)
            .ok_or(AppError::NotFound("offer"))?
            .clone();
        if let OfferStatus::Accepted(_) = offer.status {
            return Ok(ended(offer_id, offer.status, 0));
        }
        let waiting = list
            .entry(offer.made.entry_id)
            .is_some_and(|e| e.status == EntryStatus::Waiting);
        let booked = if waiting {
            self.book_offer(ctx, &offer.made).await
        } else {
            Err(AppError::Clash("the customer no longer waits".into()))
        };
        let (tenant, id) = (ctx.tenant.as_uuid(), offer_id.as_uuid());
        match booked {
            Ok(outcome) => {
                let booking_id = outcome.body["booking_id"]
                    .as_str()
                    .and_then(|b| b.parse::<BookingId>().ok())
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a booking without id")))?;
                let mut answer = outcome.body.clone();
                if let Some(body) = answer.as_object_mut() {
                    body.insert("offer_id".into(), json!(offer_id));
                    body.insert("status".into(), json!("accepted"));
                }
                let _turn = self.stream_turns.take(stream).await;
                let mut tries = 0;
                loop {
                    tries += 1;
                    let (version, list) = self.read_waitlist(ctx.tenant, stream).await?;
                    match list.offer(offer_id).map(|o| o.status) {
                        Some(status @ OfferStatus::Accepted(_)) => {
                            return Ok(ended(offer_id, status, version))
                        }
                        None => return Err(AppError::NotFound("offer")),
                        Some(_) => {}
                    }
                    match self
                        .append_one_then(
                            ctx,
                            (stream, ExpectedVersion::Exact(version)),
                            &WaitlistEvent::OfferAccepted(OfferAccepted {
                                offer_id,
                                booking_id,
                                at: Utc::now(),
                            }),
                            outcome.status,
                            (answer.clone(), &SideWrites::default()),
                            move |tx| {
                                Box::pin(set_state(tx, tenant, id, ("accepting", "accepted")))
                            },
                        )
                        .await
                    {
                        Err(AppError::Conflict) if tries < RETRIES => continue,
                        // A twin acceptance recorded it first.
                        Err(AppError::Clash(_)) if tries < RETRIES => continue,
                        other => return other,
                    }
                }
            }
            Err(
                e @ (AppError::Unavailable409 { .. }
                | AppError::Rule(_)
                | AppError::Clash(_)
                | AppError::NotFound(_)
                | AppError::Erased),
            ) => {
                // The time cannot be booked (any more): the offer ends without a booking.
                let reason = match &e {
                    AppError::Unavailable409 { .. } => "the time was taken meanwhile".to_owned(),
                    AppError::Erased | AppError::NotFound(_) => {
                        "the visit can no longer be booked".to_owned()
                    }
                    other => other.to_string(),
                };
                self.withdraw(ctx, offer_id, stream, reason).await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Places the booking of an offer; its command id comes from the offer, so it is
    /// placed once however often it is tried.
    async fn book_offer(
        &self,
        ctx: &CommandContext,
        made: &OfferMade,
    ) -> Result<Outcome, AppError> {
        let location = self.slot_location(ctx.tenant, made).await?;
        let settings = self
            .location_settings(ctx.tenant, location)
            .await?
            .ok_or(AppError::NotFound("location"))?;
        let tz = zone(&settings)?;
        let local = made.starts_at.with_timezone(&tz).naive_local();
        let fold = match bookings::resolve_local(tz, local, Some(Fold::Earlier)) {
            Ok(t) if t == made.starts_at => Fold::Earlier,
            _ => Fold::Later,
        };
        let key = format!("waitlist-offer:{}", made.offer_id);
        let booking_ctx = CommandContext {
            tenant: ctx.tenant,
            actor: ctx.actor,
            command_id: command_id_from_key(&key),
            request_hash: request_hash("accept_waitlist_offer", &key, &serde_json::Value::Null),
            correlation_id: ctx.correlation_id,
        };
        let placed = self
            .place_booking(
                &booking_ctx,
                BookingRequest {
                    location_id: location,
                    customer_id: made.customer_id,
                    start: local,
                    fold: Some(fold),
                    services: made
                        .services
                        .iter()
                        .map(|s| ServiceRequest {
                            service_id: s.service_id,
                            staff_id: Some(s.staff_id),
                            room_id: None,
                        })
                        .collect(),
                    override_reason: None,
                },
            )
            .await;
        // A twin acceptance (another instance) may have booked it between this one's
        // decision and its append: the time is then taken by this very offer's
        // booking, whose outcome is recorded under the same command id.
        if matches!(
            placed,
            Err(AppError::Unavailable409 { .. } | AppError::Rule(_) | AppError::Conflict)
        ) {
            if let Some(outcome) = self.replay(&booking_ctx).await? {
                return Ok(outcome);
            }
        }
        placed
    }

    async fn slot_location(
        &self,
        tenant: TenantId,
        made: &OfferMade,
    ) -> Result<LocationId, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT location_id FROM waitlist.slots WHERE tenant_id = $1 AND slot_id = $2",
            )
            .await?;
        client
            .query_opt(&stmt, &[&tenant.as_uuid(), &made.slot_id.as_uuid()])
            .await?
            .map(|r| LocationId::from_uuid(r.get(0)))
            .ok_or(AppError::NotFound("slot"))
    }

    /// Ends a claimed offer without a booking and offers its slot to the next.
    async fn withdraw(
        &self,
        ctx: &CommandContext,
        offer_id: OfferId,
        stream: &str,
        reason: String,
    ) -> Result<(), AppError> {
        let system = system_context(ctx.tenant, ctx.correlation_id);
        let (tenant, id) = (ctx.tenant.as_uuid(), offer_id.as_uuid());
        {
            let _turn = self.stream_turns.take(stream).await;
            let mut tries = 0;
            loop {
                tries += 1;
                let (version, list) = self.read_waitlist(ctx.tenant, stream).await?;
                if list.offer(offer_id).map(|o| o.status) != Some(OfferStatus::Open) {
                    return Ok(());
                }
                match self
                    .append_one_then(
                        &system,
                        (stream, ExpectedVersion::Exact(version)),
                        &WaitlistEvent::OfferWithdrawn(OfferWithdrawn {
                            offer_id,
                            reason: reason.clone(),
                            at: Utc::now(),
                        }),
                        200,
                        (json!({ "offer_id": offer_id }), &SideWrites::default()),
                        move |tx| Box::pin(set_state(tx, tenant, id, ("accepting", "withdrawn"))),
                    )
                    .await
                {
                    Err(AppError::Conflict) if tries < RETRIES => continue,
                    Err(AppError::Clash(_)) => return Ok(()),
                    Err(e) => return Err(e),
                    Ok(_) => break,
                }
            }
        }
        self.offer_next(ctx.tenant, offer_id, stream, Utc::now(), ctx.correlation_id)
            .await;
        Ok(())
    }

    /// After an offer ended: its slot to the next waiting customer (failures are
    /// logged; the sweeper does not retry them, the slot simply stays free).
    async fn offer_next(
        &self,
        tenant: TenantId,
        offer_id: OfferId,
        stream: &str,
        now: DateTime<Utc>,
        correlation: uuid::Uuid,
    ) {
        let slot = async {
            let (_, list) = self.read_waitlist(tenant, stream).await?;
            let Some(offer) = list.offer(offer_id) else {
                return Ok(None);
            };
            self.slot(tenant, offer.made.slot_id).await
        }
        .await;
        let result = match slot {
            Ok(Some(slot)) => self.offer_slot(&slot, now, correlation).await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, %offer_id, "offering a slot to the next customer failed");
        }
    }

    async fn slot(&self, tenant: TenantId, slot_id: SlotId) -> Result<Option<Slot>, AppError> {
        self.slot_in(
            "SELECT location_id, date, starts_at, ends_at FROM waitlist.slots
             WHERE tenant_id = $1 AND slot_id = $2",
            tenant,
            slot_id,
        )
        .await
    }

    /// A slot's place and time, read by `sql` (`$1` tenant, `$2` slot id; location,
    /// date, start, end).
    async fn slot_in(
        &self,
        sql: &'static str,
        tenant: TenantId,
        slot_id: SlotId,
    ) -> Result<Option<Slot>, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client.prepare_cached(sql).await?;
        Ok(client
            .query_opt(&stmt, &[&tenant.as_uuid(), &slot_id.as_uuid()])
            .await?
            .map(|r| Slot {
                tenant,
                slot_id,
                location_id: LocationId::from_uuid(r.get(0)),
                date: r.get(1),
                starts_at: r.get(2),
                ends_at: r.get(3),
            }))
    }

    /// The cancellation's hook: records the freed slot (the booking's time as it was
    /// when cancelled) and offers it. Never fails the cancellation (it is committed);
    /// the sweeper picks up what this could not do.
    pub(super) async fn offer_freed_booking(&self, ctx: &CommandContext, freed: &BookingPlaced) {
        let result = async {
            let slot = self.record_slot(cancelled_slot(ctx.tenant, freed)?).await?;
            self.offer_slot(&slot, Utc::now(), ctx.correlation_id).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, booking = %freed.booking_id,
                "offering a freed slot to the waitlist failed; the sweeper will try again");
        }
    }

    /// The reschedule's hook: records the slot of the time a booking moved away from
    /// (written by the committed move in `booking.moves`) and offers it. Never fails
    /// the move; the sweeper picks up what this could not do. A slot without a move
    /// (the move was not committed: a twin recorded it) is left to the twin.
    pub(super) async fn offer_moved_from(&self, ctx: &CommandContext, slot_id: SlotId) {
        let result = async {
            match self.moved_slot(ctx.tenant, slot_id).await? {
                Some(slot) => {
                    let slot = self.record_slot(slot).await?;
                    self.offer_slot(&slot, Utc::now(), ctx.correlation_id).await
                }
                None => Ok(None),
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, slot = %slot_id,
                "offering a moved booking's old time to the waitlist failed; the sweeper will try again");
        }
    }

    /// The time a move left, as the moving transaction recorded it.
    async fn moved_slot(
        &self,
        tenant: TenantId,
        slot_id: SlotId,
    ) -> Result<Option<Slot>, AppError> {
        self.slot_in(
            "SELECT location_id, date, starts_at, ends_at FROM booking.moves
             WHERE tenant_id = $1 AND slot_id = $2",
            tenant,
            slot_id,
        )
        .await
    }

    /// Records a freed slot (once: a retry's insert does nothing).
    async fn record_slot(&self, slot: Slot) -> Result<Slot, AppError> {
        let tenant = slot.tenant;
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO waitlist.slots (tenant_id, slot_id, stream_id, location_id, date,
                                             starts_at, ends_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[
                    &tenant.as_uuid(),
                    &slot.slot_id.as_uuid(),
                    &wire::stream_id(slot.location_id, slot.date),
                    &slot.location_id.as_uuid(),
                    &slot.date,
                    &slot.starts_at,
                    &slot.ends_at,
                ],
            )
            .await?;
        Ok(slot)
    }

    /// Offers a freed slot to the first waiting customer it fits, unless someone holds
    /// its offer. Returns the offer made, if any.
    async fn offer_slot(
        &self,
        slot: &Slot,
        now: DateTime<Utc>,
        correlation: uuid::Uuid,
    ) -> Result<Option<OfferId>, AppError> {
        let tenant = slot.tenant;
        let stream = wire::stream_id(slot.location_id, slot.date);
        let _turn = self.stream_turns.take(&stream).await;
        let mut tries = 0;
        loop {
            tries += 1;
            let (version, list) = self.read_waitlist(tenant, &stream).await?;
            if version == 0
                || slot.ends_at <= now
                || list.open_offer_of_slot(slot.slot_id).is_some()
            {
                return Ok(None);
            }
            let Some(settings) = self.location_settings(tenant, slot.location_id).await? else {
                return Ok(None);
            };
            let tz = zone(&settings)?;
            let (_, day) = self.load_day(tenant, slot.location_id, slot.date).await?;
            let Some(choice) = self.choose(slot, &list, (&settings, tz), &day, now).await? else {
                return Ok(None);
            };
            let offer_id = OfferId::new();
            let expires_at = now + Duration::minutes(i64::from(settings.waitlist_reply_minutes));
            let made = OfferMade {
                offer_id,
                entry_id: choice.entry.entry_id,
                customer_id: choice.entry.customer_id,
                slot_id: slot.slot_id,
                starts_at: choice.starts_at,
                ends_at: choice.ends_at,
                services: choice.services.clone(),
                made_at: now,
                expires_at,
            };
            let local = choice.starts_at.with_timezone(&tz).naive_local();
            let text =
                format!(
                "A visit at {} on {} at {} has become free for you. Accept or decline it by {}.",
                settings.name,
                local.format("%Y-%m-%d"),
                local.format("%H:%M"),
                expires_at.with_timezone(&tz).naive_local().format("%Y-%m-%d %H:%M"),
            );
            let dedupe = format!("waitlist:{}:{}", slot.slot_id, choice.entry.entry_id);
            let (t, o, s, e, c) = (
                tenant.as_uuid(),
                offer_id.as_uuid(),
                slot.slot_id.as_uuid(),
                choice.entry.entry_id.as_uuid(),
                choice.entry.customer_id.as_uuid(),
            );
            let side = SideWrites {
                statements: vec![(
                    "INSERT INTO waitlist.offers (tenant_id, offer_id, stream_id, slot_id, entry_id,
                                                  customer_id, made_at, expires_at, state)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')",
                    vec![&t, &o, &stream, &s, &e, &c, &now, &expires_at],
                )],
                ..Default::default()
            };
            let system = system_context(tenant, correlation);
            let appended = self
                .append_one_then(
                    &system,
                    (&stream, ExpectedVersion::Exact(version)),
                    &WaitlistEvent::OfferMade(made),
                    201,
                    (json!({ "offer_id": offer_id }), &side),
                    {
                        let (app, phone) = (self.clone(), choice.phone.clone());
                        move |tx| {
                            Box::pin(async move {
                                app.enqueue_tx(
                                    tx,
                                    &Message {
                                        tenant,
                                        kind: OFFER_KIND,
                                        subject: Some(c),
                                        recipient: &phone,
                                        text: &text,
                                        not_before: None,
                                        dedupe_key: Some(&dedupe),
                                    },
                                )
                                .await
                                .map(|_| ())
                            })
                        }
                    },
                )
                .await;
            match appended {
                Ok(_) => {
                    self.wake_notifier();
                    return Ok(Some(offer_id));
                }
                Err(AppError::Conflict) if tries < RETRIES => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The first waiting entry (in join order) the slot fits, and how.
    async fn choose(
        &self,
        slot: &Slot,
        list: &DayWaitlist,
        (settings, tz): (&LocationSettings, Tz),
        day: &DaySchedule,
        now: DateTime<Utc>,
    ) -> Result<Option<Choice>, AppError> {
        let tenant = slot.tenant;
        for entry in &list.entries {
            let j = &entry.joined;
            if entry.status != EntryStatus::Waiting
                || list.holds_offer(j.entry_id)
                || list.was_offered(slot.slot_id, j.entry_id)
                || j.to <= slot.starts_at
                || j.from >= slot.ends_at
            {
                continue;
            }
            if self.offers_in_a_day(tenant, j.customer_id, now).await?
                >= i64::from(settings.waitlist_offers_per_day)
            {
                continue;
            }
            let services: Vec<ServiceRequest> = j
                .services
                .iter()
                .map(|s| ServiceRequest {
                    service_id: s.service_id,
                    staff_id: s.staff_id,
                    room_id: None,
                })
                .collect();
            let context = match self
                .booking_context(
                    tenant,
                    slot.location_id,
                    &services,
                    settings.clone(),
                    tz,
                    slot.date,
                    None,
                )
                .await
            {
                Ok(c) => c,
                // A service unpublished or a technician gone since she joined.
                Err(AppError::Rule(_) | AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let mut t = j.from.max(slot.starts_at);
            let mut found = None;
            while t < slot.ends_at && t < j.to {
                if t > now {
                    match bookings::first_fit(&context, day, slot.date, t, &services, false) {
                        Ok((fit, _)) => {
                            let end = fit.services.last().map_or(t, |s| s.span.end);
                            if end <= j.to {
                                found = Some((t, end, fit));
                                break;
                            }
                        }
                        Err(bookings::Misfit::Rule(_)) => break,
                        Err(bookings::Misfit::Unavailable(_)) => {}
                    }
                }
                t += Duration::minutes(STEP_MINUTES);
            }
            let Some((starts_at, ends_at, fit)) = found else {
                continue;
            };
            let phone = match self.customer_phone(tenant, j.customer_id).await {
                Ok(p) => p,
                Err(AppError::Erased | AppError::NotFound(_) | AppError::Customer(_)) => continue,
                Err(e) => return Err(e),
            };
            return Ok(Some(Choice {
                entry: j.clone(),
                starts_at,
                ends_at,
                services: fit
                    .services
                    .iter()
                    .map(|s| OfferedService {
                        service_id: s.service_id,
                        staff_id: s.staff_id,
                    })
                    .collect(),
                phone,
            }));
        }
        Ok(None)
    }

    /// Offers made to a customer in the 24 hours before `now`.
    async fn offers_in_a_day(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<i64, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let stmt = client
            .prepare_cached(
                "SELECT count(*) FROM waitlist.offers
                 WHERE tenant_id = $1 AND customer_id = $2
                   AND made_at > $3::timestamptz - interval '24 hours' AND made_at <= $3",
            )
            .await?;
        Ok(client
            .query_one(&stmt, &[&tenant.as_uuid(), &customer.as_uuid(), &now])
            .await?
            .get(0))
    }

    /// Records an open offer's expiry (unless it was claimed or answered meanwhile).
    async fn expire(
        &self,
        tenant: TenantId,
        offer_id: OfferId,
        stream: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let system = system_context(tenant, offer_id.as_uuid());
        let (t, id) = (tenant.as_uuid(), offer_id.as_uuid());
        let _turn = self.stream_turns.take(stream).await;
        let mut tries = 0;
        loop {
            tries += 1;
            let (version, list) = self.read_waitlist(tenant, stream).await?;
            match list.offer(offer_id) {
                Some(o) if o.status == OfferStatus::Open && o.made.expires_at <= now => {}
                _ => return Ok(false),
            }
            match self
                .append_one_then(
                    &system,
                    (stream, ExpectedVersion::Exact(version)),
                    &WaitlistEvent::OfferExpired(OfferExpired { offer_id, at: now }),
                    200,
                    (json!({ "offer_id": offer_id }), &SideWrites::default()),
                    move |tx| Box::pin(set_state(tx, t, id, ("open", "expired"))),
                )
                .await
            {
                Ok(_) => return Ok(true),
                Err(AppError::Conflict) if tries < RETRIES => continue,
                // Claimed by an acceptance, or answered: not ours to expire.
                Err(AppError::Clash(_)) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// One sweep, judging by `now`: expires the offers whose reply window has passed
    /// and offers their slots to the next; finishes acceptances interrupted after
    /// their claim; offers the slots of cancellations and moves whose hook did not run.
    /// The
    /// worker calls it every few seconds with the clock; tests call it with the
    /// instant they choose.
    pub async fn sweep_waitlist(&self, now: DateTime<Utc>) -> Result<Swept, AppError> {
        let mut swept = Swept::default();
        let (due, stuck, missed, moved) = {
            let client = self.pool.get().await.map_err(AppError::from_pool)?;
            let due = client
                .prepare_cached(
                    "SELECT tenant_id, offer_id, stream_id FROM waitlist.offers
                     WHERE state = 'open' AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
                )
                .await?;
            let due = client.query(&due, &[&now, &SWEEP_BATCH]).await?;
            let stuck = client
                .prepare_cached(
                    "SELECT tenant_id, offer_id, stream_id FROM waitlist.offers
                     WHERE state = 'accepting'
                       AND claimed_at < now() - $1::float8 * interval '1 second'
                     LIMIT $2",
                )
                .await?;
            let stuck = client
                .query(&stuck, &[&STUCK_AFTER_SECONDS, &SWEEP_BATCH])
                .await?;
            let missed = client
                .prepare_cached(
                    "SELECT b.tenant_id, b.booking_id, b.stream_id FROM booking.bookings b
                     WHERE b.cancelled_at IS NOT NULL AND b.starts_at > $1
                       AND NOT EXISTS (SELECT 1 FROM waitlist.slots s
                                       WHERE s.tenant_id = b.tenant_id AND s.slot_id = b.booking_id)
                     LIMIT $2",
                )
                .await?;
            let missed = client.query(&missed, &[&now, &SWEEP_BATCH]).await?;
            let moved = client
                .prepare_cached(
                    "SELECT m.tenant_id, m.slot_id FROM booking.moves m
                     WHERE m.ends_at > $1
                       AND NOT EXISTS (SELECT 1 FROM waitlist.slots s
                                       WHERE s.tenant_id = m.tenant_id AND s.slot_id = m.slot_id)
                     LIMIT $2",
                )
                .await?;
            let moved = client.query(&moved, &[&now, &SWEEP_BATCH]).await?;
            (due, stuck, missed, moved)
        };
        for row in due {
            let tenant = TenantId::from_uuid(row.get(0));
            let offer = OfferId::from_uuid(row.get(1));
            let stream: String = row.get(2);
            match self.expire_and_move_on(tenant, offer, &stream, now).await {
                Ok((expired, offered)) => {
                    swept.expired += usize::from(expired);
                    swept.offered += usize::from(offered);
                }
                // One offer's trouble does not hold the others up.
                Err(e) => tracing::warn!(error = %e, %offer, "expiring a waitlist offer failed"),
            }
        }
        for row in stuck {
            let tenant = TenantId::from_uuid(row.get(0));
            let offer = OfferId::from_uuid(row.get(1));
            let stream: String = row.get(2);
            let system = system_context(tenant, offer.as_uuid());
            match self.finish_accept(&system, offer, &stream).await {
                Ok(_) => swept.finished += 1,
                Err(e) => {
                    tracing::warn!(error = %e, %offer, "finishing an interrupted acceptance failed");
                }
            }
        }
        for row in missed {
            let tenant = TenantId::from_uuid(row.get(0));
            let booking = BookingId::from_uuid(row.get(1));
            let stream: String = row.get(2);
            match self.offer_missed(tenant, booking, &stream, now).await {
                Ok(offered) => swept.offered += usize::from(offered),
                Err(e) => {
                    tracing::warn!(error = %e, %booking, "offering a missed freed slot failed");
                }
            }
        }
        for row in moved {
            let tenant = TenantId::from_uuid(row.get(0));
            let slot = SlotId::from_uuid(row.get(1));
            match self.offer_missed_move(tenant, slot, now).await {
                Ok(offered) => swept.offered += usize::from(offered),
                Err(e) => {
                    tracing::warn!(error = %e, %slot, "offering a missed moved-from slot failed");
                }
            }
        }
        Ok(swept)
    }

    /// Expires an offer and offers its slot to the next: (expired, offered).
    async fn expire_and_move_on(
        &self,
        tenant: TenantId,
        offer: OfferId,
        stream: &str,
        now: DateTime<Utc>,
    ) -> Result<(bool, bool), AppError> {
        if !self.expire(tenant, offer, stream, now).await? {
            return Ok((false, false));
        }
        let (_, list) = self.read_waitlist(tenant, stream).await?;
        let slot = match list.offer(offer) {
            Some(o) => self.slot(tenant, o.made.slot_id).await?,
            None => None,
        };
        let offered = match slot {
            Some(slot) => self
                .offer_slot(&slot, now, offer.as_uuid())
                .await?
                .is_some(),
            None => false,
        };
        Ok((true, offered))
    }

    /// Records and offers the slot of a cancellation whose hook did not run.
    async fn offer_missed(
        &self,
        tenant: TenantId,
        booking: BookingId,
        stream: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let Some(freed) = self.cancelled_booking(tenant, stream, booking).await? else {
            return Ok(false);
        };
        let slot = self.record_slot(cancelled_slot(tenant, &freed)?).await?;
        Ok(self
            .offer_slot(&slot, now, booking.as_uuid())
            .await?
            .is_some())
    }

    /// Records and offers the slot of a move whose hook did not run.
    async fn offer_missed_move(
        &self,
        tenant: TenantId,
        slot_id: SlotId,
        now: DateTime<Utc>,
    ) -> Result<bool, AppError> {
        let Some(slot) = self.moved_slot(tenant, slot_id).await? else {
            return Ok(false);
        };
        let slot = self.record_slot(slot).await?;
        Ok(self
            .offer_slot(&slot, now, slot_id.as_uuid())
            .await?
            .is_some())
    }

    /// A booking as it was when cancelled, from the history of the schedule that held
    /// it then: as placed there, or as last moved there (a booking moved from another
    /// date has no `BookingPlaced` in it; one moved within its date has both).
    async fn cancelled_booking(
        &self,
        tenant: TenantId,
        stream: &str,
        booking: BookingId,
    ) -> Result<Option<BookingPlaced>, AppError> {
        use events_schema::booking::BookingEvent;
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let mut last = None;
        for e in store::read_stream(&client, tenant, stream).await? {
            match BookingEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?
            {
                BookingEvent::Placed(p) if p.booking_id == booking => last = Some(p),
                BookingEvent::Rescheduled(r) if r.booking.booking_id == booking => {
                    last = Some(r.booking);
                }
                _ => {}
            }
        }
        Ok(last)
    }
}

/// The slot of a cancelled booking: its time as it was when cancelled, under its id.
fn cancelled_slot(tenant: TenantId, freed: &BookingPlaced) -> Result<Slot, AppError> {
    let (Some(first), Some(last)) = (freed.services.first(), freed.services.last()) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "a booking without services"
        )));
    };
    Ok(Slot {
        tenant,
        slot_id: SlotId::cancelled(freed.booking_id),
        location_id: freed.location_id,
        date: freed.date,
        starts_at: first.span.start,
        ends_at: last.span.end,
    })
}

/// The answer for an offer that already ended: its status (and booking).
fn ended(offer_id: OfferId, status: OfferStatus, version: i64) -> Outcome {
    let mut body = json!({ "offer_id": offer_id, "status": status.as_str(), "version": version });
    if let OfferStatus::Accepted(booking) = status {
        body["booking_id"] = json!(booking);
    }
    Outcome { status: 200, body }
}

/// Sweeps until `shutdown`: every few seconds.
pub async fn run_sweeper(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = app.sweep_waitlist(Utc::now()).await {
            tracing::error!(error = %e, "waitlist sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
