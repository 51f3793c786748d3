//! qws-sim: the quantum simulation engine of qws.
//!
//! Front ends ([`qasm`] for OpenQASM 2 and 3, [`ionq`] for IonQ JSON, [`qir`] for QIR, [`quil`]
//! for Rigetti Quil) lower programs to the circuit IR in [`ir`]; [`run`] executes it on the
//! statevector backend in [`state`] ([`noise`] adds noisy trajectories); [`encode`] turns
//! results into the providers' result formats.

pub mod cancel;
pub mod encode;
pub mod engine;
pub mod error;
pub mod gates;
pub mod ionq;
pub mod ir;
pub mod noise;
pub mod precision;
pub mod program;
pub mod qasm;
pub mod qir;
pub mod quil;
pub mod run;
pub mod shape;
pub mod state;

pub use cancel::CancelToken;
pub use error::{Result, SimError};
pub use precision::Precision;
pub use program::{InputFormat, Program};
