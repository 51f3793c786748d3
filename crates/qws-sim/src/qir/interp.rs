//! A step-bounded interpreter for the entry point: adaptive programs (branches on measurement
//! results, phi, integer and floating-point arithmetic, loops) run shot by shot on a
//! [`StateVector`].

use super::model::*;
use super::program::{Intrinsic, Program, RecordKind};
use super::results::Rec;
use super::text::{mask, sext};
use crate::error::{Result, SimError};
use crate::ir::GateOp;
use crate::noise::NoiseModel;
use crate::state::StateVector;
use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Val {
    /// Low `bits` bits, zero-extended.
    Int {
        bits: u32,
        v: u64,
    },
    Float(f64),
    Ptr(u64),
    Global(usize),
    Undef,
}

/// Step budget shared by all shots of a run.
pub struct Budget {
    pub per_shot: u64,
    pub remaining_total: u64,
    /// Polled every [`CANCEL_CHECK_STEPS`] steps.
    pub cancel: Option<crate::CancelToken>,
}

/// Interpreter steps between two cancellation checks.
pub const CANCEL_CHECK_STEPS: u64 = 64;

fn rt(loc: Loc, msg: impl std::fmt::Display) -> SimError {
    SimError::Invalid(format!("{msg} (at {loc})"))
}

/// How a shot treats its quantum operations.
#[derive(Clone, Copy, Debug)]
pub enum ShotMode<'n> {
    /// Simulate on a statevector, with the noise model's errors when there is one.
    Simulate(Option<&'n NoiseModel>),
    /// Check and run the classical program but no quantum state: every measurement reads 0
    /// (what a syntax checker reports). Needs no memory for qubits.
    Zeros,
}

struct Shot<'a, 'm, R: Rng + ?Sized> {
    p: &'a Program<'m>,
    vals: Vec<Val>,
    /// `None` in [`ShotMode::Zeros`].
    state: Option<StateVector>,
    noise: Option<&'a NoiseModel>,
    results: Vec<bool>,
    recs: Vec<Rec>,
    rng: &'a mut R,
}

/// Runs one shot; returns the recorded outputs and the final measurement results.
pub fn run_shot<R: Rng + ?Sized>(
    p: &Program<'_>,
    rng: &mut R,
    budget: &mut Budget,
) -> Result<(Vec<Rec>, Vec<bool>)> {
    run_shot_with(p, rng, budget, ShotMode::Simulate(None))
}

/// [`run_shot`] in the given mode.
pub fn run_shot_with<R: Rng + ?Sized>(
    p: &Program<'_>,
    rng: &mut R,
    budget: &mut Budget,
    mode: ShotMode<'_>,
) -> Result<(Vec<Rec>, Vec<bool>)> {
    let f = p.entry_fn();
    let (state, noise) = match mode {
        ShotMode::Simulate(noise) => {
            // Never allocate past the budget, whatever the program declared or `prepare`
            // concluded.
            crate::run::check_qubits(p.num_qubits, &p.limits)?;
            // The precision check_qubits just accepted: double unless only single fits.
            let precision = crate::Precision::default_for(p.num_qubits, p.limits.max_memory_bytes);
            let mut state = StateVector::try_new_with(p.num_qubits, precision)?;
            if let Some(m) = noise {
                for q in 0..p.num_qubits {
                    crate::noise::prepare(m, &mut state, q, rng);
                }
            }
            (Some(state), noise)
        }
        ShotMode::Zeros => (None, None),
    };
    let mut s = Shot {
        p,
        vals: vec![Val::Undef; f.num_values],
        state,
        noise,
        results: vec![false; p.num_results],
        recs: Vec::new(),
        rng,
    };
    let mut steps: u64 = 0;
    let mut next_check: u64 = 0;
    let mut block = 0usize;
    let mut prev: Option<usize> = None;
    let mut phi_buf: Vec<Val> = Vec::new();
    loop {
        let b = f
            .blocks
            .get(block)
            .ok_or_else(|| SimError::Invalid(format!("branch to a missing block {block}")))?;
        let cost = (b.phis.len() + b.insts.len() + 1) as u64;
        steps += cost;
        if steps > budget.per_shot {
            return Err(SimError::Limit(format!(
                "@{} exceeded {} steps in one shot (in block %{}); is a loop unbounded?",
                f.name, budget.per_shot, b.name
            )));
        }
        if cost > budget.remaining_total {
            return Err(SimError::Limit(format!(
                "the run exceeded its total step budget (in @{}, block %{})",
                f.name, b.name
            )));
        }
        budget.remaining_total -= cost;
        if steps >= next_check {
            crate::cancel::check(budget.cancel.as_ref())?;
            next_check = steps + CANCEL_CHECK_STEPS;
        }
        if !b.phis.is_empty() {
            let from =
                prev.ok_or_else(|| rt(b.phis[0].loc, "phi in the entry block has no predecessor"))?;
            phi_buf.clear();
            for phi in &b.phis {
                let (_, op) = phi
                    .incoming
                    .iter()
                    .find(|(pb, _)| *pb == from)
                    .ok_or_else(|| {
                        rt(
                            phi.loc,
                            format!("phi has no value for predecessor %{}", f.blocks[from].name),
                        )
                    })?;
                phi_buf.push(s.get(op));
            }
            for (phi, v) in b.phis.iter().zip(phi_buf.drain(..)) {
                s.vals[phi.dest] = v;
            }
        }
        for (k, (inst, loc)) in b.insts.iter().enumerate() {
            // Long straight-line blocks (unrolled programs) are checked inside too.
            if k > 0 && (k as u64).is_multiple_of(CANCEL_CHECK_STEPS) {
                crate::cancel::check(budget.cancel.as_ref())?;
            }
            s.exec(inst, *loc)?;
        }
        let next = match &b.term {
            Term::Ret => return Ok((s.recs, s.results)),
            Term::Unreachable => return Err(rt(b.term_loc, "reached `unreachable`")),
            Term::Br(t) => *t,
            Term::CondBr {
                cond,
                then_block,
                else_block,
            } => {
                if s.bool(cond, b.term_loc)? {
                    *then_block
                } else {
                    *else_block
                }
            }
            Term::Switch {
                value,
                bits,
                default,
                cases,
            } => {
                let v = s.int(value, *bits, b.term_loc)?;
                cases
                    .iter()
                    .find(|(c, _)| mask(*c, *bits) == v)
                    .map_or(*default, |(_, t)| *t)
            }
        };
        prev = Some(block);
        block = next;
    }
}

impl<R: Rng + ?Sized> Shot<'_, '_, R> {
    fn get(&self, op: &Operand) -> Val {
        match op {
            Operand::Local(i) => self.vals.get(*i).copied().unwrap_or(Val::Undef),
            Operand::Const(c) => match c {
                Const::Int { bits, value } => Val::Int {
                    bits: *bits,
                    v: *value,
                },
                Const::Float(f) => Val::Float(*f),
                Const::Ptr(p) => Val::Ptr(*p),
                Const::Global(g) => Val::Global(*g),
                Const::Function(_) | Const::Undef => Val::Undef,
            },
        }
    }

    fn int(&self, op: &Operand, bits: u32, loc: Loc) -> Result<u64> {
        match self.get(op) {
            Val::Int { v, .. } => Ok(mask(v, bits)),
            Val::Ptr(p) => Ok(mask(p, bits)),
            Val::Undef => Err(rt(loc, "use of an undefined value")),
            other => Err(rt(loc, format!("expected an integer, found {other:?}"))),
        }
    }

    fn bool(&self, op: &Operand, loc: Loc) -> Result<bool> {
        Ok(self.int(op, 1, loc)? == 1)
    }

    fn float(&self, op: &Operand, loc: Loc) -> Result<f64> {
        match self.get(op) {
            Val::Float(f) => Ok(f),
            Val::Undef => Err(rt(loc, "use of an undefined value")),
            other => Err(rt(loc, format!("expected a double, found {other:?}"))),
        }
    }

    fn id(&self, op: &Operand, what: &str, limit: usize, loc: Loc) -> Result<usize> {
        let id = match self.get(op) {
            Val::Ptr(p) => p,
            Val::Int { v, .. } => v,
            other => {
                return Err(rt(
                    loc,
                    format!("expected a {what} pointer, found {other:?}"),
                ))
            }
        };
        if id >= limit as u64 {
            return Err(rt(
                loc,
                format!("{what} {id} is out of range (the program declares {limit})"),
            ));
        }
        Ok(id as usize)
    }

    fn exec(&mut self, inst: &Inst, loc: Loc) -> Result<()> {
        match inst {
            Inst::Call { dest, callee, args } => {
                let intr = self.p.intrinsics[*callee].ok_or_else(|| {
                    rt(
                        loc,
                        format!(
                            "call to @{} is not supported",
                            self.p.module.functions[*callee].name
                        ),
                    )
                })?;
                if let Some(v) = self.call(intr, args, loc)? {
                    if let Some(d) = dest {
                        self.vals[*d] = v;
                    }
                }
            }
            Inst::Bin {
                dest,
                op,
                bits,
                a,
                b,
            } => {
                let bits = *bits;
                let x = self.int(a, bits, loc)?;
                let y = self.int(b, bits, loc)?;
                let (sx, sy) = (sext(x, bits), sext(y, bits));
                let r = match op {
                    BinOp::Add => x.wrapping_add(y),
                    BinOp::Sub => x.wrapping_sub(y),
                    BinOp::Mul => x.wrapping_mul(y),
                    BinOp::UDiv | BinOp::URem | BinOp::SDiv | BinOp::SRem if y == 0 => {
                        return Err(rt(loc, "division by zero"))
                    }
                    BinOp::UDiv => x / y,
                    BinOp::URem => x % y,
                    BinOp::SDiv => sx.wrapping_div(sy) as u64,
                    BinOp::SRem => sx.wrapping_rem(sy) as u64,
                    BinOp::Shl | BinOp::LShr | BinOp::AShr if y >= bits as u64 => {
                        return Err(rt(loc, format!("shift by {y} on an i{bits}")))
                    }
                    BinOp::Shl => x << y,
                    BinOp::LShr => x >> y,
                    BinOp::AShr => (sx >> y) as u64,
                    BinOp::And => x & y,
                    BinOp::Or => x | y,
                    BinOp::Xor => x ^ y,
                };
                self.vals[*dest] = Val::Int {
                    bits,
                    v: mask(r, bits),
                };
            }
            Inst::FBin { dest, op, a, b } => {
                let x = self.float(a, loc)?;
                let y = self.float(b, loc)?;
                self.vals[*dest] = Val::Float(match op {
                    FBinOp::Add => x + y,
                    FBinOp::Sub => x - y,
                    FBinOp::Mul => x * y,
                    FBinOp::Div => x / y,
                    FBinOp::Rem => x % y,
                });
            }
            Inst::FNeg { dest, a } => {
                self.vals[*dest] = Val::Float(-self.float(a, loc)?);
            }
            Inst::ICmp {
                dest,
                pred,
                bits,
                a,
                b,
            } => {
                let x = self.int(a, *bits, loc)?;
                let y = self.int(b, *bits, loc)?;
                let (sx, sy) = (sext(x, *bits), sext(y, *bits));
                let r = match pred {
                    IPred::Eq => x == y,
                    IPred::Ne => x != y,
                    IPred::Ugt => x > y,
                    IPred::Uge => x >= y,
                    IPred::Ult => x < y,
                    IPred::Ule => x <= y,
                    IPred::Sgt => sx > sy,
                    IPred::Sge => sx >= sy,
                    IPred::Slt => sx < sy,
                    IPred::Sle => sx <= sy,
                };
                self.vals[*dest] = Val::Int {
                    bits: 1,
                    v: r as u64,
                };
            }
            Inst::FCmp { dest, pred, a, b } => {
                let x = self.float(a, loc)?;
                let y = self.float(b, loc)?;
                let uno = x.is_nan() || y.is_nan();
                let r = match pred {
                    FPred::False => false,
                    FPred::True => true,
                    FPred::Oeq => !uno && x == y,
                    FPred::Ogt => !uno && x > y,
                    FPred::Oge => !uno && x >= y,
                    FPred::Olt => !uno && x < y,
                    FPred::Ole => !uno && x <= y,
                    FPred::One => !uno && x != y,
                    FPred::Ord => !uno,
                    FPred::Ueq => uno || x == y,
                    FPred::Ugt => uno || x > y,
                    FPred::Uge => uno || x >= y,
                    FPred::Ult => uno || x < y,
                    FPred::Ule => uno || x <= y,
                    FPred::Une => uno || x != y,
                    FPred::Uno => uno,
                };
                self.vals[*dest] = Val::Int {
                    bits: 1,
                    v: r as u64,
                };
            }
            Inst::Cast {
                dest,
                op,
                from_bits,
                to,
                a,
            } => {
                let to_bits = match to {
                    Ty::Int(b) => *b,
                    _ => 64,
                };
                let v = match op {
                    CastOp::Trunc | CastOp::ZExt => Val::Int {
                        bits: to_bits,
                        v: mask(self.int(a, *from_bits, loc)?, to_bits),
                    },
                    CastOp::SExt => Val::Int {
                        bits: to_bits,
                        v: mask(
                            sext(self.int(a, *from_bits, loc)?, *from_bits) as u64,
                            to_bits,
                        ),
                    },
                    CastOp::SiToFp => {
                        Val::Float(sext(self.int(a, *from_bits, loc)?, *from_bits) as f64)
                    }
                    CastOp::UiToFp => Val::Float(self.int(a, *from_bits, loc)? as f64),
                    CastOp::FpToSi | CastOp::FpToUi => {
                        let x = self.float(a, loc)?;
                        if !x.is_finite() {
                            return Err(rt(loc, "conversion of a non-finite double to an integer"));
                        }
                        let v = if *op == CastOp::FpToSi {
                            x as i64 as u64
                        } else {
                            x as u64
                        };
                        Val::Int {
                            bits: to_bits,
                            v: mask(v, to_bits),
                        }
                    }
                    CastOp::FpTrunc | CastOp::FpExt => Val::Float(self.float(a, loc)?),
                    CastOp::IntToPtr => Val::Ptr(self.int(a, *from_bits, loc)?),
                    CastOp::PtrToInt => match self.get(a) {
                        Val::Ptr(p) => Val::Int {
                            bits: to_bits,
                            v: mask(p, to_bits),
                        },
                        _ => return Err(rt(loc, "ptrtoint of a non-integer pointer")),
                    },
                    CastOp::BitCast | CastOp::Freeze => self.get(a),
                };
                self.vals[*dest] = v;
            }
            Inst::Select { dest, cond, a, b } => {
                let c = self.bool(cond, loc)?;
                self.vals[*dest] = if c { self.get(a) } else { self.get(b) };
            }
        }
        Ok(())
    }

    fn call(&mut self, intr: Intrinsic, args: &[Operand], loc: Loc) -> Result<Option<Val>> {
        let nq = self.p.num_qubits;
        let nr = self.p.num_results;
        match intr {
            Intrinsic::Gate {
                make,
                angles,
                controls,
                targets,
            } => {
                let mut a = [0.0f64; 3];
                for (i, op) in args[..angles].iter().enumerate() {
                    let x = self.float(op, loc)?;
                    if !x.is_finite() {
                        return Err(rt(loc, "gate angle is not finite"));
                    }
                    a[i] = x;
                }
                let mut qs = [0usize; 3];
                for (i, op) in args[angles..].iter().enumerate() {
                    qs[i] = self.id(op, "qubit", nq, loc)?;
                }
                let n = controls + targets;
                for i in 0..n {
                    if qs[..i].contains(&qs[i]) {
                        return Err(rt(
                            loc,
                            format!("qubit {} is used twice in one gate", qs[i]),
                        ));
                    }
                }
                let op = GateOp::controlled(
                    make(&a[..angles]),
                    qs[..controls].to_vec(),
                    qs[controls..n].to_vec(),
                );
                if let Some(state) = self.state.as_mut() {
                    state.apply(&op);
                    if let Some(m) = self.noise {
                        crate::noise::after_gate(m, nq, &op, state, self.rng);
                    }
                }
                Ok(None)
            }
            Intrinsic::Measure { reset } => {
                let q = self.id(&args[0], "qubit", nq, loc)?;
                let r = self.id(&args[1], "result", nr, loc)?;
                let Some(state) = self.state.as_mut() else {
                    self.results[r] = false;
                    return Ok(None);
                };
                let m = state.measure(q, self.rng);
                self.results[r] = match self.noise {
                    Some(model) => crate::noise::readout(model, m, self.rng),
                    None => m,
                };
                if reset {
                    if m {
                        state.apply(&GateOp::new(crate::ir::Gate::X, vec![q]));
                    }
                    if let Some(model) = self.noise {
                        crate::noise::prepare(model, state, q, self.rng);
                    }
                }
                Ok(None)
            }
            Intrinsic::Reset => {
                let q = self.id(&args[0], "qubit", nq, loc)?;
                if let Some(state) = self.state.as_mut() {
                    state.reset(q, self.rng);
                    if let Some(model) = self.noise {
                        crate::noise::prepare(model, state, q, self.rng);
                    }
                }
                Ok(None)
            }
            Intrinsic::ReadResult => {
                let r = self.id(&args[0], "result", nr, loc)?;
                Ok(Some(Val::Int {
                    bits: 1,
                    v: self.results[r] as u64,
                }))
            }
            Intrinsic::NoOp => Ok(None),
            Intrinsic::Record(kind) => {
                if self.recs.len() >= 1 << 20 {
                    return Err(SimError::Limit(
                        "more than 2^20 output records in one shot".into(),
                    ));
                }
                let rec = match kind {
                    RecordKind::Tuple | RecordKind::Array => {
                        Rec::container(kind, self.int(&args[0], 64, loc)?)
                    }
                    RecordKind::TupleStart => Rec::Start { tuple: true },
                    RecordKind::ArrayStart => Rec::Start { tuple: false },
                    RecordKind::TupleEnd => Rec::End { tuple: true },
                    RecordKind::ArrayEnd => Rec::End { tuple: false },
                    RecordKind::Result => {
                        Rec::Result(self.results[self.id(&args[0], "result", nr, loc)?])
                    }
                    RecordKind::Bool => Rec::Bool(self.bool(&args[0], loc)?),
                    RecordKind::Int => {
                        let (bits, v) = match self.get(&args[0]) {
                            Val::Int { bits, v } => (bits, v),
                            _ => return Err(rt(loc, "int_record_output of a non-integer")),
                        };
                        Rec::Int(sext(v, bits))
                    }
                    RecordKind::Double => Rec::Double(self.float(&args[0], loc)?),
                };
                self.recs.push(rec);
                Ok(None)
            }
        }
    }
}
