//! # query-service — reads
//!
//! Serves the read models built by `projections` (customer search, detail, history)
//! and the auditors' API over the event store and feed. It never writes domain data:
//! it logs in as a role with SELECT only. Read-your-writes: every read endpoint
//! accepts a command's `consistency_token` and waits, bounded, until the read model has
//! applied it ([`consistency`]).

pub mod config;
pub mod consistency;
pub mod http;
pub mod limits;
pub mod opening;
pub mod read;
pub mod rota;
pub mod startup;
