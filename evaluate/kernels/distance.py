"""Distance kernels: capped exact Euclidean distance and 8-neighbour accumulated cost.

Both work on a block padded by ``halo`` cells and return the unpadded core, so
one call serves the eager path (``halo = 0`` on the whole grid) and every dask
block (ARCHITECTURE.md "Scale", item 3: capped-reach operations are exact with
a finite halo).
"""
from __future__ import annotations

import math

import numba
import numpy as np

# Cell codes of the feature / source masks handed to the kernels (uint8 keeps padded blocks small).
NOT_FEATURE = 0
FEATURE = 1
NODATA = 255


@numba.njit(nogil=True, cache=True)
def capped_edt(
    codes: np.ndarray,
    dx_rows: np.ndarray,
    y_rows: np.ndarray,
    halo: int,
    max_distance: float,
    beyond: float,
) -> np.ndarray:
    """Exact Euclidean distance to the nearest feature cell centre, capped, on a padded block.

    Separable exact EDT: a per-column pass finds the nearest feature row of
    every column (two sweeps), then a per-row pass takes the lower envelope of
    parabolas of Felzenszwalb & Huttenlocher (2012), "Distance transforms of
    sampled functions", Theory of Computing 8, Algorithm 1, with the row's own
    cell width. The squared distance between cells (i, j) and (k, q) is
    ``(dx_rows[i]·(j − q))² + (y_rows[i] − y_rows[k])²``: exact on projected
    grids (constant dx, y = row · dy), and on geographic grids a local
    equirectangular distance measured with the target row's parallel width.

    Parameters
    ----------
    codes : (rows + 2·halo, cols + 2·halo) uint8
        FEATURE, NOT_FEATURE or NODATA per cell (padding is NOT_FEATURE).
    dx_rows : (rows + 2·halo,) float64
        Cell width in metres of every padded row.
    y_rows : (rows + 2·halo,) float64
        North–south position in metres of every padded row's centre (only
        differences are used).
    halo : int
    max_distance : float
        Distances above it become ``beyond``.
    beyond : float
        Value of cells farther than ``max_distance`` (or with no feature at all).

    Returns
    -------
    (rows, cols) float64
        Distance in metres; NaN where the cell's own code is NODATA.
    """
    n_rows, n_cols = codes.shape
    rows = n_rows - 2 * halo
    cols = n_cols - 2 * halo
    out = np.empty((rows, cols), dtype=np.float64)
    if rows <= 0 or cols <= 0:
        return out
    inf = np.inf
    # squared north-south distance to the nearest feature in the same column, core rows only
    g2 = np.empty((rows, n_cols), dtype=np.float64)
    for j in range(n_cols):
        last = -1
        for i in range(n_rows):
            if codes[i, j] == FEATURE:
                last = i
            if i >= halo and i < halo + rows:
                if last >= 0:
                    d = y_rows[i] - y_rows[last]
                    g2[i - halo, j] = d * d
                else:
                    g2[i - halo, j] = inf
        nxt = -1
        for i in range(n_rows - 1, halo - 1, -1):
            if codes[i, j] == FEATURE:
                nxt = i
            if i < halo + rows and nxt >= 0:
                d = y_rows[nxt] - y_rows[i]
                d2 = d * d
                if d2 < g2[i - halo, j]:
                    g2[i - halo, j] = d2
    env = np.empty(n_cols, dtype=np.int64)  # columns whose parabolas form the lower envelope
    bounds = np.empty(n_cols + 1, dtype=np.float64)
    for r in range(rows):
        w = dx_rows[r + halo] * dx_rows[r + halo]
        f = g2[r]
        k = -1
        for q in range(n_cols):
            fq = f[q]
            if fq == inf:
                continue
            if k < 0:
                k = 0
                env[0] = q
                bounds[0] = -inf
                bounds[1] = inf
                continue
            # bounds[0] = -inf stops the pop at the first parabola
            v = env[k]
            s = ((fq + w * q * q) - (f[v] + w * v * v)) / (2.0 * w * (q - v))
            while s <= bounds[k]:
                k -= 1
                v = env[k]
                s = ((fq + w * q * q) - (f[v] + w * v * v)) / (2.0 * w * (q - v))
            k += 1
            env[k] = q
            bounds[k] = s
            bounds[k + 1] = inf
        m = 0
        for c in range(cols):
            p = c + halo
            if codes[r + halo, p] == NODATA:
                out[r, c] = np.nan
                continue
            if k < 0:
                out[r, c] = beyond
                continue
            while bounds[m + 1] < p:
                m += 1
            q = env[m]
            dq = float(p - q)
            dist = math.sqrt(w * dq * dq + f[q])
            out[r, c] = beyond if dist > max_distance else dist
    return out


@numba.njit(nogil=True, cache=True)
def _sift_up(heap: np.ndarray, pos: np.ndarray, key: np.ndarray, at: int) -> None:
    node = heap[at]
    k = key[node]
    while at > 0:
        parent = (at - 1) >> 1
        other = heap[parent]
        if key[other] <= k:
            break
        heap[at] = other
        pos[other] = at
        at = parent
    heap[at] = node
    pos[node] = at


@numba.njit(nogil=True, cache=True)
def _sift_down(heap: np.ndarray, pos: np.ndarray, key: np.ndarray, at: int, size: int) -> None:
    node = heap[at]
    k = key[node]
    while True:
        child = 2 * at + 1
        if child >= size:
            break
        right = child + 1
        if right < size and key[heap[right]] < key[heap[child]]:
            child = right
        other = heap[child]
        if key[other] >= k:
            break
        heap[at] = other
        pos[other] = at
        at = child
    heap[at] = node
    pos[node] = at


@numba.njit(nogil=True, cache=True)
def accumulated_cost(
    sources: np.ndarray,
    resistance: np.ndarray,
    dx_rows: np.ndarray,
    dy_rows: np.ndarray,
    halo: int,
    max_cost: float,
    beyond: float,
) -> np.ndarray:
    """Multi-source least accumulated cost on the 8-neighbour graph (Dijkstra, binary heap).

    ArcGIS ``CostDistance`` semantics (methods.md §9.3 item 3, [K-high]): a
    move between neighbours a, b costs ``length(a, b) · (R_a + R_b) / 2``,
    with length the cell width (east–west), the centre spacing (north–south)
    or the diagonal of the two (diagonal moves, √2 · cellsize on square
    cells). Sources cost 0. Dijkstra (1959) with an indexed binary heap and
    decrease-key; costs above ``max_cost`` are never queued, which both caps
    the result and bounds the work.

    Parameters
    ----------
    sources : (rows + 2·halo, cols + 2·halo) uint8
        1 where a source lies, 0 elsewhere.
    resistance : same shape, float
        Resistance per metre; NaN = barrier / nodata (never entered).
    dx_rows, dy_rows : (rows + 2·halo,) float64
        Cell width and height in metres of every padded row.
    halo : int
    max_cost : float
    beyond : float
        Value of cells whose least cost exceeds ``max_cost`` or that no source reaches.

    Returns
    -------
    (rows, cols) float64
        Accumulated cost; NaN where the resistance is NaN (a source on a
        barrier is no source).
    """
    n_rows, n_cols = resistance.shape
    rows = n_rows - 2 * halo
    cols = n_cols - 2 * halo
    out = np.empty((max(rows, 0), max(cols, 0)), dtype=np.float64)
    if rows <= 0 or cols <= 0:
        return out
    n = n_rows * n_cols
    cost = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.uint8)
    pos = np.full(n, -1, dtype=np.int64)
    heap = np.empty(n, dtype=np.int64)
    size = 0
    for i in range(n_rows):
        for j in range(n_cols):
            if sources[i, j] == 1 and not math.isnan(resistance[i, j]):
                u = i * n_cols + j
                cost[u] = 0.0
                heap[size] = u
                pos[u] = size
                size += 1  # all keys are 0: already a heap
    while size > 0:
        u = heap[0]
        pos[u] = -1
        size -= 1
        if size > 0:
            heap[0] = heap[size]
            pos[heap[0]] = 0
            _sift_down(heap, pos, cost, 0, size)
        done[u] = 1
        i = u // n_cols
        j = u - i * n_cols
        r_u = resistance[i, j]
        c_u = cost[u]
        for di in range(-1, 2):
            ni = i + di
            if ni < 0 or ni >= n_rows:
                continue
            if di == 0:
                step_x = dx_rows[i]
                step_y = 0.0
            else:
                step_x = 0.5 * (dx_rows[i] + dx_rows[ni])
                step_y = 0.5 * (dy_rows[i] + dy_rows[ni])
            diagonal = math.sqrt(step_x * step_x + step_y * step_y)
            for dj in range(-1, 2):
                if di == 0 and dj == 0:
                    continue
                nj = j + dj
                if nj < 0 or nj >= n_cols:
                    continue
                v = ni * n_cols + nj
                if done[v] == 1:
                    continue
                r_v = resistance[ni, nj]
                if math.isnan(r_v):
                    continue
                if di == 0:
                    length = step_x
                elif dj == 0:
                    length = step_y
                else:
                    length = diagonal
                c = c_u + length * (r_u + r_v) / 2.0
                if c > max_cost or c >= cost[v]:
                    continue
                cost[v] = c
                if pos[v] < 0:
                    heap[size] = v
                    pos[v] = size
                    size += 1
                _sift_up(heap, pos, cost, pos[v])
    for r in range(rows):
        for c in range(cols):
            i = r + halo
            j = c + halo
            if math.isnan(resistance[i, j]):
                out[r, c] = np.nan
            else:
                value = cost[i * n_cols + j]
                out[r, c] = beyond if value == np.inf else value
    return out
