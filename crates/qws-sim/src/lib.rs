//! qws-sim: the quantum simulation engine of qws.
//!
//! Front ends (OpenQASM 2/3, IonQ JSON, QIR) lower programs to the circuit IR in [`ir`];
//! the statevector backend runs it; encoders turn shot results into the providers' result formats.

pub mod gates;
pub mod ir;
pub mod state;
