//! The per-edge work of a batch: one edge's contributions to every query of
//! the batch at once, eight queries per vector.
//!
//! Written once over the small [`Lanes`] trait (as the `simd` kernels are
//! over their `Vector`): [`pull_rows`] and [`push_edges`] are the generic
//! loops; the scalar lanes are the portable reference and the AVX2 lanes
//! supply the same operations on `__m256`. Both compute each contribution as
//! the single-query kernels do (`f32` multiply, add `0.5`, truncate; never a
//! fused multiply-add), so every lane gets the bits its query would get alone.
//!
//! Lane sums are `u32` capped at [`CAP`] = 2^31 - 1: a contribution is at
//! most 2^30, so an addition never wraps, and a capped sum and the
//! single-query kernel's (saturated at `u32::MAX`) both exceed 2^30 units,
//! which caps the node at activation 1.0 either way. Settling a node applies
//! its eight sums to its eight activations at once ([`Lanes::apply`]), with
//! `fixed::apply`'s arithmetic.

use core::ops::Range;

use super::super::fixed::{apply, contribution};
use crate::graph::CsrView;

/// The cap on a lane's sum of contributions (see the module docs): the
/// largest `i32`, so that sums convert to `f64` as signed integers.
pub(crate) const CAP: u32 = i32::MAX as u32;

/// Queries per lane group.
pub(crate) const GROUP: usize = 8;

/// Eight `u32` fixed-point sums, one per query.
///
/// # Safety
/// Implementors are only sound to use when the CPU supports their instruction
/// set; the generic loops are only reached through an entry point that
/// checked it.
pub(crate) trait Lanes: Copy {
    /// All sums zero.
    unsafe fn zero() -> Self;
    /// Loads eight sums.
    ///
    /// # Safety
    /// `src..src + 8` must be readable.
    unsafe fn load(src: *const u32) -> Self;
    /// Stores eight sums.
    ///
    /// # Safety
    /// `dst..dst + 8` must be writable.
    unsafe fn store(self, dst: *mut u32);
    /// Bit `i` set where lane `i` is not zero.
    unsafe fn nonzero(self) -> u32;
    /// Adds `contribution(s[i], w)` to lane `i`, capped at [`CAP`].
    ///
    /// # Safety
    /// `s..s + 8` must be readable.
    unsafe fn add_edge(self, s: *const f32, w: f32) -> Self;
    /// Applies lane `i`'s sum to activation `act[i]` as `fixed::apply` does
    /// and writes what it gained to `gained[i]`. Returns two lane masks:
    /// lanes first reached (the activation was 0 and grew) and lanes that
    /// gained at least `threshold` (and more than 0).
    ///
    /// # Safety
    /// `act..act + 8` must be readable and writable.
    unsafe fn apply(self, act: *mut f32, threshold: f32, gained: &mut [f32; GROUP]) -> (u32, u32);
}

/// The portable lanes.
#[derive(Clone, Copy)]
pub(crate) struct Scalar([u32; GROUP]);

impl Lanes for Scalar {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar([0; GROUP])
    }

    #[inline(always)]
    unsafe fn load(src: *const u32) -> Self {
        // SAFETY: the caller guarantees eight readable values.
        Scalar(unsafe { src.cast::<[u32; GROUP]>().read_unaligned() })
    }

    #[inline(always)]
    unsafe fn store(self, dst: *mut u32) {
        // SAFETY: the caller guarantees eight writable values.
        unsafe { dst.cast::<[u32; GROUP]>().write_unaligned(self.0) }
    }

    #[inline(always)]
    unsafe fn nonzero(self) -> u32 {
        (0..GROUP).fold(0, |m, i| m | (u32::from(self.0[i] != 0) << i))
    }

    #[inline(always)]
    unsafe fn add_edge(mut self, s: *const f32, w: f32) -> Self {
        // SAFETY: the caller guarantees eight readable strengths.
        let s = unsafe { s.cast::<[f32; GROUP]>().read_unaligned() };
        for (sum, s) in self.0.iter_mut().zip(s) {
            *sum = (*sum + contribution(s, w)).min(CAP);
        }
        self
    }

    #[inline(always)]
    unsafe fn apply(self, act: *mut f32, threshold: f32, gained: &mut [f32; GROUP]) -> (u32, u32) {
        // SAFETY: the caller guarantees eight readable, writable values.
        let act = unsafe { &mut *act.cast::<[f32; GROUP]>() };
        let (mut first, mut spreads) = (0, 0);
        for (i, ((a, &sum), g)) in act.iter_mut().zip(&self.0).zip(gained).enumerate() {
            let current = *a;
            *a = apply(current, sum);
            *g = *a - current;
            first |= u32::from(current == 0.0 && *g > 0.0) << i;
            spreads |= u32::from(*g > 0.0 && *g >= threshold) << i;
        }
        (first, spreads)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    use core::ops::Range;

    use super::{CAP, Lanes, pull_rows, push_edges, settle_pending};
    use crate::graph::CsrView;

    /// [`pull_rows`] on AVX2 lanes, compiled for AVX2.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn pull_avx2<const G: usize>(
        inc: CsrView<'_>,
        rows: Range<u32>,
        slot: &[u32],
        strength: &[f32],
        activation: &mut [f32],
        stride: usize,
        threshold: f32,
        changed: impl FnMut(u32, u32, u32, &[f32]),
    ) {
        // SAFETY: AVX2 is available (contract).
        unsafe {
            pull_rows::<Avx2, G>(
                inc, rows, slot, strength, activation, stride, threshold, changed,
            )
        }
    }

    /// [`settle_pending`] on AVX2 lanes, compiled for AVX2.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn settle_avx2<const G: usize>(
        touched: &[u32],
        pending: &[u32],
        base: u32,
        activation: &mut [f32],
        stride: usize,
        threshold: f32,
        changed: impl FnMut(u32, u32, u32, &[f32]),
    ) {
        // SAFETY: AVX2 is available (contract).
        unsafe {
            settle_pending::<Avx2, G>(
                touched, pending, base, activation, stride, threshold, changed,
            )
        }
    }

    /// [`push_edges`] on AVX2 lanes, compiled for AVX2.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn push_avx2<const G: usize>(
        out: CsrView<'_>,
        nodes: &[u32],
        strength: &[f32],
        slot: &mut [u32],
        pending: &mut alloc::vec::Vec<u32>,
        touched: &mut alloc::vec::Vec<u32>,
    ) {
        // SAFETY: AVX2 is available (contract).
        unsafe { push_edges::<Avx2, G>(out, nodes, strength, slot, pending, touched) }
    }

    /// Eight lanes in one AVX2 register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(__m256i);

    impl Lanes for Avx2 {
        #[inline(always)]
        unsafe fn zero() -> Self {
            // SAFETY: only reached from `avx2` entry points (trait contract).
            Avx2(unsafe { _mm256_setzero_si256() })
        }

        #[inline(always)]
        unsafe fn load(src: *const u32) -> Self {
            // SAFETY: AVX2 is available (trait contract); eight values are
            // readable (caller); the load is unaligned.
            Avx2(unsafe { _mm256_loadu_si256(src.cast()) })
        }

        #[inline(always)]
        unsafe fn store(self, dst: *mut u32) {
            // SAFETY: as `load`, for writing.
            unsafe { _mm256_storeu_si256(dst.cast(), self.0) }
        }

        #[inline(always)]
        unsafe fn nonzero(self) -> u32 {
            // SAFETY: AVX2 is available (trait contract).
            unsafe {
                let zero = _mm256_cmpeq_epi32(self.0, _mm256_setzero_si256());
                !(_mm256_movemask_ps(_mm256_castsi256_ps(zero)) as u32) & 0xFF
            }
        }

        #[inline(always)]
        unsafe fn add_edge(self, s: *const f32, w: f32) -> Self {
            // SAFETY: AVX2 is available (trait contract); eight strengths are
            // readable (caller). Multiply, add 0.5, truncate: the scalar
            // `contribution`, lane by lane; each lies in [0, 2^30], so the
            // signed conversion is exact and the sum below 2^31 + 2^30 never
            // wraps before the unsigned min caps it.
            unsafe {
                let units = _mm256_cvttps_epi32(_mm256_add_ps(
                    _mm256_mul_ps(_mm256_loadu_ps(s), _mm256_set1_ps(w)),
                    _mm256_set1_ps(0.5),
                ));
                Avx2(_mm256_min_epu32(
                    _mm256_add_epi32(self.0, units),
                    _mm256_set1_epi32(CAP as i32),
                ))
            }
        }

        #[inline(always)]
        unsafe fn apply(
            self,
            act: *mut f32,
            threshold: f32,
            gained: &mut [f32; super::GROUP],
        ) -> (u32, u32) {
            // SAFETY: AVX2 is available (trait contract); eight activations
            // are readable and writable (caller). `fixed::apply` lane by lane:
            // `current + sum * 2^-30` in `f64` (sums are at most `CAP`, so the
            // signed conversion is exact), rounded once to `f32`, capped at 1
            // (`min(total as f32, 1)` equals `if total >= 1 { 1 } else { total
            // as f32 }`: rounding is monotonic).
            unsafe {
                let current = _mm256_loadu_ps(act);
                let unit = _mm256_set1_pd(super::super::super::fixed::UNIT);
                let total = |a: __m128, s: __m128i| {
                    _mm256_cvtpd_ps(_mm256_add_pd(
                        _mm256_cvtps_pd(a),
                        _mm256_mul_pd(_mm256_cvtepi32_pd(s), unit),
                    ))
                };
                let new = _mm256_min_ps(
                    _mm256_set_m128(
                        total(
                            _mm256_extractf128_ps::<1>(current),
                            _mm256_extracti128_si256::<1>(self.0),
                        ),
                        total(
                            _mm256_castps256_ps128(current),
                            _mm256_castsi256_si128(self.0),
                        ),
                    ),
                    _mm256_set1_ps(1.0),
                );
                _mm256_storeu_ps(act, new);
                let gain = _mm256_sub_ps(new, current);
                _mm256_storeu_ps(gained.as_mut_ptr(), gain);
                let zero = _mm256_setzero_ps();
                let grew = _mm256_cmp_ps::<_CMP_GT_OQ>(gain, zero);
                let first = _mm256_and_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(current, zero), grew);
                let spreads = _mm256_and_ps(
                    grew,
                    _mm256_cmp_ps::<_CMP_GE_OQ>(gain, _mm256_set1_ps(threshold)),
                );
                (
                    _mm256_movemask_ps(first) as u32,
                    _mm256_movemask_ps(spreads) as u32,
                )
            }
        }
    }
}

/// One pull hop over `rows`, in ascending order: node `v` sums
/// `contribution(strength[slot[u]][q], w)` over its in-edges `(u, w)` for
/// each query `q`, and the sums are applied to its activations
/// (`activation[(v - rows.start) * stride + q]`: the rows' own). Nodes where something happened beyond
/// that are passed to `changed(v, first, spreads, gained)` ([`settle`]).
/// Rows of `strength` are `8 * G` lanes wide; row 0 is all zeros, the slot
/// of every source outside the frontier.
///
/// Every edge costs two dependent random reads (the source's slot, then its
/// row of strengths: 128 bytes for 32 queries, far more than the caches hold
/// on a large frontier), so the loop prefetches both ahead: the slot
/// [`SLOT_AHEAD`] edges ahead and the row [`ROW_AHEAD`] edges ahead, whose
/// slot has arrived by then.
///
/// # Safety
/// `V` must be usable on this CPU. (Every slot indexes a row of `strength`,
/// and every source a slot: bounds are checked.)
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pull_rows<V: Lanes, const G: usize>(
    inc: CsrView<'_>,
    rows: Range<u32>,
    slot: &[u32],
    strength: &[f32],
    activation: &mut [f32],
    stride: usize,
    threshold: f32,
    mut changed: impl FnMut(u32, u32, u32, &[f32]),
) {
    let width = G * GROUP;
    let offsets = &inc.offsets()[rows.start as usize..=rows.end as usize];
    let (sources, weights) = (inc.targets(), inc.weights());
    for (v, bounds) in (rows.start..).zip(offsets.windows(2)) {
        let range = bounds[0] as usize..bounds[1] as usize;
        // SAFETY: `V` is usable (contract).
        let mut acc = [unsafe { V::zero() }; G];
        for e in range {
            if let Some(&u) = sources.get(e + SLOT_AHEAD) {
                crate::hint::prefetch(slot, u as usize);
            }
            if let Some(&u) = sources.get(e + ROW_AHEAD) {
                let s = slot[u as usize] as usize * width;
                crate::hint::prefetch(strength, s);
                crate::hint::prefetch(strength, s + width - 1);
            }
            let (u, w) = (sources[e], weights[e]);
            let row = &strength[slot[u as usize] as usize * width..][..width];
            for (g, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `row` holds `G` groups of eight.
                *acc = unsafe { acc.add_edge(row.as_ptr().add(g * GROUP), w) };
            }
        }
        let act = &mut activation[(v - rows.start) as usize * stride..][..width];
        // SAFETY: `V` is usable (contract); `act` holds `G` groups.
        unsafe { settle::<V, G>(v, &acc, act, threshold, &mut changed) };
    }
}

/// Applies the sums of the nodes `touched` (row `i + 1` of `pending`, `8 *
/// G` lanes wide) to their activations (`activation[(v - base) * stride +
/// q]`), as [`pull_rows`] does.
///
/// # Safety
/// `V` must be usable on this CPU.
#[inline(always)]
pub(crate) unsafe fn settle_pending<V: Lanes, const G: usize>(
    touched: &[u32],
    pending: &[u32],
    base: u32,
    activation: &mut [f32],
    stride: usize,
    threshold: f32,
    mut changed: impl FnMut(u32, u32, u32, &[f32]),
) {
    let width = G * GROUP;
    for (i, &v) in touched.iter().enumerate() {
        let sums = &pending[(i + 1) * width..][..width];
        // SAFETY: `V` is usable (contract); `sums` holds `G` groups.
        let acc: [V; G] =
            core::array::from_fn(|g| unsafe { V::load(sums.as_ptr().add(g * GROUP)) });
        let act = &mut activation[(v - base) as usize * stride..][..width];
        // SAFETY: as above; `act` holds `G` groups.
        unsafe { settle::<V, G>(v, &acc, act, threshold, &mut changed) };
    }
}

/// Applies node `v`'s sums `acc` to its activations `act` (a no-op where a
/// sum is 0) and, if some query reached it first or spreads from it, calls
/// `changed(v, first, spreads, gained)` with the lane masks of
/// [`Lanes::apply`] over all `G` groups and every lane's gain.
///
/// # Safety
/// `V` must be usable on this CPU; `act` holds `8 * G` activations.
#[inline(always)]
unsafe fn settle<V: Lanes, const G: usize>(
    v: u32,
    acc: &[V; G],
    act: &mut [f32],
    threshold: f32,
    changed: &mut impl FnMut(u32, u32, u32, &[f32]),
) {
    let mut nonzero = 0;
    for a in acc {
        // SAFETY: `V` is usable (contract).
        nonzero |= unsafe { a.nonzero() };
    }
    if nonzero == 0 {
        return;
    }
    let mut gained = [[0.0f32; GROUP]; G];
    let (mut first, mut spreads) = (0, 0);
    for (g, (a, gained)) in acc.iter().zip(&mut gained).enumerate() {
        // SAFETY: `V` is usable; `act` holds group `g` (contract).
        let (f, s) = unsafe { a.apply(act.as_mut_ptr().add(g * GROUP), threshold, gained) };
        first |= f << (g * GROUP);
        spreads |= s << (g * GROUP);
    }
    if first | spreads != 0 {
        changed(v, first, spreads, gained.as_flattened());
    }
}

/// How many edges ahead a pull prefetches a source's slot.
const SLOT_AHEAD: usize = 32;
/// How many edges ahead a pull prefetches a source's row of strengths.
const ROW_AHEAD: usize = 16;

/// Adds the contributions of every out-edge of `nodes[i]` (strengths
/// `strength[i + 1]`, rows `8 * G` wide) into its target's row of `pending`,
/// giving each target a row (`slot[v]`, numbered from 1; `touched` lists
/// them in order) the first time it is met.
///
/// # Safety
/// `V` must be usable on this CPU. (`slot` must be 0 for every node not in
/// `touched`; bounds are checked.)
#[inline(always)]
pub(crate) unsafe fn push_edges<V: Lanes, const G: usize>(
    out: CsrView<'_>,
    nodes: &[u32],
    strength: &[f32],
    slot: &mut [u32],
    pending: &mut alloc::vec::Vec<u32>,
    touched: &mut alloc::vec::Vec<u32>,
) {
    let width = G * GROUP;
    for (i, &u) in nodes.iter().enumerate() {
        let row = &strength[(i + 1) * width..][..width];
        let (targets, weights) = out.neighbors(u);
        for (&v, &w) in targets.iter().zip(weights) {
            let mut s = slot[v as usize];
            if s == 0 {
                touched.push(v);
                s = touched.len() as u32;
                slot[v as usize] = s;
                pending.resize(pending.len() + width, 0);
            }
            let sums = &mut pending[s as usize * width..][..width];
            for g in 0..G {
                // SAFETY: `row` and `sums` hold `G` groups of eight; `V`
                // is usable (contract).
                unsafe {
                    let p = sums.as_mut_ptr().add(g * GROUP);
                    V::load(p).add_edge(row.as_ptr().add(g * GROUP), w).store(p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::spread::fixed::SCALE;

    /// Values where the arithmetic has edges: zero, denormal, the largest
    /// strength, sums at the cap, activations at and near 1.
    fn strength(rng: &mut SplitMix64) -> f32 {
        match rng.below(6) {
            0 => 0.0,
            1 => SCALE,
            2 => f32::from_bits(1),
            _ => rng.next_f32() * SCALE,
        }
    }

    fn sum(rng: &mut SplitMix64) -> u32 {
        match rng.below(6) {
            0 => 0,
            1 => CAP,
            2 => CAP - rng.below(1 << 30) as u32,
            3 => rng.below(1 << 20) as u32,
            _ => rng.below(1 << 31) as u32,
        }
    }

    fn activation(rng: &mut SplitMix64) -> f32 {
        match rng.below(5) {
            0 => 0.0,
            1 => 1.0,
            2 => 1.0 - f32::EPSILON,
            _ => rng.next_f32(),
        }
    }

    /// Runs `f` on eight random lanes of `V`; returns what it left.
    fn lanes<V: Lanes>(sums: [u32; GROUP], f: impl FnOnce(V) -> V) -> [u32; GROUP] {
        let mut out = [0; GROUP];
        // SAFETY: the caller passes only lanes this CPU runs.
        unsafe { f(V::load(sums.as_ptr())).store(out.as_mut_ptr()) };
        out
    }

    fn check_against_scalar<V: Lanes>() {
        let mut rng = SplitMix64::new(9);
        for round in 0..if cfg!(miri) { 40 } else { 4_000 } {
            let sums: [u32; GROUP] = core::array::from_fn(|_| sum(&mut rng));
            let s: [f32; GROUP] = core::array::from_fn(|_| strength(&mut rng));
            let w = if round % 7 == 0 {
                1.0
            } else {
                rng.next_f32().max(f32::MIN_POSITIVE)
            };
            // SAFETY: `s` holds eight strengths.
            let add = |x: V| unsafe { x.add_edge(s.as_ptr(), w) };
            // SAFETY: as above; scalar lanes run anywhere.
            let want = lanes::<Scalar>(sums, |x| unsafe { x.add_edge(s.as_ptr(), w) });
            assert_eq!(lanes::<V>(sums, add), want, "add_edge, round {round}");
            for (i, &got) in want.iter().enumerate() {
                assert_eq!(got, (sums[i] + contribution(s[i], w)).min(CAP));
            }

            let act: [f32; GROUP] = core::array::from_fn(|_| activation(&mut rng));
            // Some thresholds are exactly a lane's gain (ties spread).
            let tie = apply(act[3], sums[3]) - act[3];
            let threshold = [0.0, 0.05, 0.5, f32::INFINITY, tie][rng.below(5) as usize];
            let apply_with = |a: &mut [f32; GROUP], g: &mut [f32; GROUP], x: [u32; GROUP]| {
                // SAFETY: `a` holds eight activations; only runnable lanes.
                unsafe { V::load(x.as_ptr()).apply(a.as_mut_ptr(), threshold, g) }
            };
            let (mut a, mut g) = (act, [0.0; GROUP]);
            let masks = apply_with(&mut a, &mut g, sums);
            let (mut want_a, mut want_g) = (act, [0.0; GROUP]);
            // SAFETY: scalar lanes run anywhere.
            let want_masks = unsafe {
                Scalar::load(sums.as_ptr()).apply(want_a.as_mut_ptr(), threshold, &mut want_g)
            };
            assert_eq!(masks, want_masks, "masks, round {round}");
            assert_eq!(a.map(f32::to_bits), want_a.map(f32::to_bits));
            assert_eq!(g.map(f32::to_bits), want_g.map(f32::to_bits));
            for i in 0..GROUP {
                assert_eq!(want_a[i], apply(act[i], sums[i]));
            }
        }
    }

    #[test]
    fn scalar_lanes_follow_the_fixed_point_rules() {
        check_against_scalar::<Scalar>();
        // The cap keeps sums convertible as `i32` and never wraps.
        // SAFETY: eight strengths; scalar lanes run anywhere.
        let full = lanes::<Scalar>([CAP; GROUP], |x| unsafe {
            x.add_edge([SCALE; GROUP].as_ptr(), 1.0)
        });
        assert_eq!(full, [CAP; GROUP]);
    }

    /// The AVX2 lanes return the scalar lanes' bits.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn avx2_lanes_match_scalar_bit_for_bit() {
        if !crate::simd::Backend::Avx2Fma.is_available() {
            std::println!("SKIPPED: AVX2 lanes (CPU lacks AVX2)");
            return;
        }
        #[target_feature(enable = "avx2")]
        fn run() {
            check_against_scalar::<avx2::Avx2>();
        }
        // SAFETY: AVX2 is available (checked above).
        unsafe { run() }
    }
}
