//! End-to-end tests: one binary, one module per feature, each test against its own
//! database and NATS prefix (see `tests::spawn_app`).

mod accounts;
mod booking_lifecycle;
mod bookings;
mod catalogue;
mod chain;
mod customers;
mod disclosures;
mod erasure;
mod event_store;
mod export;
mod feed;
mod keys;
mod limits;
mod locations;
mod login;
mod patch_tests;
mod permissions;
mod privacy;
mod rota;
mod row_security;
mod settings;
mod sign_in;
mod staff;
mod tenancy;
mod utilisation;
mod validation;
mod waitlist;
