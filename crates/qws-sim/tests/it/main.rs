//! The integration tests of `qws-sim`, one test binary: the engine against a reference
//! simulation and textbook identities, the front ends, QIR, limits, cancellation, poison
//! programs and a stable-Rust smoke fuzzer (`cargo test -p qws-sim --test it fuzz_smoke`).
//! Shared helpers live in [`common`]; test programs in `data/` (`bell.ll` is the Bell program
//! as qdk writes it, with typed pointers, and `bell.bc` its LLVM 14 bitcode; the server's tests
//! submit it too); proptest keeps the failing cases it found in `../proptest-regressions/`.

mod common;

mod cancel;
mod engine_gather;
mod engine_identities;
mod engine_kernels;
mod engine_leaf;
mod engine_shots;
mod engine_single;
mod engine_textbook;
mod frontend_ionq;
mod frontend_qasm;
mod frontend_quil;
mod fuzz_smoke;
mod noise_stats;
mod output_limits;
mod poison;
mod program;
mod qir_requirements;
mod qir_run;
