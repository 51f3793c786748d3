//! Rigetti Quil (`rigetti.quil.v1`) front end and the `rigetti.quil-results.v1` encoder.
//!
//! Covers what pyQuil programs contain: `DECLARE` of `BIT`/`OCTET`/`INTEGER`/`REAL` memory, the
//! standard gate set (`I X Y Z H S T PHASE RX RY RZ CZ CNOT CCNOT CPHASE CPHASE00 CPHASE01
//! CPHASE10 SWAP CSWAP ISWAP PSWAP XY`), `DEFGATE` with a matrix (complex expressions, `%param`
//! parameters) or `AS PERMUTATION`, the `CONTROLLED` and `DAGGER` modifiers, `MEASURE` into memory,
//! `RESET`, `NOP`, `HALT` and `PRAGMA` (ignored). Gate parameters may read `REAL` memory, whose
//! values come from the job's `substitutions` (one run per substitution set, each of `shots`
//! shots, results concatenated as Rigetti's Azure targets report them). Classical control
//! (`LABEL`, `JUMP*`), `DEFCIRCUIT`, `FORKED` and Quil-T are refused with a positioned error.
//!
//! Qubit labels may be any non-negative integers (a Cepheus program names physical qubits up to
//! 107); the simulator packs the labels used into dense indices, lowest label first. In a gate's matrix the first
//! qubit argument is the most significant bit, as in Quil.
//!
//! Bounded: input size, instruction count, expression depth, matrix size, memory size.

use crate::error::{Result, SimError};
use crate::ir::{Circuit, ClassicalRegister, Gate, GateOp, Matrix, Op};
use crate::run::RunOutput;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;

/// Bounds on Quil input.
#[derive(Clone, Debug)]
pub struct QuilLimits {
    pub max_bytes: usize,
    pub max_instructions: usize,
    /// Elements of all declared memory together.
    pub max_memory: usize,
    /// Distinct qubit labels a program may use.
    pub max_qubits: usize,
}

impl Default for QuilLimits {
    fn default() -> Self {
        QuilLimits {
            max_bytes: 16 << 20,
            max_instructions: 1_000_000,
            max_memory: 1 << 16,
            max_qubits: 1024,
        }
    }
}

const MAX_DEPTH: usize = 64;
const MAX_DEFGATE_QUBITS: usize = 4;
const MAX_DEFGATES: usize = 256;

/// A declared memory region.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub name: String,
    pub kind: MemKind,
    pub len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    Bit,
    Octet,
    Integer,
    Real,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct C(f64, f64);

impl C {
    fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
    fn sub(self, o: C) -> C {
        C(self.0 - o.0, self.1 - o.1)
    }
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn div(self, o: C) -> C {
        let d = o.0 * o.0 + o.1 * o.1;
        C(
            (self.0 * o.0 + self.1 * o.1) / d,
            (self.1 * o.0 - self.0 * o.1) / d,
        )
    }
    fn exp(self) -> C {
        let m = self.0.exp();
        C(m * self.1.cos(), m * self.1.sin())
    }
}

/// A parameter expression.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Num(C),
    Param(String),
    Mem(String, usize),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Instr {
    Gate {
        name: String,
        params: Vec<Expr>,
        qubits: Vec<usize>,
        /// Modifiers in source order (leftmost first): `true` = CONTROLLED, `false` = DAGGER.
        modifiers: Vec<bool>,
        line: u32,
    },
    Measure {
        qubit: usize,
        target: Option<(String, usize)>,
    },
    Reset(Option<usize>),
}

/// A user gate: its parameters and matrix entries (row-major), or a permutation.
#[derive(Clone, Debug)]
enum DefGate {
    Matrix {
        params: Vec<String>,
        entries: Vec<Expr>,
        dim: usize,
    },
    Permutation(Vec<usize>),
}

/// A parsed Quil program, instantiated per substitution set by [`QuilProgram::circuit`].
#[derive(Clone, Debug)]
pub struct QuilProgram {
    pub regions: Vec<Region>,
    instrs: Vec<Instr>,
    defgates: HashMap<String, DefGate>,
    /// Qubit label → dense index.
    qubits: BTreeMap<usize, usize>,
}

fn err<T>(line: u32, msg: impl Into<String>) -> Result<T> {
    Err(SimError::parse(line, 1, msg))
}

/// Parses a Quil program with default limits.
pub fn parse(src: &str) -> Result<QuilProgram> {
    parse_with(src, &QuilLimits::default())
}

/// Parses a Quil program.
pub fn parse_with(src: &str, limits: &QuilLimits) -> Result<QuilProgram> {
    if src.len() > limits.max_bytes {
        return Err(SimError::Limit(format!(
            "the Quil program is {} bytes; at most {} are accepted",
            src.len(),
            limits.max_bytes
        )));
    }
    let mut p = QuilProgram {
        regions: Vec::new(),
        instrs: Vec::new(),
        defgates: HashMap::new(),
        qubits: BTreeMap::new(),
    };
    let mut memory = 0usize;
    let lines: Vec<&str> = src.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = (i + 1) as u32;
        let raw = lines[i].split('#').next().unwrap_or("");
        i += 1;
        for stmt in raw.split(';') {
            let stmt = stmt.trim();
            if stmt.is_empty() {
                continue;
            }
            if p.instrs.len() >= limits.max_instructions {
                return Err(SimError::Limit(format!(
                    "the program has more than {} instructions",
                    limits.max_instructions
                )));
            }
            let (head, rest) = split_word(stmt);
            match head.to_ascii_uppercase().as_str() {
                "PRAGMA" | "NOP" => {}
                "HALT" => return Ok(p.packed()),
                "DECLARE" => {
                    let r = declare(rest, line_no)?;
                    if p.regions.iter().any(|x| x.name == r.name) {
                        return err(line_no, format!("memory '{}' is declared twice", r.name));
                    }
                    memory = memory.saturating_add(r.len);
                    if memory > limits.max_memory || p.regions.len() >= 1024 {
                        return Err(SimError::Limit(format!(
                            "more than {} elements of declared memory",
                            limits.max_memory
                        )));
                    }
                    p.regions.push(r);
                }
                "DEFGATE" => {
                    // The body is the following indented lines.
                    let mut body = Vec::new();
                    while i < lines.len()
                        && (lines[i].starts_with(' ') || lines[i].starts_with('\t'))
                    {
                        let l = lines[i].split('#').next().unwrap_or("").trim();
                        if !l.is_empty() {
                            body.push(l);
                        }
                        i += 1;
                    }
                    if p.defgates.len() >= MAX_DEFGATES {
                        return Err(SimError::Limit(format!(
                            "more than {MAX_DEFGATES} DEFGATEs"
                        )));
                    }
                    let (name, g) = defgate(rest, &body, line_no)?;
                    p.defgates.insert(name, g);
                }
                "MEASURE" => {
                    let args: Vec<&str> = rest.split_whitespace().collect();
                    let (q, target) = match args.as_slice() {
                        [q] => (qubit(q, line_no)?, None),
                        [q, m] => (qubit(q, line_no)?, Some(mem_ref(m, line_no)?)),
                        _ => return err(line_no, "MEASURE takes a qubit and optionally a memory reference"),
                    };
                    p.use_qubit(q, limits)?;
                    p.instrs.push(Instr::Measure { qubit: q, target });
                }
                "RESET" => {
                    let q = match rest.split_whitespace().collect::<Vec<_>>().as_slice() {
                        [] => None,
                        [q] => Some(qubit(q, line_no)?),
                        _ => return err(line_no, "RESET takes at most one qubit"),
                    };
                    if let Some(q) = q {
                        p.use_qubit(q, limits)?;
                    }
                    p.instrs.push(Instr::Reset(q));
                }
                "LABEL" | "JUMP" | "JUMP-WHEN" | "JUMP-UNLESS" | "WAIT" | "MOVE" | "ADD"
                | "SUB" | "MUL" | "DIV" | "LOAD" | "STORE" | "EQ" | "GT" | "GE" | "LT" | "LE"
                | "NOT" | "AND" | "IOR" | "XOR" | "NEG" | "CONVERT" | "EXCHANGE" => {
                    return Err(SimError::parse(
                        line_no,
                        1,
                        format!("unsupported: classical instruction {head} (qws runs gate programs without classical control)"),
                    ))
                }
                "DEFCIRCUIT" | "DEFCAL" | "DEFFRAME" | "DEFWAVEFORM" | "PULSE" | "CAPTURE"
                | "DELAY" | "FENCE" | "SET-PHASE" | "SHIFT-PHASE" | "SET-FREQUENCY"
                | "SHIFT-FREQUENCY" | "SET-SCALE" | "RAW-CAPTURE" | "SWAP-PHASES" => {
                    return Err(SimError::parse(
                        line_no,
                        1,
                        format!("unsupported: {head} (Quil-T and circuit definitions are not simulated)"),
                    ))
                }
                _ => {
                    let g = gate(stmt, line_no)?;
                    if let Instr::Gate { qubits, .. } = &g {
                        for &q in qubits {
                            p.use_qubit(q, limits)?;
                        }
                    }
                    p.instrs.push(g);
                }
            }
        }
    }
    Ok(p.packed())
}

impl QuilProgram {
    /// Dense indices in label order: the lowest label used is qubit 0.
    fn packed(mut self) -> QuilProgram {
        for (i, v) in self.qubits.values_mut().enumerate() {
            *v = i;
        }
        self
    }

    fn use_qubit(&mut self, q: usize, limits: &QuilLimits) -> Result<()> {
        if !self.qubits.contains_key(&q) {
            if self.qubits.len() >= limits.max_qubits {
                return Err(SimError::Limit(format!(
                    "the program uses more than {} qubits",
                    limits.max_qubits
                )));
            }
            let n = self.qubits.len();
            self.qubits.insert(q, n);
        }
        Ok(())
    }

    /// Qubits the program uses (distinct labels).
    pub fn num_qubits(&self) -> usize {
        self.qubits.len()
    }

    /// The regions reported in the results: every non-`REAL` region, in declaration order.
    pub fn readout_regions(&self) -> Vec<&Region> {
        self.regions
            .iter()
            .filter(|r| r.kind != MemKind::Real)
            .collect()
    }

    /// The circuit with `REAL` memory set from `values` (region → values; missing ones are 0).
    /// Classical bits are the readout regions' elements, in order.
    pub fn circuit(&self, values: &HashMap<String, Vec<f64>>) -> Result<Circuit> {
        let mut clbit_of: HashMap<&str, usize> = HashMap::new();
        let mut cregs = Vec::new();
        let mut next = 0usize;
        for r in self.readout_regions() {
            clbit_of.insert(&r.name, next);
            cregs.push(ClassicalRegister {
                name: r.name.clone(),
                bits: (next..next + r.len).collect(),
            });
            next += r.len;
        }
        let mut c = Circuit::new(self.qubits.len(), next);
        c.cregs = cregs;
        let mem = |name: &str, idx: usize| -> Result<f64> {
            let r = self
                .regions
                .iter()
                .find(|r| r.name == name)
                .ok_or_else(|| SimError::Invalid(format!("memory '{name}' is not declared")))?;
            if r.kind != MemKind::Real {
                return Err(SimError::Invalid(format!(
                    "memory '{name}' is {:?}; gate parameters read REAL memory",
                    r.kind
                )));
            }
            if idx >= r.len {
                return Err(SimError::Invalid(format!(
                    "{name}[{idx}] is out of range (declared {})",
                    r.len
                )));
            }
            Ok(values
                .get(name)
                .and_then(|v| v.get(idx))
                .copied()
                .unwrap_or(0.0))
        };
        for ins in &self.instrs {
            match ins {
                Instr::Measure { qubit, target } => {
                    let q = self.qubits[qubit];
                    let Some((name, idx)) = target else {
                        // A measurement whose result is discarded still collapses the qubit:
                        // measure into a scratch bit.
                        c.num_clbits += 1;
                        c.ops.push(Op::Measure {
                            qubit: q,
                            clbit: c.num_clbits - 1,
                        });
                        continue;
                    };
                    let r = self
                        .regions
                        .iter()
                        .find(|r| &r.name == name)
                        .ok_or_else(|| {
                            SimError::Invalid(format!("MEASURE into undeclared memory '{name}'"))
                        })?;
                    if r.kind == MemKind::Real {
                        return Err(SimError::Invalid(format!(
                            "MEASURE into REAL memory '{name}'"
                        )));
                    }
                    if *idx >= r.len {
                        return Err(SimError::Invalid(format!(
                            "{name}[{idx}] is out of range (declared {})",
                            r.len
                        )));
                    }
                    c.ops.push(Op::Measure {
                        qubit: q,
                        clbit: clbit_of[name.as_str()] + idx,
                    });
                }
                Instr::Reset(None) => {
                    for q in 0..self.qubits.len() {
                        c.ops.push(Op::Reset { qubit: q });
                    }
                }
                Instr::Reset(Some(q)) => c.ops.push(Op::Reset {
                    qubit: self.qubits[q],
                }),
                Instr::Gate {
                    name,
                    params,
                    qubits,
                    modifiers,
                    line,
                } => {
                    let eval_param = |e: &Expr| -> Result<f64> {
                        let v = eval(e, &HashMap::new(), &mem, 0)?;
                        if v.1.abs() > 1e-12 || !v.0.is_finite() {
                            return Err(SimError::parse(
                                *line,
                                1,
                                "a gate parameter must be a finite real number",
                            ));
                        }
                        Ok(v.0)
                    };
                    let args: Vec<f64> = params.iter().map(eval_param).collect::<Result<_>>()?;
                    let controls_n = modifiers.iter().filter(|m| **m).count();
                    if qubits.len() <= controls_n {
                        return err(
                            *line,
                            format!("{name} has too few qubits for its modifiers"),
                        );
                    }
                    let dense: Vec<usize> = qubits.iter().map(|q| self.qubits[q]).collect();
                    let (ctrl, targets) = dense.split_at(controls_n);
                    let mut op = self.base_gate(name, &args, targets, *line, &mem)?;
                    let daggers = modifiers.iter().filter(|m| !**m).count();
                    if daggers % 2 == 1 {
                        op = dagger(op);
                    }
                    op.controls.extend_from_slice(ctrl);
                    c.ops.push(Op::Gate(op));
                }
            }
        }
        Ok(c)
    }

    fn base_gate(
        &self,
        name: &str,
        a: &[f64],
        q: &[usize],
        line: u32,
        mem: &dyn Fn(&str, usize) -> Result<f64>,
    ) -> Result<GateOp> {
        let want = |np: usize, nq: usize| -> Result<()> {
            if a.len() != np || q.len() != nq {
                return err(
                    line,
                    format!(
                        "{name} takes {np} parameter(s) and {nq} qubit(s), got {} and {}",
                        a.len(),
                        q.len()
                    ),
                );
            }
            Ok(())
        };
        let one = |g: Gate| GateOp::new(g, vec![q[0]]);
        // Two-qubit matrices in Quil order (first qubit most significant): our targets[0] is
        // the least significant bit, so the qubits go in reversed.
        let two = |m: [[C; 4]; 4]| {
            let data = m.iter().flatten().map(|c| (c.0, c.1)).collect();
            GateOp::new(
                Gate::Unitary(Box::new(Matrix { dim: 4, data })),
                vec![q[1], q[0]],
            )
        };
        let z = C(0.0, 0.0);
        let o = C(1.0, 0.0);
        Ok(match name {
            "I" | "X" | "Y" | "Z" | "H" | "S" | "T" => {
                want(0, 1)?;
                one(match name {
                    "I" => Gate::I,
                    "X" => Gate::X,
                    "Y" => Gate::Y,
                    "Z" => Gate::Z,
                    "H" => Gate::H,
                    "S" => Gate::S,
                    _ => Gate::T,
                })
            }
            "PHASE" | "RX" | "RY" | "RZ" => {
                want(1, 1)?;
                one(match name {
                    "PHASE" => Gate::Phase(a[0]),
                    "RX" => Gate::RX(a[0]),
                    "RY" => Gate::RY(a[0]),
                    _ => Gate::RZ(a[0]),
                })
            }
            "CZ" | "CNOT" => {
                want(0, 2)?;
                let g = if name == "CZ" { Gate::Z } else { Gate::X };
                GateOp::controlled(g, vec![q[0]], vec![q[1]])
            }
            "CCNOT" => {
                want(0, 3)?;
                GateOp::controlled(Gate::X, vec![q[0], q[1]], vec![q[2]])
            }
            "CPHASE" => {
                want(1, 2)?;
                GateOp::controlled(Gate::Phase(a[0]), vec![q[0]], vec![q[1]])
            }
            "CPHASE00" | "CPHASE01" | "CPHASE10" => {
                want(1, 2)?;
                let e = C(0.0, a[0]).exp();
                let k = match name {
                    "CPHASE00" => 0,
                    "CPHASE01" => 1,
                    _ => 2,
                };
                let mut m = [[z; 4]; 4];
                for (i, row) in m.iter_mut().enumerate() {
                    row[i] = if i == k { e } else { o };
                }
                two(m)
            }
            "SWAP" => {
                want(0, 2)?;
                GateOp::new(Gate::Swap, vec![q[0], q[1]])
            }
            "CSWAP" => {
                want(0, 3)?;
                GateOp::controlled(Gate::Swap, vec![q[0]], vec![q[1], q[2]])
            }
            "ISWAP" => {
                want(0, 2)?;
                GateOp::new(Gate::ISwap, vec![q[0], q[1]])
            }
            "PSWAP" => {
                want(1, 2)?;
                let e = C(0.0, a[0]).exp();
                two([[o, z, z, z], [z, z, e, z], [z, e, z, z], [z, z, z, o]])
            }
            "XY" => {
                want(1, 2)?;
                let (c, s) = ((a[0] / 2.0).cos(), (a[0] / 2.0).sin());
                two([
                    [o, z, z, z],
                    [z, C(c, 0.0), C(0.0, s), z],
                    [z, C(0.0, s), C(c, 0.0), z],
                    [z, z, z, o],
                ])
            }
            _ => match self.defgates.get(name) {
                Some(DefGate::Permutation(perm)) => {
                    let dim = perm.len();
                    let nq = dim.trailing_zeros() as usize;
                    want(0, nq)?;
                    let mut data = vec![(0.0, 0.0); dim * dim];
                    for (col, &row) in perm.iter().enumerate() {
                        data[row * dim + col] = (1.0, 0.0);
                    }
                    GateOp::new(
                        Gate::Unitary(Box::new(Matrix { dim, data })),
                        q.iter().rev().copied().collect(),
                    )
                }
                Some(DefGate::Matrix {
                    params,
                    entries,
                    dim,
                }) => {
                    let nq = dim.trailing_zeros() as usize;
                    want(params.len(), nq)?;
                    let bound: HashMap<String, C> = params
                        .iter()
                        .cloned()
                        .zip(a.iter().map(|v| C(*v, 0.0)))
                        .collect();
                    let data = entries
                        .iter()
                        .map(|e| eval(e, &bound, mem, 0).map(|c| (c.0, c.1)))
                        .collect::<Result<Vec<_>>>()?;
                    if data.iter().any(|c| !c.0.is_finite() || !c.1.is_finite()) {
                        return err(line, format!("{name}'s matrix has a non-finite entry"));
                    }
                    check_unitary(&data, *dim, name, line)?;
                    GateOp::new(
                        Gate::Unitary(Box::new(Matrix { dim: *dim, data })),
                        q.iter().rev().copied().collect(),
                    )
                }
                None => return err(line, format!("unknown gate '{name}'")),
            },
        })
    }
}

fn check_unitary(m: &[(f64, f64)], dim: usize, name: &str, line: u32) -> Result<()> {
    for i in 0..dim {
        for j in 0..dim {
            // (M M†)_ij
            let mut acc = C(0.0, 0.0);
            for k in 0..dim {
                let a = C(m[i * dim + k].0, m[i * dim + k].1);
                let b = C(m[j * dim + k].0, -m[j * dim + k].1);
                acc = acc.add(a.mul(b));
            }
            let want = if i == j { 1.0 } else { 0.0 };
            if (acc.0 - want).abs() > 1e-6 || acc.1.abs() > 1e-6 {
                return err(line, format!("the matrix of {name} is not unitary"));
            }
        }
    }
    Ok(())
}

/// The inverse of a gate, as its conjugate-transposed matrix.
fn dagger(op: GateOp) -> GateOp {
    let m = op.gate.matrix();
    let d = m.dim;
    let mut data = vec![(0.0, 0.0); d * d];
    for i in 0..d {
        for j in 0..d {
            let (re, im) = m.data[j * d + i];
            data[i * d + j] = (re, -im);
        }
    }
    GateOp {
        gate: Gate::Unitary(Box::new(Matrix { dim: d, data })),
        ..op
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

fn qubit(s: &str, line: u32) -> Result<usize> {
    s.parse::<usize>()
        .ok()
        .filter(|q| *q < 1 << 20)
        .ok_or_else(|| {
            SimError::parse(
                line,
                1,
                format!("'{s}' is not a qubit (a non-negative integer)"),
            )
        })
}

fn ident_ok(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `name` or `name[i]`.
fn mem_ref(s: &str, line: u32) -> Result<(String, usize)> {
    let (name, idx) = match s.split_once('[') {
        Some((n, rest)) => {
            let i = rest
                .strip_suffix(']')
                .and_then(|i| i.trim().parse::<usize>().ok())
                .ok_or_else(|| SimError::parse(line, 1, format!("bad memory reference '{s}'")))?;
            (n, i)
        }
        None => (s, 0),
    };
    if !ident_ok(name) {
        return err(line, format!("bad memory reference '{s}'"));
    }
    Ok((name.to_string(), idx))
}

fn declare(rest: &str, line: u32) -> Result<Region> {
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [name, ty] = parts.as_slice() else {
        return err(
            line,
            "DECLARE takes a name and a type (e.g. DECLARE ro BIT[2])",
        );
    };
    if !ident_ok(name) {
        return err(line, format!("bad memory name '{name}'"));
    }
    let (kind, len) = match ty.split_once('[') {
        Some((k, n)) => (
            k,
            n.strip_suffix(']')
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| SimError::parse(line, 1, format!("bad memory size in '{ty}'")))?,
        ),
        None => (*ty, 1),
    };
    let kind = match kind.to_ascii_uppercase().as_str() {
        "BIT" => MemKind::Bit,
        "OCTET" => MemKind::Octet,
        "INTEGER" => MemKind::Integer,
        "REAL" => MemKind::Real,
        other => return err(line, format!("unknown memory type '{other}'")),
    };
    Ok(Region {
        name: name.to_string(),
        kind,
        len,
    })
}

/// `[CONTROLLED|DAGGER]* NAME[(p, …)] q…`
fn gate(stmt: &str, line: u32) -> Result<Instr> {
    let mut rest = stmt;
    let mut modifiers = Vec::new();
    loop {
        let (w, r) = split_word(rest);
        match w {
            "CONTROLLED" => modifiers.push(true),
            "DAGGER" => modifiers.push(false),
            "FORKED" => return err(line, "unsupported: the FORKED modifier"),
            _ => break,
        }
        rest = r;
        if modifiers.len() > 64 {
            return err(line, "too many gate modifiers");
        }
    }
    let (name, params, qubits_src) = match rest.find('(') {
        Some(open)
            if rest[..open]
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            let close = matching_paren(rest, open)
                .ok_or_else(|| SimError::parse(line, 1, "unbalanced parentheses"))?;
            let params = split_top(&rest[open + 1..close])
                .into_iter()
                .map(|p| parse_expr(p, line))
                .collect::<Result<Vec<_>>>()?;
            (rest[..open].trim(), params, &rest[close + 1..])
        }
        _ => {
            let (n, r) = split_word(rest);
            (n, Vec::new(), r)
        }
    };
    if !ident_ok(name) {
        return err(line, format!("cannot parse '{stmt}'"));
    }
    let qubits = qubits_src
        .split_whitespace()
        .map(|q| qubit(q, line))
        .collect::<Result<Vec<_>>>()?;
    if qubits.is_empty() {
        return err(line, format!("{name} is applied to no qubits"));
    }
    for (i, q) in qubits.iter().enumerate() {
        if qubits[..i].contains(q) {
            return err(line, format!("qubit {q} is used twice in one gate"));
        }
    }
    Ok(Instr::Gate {
        name: name.to_string(),
        params,
        qubits,
        modifiers,
        line,
    })
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits at commas outside parentheses and brackets.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() || !out.is_empty() {
        out.push(s[start..].trim());
    }
    out
}

fn defgate(rest: &str, body: &[&str], line: u32) -> Result<(String, DefGate)> {
    let head = rest
        .trim()
        .strip_suffix(':')
        .ok_or_else(|| SimError::parse(line, 1, "DEFGATE's first line ends with ':'"))?
        .trim();
    let (head, permutation) = match head.split_once(" AS ") {
        Some((h, "MATRIX")) => (h.trim(), false),
        Some((h, "PERMUTATION")) => (h.trim(), true),
        Some((_, other)) => return err(line, format!("unsupported: DEFGATE AS {other}")),
        None => (head, false),
    };
    let (name, params) = match head.split_once('(') {
        Some((n, p)) => {
            let p = p
                .strip_suffix(')')
                .ok_or_else(|| SimError::parse(line, 1, "unbalanced parentheses"))?;
            let ps = split_top(p)
                .into_iter()
                .map(|x| {
                    x.strip_prefix('%')
                        .filter(|x| ident_ok(x))
                        .map(str::to_string)
                        .ok_or_else(|| SimError::parse(line, 1, format!("bad parameter '{x}'")))
                })
                .collect::<Result<Vec<_>>>()?;
            (n.trim(), ps)
        }
        None => (head, Vec::new()),
    };
    if !ident_ok(name) {
        return err(line, format!("bad gate name '{name}'"));
    }
    if permutation {
        let perm = body
            .iter()
            .flat_map(|l| l.split(','))
            .map(|x| {
                x.trim()
                    .parse::<usize>()
                    .map_err(|_| SimError::parse(line, 1, format!("bad permutation entry '{x}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let dim = perm.len();
        let mut seen = vec![false; dim];
        let valid = dim.is_power_of_two()
            && (2..=1 << MAX_DEFGATE_QUBITS).contains(&dim)
            && perm
                .iter()
                .all(|&p| p < dim && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return err(
                line,
                format!("{name}: not a permutation of 2..16 basis states"),
            );
        }
        return Ok((name.to_string(), DefGate::Permutation(perm)));
    }
    let dim = body.len();
    if !dim.is_power_of_two() || !(2..=1 << MAX_DEFGATE_QUBITS).contains(&dim) {
        return err(
            line,
            format!("{name}: a DEFGATE matrix has 2, 4, 8 or 16 rows, got {dim}"),
        );
    }
    let mut entries = Vec::with_capacity(dim * dim);
    for (r, row) in body.iter().enumerate() {
        let cells = split_top(row);
        if cells.len() != dim {
            return err(
                line + 1 + r as u32,
                format!(
                    "{name}: row {r} has {} entries, expected {dim}",
                    cells.len()
                ),
            );
        }
        for c in cells {
            let e = parse_expr(c, line + 1 + r as u32)?;
            check_params(&e, &params, line + 1 + r as u32)?;
            entries.push(e);
        }
    }
    Ok((
        name.to_string(),
        DefGate::Matrix {
            params,
            entries,
            dim,
        },
    ))
}

fn check_params(e: &Expr, params: &[String], line: u32) -> Result<()> {
    match e {
        Expr::Param(p) if !params.contains(p) => err(line, format!("undeclared parameter %{p}")),
        Expr::Neg(a) | Expr::Call(_, a) => check_params(a, params, line),
        Expr::Bin(_, a, b) => {
            check_params(a, params, line)?;
            check_params(b, params, line)
        }
        _ => Ok(()),
    }
}

// ---- expressions -------------------------------------------------------------------------------

struct ExprParser<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
    depth: usize,
}

fn parse_expr(src: &str, line: u32) -> Result<Expr> {
    let mut p = ExprParser {
        s: src.as_bytes(),
        i: 0,
        line,
        depth: 0,
    };
    let e = p.sum()?;
    p.ws();
    if p.i != p.s.len() {
        return err(line, format!("cannot parse the expression '{src}'"));
    }
    Ok(e)
}

impl ExprParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.line, "the expression is nested too deeply");
        }
        Ok(())
    }
    fn sum(&mut self) -> Result<Expr> {
        self.enter()?;
        let mut a = self.product()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let b = self.product()?;
            a = Expr::Bin(op as char, Box::new(a), Box::new(b));
        }
        self.depth -= 1;
        Ok(a)
    }
    fn product(&mut self) -> Result<Expr> {
        let mut a = self.power()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            let b = self.power()?;
            a = Expr::Bin(op as char, Box::new(a), Box::new(b));
        }
        Ok(a)
    }
    fn power(&mut self) -> Result<Expr> {
        let a = self.unary()?;
        if self.peek() == Some(b'^') {
            self.i += 1;
            self.enter()?;
            let b = self.power()?;
            self.depth -= 1;
            return Ok(Expr::Bin('^', Box::new(a), Box::new(b)));
        }
        Ok(a)
    }
    fn unary(&mut self) -> Result<Expr> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                self.enter()?;
                let e = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Neg(Box::new(e)))
            }
            Some(b'+') => {
                self.i += 1;
                self.unary()
            }
            _ => self.atom(),
        }
    }
    fn word(&mut self) -> &str {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn atom(&mut self) -> Result<Expr> {
        let line = self.line;
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.sum()?;
                if self.peek() != Some(b')') {
                    return err(line, "missing ')' in an expression");
                }
                self.i += 1;
                Ok(e)
            }
            Some(b'%') => {
                self.i += 1;
                let w = self.word().to_string();
                if w.is_empty() {
                    return err(line, "'%' must name a parameter");
                }
                Ok(Expr::Param(w))
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.')
                {
                    self.i += 1;
                }
                if self.i < self.s.len() && (self.s[self.i] == b'e' || self.s[self.i] == b'E') {
                    let save = self.i;
                    self.i += 1;
                    if self.i < self.s.len() && (self.s[self.i] == b'+' || self.s[self.i] == b'-') {
                        self.i += 1;
                    }
                    if self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                            self.i += 1;
                        }
                    } else {
                        self.i = save;
                    }
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                let v: f64 = text
                    .parse()
                    .map_err(|_| SimError::parse(line, 1, format!("bad number '{text}'")))?;
                // An imaginary literal: 2.5i
                if self.i < self.s.len() && self.s[self.i] == b'i' {
                    self.i += 1;
                    return Ok(Expr::Num(C(0.0, v)));
                }
                Ok(Expr::Num(C(v, 0.0)))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let w = self.word().to_string();
                match w.as_str() {
                    "pi" => return Ok(Expr::Num(C(PI, 0.0))),
                    "i" => return Ok(Expr::Num(C(0.0, 1.0))),
                    _ => {}
                }
                match self.peek() {
                    Some(b'(') => {
                        if !matches!(w.as_str(), "sin" | "cos" | "sqrt" | "exp" | "cis") {
                            return err(line, format!("unknown function '{w}'"));
                        }
                        self.i += 1;
                        let e = self.sum()?;
                        if self.peek() != Some(b')') {
                            return err(line, "missing ')' after a function argument");
                        }
                        self.i += 1;
                        Ok(Expr::Call(w, Box::new(e)))
                    }
                    Some(b'[') => {
                        self.i += 1;
                        self.ws();
                        let start = self.i;
                        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                            self.i += 1;
                        }
                        let idx = std::str::from_utf8(&self.s[start..self.i])
                            .ok()
                            .and_then(|d| d.parse::<usize>().ok())
                            .ok_or_else(|| SimError::parse(line, 1, "bad memory index"))?;
                        if self.peek() != Some(b']') {
                            return err(line, "missing ']' in a memory reference");
                        }
                        self.i += 1;
                        Ok(Expr::Mem(w, idx))
                    }
                    _ => Ok(Expr::Mem(w, 0)),
                }
            }
            _ => err(line, "expected a number, parameter or memory reference"),
        }
    }
}

fn eval(
    e: &Expr,
    params: &HashMap<String, C>,
    mem: &dyn Fn(&str, usize) -> Result<f64>,
    depth: usize,
) -> Result<C> {
    if depth > 4 * MAX_DEPTH {
        return Err(SimError::Invalid("expression too deep".into()));
    }
    let r = |x| eval(x, params, mem, depth + 1);
    Ok(match e {
        Expr::Num(c) => *c,
        Expr::Param(p) => *params
            .get(p)
            .ok_or_else(|| SimError::Invalid(format!("parameter %{p} is not bound")))?,
        Expr::Mem(n, i) => C(mem(n, *i)?, 0.0),
        Expr::Neg(a) => {
            let v = r(a)?;
            C(-v.0, -v.1)
        }
        Expr::Bin(op, a, b) => {
            let (x, y) = (r(a)?, r(b)?);
            match op {
                '+' => x.add(y),
                '-' => x.sub(y),
                '*' => x.mul(y),
                '/' => x.div(y),
                _ => {
                    if x.1 != 0.0 || y.1 != 0.0 {
                        return Err(SimError::Invalid("'^' takes real operands".into()));
                    }
                    C(x.0.powf(y.0), 0.0)
                }
            }
        }
        Expr::Call(f, a) => {
            let v = r(a)?;
            match f.as_str() {
                "exp" => v.exp(),
                "cis" => C(-v.1, v.0).exp(),
                _ if v.1 != 0.0 => {
                    return Err(SimError::Invalid(format!("{f} takes a real argument")))
                }
                "sin" => C(v.0.sin(), 0.0),
                "cos" => C(v.0.cos(), 0.0),
                _ => C(v.0.sqrt(), 0.0),
            }
        }
    })
}

// ---- substitutions and results -----------------------------------------------------------------

/// The job's `substitutions` (`{"theta": [[…run 1…], […run 2…]], …}`) as one value map per run;
/// one empty run when there are none. Every region must list the same number of runs, each as
/// long as the region, and name a declared `REAL` region.
pub fn substitution_runs(
    program: &QuilProgram,
    subs: Option<&Value>,
) -> Result<Vec<HashMap<String, Vec<f64>>>> {
    let Some(subs) = subs.filter(|v| !v.is_null()) else {
        return Ok(vec![HashMap::new()]);
    };
    let obj = subs
        .as_object()
        .ok_or_else(|| SimError::Invalid("substitutions must map region names to lists".into()))?;
    let mut runs: Option<usize> = None;
    let mut out: Vec<HashMap<String, Vec<f64>>> = Vec::new();
    for (name, sets) in obj {
        let region = program
            .regions
            .iter()
            .find(|r| &r.name == name && r.kind == MemKind::Real)
            .ok_or_else(|| {
                SimError::Invalid(format!(
                    "substitutions name '{name}', which is not declared REAL"
                ))
            })?;
        let sets = sets.as_array().ok_or_else(|| {
            SimError::Invalid(format!(
                "substitutions.{name} must be a list of value lists"
            ))
        })?;
        match runs {
            None => {
                if sets.is_empty() || sets.len() > 10_000 {
                    return Err(SimError::Invalid(format!(
                        "substitutions.{name} must hold 1 to 10000 value lists"
                    )));
                }
                runs = Some(sets.len());
                out = vec![HashMap::new(); sets.len()];
            }
            Some(n) if n != sets.len() => {
                return Err(SimError::Invalid(format!(
                    "substitutions.{name} has {} value lists; the other regions have {n}",
                    sets.len()
                )))
            }
            Some(_) => {}
        }
        for (k, set) in sets.iter().enumerate() {
            let vals = set
                .as_array()
                .map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .and_then(|v| v)
                .filter(|v| v.len() == region.len && v.iter().all(|x| x.is_finite()))
                .ok_or_else(|| {
                    SimError::Invalid(format!(
                        "substitutions.{name}[{k}] must be {} finite numbers",
                        region.len
                    ))
                })?;
            out[k].insert(name.clone(), vals);
        }
    }
    Ok(if out.is_empty() {
        vec![HashMap::new()]
    } else {
        out
    })
}

/// `rigetti.quil-results.v1`: every readout region (non-`REAL`), in declaration order, as one
/// list of values per shot: `{"ro": [[0, 1], [1, 1], …]}`. `outs` are the runs in order.
pub fn quil_results(program: &QuilProgram, outs: &[RunOutput]) -> Value {
    let mut doc = Map::new();
    let mut first = 0usize;
    for r in program.readout_regions() {
        let mut rows = Vec::new();
        for out in outs {
            for s in &out.shots {
                rows.push(Value::Array(
                    (first..first + r.len)
                        .map(|b| Value::from(s.get(b) as u8))
                        .collect(),
                ));
            }
        }
        doc.insert(r.name.clone(), Value::Array(rows));
        first += r.len;
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{run, RunOptions};

    fn run_quil(src: &str, shots: u64) -> Value {
        let p = parse(src).unwrap();
        let c = p.circuit(&HashMap::new()).unwrap();
        let out = run(
            &c,
            &RunOptions {
                shots,
                seed: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        quil_results(&p, &[out])
    }

    #[test]
    fn bell_and_memory_layout() {
        let v = run_quil(
            "DECLARE ro BIT[2]\nH 0\nCNOT 0 1\nMEASURE 0 ro[0]\nMEASURE 1 ro[1]\n",
            20,
        );
        for row in v["ro"].as_array().unwrap() {
            assert!(row == &serde_json::json!([0, 0]) || row == &serde_json::json!([1, 1]));
        }
    }

    #[test]
    fn first_qubit_is_most_significant_in_matrices() {
        // CPHASE10 on |10> (first qubit set) applies the phase; check via interference:
        // H on the first, CPHASE10(pi), H: with the second qubit 0 the first ends in |1>.
        let v = run_quil(
            "DECLARE ro BIT[1]\nH 5\nCPHASE10(pi) 5 9\nH 5\nMEASURE 5 ro\n",
            10,
        );
        assert!(v["ro"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r == &serde_json::json!([1])));
        let v = run_quil(
            "DEFGATE MYX:\n    0, 1\n    1, 0\nDECLARE ro BIT[2]\nMYX 0\nDAGGER CONTROLLED MYX 0 1\nMEASURE 1 ro[1]\n",
            5,
        );
        assert!(v["ro"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r == &serde_json::json!([0, 1])));
    }
}
