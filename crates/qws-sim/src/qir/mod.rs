//! QIR front end: runs QIR programs (textual LLVM IR or LLVM bitcode) without LLVM and encodes
//! the results as `microsoft.quantum-results.v2`.
//!
//! Pipeline: [`text`] or [`bitcode`] → [`model::Module`] → [`program::prepare`] (entry point,
//! intrinsics, qubit/result counts, limits) → either [`lower`] to an [`crate::ir::Circuit`]
//! (straight-line programs: every base-profile program) or the step-bounded [`interp`]reter
//! (adaptive programs) → [`results`] encoder.
//!
//! The stable entry points for other crates are [`run_qir`], [`run_qir_items`] and
//! [`looks_like_qir`].

pub mod bitcode;
pub mod bitstream;
pub mod interp;
pub mod lower;
pub mod model;
pub mod program;
pub mod results;
pub mod text;

use crate::error::{Result, SimError};
use crate::run::{Limits, RunOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use results::{OutVal, Rec};
use serde_json::Value;

/// The LLVM bitcode magic (`BC\xC0\xDE`).
pub const BITCODE_MAGIC: [u8; 4] = [b'B', b'C', 0xC0, 0xDE];

/// Options for [`run_qir`]. `Default` gives 1 shot, an OS seed, default limits.
#[derive(Clone, Debug)]
pub struct QirRunOptions {
    /// The function to run (`inputParams.entryPoint`); `None` picks the function carrying the
    /// `entry_point` attribute.
    pub entry_point: Option<String>,
    pub shots: u64,
    /// Same seed, same shots. `None` draws a seed from the OS.
    pub seed: Option<u64>,
    /// Qubits, memory, shots; `max_ops` also bounds the result count.
    pub limits: Limits,
    /// Executed instructions allowed per shot (loops, huge unrolled programs).
    pub max_steps_per_shot: u64,
    /// Executed instructions allowed over all shots of the run.
    pub max_total_steps: u64,
    /// Largest accepted program, in bytes.
    pub max_input_bytes: usize,
    /// When cancelled, the run stops at its next check and returns [`SimError::Cancelled`].
    pub cancel: Option<crate::CancelToken>,
    /// Amplitude precision of the simulated state (`None`: [`crate::Precision::default_for`]).
    pub precision: Option<crate::Precision>,
}

impl Default for QirRunOptions {
    fn default() -> Self {
        QirRunOptions {
            entry_point: None,
            shots: 1,
            seed: None,
            limits: Limits::default(),
            max_steps_per_shot: 1_000_000,
            max_total_steps: 2_000_000_000,
            max_input_bytes: 64 << 20,
            cancel: None,
            precision: None,
        }
    }
}

/// True when `input` looks like QIR: bitcode magic (also inside a bitcode wrapper), or text that
/// defines a function and carries an `entry_point` attribute.
pub fn looks_like_qir(input: &[u8]) -> bool {
    if input.starts_with(&BITCODE_MAGIC) || input.starts_with(&[0xDE, 0xC0, 0x17, 0x0B]) {
        return true;
    }
    let head = &input[..input.len().min(16 << 20)];
    let text = String::from_utf8_lossy(head);
    text.contains("define ") && text.contains("entry_point")
}

/// What a QIR program needs to run, read from its instructions rather than trusted from its
/// attributes (a `"required_num_qubits"="1"` on a program that addresses 27 qubits reports 27).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QirRequirements {
    /// Qubits a run allocates: the highest constant qubit id any intrinsic call uses, plus one,
    /// or the declared `required_num_qubits` when that is larger (the state is allocated at the
    /// declared size). The maximum over every defined function, so it covers any entry point.
    pub qubits: usize,
    /// Result slots, counted the same way (`required_num_results` when larger).
    pub results: usize,
    /// Some qubit id is computed at run time. Its range cannot be known statically; the
    /// interpreter checks every such id against `qubits` when it runs and fails cleanly past it.
    pub dynamic_qubits: bool,
}

impl QirRequirements {
    /// Bytes of statevector a run allocates (16 per amplitude); saturates for absurd counts.
    pub fn state_bytes(&self) -> u64 {
        1u64.checked_shl(self.qubits as u32)
            .filter(|_| self.qubits < 64)
            .map_or(u64::MAX, |amps| amps.saturating_mul(16))
    }
}

/// Parses `input` (text or bitcode, at most [`QirRunOptions::default`]'s `max_input_bytes`) and
/// returns what running any of its functions needs. Cheap next to a run: one parse, one scan.
pub fn requirements(input: &[u8]) -> Result<QirRequirements> {
    let module = parse_module(input, QirRunOptions::default().max_input_bytes)?;
    Ok(requirements_of(&module))
}

/// [`requirements`] of an already parsed module.
pub fn requirements_of(module: &model::Module) -> QirRequirements {
    let intrinsics = program::intrinsics_of(module);
    let mut req = QirRequirements {
        qubits: 0,
        results: 0,
        dynamic_qubits: false,
    };
    let count = |id: Option<u64>| {
        id.map_or(0, |m| {
            usize::try_from(m).unwrap_or(usize::MAX).saturating_add(1)
        })
    };
    let declared = |f: &model::Function, key: &str| {
        f.attr(key)
            .flatten()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
    };
    for f in module.functions.iter().filter(|f| !f.is_declaration) {
        let u = program::static_usage(f, &intrinsics);
        req.qubits = req
            .qubits
            .max(count(u.max_qubit))
            .max(declared(f, "required_num_qubits"));
        req.results = req
            .results
            .max(count(u.max_result))
            .max(declared(f, "required_num_results"));
        req.dynamic_qubits |= u.dynamic_qubits;
    }
    req
}

/// Parses a QIR program (bitcode or text) into the program model.
pub fn parse_module(input: &[u8], max_input_bytes: usize) -> Result<model::Module> {
    if input.len() > max_input_bytes {
        return Err(SimError::Limit(format!(
            "the QIR program is {} bytes; at most {max_input_bytes} are accepted",
            input.len()
        )));
    }
    if input.starts_with(&BITCODE_MAGIC) || input.starts_with(&[0xDE, 0xC0, 0x17, 0x0B]) {
        return bitcode::parse(input);
    }
    let text = std::str::from_utf8(input).map_err(|e| {
        SimError::Invalid(format!(
            "the QIR program is neither LLVM bitcode nor UTF-8 text (invalid UTF-8 at byte {})",
            e.valid_up_to()
        ))
    })?;
    text::parse(text)
}

/// Runs a QIR program and returns the `microsoft.quantum-results.v2` document with one
/// `Results[]` element for `opts.entry_point` (or the attributed entry point).
///
/// Errors are [`SimError`]s meant for the job's `errorData`: `Parse` (with line and column) for
/// malformed text, `Unsupported` naming the construct and where, `Invalid`, and `Limit`
/// (qubits, steps, size). Never panics on any input; every loop is step-bounded.
pub fn run_qir(input: &[u8], opts: &QirRunOptions) -> Result<Value> {
    run_qir_items(input, std::slice::from_ref(&opts.entry_point), opts)
}

/// Runs several entry points of one program (qiskit's `inputParams.items`), each with
/// `opts.shots` shots, and returns one document whose `Results[i]` belongs to `entry_points[i]`.
/// `opts.entry_point` is ignored; `None` in the list means the attributed entry point.
pub fn run_qir_items(
    input: &[u8],
    entry_points: &[Option<String>],
    opts: &QirRunOptions,
) -> Result<Value> {
    run_qir_items_with(input, entry_points, opts, interp::ShotMode::Simulate(None))
}

/// [`run_qir_items`] in a given mode: with a noise model, or as a syntax checker (every
/// measurement reads 0, no state is allocated; pass limits without a memory bound for that).
pub fn run_qir_items_with(
    input: &[u8],
    entry_points: &[Option<String>],
    opts: &QirRunOptions,
    mode: interp::ShotMode<'_>,
) -> Result<Value> {
    if opts.shots > opts.limits.max_shots {
        return Err(SimError::Limit(format!(
            "{} shots requested; at most {} are allowed",
            opts.shots, opts.limits.max_shots
        )));
    }
    if entry_points.is_empty() {
        return Err(SimError::Invalid("no entry point to run".into()));
    }
    crate::cancel::check(opts.cancel.as_ref())?;
    let module = parse_module(input, opts.max_input_bytes)?;
    let mut results = Vec::with_capacity(entry_points.len());
    let mut budget = interp::Budget {
        per_shot: opts.max_steps_per_shot,
        remaining_total: opts.max_total_steps,
        cancel: opts.cancel.clone(),
    };
    let mut output = OutputBudget::new(&opts.limits);
    for (i, ep) in entry_points.iter().enumerate() {
        let seed = opts.seed.map(|s| s.wrapping_add(i as u64));
        let shots = run_entry_mode(
            &module,
            ep.as_deref(),
            opts,
            seed,
            &mut budget,
            &mut output,
            mode,
        )?;
        results.push(results::results_element(&shots));
    }
    Ok(results::document(results))
}

/// What the shots of a run may still add to its results ([`Limits::max_output_bytes`]),
/// counted with [`OutVal::output_bytes`] as each shot's value is made.
pub struct OutputBudget {
    used: u64,
    max: u64,
}

impl OutputBudget {
    pub fn new(limits: &Limits) -> Self {
        OutputBudget {
            used: 0,
            max: limits.max_output_bytes,
        }
    }

    fn spend(&mut self, v: &OutVal) -> Result<()> {
        self.used = self.used.saturating_add(v.output_bytes());
        if self.used > self.max {
            return Err(SimError::Limit(format!(
                "the recorded output of the shots passes the output limit; the output limit is {}",
                crate::run::human_size(self.max)
            )));
        }
        Ok(())
    }
}

/// Runs one entry point and returns every shot's output value.
pub fn run_entry(
    module: &model::Module,
    entry: Option<&str>,
    opts: &QirRunOptions,
    seed: Option<u64>,
    budget: &mut interp::Budget,
) -> Result<Vec<OutVal>> {
    let mut output = OutputBudget::new(&opts.limits);
    run_entry_within(module, entry, opts, seed, budget, &mut output)
}

/// [`run_entry`], charging every shot's output to `output`.
pub fn run_entry_within(
    module: &model::Module,
    entry: Option<&str>,
    opts: &QirRunOptions,
    seed: Option<u64>,
    budget: &mut interp::Budget,
    output: &mut OutputBudget,
) -> Result<Vec<OutVal>> {
    run_entry_mode(
        module,
        entry,
        opts,
        seed,
        budget,
        output,
        interp::ShotMode::Simulate(None),
    )
}

/// [`run_entry_within`] in a given mode.
pub fn run_entry_mode(
    module: &model::Module,
    entry: Option<&str>,
    opts: &QirRunOptions,
    seed: Option<u64>,
    budget: &mut interp::Budget,
    output: &mut OutputBudget,
    mode: interp::ShotMode<'_>,
) -> Result<Vec<OutVal>> {
    let program = program::prepare(module, entry, &opts.limits)?;
    let mut out = Vec::with_capacity(opts.shots.min(1 << 20) as usize);
    if let Some(lowered) = lower::lower(&program) {
        let run_opts = RunOptions {
            shots: opts.shots,
            seed,
            fusion: true,
            limits: opts.limits.clone(),
            cancel: opts.cancel.clone(),
            precision: opts.precision,
        };
        let run = match mode {
            interp::ShotMode::Simulate(None) => crate::run::run(&lowered.circuit, &run_opts)?,
            interp::ShotMode::Simulate(Some(m)) => {
                crate::noise::run_noisy(&lowered.circuit, &run_opts, m)?
            }
            interp::ShotMode::Zeros => crate::run::RunOutput {
                num_clbits: lowered.circuit.num_clbits,
                shots: Vec::new(),
            },
        };
        let zeros = crate::run::ShotBits::zeros(lowered.circuit.num_clbits);
        let shot_count = if matches!(mode, interp::ShotMode::Zeros) {
            opts.shots as usize
        } else {
            run.shots.len()
        };
        let mut recs = Vec::with_capacity(lowered.outputs.len());
        for i in 0..shot_count {
            let bits = run.shots.get(i).unwrap_or(&zeros);
            if i.is_multiple_of(4096) {
                crate::cancel::check(opts.cancel.as_ref())?;
            }
            recs.clear();
            recs.extend(lowered.outputs.iter().map(|t| t.fill(|i| bits.get(i))));
            let v = shot_value(&recs, program.num_results, |i| bits.get(i))?;
            output.spend(&v)?;
            out.push(v);
        }
        return Ok(out);
    }
    let mut rng = match seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::from_entropy(),
    };
    for _ in 0..opts.shots {
        crate::cancel::check(opts.cancel.as_ref())?;
        let (recs, res) = interp::run_shot_with(&program, &mut rng, budget, mode)?;
        let v = shot_value(&recs, program.num_results, |i| res[i])?;
        output.spend(&v)?;
        out.push(v);
    }
    Ok(out)
}

/// True when some entry point of the program uses measurement feedback or other control flow
/// the Base profile lacks (branches, loops, reading a result): what decides whether a program
/// runs on a Base-profile target, whatever its `qir_profiles` label says. A program that does not
/// parse or prepare counts as straight-line here; running it reports the real error.
pub fn needs_adaptive_profile(input: &[u8], entry_points: &[Option<String>]) -> bool {
    let Ok(module) = parse_module(input, QirRunOptions::default().max_input_bytes) else {
        return false;
    };
    let limits = Limits {
        max_qubits: 63,
        max_memory_bytes: u64::MAX,
        ..Limits::default()
    };
    entry_points.iter().any(|ep| {
        program::prepare(&module, ep.as_deref(), &limits).is_ok_and(|p| lower::lower(&p).is_none())
    })
}

/// A shot's output; a program that records nothing reports all its results as an array.
fn shot_value(recs: &[Rec], num_results: usize, bit: impl Fn(usize) -> bool) -> Result<OutVal> {
    Ok(match results::shape(recs)? {
        Some(v) => v,
        None => OutVal::Array((0..num_results).map(|i| OutVal::Result(bit(i))).collect()),
    })
}
