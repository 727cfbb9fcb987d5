//! # command-service — every state change in Belle
//!
//! Owns the write side: HTTP commands ([`http`]), the pure aggregates ([`domain`]),
//! the application layer that loads, decides, seals and appends ([`app`]), and the
//! relay that moves committed events into the feed and publishes them to JetStream
//! ([`relay`]).
//!
//! It must never read a projection's read model to decide a command (decisions come
//! from the aggregate's own stream and same-transaction guard rows), never publish to
//! NATS inside an append transaction, and never put plaintext personal data into an
//! event, a log line or an error message.

pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod relay;
pub mod startup;
