"""Distance operators: capped Euclidean distance, accumulated cost distance and travel time.

All three are capped-reach operations (ARCHITECTURE.md "Scale", item 3): a cap
on the distance or cost bounds how far an effect can travel in cells, and a
halo of that many cells makes every dask block exact, so the chunked result
equals the eager one whatever the chunking.
"""
from __future__ import annotations

import math

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine

from evaluate.grid import Grid, coords_of, georeference, grid_of
from evaluate.kernels.distance import FEATURE, NODATA, NOT_FEATURE, accumulated_cost, capped_edt
from evaluate.ops._wrap import map_cells, map_stencil

#: Above this halo (cells) a lazy distance or cost distance refuses to build (cost distance asks for
#: ``analysis_resolution_m``): blocks are merged to at least the halo and padded by it on every side,
#: so each task would hold more than (3 · 2048)² cells.
MAX_HALO_CELLS = 2048


def distance_halo(max_distance_m: float, grid: Grid) -> int:
    """Halo in cells that makes :func:`distance` exact: ⌈max_distance / smallest cell side⌉."""
    dx_rows, dy_rows = grid.cell_size_m()
    return int(math.ceil(max_distance_m / min(dx_rows.min(), dy_rows.min())))


def cost_halo(max_cost: float, min_resistance: float, grid: Grid) -> int:
    """Halo in cells that makes :func:`cost_distance` exact: ⌈max_cost / (cell · r_min)⌉ + 1.

    Every move costs at least (shortest step) · r_min, so a path of cost ≤
    max_cost has at most max_cost / (cell · r_min) moves and stays within that
    many cells (Chebyshev) of the cell it ends in.
    """
    dx_rows, dy_rows = grid.cell_size_m()
    step = min(dx_rows.min(), dy_rows.min())
    return int(math.ceil(max_cost / (step * min_resistance))) + 1


def _row_positions_m(dy_rows: np.ndarray) -> np.ndarray:
    """North–south position of every row centre in metres, from the top row (global, so chunk-independent)."""
    if np.all(dy_rows == dy_rows[0]):
        return np.arange(dy_rows.size, dtype=np.float64) * dy_rows[0]
    spacing = 0.5 * (dy_rows[:-1] + dy_rows[1:])
    return np.concatenate([[0.0], np.cumsum(spacing)])


def _stencil(kernel, arrays: list[xr.DataArray], halo: int, row_args: tuple, fill, dtype, name: str, attrs: dict) -> xr.DataArray:
    """``map_stencil`` for halos of any size, even wider than the grid.

    The eager path runs the kernel once on the whole grid (halo 0: nothing
    lies outside it). The dask path needs the halo along an axis only up to
    that axis' length − 1; ``map_stencil`` takes one halo for both axes and
    dask cannot overlap deeper than an axis is long, so a short axis is padded
    with ``fill`` (no feature / barrier, which changes nothing) and cut off
    again afterwards.
    """
    template = arrays[0]
    if not any(isinstance(a.data, da.Array) for a in arrays):
        return map_stencil(kernel(0), arrays, 0, row_args=row_args, fill=fill, dtype=dtype, name=name, attrs=attrs)
    rows, cols = template.shape
    chunks = next(a.data.chunks for a in arrays if isinstance(a.data, da.Array))
    halo = min(halo, max(rows, cols) - 1)
    extra_rows, extra_cols = max(0, halo - rows), max(0, halo - cols)
    if extra_rows or extra_cols:
        padded = []
        for a in arrays:
            data = a.data if isinstance(a.data, da.Array) else da.from_array(a.data, chunks=chunks)
            if isinstance(fill, float) and np.isnan(fill) and not np.issubdtype(data.dtype, np.floating):
                data = data.astype(np.float64)
            data = da.pad(data, ((0, extra_rows), (0, extra_cols)), mode="constant", constant_values=fill)
            padded.append(xr.DataArray(data, dims=template.dims))
        row_args = tuple(np.pad(np.asarray(arg, dtype=np.float64), (0, extra_rows), mode="edge") for arg in row_args)
        result = map_stencil(kernel(halo), padded, halo, row_args=row_args, fill=fill, dtype=dtype).data
        data = result[:rows, :cols].rechunk(chunks)
        out = xr.DataArray(data, coords=template.coords, dims=template.dims, name=name)
        out.attrs = dict(attrs)
        return out
    return map_stencil(kernel(halo), arrays, halo, row_args=row_args, fill=fill, dtype=dtype, name=name, attrs=attrs)


def _check_halo(halo: int, arrays, grid: Grid, max_halo_cells: int, message: str) -> None:
    """Refuse lazy graphs whose (grid-clipped) halo would merge chunks into huge blocks."""
    arrays = arrays if isinstance(arrays, list) else [arrays]
    lazy = any(isinstance(a.data, da.Array) for a in arrays)
    if lazy and min(halo, max(grid.shape) - 1) > max_halo_cells:
        raise ValueError(f"{message} (more than max_halo_cells={max_halo_cells})")


def _codes_block(values: np.ndarray) -> np.ndarray:
    """NODATA where NaN, FEATURE where nonzero, else NOT_FEATURE."""
    codes = np.where(values != 0, FEATURE, NOT_FEATURE).astype(np.uint8)
    if np.issubdtype(values.dtype, np.floating):
        codes[np.isnan(values)] = NODATA
    return codes


def distance(
    features: xr.DataArray,
    max_distance_m: float,
    *,
    beyond: float = np.inf,
    max_halo_cells: int = MAX_HALO_CELLS,
    grid: Grid | None = None,
) -> xr.DataArray:
    """Euclidean distance in metres from every cell centre to the nearest feature cell centre, capped.

    Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012,
    separable lower envelope of parabolas) with the grid's metric cell width
    and height, so anisotropic cells are exact; it equals
    ``scipy.ndimage.distance_transform_edt(~features, sampling=(dy, dx))``
    wherever that is ≤ ``max_distance_m``. Used for proximity factors such as
    fault distance (methods.md §0.3 item 3, §5.4) and ArcGIS ``EucDistance``
    with a maximum distance. Halo: :func:`distance_halo`,
    ⌈max_distance_m / smallest cell side⌉ cells, which makes every chunk exact
    (ARCHITECTURE.md "Scale" item 3).

    Geographic grids (EPSG:4490): the north–south offset is the meridian arc
    between row centres and the east–west offset is counted in the target
    cell's own row width (a local equirectangular distance); its error grows
    with the cap, about (1 − cos Δφ) of the east–west part — negligible for
    caps of a few kilometres.

    Parameters
    ----------
    features : xarray.DataArray
        Feature mask on the run grid: nonzero cells are features; 0/False are
        not; NaN is nodata (not a feature).
    max_distance_m : float
        The cap in metres (> 0).
    beyond : float, default +inf
        Value of cells farther than ``max_distance_m`` from every feature
        (also when there is no feature at all). +inf rather than NaN because
        "farther than the cap" is known, not missing: a later grading puts it
        in the farthest class instead of masking it as nodata (§0.3 item 1).
        Pass ``np.nan`` for ArcGIS's NoData-beyond behaviour.
    max_halo_cells : int, default MAX_HALO_CELLS
        A lazy input whose halo exceeds this raises ``ValueError`` instead of
        building blocks of (3 · halo)² cells; raise it knowingly, or compute on
        a coarser grid (the eager path needs no halo).
    grid : Grid, optional
        The grid of ``features``; read from its coordinates and CRS if omitted.

    Returns
    -------
    xarray.DataArray
        float64 distance in metres (``distance_m``). Nodata cells of the input
        are NaN (§0.3 item 1; ArcGIS would give them a distance — use
        ``features.fillna(0)`` for that). Outside the grid there are no features.
    """
    if not (np.isfinite(max_distance_m) and max_distance_m > 0):
        raise ValueError(f"max_distance_m must be a positive finite number of metres, got {max_distance_m!r}")
    grid = grid or grid_of(features)
    dx_rows, dy_rows = grid.cell_size_m()
    halo = distance_halo(max_distance_m, grid)
    _check_halo(halo, features, grid, max_halo_cells, f"distance needs a halo of {halo} cells for max_distance_m={max_distance_m}")
    codes = map_cells(_codes_block, features, dtype=np.uint8)
    cap = float(max_distance_m)
    beyond = float(beyond)

    def kernel(h):
        def block(padded, dx, y):
            return capped_edt(padded, dx, y, h, cap, beyond)

        return block

    return _stencil(
        kernel,
        [codes],
        halo,
        (dx_rows, _row_positions_m(dy_rows)),
        NOT_FEATURE,
        np.float64,
        "distance_m",
        {
            "units": "m",
            "long_name": "Euclidean distance to the nearest feature (距离)",
            "method": "exact EDT, Felzenszwalb & Huttenlocher 2012",
            "max_distance_m": cap,
            "beyond": str(beyond),
            "halo_cells": halo,
        },
    )


def _source_block(values: np.ndarray) -> np.ndarray:
    """1 where a source lies (nonzero and not NaN), else 0."""
    with np.errstate(invalid="ignore"):
        found = values != 0
    if np.issubdtype(values.dtype, np.floating):
        found &= ~np.isnan(values)
    return found.astype(np.uint8)


def _coarse_grid(grid: Grid, factor: int) -> Grid:
    t = grid.transform
    shape = (-(-grid.height // factor), -(-grid.width // factor))
    return Grid(grid.crs, Affine(t.a * factor, 0.0, t.c, 0.0, t.e * factor, t.f), shape)


def _on_grid(values: xr.DataArray, grid: Grid) -> xr.DataArray:
    plain = xr.DataArray(values.data, coords=coords_of(grid), dims=("y", "x"))
    return georeference(plain, grid)


def cost_distance(
    sources: xr.DataArray,
    resistance: xr.DataArray,
    max_cost: float,
    *,
    min_resistance: float,
    beyond: float = np.nan,
    analysis_resolution_m: float | None = None,
    max_halo_cells: int = MAX_HALO_CELLS,
    grid: Grid | None = None,
) -> xr.DataArray:
    """Least accumulated cost from the nearest source (MCR), 8-neighbour, capped at ``max_cost``.

    ArcGIS ``CostDistance`` semantics, methods.md §9.3 item 3 ("MCR",
    Knaapen et al. 1992; [K-high]) and §11 T25: a move between orthogonal
    neighbours a, b costs cellsize · (R_a + R_b)/2, a diagonal move
    √2 · cellsize · (R_a + R_b)/2; sources cost 0. On anisotropic cells the
    lengths are the cell width, the cell height and the diagonal of the two;
    on geographic grids the widths and heights of the rows involved (a
    diagonal or north–south move between rows uses their mean).

    Exact with a finite halo (ARCHITECTURE.md "Scale" item 3): each move
    costs at least (shortest cell side) · ``min_resistance``, so no path of
    cost ≤ ``max_cost`` leaves a halo of :func:`cost_halo` =
    ⌈max_cost / (cell · min_resistance)⌉ + 1 cells. Dijkstra on each padded
    block (numba, binary heap) then gives the same values as on the whole grid.

    Parameters
    ----------
    sources : xarray.DataArray
        Source mask on the run grid (生态源地): nonzero = source; 0/False and
        NaN are not sources.
    resistance : xarray.DataArray
        Resistance per metre of travel (阻力面), > 0; NaN = barrier / nodata:
        never entered, and NaN in the output. A source on a barrier is no
        source. Outside the grid is impassable: paths stay on the grid.
    max_cost : float
        The cap; cells whose least cost exceeds it get ``beyond``.
    min_resistance : float
        A lower bound of every resistance value (> 0), e.g. 1 for the §9.3
        table clipped to [1, 1000]. It sets the halo, so it must be known
        before anything is computed; a smaller resistance met at compute time
        raises ``ValueError``.
    beyond : float, default NaN
        Value of cells beyond ``max_cost`` and of cells no source reaches
        (ArcGIS ``CostDistance`` writes NoData there). Pass ``np.inf`` to tell
        them apart from barriers.
    analysis_resolution_m : float, optional
        Compute on a coarser grid (ARCHITECTURE.md "Scale" item 3: large caps):
        ``factor = round(analysis_resolution_m / cell)`` fine cells per coarse
        cell side; coarse resistance = mean of the block's non-NaN fine cells
        (all NaN → barrier), coarse source = any fine source; the coarse result
        goes back by nearest neighbour (each fine cell takes its coarse cell's
        value) and fine barriers are NaN again. Error: for a uniform resistance
        R the result differs from the fine one by at most √2 · (F − c) · R
        (F, c the coarse and fine cell sides; triangle inequality on the
        octile metric, as sources and targets each move by at most half a
        coarse diagonal). On heterogeneous surfaces the block mean also
        smooths resistance, and barriers or corridors narrower than F may
        vanish; the tests check |error| ≤ √2 · F · R_max on a smooth surface.
    max_halo_cells : int, default MAX_HALO_CELLS
        A lazy input whose halo exceeds this raises ``ValueError`` asking for
        ``analysis_resolution_m`` (the eager path needs no halo).
    grid : Grid, optional
        The grid of the inputs; read from ``resistance`` if omitted.

    Returns
    -------
    xarray.DataArray
        float64 accumulated cost (``mcr``), in resistance · metres.
    """
    if not (np.isfinite(max_cost) and max_cost >= 0):
        raise ValueError(f"max_cost must be a finite number ≥ 0, got {max_cost!r}")
    if not (np.isfinite(min_resistance) and min_resistance > 0):
        raise ValueError(f"min_resistance must be a positive finite number, got {min_resistance!r}")
    if sources.shape != resistance.shape:
        raise ValueError(f"sources {sources.shape} and resistance {resistance.shape} are not on the same grid")
    grid = grid or grid_of(resistance)
    if analysis_resolution_m is not None:
        return _coarse_cost_distance(sources, resistance, max_cost, min_resistance, beyond, analysis_resolution_m, max_halo_cells, grid)
    dx_rows, dy_rows = grid.cell_size_m()
    halo = cost_halo(max_cost, min_resistance, grid)
    side = min(dx_rows.min(), dy_rows.min())
    _check_halo(
        halo,
        [sources, resistance],
        grid,
        max_halo_cells,
        f"cost_distance needs a halo of {halo} cells (max_cost {max_cost} / (cell {side:g} m · min_resistance {min_resistance}));"
        f" pass analysis_resolution_m ≥ {side * math.ceil(halo / max_halo_cells):g} to compute on a coarser grid",
    )
    source_mask = map_cells(_source_block, sources, dtype=np.uint8)
    resistance = resistance.astype(np.float64)
    cap, beyond, floor = float(max_cost), float(beyond), float(min_resistance)

    def kernel(h):
        def block(src, res, dx, dy):
            with np.errstate(invalid="ignore"):
                low = res < floor
            if low.any():
                raise ValueError(
                    f"resistance {float(res[low].min())!r} is below min_resistance={floor!r}, which set the halo;"
                    " pass a smaller min_resistance (the halo grows as 1/min_resistance)"
                )
            return accumulated_cost(src, res, dx, dy, h, cap, beyond)

        return block

    return _stencil(
        kernel,
        [source_mask, resistance],
        halo,
        (dx_rows, dy_rows),
        np.nan,
        np.float64,
        "mcr",
        {
            "units": "resistance·m",
            "long_name": "minimum cumulative resistance (最小累积阻力)",
            "method": "8-neighbour Dijkstra, ArcGIS CostDistance edge costs",
            "max_cost": cap,
            "min_resistance": floor,
            "beyond": str(beyond),
            "halo_cells": halo,
        },
    )


def _coarse_cost_distance(sources, resistance, max_cost, min_resistance, beyond, analysis_resolution_m, max_halo_cells, grid):
    dx_rows, dy_rows = grid.cell_size_m()
    cell = 0.5 * (float(dx_rows.mean()) + float(dy_rows.mean()))
    factor = max(1, int(round(analysis_resolution_m / cell)))
    coarse = _coarse_grid(grid, factor)
    source_mask = map_cells(_source_block, sources, dtype=np.uint8)
    window = {"y": factor, "x": factor}
    # pad partial blocks with NaN: they neither add sources nor count in the resistance mean
    coarse_sources = source_mask.astype(np.float64).coarsen(window, boundary="pad").max()
    coarse_resistance = resistance.astype(np.float64).coarsen(window, boundary="pad").mean()
    result = cost_distance(
        _on_grid(coarse_sources, coarse),
        _on_grid(coarse_resistance, coarse),
        max_cost,
        min_resistance=min_resistance,
        beyond=beyond,
        max_halo_cells=max_halo_cells,
        grid=coarse,
    )
    rows, cols = grid.shape
    values = result.data
    if isinstance(values, da.Array):
        fine = da.repeat(da.repeat(values, factor, axis=0), factor, axis=1)[:rows, :cols]
        chunks = next(a.data.chunks for a in (resistance, sources) if isinstance(a.data, da.Array))
        fine = fine.rechunk(chunks)
    else:
        fine = np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)[:rows, :cols]
    out = xr.DataArray(fine, coords=resistance.coords, dims=resistance.dims, name="mcr")
    out = out.where(resistance.notnull())
    out.name = "mcr"
    out.attrs = dict(result.attrs)
    out.attrs.update(
        analysis_resolution_m=factor * cell,
        analysis_factor=factor,
        method=result.attrs["method"] + f"; on a {factor}x coarser grid (block-mean resistance), nearest-neighbour back",
    )
    return out


def _pace_block(speed: np.ndarray) -> np.ndarray:
    """Minutes per metre from metres per minute; NaN where the speed is not positive (impassable)."""
    speed = speed.astype(np.float64)
    return 1.0 / np.where(speed > 0, speed, np.nan)


def travel_time(
    sources: xr.DataArray,
    speed_m_per_min: xr.DataArray,
    max_minutes: float,
    *,
    max_speed_m_per_min: float,
    beyond: float = np.nan,
    analysis_resolution_m: float | None = None,
    max_halo_cells: int = MAX_HALO_CELLS,
    grid: Grid | None = None,
) -> xr.DataArray:
    """Least travel time in minutes from the nearest source: :func:`cost_distance` with resistance 1 / speed.

    The usual accessibility surface for location advantage (区位优势度,
    methods.md §5.7): resistance is pace (minutes per metre) and a move costs
    length · (1/v_a + 1/v_b)/2, ArcGIS ``CostDistance`` on a cost raster of
    1/speed. The halo is :func:`cost_halo` with min_resistance =
    1 / ``max_speed_m_per_min``.

    Parameters
    ----------
    sources : xarray.DataArray
        Origins (nonzero = origin; NaN not).
    speed_m_per_min : xarray.DataArray
        Travel speed per cell in metres per minute; 0, negative or NaN =
        impassable (NaN in the output).
    max_minutes : float
        Cells needing more than this get ``beyond``.
    max_speed_m_per_min : float
        The highest speed anywhere (sets the halo); a faster cell raises
        ``ValueError`` at compute time.
    beyond, analysis_resolution_m, max_halo_cells, grid
        As for :func:`cost_distance`.

    Returns
    -------
    xarray.DataArray
        float64 travel time in minutes (``travel_time_min``).
    """
    if not (np.isfinite(max_speed_m_per_min) and max_speed_m_per_min > 0):
        raise ValueError(f"max_speed_m_per_min must be a positive finite speed, got {max_speed_m_per_min!r}")
    # elementwise through map_cells, so the speed layer's window source survives (bounded stencil memory)
    pace = map_cells(_pace_block, speed_m_per_min, dtype=np.float64)
    result = cost_distance(
        sources,
        pace,
        max_minutes,
        min_resistance=1.0 / max_speed_m_per_min,
        beyond=beyond,
        analysis_resolution_m=analysis_resolution_m,
        max_halo_cells=max_halo_cells,
        grid=grid or grid_of(speed_m_per_min),
    )
    result.name = "travel_time_min"
    result.attrs.update(units="min", long_name="travel time to the nearest source (通达时间)", max_speed_m_per_min=float(max_speed_m_per_min))
    result.attrs["max_minutes"] = result.attrs.pop("max_cost")
    result.attrs.pop("min_resistance", None)
    return result
