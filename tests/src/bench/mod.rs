//! Helpers of the `belle-bench` program (declared from `src/bin/belle-bench.rs`; not
//! part of the `tests` library).

pub mod db;
pub mod http1;
pub mod load;
pub mod run;
pub mod stats;
