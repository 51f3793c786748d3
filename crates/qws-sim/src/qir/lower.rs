//! Lowering of straight-line programs (every base-profile program) to an [`ir::Circuit`], so
//! the engine can run them with its fast paths (e.g. sampling when measurements are terminal).

use super::model::*;
use super::program::{Intrinsic, Program, RecordKind};
use super::results::Rec;
use super::text::sext;
use crate::ir::{Circuit, GateOp, Op};

/// An output record whose result values are filled in from a shot's classical bits.
#[derive(Clone, Debug, PartialEq)]
pub enum RecTemplate {
    Fixed(Rec),
    /// The value of result (= classical bit) `id`.
    Result(usize),
}

impl RecTemplate {
    pub fn fill(&self, bit: impl Fn(usize) -> bool) -> Rec {
        match self {
            RecTemplate::Fixed(r) => r.clone(),
            RecTemplate::Result(id) => Rec::Result(bit(*id)),
        }
    }
}

/// A lowered program: the circuit (result `i` is classical bit `i`) and its output template.
#[derive(Debug)]
pub struct Lowered {
    pub circuit: Circuit,
    pub outputs: Vec<RecTemplate>,
}

fn const_id(op: &Operand, limit: usize) -> Option<usize> {
    match op {
        Operand::Const(Const::Ptr(p)) if (*p as u128) < limit as u128 => Some(*p as usize),
        _ => None,
    }
}

fn const_f64(op: &Operand) -> Option<f64> {
    match op {
        Operand::Const(Const::Float(f)) if f.is_finite() => Some(*f),
        _ => None,
    }
}

/// Lowers the entry point when it is straight-line: blocks chained by unconditional branches,
/// only calls with constant arguments, no result reads. Returns `None` otherwise (interpret it).
pub fn lower(p: &Program<'_>) -> Option<Lowered> {
    let f = p.entry_fn();
    let mut circuit = Circuit::new(p.num_qubits, p.num_results);
    let mut outputs = Vec::new();
    let mut visited = vec![false; f.blocks.len()];
    let mut block = 0usize;
    loop {
        if std::mem::replace(visited.get_mut(block)?, true) {
            return None; // a loop
        }
        let b = &f.blocks[block];
        if !b.phis.is_empty() {
            return None;
        }
        for (inst, _) in &b.insts {
            let Inst::Call {
                dest: None,
                callee,
                args,
            } = inst
            else {
                return None;
            };
            match p.intrinsics[*callee]? {
                Intrinsic::Gate {
                    make,
                    angles,
                    controls,
                    targets,
                } => {
                    let a: Vec<f64> = args[..angles]
                        .iter()
                        .map(const_f64)
                        .collect::<Option<_>>()?;
                    let qs: Vec<usize> = args[angles..]
                        .iter()
                        .map(|q| const_id(q, p.num_qubits))
                        .collect::<Option<_>>()?;
                    let n = controls + targets;
                    if (0..n).any(|i| qs[..i].contains(&qs[i])) {
                        return None; // the interpreter reports it with a position
                    }
                    circuit.ops.push(Op::Gate(GateOp::controlled(
                        make(&a),
                        qs[..controls].to_vec(),
                        qs[controls..n].to_vec(),
                    )));
                }
                Intrinsic::Measure { reset } => {
                    let qubit = const_id(&args[0], p.num_qubits)?;
                    let clbit = const_id(&args[1], p.num_results)?;
                    circuit.ops.push(Op::Measure { qubit, clbit });
                    if reset {
                        // mresetz: the measured value is known, so a conditional X would do;
                        // Reset is equivalent and keeps the circuit simple.
                        circuit.ops.push(Op::Reset { qubit });
                    }
                }
                Intrinsic::Reset => {
                    let qubit = const_id(&args[0], p.num_qubits)?;
                    circuit.ops.push(Op::Reset { qubit });
                }
                Intrinsic::ReadResult => return None,
                Intrinsic::NoOp => {}
                Intrinsic::Record(kind) => outputs.push(match kind {
                    RecordKind::Tuple | RecordKind::Array => match &args[0] {
                        Operand::Const(Const::Int { value, .. }) => {
                            RecTemplate::Fixed(Rec::container(kind, *value))
                        }
                        _ => return None,
                    },
                    RecordKind::TupleStart => RecTemplate::Fixed(Rec::Start { tuple: true }),
                    RecordKind::ArrayStart => RecTemplate::Fixed(Rec::Start { tuple: false }),
                    RecordKind::TupleEnd => RecTemplate::Fixed(Rec::End { tuple: true }),
                    RecordKind::ArrayEnd => RecTemplate::Fixed(Rec::End { tuple: false }),
                    RecordKind::Result => RecTemplate::Result(const_id(&args[0], p.num_results)?),
                    RecordKind::Bool => match &args[0] {
                        Operand::Const(Const::Int { value, .. }) => {
                            RecTemplate::Fixed(Rec::Bool(*value & 1 == 1))
                        }
                        _ => return None,
                    },
                    RecordKind::Int => match &args[0] {
                        Operand::Const(Const::Int { bits, value }) => {
                            RecTemplate::Fixed(Rec::Int(sext(*value, *bits)))
                        }
                        _ => return None,
                    },
                    RecordKind::Double => RecTemplate::Fixed(Rec::Double(const_f64(&args[0])?)),
                }),
            }
        }
        match b.term {
            Term::Ret => break,
            Term::Br(t) => block = t,
            _ => return None,
        }
    }
    Some(Lowered { circuit, outputs })
}
