"""Per-cell trend kernels over a time axis (axis 0 of a stacked block)."""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def theil_sen_mann_kendall(series: np.ndarray, continuity: bool) -> tuple[np.ndarray, np.ndarray]:
    """Theil–Sen slope (per step) and two-sided Mann–Kendall p-value of each cell's series.

    ``series`` is ``(n, cells)`` float64 without NaN. Sources: Sen (1968) —
    the slope is the median of the n(n−1)/2 pairwise slopes, as
    ``scipy.stats.theilslopes``; Mann (1945) / Kendall (1975) — S = Σ sign(yj − yi),
    Var S = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 over groups of t tied values,
    z = (S ∓ 1)/√Var with the continuity correction (``continuity``), else
    S/√Var (then p equals ``scipy.stats.kendalltau(time, y, method="asymptotic")``).
    """
    n, cells = series.shape
    pairs = n * (n - 1) // 2
    slopes = np.empty(pairs)
    sorted_y = np.empty(n)
    base_var = n * (n - 1) * (2 * n + 5) / 18.0
    slope_out = np.empty(cells)
    p_out = np.empty(cells)
    for c in range(cells):
        s = 0.0
        k = 0
        for i in range(n - 1):
            yi = series[i, c]
            for j in range(i + 1, n):
                d = series[j, c] - yi
                slopes[k] = d / (j - i)
                k += 1
                s += 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)
        slope_out[c] = np.median(slopes) if pairs else np.nan
        for i in range(n):
            sorted_y[i] = series[i, c]
        sorted_y.sort()
        ties = 0.0
        run = 1
        for i in range(1, n + 1):
            if i < n and sorted_y[i] == sorted_y[i - 1]:
                run += 1
            else:
                if run > 1:
                    ties += run * (run - 1) * (2 * run + 5)
                run = 1
        var = base_var - ties / 18.0
        if continuity:
            s = s - 1.0 if s > 0 else (s + 1.0 if s < 0 else 0.0)
        z = s / math.sqrt(max(var, 1e-300))
        p_out[c] = math.erfc(abs(z) / math.sqrt(2.0))
    return slope_out, p_out
