//! From a parsed [`Module`] to a checked program: the entry point, its qubit and result counts,
//! and the meaning of every function it calls. Everything that can be rejected statically is
//! rejected here, so the interpreter only meets runtime errors (bad ids, step limits).

use super::model::*;
use crate::error::{Result, SimError};
use crate::ir::Gate;
use crate::run::Limits;

/// What an output-recording call records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// `tuple_record_output(i64 n, label)`: the next `n` records form a tuple.
    Tuple,
    /// `array_record_output(i64 n, label)`: the next `n` records form an array.
    Array,
    /// Older runtimes bracket containers instead of counting: `tuple_start_record_output()` …
    TupleStart,
    TupleEnd,
    ArrayStart,
    ArrayEnd,
    Result,
    Bool,
    Int,
    Double,
}

/// The meaning of a declared function the program calls.
#[derive(Clone, Copy, Debug)]
pub enum Intrinsic {
    /// A gate: `angles` doubles, then `controls` control qubits, then `targets` target qubits.
    Gate {
        make: fn(&[f64]) -> Gate,
        angles: usize,
        controls: usize,
        targets: usize,
    },
    /// Measure (qubit, result); `reset` for `mresetz`.
    Measure {
        reset: bool,
    },
    Reset,
    /// (result) -> i1
    ReadResult,
    /// Accepted and ignored (`initialize`, `barrier`, parallel-region markers).
    NoOp,
    Record(RecordKind),
}

impl Intrinsic {
    /// Number of arguments the call must pass.
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Intrinsic::Gate {
                angles,
                controls,
                targets,
                ..
            } => angles + controls + targets,
            Intrinsic::Measure { .. } => 2,
            Intrinsic::Reset | Intrinsic::ReadResult => 1,
            Intrinsic::NoOp => return None,
            Intrinsic::Record(k) => match k {
                RecordKind::TupleStart
                | RecordKind::TupleEnd
                | RecordKind::ArrayStart
                | RecordKind::ArrayEnd => return None,
                _ => 2,
            },
        })
    }
}

fn fixed(g: Gate) -> fn(&[f64]) -> Gate {
    // A fn pointer per fixed gate, so `Intrinsic` stays `Copy` and comparable.
    match g {
        Gate::H => |_| Gate::H,
        Gate::X => |_| Gate::X,
        Gate::Y => |_| Gate::Y,
        Gate::Z => |_| Gate::Z,
        Gate::S => |_| Gate::S,
        Gate::Sdg => |_| Gate::Sdg,
        Gate::T => |_| Gate::T,
        Gate::Tdg => |_| Gate::Tdg,
        Gate::SX => |_| Gate::SX,
        Gate::SXdg => |_| Gate::SXdg,
        Gate::Swap => |_| Gate::Swap,
        _ => |_| Gate::I,
    }
}

fn gate(make: fn(&[f64]) -> Gate, angles: usize, controls: usize, targets: usize) -> Intrinsic {
    Intrinsic::Gate {
        make,
        angles,
        controls,
        targets,
    }
}

/// Maps a declared function name to its meaning, or `None` when qws does not implement it.
pub fn intrinsic(name: &str) -> Option<Intrinsic> {
    if let Some(q) = name.strip_prefix("__quantum__qis__") {
        return Some(match q {
            "h__body" => gate(fixed(Gate::H), 0, 0, 1),
            "x__body" => gate(fixed(Gate::X), 0, 0, 1),
            "y__body" => gate(fixed(Gate::Y), 0, 0, 1),
            "z__body" => gate(fixed(Gate::Z), 0, 0, 1),
            "s__body" => gate(fixed(Gate::S), 0, 0, 1),
            "s__adj" => gate(fixed(Gate::Sdg), 0, 0, 1),
            "t__body" => gate(fixed(Gate::T), 0, 0, 1),
            "t__adj" => gate(fixed(Gate::Tdg), 0, 0, 1),
            "sx__body" => gate(fixed(Gate::SX), 0, 0, 1),
            "sx__adj" => gate(fixed(Gate::SXdg), 0, 0, 1),
            "rx__body" => gate(|a| Gate::RX(a[0]), 1, 0, 1),
            "ry__body" => gate(|a| Gate::RY(a[0]), 1, 0, 1),
            "rz__body" => gate(|a| Gate::RZ(a[0]), 1, 0, 1),
            "r1__body" | "p__body" => gate(|a| Gate::Phase(a[0]), 1, 0, 1),
            "u3__body" | "u__body" => gate(|a| Gate::U(a[0], a[1], a[2]), 3, 0, 1),
            "cnot__body" | "cx__body" => gate(fixed(Gate::X), 0, 1, 1),
            "cy__body" => gate(fixed(Gate::Y), 0, 1, 1),
            "cz__body" => gate(fixed(Gate::Z), 0, 1, 1),
            "ccx__body" | "ccnot__body" | "toffoli__body" => gate(fixed(Gate::X), 0, 2, 1),
            "swap__body" => gate(fixed(Gate::Swap), 0, 0, 2),
            "rxx__body" => gate(|a| Gate::RXX(a[0]), 1, 0, 2),
            "ryy__body" => gate(|a| Gate::RYY(a[0]), 1, 0, 2),
            "rzz__body" => gate(|a| Gate::RZZ(a[0]), 1, 0, 2),
            "m__body" | "mz__body" => Intrinsic::Measure { reset: false },
            "mresetz__body" => Intrinsic::Measure { reset: true },
            "reset__body" => Intrinsic::Reset,
            "read_result__body" => Intrinsic::ReadResult,
            "barrier__body" => Intrinsic::NoOp,
            _ => return None,
        });
    }
    if let Some(r) = name.strip_prefix("__quantum__rt__") {
        return Some(match r {
            "initialize" | "begin_parallel" | "end_parallel" => Intrinsic::NoOp,
            "read_result" => Intrinsic::ReadResult,
            "tuple_record_output" => Intrinsic::Record(RecordKind::Tuple),
            "array_record_output" => Intrinsic::Record(RecordKind::Array),
            "tuple_start_record_output" => Intrinsic::Record(RecordKind::TupleStart),
            "tuple_end_record_output" => Intrinsic::Record(RecordKind::TupleEnd),
            "array_start_record_output" => Intrinsic::Record(RecordKind::ArrayStart),
            "array_end_record_output" => Intrinsic::Record(RecordKind::ArrayEnd),
            "result_record_output" => Intrinsic::Record(RecordKind::Result),
            "bool_record_output" => Intrinsic::Record(RecordKind::Bool),
            "int_record_output" => Intrinsic::Record(RecordKind::Int),
            "double_record_output" => Intrinsic::Record(RecordKind::Double),
            _ => return None,
        });
    }
    None
}

/// The meaning of every function of `module` as a callee (`None` for defined functions).
pub fn intrinsics_of(module: &Module) -> Vec<Option<Intrinsic>> {
    module
        .functions
        .iter()
        .map(|g| {
            if g.is_declaration {
                intrinsic(&g.name)
            } else {
                None
            }
        })
        .collect()
}

/// A checked program, ready to interpret or lower.
#[derive(Debug)]
pub struct Program<'m> {
    pub module: &'m Module,
    pub entry: usize,
    /// Per function of the module: its meaning when the entry point calls it.
    pub intrinsics: Vec<Option<Intrinsic>>,
    pub num_qubits: usize,
    pub num_results: usize,
    /// The limits the program was checked against; the interpreter checks its allocation
    /// against them again.
    pub limits: Limits,
}

impl<'m> Program<'m> {
    pub fn entry_fn(&self) -> &'m Function {
        &self.module.functions[self.entry]
    }
}

/// Finds the entry point: by name when given, otherwise the function carrying `entry_point`.
pub fn find_entry(module: &Module, name: Option<&str>) -> Result<usize> {
    if let Some(name) = name {
        let i = module.function(name).ok_or_else(|| {
            SimError::Invalid(format!("the program has no function named @{name}"))
        })?;
        if module.functions[i].is_declaration {
            return Err(SimError::Invalid(format!(
                "@{name} is only declared, not defined"
            )));
        }
        return Ok(i);
    }
    let entries: Vec<usize> = (0..module.functions.len())
        .filter(|&i| module.functions[i].is_entry_point())
        .collect();
    match entries.as_slice() {
        [i] => Ok(*i),
        [] => Err(SimError::Invalid(
            "the program has no function with the \"entry_point\" attribute".into(),
        )),
        many => Err(SimError::Invalid(format!(
            "the program has several entry points ({}); name one with inputParams.entryPoint",
            many.iter()
                .map(|&i| format!("@{}", module.functions[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn count_attr(f: &Function, key: &str) -> Result<Option<usize>> {
    match f.attr(key) {
        None | Some(None) => Ok(None),
        Some(Some(v)) => v.trim().parse::<usize>().map(Some).map_err(|_| {
            SimError::Invalid(format!(
                "attribute \"{key}\"=\"{v}\" of @{} is not a count",
                f.name
            ))
        }),
    }
}

/// Checks the module and builds the program for `entry_name` (or the attributed entry point).
pub fn prepare<'m>(
    module: &'m Module,
    entry_name: Option<&str>,
    limits: &Limits,
) -> Result<Program<'m>> {
    let entry = find_entry(module, entry_name)?;
    let f = &module.functions[entry];
    if f.num_params > 0 {
        return Err(SimError::Unsupported(format!(
            "entry point @{} takes {} parameter(s); QIR entry points take none",
            f.name, f.num_params
        )));
    }
    if let Some(Some(p)) = f.attr("qir_profiles") {
        let known = ["base_profile", "adaptive_profile", "custom"];
        if !p.split(',').map(str::trim).all(|x| known.contains(&x)) {
            return Err(SimError::Unsupported(format!(
                "QIR profile \"{p}\" of @{}; qws runs base_profile and adaptive_profile programs",
                f.name
            )));
        }
    }
    let intrinsics = intrinsics_of(module);
    // Every call must be to an implemented intrinsic with the right number of arguments.
    for b in &f.blocks {
        for (inst, loc) in &b.insts {
            let Inst::Call { callee, args, dest } = inst else {
                continue;
            };
            let g = &module.functions[*callee];
            let Some(intr) = intrinsics[*callee] else {
                return Err(if g.is_declaration {
                    SimError::Unsupported(format!(
                        "call to @{} at {loc}: this function is not a QIR intrinsic qws implements",
                        g.name
                    ))
                } else {
                    SimError::Unsupported(format!(
                        "call to the defined function @{} at {loc}: only QIR intrinsics may be \
                         called (no user functions or recursion)",
                        g.name
                    ))
                });
            };
            if let Some(n) = intr.arity() {
                if args.len() != n {
                    return Err(SimError::Invalid(format!(
                        "@{} at {loc} takes {n} argument(s), got {}",
                        g.name,
                        args.len()
                    )));
                }
            }
            if dest.is_some() && !matches!(intr, Intrinsic::ReadResult) {
                return Err(SimError::Invalid(format!(
                    "@{} at {loc} returns nothing but its result is used",
                    g.name
                )));
            }
        }
    }
    let usage = static_usage(f, &intrinsics);
    let (max_qubit, max_result) = (usage.max_qubit, usage.max_result);
    let used_qubits = max_qubit.map_or(0, |m| m.saturating_add(1));
    let used_results = max_result.map_or(0, |m| m.saturating_add(1));
    let num_qubits = count_attr(f, "required_num_qubits")?.unwrap_or(used_qubits as usize);
    let num_results = count_attr(f, "required_num_results")?.unwrap_or(used_results as usize);
    let max_q = limits.max_qubits.min(63);
    if num_qubits > max_q || used_qubits > max_q as u64 {
        return Err(SimError::Limit(format!(
            "@{} uses {} qubits; this simulator allows at most {}",
            f.name,
            num_qubits.max(used_qubits as usize),
            limits.max_qubits
        )));
    }
    // A lying `required_num_qubits` must not shrink the memory check: use what the program
    // really addresses when that is more.
    let need = num_qubits.max(used_qubits as usize);
    let bytes = 16u128 << need;
    if bytes > limits.max_memory_bytes as u128 {
        return Err(SimError::Limit(format!(
            "{need} qubits need {} MiB of state; the memory budget is {} MiB",
            bytes >> 20,
            limits.max_memory_bytes >> 20
        )));
    }
    let max_results = limits.max_ops.max(1);
    if num_results > max_results || used_results > max_results as u64 {
        return Err(SimError::Limit(format!(
            "@{} uses {} results; at most {max_results} are allowed",
            f.name,
            num_results.max(used_results as usize)
        )));
    }
    if used_qubits as usize > num_qubits {
        return Err(SimError::Invalid(format!(
            "@{} uses qubit {} but declares required_num_qubits={num_qubits}",
            f.name,
            used_qubits - 1
        )));
    }
    if used_results as usize > num_results {
        return Err(SimError::Invalid(format!(
            "@{} uses result {} but declares required_num_results={num_results}",
            f.name,
            used_results - 1
        )));
    }
    Ok(Program {
        module,
        entry,
        intrinsics,
        num_qubits,
        num_results,
        limits: limits.clone(),
    })
}

/// Constant qubit and result ids a function passes to intrinsics, found from its instructions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaticUsage {
    /// Highest constant qubit id (`inttoptr (i64 N to ptr)`, `null` is 0).
    pub max_qubit: Option<u64>,
    pub max_result: Option<u64>,
    /// Some qubit operand is computed at run time; its range is only known when it runs.
    pub dynamic_qubits: bool,
    /// Likewise for a result operand.
    pub dynamic_results: bool,
}

/// Scans every intrinsic call of `f` for the qubit and result ids it uses. Attributes play no
/// part: this is what the instructions address.
pub fn static_usage(f: &Function, intrinsics: &[Option<Intrinsic>]) -> StaticUsage {
    let mut u = StaticUsage::default();
    let note = |slot: &mut Option<u64>, dynamic: &mut bool, op: &Operand| match op {
        Operand::Const(Const::Ptr(id)) => *slot = Some(slot.map_or(*id, |m: u64| m.max(*id))),
        Operand::Const(Const::Int { value, .. }) => {
            *slot = Some(slot.map_or(*value, |m: u64| m.max(*value)))
        }
        Operand::Const(_) => {}
        Operand::Local(_) => *dynamic = true,
    };
    for b in &f.blocks {
        for (inst, _) in &b.insts {
            let Inst::Call { callee, args, .. } = inst else {
                continue;
            };
            let Some(Some(intr)) = intrinsics.get(*callee) else {
                continue;
            };
            if intr.arity().is_some_and(|n| args.len() != n) {
                continue;
            }
            match *intr {
                Intrinsic::Gate { angles, .. } => {
                    for a in &args[angles.min(args.len())..] {
                        note(&mut u.max_qubit, &mut u.dynamic_qubits, a);
                    }
                }
                Intrinsic::Measure { .. } => {
                    note(&mut u.max_qubit, &mut u.dynamic_qubits, &args[0]);
                    note(&mut u.max_result, &mut u.dynamic_results, &args[1]);
                }
                Intrinsic::Reset => note(&mut u.max_qubit, &mut u.dynamic_qubits, &args[0]),
                Intrinsic::ReadResult | Intrinsic::Record(RecordKind::Result) => {
                    note(&mut u.max_result, &mut u.dynamic_results, &args[0])
                }
                _ => {}
            }
        }
    }
    u
}
