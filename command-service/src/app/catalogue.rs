//! The service catalogue: categories (SVC-1) — the six defaults every tenant starts
//! with, and the salon's own additions, names and order — and services (SVC-2) with
//! their publication and their prices over time (SVC-4, SVC-5). Their images are in
//! `images.rs`.

use super::{App, AppError, CommandContext, Outcome};
use deadpool_postgres::GenericClient;
use events_schema::catalogue::{
    self as wire, CategoryChanged, CategoryCreated, CategoryEvent, ServiceChanged, ServiceCreated,
    ServiceDetails, ServiceEvent, ServicePublication, DEFAULT_CATEGORIES,
};
use events_schema::catalogue::{price_at, PricingMethod, ScheduledPrice, ServicePriceChanged};
use rust_decimal::Decimal;

/// A new price (SVC-4).
pub struct NewPrice {
    pub price: Decimal,
    /// None: now.
    pub effective_at: Option<chrono::DateTime<chrono::Utc>>,
    pub method: PricingMethod,
    pub reason: String,
    pub override_reason: Option<String>,
}
use events_schema::envelope::{DomainEvent, Metadata};
use events_schema::ids::{CategoryId, ImageId, ServiceId, TenantId};
use events_schema::store::{self, ExpectedVersion, StreamAppend};

#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    #[error("no such category")]
    NotFound,
    #[error("the category is already exactly so")]
    NothingChanged,
    #[error("no such service")]
    ServiceNotFound,
    #[error("the service is already exactly so")]
    ServiceUnchanged,
    /// The service shows no such image, and never did.
    #[error("no such image of this service")]
    ImageNotFound,
    /// A service shows at most this many images.
    #[error("a service shows at most {max} images: remove one first")]
    TooManyImages { max: usize },
    /// SVC-5 (gradual): the change is larger than the salon's bound.
    #[error("the price changes by {change_percent}%, beyond the salon's bound of ±{bound_percent}%: give override_reason to go ahead")]
    BeyondBound {
        change_percent: rust_decimal::Decimal,
        bound_percent: u32,
    },
}

/// A service's stream folded: version, details, whether it is published, its images.
impl LoadedService {
    pub(super) fn details(&self) -> &ServiceDetails {
        &self.details
    }

    pub(super) fn published(&self) -> bool {
        self.published
    }

    /// The price in force at `at`.
    pub(super) fn price_at(
        &self,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<rust_decimal::Decimal> {
        price_at(&self.schedule, at).map(|p| p.price)
    }
}

pub(super) struct LoadedService {
    pub(super) version: i64,
    pub(super) last_position: i64,
    schedule: Vec<ScheduledPrice>,
    details: ServiceDetails,
    published: bool,
    /// Images shown with it, in the order added.
    pub(super) images: Vec<ImageId>,
    /// Images it showed once and no longer does.
    pub(super) removed_images: Vec<ImageId>,
}

/// A category's validated fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryFields {
    pub name: String,
    pub description: String,
    pub position: i32,
}

/// A change: the fields given replace the current ones.
pub struct ChangeCategory {
    pub category_id: CategoryId,
    pub expected_version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub position: Option<i32>,
}

/// Appends the default categories of a new tenant inside its creation transaction.
pub(super) async fn create_defaults(
    tx: &impl GenericClient,
    tenant: TenantId,
    metadata: &Metadata,
) -> Result<(), AppError> {
    for (i, (name, description)) in DEFAULT_CATEGORIES.iter().enumerate() {
        let id = CategoryId::new();
        let event = CategoryEvent::Created(CategoryCreated {
            category_id: id,
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            position: i32::try_from(i + 1).unwrap_or(i32::MAX),
        })
        .to_new_event()
        .map_err(|e| AppError::Internal(e.into()))?;
        store::append_tx(
            tx,
            &StreamAppend {
                tenant_id: tenant,
                stream_id: &wire::category_stream_id(id),
                stream_type: wire::CATEGORY_STREAM_TYPE,
                expected: ExpectedVersion::NoStream,
                events: std::slice::from_ref(&event),
                metadata,
            },
        )
        .await?;
    }
    Ok(())
}

impl App {
    pub async fn create_category(
        &self,
        ctx: &CommandContext,
        fields: CategoryFields,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let id = CategoryId::new();
        let event = CategoryEvent::Created(CategoryCreated {
            category_id: id,
            name: fields.name,
            description: fields.description,
            position: fields.position,
        });
        self.append_category(ctx, id, ExpectedVersion::NoStream, &event, 201)
            .await
    }

    pub async fn change_category(
        &self,
        ctx: &CommandContext,
        cmd: ChangeCategory,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let (version, current) = self.load_category(ctx.tenant, cmd.category_id).await?;
        if cmd.expected_version.is_some_and(|v| v != version) {
            return Err(AppError::Conflict);
        }
        let next = CategoryFields {
            name: cmd.name.unwrap_or_else(|| current.name.clone()),
            description: cmd
                .description
                .unwrap_or_else(|| current.description.clone()),
            position: cmd.position.unwrap_or(current.position),
        };
        if next == current {
            return Err(CategoryError::NothingChanged.into());
        }
        let event = CategoryEvent::Changed(CategoryChanged {
            category_id: cmd.category_id,
            name: next.name,
            description: next.description,
            position: next.position,
        });
        self.append_category(
            ctx,
            cmd.category_id,
            ExpectedVersion::Exact(version),
            &event,
            200,
        )
        .await
    }

    async fn load_category(
        &self,
        tenant: TenantId,
        id: CategoryId,
    ) -> Result<(i64, CategoryFields), AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::category_stream_id(id)).await?;
        let mut current = None;
        for e in &history {
            current = Some(
                match CategoryEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Internal(err.into()))?
                {
                    CategoryEvent::Created(c) => CategoryFields {
                        name: c.name,
                        description: c.description,
                        position: c.position,
                    },
                    CategoryEvent::Changed(c) => CategoryFields {
                        name: c.name,
                        description: c.description,
                        position: c.position,
                    },
                },
            );
        }
        match (history.last(), current) {
            (Some(last), Some(fields)) => Ok((last.stream_version, fields)),
            _ => Err(CategoryError::NotFound.into()),
        }
    }

    async fn append_category(
        &self,
        ctx: &CommandContext,
        id: CategoryId,
        expected: ExpectedVersion,
        event: &CategoryEvent,
        status: u16,
    ) -> Result<Outcome, AppError> {
        self.append_one(
            ctx,
            (&wire::category_stream_id(id), expected),
            event,
            status,
            ("category_id", id.as_uuid()),
        )
        .await
    }

    /// Creates a service in an existing category of the salon (unpublished).
    pub async fn create_service(
        &self,
        ctx: &CommandContext,
        details: ServiceDetails,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        self.category_must_exist(ctx.tenant, details.category_id)
            .await?;
        let id = ServiceId::new();
        let event = ServiceEvent::Created(ServiceCreated {
            service_id: id,
            details,
        });
        self.append_service(ctx, id, ExpectedVersion::NoStream, &event, 201)
            .await
    }

    /// Replaces a service's details, with a reason.
    pub async fn change_service(
        &self,
        ctx: &CommandContext,
        id: ServiceId,
        expected_version: Option<i64>,
        details: ServiceDetails,
        reason: String,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let loaded = self.load_service(ctx.tenant, id).await?;
        if expected_version.is_some_and(|v| v != loaded.version) {
            return Err(AppError::Conflict);
        }
        if loaded.details == details {
            return Err(CategoryError::ServiceUnchanged.into());
        }
        if loaded.details.price != details.price {
            return Err(AppError::Validation(vec![super::error::FieldError::new(
                "details.price",
                "prices change with POST /services/{id}/prices (effective instant, method, reason)",
            )]));
        }
        if loaded.details.category_id != details.category_id {
            self.category_must_exist(ctx.tenant, details.category_id)
                .await?;
        }
        let event = ServiceEvent::Changed(ServiceChanged {
            service_id: id,
            details,
            reason,
        });
        self.append_service(ctx, id, ExpectedVersion::Exact(loaded.version), &event, 200)
            .await
    }

    /// Shows (`true`) or hides a service in the public catalogue.
    pub async fn publish_service(
        &self,
        ctx: &CommandContext,
        id: ServiceId,
        publish: bool,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let loaded = self.load_service(ctx.tenant, id).await?;
        let event = match (publish, loaded.published) {
            // Already so: nothing to record; the answer is the same as the first time's.
            (true, true) | (false, false) => {
                return Ok(Outcome {
                    status: 200,
                    body: serde_json::json!({
                        "service_id": id,
                        "version": loaded.version,
                        "consistency_token": loaded.last_position.to_string(),
                    }),
                })
            }
            (true, false) => ServiceEvent::Published(ServicePublication { service_id: id }),
            (false, true) => ServiceEvent::Unpublished(ServicePublication { service_id: id }),
        };
        self.append_service(ctx, id, ExpectedVersion::Exact(loaded.version), &event, 200)
            .await
    }

    /// Schedules a new price (SVC-4/5): from now or a future instant, with a method
    /// and a reason; a change beyond the salon's bound (SVC-5, default ±20 %, see
    /// [`events_schema::settings::SalonSettings`]) of the price it replaces needs an
    /// override reason.
    pub async fn change_price(
        &self,
        ctx: &CommandContext,
        id: ServiceId,
        new: NewPrice,
    ) -> Result<Outcome, AppError> {
        if let Some(done) = self.replay(ctx).await? {
            return Ok(done);
        }
        let now = chrono::Utc::now();
        let effective_at = new.effective_at.unwrap_or(now);
        if effective_at < now - chrono::Duration::minutes(1) {
            return Err(AppError::Validation(vec![super::error::FieldError::new(
                "effective_at",
                "must be now or in the future (price history is never rewritten)",
            )]));
        }
        let loaded = self.load_service(ctx.tenant, id).await?;
        let previous = price_at(&loaded.schedule, effective_at)
            .map(|p| p.price)
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a service without a price schedule"))
            })?;
        if previous == new.price {
            return Err(CategoryError::ServiceUnchanged.into());
        }
        let change_percent = ((new.price - previous) / previous * Decimal::from(100)).round_dp(1);
        let bound_percent = self
            .salon_settings(ctx.tenant)
            .await?
            .1
            .price_change_bound_percent;
        if change_percent.abs() > Decimal::from(bound_percent) && new.override_reason.is_none() {
            return Err(CategoryError::BeyondBound {
                change_percent,
                bound_percent,
            }
            .into());
        }
        let event = ServiceEvent::PriceChanged(ServicePriceChanged {
            service_id: id,
            price: new.price,
            previous,
            effective_at,
            method: new.method,
            reason: new.reason,
            override_reason: new.override_reason,
        });
        let version = loaded.version + 1;
        let text = format!(
            "The price of {} changes to {} from {}. Your upcoming booking keeps the price \
             it was booked at.",
            loaded.details.name,
            new.price,
            effective_at.format("%Y-%m-%d")
        );
        let (app, tenant) = (self.clone(), ctx.tenant);
        let outcome = self
            .append_one_then(
                ctx,
                (
                    &wire::service_stream_id(id),
                    ExpectedVersion::Exact(loaded.version),
                ),
                &event,
                200,
                (
                    serde_json::json!({ "service_id": id }),
                    &super::SideWrites::default(),
                ),
                move |tx| Box::pin(app.queue_price_notices(tx, tenant, id, version, text)),
            )
            .await?;
        self.wake_notifier();
        Ok(outcome)
    }

    /// SVC-5 (transparent): in the price change's own transaction, one notice to each
    /// customer with an upcoming booking of the service, keyed
    /// `price:<service>:v<version of the change>:<customer>` — the change commits
    /// with its notices or not at all, a replay of the command appends nothing and
    /// queues nothing, and the outbox refuses a second notice under one key. An
    /// erased customer (no phone to write to) is skipped.
    async fn queue_price_notices(
        self,
        tx: &deadpool_postgres::Transaction<'_>,
        tenant: TenantId,
        service: ServiceId,
        version: i64,
        text: String,
    ) -> Result<(), AppError> {
        let stmt = tx
            .prepare_cached(
                "SELECT DISTINCT customer_id FROM booking.bookings
                 WHERE tenant_id = $1 AND service_ids @> ARRAY[$2::uuid]
                   AND cancelled_at IS NULL AND status = 'booked' AND starts_at > now()",
            )
            .await?;
        let rows = tx
            .query(&stmt, &[&tenant.as_uuid(), &service.as_uuid()])
            .await?;
        for row in rows {
            let customer: uuid::Uuid = row.get(0);
            let phone = match self
                .customer_phone(tenant, events_schema::ids::CustomerId::from_uuid(customer))
                .await
            {
                Ok(phone) => phone,
                Err(AppError::Erased | AppError::NotFound(_)) => continue,
                Err(AppError::Customer(crate::domain::customer::CustomerError::NotFound)) => {
                    continue
                }
                Err(e) => return Err(e),
            };
            let key = format!("price:{service}:v{version}:{customer}");
            self.enqueue_tx(
                tx,
                &super::notify::Message {
                    tenant,
                    kind: "price_change",
                    subject: Some(customer),
                    recipient: &phone,
                    text: &text,
                    not_before: None,
                    dedupe_key: Some(&key),
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn category_must_exist(&self, tenant: TenantId, id: CategoryId) -> Result<(), AppError> {
        match self.load_category(tenant, id).await {
            Ok(_) => Ok(()),
            Err(AppError::Category(CategoryError::NotFound)) => {
                Err(AppError::Validation(vec![super::error::FieldError::new(
                    "category_id",
                    "no such category in this salon",
                )]))
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn load_service(
        &self,
        tenant: TenantId,
        id: ServiceId,
    ) -> Result<LoadedService, AppError> {
        let client = self.pool.get().await.map_err(AppError::from_pool)?;
        let history = store::read_stream(&client, tenant, &wire::service_stream_id(id)).await?;
        let mut state: Option<LoadedService> = None;
        for e in &history {
            let event = ServiceEvent::from_stored(&e.event_type, e.schema_version, &e.payload)
                .map_err(|err| AppError::Internal(err.into()))?;
            state = match (state, event) {
                (None, ServiceEvent::Created(c)) => Some(LoadedService {
                    version: e.stream_version,
                    last_position: e.global_position,
                    schedule: vec![ScheduledPrice {
                        price: c.details.price,
                        effective_at: e.metadata.occurred_at,
                        method: None,
                    }],
                    details: c.details,
                    published: false,
                    images: Vec::new(),
                    removed_images: Vec::new(),
                }),
                (Some(s), ServiceEvent::Changed(c)) => Some(LoadedService {
                    version: e.stream_version,
                    last_position: e.global_position,
                    details: c.details,
                    ..s
                }),
                (Some(s), ServiceEvent::Published(_)) => Some(LoadedService {
                    version: e.stream_version,
                    last_position: e.global_position,
                    published: true,
                    ..s
                }),
                (Some(s), ServiceEvent::Unpublished(_)) => Some(LoadedService {
                    version: e.stream_version,
                    last_position: e.global_position,
                    published: false,
                    ..s
                }),
                (Some(mut s), ServiceEvent::PriceChanged(p)) => {
                    s.schedule.push(ScheduledPrice {
                        price: p.price,
                        effective_at: p.effective_at,
                        method: Some(p.method),
                    });
                    Some(LoadedService {
                        version: e.stream_version,
                        last_position: e.global_position,
                        ..s
                    })
                }
                (Some(mut s), ServiceEvent::ImageAdded(i)) => {
                    s.images.push(i.image_id);
                    Some(LoadedService {
                        version: e.stream_version,
                        last_position: e.global_position,
                        ..s
                    })
                }
                (Some(mut s), ServiceEvent::ImageRemoved(i)) => {
                    s.images.retain(|id| *id != i.image_id);
                    s.removed_images.push(i.image_id);
                    Some(LoadedService {
                        version: e.stream_version,
                        last_position: e.global_position,
                        ..s
                    })
                }
                _ => {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "service stream out of order"
                    )))
                }
            };
        }
        state.ok_or_else(|| CategoryError::ServiceNotFound.into())
    }

    async fn append_service(
        &self,
        ctx: &CommandContext,
        id: ServiceId,
        expected: ExpectedVersion,
        event: &ServiceEvent,
        status: u16,
    ) -> Result<Outcome, AppError> {
        self.append_one(
            ctx,
            (&wire::service_stream_id(id), expected),
            event,
            status,
            ("service_id", id.as_uuid()),
        )
        .await
    }
}
