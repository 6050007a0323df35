"""Classification operators: grading, table reclassification and global class breaks.

Elementwise operators have halo 0 (ARCHITECTURE.md class 1). Class breaks are
global reductions (class 4): for dask input they come back as small lazy dask
arrays built from per-block partial results, so building a graph computes
nothing; for numpy input they are numpy arrays. Every break is identical
whatever the chunking (bit-for-bit: quantile and cumulative-share breaks are
exact order statistics, natural and equal-interval breaks come from exact
integer histograms and exact minima/maxima).

Nodata: NaN in float rasters; class 0 in class rasters (methods.md §10).
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from evaluate.grid import grid_of
from evaluate.kernels import classify as _k
from evaluate.kernels.classify import downgrade_where, grade_by_thresholds
from evaluate.ops._wrap import _is_dask, _like, map_cells

HALO = 0  # every operator here is elementwise; breaks are global reductions
_EPS = 2.0**-53
_CLOSED = {"left": (True, False), "right": (False, True), "both": (True, True), "neither": (False, False)}

Breaks = np.ndarray | da.Array


# ---------------------------------------------------------------- existing graders (used by models.agri_land)
def grade(
    values: xr.DataArray,
    thresholds: Sequence[float],
    better: str = "smaller",
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Grade a continuous layer into ``len(thresholds) + 1`` classes (1 = best), NaN → 0.

    Boundary semantics of methods.md §0.2 (consistent with ArcGIS RemapRange):
    ``better="smaller"`` takes ascending thresholds and is upper-inclusive
    (v ≤ t1 → 1); ``better="larger"`` takes descending thresholds and is
    lower-inclusive (v ≥ t1 → 1).
    """
    t = np.asarray(thresholds, dtype=np.float64)
    if better == "smaller":
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"thresholds for smaller-is-better grading must increase, got {list(thresholds)}")
    elif better == "larger":
        if np.any(np.diff(t) >= 0):
            raise ValueError(f"thresholds for larger-is-better grading must decrease, got {list(thresholds)}")
    else:
        raise ValueError(f"better must be 'smaller' or 'larger', got {better!r}")

    def block(v):
        # float32 stays float32 (compared exactly against float64 thresholds): no float64 copy of the block
        v = np.ascontiguousarray(v) if v.dtype.kind == "f" else np.ascontiguousarray(v, dtype=np.float64)
        return grade_by_thresholds(v, _kernel_thresholds(t), better == "larger")

    return map_cells(block, values, dtype=np.uint8, name=name, attrs=attrs)


def _kernel_thresholds(thresholds: np.ndarray) -> tuple[float, ...] | np.ndarray:
    """A short threshold list as a tuple (the grading kernel unrolls and vectorises over it), a long one as is."""
    return tuple(float(t) for t in thresholds) if len(thresholds) <= 16 else np.ascontiguousarray(thresholds, dtype=np.float64)


def downgrade(grades: xr.DataArray, steps: xr.DataArray, worst: int = 5, name: str | None = None, attrs: dict | None = None) -> xr.DataArray:
    """Downgrade (降级) ``grades`` by ``steps`` per cell, clamped to ``worst``; a negative step marks nodata.

    methods.md §0.2: "Downgrade by n" means g ← min(worst, g + n); a step of
    ``worst`` or more sets the worst grade (直接取最低).
    """

    def block(g, s):
        return downgrade_where(np.ascontiguousarray(g, dtype=np.uint8), np.ascontiguousarray(s, dtype=np.int16), worst)

    return map_cells(block, grades, steps, dtype=np.uint8, name=name, attrs=attrs)


def lookup(classes: xr.DataArray, table: Sequence[int], name: str | None = None, attrs: dict | None = None) -> xr.DataArray:
    """Map class codes 0..len(table)−1 through ``table`` (a small LUT), e.g. class → downgrade steps."""
    lut = np.asarray(table)

    def block(c):
        return lut[c]

    return map_cells(block, classes, dtype=lut.dtype, name=name, attrs=attrs)


# ---------------------------------------------------------------- elementwise with small whole arguments
def _boxed(value) -> np.ndarray:
    box = np.empty((), dtype=object)
    box[()] = value
    return box


def _small_value(value):
    # tables (pandas objects, mappings) go to the function as they are; numbers and sequences as arrays
    return value if isinstance(value, (pd.DataFrame, pd.Series, Mapping)) else np.asarray(value)


def map_cells_with(
    func: Callable[..., np.ndarray],
    *arrays: xr.DataArray,
    small: Sequence[np.ndarray | da.Array] = (),
    dtype: np.dtype | type,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """:func:`~evaluate.ops._wrap.map_cells` plus small arguments handed whole to every block.

    ``func(*blocks, *small)``: ``small`` are 0-d or 1-D numpy or dask arrays
    such as lazily computed class breaks (the second pass of an
    ARCHITECTURE.md class-4 reduction), or ``dask.delayed`` objects (a
    table per admin unit or per patch): ``func`` gets their computed value.
    A lazy small argument makes the result lazy even for numpy rasters;
    nothing is computed here.
    """
    delayed_at = [i for i, s in enumerate(small) if dask.is_dask_collection(s) and not isinstance(s, da.Array)]
    if delayed_at:
        # a delayed object travels as a 0-d object array, unwrapped before func sees it
        small = [da.from_delayed(dask.delayed(_boxed, pure=True)(s), shape=(), dtype=object) if i in delayed_at else s for i, s in enumerate(small)]
        n_arrays, inner = len(arrays), func

        def func(*args):
            return inner(*args[:n_arrays], *[a[()] if i in delayed_at else a for i, a in enumerate(args[n_arrays:])])
    first = arrays[0]
    for other in arrays[1:]:
        if other.shape != first.shape or other.dims != first.dims:
            raise ValueError(f"arrays are not aligned: {first.dims}{first.shape} vs {other.dims}{other.shape}")
    lazy_small = [isinstance(s, da.Array) for s in small]
    if not any(_is_dask(a) for a in arrays) and not any(lazy_small):
        data = func(*[np.asarray(a.data) for a in arrays], *[_small_value(s) for s in small])
        return _like(first, data, name, attrs)
    chunks = next((a.data.chunks for a in arrays if _is_dask(a)), first.shape)
    index = "yxzw"[: first.ndim]
    spare = iter("abcdefghijklmnop")
    args: list = []
    for a in arrays:
        args += [a.data.rechunk(chunks) if _is_dask(a) else da.from_array(np.asarray(a.data), chunks=chunks), index]
    for s, lazy in zip(small, lazy_small):
        if lazy:
            args += [s, "".join(next(spare) for _ in range(s.ndim))]
        else:
            args += [_small_value(s), None]
    data = da.blockwise(func, index, *args, concatenate=True, dtype=dtype, meta=np.empty((0,) * first.ndim, dtype=dtype))
    return _like(first, data, name, attrs)


# ---------------------------------------------------------------- reclassification by a table
def _class_dtype(classes: Sequence[int], default: int) -> np.dtype:
    values = [int(c) for c in classes] + [int(default)]
    for dt in (np.uint8, np.uint16, np.int32):
        info = np.iinfo(dt)
        if all(info.min <= v <= info.max for v in values):
            return np.dtype(dt)
    return np.dtype(np.int64)


def _bound(x, fill: float) -> float:
    return fill if x is None else float(x)


def reclass_table(table: Mapping | Sequence, closed: str | None = None) -> tuple[np.ndarray, ...]:
    """Normalise a reclass table to sorted, validated ranges (lows, highs, low_closed, high_closed, classes).

    See :func:`reclass` for the accepted forms. Raises ``ValueError`` on an
    empty range, overlapping ranges or an unknown ``closed``.
    """
    rows = list(table.items()) if isinstance(table, Mapping) else list(table)
    ranges = []
    for row in rows:
        row = tuple(row)
        if len(row) == 2:
            value, cls = row
            ranges.append((float(value), float(value), True, True, int(cls)))
        elif len(row) in (3, 4):
            low, high, cls = row[:3]
            how = row[3] if len(row) == 4 else closed
            if how not in _CLOSED:
                raise ValueError(
                    f"range {row!r}: say which bounds are included, closed = 'left' | 'right' | 'both' | 'neither' "
                    f"(per row as a 4th item or for the table with closed=), got {how!r}"
                )
            lc, hc = _CLOSED[how]
            ranges.append((_bound(low, -math.inf), _bound(high, math.inf), lc, hc, int(cls)))
        else:
            raise ValueError(f"reclass rows are (value, class), (low, high, class) or (low, high, class, closed), got {row!r}")
    for lo, hi, lc, hc, _ in ranges:
        if math.isnan(lo) or math.isnan(hi) or lo > hi or (lo == hi and not (lc and hc)):
            raise ValueError(f"empty reclass range {lo!r}..{hi!r}")
    ranges.sort(key=lambda r: (r[0], not r[2]))
    for a, b in zip(ranges, ranges[1:]):
        if b[0] < a[1] or (b[0] == a[1] and a[3] and b[2]):
            raise ValueError(f"reclass ranges overlap: {a[:4]} and {b[:4]}")
    cols = list(zip(*ranges)) if ranges else [[], [], [], [], []]
    return (
        np.asarray(cols[0], dtype=np.float64),
        np.asarray(cols[1], dtype=np.float64),
        np.asarray(cols[2], dtype=np.bool_),
        np.asarray(cols[3], dtype=np.bool_),
        np.asarray(cols[4], dtype=np.int64),
    )


def reclass(
    values: xr.DataArray,
    table: Mapping | Sequence,
    *,
    closed: str | None = None,
    default: int = 0,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Reclassify values by a table of exact values and/or ranges (ArcGIS ``Reclassify`` semantics, explicit bounds).

    Source: methods.md §0.2 (boundary semantics) and §10.1 (generic reclass);
    tables whose inequalities mix inclusivity, such as the climate-comfort THI
    classes of §5.6 ([50, 70] → 1; [45, 50) ∪ (70, 75] → 2; …), are written
    row by row.

    Parameters
    ----------
    values : xarray.DataArray
        Any numeric raster; NaN is nodata.
    table : mapping or sequence
        ``{value: class}``, or rows ``(value, class)``, ``(low, high, class)``
        or ``(low, high, class, closed)``. ``low``/``high`` may be None or ±inf
        for open ends. Ranges must not overlap (checked), so row order does not
        matter.
    closed : {"left", "right", "both", "neither"}, optional
        Bound inclusivity of the 3-item range rows; required when there are
        any (there is no silent default). ``"right"`` is §0.2's
        smaller-is-better rule, ``"left"`` its larger-is-better rule.
    default : int
        Class of values that match no row, and of NaN (0 = nodata).

    Returns
    -------
    xarray.DataArray
        The smallest unsigned integer dtype that holds every class (uint8 for
        class codes ≤ 255).
    """
    lows, highs, lc, hc, classes = reclass_table(table, closed)
    dtype = _class_dtype(classes.tolist(), default)
    classes = classes.astype(dtype)

    def block(v):
        return _k.reclass_ranges(np.ascontiguousarray(v), lows, highs, lc, hc, classes, default)

    out_attrs = {"long_name": "reclassified", "nodata": default, "method": "table reclass (methods.md §0.2)"}
    out_attrs.update(attrs or {})
    return map_cells(block, values, dtype=dtype, name=name, attrs=out_attrs)


# ---------------------------------------------------------------- applying breaks
def apply_breaks(
    values: xr.DataArray,
    breaks: Sequence[float] | np.ndarray | da.Array,
    better: str = "smaller",
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Classify by ascending breaks (from a ``*_breaks`` function, lazy or not) with §0.2 semantics.

    Source: methods.md §0.2. n breaks b1 ≤ … ≤ bn give n + 1 classes (uint8):

    * ``better="smaller"`` (upper-inclusive): class 1 if v ≤ b1, k if
      b(k−1) < v ≤ bk, n+1 if v > bn — the quantile / natural-breaks
      convention that a break is the upper bound of its class;
    * ``better="larger"`` (lower-inclusive): class 1 if v ≥ bn, k if
      b(n−k+1) ≤ v < b(n−k+2), n+1 if v < b1.

    NaN values give 0 (nodata, §0.3 item 1); if any break is NaN (an all-nodata
    raster) every cell is 0. Equal breaks make empty classes.
    """
    if better not in ("smaller", "larger"):
        raise ValueError(f"better must be 'smaller' or 'larger', got {better!r}")
    if not isinstance(breaks, da.Array):
        breaks = np.asarray(breaks, dtype=np.float64)
        if breaks.ndim != 1 or np.any(np.diff(breaks) < 0):
            raise ValueError(f"breaks must be a 1-D ascending sequence, got {breaks!r}")
    larger = better == "larger"

    def block(v, b):
        b = np.asarray(b, dtype=np.float64)
        v = np.ascontiguousarray(v) if v.dtype.kind == "f" else np.ascontiguousarray(v, dtype=np.float64)
        if np.isnan(b).any():
            return np.zeros(v.shape, dtype=np.uint8)
        return grade_by_thresholds(v, _kernel_thresholds(b[::-1] if larger else b), larger)

    out_attrs = {"long_name": "class", "nodata": 0, "better": better, "method": "breaks, methods.md §0.2 boundary semantics"}
    out_attrs.update(attrs or {})
    return map_cells_with(block, values, small=(breaks,), dtype=np.uint8, name=name, attrs=out_attrs)


# ---------------------------------------------------------------- global reductions: plumbing
def _delayed(func):
    return dask.delayed(func, pure=True)


def _tree(merge, parts: list, width: int = 8):
    """Combine per-block partial results by a tree of ``merge`` calls (never the whole list at once)."""
    parts = list(parts)
    if len(parts) == 1:
        return _delayed(merge)(parts[0])
    while len(parts) > 1:
        parts = [_delayed(merge)(*parts[i : i + width]) for i in range(0, len(parts), width)]
    return parts[0]


def _blocks(values: xr.DataArray, others: Sequence[xr.DataArray | None] = ()):
    """Delayed aligned blocks of ``values`` (and ``others``), each with its row slice: [(row_slice, v, *o)]."""
    chunks = next((a.data.chunks for a in (values, *others) if a is not None and _is_dask(a)), None)

    def lazy(a):
        if a is None:
            return None
        return a.data.rechunk(chunks) if _is_dask(a) else da.from_array(np.asarray(a.data), chunks=chunks)

    arrays = [lazy(values)] + [lazy(o) for o in others]
    grids = [a.to_delayed() if a is not None else None for a in arrays]
    row_edges = np.cumsum((0,) + chunks[0])
    out = []
    for i in range(len(chunks[0])):
        rows = slice(int(row_edges[i]), int(row_edges[i + 1]))
        for j in range(len(chunks[1])):
            out.append((rows, *[g[i, j] if g is not None else None for g in grids]))
    return out


# ---------------------------------------------------------------- exact rank selection (quantile, cumulative share)
def _block_args(v, q, area_rows):
    v = np.ascontiguousarray(v)
    return v, (v if q is None else np.ascontiguousarray(q)), np.ascontiguousarray(area_rows, dtype=np.float64)


def _hist_part(v, q, area_rows, mode):
    return _k.sparse_histogram(*_block_args(v, q, area_rows), mode)


def _merge_hist(*parts):
    bins = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    sums = np.concatenate([p[2] for p in parts])
    unique, inverse = np.unique(bins, return_inverse=True)
    return unique, np.bincount(inverse, weights=counts, minlength=unique.size).astype(np.int64), np.bincount(inverse, weights=sums, minlength=unique.size)


def _threshold(spec: dict, k: int, total: float) -> float:
    """f·T for a share (§0.3 item 6, float64 as numpy would); k·N/n for a quantile, with k·N exact."""
    if spec["kind"] == "quantile":
        return (spec["targets"][k] * total) / spec["n"]
    return spec["targets"][k] * total


def _bracket(hist, spec: dict) -> np.ndarray:
    """Candidate bin range [lo, hi] per target from the pass-1 histogram (−1, −1: no cell ranked).

    The float bin sums are only approximate (their rounding depends on the
    chunking), so each target's bracket is widened by a rigorous bound on the
    summation error of n non-negative terms, (n − 1)·u·Σ (Higham 2002, §4.2),
    plus the rounding of the threshold itself. Counts are exact integers.
    """
    bins, counts, sums = hist
    t = len(spec["targets"])
    out = np.full((t, 2), -1, dtype=np.int64)
    if bins.size == 0:
        return out
    order = slice(None, None, -1) if spec["descending"] else slice(None)
    b, weights = bins[order], (counts if spec["kind"] == "quantile" else sums)[order]
    after = np.cumsum(weights, dtype=np.float64)
    total = after[-1]
    if spec["kind"] == "quantile":
        margin = 0.0  # counts below 2**53 sum exactly
    else:
        gamma = (counts.sum() + bins.size + 16) * _EPS * 1.01
        margin = 4.0 * (gamma + 4.0 * _EPS) * total
    for k in range(t):
        threshold = _threshold(spec, k, total)
        start = int(np.searchsorted(after, threshold - margin, side="left"))
        end = int(np.searchsorted(after, threshold + margin, side="left"))
        start, end = min(start, b.size - 1), min(end, b.size - 1)
        lo, hi = sorted((int(b[start]), int(b[end])))
        out[k] = lo, hi
    return out


def _intervals(candidates: np.ndarray) -> np.ndarray:
    """The targets' candidate ranges merged into disjoint ascending intervals (what pass 2 gathers)."""
    return _k.candidate_intervals(np.ascontiguousarray(candidates[:, 0]), np.ascontiguousarray(candidates[:, 1]))


def _gather_part(v, q, area_rows, mode, intervals):
    seg, seg_len, seg_count, gv, go, gp, gc = _k.gather_candidates(*_block_args(v, q, area_rows), mode, intervals)
    return {
        "segments": [seg[s, : seg_len[s]].copy() for s in range(seg.shape[0])],
        "segment_count": seg_count,
        "groups": (gv, go, gp, gc),
    }


def _merge_gather(*parts):
    values = np.concatenate([p["groups"][0] for p in parts])
    partials = np.concatenate([p["groups"][2] for p in parts])
    counts = np.concatenate([p["groups"][3] for p in parts])
    offsets, base = [np.zeros(1, dtype=np.int64)], 0
    for p in parts:
        offsets.append(p["groups"][1][1:] + base)
        base += p["groups"][1][-1]
    offsets = np.concatenate(offsets)
    order = np.argsort(values, kind="stable")
    return {
        "segments": [_k.exact_sum(np.concatenate(s)) for s in zip(*[p["segments"] for p in parts])],
        "segment_count": np.sum([p["segment_count"] for p in parts], axis=0),
        "groups": _k.regroup(values, offsets, partials, counts, order),
    }


def _resolve(gathered, candidates, spec: dict) -> np.ndarray:
    """The break per target: the value of the first group, in rank order, whose exact cumulative sum rounds to ≥ threshold.

    The cells ranked before a target's candidate bins are the segments on the
    near side of its interval plus the gathered groups there; all sums exact.
    """
    empty = np.inf if spec["kind"] == "share" else np.nan
    out = np.full(len(spec["targets"]), empty)
    values, offsets, partials, counts = gathered["groups"]
    segments, segment_count = gathered["segments"], gathered["segment_count"]
    total = _k.exact_sum(np.concatenate([*segments, partials]))
    total = _k.round_expansion(total, total.size)
    intervals = _intervals(candidates)
    bins = _k.value_bins(values)
    for k in range(len(spec["targets"])):
        lo, hi = candidates[k]
        if lo < 0:
            continue
        j = int(np.searchsorted(intervals[:, 1], hi, side="left"))  # the interval holding this target's range
        if spec["descending"]:
            near_segments = range(j + 1, len(segments))
            near_groups = np.flatnonzero(bins > hi)
        else:
            near_segments = range(0, j + 1)
            near_groups = np.flatnonzero(bins < lo)
        pieces = [segments[s] for s in near_segments] + [partials[offsets[g] : offsets[g + 1]] for g in near_groups]
        before = _k.exact_sum(np.concatenate(pieces)) if pieces else np.zeros(0)
        ranked_before = sum(int(segment_count[s]) for s in near_segments) + int(counts[near_groups].sum())
        threshold = _threshold(spec, k, total)
        walk = np.flatnonzero((bins >= lo) & (bins <= hi))
        if spec["descending"]:
            walk = walk[::-1]
        if ranked_before > 0 and _k.round_expansion(before, before.size) >= threshold:
            pos = -1
        else:
            pos = _k.first_crossing(before, np.ascontiguousarray(walk), offsets, partials, threshold)
        if pos < 0:
            raise RuntimeError(f"class-break bracketing missed target {spec['targets'][k]!r}; please report (a bug in the error bound)")
        out[k] = values[walk[pos]]
    return out


def _rank_breaks(values, quantity, area_rows, mode, spec) -> Breaks:
    """Exact rank-selection breaks in two passes (histogram bracket, then gather and resolve)."""
    if not _is_dask(values) and (quantity is None or not _is_dask(quantity)):
        v = np.asarray(values.data)
        q = None if quantity is None else np.asarray(quantity.data)
        hist = _merge_hist(_hist_part(v, q, area_rows, mode))
        candidates = _bracket(hist, spec)
        gathered = _merge_gather(_gather_part(v, q, area_rows, mode, _intervals(candidates)))
        return _resolve(gathered, candidates, spec)
    blocks = _blocks(values, (quantity,))
    hist = _tree(_merge_hist, [_delayed(_hist_part)(vb, qb, area_rows[rows], mode) for rows, vb, qb in blocks])
    candidates = _delayed(_bracket)(hist, spec)
    intervals = _delayed(_intervals)(candidates)
    parts = [_delayed(_gather_part)(vb, qb, area_rows[rows], mode, intervals) for rows, vb, qb in blocks]
    breaks = _delayed(_resolve)(_tree(_merge_gather, parts), candidates, spec)
    return da.from_delayed(breaks, shape=(len(spec["targets"]),), dtype=np.float64)


def quantile_breaks(values: xr.DataArray, n: int) -> Breaks:
    """Quantile (equal-count) class breaks: n − 1 ascending values for n classes, exact.

    Break k (k = 1 … n−1) is the empirical k/n-quantile by the inverted CDF,
    i.e. the smallest value x with #{v ≤ x} ≥ k·N/n — always a data value,
    ``np.quantile(values, k/n, method="inverted_cdf")`` up to numpy's float
    rounding of k/n·N. Apply with ``apply_breaks(values, breaks)``
    (upper-inclusive, so class k holds at least its share of cells; ties all
    go to the lower class). Source: methods.md §3.6 ``method="quantile"``,
    ArcGIS "Quantile" classification.

    Non-finite values are ignored; with no finite value the breaks are NaN.
    Computed by an exact two-pass rank selection (a sparse histogram brackets
    each rank, then only the cells of the bracketing bin are gathered), so the
    breaks are identical for any chunking. Lazy (a dask array) for dask input.
    """
    if n < 2:
        raise ValueError(f"need n ≥ 2 classes, got {n}")
    spec = {"kind": "quantile", "descending": False, "targets": tuple(range(1, n)), "n": n}
    rows = np.ones(values.shape[0])
    return _rank_breaks(values, None, rows, _k.COUNT, spec)


def _area_rows(values: xr.DataArray, cell_area) -> np.ndarray:
    rows = values.shape[0]
    if isinstance(cell_area, str):
        if cell_area != "grid":
            raise ValueError(f"cell_area must be None, 'grid', a number or one area per row, got {cell_area!r}")
        return grid_of(values).cell_area_m2()
    area = np.asarray(cell_area, dtype=np.float64)
    if area.ndim == 0:
        area = np.full(rows, float(area))
    if area.shape != (rows,):
        raise ValueError(f"cell_area has shape {area.shape}, expected one area per row ({rows},)")
    if not np.all(np.isfinite(area) & (area > 0)):
        raise ValueError("cell areas must be positive and finite")
    return area


def cumulative_share_breaks(
    values: xr.DataArray,
    quantity: xr.DataArray | None = None,
    cell_area: str | float | np.ndarray | None = None,
    shares: Sequence[float] = (0.5, 0.8),
) -> Breaks:
    """Breaks of the cumulative-contribution rule (累加服务值 50 % / 80 %), one per share, exact.

    Source: methods.md §3.6 [K-high 2017 红线指南; canonical form R] with
    §0.3 item 6. Rank cells by value v descending, accumulate the service
    quantity q in float64 (CS), T = total; the break for share f is v at the
    first rank where CS ≥ f·T (``searchsorted(CS, f*T, side="left")``, no
    tolerance). Ties at a break all fall in the higher class.

    Ranked cells are those with finite v > 0 (and a finite ``quantity`` if
    given); q is

    * ``quantity`` (clipped at 0: a negative quantity is no service) if given;
    * otherwise v × the cell area of its row if ``cell_area`` is given — use
      this when v is a rate per area; ``"grid"`` takes ``Grid.cell_area_m2``
      (exact per-row ellipsoidal areas on EPSG:4490, §0.2 "Areas"), or give a
      number or one area per row;
    * otherwise v itself (equal cell areas).

    Exactness: the cumulative sums are exact (Shewchuk expansions) and rounded
    once to float64, then compared with f·T (T rounded alike) in float64. This
    equals the in-memory numpy answer of §0.3 item 6 whenever its float64
    cumsum is exact (integer or coarse-decimal data), and otherwise differs
    only if f·T lies within a few ulps of a group's cumulative sum (where
    numpy's own answer depends on its sort order among ties); it is identical
    for any chunking. Two passes: a sparse histogram of order-key bins
    brackets each break (widened by a rigorous float error bound), then only
    the cells of the bracketing bins are gathered, grouped by distinct value.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float64, in share order (so descending values). +inf when no cell has
        v > 0 (every valid cell is then class n+1).
    """
    shares = tuple(float(f) for f in shares)
    if not shares or any(not 0.0 < f <= 1.0 for f in shares) or any(b <= a for a, b in zip(shares, shares[1:])):
        raise ValueError(f"shares must increase within (0, 1], got {shares}")
    rows = values.shape[0]
    if quantity is not None:
        if cell_area is not None:
            raise ValueError("give either a quantity raster or a cell_area for v × area, not both")
        if quantity.shape != values.shape:
            raise ValueError(f"quantity shape {quantity.shape} does not match values {values.shape}")
        mode, area = _k.QUANTITY, np.ones(rows)
    elif cell_area is not None:
        mode, area = _k.VALUE_TIMES_AREA, _area_rows(values, cell_area)
    else:
        mode, area = _k.VALUE, np.ones(rows)
    spec = {"kind": "share", "descending": True, "targets": shares}
    return _rank_breaks(values, quantity, area, mode, spec)


def cumulative_share(
    values: xr.DataArray,
    quantity: xr.DataArray | None = None,
    cell_area: str | float | np.ndarray | None = None,
    shares: Sequence[float] = (0.5, 0.8),
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Classify a service surface by cumulative contribution: 1 极重要, 2 重要, 3 一般重要 (methods.md §3.6).

    ECO = 1 if v ≥ t50; 2 if t80 ≤ v < t50; 3 otherwise, including every cell
    with v ≤ 0; 0 (nodata) where v — or ``quantity``, if given — is NaN or
    infinite. With k shares there are k + 1 classes. The breaks are
    :func:`cumulative_share_breaks` (see there for ``quantity``, ``cell_area``
    and exactness); a lazy dask result for dask input, identical classes for
    any chunking. T16: [10, 8, 6, 4, 2] → [1, 1, 2, 3, 3]; T16b: [5, 5, 5, 5] → all 1.
    """
    breaks = cumulative_share_breaks(values, quantity, cell_area, shares)
    has_q = quantity is not None

    def block(v, *rest):
        *q, b = rest
        v = np.ascontiguousarray(v)
        q = np.ascontiguousarray(q[0]) if q else v
        return _k.cumulative_share_classes(v, q, has_q, np.ascontiguousarray(b, dtype=np.float64))

    arrays = (values, quantity) if has_q else (values,)
    out_attrs = {
        "long_name": "cumulative-share class (1 极重要, 2 重要, 3 一般重要)",
        "nodata": 0,
        "shares": list(shares),
        "method": "cumulative contribution, methods.md §3.6 / §0.3 item 6",
    }
    out_attrs.update(attrs or {})
    return map_cells_with(block, *arrays, small=(breaks,), dtype=np.uint8, name=name, attrs=out_attrs)


# ---------------------------------------------------------------- min/max based breaks (equal interval, natural)
def _min_max_part(v):
    return np.array(_k.finite_min_max(np.ascontiguousarray(v)))


def _merge_min_max(*parts):
    stacked = np.array(parts)
    if np.all(np.isnan(stacked[:, 0])):
        return np.array([np.nan, np.nan])
    return np.array([np.nanmin(stacked[:, 0]), np.nanmax(stacked[:, 1])])


def _min_max(values: xr.DataArray):
    if not _is_dask(values):
        return _min_max_part(np.asarray(values.data))
    return _tree(_merge_min_max, [_delayed(_min_max_part)(vb) for _, vb in _blocks(values)])


def _equal_interval(lohi, n):
    lo, hi = lohi
    return np.array([lo + (hi - lo) * k / n for k in range(1, n)], dtype=np.float64)


def equal_interval_breaks(values: xr.DataArray, n: int) -> Breaks:
    """Equal-interval breaks: lo + (hi − lo)·k/n for k = 1 … n−1 over the finite values' range.

    Source: methods.md §3.7 (the [C-spj] ``breaks="spj"`` sensitivity classes
    are equal intervals of [1, 5]) and ArcGIS "Equal Interval". Use with
    ``apply_breaks(values, breaks)`` (upper-inclusive). Non-finite values are
    ignored; all-nodata gives NaN breaks. Min/max are exact, so the breaks are
    identical for any chunking; lazy for dask input.
    """
    if n < 2:
        raise ValueError(f"need n ≥ 2 classes, got {n}")
    lohi = _min_max(values)
    if isinstance(lohi, np.ndarray):
        return _equal_interval(lohi, n)
    return da.from_delayed(_delayed(_equal_interval)(lohi, n), shape=(n - 1,), dtype=np.float64)


def _hist_uniform_part(v, lohi, n_bins):
    return _k.uniform_histogram(np.ascontiguousarray(v), float(lohi[0]), float(lohi[1]), n_bins)


def _merge_uniform(*parts):
    return (
        np.sum([p[0] for p in parts], axis=0),
        np.sum([p[1] for p in parts], axis=0, dtype=np.uint64),
        np.max([p[2] for p in parts], axis=0),
    )


def _jenks_breaks(hist, lohi, n, n_bins):
    counts, offsets, maxima = hist
    if np.isnan(lohi[0]):
        return np.full(n - 1, np.nan)
    occupied = np.flatnonzero(counts)
    # bin means in bin-width units: the within-bin spread adds the same constant to every
    # partition at bin edges, so the programme below is exact Jenks restricted to bin edges
    means = occupied + offsets[occupied].astype(np.float64) / (counts[occupied] * float(_k.POSITION_SCALE))
    if occupied.size <= n:
        ends = np.arange(occupied.size)
    else:
        ends = _k.fisher_jenks(means, counts[occupied].astype(np.float64), n)
    tops = maxima[occupied][ends]
    # fewer occupied bins than classes: the missing classes are empty
    return np.concatenate([tops[:-1], np.full(n - len(tops), tops[-1])])[: n - 1].astype(np.float64)


def natural_breaks(values: xr.DataArray, n: int, bins: int = 1024) -> Breaks:
    """Jenks natural breaks from a fine histogram: n − 1 ascending class upper bounds.

    Source: methods.md §3.6 ``method="natural_breaks"`` (Jenks, 3 classes by
    default in practice); Fisher (1958) optimal grouping, the algorithm of
    ArcGIS "Natural Breaks (Jenks)" and jenkspy. ARCHITECTURE.md class 4: the
    finite values are binned into ``bins`` equal bins over their exact range,
    the Fisher–Jenks dynamic programme partitions the occupied bins (bin
    means weighted by counts: exact Jenks restricted to bin edges), and each break is the largest value in the
    last bin of its class. The breaks are therefore data values, and match the
    exact sort-based Jenks answer within one bin width (range / ``bins``) when
    the optimum is well separated (tested); on near-flat objectives (e.g.
    uniform data) a different, equally good partition may be chosen.
    Histogram counts, maxima and (integer, 2**-30-bin) position sums are exact, so the breaks are identical for any
    chunking. Apply with ``apply_breaks(values, breaks)`` (upper-inclusive).
    Non-finite values are ignored; all-nodata gives NaN breaks; fewer occupied
    bins than classes repeat the top value (empty classes). Lazy for dask input.
    """
    if n < 2:
        raise ValueError(f"need n ≥ 2 classes, got {n}")
    if bins < n:
        raise ValueError(f"need at least as many bins as classes, got bins={bins}, n={n}")
    lohi = _min_max(values)
    if isinstance(lohi, np.ndarray):
        hist = _hist_uniform_part(np.asarray(values.data), lohi, bins)
        return _jenks_breaks(hist, lohi, n, bins)
    hist = _tree(_merge_uniform, [_delayed(_hist_uniform_part)(vb, lohi, bins) for _, vb in _blocks(values)])
    return da.from_delayed(_delayed(_jenks_breaks)(hist, lohi, n, bins), shape=(n - 1,), dtype=np.float64)


# ---------------------------------------------------------------- normalisation
def value_range(values: xr.DataArray) -> Breaks:
    """``[min, max]`` of the finite values (NaN, NaN if none): exact, chunk-independent, lazy for dask input."""
    lohi = _min_max(values)
    if isinstance(lohi, np.ndarray):
        return lohi
    return da.from_delayed(lohi, shape=(2,), dtype=np.float64)


def rescale(
    values: xr.DataArray,
    bounds: Sequence[float] | np.ndarray | da.Array | None = None,
    *,
    clip: bool = True,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Min–max normalisation ``(v − lo) / (hi − lo)`` to [0, 1] (float32, NaN stays NaN).

    Source: methods.md §3.1.2/§3.2.2/§3.3.2/§3.4 (服务能力指数法: every factor
    "min–max normalized to [0,1] over the study area") and §2.2 item 3 (the
    dimidiate-pixel FVC, bounds = NDVI of bare soil and full cover).
    ``bounds`` is ``(lo, hi)`` — numbers or a lazy 2-array such as a
    :func:`quantile_breaks` pair — or None for the layer's own
    :func:`value_range` (a global reduction; chunk-independent). A constant
    layer (hi == lo) gives 0 everywhere.
    """
    if bounds is None:
        bounds = value_range(values)
    elif not isinstance(bounds, da.Array):
        bounds = np.asarray(bounds, dtype=np.float64)
        if bounds.shape != (2,):
            raise ValueError(f"bounds must be (low, high), got {bounds!r}")

    def block(v, b):
        lo, hi = float(b[0]), float(b[1])
        span = hi - lo
        out = (v.astype(np.float64) - lo) / span if span > 0 else np.where(np.isnan(v), np.nan, 0.0)
        if clip:
            out = np.clip(out, 0.0, 1.0)
        return out.astype(np.float32)

    out_attrs = {"long_name": "min–max normalised", "units": "1", "method": "min–max normalisation, methods.md §3.1.2"}
    out_attrs.update(attrs or {})
    return map_cells_with(block, values, small=(bounds,), dtype=np.float32, name=name, attrs=out_attrs)
