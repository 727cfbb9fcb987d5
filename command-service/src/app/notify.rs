//! Notifications (DESIGN §9): one mechanism for every message Belle sends a person —
//! sign-in codes now; reminders, waitlist offers, price-change notices and campaigns
//! later.
//!
//! * **Outbox.** [`App::enqueue_tx`] writes the message into `notify.outbox` inside the
//!   caller's transaction, so it exists exactly when the change that causes it commits.
//!   Recipient and text are sealed with a data key of the notification's own
//!   (`keys.subject_keys`, subject = notification id).
//! * **Worker.** [`run_worker`] claims due rows with `FOR UPDATE SKIP LOCKED` (several
//!   instances share the work), hands each message to the channel, and in the same
//!   transaction marks the row and appends `NotificationSent` to
//!   `notification-<id>` (expected version: no stream), so the send is recorded exactly
//!   once. Once sent or given up, the notification's key is destroyed: nothing readable
//!   is left behind.
//! * **Retries.** A failed send is tried again with exponential backoff (2 s, 4 s, …,
//!   at most 5 min) up to [`MAX_ATTEMPTS`]; a gateway that refuses a message for good
//!   (4xx but 408/429) ends it at once. Each try sends the same bytes under the same
//!   `Idempotency-Key` (the notification id): after a crash between a gateway's 2xx and
//!   our commit the gateway sees a retry, never a second, different message.
//! * **Channels.** `log` (development) appends each message as one JSON line to a file
//!   — a stand-in for the phone, so the service log itself never holds a recipient or a
//!   code; `webhook` POSTs the message as JSON to a gateway URL (how SMS, WeChat or
//!   e-mail gateways are plugged in).

use super::{App, AppError};
use deadpool_postgres::GenericClient;
use events_schema::envelope::{DomainEvent, Metadata};
use events_schema::ids::TenantId;
use events_schema::notification::{self, NotificationEvent, NotificationFailed, NotificationSent};
use events_schema::sealing::{self, SealContext, SealedValue};
use events_schema::store::{self, ExpectedVersion, StreamAppend};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Mutex, Notify};
use uuid::Uuid;

/// Tries before a message is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Rows one round claims.
const CLAIM: i64 = 16;
/// How long a gateway may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Sealing labels of the outbox's two sealed columns.
const RECIPIENT_FIELD: &str = "recipient";
const BODY_FIELD: &str = "body";

/// Where messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// One JSON line per message appended to this file (development and tests).
    Log { file: PathBuf },
    /// `POST` to this URL with an `Idempotency-Key` header.
    Webhook { url: String },
}

impl Channel {
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Log { .. } => "log",
            Channel::Webhook { .. } => "webhook",
        }
    }
}

/// The channel, its HTTP client and the worker's wake-up; shared by clones of [`App`].
pub struct Notifier {
    channel: Channel,
    http: reqwest::Client,
    wakeup: Notify,
    /// Wakes the reminder planner ([`super::reminders`]) when a rota, a staff record or
    /// the settings change.
    pub plan_wakeup: Notify,
    /// Serialises appends to the log file.
    log_lock: Mutex<()>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("channel", &self.channel.name())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    pub fn new(channel: Channel) -> anyhow::Result<Arc<Notifier>> {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Arc::new(Notifier {
            channel,
            http,
            wakeup: Notify::new(),
            plan_wakeup: Notify::new(),
            log_lock: Mutex::new(()),
        }))
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}

/// A message to queue.
pub struct Message<'a> {
    pub tenant: TenantId,
    /// `sign_in_code`, …: recorded in the events, so it must identify no one.
    pub kind: &'static str,
    /// The person it concerns, when known (her customer id).
    pub subject: Option<Uuid>,
    /// Where to (a phone number in E.164 for SMS).
    pub recipient: &'a str,
    pub text: &'a str,
    /// Not sent before this instant (a reminder); none: at once.
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    /// What a planned message is for (`shift:<staff>:<start>:<lead>`): a second message
    /// with the same key in the same tenant is refused by the outbox.
    pub dedupe_key: Option<&'a str>,
}

/// What the channel made of one try.
enum Delivery {
    Sent,
    /// Try again later.
    Retry(String),
    /// Never try again.
    Refused(String),
}

/// One claimed row.
struct Due {
    id: Uuid,
    tenant: TenantId,
    kind: String,
    subject: Option<Uuid>,
    recipient: String,
    body: String,
    attempts: i32,
}

const CLAIM_DUE: &str = "\
SELECT notification_id, tenant_id, kind, subject_id, recipient, body, attempts
FROM notify.outbox
WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
ORDER BY next_attempt_at
LIMIT $1
FOR UPDATE SKIP LOCKED";

impl App {
    /// Queues a message inside the caller's transaction; the worker is woken after
    /// the caller commits ([`App::wake_notifier`]). Returns the notification id.
    pub async fn enqueue_tx(
        &self,
        tx: &impl GenericClient,
        message: &Message<'_>,
    ) -> Result<Uuid, AppError> {
        let id = Uuid::now_v7();
        let key = self.keys.prepare_subject_key(message.tenant, id);
        let seal = |field, text: &str| {
            let sealed = sealing::seal(
                &key.dek,
                key.version,
                &SealContext {
                    tenant: message.tenant,
                    subject: id,
                    field,
                },
                text,
            );
            serde_json::to_string(&sealed).map_err(|e| AppError::Internal(e.into()))
        };
        let recipient = seal(RECIPIENT_FIELD, message.recipient)?;
        let body = seal(BODY_FIELD, message.text)?;
        self.keys.insert_subject_key_tx(tx, &key).await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO notify.outbox (notification_id, tenant_id, kind, subject_id, recipient, body,
                                            next_attempt_at, dedupe_key)
                 VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()), $8)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &id,
                &message.tenant.as_uuid(),
                &message.kind,
                &message.subject,
                &recipient,
                &body,
                &message.not_before,
                &message.dedupe_key,
            ],
        )
        .await?;
        Ok(id)
    }

    /// Tells the worker that a message is waiting (call after commit).
    pub fn wake_notifier(&self) {
        self.notifier.wakeup.notify_one();
    }

    /// One round: claims due messages, sends them, records the outcomes. Returns how
    /// many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, AppError> {
        let mut client = self.pool.get().await.map_err(AppError::from_pool)?;
        let tx = client.transaction().await?;
        let stmt = tx.prepare_cached(CLAIM_DUE).await?;
        let rows = tx.query(&stmt, &[&CLAIM]).await?;
        let claimed = rows.len();
        for row in rows {
            let due = Due {
                id: row.get(0),
                tenant: TenantId::from_uuid(row.get(1)),
                kind: row.get(2),
                subject: row.get(3),
                recipient: row.get(4),
                body: row.get(5),
                attempts: row.get::<_, i32>(6) + 1,
            };
            let delivery = match self.open_message(&due).await {
                Ok(Some((recipient, text))) => self.send(&due, &recipient, &text).await,
                Ok(None) => Delivery::Refused("the message's key is gone".into()),
                Err(e) => Delivery::Retry(format!("opening the message: {e}")),
            };
            self.record(&tx, &due, delivery).await?;
        }
        tx.commit().await?;
        if claimed > 0 {
            self.relay_wakeup.notify_one();
        }
        Ok(claimed)
    }

    async fn open_message(&self, due: &Due) -> Result<Option<(String, String)>, AppError> {
        let Some(dek) = self.keys.subject_key(due.tenant, due.id, 1).await? else {
            return Ok(None);
        };
        let open = |field, stored: &str| -> Result<String, AppError> {
            let sealed: SealedValue =
                serde_json::from_str(stored).map_err(|e| AppError::Internal(e.into()))?;
            sealing::open(
                &dek,
                &SealContext {
                    tenant: due.tenant,
                    subject: due.id,
                    field,
                },
                &sealed,
            )
            .map_err(|e| AppError::Internal(anyhow::anyhow!("sealed {field}: {e}")))
        };
        Ok(Some((
            open(RECIPIENT_FIELD, &due.recipient)?,
            open(BODY_FIELD, &due.body)?,
        )))
    }

    async fn send(&self, due: &Due, recipient: &str, text: &str) -> Delivery {
        let message = serde_json::json!({
            "notification_id": due.id,
            "tenant_id": due.tenant,
            "kind": due.kind,
            "to": recipient,
            "text": text,
        });
        match &self.notifier.channel {
            Channel::Log { file } => {
                let _guard = self.notifier.log_lock.lock().await;
                let line = format!("{message}\n");
                let written = async {
                    let mut f = tokio::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(file)
                        .await?;
                    f.write_all(line.as_bytes()).await?;
                    f.flush().await
                }
                .await;
                match written {
                    Ok(()) => Delivery::Sent,
                    Err(e) => Delivery::Retry(format!("log file: {}", e.kind())),
                }
            }
            Channel::Webhook { url } => {
                let sent = self
                    .notifier
                    .http
                    .post(url)
                    .header("Idempotency-Key", due.id.to_string())
                    .json(&message)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => Delivery::Sent,
                    Ok(r) => {
                        let status = r.status();
                        let error = format!("gateway answered {}", status.as_u16());
                        if status.is_client_error()
                            && status != reqwest::StatusCode::REQUEST_TIMEOUT
                            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                        {
                            Delivery::Refused(error)
                        } else {
                            Delivery::Retry(error)
                        }
                    }
                    Err(e) if e.is_timeout() => Delivery::Retry("gateway timed out".into()),
                    Err(e) if e.is_connect() => Delivery::Retry("gateway unreachable".into()),
                    Err(_) => Delivery::Retry("gateway request failed".into()),
                }
            }
        }
    }

    async fn record(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        due: &Due,
        delivery: Delivery,
    ) -> Result<(), AppError> {
        let channel = self.notifier.channel.name().to_owned();
        let event = match delivery {
            Delivery::Sent => NotificationEvent::Sent(NotificationSent {
                notification_id: due.id,
                kind: due.kind.clone(),
                channel,
                subject_id: due.subject,
                attempts: due.attempts,
            }),
            Delivery::Retry(error) if due.attempts < MAX_ATTEMPTS => {
                let backoff =
                    Duration::from_secs(1u64 << due.attempts.clamp(1, 16)).min(MAX_BACKOFF);
                tracing::warn!(notification = %due.id, attempts = due.attempts, %error,
                    "sending a notification failed; will try again");
                let stmt = tx
                    .prepare_cached(
                        "UPDATE notify.outbox SET attempts = $2, last_error = $3,
                             next_attempt_at = now() + $4::float8 * interval '1 second'
                         WHERE notification_id = $1",
                    )
                    .await?;
                tx.execute(
                    &stmt,
                    &[&due.id, &due.attempts, &error, &backoff.as_secs_f64()],
                )
                .await?;
                return Ok(());
            }
            Delivery::Retry(error) | Delivery::Refused(error) => {
                tracing::warn!(notification = %due.id, attempts = due.attempts, %error,
                    "giving a notification up");
                NotificationEvent::Failed(NotificationFailed {
                    notification_id: due.id,
                    kind: due.kind.clone(),
                    channel,
                    subject_id: due.subject,
                    attempts: due.attempts,
                    error,
                })
            }
        };
        let (column, error) = match &event {
            NotificationEvent::Sent(_) => ("sent_at", None),
            NotificationEvent::Failed(f) => ("failed_at", Some(f.error.clone())),
        };
        let new_event = event
            .to_new_event()
            .map_err(|e| AppError::Internal(e.into()))?;
        let metadata = Metadata::system(due.tenant, due.id);
        let stream_id = notification::stream_id(due.id);
        store::append_tx(
            tx,
            &StreamAppend {
                tenant_id: due.tenant,
                stream_id: &stream_id,
                stream_type: notification::STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&new_event),
                metadata: &metadata,
            },
        )
        .await?;
        let stmt = tx
            .prepare_cached(&format!(
                "UPDATE notify.outbox SET {column} = now(), attempts = $2, last_error = $3
                 WHERE notification_id = $1"
            ))
            .await?;
        tx.execute(&stmt, &[&due.id, &due.attempts, &error]).await?;
        // The message is out (or given up): nothing readable stays behind.
        let stmt = tx
            .prepare_cached(
                "DELETE FROM keys.subject_keys WHERE tenant_id = $1 AND subject_id = $2",
            )
            .await?;
        tx.execute(&stmt, &[&due.tenant.as_uuid(), &due.id]).await?;
        self.keys.forget_subject(due.tenant, due.id);
        Ok(())
    }
}

/// Delivers due messages until `shutdown`: at once when woken, else every second (for
/// retries that come due and for messages queued by other instances).
pub async fn run_worker(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        match app.deliver_due().await {
            Ok(n) if i64::try_from(n).is_ok_and(|n| n == CLAIM) => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "notification worker round failed"),
        }
        tokio::select! {
            _ = app.notifier.wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
