//! The fast statevector engine behind [`crate::run`] and [`crate::state::StateVector`]:
//! specialised kernels, gate fusion, shot sampling and an automatic sparse path.
//!
//! A leaf module: it uses the IR's types ([`crate::ir`], [`crate::gates`]) and nothing else of
//! the crate, so the layers above (state, run, encoders) depend on it and never the reverse
//! (`tests/it/engine_leaf.rs` checks this).

pub mod blocking;
pub mod fusion;
pub mod kernels;
pub mod real;
pub mod reference;
pub mod sample;
#[cfg(target_arch = "x86_64")]
pub mod simd;
pub mod sparse;
