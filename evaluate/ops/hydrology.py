"""Hydrology operators for RUSLE LS: D8 flow direction, capped flow accumulation, LS factor.

Scale (ARCHITECTURE.md "Scale" item 3): flow accumulation is a global problem,
but RUSLE only needs the slope length up to λmax. With D8 routing, an upstream
path that leaves a window of radius H around a cell still has ≥ H + 1 cells
inside it, so ``min(FA, H + 1)`` computed on a block padded by H cells is exact.
Choosing H + 1 = K, the smallest count with (K − 1)·(shortest cell side) ≥ λmax,
makes λ = min(λmax, (FA − 1)·step) exact chunk by chunk: a halo of
⌈λmax / cell⌉ cells on the D8 codes, ⌈λmax / cell⌉ + 1 on the DEM.

Geographic grids: step lengths use the geodesic cell width and height of the
cell's own row (``Grid.cell_size_m``); the halo in cells is fixed for the whole
grid from its shortest cell side, so it is exact on every row (and wider than
needed where cells are larger).
"""
from __future__ import annotations

import math

import dask.array as da
import numpy as np
import xarray as xr

from evaluate.grid import Grid, grid_of
from evaluate.kernels.hydrology import NODATA_DIRECTION, d8_accumulation, d8_direction, ls_block
from evaluate.ops._wrap import map_stencil
from evaluate.ops.terrain import slope

FLOW_DIRECTION_HALO = 1
DEFAULT_MAX_SLOPE_LENGTH_M = 300.0

_D8_ATTRS = {
    "units": "1",
    "long_name": "D8 flow direction (流向)",
    "method": "D8 steepest descent (O'Callaghan & Mark 1984), ESRI codes, ArcGIS NORMAL edges, no depression filling",
    "flag_values": [0, 1, 2, 4, 8, 16, 32, 64, 128],
    "flag_meanings": "none east southeast south southwest west northwest north northeast",
    "nodata": NODATA_DIRECTION,
}


def _is_dask(array: xr.DataArray) -> bool:
    return isinstance(array.data, da.Array)


def capped_accumulation_cells(max_length_m: float, grid: Grid) -> int:
    """The cap K (cells) for flow accumulation: the smallest K with (K − 1)·w ≥ ``max_length_m``.

    ``w`` is the shortest cell side of the grid (geodesic per row on geographic
    grids), so every D8 step is at least ``w`` long and any cell with FA ≥ K has
    a slope length ≥ λmax: capping FA at K does not change a capped λ.
    """
    if not (max_length_m > 0 and math.isfinite(max_length_m)):
        raise ValueError(f"max_length_m must be a positive number of metres, got {max_length_m!r}")
    dx, dy = grid.cell_size_m()
    shortest = float(min(dx.min(), dy.min()))
    steps = math.ceil(max_length_m / shortest)
    if steps * shortest < max_length_m:  # ceil of a rounded-down quotient
        steps += 1
    return steps + 1


def accumulation_halo(max_length_m: float, grid: Grid) -> int:
    """Halo in cells of :func:`flow_accumulation` on D8 codes: K − 1 = ⌈λmax / cell⌉ (one more on a DEM)."""
    return capped_accumulation_cells(max_length_m, grid) - 1


def ls_halo(max_slope_length_m: float, grid: Grid) -> int:
    """Halo in cells of :func:`ls_factor` on the DEM: ⌈λmax / cell⌉ + 1 (ARCHITECTURE.md "Scale" item 3)."""
    return accumulation_halo(max_slope_length_m, grid) + FLOW_DIRECTION_HALO


def flow_direction(dem: xr.DataArray, grid: Grid | None = None) -> xr.DataArray:
    """D8 flow direction (ESRI codes) by steepest descent (halo 1).

    Source: O'Callaghan & Mark (1984) D8; ESRI codes and the edge rule of ArcGIS
    ``Flow Direction`` (``NORMAL``); methods.md §0.3 item 8 (RUSLE λ from D8).

    Each cell flows to the neighbour with the largest drop per metre of
    horizontal distance (E/W: the row's cell width, N/S: its height, diagonals:
    their hypotenuse; geodesic per row on geographic grids). The drop must be
    strictly positive; ties go to the first neighbour in the order E, SE, S, SW,
    W, NW, N, NE. Pits and flats get 0 — no depression filling or flat routing
    is done here (fill the DEM beforehand if needed). Nodata (NaN or ±inf)
    neighbours are never flowed into, and nodata cells get 255. A cell on the
    grid's edge without a strictly lower neighbour inside the grid flows out of
    the grid, straight across its edge (diagonally at a corner).

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation in metres on the run grid, NaN for nodata.
    grid : Grid, optional
        The grid of ``dem``; read from its coordinates and CRS if omitted.

    Returns
    -------
    xarray.DataArray
        uint8 codes 1 E, 2 SE, 4 S, 8 SW, 16 W, 32 NW, 64 N, 128 NE; 0 none; 255 nodata.
    """
    grid = grid or grid_of(dem)
    dx_rows, dy_rows = grid.cell_size_m()
    values = dem if np.issubdtype(dem.dtype, np.floating) else dem.astype(np.float64)
    # +inf is the kernel's marker for "beyond the grid", so no data value may be infinite
    values = values.where(np.isfinite(values))
    return map_stencil(
        d8_direction,
        values,
        FLOW_DIRECTION_HALO,
        row_args=(dx_rows, dy_rows),
        fill=np.inf,
        dtype=np.uint8,
        name="flow_direction",
        attrs=dict(_D8_ATTRS),
    )


def flow_accumulation(
    dem_or_fdir: xr.DataArray,
    max_length_m: float | None,
    grid: Grid | None = None,
) -> xr.DataArray:
    """D8 flow accumulation in cells, counting the cell itself, capped where it reaches ``max_length_m``.

    Source: methods.md §0.3 item 8 (FA = D8 flow accumulation counting the cell
    itself) and ARCHITECTURE.md "Scale" item 3 (capped reach, finite halo).
    The result is ``min(FA, K)`` with K = :func:`capped_accumulation_cells`,
    the smallest count whose slope length (K − 1)·step reaches
    ``max_length_m`` on every cell; it is exact chunk by chunk with a halo of
    :func:`accumulation_halo` cells on D8 codes (one more on a DEM).

    Flow ends where it enters a nodata cell or leaves the grid. Nodata cells
    (NaN DEM, D8 code 255 or any non-D8 value) get 0.

    Parameters
    ----------
    dem_or_fdir : xarray.DataArray
        A uint8 array is read as ESRI D8 codes (as from :func:`flow_direction`,
        which must be acyclic); any other dtype as a DEM in metres, routed with
        :func:`flow_direction`.
    max_length_m : float or None
        The slope length (m) beyond which counts need not be exact, e.g. RUSLE's
        λmax. None gives the uncapped count, on numpy-backed input only: the
        unbounded accumulation is a global problem (ARCHITECTURE.md "Scale"
        item 5) that this operator does not solve out-of-core.
    grid : Grid, optional
        The grid of the input; read from its coordinates and CRS if omitted.

    Returns
    -------
    xarray.DataArray
        uint32 counts, 0 for nodata.
    """
    if dem_or_fdir.dtype == np.uint8:
        fdir = dem_or_fdir
    else:
        fdir = flow_direction(dem_or_fdir, grid)
    if max_length_m is None:
        if _is_dask(fdir):
            raise ValueError(
                "uncapped flow accumulation of a dask array is a global problem (ARCHITECTURE.md Scale item 5); "
                "give max_length_m or compute on a numpy-backed array"
            )
        halo, cap = 0, 0
    else:
        cap = capped_accumulation_cells(max_length_m, grid or grid_of(dem_or_fdir))
        halo = cap - 1

    def kernel(padded):
        return d8_accumulation(np.ascontiguousarray(padded), halo, cap)

    attrs = {
        "units": "cells",
        "long_name": "D8 flow accumulation, counting the cell itself (汇流累积量)",
        "method": "D8, methods.md §0.3 item 8",
        "nodata": 0,
    }
    if max_length_m is not None:
        attrs.update(max_length_m=float(max_length_m), cap_cells=cap)
    return map_stencil(kernel, fdir, halo, fill=NODATA_DIRECTION, dtype=np.uint32, name="flow_accumulation", attrs=attrs)


def ls_factor(
    dem: xr.DataArray,
    max_slope_length_m: float | None = DEFAULT_MAX_SLOPE_LENGTH_M,
    grid: Grid | None = None,
) -> xr.DataArray:
    """RUSLE slope length and steepness factor LS (halo :func:`ls_halo`, ⌈λmax / cell⌉ + 1).

    Source: methods.md §3.2.1 (L = (λ/22.13)^m; S of McCool below 10° and Liu
    Baoyuan et al. 1994 from 10°) and §0.3 item 8 (λ = min(λmax, (FA − 1) ·
    cellsize · d), FA counting the cell itself, d = 1 or √2 by the cell's D8
    direction; m = 0.2/0.3/0.4/0.5 for s < 1, < 3, < 5, ≥ 5 % with
    s = 100·tanθ), [K-med]/[R] λmax = 300 m. This is the Chinese practice
    variant, not InVEST SDR's Desmet–Govers LS (§0.3 item 8: T19 gives 4.19
    here, 3.62 there).

    θ is the Horn slope of :func:`evaluate.ops.slope` (the one agri_land
    grades), D8 directions and accumulation are those of
    :func:`flow_direction` and :func:`flow_accumulation` (no depression
    filling). Cells without a direction (pits, flats) take d = 1. A cell with
    nothing upstream has λ = 0, hence L = 0 and LS = 0, as the formula gives.
    Step lengths use each row's geodesic cell sizes on geographic grids.
    Nodata (NaN) DEM cells give NaN; their neighbours get a Horn slope with the
    centre value standing in for the missing cell and receive no flow from them.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation in metres on the run grid, NaN for nodata.
    max_slope_length_m : float or None
        λmax in metres. None: uncapped, numpy-backed input only.
    grid : Grid, optional
        The grid of ``dem``; read from its coordinates and CRS if omitted.

    Returns
    -------
    xarray.DataArray
        float32 LS (dimensionless), NaN for nodata.
    """
    grid = grid or grid_of(dem)
    slope_deg = slope(dem, grid=grid)
    fdir = flow_direction(dem, grid)
    accumulation = flow_accumulation(fdir, max_slope_length_m, grid)
    dx_rows, dy_rows = grid.cell_size_m()
    cap_m = math.inf if max_slope_length_m is None else float(max_slope_length_m)

    def kernel(fa, codes, theta, dx, dy):
        return ls_block(fa, codes, np.ascontiguousarray(theta), dx, dy, cap_m)

    attrs = {
        "units": "1",
        "long_name": "RUSLE slope length and steepness factor LS (坡长坡度因子)",
        "method": "L McCool m by slope class, S McCool/Liu Baoyuan; λ from D8 accumulation (methods.md §3.2.1, §0.3 item 8)",
        "max_slope_length_m": cap_m,
    }
    # halo 0: an elementwise pass that needs the per-row cell sizes
    return map_stencil(
        kernel,
        [accumulation, fdir, slope_deg],
        0,
        row_args=(dx_rows, dy_rows),
        fill=0,
        dtype=np.float32,
        name="ls_factor",
        attrs=attrs,
    )
