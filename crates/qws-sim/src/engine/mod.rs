//! The fast statevector engine behind [`crate::run`] and [`crate::state::StateVector`]:
//! specialised kernels, gate fusion, shot sampling and an automatic sparse path.

pub mod blocking;
pub mod fusion;
pub mod kernels;
pub mod real;
pub mod sample;
#[cfg(target_arch = "x86_64")]
pub mod simd;
pub mod sparse;
