"""Combination kernels: judgement matrices, chained correction rules and factor overlays.

Every kernel takes its layers as a tuple of flat arrays of one dtype (no
stacked copy) and loops layer by layer, in the given order, so results do not
depend on the block; ``zero_nodata[i]`` says that layer i is a class raster
whose 0 is nodata (methods.md §10), otherwise NaN is its nodata.
"""
from __future__ import annotations

import math

import numba
import numpy as np

NODATA_CLASS = 0
DOWNGRADE, UPGRADE, FORCE = 0, 1, 2


@numba.njit(nogil=True, cache=True)
def truthy(condition: np.ndarray) -> np.ndarray:
    """1 where a condition is true (non-zero and not NaN), else 0 — NaN conditions are neutral (§0.2 NoData)."""
    out = np.empty(condition.shape, dtype=np.uint8)
    c = condition.ravel()
    o = out.ravel()
    for i in range(c.shape[0]):
        v = np.float64(c[i])
        o[i] = 1 if (v == v and v != 0.0) else 0
    return out


@numba.njit(nogil=True, cache=True)
def matrix_lookup(grades, matrix: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Look up an n-dimensional judgement matrix (1-based grades; ``matrix`` C-order flattened).

    Source: methods.md §4.4/§4.5/§5.3 and the §10.1 LUT sketch. A grade that
    is NaN, 0, not an integer or outside 1..shape[i] gives 0 (nodata), never a
    wrapped index (§0.3 item 1).
    """
    n = len(grades)
    m = grades[0].shape[0]
    out = np.empty(m, dtype=matrix.dtype)
    for c in range(m):
        flat = 0
        ok = True
        for i in range(n):
            g = np.float64(grades[i][c])
            if not ((g >= 1.0) & (g <= shape[i]) & (g == math.floor(g))):
                ok = False
                break
            flat = flat * shape[i] + (np.int64(g) - 1)
        out[c] = matrix[flat] if ok else NODATA_CLASS
    return out


@numba.njit(nogil=True, cache=True)
def apply_rules(
    grade: np.ndarray,
    conditions,
    actions: np.ndarray,
    amounts: np.ndarray,
    grade_lo: np.ndarray,
    grade_hi: np.ndarray,
    best: int,
    worst: int,
):
    """Apply correction rules in order, each to the result of the previous ones (chained).

    Source: methods.md §4.6 / §5.8 (chaining R; [C-spj] applied every rule to
    the uncorrected grade — §12.3 item 1). ``conditions`` is a tuple of flat
    uint8 arrays, one per rule. Rule r applies where ``conditions[r]`` is
    non-zero and the current grade lies in
    [grade_lo[r], grade_hi[r]]: DOWNGRADE g ← min(worst, g + n), UPGRADE
    g ← max(best, g − n), FORCE g ← n. Grade 0 (or NaN) is nodata and stays 0.

    Returns
    -------
    grade : uint8
    limiting : uint8, the 1-based index of the last rule that changed the
        cell's grade, 0 if none did (the limiting factor, 限制因子).
    """
    m = grade.shape[0]
    out = np.empty(m, dtype=np.uint8)
    limiting = np.zeros(m, dtype=np.uint8)
    for c in range(m):
        g0 = np.float64(grade[c])
        out[c] = np.uint8(g0) if g0 > 0.0 else NODATA_CLASS
    for k in range(len(conditions)):  # rule by rule, each reading the grade the previous rules left
        condition = conditions[k]
        action = actions[k]
        amount = amounts[k]
        lo = grade_lo[k]
        hi = grade_hi[k]
        for c in range(m):
            g = np.int64(out[c])
            if condition[c] == 0 or g == NODATA_CLASS or g < lo or g > hi:
                continue
            if action == DOWNGRADE:
                new = min(worst, g + amount)
            elif action == UPGRADE:
                new = max(best, g - amount)
            else:
                new = amount
            if new != g:
                out[c] = new
                limiting[c] = k + 1
    return out, limiting


@numba.njit(nogil=True, cache=True)
def weighted_sum(layers, weights: np.ndarray, zero_nodata: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Σ wᵢ·xᵢ per cell into ``out`` (any float dtype), summed in float64 in layer order; NaN where any layer is nodata.

    One pass over the cells with the layers innermost: each input is read
    once and the output written once, instead of a float64 accumulator
    swept once per layer and then cast.
    """
    n = len(layers)
    for c in range(out.shape[0]):
        total = 0.0
        for i in range(n):
            v = np.float64(layers[i][c])
            total += np.nan if (zero_nodata[i] and v == 0.0) else weights[i] * v
        out[c] = total
    return out


@numba.njit(nogil=True, cache=True)
def geometric_mean(layers, zero_nodata: np.ndarray) -> np.ndarray:
    """(Π xᵢ)^(1/n) per cell in float64 (product in layer order); NaN where any layer is nodata or negative.

    Roots of 2, 3 and 4 factors use sqrt / cbrt / sqrt∘sqrt, which are
    correctly rounded, so integer results such as (5·5·5)^(1/3) = 5 come out
    exact (pow(125, 1/3) would give 4.999…).
    """
    n = len(layers)
    m = layers[0].shape[0]
    p = np.ones(m, dtype=np.float64)
    for i in range(n):
        layer = layers[i]
        zero = zero_nodata[i]
        for c in range(m):
            v = np.float64(layer[c])
            p[c] *= np.nan if ((zero and v == 0.0) or v < 0.0) else v
    for c in range(m):
        if n == 2:
            p[c] = math.sqrt(p[c])
        elif n == 3:
            p[c] = np.cbrt(p[c])
        elif n == 4:
            p[c] = math.sqrt(math.sqrt(p[c]))
        elif n > 4:
            p[c] = p[c] ** (1.0 / n)
    return p


@numba.njit(nogil=True, cache=True)
def integrate(layers, zero_nodata: np.ndarray, take_max: bool, nodata: float):
    """Per-cell minimum (or maximum) of the layers and which layer gave it.

    Returns the value (``nodata`` where any layer is nodata) and the 1-based
    index of the first layer holding the extreme (0 where nodata).
    """
    m = layers[0].shape[0]
    best = np.empty(m, dtype=np.float64)
    which = np.zeros(m, dtype=np.uint8)
    bad = np.zeros(m, dtype=np.bool_)
    for i in range(len(layers)):
        layer = layers[i]
        zero = zero_nodata[i]
        for c in range(m):
            v = np.float64(layer[c])
            bad[c] |= math.isnan(v) or (zero and v == 0.0)
            better = (i == 0) or (v > best[c] if take_max else v < best[c])
            if better:
                best[c] = v
                which[c] = i + 1
    for c in range(m):
        if bad[c]:
            best[c] = nodata
            which[c] = 0
    return best, which
