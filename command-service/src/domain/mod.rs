//! Aggregates: pure `decide(state, command, now) -> events | error` and infallible
//! `evolve(state, event)`. No I/O, no clock, no randomness: ids and time are passed in.
//! Also value objects checked at the edge (`image`: an uploaded image's type and bytes).

pub mod customer;
pub mod identity;
pub mod image;
