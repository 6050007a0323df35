"""Classification kernels: grading by thresholds with the guideline's boundary semantics."""
from __future__ import annotations

import math

import numba
import numpy as np

NODATA_CLASS = 0


@numba.njit(nogil=True, cache=True)
def grade_by_thresholds(values: np.ndarray, thresholds: np.ndarray, larger_is_better: bool) -> np.ndarray:
    """Grade values into classes 1..n+1 by n thresholds with the boundary rules of methods.md §0.2.

    Smaller-is-better (ascending t1 < … < tn, upper-inclusive): class 1 if
    v ≤ t1, class k if t(k−1) < v ≤ tk, class n+1 if v > tn.
    Larger-is-better (descending t1 > … > tn, lower-inclusive): class 1 if
    v ≥ t1, class k if tk ≤ v < t(k−1), class n+1 if v < tn.
    NaN gives class 0 (nodata), masked before grading as §0.3 item 1 requires.
    """
    out = np.empty(values.shape, dtype=np.uint8)
    flat_in = values.ravel()
    flat_out = out.ravel()
    n = thresholds.shape[0]
    for idx in range(flat_in.shape[0]):
        v = flat_in[idx]
        if math.isnan(v):
            flat_out[idx] = NODATA_CLASS
            continue
        k = 0
        if larger_is_better:
            while k < n and v < thresholds[k]:
                k += 1
        else:
            while k < n and v > thresholds[k]:
                k += 1
        flat_out[idx] = k + 1
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
