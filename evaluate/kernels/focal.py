"""Focal (moving-window) and block statistics kernels over padded numpy blocks.

Every kernel takes a block padded by ``h`` cells on each side (NaN = nodata or
outside the grid) and returns the unpadded result, so the same call serves the
eager path and every dask block (ARCHITECTURE.md, class 2 "Fixed stencil").

A window ("footprint") other than a plain rectangle is given as horizontal
runs of cells: run ``k`` covers row offset ``seg_dy[k]`` and column offsets
``seg_a[k] .. seg_a[k] + seg_len[k] - 1`` from the centre cell, runs sorted
by length (shortest first). Any footprint (square, circle, annulus) is a
union of such runs.

Reproducibility: every output value is computed from the values of its own
window in an order that depends only on the window's shape, never on where
the block starts, so the results are bit-identical for any chunking.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def _row_max(src: np.ndarray, w: int, out: np.ndarray, g: np.ndarray, s: np.ndarray) -> None:
    """Max over every ``w`` consecutive values of the 1-D ``src`` into ``out[: n − w + 1]``.

    van Herk (1992) / Gil & Werman (1993): three comparisons per value
    whatever ``w``, from prefix maxima ``g`` and suffix maxima ``s`` within
    blocks of ``w`` values; window [k, k + w) is ``max(s[k], g[k + w − 1])``.
    Max is exact, so where the blocks start changes no result. ``src`` holds
    no NaN (the caller maps nodata to −inf).
    """
    n = src.shape[0]
    for b0 in range(0, n, w):
        b1 = min(n, b0 + w)
        g[b0] = src[b0]
        for k in range(b0 + 1, b1):
            g[k] = max(g[k - 1], src[k])
        s[b1 - 1] = src[b1 - 1]
        for k in range(b1 - 2, b0 - 1, -1):
            s[k] = max(s[k + 1], src[k])
    for k in range(n - w + 1):
        out[k] = max(s[k], g[k + w - 1])


@numba.njit(nogil=True, cache=True)
def _columns_max(src: np.ndarray, w: int, out: np.ndarray) -> None:
    """Max over every ``w`` consecutive rows of ``src`` (n, m) into ``out`` (n − w + 1, m).

    The same van Herk/Gil–Werman scheme on whole rows, so the inner loops run
    over contiguous memory; only the suffix maxima of the current block and
    the prefix maxima of the next one are kept (2·w rows of buffer, where
    full-size temporaries would cost more in page faults than in arithmetic).
    """
    n, m = src.shape
    cur_s = np.empty((w, m), dtype=np.float64)
    nxt_g = np.empty((w, m), dtype=np.float64)
    for b0 in range(0, n - w + 1, w):
        b1 = b0 + w
        for c in range(m):
            cur_s[w - 1, c] = src[b1 - 1, c]
        for r in range(w - 2, -1, -1):
            for c in range(m):
                cur_s[r, c] = max(cur_s[r + 1, c], src[b0 + r, c])
        for c in range(m):
            out[b0, c] = cur_s[0, c]
        # prefix maxima of the next block, as far as the windows starting in this block reach
        for r in range(min(w - 1, n - b1)):
            if r == 0:
                for c in range(m):
                    nxt_g[0, c] = src[b1, c]
            else:
                for c in range(m):
                    nxt_g[r, c] = max(nxt_g[r - 1, c], src[b1 + r, c])
            for c in range(m):
                out[b0 + 1 + r, c] = max(cur_s[r + 1, c], nxt_g[r, c])


@numba.njit(nogil=True, cache=True)
def rectangle_extreme(padded: np.ndarray, h: int, rx: int, ry: int, take_max: bool) -> np.ndarray:
    """Max (or min) over a (2·ry+1) × (2·rx+1) rectangle, NaN ignored, separable van Herk/Gil–Werman.

    A min is the negated max of the negated values (exact).

    Parameters
    ----------
    padded : (rows + 2h, cols + 2h) float64, NaN for nodata and outside the grid
    h : padding of ``padded``; ``rx, ry <= h``
    rx, ry : half-widths of the window in columns and rows
    take_max : max if True, else min

    Returns
    -------
    (rows, cols) float64, NaN where the window holds no valid cell.
    """
    prows, pcols = padded.shape
    rows = prows - 2 * h
    cols = pcols - 2 * h
    sign = 1.0 if take_max else -1.0
    nr = rows + 2 * ry
    nc = cols + 2 * rx
    horizontal = np.empty((nr, cols), dtype=np.float64)
    src = np.empty(nc, dtype=np.float64)
    g = np.empty(nc, dtype=np.float64)
    s = np.empty(nc, dtype=np.float64)
    for r in range(nr):
        for c in range(nc):
            v = padded[h - ry + r, h - rx + c]
            src[c] = -np.inf if math.isnan(v) else sign * v
        _row_max(src, 2 * rx + 1, horizontal[r], g, s)
    out = np.empty((rows, cols), dtype=np.float64)
    _columns_max(horizontal, 2 * ry + 1, out)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.nan if out[i, j] == -np.inf else sign * out[i, j]
    return out


@numba.njit(nogil=True, cache=True)
def relief_moving(padded: np.ndarray, h: int, rx: int, ry: int) -> np.ndarray:
    """Relief (地形起伏度) = focal max − focal min over a (2·ry+1) × (2·rx+1) window (methods.md §2.2 item 2).

    NaN neighbours are ignored; a NaN centre gives NaN.

    Returns
    -------
    (rows, cols) float32
    """
    hi = rectangle_extreme(padded, h, rx, ry, True)
    lo = rectangle_extreme(padded, h, rx, ry, False)
    rows, cols = hi.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for i in range(rows):
        for j in range(cols):
            if math.isnan(padded[i + h, j + h]):
                out[i, j] = np.nan
            else:
                out[i, j] = hi[i, j] - lo[i, j]
    return out


@numba.njit(nogil=True, cache=True)
def block_range(values: np.ndarray, by: int, bx: int) -> np.ndarray:
    """Max − min over non-overlapping ``by`` × ``bx`` blocks anchored at ``values[0, 0]`` (ArcGIS BlockStatistics RANGE).

    Every valid cell of a block gets the block's range over its valid cells;
    NaN cells stay NaN. Blocks cut by the array's last row or column use the
    cells that exist.

    Returns
    -------
    (rows, cols) float32
    """
    rows, cols = values.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for b0 in range(0, rows, by):
        b1 = min(rows, b0 + by)
        for a0 in range(0, cols, bx):
            a1 = min(cols, a0 + bx)
            hi = -np.inf
            lo = np.inf
            for i in range(b0, b1):
                for j in range(a0, a1):
                    v = values[i, j]
                    if not math.isnan(v):
                        hi = max(hi, v)
                        lo = min(lo, v)
            rng = hi - lo
            for i in range(b0, b1):
                for j in range(a0, a1):
                    out[i, j] = np.nan if math.isnan(values[i, j]) else rng
    return out


@numba.njit(nogil=True, cache=True)
def _segments_sum_count(padded, h, seg_dy, seg_a, seg_len):
    """Sum and count of the valid cells of every footprint window.

    For each source row, the sums of ``L`` consecutive values are grown one
    value at a time from ``L = 1`` up (left to right), and each run of the
    footprint adds the one of its length to the output row it belongs to.
    Counts are small integers, exact in float64, so they come from a prefix
    sum of the row's validity. Cost per cell: max run length + number of runs.
    """
    prows, pcols = padded.shape
    rows = prows - 2 * h
    cols = pcols - 2 * h
    total = np.zeros((rows, cols), dtype=np.float64)
    count = np.zeros((rows, cols), dtype=np.float64)
    nseg = seg_len.shape[0]
    dymin = seg_dy.min()
    dymax = seg_dy.max()
    z = np.empty(pcols, dtype=np.float64)
    prefix = np.zeros(pcols + 1, dtype=np.float64)
    fs = np.empty(pcols, dtype=np.float64)
    for s in range(prows):
        if s - h - dymin < 0 or s - h - dymax >= rows:
            continue
        for c in range(pcols):
            v = padded[s, c]
            valid = not math.isnan(v)
            z[c] = v if valid else 0.0
            prefix[c + 1] = prefix[c] + (1.0 if valid else 0.0)
            fs[c] = z[c]
        length = 1
        for k in range(nseg):
            while length < seg_len[k]:
                for c in range(pcols - length):
                    fs[c] += z[c + length]
                length += 1
            i = s - h - seg_dy[k]
            if 0 <= i < rows:
                off = h + seg_a[k]
                for j in range(cols):
                    total[i, j] += fs[j + off]
                    count[i, j] += prefix[j + off + length] - prefix[j + off]
    return total, count


@numba.njit(nogil=True, cache=True)
def _segments_extreme(padded, h, seg_dy, seg_a, seg_len, take_max):
    """Max (or min, as the negated max of negated values) of the valid cells of every footprint window, NaN where none."""
    prows, pcols = padded.shape
    rows = prows - 2 * h
    cols = pcols - 2 * h
    sign = 1.0 if take_max else -1.0
    out = np.full((rows, cols), -np.inf, dtype=np.float64)
    nseg = seg_len.shape[0]
    dymin = seg_dy.min()
    dymax = seg_dy.max()
    z = np.empty(pcols, dtype=np.float64)
    f = np.empty(pcols, dtype=np.float64)
    for s in range(prows):
        if s - h - dymin < 0 or s - h - dymax >= rows:
            continue
        for c in range(pcols):
            v = padded[s, c]
            z[c] = -np.inf if math.isnan(v) else sign * v
            f[c] = z[c]
        length = 1
        for k in range(nseg):
            while length < seg_len[k]:
                for c in range(pcols - length):
                    f[c] = max(f[c], z[c + length])
                length += 1
            i = s - h - seg_dy[k]
            if 0 <= i < rows:
                off = h + seg_a[k]
                for j in range(cols):
                    out[i, j] = max(out[i, j], f[j + off])
    for i in range(rows):
        for j in range(cols):
            out[i, j] = np.nan if out[i, j] == -np.inf else sign * out[i, j]
    return out


@numba.njit(nogil=True, cache=True)
def _segments_std(padded, h, seg_dy, seg_a, seg_len):
    """Population standard deviation of the valid cells of every footprint window.

    Numerically stable: each run's (count, mean, M2) is grown by Welford's
    update, and runs are merged into the window by Chan et al.'s pairwise
    formula, so large values with a small spread (elevations) lose nothing to
    the cancellation of Σx² − (Σx)²/n.
    """
    prows, pcols = padded.shape
    rows = prows - 2 * h
    cols = pcols - 2 * h
    on = np.zeros((rows, cols), dtype=np.float64)
    omean = np.zeros((rows, cols), dtype=np.float64)
    om2 = np.zeros((rows, cols), dtype=np.float64)
    nseg = seg_len.shape[0]
    dymin = seg_dy.min()
    dymax = seg_dy.max()
    fn = np.empty(pcols, dtype=np.float64)
    fmean = np.empty(pcols, dtype=np.float64)
    fm2 = np.empty(pcols, dtype=np.float64)
    for s in range(prows):
        if s - h - dymin < 0 or s - h - dymax >= rows:
            continue
        for c in range(pcols):
            v = padded[s, c]
            if math.isnan(v):
                fn[c] = 0.0
                fmean[c] = 0.0
            else:
                fn[c] = 1.0
                fmean[c] = v
            fm2[c] = 0.0
        length = 1
        for k in range(nseg):
            while length < seg_len[k]:
                for c in range(pcols - length):
                    v = padded[s, c + length]
                    if not math.isnan(v):
                        n1 = fn[c] + 1.0
                        d = v - fmean[c]
                        fmean[c] += d / n1
                        fm2[c] += d * (v - fmean[c])
                        fn[c] = n1
                length += 1
            i = s - h - seg_dy[k]
            if 0 <= i < rows:
                off = h + seg_a[k]
                for j in range(cols):
                    nb = fn[j + off]
                    if nb == 0.0:
                        continue
                    na = on[i, j]
                    if na == 0.0:
                        on[i, j] = nb
                        omean[i, j] = fmean[j + off]
                        om2[i, j] = fm2[j + off]
                    else:
                        n = na + nb
                        d = fmean[j + off] - omean[i, j]
                        omean[i, j] += d * nb / n
                        om2[i, j] += fm2[j + off] + d * d * na * nb / n
                        on[i, j] = n
    out = np.empty((rows, cols), dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = math.sqrt(om2[i, j] / on[i, j]) if on[i, j] > 0.0 else np.nan
    return out


# integer classes spanning at most this many values are coded by a lookup table instead of a sort
_DIRECT_CODE_SPAN = 1 << 20


@numba.njit(nogil=True, cache=True)
def _class_codes(padded):
    """Sorted distinct valid values and each cell's index among them (−1 for NaN)."""
    prows, pcols = padded.shape
    lo = np.inf
    hi = -np.inf
    integral = True
    for r in range(prows):
        for c in range(pcols):
            v = padded[r, c]
            if not math.isnan(v):
                lo = min(lo, v)
                hi = max(hi, v)
                if integral and v != math.floor(v):
                    integral = False
    codes = np.full((prows, pcols), -1, dtype=np.int64)
    if lo > hi:
        return np.empty(0, dtype=np.float64), codes
    if integral and hi - lo < _DIRECT_CODE_SPAN:
        # O(n) for class rasters: mark the values present, number them in order
        span = int(hi - lo) + 1
        lut = np.zeros(span, dtype=np.int64)
        for r in range(prows):
            for c in range(pcols):
                v = padded[r, c]
                if not math.isnan(v):
                    lut[int(v - lo)] = 1
        nclass = 0
        for k in range(span):
            if lut[k] == 1:
                lut[k] = nclass
                nclass += 1
            else:
                lut[k] = -1
        classes = np.empty(nclass, dtype=np.float64)
        for k in range(span):
            if lut[k] >= 0:
                classes[lut[k]] = lo + k
        for r in range(prows):
            for c in range(pcols):
                v = padded[r, c]
                if not math.isnan(v):
                    codes[r, c] = lut[int(v - lo)]
        return classes, codes
    flat = padded.ravel()
    order = np.argsort(flat)  # NaN sorts last; the order among equal values does not matter
    classes = np.empty(flat.shape[0], dtype=np.float64)
    nclass = 0
    codes_flat = np.full(flat.shape[0], -1, dtype=np.int64)
    for k in range(flat.shape[0]):
        v = flat[order[k]]
        if math.isnan(v):
            break
        if nclass == 0 or v != classes[nclass - 1]:
            classes[nclass] = v
            nclass += 1
        codes_flat[order[k]] = nclass - 1
    return classes[:nclass].copy(), codes_flat.reshape(prows, pcols)


@numba.njit(nogil=True, cache=True)
def _window_majority(padded, h, seg_dy, seg_a, seg_len):
    """Most frequent valid value of every footprint window, ties to the smallest value; NaN where none.

    Sliding histogram (Huang et al. 1979) over dense class codes: moving one
    column right removes each run's leftmost cell and adds the next one. The
    leader is kept up to date on additions; when the leader loses a cell the
    histogram is rescanned (over the classes or over the window, whichever is
    smaller), so counts are exact integers and the result is exact.
    """
    prows, pcols = padded.shape
    rows = prows - 2 * h
    cols = pcols - 2 * h
    out = np.full((rows, cols), np.nan, dtype=np.float64)
    classes, codes = _class_codes(padded)
    nclass = classes.shape[0]
    if nclass == 0 or rows == 0 or cols == 0:
        return out
    nseg = seg_dy.shape[0]
    window_cells = 0
    for q in range(nseg):
        window_cells += seg_len[q]
    counts = np.zeros(nclass, dtype=np.int64)
    for i in range(rows):
        # start the row with an empty histogram and add the window at j = 0
        for q in range(nseg):
            r = i + h + seg_dy[q]
            c0 = h + seg_a[q]
            for c in range(c0, c0 + seg_len[q]):
                kk = codes[r, c]
                if kk >= 0:
                    counts[kk] += 1
        best = -1
        best_n = 0
        for kk in range(nclass):
            if counts[kk] > best_n:
                best = kk
                best_n = counts[kk]
        for j in range(cols):
            if j > 0:
                dirty = False
                for q in range(nseg):
                    kk = codes[i + h + seg_dy[q], j - 1 + h + seg_a[q]]
                    if kk >= 0:
                        counts[kk] -= 1
                        if kk == best:
                            dirty = True
                for q in range(nseg):
                    kk = codes[i + h + seg_dy[q], j + h + seg_a[q] + seg_len[q] - 1]
                    if kk >= 0:
                        counts[kk] += 1
                        if not dirty:
                            if kk == best:
                                best_n += 1
                            elif counts[kk] > best_n or (counts[kk] == best_n and kk < best):
                                best = kk
                                best_n = counts[kk]
                if dirty:
                    best = -1
                    best_n = 0
                    if nclass <= window_cells:
                        for kk in range(nclass):
                            if counts[kk] > best_n:
                                best = kk
                                best_n = counts[kk]
                    else:
                        for q in range(nseg):
                            r = i + h + seg_dy[q]
                            c0 = j + h + seg_a[q]
                            for c in range(c0, c0 + seg_len[q]):
                                kk = codes[r, c]
                                if kk >= 0 and (counts[kk] > best_n or (counts[kk] == best_n and kk < best)):
                                    best = kk
                                    best_n = counts[kk]
            if best >= 0:
                out[i, j] = classes[best]
        # empty the histogram for the next row by removing the last window
        for q in range(nseg):
            r = i + h + seg_dy[q]
            c0 = cols - 1 + h + seg_a[q]
            for c in range(c0, c0 + seg_len[q]):
                kk = codes[r, c]
                if kk >= 0:
                    counts[kk] -= 1
    return out


STAT_CODES = {"sum": 0, "mean": 1, "max": 2, "min": 3, "std": 4, "majority": 5}


@numba.njit(nogil=True, cache=True)
def focal_statistic(
    padded: np.ndarray,
    h: int,
    seg_dy: np.ndarray,
    seg_a: np.ndarray,
    seg_len: np.ndarray,
    rect_rx: int,
    rect_ry: int,
    stat: int,
    keep_nodata: bool,
) -> np.ndarray:
    """One focal statistic of every cell over a footprint, NaN ignored (ArcGIS FocalStatistics, ignore_nodata=DATA).

    Parameters
    ----------
    padded : (rows + 2h, cols + 2h) float64
        Values padded by ``h`` cells; NaN for nodata and outside the grid.
    h : int
        Padding; every run lies within it.
    seg_dy, seg_a, seg_len : int64 arrays
        The footprint as horizontal runs (module docstring).
    rect_rx, rect_ry : int
        Half-widths when the footprint is a full rectangle (its max and min
        then take the O(1) separable van Herk/Gil–Werman path); −1 otherwise.
    stat : int
        ``STAT_CODES``: 0 sum, 1 mean, 2 max, 3 min, 4 population std,
        5 majority (most frequent value, ties to the smallest).
    keep_nodata : bool
        A NaN centre gives NaN (else it gets its valid neighbours' statistic).

    Returns
    -------
    (rows, cols) float64, NaN where the window holds no valid cell.
    """
    if stat == 0 or stat == 1:
        total, count = _segments_sum_count(padded, h, seg_dy, seg_a, seg_len)
        out = np.empty(total.shape, dtype=np.float64)
        for i in range(total.shape[0]):
            for j in range(total.shape[1]):
                n = count[i, j]
                if n == 0.0:
                    out[i, j] = np.nan
                elif stat == 0:
                    out[i, j] = total[i, j]
                else:
                    out[i, j] = total[i, j] / n
    elif stat == 2 or stat == 3:
        if rect_rx >= 0:
            out = rectangle_extreme(padded, h, rect_rx, rect_ry, stat == 2)
        else:
            out = _segments_extreme(padded, h, seg_dy, seg_a, seg_len, stat == 2)
    elif stat == 4:
        out = _segments_std(padded, h, seg_dy, seg_a, seg_len)
    else:
        out = _window_majority(padded, h, seg_dy, seg_a, seg_len)
    if keep_nodata:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                if math.isnan(padded[i + h, j + h]):
                    out[i, j] = np.nan
    return out
