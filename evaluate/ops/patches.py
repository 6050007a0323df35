"""Patch operators: global patch ids, patch areas, small-patch removal, hole filling and GDAL's sieve.

Scale classes (ARCHITECTURE.md "Scale"):

* :func:`label` is a *truly global graph problem* (item 5), solved with the
  dask-image ``label`` pattern: every chunk is labelled on its own, the labels
  and values on its four faces go to one small driver task that links regions
  across faces (and across chunk corners for 8-connectivity), solves the
  links with ``scipy.sparse.csgraph.connected_components`` and numbers the
  patches; each chunk is then relabelled with a lookup. Nothing is computed
  while the graph is built.
* :func:`patch_area` is a *global reduction* (item 4): only patches that touch
  a chunk's border can continue in another chunk, so each chunk sends the
  exact area sums of those to the driver and keeps its interior patches local.
* :func:`remove_small_patches` and :func:`fill_small_holes` are *capped-reach*
  (item 3): a region below the threshold area has fewer than
  ``small_patch_halo`` cells, so a halo of that many cells decides it exactly.
* :func:`sieve` needs the global patch ids and sizes (which neighbour is the
  largest is global) and follows GDAL's chains of biggest neighbours, which
  can run across any number of chunks: it is exact for every chunking through
  a driver task over the small polygons only.

Memory: the driver tasks hold per-patch data — 8 bytes per chunk-local region
for :func:`label`, ~40 bytes per patch cut by a chunk seam for
:func:`patch_area`, ~40 bytes per polygon below the threshold for
:func:`sieve` — never per-cell data. As with every two-pass operation, dask
keeps the input blocks until the second pass has used them; a runner that
must stay out of core persists the input (e.g. to Zarr) first.

Areas are exact per-row cell areas (``Grid.cell_area_m2``: ellipsoidal on
geographic grids), summed with integer limbs so that a patch's area has the
same bits whatever the chunking (see ``evaluate.kernels.patches``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Sequence

import dask.array as da
import numpy as np
import xarray as xr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from evaluate.grid import SQUARE_METRES_PER_HA, SQUARE_METRES_PER_MU, Grid, grid_of
from evaluate.kernels.patches import (
    AREA_LIMBS,
    LIMB_BITS,
    best_of_runs,
    label_block,
    limbs_to_float,
    piece_limb_sums,
    resolve_sieve_chains,
    sieve_candidates,
    small_pieces_mask,
)
from evaluate.ops._wrap import _like, map_stencil

# label and patch_area need no halo: chunks are joined on the driver (global, ARCHITECTURE "Scale" items 4-5);
# the sieve's neighbour pass reads one cell around each chunk; small-patch removal and hole filling use
# small_patch_halo(threshold, cell areas) cells
LABEL_HALO = 0
PATCH_AREA_HALO = 0
SIEVE_NEIGHBOUR_HALO = 1

#: square metres per area unit accepted by the patch and zonal operators; "cells" counts cells
AREA_UNITS = {"m2": 1.0, "ha": SQUARE_METRES_PER_HA, "mu": SQUARE_METRES_PER_MU, "km2": 1_000_000.0, "cells": None}

_INT32_MAX = np.iinfo(np.int32).max


# helpers ------------------------------------------------------------------------
def _check_connectivity(connectivity: int) -> None:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")


def _unit_factor(unit: str) -> float | None:
    if unit not in AREA_UNITS:
        raise ValueError(f"unit must be one of {sorted(AREA_UNITS)}, got {unit!r}")
    return AREA_UNITS[unit]


def _kernel_dtype(dtype: np.dtype) -> np.dtype:
    """The few dtypes the kernels are compiled for (keeps numba's cache small)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or dtype == np.uint8:
        return np.dtype(np.uint8)
    if np.issubdtype(dtype, np.integer):
        return np.dtype(np.int32) if dtype.itemsize < 4 or dtype == np.int32 else np.dtype(np.int64)
    if np.issubdtype(dtype, np.floating):
        return np.dtype(np.float64)
    raise TypeError(f"expected a boolean, integer or float raster, got dtype {dtype}")


def _as_kernel_data(data):
    dtype = _kernel_dtype(data.dtype)
    return data if data.dtype == dtype else data.astype(dtype)


def _area_base(row_areas: np.ndarray) -> int:
    """The power of two ``2^base`` of which every row's cell area is an integer multiple (exact summation)."""
    areas = np.asarray(row_areas, dtype=np.float64)
    if not (np.all(np.isfinite(areas)) and np.all(areas > 0)):
        raise ValueError("cell areas must be positive and finite")
    _, exponents = np.frexp(areas)
    base = int(exponents.min()) - 53
    if int(exponents.max()) - base > LIMB_BITS * AREA_LIMBS:
        raise ValueError("cell areas vary too much across the grid for exact summation")
    return base


def _limbs(row_areas: np.ndarray, base: int) -> np.ndarray:
    """Each row's area as ``Σ_k limb[k]·2^(LIMB_BITS·k+base)`` with integer limbs (exact float arithmetic)."""
    multiple = np.ldexp(np.asarray(row_areas, dtype=np.float64).reshape(-1), -base)  # an exact integer < 2^96
    out = np.empty((multiple.shape[0], AREA_LIMBS), dtype=np.int64)
    for k in range(AREA_LIMBS):
        out[:, k] = np.fmod(np.floor(np.ldexp(multiple, -LIMB_BITS * k)), float(1 << LIMB_BITS))
    return out


def _row_areas(array: xr.DataArray, unit: str, grid: Grid | None) -> np.ndarray:
    if AREA_UNITS.get(unit, 0) is None:
        return np.ones(array.shape[0])
    return (grid or grid_of(array)).cell_area_m2()


def _row_column(row_values: np.ndarray, chunks: tuple) -> da.Array:
    """Per-row values as a (rows, 1) dask array that map_blocks broadcasts along x."""
    return da.from_array(np.asarray(row_values, dtype=np.float64)[:, None], chunks=(chunks[0], 1))


def _offsets(sizes: Sequence[int]) -> list[int]:
    return [int(v) for v in np.concatenate([[0], np.cumsum(sizes)[:-1]])]


def _cell(*blocks, summarise, block_id=None, **kwargs) -> np.ndarray:
    return _object_cell(summarise(*blocks, block_id=block_id, **kwargs))


def _per_block(summarise, *arrays: da.Array, **kwargs) -> da.Array:
    """One small Python object per chunk (a global operation's chunk summaries), as an object array.

    :func:`_driver` gathers them into one task.
    """
    nbr, nbc = arrays[0].numblocks
    return da.map_blocks(
        _cell, *arrays, summarise=summarise, chunks=((1,) * nbr, (1,) * nbc), dtype=object, meta=np.empty((0, 0), dtype=object), **kwargs
    )


def _object_cell(value) -> np.ndarray:
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = value
    return cell


def _solve_cell(summaries: np.ndarray, solve=None, axis=None, keepdims=None, **kwargs) -> np.ndarray:
    return _object_cell(solve(summaries, **kwargs))


def _unchanged(summaries: np.ndarray, axis=None, keepdims=None) -> np.ndarray:
    return summaries


def _driver(solve, summaries: da.Array, **kwargs) -> da.Array:
    """The driver task of a global operation: all chunk summaries in, one small object out, as a (1, 1) array.

    A one-level ``da.reduction`` rather than ``map_blocks``: blockwise fusion
    would copy a blockwise driver into every chunk that reads its result (and
    ``dask.delayed`` on array collections makes graph construction slow).
    map_blocks broadcasts the (1, 1) result to every chunk.
    """
    return da.reduction(
        summaries,
        _unchanged,
        partial(_solve_cell, solve=solve, **kwargs),
        axis=(0, 1),
        keepdims=True,
        split_every={0: summaries.numblocks[0], 1: summaries.numblocks[1]},
        concatenate=True,
        dtype=object,
        meta=np.empty((0, 0), dtype=object),
    )


def _padded(data: da.Array, depth: int, fill) -> da.Array:
    return da.overlap.overlap(data, depth={0: depth, 1: depth}, boundary={0: fill, 1: fill})


# label ------------------------------------------------------------------------
def _label_summary(values: np.ndarray, block_id, rows0, cols0, width: int, connectivity: int) -> tuple:
    lab, first = label_block(values, connectivity)
    cols = values.shape[1]
    row0, col0 = rows0[block_id[0]], cols0[block_id[1]]
    keys = (row0 + first // cols) * np.int64(width) + (col0 + first % cols)
    faces = (values[0], lab[0], values[-1], lab[-1], values[:, 0], lab[:, 0], values[:, -1], lab[:, -1])
    # copies, so that the summary does not keep the whole block alive
    return (keys,) + tuple(np.array(f) for f in faces)


def _solve_labels(summaries: np.ndarray, connectivity: int) -> list[list[np.ndarray]]:
    """Driver task: link chunk-local regions across faces and corners, number patches by first cell."""
    nbr, nbc = summaries.shape
    summaries = summaries.tolist()
    counts = np.array([[len(summaries[i][j][0]) for j in range(nbc)] for i in range(nbr)])
    start = np.concatenate([[0], np.cumsum(counts.ravel())]).reshape(-1)
    offset = start[:-1].reshape(nbr, nbc)
    keys = np.concatenate([summaries[i][j][0] for i in range(nbr) for j in range(nbc)])
    a_nodes: list[np.ndarray] = []
    b_nodes: list[np.ndarray] = []

    def link(va, la, oa, vb, lb, ob):
        hit = (la > 0) & (lb > 0) & (va == vb)
        if hit.any():
            a_nodes.append(oa + la[hit].astype(np.int64) - 1)
            b_nodes.append(ob + lb[hit].astype(np.int64) - 1)

    eight = connectivity == 8
    for i in range(nbr):
        for j in range(nbc):
            _, _, _, bv, bl, _, _, rv, rl = summaries[i][j]
            if i + 1 < nbr:
                below = summaries[i + 1][j]
                tv, tl, o2 = below[1], below[2], offset[i + 1, j]
                link(bv, bl, offset[i, j], tv, tl, o2)
                if eight:
                    link(bv[:-1], bl[:-1], offset[i, j], tv[1:], tl[1:], o2)
                    link(bv[1:], bl[1:], offset[i, j], tv[:-1], tl[:-1], o2)
            if j + 1 < nbc:
                right = summaries[i][j + 1]
                lv, ll, o2 = right[5], right[6], offset[i, j + 1]
                link(rv, rl, offset[i, j], lv, ll, o2)
                if eight:
                    link(rv[:-1], rl[:-1], offset[i, j], lv[1:], ll[1:], o2)
                    link(rv[1:], rl[1:], offset[i, j], lv[:-1], ll[:-1], o2)
            if eight and i + 1 < nbr and j + 1 < nbc:
                # diagonal-only contacts at a chunk corner touch neither face pair
                diag = summaries[i + 1][j + 1]
                link(bv[-1:], bl[-1:], offset[i, j], diag[1][:1], diag[2][:1], offset[i + 1, j + 1])
                upper_right, lower_left = summaries[i][j + 1], summaries[i + 1][j]
                link(upper_right[3][:1], upper_right[4][:1], offset[i, j + 1], lower_left[1][-1:], lower_left[2][-1:], offset[i + 1, j])
    total = len(keys)
    if total == 0:
        return [[np.zeros(1, dtype=np.int32) for _ in range(nbc)] for _ in range(nbr)]
    a = np.concatenate(a_nodes) if a_nodes else np.zeros(0, dtype=np.int64)
    b = np.concatenate(b_nodes) if b_nodes else np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(total, total)).tocsr()
    ncomp, comp = connected_components(graph, directed=False)
    if ncomp > _INT32_MAX:
        raise OverflowError(f"{ncomp} patches do not fit int32 patch ids")
    first_cell = np.full(ncomp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_cell, comp, keys)
    rank = np.empty(ncomp, dtype=np.int32)
    rank[np.argsort(first_cell, kind="stable")] = np.arange(1, ncomp + 1, dtype=np.int32)
    final = rank[comp]
    return [[np.concatenate([[0], final[start[i * nbc + j] : start[i * nbc + j + 1]]]).astype(np.int32) for j in range(nbc)] for i in range(nbr)]


def _relabel(values: np.ndarray, luts, connectivity: int, block_id=None) -> np.ndarray:
    lab, _ = label_block(values, connectivity)
    return luts[0, 0][block_id[0]][block_id[1]][lab]


def _label_data(data, connectivity: int):
    values = _as_kernel_data(data)
    if not isinstance(values, da.Array):
        # one block: chunk-local numbering in raster order of first cells is already the global numbering
        lab, first = label_block(np.ascontiguousarray(values), connectivity)
        if len(first) > _INT32_MAX:
            raise OverflowError(f"{len(first)} patches do not fit int32 patch ids")
        return lab
    offsets = {"rows0": _offsets(values.chunks[0]), "cols0": _offsets(values.chunks[1])}
    summaries = _per_block(_label_summary, values, width=values.shape[1], connectivity=connectivity, **offsets)
    luts = _driver(_solve_labels, summaries, connectivity=connectivity)
    return da.map_blocks(_relabel, values, luts, connectivity=connectivity, dtype=np.int32, meta=np.empty((0, 0), dtype=np.int32))


def label(classes: xr.DataArray, connectivity: int = 8, name: str = "patch_id") -> xr.DataArray:
    """Connected patches with global ids: 8- (or 4-) connected regions of equal, valid values.

    Source: methods.md §2.2 item 6 ("8-connected components,
    ``scipy.ndimage.label`` with a 3×3 structure") [R]; the chunked algorithm
    is dask-image's ``label`` (chunk-local labels, face links solved on the
    driver), ARCHITECTURE.md "Scale" item 5.

    A boolean mask gives its True patches; a class raster gives same-class
    regions (cells join only neighbours with an equal value). Cells that are
    0, False or NaN are nodata/background: id 0, never labelled.

    Ids are 1..n numbered in row-major order of each patch's first cell, so
    for a mask they equal ``scipy.ndimage.label(mask, np.ones((3, 3)))[0]``
    exactly, and they are bit-identical for every chunking.

    Parameters
    ----------
    classes : xarray.DataArray
        (y, x) boolean mask or integer/float class raster.
    connectivity : {8, 4}

    Returns
    -------
    xarray.DataArray
        int32 patch ids on the same grid (lazy for dask input: building
        computes nothing).
    """
    _check_connectivity(connectivity)
    data = _label_data(classes.data, connectivity)
    return _like(classes, data, name, {"long_name": "patch id (斑块编号)", "connectivity": connectivity, "nodata": 0})


# patch area -------------------------------------------------------------------
def _measure_pieces(ids: np.ndarray, row_areas: np.ndarray, base: int):
    # equal-id pieces of the block; connected patches make every piece not on the block's border a whole patch
    lab, first = label_block(ids, 8)
    sums, ring = piece_limb_sums(lab, len(first), _limbs(row_areas, base))
    return lab, ids.ravel()[first].astype(np.int64), sums, ring


def _area_summary(ids: np.ndarray, row_areas: np.ndarray, base: int, block_id=None) -> tuple[np.ndarray, np.ndarray]:
    _, gid, sums, ring = _measure_pieces(ids, row_areas, base)
    return gid[ring], sums[ring]


def _solve_areas(summaries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    summaries = summaries.ravel()
    gid = np.concatenate([s[0] for s in summaries])
    sums = np.concatenate([s[1] for s in summaries]).reshape(-1, AREA_LIMBS)
    uniq, inverse = np.unique(gid, return_inverse=True)
    totals = np.zeros((len(uniq), AREA_LIMBS), dtype=np.int64)
    np.add.at(totals, inverse.ravel(), sums)
    return uniq, totals


def _area_cells(ids: np.ndarray, row_areas: np.ndarray, table, base: int, factor: float) -> np.ndarray:
    lab, gid, sums, ring = _measure_pieces(ids, row_areas, base)
    uniq, totals = table[0, 0] if table is not None else (None, None)
    if table is not None and ring.any():
        sums[ring] = totals[np.searchsorted(uniq, gid[ring])]
    areas = limbs_to_float(sums, math.ldexp(1.0, base)) / factor
    return np.concatenate([[np.nan], areas])[lab]


def _patch_measure(ids, row_areas: np.ndarray, factor: float):
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"patch ids must be integers (from label()), got dtype {ids.dtype}")
    ids = _as_kernel_data(ids)
    base = _area_base(row_areas)
    if not isinstance(ids, da.Array):
        block = np.ascontiguousarray(ids)
        # the whole grid is one block: its pieces are whole patches, no table needed
        return _area_cells(block, np.asarray(row_areas, dtype=np.float64)[:, None], None, base, factor)
    rows = _row_column(row_areas, ids.chunks)
    table = _driver(_solve_areas, _per_block(_area_summary, ids, rows, base=base))
    return da.map_blocks(_area_cells, ids, rows, table, base=base, factor=factor, dtype=np.float64, meta=np.empty((0, 0), dtype=np.float64))


def patch_area(labels: xr.DataArray, unit: str = "m2", grid: Grid | None = None, name: str | None = None) -> xr.DataArray:
    """The area of each cell's patch (a global reduction, then a per-cell lookup).

    Source: methods.md §2.2 item 6 ("patch area = Σ cell areas") [R], §0.2
    (areas from cell geometry), §3.8.2 / §4.9 (patch areas in km² and mu).
    On geographic grids every row has its exact ellipsoidal cell area
    (``Grid.cell_area_m2``).

    Parameters
    ----------
    labels : xarray.DataArray
        Integer patch ids as returned by :func:`label`; 0 = no patch. Each id
        must be one connected region (any connectivity): the chunked
        reduction relies on it.
    unit : {"m2", "ha", "mu", "km2", "cells"}
        1 mu = 2000/3 m²; "cells" counts cells.
    grid : Grid, optional
        Read from ``labels`` when omitted (not needed for "cells").

    Returns
    -------
    xarray.DataArray
        float64 area per cell, NaN where the id is 0. Bit-identical for every
        chunking.
    """
    factor = _unit_factor(unit)
    row_areas = _row_areas(labels, unit, grid)
    data = _patch_measure(labels.data, row_areas, 1.0 if factor is None else factor)
    return _like(labels, data, name or f"patch_area_{unit}", {"units": unit, "long_name": "patch area (斑块面积)", "method": "sum of exact per-row cell areas"})


# small patches and holes --------------------------------------------------------
def small_patch_halo(threshold_m2: float, row_areas_m2: np.ndarray) -> int:
    """Halo (cells) that decides every region smaller than ``threshold_m2`` exactly.

    A region of area below the threshold has fewer than
    ``threshold / min(cell area)`` cells, so it cannot reach farther than that
    many cells from any of its cells (ARCHITECTURE.md "Scale" item 3). On
    geographic grids the smallest row's cell area is used: a conservative
    bound for rows with larger cells.
    """
    smallest = float(np.min(row_areas_m2))
    return max(1, math.ceil(threshold_m2 / smallest) + 1) if threshold_m2 > 0 else 1


def _small_regions(mask: xr.DataArray, area: float, unit: str, connectivity: int, grid: Grid | None, patches: bool, edge_fill: int, name: str, attrs: dict) -> xr.DataArray:
    _check_connectivity(connectivity)
    factor = _unit_factor(unit)
    if factor is None:
        raise ValueError("give the area threshold in m2, ha, mu or km2")
    row_areas = (grid or grid_of(mask)).cell_area_m2()
    threshold = float(area) * factor
    halo = small_patch_halo(threshold, row_areas)
    base = _area_base(row_areas)
    limbs, scale = _limbs(row_areas, base), math.ldexp(1.0, base)
    binary = (mask.fillna(0) != 0).astype(np.uint8) if np.issubdtype(mask.dtype, np.floating) else (mask != 0).astype(np.uint8)

    def kernel(padded, *limb_rows):
        row_limbs = np.ascontiguousarray(np.stack(limb_rows, axis=1).astype(np.int64))
        small = small_pieces_mask(padded, row_limbs, scale, threshold, halo, connectivity, patches)
        core = padded[halo : padded.shape[0] - halo, halo : padded.shape[1] - halo] != 0
        return core & ~small if patches else core | small

    row_args = tuple(limbs[:, k].astype(np.float64) for k in range(AREA_LIMBS))
    out = map_stencil(kernel, binary, halo, row_args=row_args, fill=edge_fill, dtype=np.bool_, name=name, attrs=attrs)
    out.attrs["halo_cells"] = halo
    return out


def remove_small_patches(
    mask: xr.DataArray, min_area: float, unit: str = "m2", connectivity: int = 8, grid: Grid | None = None, name: str | None = None
) -> xr.DataArray:
    """Drop patches of a mask whose area is below ``min_area`` (strictly).

    Source: methods.md §3.8.3 item 3 [R] ("极重要 patches smaller than
    ``min_patch_km2`` ... are downgraded"; the caller downgrades the cells this
    removes); semantics of ``skimage.morphology.remove_small_objects`` with
    ``connectivity=2`` (a patch of n equal cells goes when n·a < min_area,
    i.e. ``max_size = ceil(min_area/a) − 1``). Patches cut by the grid's edge
    are measured as they are inside the grid.

    Exact with a halo of :func:`small_patch_halo` cells (declared in the
    result's ``halo_cells`` attribute); patch areas are the exact per-row
    ellipsoidal sums of :func:`patch_area`, so a patch is removed exactly when
    ``patch_area(label(mask)) < min_area`` in m².

    Parameters
    ----------
    mask : xarray.DataArray
        Boolean (or 0/1) mask; 0, False and NaN are background.
    min_area : float
        In ``unit`` ("m2", "ha", "mu" or "km2").
    connectivity : {8, 4}

    Returns
    -------
    xarray.DataArray
        bool mask.
    """
    return _small_regions(
        mask, min_area, unit, connectivity, grid, True, 0, name or "mask", {"long_name": f"patches ≥ {min_area} {unit}", "min_area": min_area, "units": unit}
    )


def fill_small_holes(
    mask: xr.DataArray,
    max_area: float,
    unit: str = "m2",
    connectivity: int = 8,
    edge_holes: bool = False,
    grid: Grid | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Fill holes of a mask whose area is below ``max_area`` (strictly).

    Source: methods.md §3.8.3 item 3 [R] ("fill holes smaller than
    ``min_hole_km2`` enclosed by 极重要"). A hole is a ``connectivity``-connected
    region of background (0, False or NaN). By default a background region
    touching the grid's edge is not enclosed and never filled; with
    ``edge_holes=True`` it is filled when small, which is exactly
    ``skimage.morphology.remove_small_holes(mask, max_size=ceil(max_area/a) − 1,
    connectivity=2)`` on equal-area cells.

    Exact with a halo of :func:`small_patch_halo` cells (``halo_cells``
    attribute of the result).

    Returns
    -------
    xarray.DataArray
        bool mask.
    """
    return _small_regions(
        mask,
        max_area,
        unit,
        connectivity,
        grid,
        False,
        1 if edge_holes else 0,
        name or "mask",
        {"long_name": f"holes < {max_area} {unit} filled", "max_area": max_area, "units": unit},
    )


# sieve --------------------------------------------------------------------------
def _best_neighbour_per_polygon(gid, nb_id, nb_size, nb_value, position):
    """Keep one candidate per small polygon: the biggest neighbour, first visited among equals."""
    order = np.argsort(gid, kind="stable")  # pieces come nearly sorted by id: a cheap sort
    keep = order[best_of_runs(gid[order], nb_size[order], position[order])]
    return gid[keep], nb_id[keep], nb_size[keep], nb_value[keep], position[keep]


def _sieve_summary(ids, sizes, values, threshold, connectivity, rows0, cols0, width, block_id=None):
    pieces, first = label_block(ids, 8)
    sel, nb_id, nb_size, nb_value, position = sieve_candidates(
        ids, sizes, values, pieces, len(first), float(threshold), connectivity, rows0[block_id[0]], cols0[block_id[1]], width
    )
    gid = ids.ravel()[first[sel - 1]].astype(np.int64)
    return _best_neighbour_per_polygon(gid, nb_id, nb_size, nb_value, position)


def _solve_sieve(summaries: np.ndarray, threshold: int):
    summaries = summaries.ravel()
    merged_parts = [np.concatenate([s[k] for s in summaries]) for k in range(5)]
    gid, nb_id, nb_size, nb_value, _ = _best_neighbour_per_polygon(*merged_parts)
    big = nb_size >= threshold
    nxt = np.searchsorted(gid, nb_id)
    if len(gid):
        nxt = np.where((~big) & (nxt < len(gid)) & (gid[np.minimum(nxt, len(gid) - 1)] == nb_id), nxt, -1)
    merged, value = resolve_sieve_chains(nxt.astype(np.int64), big, nb_value)
    return gid[merged], value[merged]


def _sieve_apply(ids, classes, table):
    polygons, values = table[0, 0]
    out = np.array(classes, copy=True)
    if len(polygons):
        # look up pieces, not cells: far fewer binary searches
        pieces, first = label_block(ids, 8)
        piece_ids = ids.ravel()[first]
        at = np.minimum(np.searchsorted(polygons, piece_ids), len(polygons) - 1)
        hit = np.concatenate([[False], polygons[at] == piece_ids])
        new = np.concatenate([[0], values[at]]).astype(out.dtype)
        changed = hit[pieces]
        out[changed] = new[pieces[changed]]
    return out


def sieve(classes: xr.DataArray, threshold_cells: int, connectivity: int = 8, name: str | None = None) -> xr.DataArray:
    """Merge polygons smaller than ``threshold_cells`` into their largest neighbour, as GDAL's sieve.

    Source: ``GDALSieveFilter`` (gdal/alg/gdalsievefilter.cpp), i.e.
    ``rasterio.features.sieve(classes, threshold_cells, mask=classes != 0,
    connectivity=connectivity)`` and ``gdal_sieve.py``; used for the
    small-patch clean-up of class rasters (methods.md §3.8.3 item 3 [R]).

    Semantics (GDAL's): polygons are connected same-value regions; a polygon
    of fewer than ``threshold_cells`` cells takes the value of its largest
    neighbour polygon (largest by original size; among equally large ones the
    first met in GDAL's raster scan); if that neighbour is itself small, the
    chain of largest neighbours is followed to the first polygon of at least
    the threshold; a chain that ends or cycles leaves the polygon unchanged.
    Sizes are not updated as polygons merge (one pass, as GDAL). Cells that
    are 0 or NaN are nodata: never changed, never neighbours, not counted.

    Chunking: exact for every chunking. Which neighbour is largest depends on
    global polygon sizes and the chains can cross any number of chunks, so a
    halo of ``threshold_cells`` alone would not be exact (e.g. a row of
    alternating one-cell polygons all take the value of a large polygon at
    its far end). The operator therefore builds global ids (:func:`label`),
    global sizes (:func:`patch_area` in cells), the biggest-neighbour
    candidates of each chunk with a one-cell halo, and resolves the chains of
    the small polygons on the driver.

    Parameters
    ----------
    classes : xarray.DataArray
        Integer class raster (floats work too, NaN = nodata, but values are
        compared exactly rather than truncated to integers as GDAL does).
    threshold_cells : int
        Polygons with fewer cells are merged.
    connectivity : {8, 4}
        Note rasterio's default is 4.

    Returns
    -------
    xarray.DataArray
        Same dtype as ``classes``.
    """
    _check_connectivity(connectivity)
    threshold = int(threshold_cells)
    data = classes.data
    values = _as_kernel_data(data)
    ids = _label_data(data, connectivity)
    sizes = _patch_measure(ids, np.ones(classes.shape[0]), 1.0)
    width = classes.shape[1]
    attrs = dict(classes.attrs)
    attrs.update({"sieve_threshold_cells": threshold, "connectivity": connectivity})
    chunks = ids.chunks if isinstance(ids, da.Array) else ((classes.shape[0],), (classes.shape[1],))
    offsets = {"rows0": _offsets(chunks[0]), "cols0": _offsets(chunks[1])}
    if not isinstance(ids, da.Array):
        pad = SIEVE_NEIGHBOUR_HALO
        summary = _cell(
            np.pad(ids, pad), np.pad(sizes, pad), np.pad(np.asarray(values), pad),
            summarise=_sieve_summary, block_id=(0, 0), threshold=threshold, connectivity=connectivity, width=width, **offsets,
        )
        out = _sieve_apply(ids, np.asarray(data), _solve_cell(summary, _solve_sieve, threshold=threshold))
        return _like(classes, out, name or classes.name, attrs)
    padded = [_padded(a, SIEVE_NEIGHBOUR_HALO, 0) for a in (ids, sizes, values.rechunk(chunks))]
    summaries = _per_block(_sieve_summary, *padded, threshold=threshold, connectivity=connectivity, width=width, **offsets)
    table = _driver(_solve_sieve, summaries, threshold=threshold)
    out = da.map_blocks(_sieve_apply, ids, data.rechunk(chunks), table, dtype=data.dtype, meta=np.empty((0, 0), dtype=data.dtype))
    return _like(classes, out, name or classes.name, attrs)
