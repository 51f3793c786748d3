//! Dense statevector: the public, step-by-step API every front end and interpreter drives.
//!
//! Gates go through the specialised kernels in [`crate::engine::kernels`]; the generic
//! [`apply_matrix`] (in [`crate::engine::reference`]) stays as the reference every kernel is
//! tested against. Above [`PARALLEL_THRESHOLD`] qubits the kernels run on the rayon pool.
//! Amplitudes are kept in single or double precision ([`Precision`]); every kernel is the same
//! code for both, and probabilities are summed in double precision either way.

use crate::engine::blocking::{self, BlockShape};
use crate::engine::fusion::FusedOp;
use crate::engine::kernels;
use crate::engine::real::{norm_sqr_f64, Complex, Real};
use crate::error::{Result, SimError};
use crate::ir::GateOp;
use crate::precision::Precision;
use rand::Rng;
use rayon::prelude::*;
use std::borrow::Cow;

pub(crate) use crate::engine::reference::apply_matrix;
pub use crate::engine::reference::Amp;

/// States with at least this many qubits use multiple threads (below it, thread start-up costs
/// more than it saves).
pub const PARALLEL_THRESHOLD: usize = 14;

/// Amplitudes per parallel task in the reductions below.
const CHUNK: usize = 1 << 14;

/// The amplitudes in the precision the state was made with.
#[derive(Clone, Debug)]
enum Amps {
    Single(Vec<Complex<f32>>),
    Double(Vec<Amp>),
}

/// Runs `$body` with `$a` bound to the amplitude vector, whatever its precision.
macro_rules! with_amps {
    ($amps:expr, $a:ident => $body:expr) => {
        match $amps {
            Amps::Single($a) => $body,
            Amps::Double($a) => $body,
        }
    };
}

#[derive(Clone, Debug)]
pub struct StateVector {
    num_qubits: usize,
    amps: Amps,
    parallel: bool,
    block: Option<BlockShape>,
}

/// Allocates `2^num_qubits` zero amplitudes, reporting allocation failure as an error.
fn alloc_zeroed<F: Real>(num_qubits: usize) -> Result<Vec<Complex<F>>> {
    let len = 1usize
        .checked_shl(num_qubits as u32)
        .filter(|_| num_qubits < usize::BITS as usize - 5)
        .ok_or_else(|| SimError::Limit(format!("{num_qubits} qubits cannot be addressed")))?;
    let mut amps: Vec<Complex<F>> = Vec::new();
    amps.try_reserve_exact(len).map_err(|_| {
        SimError::Limit(format!(
            "could not allocate the state of {num_qubits} qubits ({} MiB)",
            F::PRECISION.state_bytes(num_qubits) >> 20
        ))
    })?;
    // Zero (and so fault in) the pages on all threads for large states.
    let spare = &mut amps.spare_capacity_mut()[..len];
    let zero = std::mem::MaybeUninit::new((F::ZERO, F::ZERO));
    if num_qubits >= PARALLEL_THRESHOLD {
        spare.par_chunks_mut(CHUNK).for_each(|c| c.fill(zero));
    } else {
        spare.fill(zero);
    }
    // SAFETY: the first `len` elements were initialised just above.
    unsafe { amps.set_len(len) };
    Ok(amps)
}

impl StateVector {
    /// |0...0> on `num_qubits` qubits. Callers check memory budgets before calling; this panics
    /// if the allocation fails (use [`StateVector::try_new`] to get an error instead).
    pub fn new(num_qubits: usize) -> Self {
        Self::try_new(num_qubits).expect("statevector allocation")
    }

    /// |0...0> on `num_qubits` qubits in double precision; an allocation failure is an error,
    /// not an abort.
    pub fn try_new(num_qubits: usize) -> Result<Self> {
        Self::try_new_with(num_qubits, Precision::Double)
    }

    /// |0...0> on `num_qubits` qubits in the given precision.
    pub fn try_new_with(num_qubits: usize, precision: Precision) -> Result<Self> {
        let amps = match precision {
            Precision::Single => {
                let mut a = alloc_zeroed::<f32>(num_qubits)?;
                a[0] = (1.0, 0.0);
                Amps::Single(a)
            }
            Precision::Double => {
                let mut a = alloc_zeroed::<f64>(num_qubits)?;
                a[0] = (1.0, 0.0);
                Amps::Double(a)
            }
        };
        Ok(Self::from_parts(num_qubits, amps))
    }

    /// A state from explicit amplitudes (length must be a power of two; not renormalised).
    pub fn from_amplitudes(amps: Vec<Amp>) -> Result<Self> {
        Self::from_amplitudes_with(amps, Precision::Double)
    }

    /// A state from explicit amplitudes, kept in `precision` (rounded when single).
    pub fn from_amplitudes_with(amps: Vec<Amp>, precision: Precision) -> Result<Self> {
        if !amps.len().is_power_of_two() {
            return Err(SimError::Invalid(
                "a statevector needs a power-of-two number of amplitudes".into(),
            ));
        }
        let n = amps.len().trailing_zeros() as usize;
        let amps = match precision {
            Precision::Double => Amps::Double(amps),
            Precision::Single => {
                Amps::Single(amps.iter().map(|a| (a.0 as f32, a.1 as f32)).collect())
            }
        };
        Ok(Self::from_parts(n, amps))
    }

    fn from_parts(num_qubits: usize, amps: Amps) -> Self {
        StateVector {
            num_qubits,
            amps,
            parallel: num_qubits >= PARALLEL_THRESHOLD,
            block: None,
        }
    }

    /// Forces multithreaded kernels on or off (default: on from [`PARALLEL_THRESHOLD`] qubits).
    pub fn set_parallel(&mut self, parallel: bool) {
        self.parallel = parallel;
    }

    pub fn is_parallel(&self) -> bool {
        self.parallel
    }

    pub fn num_qubits(&self) -> usize {
        self.num_qubits
    }

    pub fn precision(&self) -> Precision {
        match self.amps {
            Amps::Single(_) => Precision::Single,
            Amps::Double(_) => Precision::Double,
        }
    }

    /// The amplitudes in double precision (borrowed when the state is double, else widened).
    pub fn amplitudes(&self) -> Cow<'_, [Amp]> {
        match &self.amps {
            Amps::Double(a) => Cow::Borrowed(a),
            Amps::Single(a) => Cow::Owned(a.iter().map(|x| (x.0 as f64, x.1 as f64)).collect()),
        }
    }

    /// Consumes the state, returning its amplitudes in double precision.
    pub fn into_amplitudes(self) -> Vec<Amp> {
        match self.amps {
            Amps::Double(a) => a,
            Amps::Single(a) => a.iter().map(|x| (x.0 as f64, x.1 as f64)).collect(),
        }
    }

    /// Replaces this |0...0> state (fresh from [`StateVector::try_new_with`]) by the sparse
    /// state `sp` on the same qubits.
    pub(crate) fn scatter_sparse(&mut self, sp: &crate::engine::sparse::SparseState) {
        debug_assert_eq!(sp.num_qubits(), self.num_qubits);
        with_amps!(&mut self.amps, a => {
            a[0] = (Real::ZERO, Real::ZERO);
            sp.scatter_into(a)
        })
    }

    /// Applies a gate (with its controls) to the state using the specialised kernels.
    pub fn apply(&mut self, op: &GateOp) {
        let par = self.parallel;
        with_amps!(&mut self.amps, a => kernels::apply_op(a, op, par))
    }

    /// Applies a gate through its full matrix with the naive reference kernel (for tests).
    pub fn apply_reference(&mut self, op: &GateOp) {
        let m = op.gate.matrix();
        with_amps!(&mut self.amps, a => apply_matrix(a, &m, &op.targets, &op.controls))
    }

    /// Applies one step of a fused program.
    pub fn apply_fused(&mut self, op: &FusedOp) {
        let par = self.parallel;
        with_amps!(&mut self.amps, a => kernels::apply_step(a, op, par))
    }

    /// Applies the steps of a fused program in order, cache-blocked (see
    /// [`crate::engine::blocking`]): a run of steps whose qubits fit one cache block takes one
    /// pass over memory. `check` runs before every pass (cancellation); its error stops the
    /// program.
    pub fn apply_fused_ops(
        &mut self,
        ops: &[FusedOp],
        check: &mut dyn FnMut() -> Result<()>,
    ) -> Result<()> {
        let shape = self.block_shape();
        if self.num_qubits <= shape.qubits + 1 {
            for op in ops {
                check()?;
                self.apply_fused(op);
            }
            return Ok(());
        }
        let passes = blocking::plan(ops, self.num_qubits, shape);
        let par = self.parallel;
        with_amps!(&mut self.amps, a => apply_passes(a, &passes, par, check))
    }

    /// The sub-states [`StateVector::apply_fused_ops`] plans its passes for: by default
    /// [`BLOCK_BYTES`] of amplitudes, gathered (see [`default_block_shape`]).
    pub fn block_shape(&self) -> BlockShape {
        self.block
            .unwrap_or_else(|| default_block_shape(self.precision()))
    }

    /// Forces the sub-states of [`StateVector::apply_fused_ops`] (`None`: [`BLOCK_BYTES`] of
    /// amplitudes, gathered); tests use small ones on small states.
    pub fn set_block_shape(&mut self, shape: Option<BlockShape>) {
        self.block = shape.map(|s| BlockShape {
            qubits: s.qubits.max(1),
            run_qubits: s.run_qubits.min(s.qubits.max(1)),
        });
    }

    /// Samples `shots` basis-state indices from the final distribution, in one pass over the
    /// state (see [`crate::engine::sample::sample_dense`]).
    pub fn sample<R: Rng + ?Sized>(&self, shots: usize, rng: &mut R) -> Vec<usize> {
        let par = self.parallel;
        with_amps!(&self.amps, a => crate::engine::sample::sample_dense(a, shots, par, rng))
    }

    /// Probability that `qubit` measures 1.
    pub fn prob_one(&self, qubit: usize) -> f64 {
        let par = self.parallel;
        with_amps!(&self.amps, a => prob_one_in(a, qubit, par))
    }

    /// Projective Z measurement of one qubit; collapses and renormalises the state.
    pub fn measure<R: Rng + ?Sized>(&mut self, qubit: usize, rng: &mut R) -> bool {
        let p1 = self.prob_one(qubit);
        let outcome = rng.gen::<f64>() < p1;
        self.collapse(qubit, outcome, if outcome { p1 } else { 1.0 - p1 });
        outcome
    }

    /// Resets `qubit` to |0> (measure, then flip if it was 1).
    pub fn reset<R: Rng + ?Sized>(&mut self, qubit: usize, rng: &mut R) {
        if self.measure(qubit, rng) {
            let par = self.parallel;
            with_amps!(&mut self.amps, a => kernels::pauli_x(a, qubit, &[], par))
        }
    }

    pub(crate) fn collapse(&mut self, qubit: usize, outcome: bool, prob: f64) {
        let norm = if prob > 0.0 { 1.0 / prob.sqrt() } else { 0.0 };
        let bit = 1usize << qubit;
        let par = self.parallel;
        with_amps!(&mut self.amps, a => scale_by_bit(a, par, |i| {
            if (i & bit != 0) == outcome {
                norm
            } else {
                0.0
            }
        }))
    }

    /// Multiplies the amplitudes where `qubit` is 1 by `factor`, then every amplitude by
    /// `norm` (a non-unitary Kraus operator followed by renormalisation; used by noise).
    pub(crate) fn damp_one(&mut self, qubit: usize, factor: f64, norm: f64) {
        let bit = 1usize << qubit;
        let par = self.parallel;
        with_amps!(&mut self.amps, a => scale_by_bit(a, par, |i| {
            if i & bit != 0 {
                factor * norm
            } else {
                norm
            }
        }))
    }

    /// |amplitude|^2 of every basis state.
    pub fn probabilities(&self) -> Vec<f64> {
        with_amps!(&self.amps, a => a.iter().map(norm_sqr_f64).collect())
    }

    /// Sum of |amplitude|^2 (1 for a normalised state).
    pub fn norm_sqr(&self) -> f64 {
        let par = self.parallel;
        with_amps!(&self.amps, a => {
            if par {
                a.par_chunks(CHUNK)
                    .map(|c| c.iter().map(norm_sqr_f64).sum::<f64>())
                    .sum()
            } else {
                a.iter().map(norm_sqr_f64).sum()
            }
        })
    }
}

/// Bytes of one cache block: half a core's L2 cache on current x86 servers, so the block and
/// the kernel's working set stay in it. Measured on 24-qubit circuits (2 threads): 256 KiB to
/// 1 MiB all save 10-25 % of the time against no blocking; 4 MiB saves less. Gathered
/// sub-states (a per-thread buffer of this size) on quantum volume: 256 KiB to 1 MiB within the
/// run-to-run spread.
const BLOCK_BYTES: u64 = 1 << 19;

/// Qubits of one cache block of [`BLOCK_BYTES`] in `precision`.
pub fn default_block_qubits(precision: Precision) -> usize {
    (BLOCK_BYTES / precision.amplitude_bytes()).ilog2() as usize
}

/// The sub-states [`StateVector::apply_fused_ops`] works on by default: [`BLOCK_BYTES`] of
/// amplitudes, gathered from any qubits above the lowest ones.
pub fn default_block_shape(precision: Precision) -> BlockShape {
    BlockShape::gathered(default_block_qubits(precision))
}

/// Applies planned passes in order, with one set of gather buffers for all of them.
fn apply_passes<F: Real>(
    amps: &mut [Complex<F>],
    passes: &[blocking::Pass],
    par: bool,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let buffers = blocking::Buffers::new();
    for pass in passes {
        check()?;
        match pass {
            blocking::Pass::Whole(op) => kernels::apply_step(amps, op, par),
            blocking::Pass::Gathered { qubits, steps } => {
                blocking::apply_gathered(amps, qubits, steps, &buffers, par)
            }
        }
    }
    Ok(())
}

fn prob_one_in<F: Real>(amps: &[Complex<F>], qubit: usize, par: bool) -> f64 {
    let bit = 1usize << qubit;
    let part = |base: usize, c: &[Complex<F>]| -> f64 {
        // Runs of 2^qubit amplitudes alternate between bit clear and bit set.
        c.iter()
            .enumerate()
            .filter(|(i, _)| (base + i) & bit != 0)
            .map(|(_, a)| norm_sqr_f64(a))
            .sum()
    };
    if par {
        amps.par_chunks(CHUNK)
            .enumerate()
            .map(|(k, c)| part(k * CHUNK, c))
            .sum()
    } else {
        part(0, amps)
    }
}

/// Multiplies amplitude `i` by the real `factor(i)`.
fn scale_by_bit<F: Real>(amps: &mut [Complex<F>], par: bool, factor: impl Fn(usize) -> f64 + Sync) {
    let part = |base: usize, c: &mut [Complex<F>]| {
        for (i, a) in c.iter_mut().enumerate() {
            let f = factor(base + i);
            if f == 0.0 {
                // Exact zeros (no -0.0 from negative parts) for the discarded branch.
                *a = (F::ZERO, F::ZERO);
            } else {
                let f = F::from_f64(f);
                a.0 *= f;
                a.1 *= f;
            }
        }
    };
    if par {
        amps.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, c)| part(k * CHUNK, c));
    } else {
        part(0, amps);
    }
}
