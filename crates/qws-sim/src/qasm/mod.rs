//! OpenQASM 2.0 and 3 front end: a hand-written lexer and recursive-descent parser, lowered to
//! the circuit IR with gate definitions inlined.
//!
//! Programs never touch the file system: `include "qelib1.inc"` and `include "stdgates.inc"`
//! are built in and any other include is an error. Every expansion (gate inlining, loop
//! unrolling, `pow`) is bounded by [`FrontendLimits`].

mod ast;
mod builtins;
mod expr;
mod lexer;
mod lower;
mod modifiers;
mod parser;

pub use modifiers::adjoint;
pub use parser::Version;

use crate::error::{Result, SimError};
use crate::ir::{Circuit, Gate, Op};

/// Bounds on what a program may make the front end build.
#[derive(Clone, Debug)]
pub struct FrontendLimits {
    pub max_source_bytes: usize,
    pub max_qubits: usize,
    pub max_clbits: usize,
    /// Operations after inlining and unrolling.
    pub max_ops: usize,
    /// Nesting of gate definitions calling gate definitions.
    pub max_gate_depth: usize,
    /// Loop iterations, summed over all loops.
    pub max_loop_iterations: usize,
}

impl Default for FrontendLimits {
    fn default() -> Self {
        FrontendLimits {
            max_source_bytes: 16 << 20,
            max_qubits: 1024,
            max_clbits: 1 << 16,
            max_ops: 1_000_000,
            max_gate_depth: 64,
            max_loop_iterations: 1_000_000,
        }
    }
}

/// Parses an OpenQASM program; the `OPENQASM` header picks the version (3 without one).
pub fn parse(src: &str) -> Result<Circuit> {
    parse_with(src, None, &FrontendLimits::default())
}

/// Parses an OpenQASM 2.0 program (the header, if present, must say 2.x).
pub fn parse_qasm2(src: &str) -> Result<Circuit> {
    parse_with(src, Some(Version::V2), &FrontendLimits::default())
}

/// Parses an OpenQASM 3 program (the header, if present, must say 3.x).
pub fn parse_qasm3(src: &str) -> Result<Circuit> {
    parse_with(src, Some(Version::V3), &FrontendLimits::default())
}

/// Parses with an expected version (checked against the header) and explicit limits.
pub fn parse_with(
    src: &str,
    expected: Option<Version>,
    limits: &FrontendLimits,
) -> Result<Circuit> {
    if src.len() > limits.max_source_bytes {
        return Err(SimError::Limit(format!(
            "the program is {} bytes; at most {} are accepted",
            src.len(),
            limits.max_source_bytes
        )));
    }
    let tokens = lexer::tokenize(src)?;
    let mut p = parser::Parser::new(tokens, expected.unwrap_or(Version::V3));
    let header_pos = (1, 1);
    match (p.header()?, expected) {
        (Some(found), Some(want)) if found != want => {
            return Err(SimError::parse(
                header_pos.0,
                header_pos.1,
                format!(
                    "the program declares OpenQASM {}, but OpenQASM {} was requested",
                    name(found),
                    name(want)
                ),
            ))
        }
        (None, Some(Version::V2)) => {
            return Err(SimError::parse(1, 1, "expected 'OPENQASM 2.0;' first"))
        }
        _ => {}
    }
    let stmts = p.program()?;
    let mut l = lower::Lowerer::new(limits, p.version);
    let ops = l.lower_program(&stmts)?;
    let mut c = l.finish(ops);
    normalize(&mut c.ops);
    Ok(c)
}

fn name(v: Version) -> &'static str {
    match v {
        Version::V2 => "2.0",
        Version::V3 => "3",
    }
}

/// A controlled global phase is a phase on its controls: `ctrl(c1..cn) @ gphase(θ)` is `Phase(θ)`
/// on `cn` controlled by the rest. Rewriting keeps backends from seeing target-less controlled
/// gates.
fn normalize(ops: &mut [Op]) {
    for op in ops {
        match op {
            Op::Gate(g) if matches!(g.gate, Gate::GlobalPhase(_)) && !g.controls.is_empty() => {
                let Gate::GlobalPhase(t) = g.gate else {
                    unreachable!()
                };
                let last = g.controls.pop().expect("non-empty");
                g.gate = Gate::Phase(t);
                g.targets = vec![last];
            }
            Op::If {
                then_ops, else_ops, ..
            } => {
                normalize(then_ops);
                normalize(else_ops);
            }
            _ => {}
        }
    }
}
