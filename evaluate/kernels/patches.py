"""Patch kernels: connected components, exact patch areas, small-patch removal, GDAL sieve, zonal sums.

All kernels work on one numpy block. The global (chunk-spanning) parts of the
patch operators — merging chunk-face links, summing areas of patches cut by
chunk seams, following sieve chains — are small problems solved by
``evaluate.ops.patches`` on the per-block results returned here.

Exact areas. An area is ``Σ_r n_r·a_r`` over the rows ``r`` a patch covers
(``n_r`` cells of area ``a_r``). To make that sum independent of how a patch is
split into chunks, every row area is written as an exact integer multiple of a
power of two, ``a_r = M_r·2^e``, and ``M_r`` is split into ``AREA_LIMBS``
limbs of ``LIMB_BITS`` bits. Blocks add integer limbs (exact, associative),
and one deterministic conversion (:func:`limbs_to_float`) turns the summed
limbs into a float. So a patch's area has the same bits whatever the chunking.
Limb sums stay exact (int64) for regions of up to 2^39 cells.
"""
from __future__ import annotations

import numba
import numpy as np

LIMB_BITS = 24
AREA_LIMBS = 4
_LIMB_MASK = (1 << LIMB_BITS) - 1


@numba.njit(nogil=True, cache=True)
def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression keeps later finds O(1)
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@numba.njit(nogil=True, cache=True)
def label_block(values: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected regions of equal, valid values in one block (two-pass union–find).

    A cell is valid when it is neither 0 nor NaN; valid cells join a region
    when they are 4- or 8-adjacent (``connectivity``) and hold the same value,
    so a boolean mask gives its True patches and a class raster its
    same-class regions (the polygons of GDAL's polygon enumerator and, for a
    mask, ``scipy.ndimage.label`` with a cross or 3×3 structure).

    Returns
    -------
    labels : (rows, cols) int32
        1..n numbered in raster order of each region's first cell, 0 elsewhere.
    first : (n,) int64
        Block-linear index (``row * cols + col``) of each region's first cell.
    """
    rows, cols = values.shape
    lab = np.zeros((rows, cols), dtype=np.int32)
    parent = np.empty(rows * cols + 1, dtype=np.int32)
    eight = connectivity == 8
    nxt = 1
    for i in range(rows):
        for j in range(cols):
            v = values[i, j]
            if not (v == v and v != 0):
                continue
            cur = 0
            if j > 0 and values[i, j - 1] == v:
                cur = lab[i, j - 1]
            if i > 0:
                lo = j - 1 if (eight and j > 0) else j
                hi = j + 1 if (eight and j < cols - 1) else j
                for jj in range(lo, hi + 1):
                    if values[i - 1, jj] == v:
                        other = lab[i - 1, jj]
                        if cur == 0:
                            cur = other
                        elif other != cur:
                            ra = _find(parent, cur)
                            rb = _find(parent, other)
                            if ra < rb:
                                parent[rb] = ra
                            elif rb < ra:
                                parent[ra] = rb
            if cur == 0:
                parent[nxt] = nxt
                cur = nxt
                nxt += 1
            lab[i, j] = cur
    final = np.zeros(nxt, dtype=np.int32)
    first = np.empty(nxt, dtype=np.int64)
    n = 0
    for i in range(rows):
        for j in range(cols):
            provisional = lab[i, j]
            if provisional == 0:
                continue
            if final[provisional] == 0:
                root = _find(parent, provisional)
                if final[root] == 0:
                    n += 1
                    final[root] = n
                    first[n - 1] = i * cols + j
                final[provisional] = final[root]
            lab[i, j] = final[provisional]
    return lab, first[:n].copy()


@numba.njit(nogil=True, cache=True)
def piece_limb_sums(labels: np.ndarray, n: int, row_limbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-region sums of the row-area limbs, and whether each region touches the block's border.

    Parameters
    ----------
    labels : (rows, cols) int32
        Regions 1..n as returned by :func:`label_block`.
    row_limbs : (rows, AREA_LIMBS) int64
        Limbs of each row's cell area (see the module docstring).

    Returns
    -------
    sums : (n, AREA_LIMBS) int64
    ring : (n,) bool
        True for a region with a cell in the first or last row or column.
    """
    rows, cols = labels.shape
    limbs = row_limbs.shape[1]
    sums = np.zeros((n, limbs), dtype=np.int64)
    ring = np.zeros(n, dtype=np.bool_)
    for i in range(rows):
        edge_row = i == 0 or i == rows - 1
        for j in range(cols):
            p = labels[i, j]
            if p == 0:
                continue
            for k in range(limbs):
                sums[p - 1, k] += row_limbs[i, k]
            if edge_row or j == 0 or j == cols - 1:
                ring[p - 1] = True
    return sums, ring


@numba.njit(nogil=True, cache=True)
def limbs_to_float(sums: np.ndarray, scale: float) -> np.ndarray:
    """Exact limb sums → float64 (times ``scale``), by one fixed sequence of operations.

    The limbs are exact integers whatever the order they were added in, so the
    result is bit-identical for every chunking.
    """
    n, limbs = sums.shape
    out = np.empty(n, dtype=np.float64)
    base = float(1 << LIMB_BITS)
    for p in range(n):
        acc = 0.0
        for k in range(limbs - 1, -1, -1):
            acc = acc * base + float(sums[p, k])
        out[p] = acc * scale
    return out


@numba.njit(nogil=True, cache=True)
def small_pieces_mask(
    padded: np.ndarray,
    row_limbs: np.ndarray,
    scale: float,
    threshold: float,
    halo: int,
    connectivity: int,
    keep_value: bool,
) -> np.ndarray:
    """Core cells of regions smaller than ``threshold`` that lie wholly inside a padded block.

    ``padded`` is a boolean-like block padded by ``halo`` cells. Cells equal to
    ``keep_value`` (True: patches; False: holes) are labelled; a region that
    touches the padded block's outer ring may extend beyond it and is treated
    as large. With ``halo`` ≥ the cell count bound of a region below the
    threshold, every small region containing a core cell lies wholly inside,
    so the answer is exact (ARCHITECTURE.md "Scale" item 3).

    Returns
    -------
    (rows, cols) bool for the unpadded core: True where the cell belongs to a
    small region.
    """
    prows, pcols = padded.shape
    work = np.zeros((prows, pcols), dtype=np.uint8)
    for i in range(prows):
        for j in range(pcols):
            if (padded[i, j] != 0) == keep_value:
                work[i, j] = 1
    lab, first = label_block(work, connectivity)
    n = first.shape[0]
    sums, ring = piece_limb_sums(lab, n, row_limbs)
    areas = limbs_to_float(sums, scale)
    small = np.zeros(n + 1, dtype=np.bool_)
    for p in range(n):
        small[p + 1] = (not ring[p]) and areas[p] < threshold
    rows = prows - 2 * halo
    cols = pcols - 2 * halo
    out = np.zeros((rows, cols), dtype=np.bool_)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = small[lab[i + halo, j + halo]]
    return out


@numba.njit(nogil=True, cache=True)
def sieve_candidates(
    ids: np.ndarray,
    sizes: np.ndarray,
    values: np.ndarray,
    pieces: np.ndarray,
    npieces: int,
    threshold: float,
    connectivity: int,
    row0: int,
    col0: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The biggest neighbour of each small polygon seen from one block, GDAL-style.

    Follows ``GDALSieveFilter``'s second pass (gdal/alg/gdalsievefilter.cpp,
    ``CompareNeighbour``): cells are visited in raster order and each cell is
    compared with its upper, upper-left, upper-right (8-connectivity only)
    and left neighbour, in that order; a polygon's biggest neighbour is
    replaced only by a strictly bigger one, so among equally big neighbours
    the first visited wins. A visit is identified by the global position
    ``(row·width + col)·4 + k`` so that per-block results can be merged
    exactly: best = largest size, then smallest position.

    ``ids``, ``sizes``, ``values`` and ``pieces`` are padded by one cell (id 0
    beyond the grid); ``pieces`` numbers the connected equal-id regions of the
    padded ``ids`` block (so per-piece bests can be kept without a hash map).
    Only pairs whose current (lower/right) cell lies in the core are visited,
    so every pair of the grid is visited by exactly one block.

    Returns
    -------
    piece_first, nb_id, nb_size, nb_value, position : arrays over the pieces of
    small polygons that have a neighbour: the padded-block linear index of
    the piece's first cell, and the chosen neighbour polygon's id, size, class
    value and visit position.
    """
    prows, pcols = ids.shape
    best_size = np.full(npieces + 1, -1.0)
    best_pos = np.zeros(npieces + 1, dtype=np.int64)
    best_id = np.zeros(npieces + 1, dtype=np.int64)
    best_val = np.zeros(npieces + 1, dtype=values.dtype)
    di = np.array([-1, -1, -1, 0])
    dj = np.array([0, -1, 1, -1])
    eight = connectivity == 8
    for i in range(1, prows - 1):
        for j in range(1, pcols - 1):
            a = ids[i, j]
            if a == 0:
                continue
            sa = sizes[i, j]
            for k in range(4):
                if (k == 1 or k == 2) and not eight:
                    continue
                ni = i + di[k]
                nj = j + dj[k]
                b = ids[ni, nj]
                if b == 0 or b == a:
                    continue
                sb = sizes[ni, nj]
                pos = ((row0 + i - 1) * width + (col0 + j - 1)) * 4 + k
                if sa < threshold:
                    p = pieces[i, j]
                    if sb > best_size[p] or (sb == best_size[p] and pos < best_pos[p]):
                        best_size[p] = sb
                        best_pos[p] = pos
                        best_id[p] = b
                        best_val[p] = values[ni, nj]
                if sb < threshold:
                    p = pieces[ni, nj]
                    if sa > best_size[p] or (sa == best_size[p] and pos < best_pos[p]):
                        best_size[p] = sa
                        best_pos[p] = pos
                        best_id[p] = a
                        best_val[p] = values[i, j]
    count = 0
    for p in range(1, npieces + 1):
        if best_size[p] >= 0:
            count += 1
    sel = np.empty(count, dtype=np.int64)
    out_id = np.empty(count, dtype=np.int64)
    out_size = np.empty(count, dtype=np.float64)
    out_val = np.empty(count, dtype=values.dtype)
    out_pos = np.empty(count, dtype=np.int64)
    count = 0
    for p in range(1, npieces + 1):
        if best_size[p] >= 0:
            sel[count] = p
            out_id[count] = best_id[p]
            out_size[count] = best_size[p]
            out_val[count] = best_val[p]
            out_pos[count] = best_pos[p]
            count += 1
    return sel, out_id, out_size, out_val, out_pos


@numba.njit(nogil=True, cache=True)
def resolve_sieve_chains(
    next_index: np.ndarray, neighbour_is_big: np.ndarray, neighbour_value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Follow biggest-neighbour chains of small polygons to a polygon of at least the threshold.

    GDALSieveFilter's fix-up loop: a small polygon takes the value of the
    first polygon ≥ threshold along its chain of biggest neighbours; a chain
    that ends (no neighbour) or cycles leaves the polygon unchanged.

    Parameters
    ----------
    next_index : (n,) int64
        Index of the biggest neighbour among the n small polygons, or −1 when
        it is big or missing.
    neighbour_is_big : (n,) bool
    neighbour_value : (n,)
        Class value of the biggest neighbour.

    Returns
    -------
    merged : (n,) bool
    value : (n,) the value taken where merged.
    """
    n = next_index.shape[0]
    state = np.zeros(n, dtype=np.int8)  # 0 unvisited, 1 on the current walk, 2 resolved
    merged = np.zeros(n, dtype=np.bool_)
    value = np.zeros(n, dtype=neighbour_value.dtype)
    path = np.empty(n, dtype=np.int64)
    for start in range(n):
        if state[start] == 2:
            continue
        length = 0
        cur = start
        found = False
        val = neighbour_value[start]
        while True:
            if state[cur] == 2:
                found = merged[cur]
                val = value[cur]
                break
            if state[cur] == 1:  # a cycle of small polygons: GDAL gives up
                break
            state[cur] = 1
            path[length] = cur
            length += 1
            if neighbour_is_big[cur]:
                found = True
                val = neighbour_value[cur]
                break
            if next_index[cur] < 0:
                break
            cur = next_index[cur]
        for q in range(length):
            node = path[q]
            state[node] = 2
            merged[node] = found
            if found:
                value[node] = val
    return merged, value


@numba.njit(nogil=True, cache=True)
def _hash_pair(a: int, b: int, mask: int) -> int:
    # constants below 2**63 keep numba in int64 arithmetic (wrapping multiply)
    h = (a * 0x1E3779B97F4A7C15 + b * 0x42B2AE3D27D4EB4F) & 0x7FFFFFFFFFFFFFFF
    return (h ^ (h >> 29)) & mask


@numba.njit(nogil=True, cache=True)
def _grow(table: np.ndarray) -> np.ndarray:
    bigger = np.zeros((2 * table.shape[0], table.shape[1]), dtype=table.dtype)
    for i in range(table.shape[0]):  # explicit loops: slice assignment is slow for numba to compile
        for j in range(table.shape[1]):
            bigger[i, j] = table[i, j]
    return bigger


@numba.njit(nogil=True, cache=True)
def _slots_for(table: np.ndarray, m: int, cap: int) -> np.ndarray:
    slots = np.full(cap, -1, dtype=np.int64)
    for q in range(m):
        h = _hash_pair(table[q, 0], table[q, 1], cap - 1)
        while slots[h] >= 0:
            h = (h + 1) & (cap - 1)
        slots[h] = q
    return slots


@numba.njit(nogil=True, cache=True)
def zonal_pair_sums(zones: np.ndarray, classes: np.ndarray, row_limbs: np.ndarray) -> np.ndarray:
    """Cell counts and area-limb sums for every (zone, class) pair in a block.

    Pairs with zone 0 or class 0 (nodata) are skipped. An open-addressing hash
    table keeps the pass O(cells) without sorting the block.

    Returns
    -------
    (m, 3 + AREA_LIMBS) int64
        One row per pair: zone, class, cell count, then the area-limb sums.
    """
    rows, cols = zones.shape
    limbs = row_limbs.shape[1]
    cap = 1024
    slots = np.full(cap, -1, dtype=np.int64)
    table = np.zeros((64, 3 + limbs), dtype=np.int64)
    m = 0
    last_z = 0
    last_c = 0
    e = -1
    for i in range(rows):
        for j in range(cols):
            z = zones[i, j]
            c = classes[i, j]
            if z == 0 or c == 0:
                continue
            if e < 0 or z != last_z or c != last_c:
                h = _hash_pair(z, c, cap - 1)
                while slots[h] >= 0 and not (table[slots[h], 0] == z and table[slots[h], 1] == c):
                    h = (h + 1) & (cap - 1)
                if slots[h] >= 0:
                    e = slots[h]
                else:
                    if m == table.shape[0]:
                        table = _grow(table)
                    e = m
                    table[e, 0] = z
                    table[e, 1] = c
                    m += 1
                    slots[h] = e
                    if 2 * m > cap:  # keep the load under 1/2
                        cap *= 2
                        slots = _slots_for(table, m, cap)
                last_z = z
                last_c = c
            table[e, 2] += 1
            for k in range(limbs):
                table[e, 3 + k] += row_limbs[i, k]
    return table[:m].copy()


@numba.njit(nogil=True, cache=True)
def best_of_runs(gid: np.ndarray, size: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Indices of the best candidate of each run of equal ``gid`` (sorted): largest size, then smallest position.

    The comparison of :func:`sieve_candidates`, used to merge candidates of
    one polygon coming from several pieces or chunks.
    """
    n = gid.shape[0]
    keep = np.empty(n, dtype=np.int64)
    m = 0
    i = 0
    while i < n:
        best = i
        j = i + 1
        while j < n and gid[j] == gid[i]:
            if size[j] > size[best] or (size[j] == size[best] and position[j] < position[best]):
                best = j
            j += 1
        keep[m] = best
        m += 1
        i = j
    return keep[:m].copy()
