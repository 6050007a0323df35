"""Hydrology kernels for RUSLE LS: D8 flow direction, (capped) flow accumulation, the LS formula.

Conventions shared by every kernel here:

* D8 codes are ESRI's: 1 E, 2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE; 0 means
  "no direction" (a pit or a flat, or a cell that is not routed); 255 marks nodata
  and, in padded blocks, cells beyond the grid.
* Neighbours are always visited in that code order (E, SE, S, SW, W, NW, N, NE), so
  ties go to the first neighbour in it.
* Step lengths use the cell's own row sizes: ``dx`` east–west, ``dy`` north–south,
  ``hypot(dx, dy)`` on diagonals (on square projected grids: cellsize · 1 or √2, the
  ``d`` of methods.md §0.3 item 8).
"""
from __future__ import annotations

import math

import numba
import numpy as np

NO_DIRECTION = 0
NODATA_DIRECTION = 255
D8_CODES = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=np.uint8)
D8_ROW_OFFSETS = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
D8_COL_OFFSETS = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)

# code → neighbour index 0..7; 8 for "no direction"; -1 for nodata and anything that is not an ESRI D8 code
_NEIGHBOUR_OF_CODE = np.full(256, -1, dtype=np.int64)
_NEIGHBOUR_OF_CODE[D8_CODES] = np.arange(8)
_NEIGHBOUR_OF_CODE[NO_DIRECTION] = 8

# in-degree marker for cells whose flow has already been passed downstream (a real in-degree is ≤ 8)
_DONE = 255

# the reference slope length of the USLE unit plot, m (Wischmeier & Smith 1978)
UNIT_PLOT_LENGTH_M = 22.13


@numba.njit(nogil=True, cache=True)
def d8_direction(padded: np.ndarray, dx_rows: np.ndarray, dy_rows: np.ndarray) -> np.ndarray:
    """D8 flow direction by steepest descent on a block padded by one cell.

    O'Callaghan & Mark (1984); the edge rule is ArcGIS ``Flow Direction`` with
    ``NORMAL`` edges. Each valid cell flows to the neighbour with the largest
    distance-weighted drop ``(z − z_n) / step``, which must be > 0; ties go to the
    first neighbour in ESRI code order. Pits and flats (no neighbour strictly
    lower) get 0: no depression filling or flat resolution is done here. NaN
    neighbours (nodata) are never flowed into. A cell on the grid's edge with no
    strictly lower neighbour inside the grid flows out of the grid, straight out
    of its edge (E before W and S before N when a 1-cell-wide grid has both; the
    diagonal at a corner).

    Parameters
    ----------
    padded : (rows + 2, cols + 2) float array
        Elevation, NaN for nodata and +inf for cells beyond the grid's edge (the
        caller must turn non-finite data into NaN first).
    dx_rows, dy_rows : (rows + 2,) float64
        Cell width and height in metres of every padded row.

    Returns
    -------
    (rows, cols) uint8
        ESRI D8 codes, 0 for none, 255 for nodata.
    """
    rows = padded.shape[0] - 2
    cols = padded.shape[1] - 2
    out = np.empty((rows, cols), dtype=np.uint8)
    for i in range(rows):
        dx = dx_rows[i + 1]
        dy = dy_rows[i + 1]
        diagonal = math.sqrt(dx * dx + dy * dy)
        for j in range(cols):
            # float64 drops: a float32 difference could round two different drops into a tie
            z = np.float64(padded[i + 1, j + 1])
            if not math.isfinite(z):
                out[i, j] = NODATA_DIRECTION
                continue
            best = 0.0
            code = NO_DIRECTION
            on_edge = False
            for k in range(8):
                dr = D8_ROW_OFFSETS[k]
                dc = D8_COL_OFFSETS[k]
                zn = np.float64(padded[i + 1 + dr, j + 1 + dc])
                if math.isinf(zn):
                    on_edge = True
                    continue
                if math.isnan(zn):
                    continue
                step = dx if dr == 0 else (dy if dc == 0 else diagonal)
                drop = (z - zn) / step
                if drop > best:
                    best = drop
                    code = D8_CODES[k]
            if code == NO_DIRECTION and on_edge:
                out_dc = 1 if math.isinf(padded[i + 1, j + 2]) else (-1 if math.isinf(padded[i + 1, j]) else 0)
                out_dr = 1 if math.isinf(padded[i + 2, j + 1]) else (-1 if math.isinf(padded[i, j + 1]) else 0)
                for k in range(8):
                    if D8_ROW_OFFSETS[k] == out_dr and D8_COL_OFFSETS[k] == out_dc:
                        code = D8_CODES[k]
            out[i, j] = code
    return out


@numba.njit(nogil=True, cache=True)
def d8_accumulation(fdir: np.ndarray, halo: int, cap: int) -> np.ndarray:
    """D8 flow accumulation in cells, counting the cell itself, on a block padded by ``halo``.

    Every valid cell of the padded block starts with 1 and passes its total to
    its D8 receiver when that receiver lies in the block and is valid (flow into
    nodata, out of the grid or out of the block ends there). Cells are
    processed in topological order (each upstream path is walked once, Kahn's
    order without a queue), so the cost is linear in the block size. With
    ``cap > 0`` the result is ``min(count, cap)``; a cap of at most ``halo + 1``
    makes the count exact for the block's core whatever lies beyond the halo
    (any upstream path that leaves the halo has ≥ ``halo + 1`` cells inside it).

    Parameters
    ----------
    fdir : (rows + 2·halo, cols + 2·halo) uint8
        ESRI D8 codes; 255 (or any non-D8 value) for nodata and beyond the grid.
        Must be acyclic (true of steepest-descent directions); cells on a cycle
        keep partial counts.
    halo : int
    cap : int
        0 for no cap.

    Returns
    -------
    (rows, cols) uint32
        The count, 0 for nodata.
    """
    rows_p, cols_p = fdir.shape
    n = rows_p * cols_p
    flat = fdir.ravel()
    acc = np.zeros(n, dtype=np.uint32)
    indegree = np.zeros(n, dtype=np.uint8)
    receiver = np.full(n, -1, dtype=np.int64)
    for idx in range(n):
        k = _NEIGHBOUR_OF_CODE[flat[idx]]
        if k < 0:
            continue
        acc[idx] = 1
        if k == 8:
            continue
        r = idx // cols_p + D8_ROW_OFFSETS[k]
        c = idx % cols_p + D8_COL_OFFSETS[k]
        if r < 0 or r >= rows_p or c < 0 or c >= cols_p:
            continue
        target = r * cols_p + c
        if _NEIGHBOUR_OF_CODE[flat[target]] < 0:
            continue
        receiver[idx] = target
    for idx in range(n):
        if receiver[idx] >= 0:
            indegree[receiver[idx]] += 1
    for start in range(n):
        if acc[start] == 0 or indegree[start] != 0:
            continue
        idx = start
        while True:
            indegree[idx] = _DONE
            target = receiver[idx]
            if target < 0:
                break
            acc[target] += acc[idx]
            indegree[target] -= 1
            if indegree[target] != 0:
                break
            idx = target
    rows = rows_p - 2 * halo
    cols = cols_p - 2 * halo
    out = np.empty((rows, cols), dtype=np.uint32)
    for i in range(rows):
        base = (i + halo) * cols_p + halo
        for j in range(cols):
            v = acc[base + j]
            out[i, j] = v if cap <= 0 or v < cap else cap
    return out


@numba.njit(nogil=True, cache=True)
def d8_step_length(code: int, dx: float, dy: float) -> float:
    """Horizontal length of one D8 step in metres: dx (E, W), dy (N, S), hypot(dx, dy) (diagonals).

    A cell without a direction (pit, flat) takes the cardinal step ``dx``: the
    ``d = 1`` of methods.md §0.3 item 8 on square grids.
    """
    if code == 1 or code == 16 or code == NO_DIRECTION:
        return dx
    if code == 4 or code == 64:
        return dy
    return math.sqrt(dx * dx + dy * dy)


@numba.njit(nogil=True, cache=True)
def mccool_m(slope_pct: float) -> float:
    """Slope-length exponent m by slope class (McCool et al. 1989 as used in Chinese practice).

    methods.md §3.2.1 and §0.3 item 8: 0.2 if s < 1 %, 0.3 if 1 ≤ s < 3 %,
    0.4 if 3 ≤ s < 5 %, 0.5 if s ≥ 5 %, with s = 100·tanθ.
    """
    if slope_pct < 1.0:
        return 0.2
    if slope_pct < 3.0:
        return 0.3
    if slope_pct < 5.0:
        return 0.4
    return 0.5


@numba.njit(nogil=True, cache=True)
def liu_s(slope_deg: float) -> float:
    """Slope-steepness factor S (McCool et al. 1987 below 10°, Liu Baoyuan et al. 1994 from 10°).

    methods.md §3.2.1: 10.8·sinθ + 0.03 (θ < 5°), 16.8·sinθ − 0.50
    (5° ≤ θ < 10°), 21.91·sinθ − 0.96 (θ ≥ 10°).
    """
    s = math.sin(math.radians(slope_deg))
    if slope_deg < 5.0:
        return 10.8 * s + 0.03
    if slope_deg < 10.0:
        return 16.8 * s - 0.50
    return 21.91 * s - 0.96


@numba.njit(nogil=True, cache=True)
def slope_length_l(slope_length_m: float, m: float) -> float:
    """L = (λ / 22.13)^m (Wischmeier & Smith 1978; methods.md §3.2.1). λ = 0 gives L = 0."""
    return (slope_length_m / UNIT_PLOT_LENGTH_M) ** m


@numba.njit(nogil=True, cache=True)
def ls_cell(slope_length_m: float, slope_deg: float) -> float:
    """LS of one cell from its slope length λ (m) and slope θ (degrees); NaN in → NaN out.

    methods.md §3.2.1 with §0.3 item 8 (m by slope class of s = 100·tanθ) and
    §11 T19: λ 30 m, θ 12° → m 0.5, L 1.1643, S 3.5953, LS 4.1861.
    """
    if math.isnan(slope_length_m) or math.isnan(slope_deg):
        return math.nan
    m = mccool_m(100.0 * math.tan(math.radians(slope_deg)))
    return slope_length_l(slope_length_m, m) * liu_s(slope_deg)


@numba.njit(nogil=True, cache=True)
def ls_block(
    accumulation: np.ndarray,
    fdir: np.ndarray,
    slope_deg: np.ndarray,
    dx_rows: np.ndarray,
    dy_rows: np.ndarray,
    max_slope_length_m: float,
) -> np.ndarray:
    """RUSLE LS per cell from (capped) D8 accumulation, D8 codes and slope (elementwise).

    λ = min(λmax, (FA − 1) · step), step = :func:`d8_step_length` of the cell's
    own direction (methods.md §0.3 item 8). FA may be capped at any count K
    with (K − 1)·min(dx, dy) ≥ λmax without changing the result. NaN where the
    slope is NaN or FA is 0 (nodata).

    Returns
    -------
    float32 array of the blocks' shape
    """
    rows, cols = accumulation.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for i in range(rows):
        dx = dx_rows[i]
        dy = dy_rows[i]
        for j in range(cols):
            fa = accumulation[i, j]
            theta = slope_deg[i, j]
            if fa == 0 or math.isnan(theta):
                out[i, j] = np.nan
                continue
            length = (float(fa) - 1.0) * d8_step_length(fdir[i, j], dx, dy)
            out[i, j] = ls_cell(min(max_slope_length_m, length), theta)
    return out
