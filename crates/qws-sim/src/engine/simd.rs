//! AVX2/FMA kernels (and AVX-512F dense kernels for blocks whose lowest qubit fills a 512-bit
//! vector with neighbouring blocks),
//! used only after runtime detection (the portable kernels in
//! [`super::kernels`] are the fallback and the reference).
//!
//! Amplitudes are viewed as interleaved `(re, im)` pairs; a 256-bit vector holds two consecutive
//! double-precision amplitudes or four single-precision ones, i.e. the same local index of two
//! (four) neighbouring blocks.

use std::arch::x86_64::*;
use std::cell::Cell;

// The (re, im) tuple must be laid out as two consecutive f64 for the pointer casts below.
const _: () = assert!(std::mem::offset_of!((f64, f64), 0) == 0);
const _: () = assert!(std::mem::offset_of!((f64, f64), 1) == 8);
const _: () = assert!(std::mem::size_of::<(f64, f64)>() == 16);
const _: () = assert!(std::mem::offset_of!((f32, f32), 0) == 0);
const _: () = assert!(std::mem::offset_of!((f32, f32), 1) == 4);
const _: () = assert!(std::mem::size_of::<(f32, f32)>() == 8);

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

/// One output row of a dense kernel: `v` holds column `c`'s amplitudes as (re, im) pairs;
/// returns Σ m[c]·v[c] for the row's real parts `mr` and imaginary parts `mi`.
///
/// With `a = Σ mr·v` and `b = Σ mi·v`, the product is `(a.re − b.im, a.im + b.re)`: one swap of
/// `b` per row instead of a swapped copy of every input, so only the `D` inputs stay in
/// registers (a 16-row kernel no longer spills).
#[inline(always)]
unsafe fn row_pd<const D: usize>(v: &[__m256d; D], mr: &[f64; D], mi: &[f64; D]) -> __m256d {
    let mut a = _mm256_setzero_pd();
    let mut b = _mm256_setzero_pd();
    for c in 0..D {
        a = _mm256_fmadd_pd(_mm256_set1_pd(mr[c]), v[c], a);
        b = _mm256_fmadd_pd(_mm256_set1_pd(mi[c]), v[c], b);
    }
    _mm256_addsub_pd(a, _mm256_permute_pd(b, 0b0101))
}

/// Single-precision [`row_pd`].
#[inline(always)]
unsafe fn row_ps<const D: usize>(v: &[__m256; D], mr: &[f32; D], mi: &[f32; D]) -> __m256 {
    let mut a = _mm256_setzero_ps();
    let mut b = _mm256_setzero_ps();
    for c in 0..D {
        a = _mm256_fmadd_ps(_mm256_set1_ps(mr[c]), v[c], a);
        b = _mm256_fmadd_ps(_mm256_set1_ps(mi[c]), v[c], b);
    }
    _mm256_addsub_ps(a, _mm256_permute_ps(b, 0b1011_0001))
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
        for c in 0..D {
            v[c] = _mm256_loadu_pd(p.add(2 * (base + j + off[c])));
        }
        for r in 0..D {
            _mm256_storeu_pd(p.add(2 * (base + j + off[r])), row_pd(&v, &mr[r], &mi[r]));
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
    for c in 0..D {
        let lo = _mm_loadu_pd(p.add(2 * (base_a + off[c])));
        let hi = _mm_loadu_pd(p.add(2 * (base_b + off[c])));
        v[c] = _mm256_set_m128d(hi, lo);
    }
    for r in 0..D {
        let out = row_pd(&v, &mr[r], &mi[r]);
        _mm_storeu_pd(p.add(2 * (base_a + off[r])), _mm256_castpd256_pd128(out));
        _mm_storeu_pd(p.add(2 * (base_b + off[r])), _mm256_extractf128_pd(out, 1));
    }
}

/// Single-precision [`dense_run`]: four neighbouring blocks per 256-bit vector.
///
/// # Safety
/// `count` must be a multiple of 4; otherwise as for [`dense_run`].
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dense_run_f32<const D: usize>(
    p: *mut f32,
    base: usize,
    count: usize,
    off: &[usize; D],
    mr: &[[f32; D]; D],
    mi: &[[f32; D]; D],
) {
    let mut j = 0;
    while j + 4 <= count {
        let mut v = [_mm256_setzero_ps(); D];
        for c in 0..D {
            v[c] = _mm256_loadu_ps(p.add(2 * (base + j + off[c])));
        }
        for r in 0..D {
            _mm256_storeu_ps(p.add(2 * (base + j + off[r])), row_ps(&v, &mr[r], &mi[r]));
        }
        j += 4;
    }
}

/// True when the CPU has AVX-512F (and the calling thread may use SIMD kernels).
#[inline]
pub fn avx512_available() -> bool {
    available() && is_x86_feature_detected!("avx512f")
}

/// AVX-512 [`dense_run_f32`]: eight neighbouring blocks per 512-bit vector.
///
/// # Safety
/// `count` must be a multiple of 8, AVX-512F must be available; otherwise as for
/// [`dense_run`].
#[target_feature(enable = "avx512f")]
pub unsafe fn dense_run_f32_512<const D: usize>(
    p: *mut f32,
    base: usize,
    count: usize,
    off: &[usize; D],
    mr: &[[f32; D]; D],
    mi: &[[f32; D]; D],
) {
    let ones = _mm512_set1_ps(1.0);
    let mut j = 0;
    while j + 8 <= count {
        let mut v = [_mm512_setzero_ps(); D];
        for c in 0..D {
            v[c] = _mm512_loadu_ps(p.add(2 * (base + j + off[c])));
        }
        for r in 0..D {
            let mut a = _mm512_setzero_ps();
            let mut b = _mm512_setzero_ps();
            for c in 0..D {
                a = _mm512_fmadd_ps(_mm512_set1_ps(mr[r][c]), v[c], a);
                b = _mm512_fmadd_ps(_mm512_set1_ps(mi[r][c]), v[c], b);
            }
            // (a.re − b.im, a.im + b.re), as in `row_ps`.
            let bs = _mm512_permute_ps(b, 0b1011_0001);
            let out = _mm512_fmaddsub_ps(a, ones, bs);
            _mm512_storeu_ps(p.add(2 * (base + j + off[r])), out);
        }
        j += 8;
    }
}

/// AVX-512 [`dense_run`]: four neighbouring double-precision blocks per 512-bit vector.
///
/// # Safety
/// `count` must be a multiple of 4, AVX-512F must be available; otherwise as for
/// [`dense_run`].
#[target_feature(enable = "avx512f")]
pub unsafe fn dense_run_512<const D: usize>(
    p: *mut f64,
    base: usize,
    count: usize,
    off: &[usize; D],
    mr: &[[f64; D]; D],
    mi: &[[f64; D]; D],
) {
    let ones = _mm512_set1_pd(1.0);
    let mut j = 0;
    while j + 4 <= count {
        let mut v = [_mm512_setzero_pd(); D];
        for c in 0..D {
            v[c] = _mm512_loadu_pd(p.add(2 * (base + j + off[c])));
        }
        for r in 0..D {
            let mut a = _mm512_setzero_pd();
            let mut b = _mm512_setzero_pd();
            for c in 0..D {
                a = _mm512_fmadd_pd(_mm512_set1_pd(mr[r][c]), v[c], a);
                b = _mm512_fmadd_pd(_mm512_set1_pd(mi[r][c]), v[c], b);
            }
            // (a.re − b.im, a.im + b.re), as in `row_pd`.
            let bs = _mm512_permute_pd(b, 0b0101_0101);
            let out = _mm512_fmaddsub_pd(a, ones, bs);
            _mm512_storeu_pd(p.add(2 * (base + j + off[r])), out);
        }
        j += 4;
    }
}

/// Loads the single-precision amplitude at index `i` into the low 64 bits.
#[inline(always)]
unsafe fn load_amp_f32(p: *mut f32, i: usize) -> __m128 {
    _mm_castpd_ps(_mm_load_sd(p.add(2 * i) as *const f64))
}

/// Single-precision [`dense_pair`]: four blocks at arbitrary bases, one per 64-bit lane (used
/// when qubit 0 or 1 is in the block, so four neighbouring blocks are not one vector).
///
/// # Safety
/// As for [`dense_run`]; the four blocks must be disjoint.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dense_quad_f32<const D: usize>(
    p: *mut f32,
    bases: &[usize; 4],
    off: &[usize; D],
    mr: &[[f32; D]; D],
    mi: &[[f32; D]; D],
) {
    let [b0, b1, b2, b3] = *bases;
    let mut v = [_mm256_setzero_ps(); D];
    for c in 0..D {
        let o = off[c];
        let lo = _mm_movelh_ps(load_amp_f32(p, b0 + o), load_amp_f32(p, b1 + o));
        let hi = _mm_movelh_ps(load_amp_f32(p, b2 + o), load_amp_f32(p, b3 + o));
        v[c] = _mm256_set_m128(hi, lo);
    }
    for r in 0..D {
        let out = row_ps(&v, &mr[r], &mi[r]);
        let lo = _mm_castps_pd(_mm256_castps256_ps128(out));
        let hi = _mm_castps_pd(_mm256_extractf128_ps(out, 1));
        let o = off[r];
        _mm_store_sd(p.add(2 * (b0 + o)) as *mut f64, lo);
        _mm_storeh_pd(p.add(2 * (b1 + o)) as *mut f64, lo);
        _mm_store_sd(p.add(2 * (b2 + o)) as *mut f64, hi);
        _mm_storeh_pd(p.add(2 * (b3 + o)) as *mut f64, hi);
    }
}
