"""Focal (moving-window) statistics and the window geometry shared with terrain operators.

Windows are given in metres (methods.md §1.3: "Neighbourhood-window sizes must
be specified in metres and converted to cells"). A window is one fixed
footprint of cells for the whole grid: on projected grids from the CRS cell
size; on geographic grids (EPSG:4490) from the grid's *mean* geodesic cell
width and height over all rows (:func:`mean_cell_size_m`). A fixed footprint
keeps the halo fixed and the result independent of the chunking; on a grid
spanning latitudes φ1..φ2 the east–west extent of a window is then off by at
most cos φ / mean(cos φ) − 1 at the extreme rows (±4 % for 25°N–35°N).
"""
from __future__ import annotations

import math
from typing import Callable

import dask.array as da
import numpy as np
import xarray as xr

from evaluate.grid import Grid, grid_of
from evaluate.kernels.focal import STAT_CODES, focal_statistic
from evaluate.ops._wrap import map_cells, map_stencil

FOCAL_STATS = ("mean", "min", "max", "majority", "sum", "std")
FOCAL_SHAPES = ("square", "circle", "annulus")
# cell centres exactly on a window's boundary count as inside whatever the float noise of the cell size
_BOUNDARY_TOLERANCE = 1e-9


def mean_cell_size_m(grid: Grid) -> tuple[float, float]:
    """(width, height) of a cell in metres: exact on projected grids, the mean over rows on geographic grids."""
    widths, heights = grid.cell_size_m()
    return float(np.mean(widths)), float(np.mean(heights))


def footprint(
    grid: Grid,
    shape: str,
    radius_m: float,
    inner_radius_m: float | None = None,
) -> np.ndarray:
    """The cells of a focal window, as a boolean (2·ry+1, 2·rx+1) mask centred on the focal cell.

    A cell belongs to the window when its centre lies in the shape (ArcGIS
    ``NbrCircle``/``NbrAnnulus`` in map units: "any cell centre encompassed
    ... will be included"), with offsets measured in metres from the focal
    cell's centre using :func:`mean_cell_size_m`:

    * ``"square"``: |east offset| ≤ radius_m and |north offset| ≤ radius_m,
      a square of side 2·⌊radius_m / cell⌋ + 1 cells;
    * ``"circle"``: distance ≤ radius_m;
    * ``"annulus"``: inner_radius_m < distance ≤ radius_m (the inner circle is
      excluded, as in ArcGIS ``NbrAnnulus`` and Linkage Mapper's barrier
      detection, methods.md §9.3 item 7).

    Raises ``ValueError`` for an empty window.
    """
    if shape not in FOCAL_SHAPES:
        raise ValueError(f"shape must be one of {FOCAL_SHAPES}, got {shape!r}")
    if not (radius_m >= 0 and math.isfinite(radius_m)):
        raise ValueError(f"radius_m must be a finite number ≥ 0, got {radius_m!r}")
    if shape == "annulus":
        if inner_radius_m is None:
            raise ValueError("an annulus needs inner_radius_m")
        if not 0 <= inner_radius_m < radius_m:
            raise ValueError(f"inner_radius_m must satisfy 0 ≤ inner_radius_m < radius_m, got {inner_radius_m} and {radius_m}")
    elif inner_radius_m is not None:
        raise ValueError(f"inner_radius_m applies to an annulus only, not to a {shape}")
    dx, dy = mean_cell_size_m(grid)
    reach = radius_m * (1.0 + _BOUNDARY_TOLERANCE)
    rx = int(math.floor(reach / dx))
    ry = int(math.floor(reach / dy))
    oy, ox = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    if shape == "square":
        return np.ones(oy.shape, dtype=bool)
    distance = np.hypot(oy * dy, ox * dx)
    mask = distance <= reach
    if shape == "annulus":
        mask &= distance > inner_radius_m * (1.0 + _BOUNDARY_TOLERANCE)
    if not mask.any():
        raise ValueError(f"the {shape} of radius {radius_m} m (inner {inner_radius_m} m) holds no cell of {dx:.6g} × {dy:.6g} m")
    return mask


def footprint_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A centred footprint mask as horizontal runs (row offset, first column offset, length), int64 arrays sorted by length."""
    ry, rx = mask.shape[0] // 2, mask.shape[1] // 2
    dys, starts, lengths = [], [], []
    for r in range(mask.shape[0]):
        row = np.r_[False, mask[r], False].astype(np.int8)
        edges = np.flatnonzero(np.diff(row))
        for begin, end in zip(edges[0::2], edges[1::2]):
            dys.append(r - ry)
            starts.append(begin - rx)
            lengths.append(end - begin)
    # the kernels grow run sums from short to long: shortest first, a stable order so the sums' order is fixed
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    return tuple(np.ascontiguousarray(np.asarray(a, dtype=np.int64)[order]) for a in (dys, starts, lengths))


def focal_halo(mask: np.ndarray) -> int:
    """The halo a footprint needs: its larger half-width in cells."""
    return max(mask.shape[0] // 2, mask.shape[1] // 2)


def _statistic_dtype(stat: str, dtype: np.dtype) -> np.dtype:
    if stat in ("min", "max", "majority"):
        return np.dtype(dtype)
    return np.result_type(dtype, np.float32)


def focal(
    values: xr.DataArray,
    stat: str = "mean",
    shape: str = "square",
    *,
    radius_m: float,
    inner_radius_m: float | None = None,
    nodata: int | float | None = None,
    fill_nodata: bool = False,
    grid: Grid | None = None,
) -> xr.DataArray:
    """Focal statistic of every cell over a square, circular or annular window given in metres (halo = window radius in cells).

    Semantics of ArcGIS ``FocalStatistics(in, Nbr*, stat, "DATA")`` (the tool
    behind methods.md §2.2 item 2 relief and §9.3 item 7 barrier detection;
    the 3×3 majority smoothing of §3.8.3 item 4): nodata cells in the window
    are ignored, the statistic is over the valid cells (``mean`` = sum / valid
    count, ``std`` = population standard deviation, ``sum`` = sum of the valid
    cells), and a window with no valid cell gives nodata. ``majority`` is the
    most frequent value, ties broken by the smallest value. The window is
    clipped at the grid's edge (cells outside count as nodata). Window
    geometry: :func:`footprint`; on geographic grids from the mean cell size
    (module docstring).

    Parameters
    ----------
    values : xarray.DataArray
        (y, x) layer on the run grid; floats with NaN for nodata, or integer
        / boolean classes (for ``majority``, ``min``, ``max``; the Stack's
        categorical layers are int32 with nodata −1: pass ``nodata=-1``).
    stat : {"mean", "min", "max", "majority", "sum", "std"}
    shape : {"square", "circle", "annulus"}
    radius_m : float
        Half-side of the square, radius of the circle, outer radius of the annulus.
    inner_radius_m : float, optional
        Inner radius of the annulus (cells at exactly this distance are excluded).
    nodata : int or float, optional
        A value that marks nodata in an integer layer (NaN is always nodata).
    fill_nodata : bool
        False (default): a nodata cell stays nodata (methods.md §0.2 "NoData"
        rule). True: it gets the statistic of its valid neighbours, as ArcGIS
        does.
    grid : Grid, optional
        The grid of ``values``; read from its coordinates and CRS if omitted.

    Returns
    -------
    xarray.DataArray
        ``min``/``max``/``majority`` keep the input dtype (integer nodata →
        ``nodata``; integers beyond 2**53 are not exact); ``mean``/``sum``/
        ``std`` are ``result_type(dtype, float32)``. Name ``focal_<stat>``.
    """
    if stat not in FOCAL_STATS:
        raise ValueError(f"stat must be one of {FOCAL_STATS}, got {stat!r}")
    grid = grid or grid_of(values)
    mask = footprint(grid, shape, radius_m, inner_radius_m)
    halo = focal_halo(mask)
    seg_dy, seg_a, seg_len = footprint_runs(mask)
    rect = (mask.shape[1] // 2, mask.shape[0] // 2) if shape == "square" else (-1, -1)
    code = STAT_CODES[stat]
    in_dtype = values.dtype
    units = values.attrs.get("units")
    out_dtype = _statistic_dtype(stat, in_dtype)
    if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
        # elementwise through map_cells, so the input's window source survives (bounded stencil memory)
        probe = np.zeros(1, dtype=in_dtype)
        values = map_cells(lambda v: np.where(v != nodata, v, np.nan), values, dtype=np.where(probe != nodata, probe, np.nan).dtype, attrs=values.attrs)
    integer_out = not np.issubdtype(out_dtype, np.floating)
    # an integer layer without a nodata value has a valid centre in every window: no NaN to replace then
    int_fill = 0 if nodata is None else nodata

    def kernel(padded: np.ndarray) -> np.ndarray:
        result = focal_statistic(
            np.ascontiguousarray(padded, dtype=np.float64), halo, seg_dy, seg_a, seg_len, rect[0], rect[1], code, not fill_nodata
        )
        if integer_out:
            return np.where(np.isnan(result), int_fill, result).astype(out_dtype)
        return result.astype(out_dtype, copy=False)

    attrs = {
        "long_name": f"focal {stat} over a {shape} of radius {radius_m} m",
        "method": "ArcGIS FocalStatistics semantics, nodata ignored",
        "window_cells": int(mask.sum()),
        "halo_cells": halo,
    }
    if units is not None and stat != "sum":
        attrs["units"] = units
    if shape == "annulus":
        attrs["inner_radius_m"] = inner_radius_m
    if integer_out and nodata is not None:
        attrs["nodata"] = nodata
    return map_stencil(kernel, values, halo, dtype=out_dtype, name=f"focal_{stat}", attrs=attrs)


def map_aligned_blocks(
    func: Callable[[np.ndarray], np.ndarray],
    array: xr.DataArray,
    block_shape: tuple[int, int],
    *,
    dtype: np.dtype | type,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Apply ``func`` to pieces of ``array`` whose edges fall on multiples of ``block_shape`` from the grid origin.

    For operations on non-overlapping blocks anchored at the grid origin
    (ArcGIS BlockStatistics): a dask array is rechunked so that no block
    straddles a chunk edge (chunks of a whole number of blocks near the
    caller's chunk size), ``func`` runs per chunk, and the result is
    rechunked back to the caller's chunks. The eager path calls ``func`` on
    the whole array, which is the same computation.
    """
    data = array.data
    if isinstance(data, da.Array):
        aligned = []
        for axis, block in enumerate(block_shape):
            n = data.shape[axis]
            step = block * max(1, round(max(data.chunks[axis]) / block))
            sizes = [step] * (n // step) + ([n % step] if n % step else [])
            aligned.append(tuple(sizes))
        work = data.rechunk(tuple(aligned))
        out = work.map_blocks(func, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
        out = out.rechunk(data.chunks)
    else:
        out = func(np.asarray(data))
    result = xr.DataArray(out, coords=array.coords, dims=array.dims, name=name or array.name)
    result.attrs = dict(attrs or {})
    return result
