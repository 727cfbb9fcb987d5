//! # events-schema — the shared contract of Belle
//!
//! Owns everything the three services must agree on:
//! - [`ids`]: identifier newtypes (no personal data, safe in subjects and logs);
//! - [`envelope`]: the stored event envelope and its metadata (actor, tenant, command);
//! - [`customer`], [`identity`], [`disclosure`], [`notification`]: event types per stream type, with stable names and
//!   schema versions;
//! - [`values`]: validated value objects (phone, ID-card number, email, birthday, name);
//! - [`sealing`]: sealing of personal data (XChaCha20-Poly1305, per-subject keys) and
//!   blind indexes;
//! - [`subjects`]: NATS subject and stream names;
//! - with feature `pg`: [`store`] (event-store tables, append, read, feed),
//!   [`keystore`] (wrapped data keys), [`migrate`] (the migration runner), [`db`]
//!   (connections) and [`runtime`] (configuration, logging, shutdown of the binaries).
//!
//! It must never hold business rules (those live in `command-service`) nor read models
//! (those live in `projections`). Pure users (tests of value objects, the benchmark's
//! generators) use it without the `pg` feature and pull no database code.

pub mod booking;
pub mod catalogue;
pub mod customer;
pub mod disclosure;
pub mod envelope;
pub mod identity;
pub mod ids;
pub mod localtime;
pub mod location;
pub mod notification;
pub mod permissions;
pub mod rota;
pub mod sealing;
pub mod settings;
pub mod staff;
pub mod subjects;
pub mod token;
pub mod values;
pub mod waitlist;

#[cfg(feature = "pg")]
pub mod db;
#[cfg(feature = "pg")]
pub mod keystore;
#[cfg(feature = "pg")]
pub mod migrate;
#[cfg(feature = "pg")]
pub mod runtime;
#[cfg(feature = "pg")]
pub mod store;
