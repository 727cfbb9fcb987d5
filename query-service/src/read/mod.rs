//! SQL over the read models (schema `rm`) and the event store. Only SELECTs.

pub mod audit;
pub mod customers;
