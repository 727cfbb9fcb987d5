//! Aggregates: pure `decide(state, command, now) -> events | error` and infallible
//! `evolve(state, event)`. No I/O, no clock, no randomness: ids and time are passed in.

pub mod customer;
pub mod identity;
