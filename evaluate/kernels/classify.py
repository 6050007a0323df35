"""Classification kernels: grading by thresholds with the guideline's boundary semantics,
table reclassification, and the per-block halves of the global class-break reductions.

The break reductions (ARCHITECTURE.md class 4) run in two passes over the blocks:
a sparse histogram keyed by the leading bits of each value brackets every
break to a few bins, then the cells inside those bins are gathered (grouped by
distinct value) and everything else is summed exactly, so the driver resolves
each break bit-for-bit as a sort of the whole raster would — whatever the
chunking. Sums are exact, hence order-independent: Shewchuk's non-overlapping
expansions (the algorithm behind Python's ``math.fsum``), fed by per-exponent
integer accumulators for the bulk of the cells, rounded once, correctly, at
the end.
"""
from __future__ import annotations

import math

import numba
import numpy as np

NODATA_CLASS = 0

# Order key: the IEEE-754 bit pattern of a float64, flipped so that unsigned
# integer order equals numeric order; its top KEY_BITS bits name the histogram
# bin (1 sign + 11 exponent + 8 mantissa bits: bins 2**-8 ≈ 0.4 % wide relative
# to the value, so a float32 input has at most 2**15 distinct values per bin).
KEY_BITS = 20
_KEY_SHIFT = np.uint64(64 - KEY_BITS)
_SIGN = np.uint64(1) << np.uint64(63)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
# An expansion of float64 partials never needs more than ~80 terms (each pair of
# neighbouring partials spans more than 53 bits of the 2098-bit range).
EXPANSION_CAPACITY = 160

# which cells are ranked and what they weigh: see :func:`_ranked`
COUNT, VALUE, VALUE_TIMES_AREA, QUANTITY = 0, 1, 2, 3


@numba.njit(nogil=True, cache=True)
def grade_by_thresholds(values: np.ndarray, thresholds, larger_is_better: bool) -> np.ndarray:
    """Grade values into classes 1..n+1 by n thresholds with the boundary rules of methods.md §0.2.

    Smaller-is-better (ascending t1 < … < tn, upper-inclusive): class 1 if
    v ≤ t1, class k if t(k−1) < v ≤ tk, class n+1 if v > tn.
    Larger-is-better (descending t1 > … > tn, lower-inclusive): class 1 if
    v ≥ t1, class k if tk ≤ v < t(k−1), class n+1 if v < tn.
    NaN gives class 0 (nodata), masked before grading as §0.3 item 1 requires.

    ``thresholds`` is a float64 array, or a tuple of floats: numba then
    compiles the loop over them with its length known, unrolls it and
    vectorises the loop over the cells (about twice as fast), which is why
    the operators pass short threshold lists as tuples. Values are compared
    in float64, exactly.
    """
    out = np.empty(values.shape, dtype=np.uint8)
    flat_in = values.ravel()
    flat_out = out.ravel()
    for idx in range(flat_in.shape[0]):
        v = np.float64(flat_in[idx])
        # monotone thresholds: those passed form a prefix, so counting them gives
        # the class without data-dependent branches (random data mispredicts them)
        k = 1
        if larger_is_better:
            for t in thresholds:
                k += v < t
        else:
            for t in thresholds:
                k += v > t
        flat_out[idx] = k if v == v else NODATA_CLASS
    return out


@numba.njit(nogil=True, cache=True)
def downgrade_where(grades: np.ndarray, steps: np.ndarray, worst: int) -> np.ndarray:
    """Add ``steps`` to each grade (降 n 级) and clamp to ``worst``; class 0 (nodata) stays 0.

    A step of ``worst`` or more sets the worst grade (直接取最低).
    """
    out = np.empty(grades.shape, dtype=np.uint8)
    g = grades.ravel()
    s = steps.ravel()
    o = out.ravel()
    for idx in range(g.shape[0]):
        if g[idx] == NODATA_CLASS or s[idx] < 0:
            o[idx] = NODATA_CLASS
        else:
            o[idx] = min(worst, g[idx] + s[idx])
    return out


@numba.njit(nogil=True, cache=True)
def reclass_ranges(
    values: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    low_closed: np.ndarray,
    high_closed: np.ndarray,
    classes: np.ndarray,
    default: int,
) -> np.ndarray:
    """Reclassify by non-overlapping ranges sorted by their lower bound (closed bounds first on ties).

    A discrete value d is the range [d, d]. The containing range is the last
    one whose lower bound admits the value (binary search), which is unique
    because the ranges do not overlap; a value outside every range, or NaN,
    gets ``default``.
    """
    out = np.empty(values.shape, dtype=classes.dtype)
    flat_in = values.ravel()
    flat_out = out.ravel()
    n = lows.shape[0]
    for idx in range(flat_in.shape[0]):
        v = np.float64(flat_in[idx])
        flat_out[idx] = default
        if math.isnan(v):
            continue
        lo, hi = 0, n  # find the number of ranges whose lower bound admits v
        while lo < hi:
            mid = (lo + hi) // 2
            if lows[mid] < v or (lows[mid] == v and low_closed[mid]):
                lo = mid + 1
            else:
                hi = mid
        r = lo - 1
        if r >= 0 and (v < highs[r] or (v == highs[r] and high_closed[r])):
            flat_out[idx] = classes[r]
    return out


@numba.njit(nogil=True, cache=True)
def cumulative_share_classes(values: np.ndarray, quantity: np.ndarray, has_quantity: bool, breaks: np.ndarray) -> np.ndarray:
    """Classes of the cumulative-share rule (methods.md §3.6) from its breaks t1 ≥ t2 ≥ … (share order).

    Class 1 if v ≥ t1, k if tk ≤ v < t(k−1), n+1 below tn and wherever v ≤ 0;
    0 where v is not finite or (with a quantity raster) the quantity is not
    finite. Breaks of +inf (no positive cell anywhere) put every valid cell in
    class n+1.
    """
    out = np.empty(values.shape, dtype=np.uint8)
    v_flat = values.ravel()
    q_flat = quantity.ravel()
    o = out.ravel()
    n = breaks.shape[0]
    for idx in range(v_flat.shape[0]):
        v = np.float64(v_flat[idx])
        if not math.isfinite(v) or (has_quantity and not math.isfinite(np.float64(q_flat[idx]))):
            o[idx] = NODATA_CLASS
        elif v <= 0.0:
            o[idx] = n + 1
        else:
            k = 0
            for t in range(n):  # descending breaks: a prefix passes
                k += v < breaks[t]
            o[idx] = k + 1
    return out


# ---------------------------------------------------------------- global breaks: shared per-block halves
@numba.njit(nogil=True, cache=True, inline="always")
def _ranked(value, quantity, area: float, mode: int):
    """Whether a cell is ranked, its value and its weight.

    ``COUNT``: every finite value, weight 1. ``VALUE``: finite v > 0, weight v.
    ``VALUE_TIMES_AREA``: finite v > 0, weight v × the area of its row.
    ``QUANTITY``: finite v > 0 with a finite quantity, weight max(quantity, 0)
    (a negative quantity is no service). −0.0 becomes +0.0 so that equal
    values share one order key.
    """
    v = np.float64(value)
    if not math.isfinite(v) or (mode != COUNT and v <= 0.0):
        return False, v, 0.0
    if mode == QUANTITY:
        q = np.float64(quantity)
        if not math.isfinite(q):
            return False, v, 0.0
        return True, v, max(q, 0.0)
    if mode == VALUE_TIMES_AREA:
        return True, v, v * area
    if mode == VALUE:
        return True, v, v
    return True, v + 0.0, 1.0


@numba.njit(nogil=True, cache=True, inline="always")
def _ranked_row(values, quantity, area: float, mode: int, row_v: np.ndarray, row_w: np.ndarray, row_ok: np.ndarray) -> None:
    # one row into buffers (the caller holds a uint64 view of row_v for the order keys)
    for j in range(values.shape[0]):
        ok, v, w = _ranked(values[j], quantity[j], area, mode)
        row_ok[j] = ok
        row_v[j] = v if ok else 0.0
        row_w[j] = w


@numba.njit(nogil=True, cache=True)
def _bin_of(bits: np.uint64) -> np.int64:
    # negative: flip every bit; positive: set the sign bit (branch-free: random signs mispredict)
    key = bits ^ (((bits >> np.uint64(63)) * _ALL) | _SIGN)
    return np.int64(key >> _KEY_SHIFT)


@numba.njit(nogil=True, cache=True)
def value_bins(vals: np.ndarray) -> np.ndarray:
    """The histogram bin (order-key prefix) of each float64 value; bins increase with the value."""
    bits = vals.view(np.uint64)
    out = np.empty(vals.shape[0], dtype=np.int64)
    for i in range(vals.shape[0]):
        out[i] = _bin_of(bits[i])
    return out


@numba.njit(nogil=True, cache=True)
def sparse_histogram(values: np.ndarray, quantity: np.ndarray, area_rows: np.ndarray, mode: int):
    """Count and (float) weight sum per occupied bin of the ranked cells of a 2-D block, bins ascending.

    Pass 1 of a break reduction. Dense over the block's own bin span, then
    compacted: linear time, and small to ship because real rasters occupy few
    bins. ``quantity`` is only read in ``QUANTITY`` mode (pass ``values`` otherwise).
    """
    rows, cols = values.shape
    row_v = np.empty(cols, dtype=np.float64)
    row_w = np.empty(cols, dtype=np.float64)
    row_ok = np.empty(cols, dtype=np.int64)
    row_bits = row_v.view(np.uint64)
    big = np.int64(1) << 62
    lo = big
    hi = np.int64(-1)
    for i in range(rows):
        _ranked_row(values[i], quantity[i], area_rows[i], mode, row_v, row_w, row_ok)
        for j in range(cols):
            b = _bin_of(row_bits[j])
            lo = min(lo, b if row_ok[j] else big)
            hi = max(hi, b if row_ok[j] else np.int64(-1))
    if hi < 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    span = hi - lo + 1
    counts = np.zeros(span, dtype=np.int64)
    sums = np.zeros(span, dtype=np.float64)
    for i in range(rows):
        _ranked_row(values[i], quantity[i], area_rows[i], mode, row_v, row_w, row_ok)
        for j in range(cols):
            ok = row_ok[j]
            b = (_bin_of(row_bits[j]) - lo) if ok else 0
            counts[b] += ok
            sums[b] += row_w[j] if ok else 0.0
    occupied = 0
    for b in range(span):
        if counts[b] > 0:
            occupied += 1
    out_bins = np.empty(occupied, dtype=np.int64)
    out_counts = np.empty(occupied, dtype=np.int64)
    out_sums = np.empty(occupied, dtype=np.float64)
    k = 0
    for b in range(span):
        if counts[b] > 0:
            out_bins[k] = b + lo
            out_counts[k] = counts[b]
            out_sums[k] = sums[b]
            k += 1
    return out_bins, out_counts, out_sums


@numba.njit(nogil=True, cache=True)
def grow_expansion(partials: np.ndarray, n: int, x: float) -> int:
    """Add ``x`` exactly to the expansion ``partials[:n]``; return its new length (Shewchuk 1997, msum)."""
    i = 0
    for j in range(n):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            partials[i] = lo
            i += 1
        x = hi
    if i >= partials.shape[0]:
        raise ValueError("exact-sum expansion overflowed its capacity")
    partials[i] = x
    return i + 1


@numba.njit(nogil=True, cache=True)
def round_expansion(partials: np.ndarray, n: int) -> float:
    """The correctly rounded float64 value of an expansion (the final step of CPython's ``math.fsum``)."""
    if n == 0:
        return 0.0
    n -= 1
    hi = partials[n]
    lo = 0.0
    while n > 0:
        x = hi
        n -= 1
        y = partials[n]
        hi = x + y
        yr = hi - x
        lo = y - yr
        if lo != 0.0:
            break
    if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
        y = lo * 2.0
        x = hi + y
        yr = x - hi
        if y == yr:
            hi = x
    return hi


@numba.njit(nogil=True, cache=True)
def exact_sum(parts: np.ndarray) -> np.ndarray:
    """The expansion of the exact sum of ``parts`` (which may themselves be expansions, concatenated)."""
    buf = np.empty(EXPANSION_CAPACITY, dtype=np.float64)
    n = 0
    for i in range(parts.shape[0]):
        n = grow_expansion(buf, n, parts[i])
    return buf[:n].copy()


@numba.njit(nogil=True, cache=True)
def candidate_intervals(lo_bins: np.ndarray, hi_bins: np.ndarray) -> np.ndarray:
    """The union of the targets' candidate bin ranges as disjoint ascending intervals (r, 2); lo < 0 skips a target."""
    t = lo_bins.shape[0]
    order = np.argsort(lo_bins, kind="mergesort")
    out = np.empty((t, 2), dtype=np.int64)
    r = 0
    for i in range(t):
        k = order[i]
        if lo_bins[k] < 0:
            continue
        if r > 0 and lo_bins[k] <= out[r - 1, 1]:
            out[r - 1, 1] = max(out[r - 1, 1], hi_bins[k])
        else:
            out[r, 0] = lo_bins[k]
            out[r, 1] = hi_bins[k]
            r += 1
    return out[:r].copy()


# Superaccumulator for non-negative float64 terms: the integer significands are
# summed per binary exponent (2**10 terms of < 2**53 fit an int64), then
# flushed exactly into an expansion: a few integer adds per term instead of a
# floating expansion update.
_EXPONENTS = 2048
_FLUSH_AFTER = 1024
_MANTISSA = np.uint64((1 << 52) - 1)
_HIDDEN = np.uint64(1 << 52)


@numba.njit(nogil=True, cache=True)
def _flush(partials: np.ndarray, n: int, acc: np.int64, exponent: int) -> int:
    # acc · 2**(exponent − 1075), split so that each half is an exact float64
    hi = acc >> 32
    lo = acc & 0xFFFFFFFF
    n = grow_expansion(partials, n, math.ldexp(np.float64(lo), exponent - 1075))
    return grow_expansion(partials, n, math.ldexp(np.float64(hi), exponent - 1075 + 32))


@numba.njit(nogil=True, cache=True, inline="always")
def _segment(b: np.int64, lo: np.ndarray, hi: np.ndarray) -> np.int64:
    # segment index s (cells below interval s), or r + 1 for a cell inside a candidate interval;
    # counted, not searched: the comparisons are random and a loop exit would mispredict
    r = lo.shape[0]
    if r == 0:
        return np.int64(0)
    s = np.int64(0)
    for q in range(r):
        s += b > hi[q]
    inside = np.int64((s < r) & (b >= lo[min(s, r - 1)]))
    return s + inside * (r + 1 - s)


@numba.njit(nogil=True, cache=True)
def gather_candidates(values: np.ndarray, quantity: np.ndarray, area_rows: np.ndarray, mode: int, intervals: np.ndarray):
    """Pass 2 of a break reduction over one 2-D block.

    ``intervals`` (r, 2): disjoint ascending candidate bin ranges. Ranked
    cells in a candidate range are grouped by distinct value with the exact
    sum of their weights and their count; every other ranked cell adds its
    weight exactly to the segment between candidate ranges that holds it
    (segment s lies below interval s, segment r above the last).

    Returns
    -------
    segments, segment_len, segment_count : (r + 1, EXPANSION_CAPACITY), (r + 1,), (r + 1,)
    group_values, group_offsets, group_partials, group_count : groups sorted
        by value; the expansion of group g is
        group_partials[group_offsets[g]:group_offsets[g + 1]]
    """
    rows, cols = values.shape
    r = intervals.shape[0]
    lo = np.ascontiguousarray(intervals[:, 0])
    hi = np.ascontiguousarray(intervals[:, 1])
    row_v = np.empty(cols, dtype=np.float64)
    row_w = np.empty(cols, dtype=np.float64)
    row_ok = np.empty(cols, dtype=np.int64)
    row_bits = row_v.view(np.uint64)
    row_wbits = row_w.view(np.uint64)
    # rows 0..r: segments; row r + 1: a sink for unranked and candidate cells
    acc = np.zeros((r + 2, _EXPONENTS), dtype=np.int64)
    terms = np.zeros((r + 2, _EXPONENTS), dtype=np.int64)
    segments = np.zeros((r + 2, EXPANSION_CAPACITY), dtype=np.float64)
    segment_len = np.zeros(r + 2, dtype=np.int64)
    segment_count = np.zeros(r + 2, dtype=np.int64)
    n_sel = 0
    for i in range(rows):
        _ranked_row(values[i], quantity[i], area_rows[i], mode, row_v, row_w, row_ok)
        for j in range(cols):
            s = _segment(_bin_of(row_bits[j]), lo, hi)
            ok = row_ok[j]
            n_sel += ok & (s == r + 1)
            s = s + (1 - ok) * (r + 1 - s)  # unranked cells go to the sink too
            segment_count[s] += 1
            bits = row_wbits[j]
            e = np.int64(bits >> np.uint64(52)) & 0x7FF
            mantissa = (bits & _MANTISSA) | (_HIDDEN if e > 0 else np.uint64(0))
            e = max(e, 1)  # subnormals share the scale of the smallest normal exponent
            acc[s, e] += np.int64(mantissa)
            terms[s, e] += 1
            if terms[s, e] == _FLUSH_AFTER:
                segment_len[s] = _flush(segments[s], segment_len[s], acc[s, e], e)
                acc[s, e] = 0
                terms[s, e] = 0
    for s in range(r + 1):
        for e in range(_EXPONENTS):
            if acc[s, e] != 0:
                segment_len[s] = _flush(segments[s], segment_len[s], acc[s, e], e)
    cand_v = np.empty(n_sel, dtype=np.float64)
    cand_w = np.empty(n_sel, dtype=np.float64)
    k = 0
    if n_sel > 0:
        for i in range(rows):
            _ranked_row(values[i], quantity[i], area_rows[i], mode, row_v, row_w, row_ok)
            for j in range(cols):
                if row_ok[j] & (_segment(_bin_of(row_bits[j]), lo, hi) == r + 1):
                    cand_v[k] = row_v[j]
                    cand_w[k] = row_w[j]
                    k += 1
    order = np.argsort(cand_v, kind="mergesort")
    group_values = np.empty(n_sel, dtype=np.float64)
    group_offsets = np.zeros(n_sel + 1, dtype=np.int64)
    group_partials = np.empty(n_sel, dtype=np.float64)  # an expansion is never longer than its terms
    group_count = np.zeros(n_sel, dtype=np.int64)
    buf = np.empty(EXPANSION_CAPACITY, dtype=np.float64)
    g = 0
    p = 0
    i = 0
    while i < n_sel:
        v = cand_v[order[i]]
        n = 0
        c = 0
        while i < n_sel and cand_v[order[i]] == v:
            n = grow_expansion(buf, n, cand_w[order[i]])
            c += 1
            i += 1
        group_values[g] = v
        group_count[g] = c
        group_partials[p : p + n] = buf[:n]
        p += n
        g += 1
        group_offsets[g] = p
    return (
        segments[: r + 1].copy(),
        segment_len[: r + 1].copy(),
        segment_count[: r + 1].copy(),
        group_values[:g].copy(),
        group_offsets[: g + 1].copy(),
        group_partials[:p].copy(),
        group_count[:g].copy(),
    )


@numba.njit(nogil=True, cache=True)
def regroup(values: np.ndarray, offsets: np.ndarray, partials: np.ndarray, counts: np.ndarray, order: np.ndarray):
    """Merge value groups from several blocks: equal values (visited in ``order``, ascending) sum exactly."""
    g_in = values.shape[0]
    out_values = np.empty(g_in, dtype=np.float64)
    out_counts = np.zeros(g_in, dtype=np.int64)
    out_offsets = np.zeros(g_in + 1, dtype=np.int64)
    out_partials = np.empty(partials.shape[0], dtype=np.float64)
    buf = np.empty(EXPANSION_CAPACITY, dtype=np.float64)
    g = 0
    p = 0
    i = 0
    while i < g_in:
        v = values[order[i]]
        n = 0
        while i < g_in and values[order[i]] == v:
            s = order[i]
            for q in range(offsets[s], offsets[s + 1]):
                n = grow_expansion(buf, n, partials[q])
            out_counts[g] += counts[s]
            i += 1
        out_values[g] = v
        out_partials[p : p + n] = buf[:n]
        p += n
        g += 1
        out_offsets[g] = p
    return out_values[:g].copy(), out_offsets[: g + 1].copy(), out_partials[:p].copy(), out_counts[:g].copy()


@numba.njit(nogil=True, cache=True)
def first_crossing(before: np.ndarray, walk: np.ndarray, offsets: np.ndarray, partials: np.ndarray, threshold: float) -> int:
    """Position in ``walk`` (group indices in rank order) of the first group at whose end the correctly
    rounded cumulative sum, starting from the expansion ``before``, reaches ``threshold``; −1 if none.

    This is methods.md §0.3 item 6 (``searchsorted(CS, f·T, side="left")``)
    evaluated at group ends: inside a group of tied values the break value is
    the same whichever cell crosses.
    """
    buf = np.empty(EXPANSION_CAPACITY, dtype=np.float64)
    n = 0
    for i in range(before.shape[0]):
        n = grow_expansion(buf, n, before[i])
    for pos in range(walk.shape[0]):
        g = walk[pos]
        for q in range(offsets[g], offsets[g + 1]):
            n = grow_expansion(buf, n, partials[q])
        if round_expansion(buf, n) >= threshold:
            return pos
    return -1


# ---------------------------------------------------------------- min/max and uniform histograms (natural / equal-interval breaks)
@numba.njit(nogil=True, cache=True)
def finite_min_max(values: np.ndarray):
    """Minimum and maximum of the finite values of a block (NaN, NaN if there are none)."""
    lo = np.inf
    hi = -np.inf
    flat = values.ravel()
    for i in range(flat.shape[0]):
        v = np.float64(flat[i])
        if math.isfinite(v):
            if v < lo:
                lo = v
            if v > hi:
                hi = v
    if lo > hi:
        return np.nan, np.nan
    return lo, hi


# fractional positions inside a bin are summed as integers of 2**-30 bin widths:
# exact and order-free (no overflow below 2**34 cells per bin)
POSITION_SCALE = 2**30


@numba.njit(nogil=True, cache=True)
def uniform_histogram(values: np.ndarray, lo: float, hi: float, n_bins: int):
    """Counts, position sums and maxima of the finite values in ``n_bins`` equal bins over [lo, hi].

    The position of v is p = (v − lo) / (hi − lo) · n_bins (bin ⌊p⌋, the last
    bin closed); the sum of p − ⌊p⌋ is kept in integer units of
    2**-30, so a bin's mean is known to ~1e-9 of its width and every chunking
    gives the same integers. Maxima are −inf in empty bins.
    """
    counts = np.zeros(n_bins, dtype=np.int64)
    offsets = np.zeros(n_bins, dtype=np.uint64)
    maxima = np.full(n_bins, -np.inf)
    flat = values.ravel()
    width = hi - lo
    for i in range(flat.shape[0]):
        v = np.float64(flat[i])
        if not math.isfinite(v) or v < lo or v > hi:
            continue
        p = (v - lo) / width * n_bins if width > 0 else 0.0
        b = int(p)
        if b >= n_bins:
            b = n_bins - 1
        f = min(max(p - b, 0.0), 1.0)
        counts[b] += 1
        offsets[b] += np.uint64(f * POSITION_SCALE)
        if v > maxima[b]:
            maxima[b] = v
    return counts, offsets, maxima


@numba.njit(nogil=True, cache=True)
def fisher_jenks(x: np.ndarray, w: np.ndarray, n_classes: int) -> np.ndarray:
    """Optimal 1-D partition of weighted sorted points into ``n_classes`` contiguous classes.

    Fisher (1958) / Jenks (1977) dynamic programme minimising the total
    within-class sum of squared deviations; O(n_classes · m²). Returns the index
    of the last point of every class (ascending). Needs m ≥ n_classes.
    Ties between equal costs keep the earliest split, so the answer is
    deterministic.
    """
    m = x.shape[0]
    centre = 0.0
    wsum = 0.0
    for i in range(m):
        centre += w[i] * x[i]
        wsum += w[i]
    centre /= wsum
    p1 = np.zeros(m + 1)
    p2 = np.zeros(m + 1)
    p3 = np.zeros(m + 1)
    for i in range(m):
        d = x[i] - centre
        p1[i + 1] = p1[i] + w[i]
        p2[i + 1] = p2[i] + w[i] * d
        p3[i + 1] = p3[i] + w[i] * d * d
    cost = np.full((n_classes, m), np.inf)
    back = np.zeros((n_classes, m), dtype=np.int64)
    for i in range(m):
        s = p2[i + 1]
        cost[0, i] = p3[i + 1] - s * s / p1[i + 1]
    for j in range(1, n_classes):
        for i in range(j, m):
            best = np.inf
            arg = j
            for s in range(j, i + 1):  # class j holds points s..i
                ww = p1[i + 1] - p1[s]
                sw = p2[i + 1] - p2[s]
                c = cost[j - 1, s - 1] + (p3[i + 1] - p3[s]) - sw * sw / ww
                if c < best:
                    best = c
                    arg = s
            cost[j, i] = best
            back[j, i] = arg
    ends = np.empty(n_classes, dtype=np.int64)
    i = m - 1
    for j in range(n_classes - 1, -1, -1):
        ends[j] = i
        if j > 0:
            i = back[j, i] - 1
    return ends
