//! Lowering: walks the syntax tree and produces the flat IR circuit. Gate definitions are
//! inlined, modifiers become controls/inversion/repetition, loops are unrolled, and every
//! expansion is counted against the limits so no program can make us allocate without bound.

use super::ast::*;
use super::builtins;
use super::expr::{eval, Scope, Value};
use super::parser::{Parser, Version};
use super::{modifiers, FrontendLimits};
use crate::error::{Pos, Result, SimError};
use crate::ir::{Circuit, ClassicalRegister, Condition, Gate, GateOp, Op, QuantumRegister};
use std::collections::HashMap;
use std::rc::Rc;

/// Which kind of register a declaration adds.
#[derive(Clone, Copy)]
enum Register {
    Quantum,
    Classical,
}

fn perr<T>(pos: Pos, msg: impl Into<String>) -> Result<T> {
    Err(SimError::parse(pos.line, pos.col, msg))
}

enum GateDefn {
    Core(usize, usize),
    Library(usize, usize),
    User {
        params: Vec<String>,
        qubits: Vec<String>,
        body: Vec<Stmt>,
        /// Library gates written as definitions (rccx, rc3x) may be redefined by the program.
        builtin: bool,
    },
    Opaque(usize, usize),
}

impl GateDefn {
    fn arity(&self) -> (usize, usize) {
        match self {
            GateDefn::Core(p, q) | GateDefn::Library(p, q) | GateDefn::Opaque(p, q) => (*p, *q),
            GateDefn::User { params, qubits, .. } => (params.len(), qubits.len()),
        }
    }
}

struct Var {
    ty: Option<ClassicalType>,
    value: Value,
}

/// Inside a gate body: its parameters and qubit arguments.
struct GateFrame {
    params: HashMap<String, f64>,
    qubits: HashMap<String, usize>,
}

pub struct Lowerer<'a> {
    limits: &'a FrontendLimits,
    version: Version,
    num_qubits: usize,
    num_clbits: usize,
    qregs: Vec<QuantumRegister>,
    cregs: Vec<ClassicalRegister>,
    gates: HashMap<String, Rc<GateDefn>>,
    library: bool,
    scopes: Vec<HashMap<String, Var>>,
    ops_emitted: usize,
    iterations: usize,
    /// Depth of measurement-dependent `if` bodies being lowered (classical assignment there
    /// cannot be unrolled at compile time).
    dynamic_if: usize,
}

struct ClassicalScope<'b, 'a> {
    l: &'b Lowerer<'a>,
    frame: Option<&'b GateFrame>,
}

impl Scope for ClassicalScope<'_, '_> {
    fn lookup(&self, name: &str) -> Option<Value> {
        if let Some(f) = self.frame {
            if let Some(v) = f.params.get(name) {
                return Some(Value::Float(*v));
            }
        }
        self.l
            .scopes
            .iter()
            .rev()
            .find_map(|s| s.get(name))
            .map(|v| v.value)
    }
    fn is_register(&self, name: &str) -> bool {
        self.l.cregs.iter().any(|r| r.name == name) || self.l.qregs.iter().any(|r| r.name == name)
    }
}

/// A resolved operand: its qubits (or bits), and whether it is a whole register (broadcast).
struct Resolved {
    items: Vec<usize>,
    broadcast: bool,
}

impl<'a> Lowerer<'a> {
    pub fn new(limits: &'a FrontendLimits, version: Version) -> Self {
        Lowerer {
            limits,
            version,
            num_qubits: 0,
            num_clbits: 0,
            qregs: vec![],
            cregs: vec![],
            gates: HashMap::new(),
            library: false,
            scopes: vec![HashMap::new()],
            ops_emitted: 0,
            iterations: 0,
            dynamic_if: 0,
        }
    }

    pub fn finish(self, ops: Vec<Op>) -> Circuit {
        Circuit {
            num_qubits: self.num_qubits,
            num_clbits: self.num_clbits,
            qregs: self.qregs,
            cregs: self.cregs,
            ops,
        }
    }

    fn count(&mut self, n: usize) -> Result<()> {
        self.ops_emitted = self.ops_emitted.saturating_add(n);
        if self.ops_emitted > self.limits.max_ops {
            return Err(SimError::Limit(format!(
                "the program expands to more than {} operations",
                self.limits.max_ops
            )));
        }
        Ok(())
    }

    fn eval(&self, e: &Expr, frame: Option<&GateFrame>) -> Result<Value> {
        let scope = ClassicalScope { l: self, frame };
        eval(e, &scope, self.version == Version::V3)
    }

    fn eval_f64(&self, e: &Expr, frame: Option<&GateFrame>) -> Result<f64> {
        let v = self.eval(e, frame)?.as_f64();
        if !v.is_finite() {
            let p = e.pos().unwrap_or(Pos { line: 0, col: 0 });
            return perr(
                p,
                format!("the parameter evaluates to {v}, not a finite number"),
            );
        }
        Ok(v)
    }

    fn eval_int(&self, e: &Expr, pos: Pos, what: &str) -> Result<i64> {
        match self.eval(e, None)? {
            Value::Int(v) => Ok(v),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            v => perr(
                e.pos().unwrap_or(pos),
                format!("{what} must be an integer, got {}", v.as_f64()),
            ),
        }
    }

    pub fn lower_program(&mut self, stmts: &[Stmt]) -> Result<Vec<Op>> {
        let mut out = Vec::new();
        self.stmts(stmts, &mut out)?;
        Ok(out)
    }

    fn stmts(&mut self, stmts: &[Stmt], out: &mut Vec<Op>) -> Result<()> {
        for s in stmts {
            self.stmt(s, out)?;
        }
        Ok(())
    }

    fn name_taken(&self, name: &str) -> bool {
        self.qregs.iter().any(|r| r.name == name)
            || self.cregs.iter().any(|r| r.name == name)
            || self.scopes.iter().any(|s| s.contains_key(name))
    }

    /// The indices of a new register `name` of `size` qubits or bits, after those already
    /// declared: refused when the name is taken or the total would pass the limit.
    fn allocate(
        &mut self,
        name: &str,
        size: &Option<Expr>,
        pos: Pos,
        kind: Register,
    ) -> Result<std::ops::Range<usize>> {
        if self.name_taken(name) {
            return perr(pos, format!("'{name}' is already declared"));
        }
        let n = self.decl_size(size, pos)?;
        let (count, limit, what) = match kind {
            Register::Quantum => (&mut self.num_qubits, self.limits.max_qubits, "qubits"),
            Register::Classical => (&mut self.num_clbits, self.limits.max_clbits, "bits"),
        };
        if n > limit.saturating_sub(*count) {
            return Err(SimError::Limit(format!(
                "{}:{}: declaring {n} more {what} exceeds the limit of {limit}",
                pos.line, pos.col
            )));
        }
        let start = *count;
        *count += n;
        Ok(start..start + n)
    }

    fn decl_size(&self, size: &Option<Expr>, pos: Pos) -> Result<usize> {
        match size {
            None => Ok(1),
            Some(e) => {
                let n = self.eval_int(e, pos, "a register size")?;
                if n <= 0 {
                    return perr(pos, format!("a register needs a positive size, got {n}"));
                }
                Ok(n as usize)
            }
        }
    }

    fn stmt(&mut self, s: &Stmt, out: &mut Vec<Op>) -> Result<()> {
        match s {
            Stmt::Include(path, pos) => match path.as_str() {
                "qelib1.inc" | "stdgates.inc" => self.load_library(),
                _ => perr(
                    *pos,
                    format!(
                        "cannot include \"{path}\": qws never reads files; only \"qelib1.inc\" \
                         and \"stdgates.inc\" are built in"
                    ),
                ),
            },
            Stmt::QubitDecl { name, size, pos } => {
                let qubits = self.allocate(name, size, *pos, Register::Quantum)?;
                self.qregs.push(QuantumRegister {
                    name: name.clone(),
                    qubits: qubits.collect(),
                });
                Ok(())
            }
            Stmt::BitDecl {
                name,
                size,
                init,
                pos,
            } => {
                let bits = self.allocate(name, size, *pos, Register::Classical)?;
                self.cregs.push(ClassicalRegister {
                    name: name.clone(),
                    bits: bits.collect(),
                });
                if let Some(q) = init {
                    self.measure(q, &Operand::Name(name.clone(), *pos), *pos, out)?;
                }
                Ok(())
            }
            Stmt::GateDef {
                name,
                params,
                qubits,
                body,
                pos,
            } => self.define_gate(name, params, qubits, body, *pos, false),
            Stmt::Opaque {
                name,
                num_params,
                num_qubits,
                pos,
            } => {
                if matches!(
                    self.gates.get(name).map(|d| &**d),
                    Some(GateDefn::User { builtin: false, .. }) | Some(GateDefn::Opaque(..))
                ) {
                    return perr(*pos, format!("gate '{name}' is already defined"));
                }
                self.gates.insert(
                    name.clone(),
                    Rc::new(GateDefn::Opaque(*num_params, *num_qubits)),
                );
                Ok(())
            }
            Stmt::GateCall {
                modifiers,
                name,
                params,
                args,
                pos,
            } => self.gate_call(modifiers, name, params, args, *pos, None, out),
            Stmt::Measure { qubits, bits, pos } => match bits {
                Some(b) => self.measure(qubits, b, *pos, out),
                None => {
                    // `measure q;` with no target: the qubits collapse, nothing is recorded.
                    // The IR has no such op, so this is refused rather than silently changed.
                    Err(SimError::Unsupported(format!(
                        "{}:{}: a measurement without a target bit",
                        pos.line, pos.col
                    )))
                }
            },
            Stmt::Reset(q, pos) => {
                let r = self.resolve_qubits(q, None)?;
                let _ = pos;
                self.count(r.items.len())?;
                out.extend(r.items.into_iter().map(|qubit| Op::Reset { qubit }));
                Ok(())
            }
            Stmt::Barrier(args, _) => {
                let mut qs = Vec::new();
                if args.is_empty() {
                    qs.extend(0..self.num_qubits);
                }
                for a in args {
                    qs.extend(self.resolve_qubits(a, None)?.items);
                }
                qs.sort_unstable();
                qs.dedup();
                self.count(1)?;
                out.push(Op::Barrier(qs));
                Ok(())
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
                pos,
            } => self.if_stmt(cond, then_body, else_body, *pos, out),
            Stmt::For {
                var,
                range,
                body,
                pos,
            } => self.for_stmt(var, range, body, *pos, out),
            Stmt::ClassicalDecl {
                ty,
                name,
                init,
                pos,
            } => {
                if self.scopes.last().is_some_and(|s| s.contains_key(name))
                    || self.qregs.iter().any(|r| &r.name == name)
                    || self.cregs.iter().any(|r| &r.name == name)
                {
                    return perr(*pos, format!("'{name}' is already declared"));
                }
                let value = match init {
                    Some(e) => convert(ty, self.eval(e, None)?, *pos)?,
                    None => convert(ty, Value::Int(0), *pos)?,
                };
                self.scopes.last_mut().expect("scope").insert(
                    name.clone(),
                    Var {
                        ty: Some(ty.clone()),
                        value,
                    },
                );
                Ok(())
            }
            Stmt::Assign {
                name,
                op,
                value,
                pos,
            } => {
                if self.dynamic_if > 0 {
                    return Err(SimError::Unsupported(format!(
                        "{}:{}: classical assignment inside a measurement-dependent if",
                        pos.line, pos.col
                    )));
                }
                let rhs = self.eval(value, None)?;
                let Some(var) = self.scopes.iter().rev().find_map(|s| s.get(name)) else {
                    if self.cregs.iter().any(|r| &r.name == name) {
                        return Err(SimError::Unsupported(format!(
                            "{}:{}: assigning values to bits",
                            pos.line, pos.col
                        )));
                    }
                    return perr(*pos, format!("unknown variable '{name}'"));
                };
                let new = match op {
                    None => rhs,
                    Some(op) => {
                        let e =
                            Expr::Binary(*op, Box::new(lit(var.value)), Box::new(lit(rhs)), *pos);
                        self.eval(&e, None)?
                    }
                };
                let ty = var.ty.clone();
                let new = match &ty {
                    Some(t) => convert(t, new, *pos)?,
                    None => {
                        return perr(
                            *pos,
                            format!("the loop variable '{name}' cannot be assigned"),
                        )
                    }
                };
                for s in self.scopes.iter_mut().rev() {
                    if let Some(v) = s.get_mut(name) {
                        v.value = new;
                        break;
                    }
                }
                Ok(())
            }
            Stmt::Block(body) => {
                self.scopes.push(HashMap::new());
                let r = self.stmts(body, out);
                self.scopes.pop();
                r
            }
        }
    }

    fn load_library(&mut self) -> Result<()> {
        if self.library {
            return Ok(());
        }
        self.library = true;
        let prelude = super::lexer::tokenize(builtins::PRELUDE)?;
        let stmts = Parser::new(prelude, Version::V2).program()?;
        for s in &stmts {
            if let Stmt::GateDef {
                name,
                params,
                qubits,
                body,
                pos,
            } = s
            {
                self.define_gate(name, params, qubits, body, *pos, true)?;
            }
        }
        Ok(())
    }

    fn lookup_gate(&self, name: &str) -> Option<Rc<GateDefn>> {
        if let Some(d) = self.gates.get(name) {
            return Some(d.clone());
        }
        if let Some((p, q)) = builtins::core(name, self.version == Version::V3) {
            return Some(Rc::new(GateDefn::Core(p, q)));
        }
        if self.library {
            if let Some((p, q)) = builtins::library(name) {
                return Some(Rc::new(GateDefn::Library(p, q)));
            }
        }
        None
    }

    fn define_gate(
        &mut self,
        name: &str,
        params: &[String],
        qubits: &[String],
        body: &[Stmt],
        pos: Pos,
        builtin: bool,
    ) -> Result<()> {
        if matches!(
            self.gates.get(name).map(|d| &**d),
            Some(GateDefn::User { builtin: false, .. }) | Some(GateDefn::Opaque(..))
        ) {
            return perr(pos, format!("gate '{name}' is already defined"));
        }
        let mut seen = std::collections::HashSet::new();
        for q in qubits.iter().chain(params) {
            if !seen.insert(q) {
                return perr(
                    pos,
                    format!("'{q}' appears twice in the definition of '{name}'"),
                );
            }
        }
        // Every gate a body calls must already exist and must not be the gate itself, so the
        // call graph is acyclic and expansion terminates.
        check_body(self, name, body)?;
        self.gates.insert(
            name.to_string(),
            Rc::new(GateDefn::User {
                params: params.to_vec(),
                qubits: qubits.to_vec(),
                body: body.to_vec(),
                builtin,
            }),
        );
        Ok(())
    }

    fn resolve(&self, op: &Operand, frame: Option<&GateFrame>, quantum: bool) -> Result<Resolved> {
        let kind = if quantum { "qubit" } else { "bit" };
        if let Some(f) = frame {
            return match op {
                Operand::Name(n, p) => match f.qubits.get(n) {
                    Some(q) => Ok(Resolved {
                        items: vec![*q],
                        broadcast: false,
                    }),
                    None => perr(*p, format!("unknown qubit '{n}' in a gate body")),
                },
                _ => perr(
                    op.pos(),
                    "gate bodies can only use their qubit arguments, unindexed",
                ),
            };
        }
        let (name, pos) = match op {
            Operand::Name(n, p) | Operand::Indexed(n, _, p) => (n, *p),
            Operand::Slice { name, pos, .. } => (name, *pos),
        };
        let reg: &[usize] = if quantum {
            match self.qregs.iter().find(|r| &r.name == name) {
                Some(r) => &r.qubits,
                None => {
                    let also = if self.cregs.iter().any(|r| &r.name == name) {
                        " (it is a classical register)"
                    } else {
                        ""
                    };
                    return perr(pos, format!("unknown quantum register '{name}'{also}"));
                }
            }
        } else {
            match self.cregs.iter().find(|r| &r.name == name) {
                Some(r) => &r.bits,
                None => return perr(pos, format!("unknown classical register '{name}'")),
            }
        };
        let index = |e: &Expr| -> Result<usize> {
            let i = self.eval_int(e, pos, "an index")?;
            let len = reg.len() as i64;
            // OpenQASM 3 allows negative indices from the end.
            let j = if i < 0 && self.version == Version::V3 {
                i + len
            } else {
                i
            };
            if j < 0 || j >= len {
                return perr(
                    e.pos().unwrap_or(pos),
                    format!("index {i} is out of range for {kind} register '{name}' of size {len}"),
                );
            }
            Ok(j as usize)
        };
        match op {
            Operand::Name(..) => Ok(Resolved {
                items: reg.to_vec(),
                broadcast: true,
            }),
            Operand::Indexed(_, e, _) => Ok(Resolved {
                items: vec![reg[index(e)?]],
                broadcast: false,
            }),
            Operand::Slice {
                start, step, end, ..
            } => {
                let (a, b) = (index(start)? as i64, index(end)? as i64);
                let s = match step {
                    Some(e) => self.eval_int(e, pos, "a slice step")?,
                    None => 1,
                };
                if s == 0 {
                    return perr(pos, "a slice step cannot be zero");
                }
                let mut items = Vec::new();
                let mut i = a;
                while (s > 0 && i <= b) || (s < 0 && i >= b) {
                    items.push(reg[i as usize]);
                    i += s;
                }
                Ok(Resolved {
                    items,
                    broadcast: true,
                })
            }
        }
    }

    fn resolve_qubits(&self, op: &Operand, frame: Option<&GateFrame>) -> Result<Resolved> {
        self.resolve(op, frame, true)
    }

    fn measure(&mut self, q: &Operand, c: &Operand, pos: Pos, out: &mut Vec<Op>) -> Result<()> {
        let qs = self.resolve(q, None, true)?;
        let cs = self.resolve(c, None, false)?;
        if qs.items.len() != cs.items.len() {
            return perr(
                pos,
                format!(
                    "measuring {} qubit(s) into {} bit(s)",
                    qs.items.len(),
                    cs.items.len()
                ),
            );
        }
        self.count(qs.items.len())?;
        out.extend(
            qs.items
                .into_iter()
                .zip(cs.items)
                .map(|(qubit, clbit)| Op::Measure { qubit, clbit }),
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn gate_call(
        &mut self,
        mods: &[Modifier],
        name: &str,
        params: &[Expr],
        args: &[Operand],
        pos: Pos,
        frame: Option<&GateFrame>,
        out: &mut Vec<Op>,
    ) -> Result<()> {
        let values = params
            .iter()
            .map(|e| self.eval_f64(e, frame))
            .collect::<Result<Vec<_>>>()?;
        let resolved = args
            .iter()
            .map(|a| self.resolve_qubits(a, frame))
            .collect::<Result<Vec<_>>>()?;
        // Broadcast: every whole-register operand must have the same length.
        let mut width: Option<usize> = None;
        for r in resolved.iter().filter(|r| r.broadcast) {
            match width {
                None => width = Some(r.items.len()),
                Some(w) if w != r.items.len() => {
                    return perr(
                        pos,
                        format!(
                            "registers of different sizes ({w} and {}) in one gate call",
                            r.items.len()
                        ),
                    )
                }
                _ => {}
            }
        }
        let depth = if frame.is_some() { 1 } else { 0 };
        for i in 0..width.unwrap_or(1) {
            let qubits: Vec<usize> = resolved
                .iter()
                .map(|r| if r.broadcast { r.items[i] } else { r.items[0] })
                .collect();
            let mut seen = std::collections::HashSet::new();
            if let Some(q) = qubits.iter().find(|q| !seen.insert(**q)) {
                return perr(
                    pos,
                    format!("qubit {q} is used twice in one call of '{name}'"),
                );
            }
            let ops = self.apply(mods, name, &values, &qubits, pos, depth)?;
            out.extend(ops.into_iter().map(Op::Gate));
        }
        Ok(())
    }

    /// Applies `mods` (outermost first) around the gate `name` on concrete qubits.
    fn apply(
        &mut self,
        mods: &[Modifier],
        name: &str,
        params: &[f64],
        qubits: &[usize],
        pos: Pos,
        depth: usize,
    ) -> Result<Vec<GateOp>> {
        let Some((m, rest)) = mods.split_first() else {
            return self.apply_plain(name, params, qubits, pos, depth);
        };
        let count = |l: &Self, e: &Option<Expr>| -> Result<usize> {
            match e {
                None => Ok(1),
                Some(e) => {
                    let n = l.eval_int(e, pos, "a control count")?;
                    if n < 1 {
                        return perr(pos, format!("a control count must be at least 1, got {n}"));
                    }
                    Ok(n as usize)
                }
            }
        };
        match m {
            Modifier::Ctrl(e) | Modifier::NegCtrl(e) => {
                let n = count(self, e)?;
                if n > qubits.len() {
                    return perr(
                        pos,
                        format!(
                            "'{name}' with {n} control(s) needs more than {} qubit(s)",
                            qubits.len()
                        ),
                    );
                }
                let (ctrls, targets) = qubits.split_at(n);
                let inner = self.apply(rest, name, params, targets, pos, depth)?;
                let neg = matches!(m, Modifier::NegCtrl(_));
                let mut ops = Vec::with_capacity(inner.len() + 2 * n);
                if neg {
                    ops.extend(ctrls.iter().map(|&c| GateOp::new(Gate::X, vec![c])));
                }
                for mut g in inner {
                    g.controls.extend_from_slice(ctrls);
                    ops.push(g);
                }
                if neg {
                    ops.extend(ctrls.iter().map(|&c| GateOp::new(Gate::X, vec![c])));
                }
                self.count(ops.len())?;
                Ok(ops)
            }
            Modifier::Inv => {
                let inner = self.apply(rest, name, params, qubits, pos, depth)?;
                Ok(inner.into_iter().rev().map(modifiers::invert).collect())
            }
            Modifier::Pow(e) => {
                let k = self.eval_f64(e, None)?;
                let rounded = k.round();
                if (k - rounded).abs() < 1e-12 {
                    let reps = rounded.abs();
                    let inner = self.apply(rest, name, params, qubits, pos, depth)?;
                    let total = reps * inner.len() as f64;
                    if total > self.limits.max_ops as f64 {
                        return Err(SimError::Limit(format!(
                            "{}:{}: pow({k}) expands to more than {} operations",
                            pos.line, pos.col, self.limits.max_ops
                        )));
                    }
                    if inner.is_empty() || reps == 0.0 {
                        return Ok(vec![]);
                    }
                    let unit: Vec<GateOp> = if rounded < 0.0 {
                        inner.into_iter().rev().map(modifiers::invert).collect()
                    } else {
                        inner
                    };
                    self.count(total as usize)?;
                    let mut ops = Vec::with_capacity(total as usize);
                    for _ in 0..reps as usize {
                        ops.extend(unit.iter().cloned());
                    }
                    Ok(ops)
                } else {
                    if qubits.len() != 1 {
                        return Err(SimError::Unsupported(format!(
                            "{}:{}: a non-integer power of a gate on {} qubits",
                            pos.line,
                            pos.col,
                            qubits.len()
                        )));
                    }
                    let inner = self.apply(rest, name, params, &[0], pos, depth)?;
                    let m = modifiers::single_qubit_matrix(&inner).ok_or_else(|| {
                        SimError::Unsupported(format!(
                            "{}:{}: a non-integer power of this gate",
                            pos.line, pos.col
                        ))
                    })?;
                    let p = modifiers::power_2x2(&m, k);
                    Ok(vec![GateOp::new(
                        Gate::Unitary(Box::new(p)),
                        qubits.to_vec(),
                    )])
                }
            }
        }
    }

    fn apply_plain(
        &mut self,
        name: &str,
        params: &[f64],
        qubits: &[usize],
        pos: Pos,
        depth: usize,
    ) -> Result<Vec<GateOp>> {
        let Some(def) = self.lookup_gate(name) else {
            let hint = if !self.library && builtins::library(name).is_some() {
                format!(
                    " (add include \"{}\";)",
                    if self.version == Version::V2 {
                        "qelib1.inc"
                    } else {
                        "stdgates.inc"
                    }
                )
            } else {
                String::new()
            };
            return perr(pos, format!("unknown gate '{name}'{hint}"));
        };
        let (np, nq) = def.arity();
        if params.len() != np {
            return perr(
                pos,
                format!(
                    "gate '{name}' takes {np} parameter(s), got {}",
                    params.len()
                ),
            );
        }
        if qubits.len() != nq {
            return perr(
                pos,
                format!("gate '{name}' acts on {nq} qubit(s), got {}", qubits.len()),
            );
        }
        match &*def {
            GateDefn::Core(..) | GateDefn::Library(..) => {
                let ops = builtins::expand(name, params, qubits);
                self.count(ops.len())?;
                Ok(ops)
            }
            GateDefn::Opaque(..) => Err(SimError::Unsupported(format!(
                "{}:{}: opaque gate '{name}' has no definition to simulate",
                pos.line, pos.col
            ))),
            GateDefn::User {
                params: pnames,
                qubits: qnames,
                body,
                ..
            } => {
                if depth >= self.limits.max_gate_depth {
                    return Err(SimError::Limit(format!(
                        "{}:{}: gate definitions nest deeper than {}",
                        pos.line, pos.col, self.limits.max_gate_depth
                    )));
                }
                let frame = GateFrame {
                    params: pnames.iter().cloned().zip(params.iter().copied()).collect(),
                    qubits: qnames.iter().cloned().zip(qubits.iter().copied()).collect(),
                };
                let mut ops = Vec::new();
                for s in body.iter() {
                    match s {
                        Stmt::GateCall {
                            modifiers,
                            name: callee,
                            params: pexprs,
                            args,
                            pos: cpos,
                        } => {
                            let values = pexprs
                                .iter()
                                .map(|e| self.eval_f64(e, Some(&frame)))
                                .collect::<Result<Vec<_>>>()?;
                            let qs = args
                                .iter()
                                .map(|a| Ok(self.resolve_qubits(a, Some(&frame))?.items[0]))
                                .collect::<Result<Vec<_>>>()?;
                            let mut seen = std::collections::HashSet::new();
                            if qs.iter().any(|q| !seen.insert(*q)) {
                                return perr(
                                    *cpos,
                                    format!("a qubit is used twice in one call of '{callee}'"),
                                );
                            }
                            ops.extend(self.apply(
                                modifiers,
                                callee,
                                &values,
                                &qs,
                                *cpos,
                                depth + 1,
                            )?);
                        }
                        // Barriers inside gate bodies do not change the state.
                        Stmt::Barrier(..) => {}
                        _ => unreachable!("check_body admits only gate calls and barriers"),
                    }
                }
                Ok(ops)
            }
        }
    }

    fn if_stmt(
        &mut self,
        cond: &Expr,
        then_body: &[Stmt],
        else_body: &[Stmt],
        pos: Pos,
        out: &mut Vec<Op>,
    ) -> Result<()> {
        match self.condition(cond, pos)? {
            Cond::Static(b) => {
                self.scopes.push(HashMap::new());
                let r = self.stmts(if b { then_body } else { else_body }, out);
                self.scopes.pop();
                r
            }
            Cond::Dynamic(c) => {
                self.dynamic_if += 1;
                let mut then_ops = Vec::new();
                let mut else_ops = Vec::new();
                self.scopes.push(HashMap::new());
                let r = self.stmts(then_body, &mut then_ops);
                self.scopes.pop();
                self.scopes.push(HashMap::new());
                let r = r.and_then(|_| self.stmts(else_body, &mut else_ops));
                self.scopes.pop();
                self.dynamic_if -= 1;
                r?;
                self.count(1)?;
                out.push(Op::If {
                    cond: c,
                    then_ops,
                    else_ops,
                });
                Ok(())
            }
        }
    }

    /// The bits a condition operand names, if it names classical bits.
    fn bits_of(&self, e: &Expr) -> Result<Option<Vec<usize>>> {
        match e {
            Expr::Ident(n, _) => Ok(self
                .cregs
                .iter()
                .find(|r| &r.name == n)
                .map(|r| r.bits.clone())),
            Expr::Index(n, idx, p) => {
                if !self.cregs.iter().any(|r| &r.name == n) {
                    return perr(*p, format!("unknown classical register '{n}'"));
                }
                let r = self.resolve(
                    &Operand::Indexed(n.clone(), (**idx).clone(), *p),
                    None,
                    false,
                )?;
                Ok(Some(r.items))
            }
            _ => Ok(None),
        }
    }

    fn condition(&self, e: &Expr, pos: Pos) -> Result<Cond> {
        let p = e.pos().unwrap_or(pos);
        match e {
            Expr::Binary(op @ (BinOp::And | BinOp::Or), a, b, _) => {
                let (a, b) = (self.condition(a, pos)?, self.condition(b, pos)?);
                Ok(match (op, a, b) {
                    (BinOp::And, Cond::Static(x), y) | (BinOp::And, y, Cond::Static(x)) => {
                        if x {
                            y
                        } else {
                            Cond::Static(false)
                        }
                    }
                    (BinOp::Or, Cond::Static(x), y) | (BinOp::Or, y, Cond::Static(x)) => {
                        if x {
                            Cond::Static(true)
                        } else {
                            y
                        }
                    }
                    (BinOp::And, Cond::Dynamic(x), Cond::Dynamic(y)) => {
                        Cond::Dynamic(Condition::And(Box::new(x), Box::new(y)))
                    }
                    (_, Cond::Dynamic(x), Cond::Dynamic(y)) => {
                        Cond::Dynamic(Condition::Or(Box::new(x), Box::new(y)))
                    }
                    _ => unreachable!("only && and || reach here"),
                })
            }
            Expr::Unary(UnOp::Not, a, _) => Ok(match self.condition(a, pos)? {
                Cond::Static(b) => Cond::Static(!b),
                Cond::Dynamic(c) => Cond::Dynamic(Condition::Not(Box::new(c))),
            }),
            Expr::Binary(
                op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
                a,
                b,
                _,
            ) => {
                let (bits, value, op) = match (self.bits_of(a)?, self.bits_of(b)?) {
                    (Some(_), Some(_)) => {
                        return Err(SimError::Unsupported(format!(
                            "{}:{}: comparing two registers",
                            p.line, p.col
                        )))
                    }
                    (Some(bits), None) => (bits, self.eval(b, None)?, *op),
                    (None, Some(bits)) => (bits, self.eval(a, None)?, flip(*op)),
                    (None, None) => return Ok(Cond::Static(self.eval(e, None)?.truthy())),
                };
                compare(bits, value.as_f64(), op, p)
            }
            Expr::Ident(..) | Expr::Index(..) => match self.bits_of(e)? {
                Some(bits) => Ok(Cond::Dynamic(Condition::Not(Box::new(Condition::Equals {
                    bits,
                    value: 0,
                })))),
                None => Ok(Cond::Static(self.eval(e, None)?.truthy())),
            },
            _ => Ok(Cond::Static(self.eval(e, None)?.truthy())),
        }
    }

    fn for_stmt(
        &mut self,
        var: &str,
        range: &ForRange,
        body: &[Stmt],
        pos: Pos,
        out: &mut Vec<Op>,
    ) -> Result<()> {
        let values: Box<dyn Iterator<Item = i64>> = match range {
            ForRange::Range { start, step, end } => {
                let a = self.eval_int(start, pos, "a loop bound")?;
                let b = self.eval_int(end, pos, "a loop bound")?;
                let s = match step {
                    Some(e) => self.eval_int(e, pos, "a loop step")?,
                    None => 1,
                };
                if s == 0 {
                    return perr(pos, "a loop step cannot be zero");
                }
                // Inclusive range, as OpenQASM 3 defines `[a:b]`.
                let n = if (s > 0 && a > b) || (s < 0 && a < b) {
                    0
                } else {
                    ((b as i128 - a as i128) / s as i128 + 1) as u128
                };
                if n > self.limits.max_loop_iterations as u128 {
                    return Err(SimError::Limit(format!(
                        "{}:{}: a loop of {n} iterations (at most {} are unrolled)",
                        pos.line, pos.col, self.limits.max_loop_iterations
                    )));
                }
                Box::new((0..n as i64).map(move |i| a + i * s))
            }
            ForRange::Set(items) => {
                let vals = items
                    .iter()
                    .map(|e| self.eval_int(e, pos, "a loop value"))
                    .collect::<Result<Vec<_>>>()?;
                Box::new(vals.into_iter())
            }
        };
        for v in values {
            self.iterations += 1;
            if self.iterations > self.limits.max_loop_iterations {
                return Err(SimError::Limit(format!(
                    "{}:{}: loops run more than {} iterations in total",
                    pos.line, pos.col, self.limits.max_loop_iterations
                )));
            }
            let mut scope = HashMap::new();
            scope.insert(
                var.to_string(),
                Var {
                    ty: None,
                    value: Value::Int(v),
                },
            );
            self.scopes.push(scope);
            // The body gets its own scope so declarations inside restart every iteration.
            self.scopes.push(HashMap::new());
            let r = self.stmts(body, out);
            self.scopes.pop();
            self.scopes.pop();
            r?;
        }
        Ok(())
    }
}

enum Cond {
    Static(bool),
    Dynamic(Condition),
}

fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Gt => BinOp::Lt,
        BinOp::Le => BinOp::Ge,
        BinOp::Ge => BinOp::Le,
        o => o,
    }
}

/// `bits <op> value` as a condition on measured bits. Orderings are spelled out as a
/// disjunction of equalities, which is only done for small registers.
fn compare(bits: Vec<usize>, value: f64, op: BinOp, p: Pos) -> Result<Cond> {
    let exact = |v: f64| -> Option<u64> {
        if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 {
            Some(v as u64)
        } else {
            None
        }
    };
    match op {
        BinOp::Eq | BinOp::Ne => {
            let c = match exact(value) {
                Some(v) if bits.len() >= 64 || v >> bits.len() == 0 => {
                    Cond::Dynamic(Condition::Equals { bits, value: v })
                }
                _ => Cond::Static(false),
            };
            Ok(match (op, c) {
                (BinOp::Eq, c) => c,
                (_, Cond::Static(b)) => Cond::Static(!b),
                (_, Cond::Dynamic(c)) => Cond::Dynamic(Condition::Not(Box::new(c))),
            })
        }
        _ => {
            if bits.len() > 8 {
                return Err(SimError::Unsupported(format!(
                    "{}:{}: ordering comparisons on registers wider than 8 bits",
                    p.line, p.col
                )));
            }
            let mut cond: Option<Condition> = None;
            let mut all = true;
            for v in 0..(1u64 << bits.len()) {
                let x = v as f64;
                let holds = match op {
                    BinOp::Lt => x < value,
                    BinOp::Le => x <= value,
                    BinOp::Gt => x > value,
                    _ => x >= value,
                };
                if !holds {
                    all = false;
                    continue;
                }
                let eq = Condition::Equals {
                    bits: bits.clone(),
                    value: v,
                };
                cond = Some(match cond {
                    None => eq,
                    Some(c) => Condition::Or(Box::new(c), Box::new(eq)),
                });
            }
            Ok(match (all, cond) {
                (true, _) => Cond::Static(true),
                (_, None) => Cond::Static(false),
                (_, Some(c)) => Cond::Dynamic(c),
            })
        }
    }
}

fn lit(v: Value) -> Expr {
    match v {
        Value::Int(i) if i >= 0 => Expr::Int(i as u64),
        Value::Int(i) => Expr::Unary(
            UnOp::Neg,
            Box::new(Expr::Int(i.unsigned_abs())),
            Pos { line: 0, col: 0 },
        ),
        Value::Float(f) => Expr::Float(f),
        Value::Bool(b) => Expr::Bool(b),
    }
}

fn convert(ty: &ClassicalType, v: Value, pos: Pos) -> Result<Value> {
    Ok(match ty {
        ClassicalType::Int | ClassicalType::Uint => match v {
            Value::Int(i) => Value::Int(i),
            Value::Bool(b) => Value::Int(b as i64),
            Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Value::Int(f.trunc() as i64),
            Value::Float(f) => return perr(pos, format!("{f} does not fit an integer")),
        },
        ClassicalType::Float | ClassicalType::Angle => Value::Float(v.as_f64()),
        ClassicalType::Bool => Value::Bool(v.truthy()),
    })
}

/// Gate bodies may contain gate calls (with modifiers) and barriers, calling only gates that are
/// already defined and never the gate being defined.
fn check_body(l: &Lowerer, name: &str, body: &[Stmt]) -> Result<()> {
    for s in body {
        match s {
            Stmt::GateCall {
                name: callee, pos, ..
            } => {
                if callee == name {
                    return perr(*pos, format!("gate '{name}' cannot call itself"));
                }
                if l.lookup_gate(callee).is_none() {
                    return perr(*pos, format!("unknown gate '{callee}'"));
                }
            }
            Stmt::Barrier(..) => {}
            Stmt::Measure { pos, .. } | Stmt::Reset(_, pos) => {
                return perr(*pos, "gate bodies cannot measure or reset")
            }
            _ => {
                return perr(
                    stmt_pos(s).unwrap_or(Pos { line: 0, col: 0 }),
                    "gate bodies may only contain gate calls and barriers",
                )
            }
        }
    }
    Ok(())
}

fn stmt_pos(s: &Stmt) -> Option<Pos> {
    match s {
        Stmt::Include(_, p) | Stmt::Reset(_, p) | Stmt::Barrier(_, p) => Some(*p),
        Stmt::QubitDecl { pos, .. }
        | Stmt::BitDecl { pos, .. }
        | Stmt::GateDef { pos, .. }
        | Stmt::Opaque { pos, .. }
        | Stmt::GateCall { pos, .. }
        | Stmt::Measure { pos, .. }
        | Stmt::If { pos, .. }
        | Stmt::For { pos, .. }
        | Stmt::ClassicalDecl { pos, .. }
        | Stmt::Assign { pos, .. } => Some(*pos),
        Stmt::Block(b) => b.first().and_then(stmt_pos),
    }
}
