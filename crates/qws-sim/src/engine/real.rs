//! The scalar of a statevector: `f32` or `f64`. Kernels are written once over [`Real`] and
//! monomorphised per precision; matrices stay in `f64` and are rounded once per gate.

use crate::precision::Precision;
use std::fmt::Debug;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub};

/// `f32` or `f64`: what a kernel needs of an amplitude's real and imaginary parts.
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + MulAssign
{
    /// Which precision this scalar is (a constant, so branches on it vanish when compiled).
    const PRECISION: Precision;
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f64 {
    const PRECISION: Precision = Precision::Double;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const PRECISION: Precision = Precision::Single;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// A complex number of scalar `F` as `(re, im)`.
pub type Complex<F> = (F, F);

/// Rounds a double-precision complex number to `F`.
#[inline(always)]
pub fn cast<F: Real>(a: (f64, f64)) -> Complex<F> {
    (F::from_f64(a.0), F::from_f64(a.1))
}

/// |a|^2 in double precision (sums over millions of single-precision amplitudes lose digits).
#[inline(always)]
pub fn norm_sqr_f64<F: Real>(a: &Complex<F>) -> f64 {
    let (re, im) = (a.0.to_f64(), a.1.to_f64());
    re * re + im * im
}
