//! # projections — read models built from the feed
//!
//! Owns the read models (schema `rm` and its versioned schemas) and the workers that
//! build them: [`runner`] applies the feed exactly once per event (G6) from JetStream
//! with PostgreSQL as the fallback and the authority, [`rebuild`] builds a new version
//! beside the live one and switches (G8), and verifies that a rebuild equals live (G7).
//!
//! A projection must derive every value it writes from events alone — no clock, no
//! randomness — and must never write anything but its own schemas.

pub mod bookings;
pub mod catalogue;
pub mod config;
pub mod customers;
pub mod disclosures;
pub mod locations;
pub mod rebuild;
pub mod registry;
pub mod rota;
pub mod runner;
pub mod staff;
pub mod utilisation;
pub mod waitlist;

use deadpool_postgres::Transaction;
use events_schema::envelope::FeedEvent;
use futures::future::BoxFuture;
use std::sync::Arc;

/// One read model.
pub trait Projection: Send + Sync {
    /// Short name: `customers` → schemas `rm_customers_v<N>`.
    fn name(&self) -> &'static str;
    /// The stream types whose events it reads. The live worker passes over every other
    /// event without opening a transaction (its checkpoint follows lazily, see
    /// [`runner`]); a rebuild still reads them all, so `verify` would catch a type
    /// missing here.
    fn stream_types(&self) -> &'static [&'static str];
    /// DDL of one version's tables with their primary keys (run with `search_path` set
    /// to the version schema).
    fn ddl(&self) -> &'static str;
    /// DDL of the secondary indexes, created after a rebuild's bulk load.
    fn indexes(&self) -> &'static str;
    /// Tables exposed as views in schema `rm` and compared by `verify`.
    fn tables(&self) -> &'static [&'static str];
    /// Computes a contiguous batch's writes: decodes, opens sealed values, reads the
    /// rows it touches. Runs in a read-only transaction (search_path set), so the
    /// expensive part holds no transaction id that would hold back the relay's
    /// visibility barrier. `after` is the batch just before this one when that batch is
    /// prepared but not yet written (a pipelined catch-up writes it meanwhile): its
    /// writes must be read as if they were in the database already.
    fn prepare<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
        after: Option<&'a Prepared>,
    ) -> BoxFuture<'a, anyhow::Result<Prepared>>;

    /// Writes what [`Projection::prepare`] computed (search_path set).
    fn write<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        prepared: &'a Prepared,
    ) -> BoxFuture<'a, anyhow::Result<()>>;

    /// Prepares and writes in one transaction.
    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [FeedEvent],
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let prepared = self.prepare(tx, events, None).await?;
            self.write(tx, &prepared).await
        })
    }
}

/// A projection's computed writes for one batch (its own type inside).
pub type Prepared = Box<dyn std::any::Any + Send + Sync>;

/// Every projection of the product.
pub fn all(keys: events_schema::keystore::KeyStore) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(customers::CustomersProjection::new(keys.clone())),
        Arc::new(disclosures::DisclosuresProjection),
        Arc::new(locations::LocationsProjection),
        Arc::new(catalogue::CatalogueProjection),
        Arc::new(staff::StaffProjection::new(keys.clone())),
        Arc::new(rota::RotaProjection),
        Arc::new(bookings::BookingsProjection),
        Arc::new(waitlist::WaitlistProjection),
        Arc::new(utilisation::UtilisationProjection),
    ]
}

/// Migrations owned by projections.
pub const MIGRATIONS: &[events_schema::migrate::Migration] = &[
    events_schema::migrate::Migration {
        version: 1,
        name: "registry",
        sql: include_str!("../migrations/0001_registry.sql"),
    },
    events_schema::migrate::Migration {
        version: 2,
        name: "read_model_security",
        sql: include_str!("../migrations/0002_read_model_security.sql"),
    },
    events_schema::migrate::Migration {
        version: 3,
        name: "resource_limits",
        sql: include_str!("../migrations/0003_resource_limits.sql"),
    },
    events_schema::migrate::Migration {
        version: 4,
        name: "custom_plans",
        sql: include_str!("../migrations/0004_custom_plans.sql"),
    },
    events_schema::migrate::Migration {
        version: 5,
        name: "consent_purpose",
        sql: include_str!("../migrations/0005_consent_purpose.sql"),
    },
    events_schema::migrate::Migration {
        version: 6,
        name: "catalogue_services",
        sql: include_str!("../migrations/0006_catalogue_services.sql"),
    },
    events_schema::migrate::Migration {
        version: 7,
        name: "price_schedule",
        sql: include_str!("../migrations/0007_price_schedule.sql"),
    },
    events_schema::migrate::Migration {
        version: 8,
        name: "service_images",
        sql: include_str!("../migrations/0008_service_images.sql"),
    },
];

/// Every migration this process needs, in dependency order.
pub fn migrations() -> Vec<(&'static str, &'static [events_schema::migrate::Migration])> {
    vec![
        ("es", events_schema::store::MIGRATIONS),
        ("keys", events_schema::keystore::MIGRATIONS),
        ("projections", MIGRATIONS),
    ]
}
