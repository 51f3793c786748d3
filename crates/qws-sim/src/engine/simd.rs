//! AVX2/FMA kernels, used only after runtime detection (the portable kernels in
//! [`super::kernels`] are the fallback and the reference).
//!
//! Amplitudes are viewed as interleaved `f64` pairs; a 256-bit vector holds two consecutive
//! amplitudes, i.e. the same local index of two neighbouring blocks.

use std::arch::x86_64::*;
use std::cell::Cell;

// The (re, im) tuple must be laid out as two consecutive f64 for the pointer casts below.
const _: () = assert!(std::mem::offset_of!((f64, f64), 0) == 0);
const _: () = assert!(std::mem::offset_of!((f64, f64), 1) == 8);
const _: () = assert!(std::mem::size_of::<(f64, f64)>() == 16);

thread_local! {
    /// Set while [`with_portable_kernels`] runs on this thread. Per thread, not process-wide,
    /// so a test that asks for the portable kernels cannot change which kernels a test on
    /// another thread exercises. The choice is read once per gate on the calling thread, before
    /// any work is split across threads, so a parallel gate follows its caller's choice.
    static PORTABLE_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// True when the CPU has AVX2 and FMA (the std macro caches the answer) and the calling thread
/// is not inside [`with_portable_kernels`].
#[inline]
pub fn available() -> bool {
    cpu_has_simd() && !PORTABLE_ONLY.with(Cell::get)
}

/// True when the CPU has AVX2 and FMA, whatever the calling thread asked for: tests use it to
/// know whether a SIMD run really used the SIMD kernels.
#[inline]
pub fn cpu_has_simd() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// Runs `f` on the calling thread with the SIMD kernels switched off, so it exercises the
/// portable kernels even on a machine with AVX2; the previous choice is restored afterwards,
/// also when `f` panics.
pub fn with_portable_kernels<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            PORTABLE_ONLY.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(PORTABLE_ONLY.with(|p| p.replace(true)));
    f()
}

/// Applies the `D x D` matrix (split into real `mr` and imaginary `mi` parts) to `count`
/// consecutive blocks starting at amplitude `base`; block element `c` lives at `+off[c]`.
///
/// # Safety
/// `count` must be even, AVX2 and FMA must be available, and every touched index must be in
/// bounds and not concurrently accessed by another thread.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dense_run<const D: usize>(
    p: *mut f64,
    base: usize,
    count: usize,
    off: &[usize; D],
    mr: &[[f64; D]; D],
    mi: &[[f64; D]; D],
) {
    let mut j = 0;
    while j + 2 <= count {
        let mut v = [_mm256_setzero_pd(); D];
        let mut vs = [_mm256_setzero_pd(); D];
        for c in 0..D {
            v[c] = _mm256_loadu_pd(p.add(2 * (base + j + off[c])));
            // (im, re) of both amplitudes.
            vs[c] = _mm256_permute_pd(v[c], 0b0101);
        }
        for r in 0..D {
            let mut a = _mm256_setzero_pd();
            let mut b = _mm256_setzero_pd();
            for c in 0..D {
                a = _mm256_fmadd_pd(_mm256_set1_pd(mr[r][c]), v[c], a);
                b = _mm256_fmadd_pd(_mm256_set1_pd(mi[r][c]), vs[c], b);
            }
            // re = Σ mr·re − mi·im, im = Σ mr·im + mi·re
            _mm256_storeu_pd(p.add(2 * (base + j + off[r])), _mm256_addsub_pd(a, b));
        }
        j += 2;
    }
}

/// Like [`dense_run`] for one pair of blocks at arbitrary bases (`base_a` in the low lane,
/// `base_b` in the high lane): used when the lowest block qubit is qubit 0, so neighbouring
/// blocks are not adjacent in memory.
///
/// # Safety
/// As for [`dense_run`]; the two blocks must be disjoint.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dense_pair<const D: usize>(
    p: *mut f64,
    base_a: usize,
    base_b: usize,
    off: &[usize; D],
    mr: &[[f64; D]; D],
    mi: &[[f64; D]; D],
) {
    let mut v = [_mm256_setzero_pd(); D];
    let mut vs = [_mm256_setzero_pd(); D];
    for c in 0..D {
        let lo = _mm_loadu_pd(p.add(2 * (base_a + off[c])));
        let hi = _mm_loadu_pd(p.add(2 * (base_b + off[c])));
        v[c] = _mm256_set_m128d(hi, lo);
        vs[c] = _mm256_permute_pd(v[c], 0b0101);
    }
    for r in 0..D {
        let mut a = _mm256_setzero_pd();
        let mut b = _mm256_setzero_pd();
        for c in 0..D {
            a = _mm256_fmadd_pd(_mm256_set1_pd(mr[r][c]), v[c], a);
            b = _mm256_fmadd_pd(_mm256_set1_pd(mi[r][c]), vs[c], b);
        }
        let out = _mm256_addsub_pd(a, b);
        _mm_storeu_pd(p.add(2 * (base_a + off[r])), _mm256_castpd256_pd128(out));
        _mm_storeu_pd(p.add(2 * (base_b + off[r])), _mm256_extractf128_pd(out, 1));
    }
}
