"""Zonal area tables: area per (zone, class) from chunked counts weighted by exact per-row cell areas.

A global reduction (ARCHITECTURE.md "Scale" item 4): every chunk returns the
cell counts and exact area-limb sums of its (zone, class) pairs, one driver
task adds them and builds the table. The result is small; for dask input it
is a ``dask.delayed.Delayed`` that the runner computes with everything else.
"""
from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from evaluate.grid import Grid, grid_of
from evaluate.kernels.patches import AREA_LIMBS, limbs_to_float, zonal_pair_sums
from evaluate.ops.patches import AREA_UNITS, _area_base, _cell, _driver, _limbs, _per_block, _row_column

ZONAL_HALO = 0


def _codes(array: xr.DataArray):
    """Integer codes with 0 for nodata (0 or NaN)."""
    data = array.data
    if np.issubdtype(data.dtype, np.floating):
        data = (da if isinstance(data, da.Array) else np).where(data == data, data, 0)
    elif not (np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_):
        raise TypeError(f"{array.name!r}: expected integer codes, got dtype {data.dtype}")
    return data.astype(np.int64)


def _block_sums(zones: np.ndarray, classes: np.ndarray, row_areas: np.ndarray, base: int, block_id=None):
    return zonal_pair_sums(np.ascontiguousarray(zones), np.ascontiguousarray(classes), _limbs(row_areas, base))


def _table(parts: np.ndarray, scale: float, factor: float, unit: str) -> pd.DataFrame:
    parts = parts.ravel()
    rows = np.concatenate(list(parts)).reshape(-1, 3 + AREA_LIMBS)
    zone, klass, cells, sums = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3:]
    order = np.lexsort((klass, zone))
    zone, klass, cells, sums = zone[order], klass[order], cells[order], sums[order]
    new = np.ones(len(zone), dtype=bool)
    new[1:] = (zone[1:] != zone[:-1]) | (klass[1:] != klass[:-1])
    group = np.cumsum(new) - 1
    n = int(new.sum())
    total_cells = np.zeros(n, dtype=np.int64)
    np.add.at(total_cells, group, cells)
    total_sums = np.zeros((n, AREA_LIMBS), dtype=np.int64)
    np.add.at(total_sums, group, sums)
    area = limbs_to_float(total_sums, scale) / factor
    return pd.DataFrame({"zone": zone[new], "class": klass[new], "cells": total_cells, f"area_{unit}": area})


def zonal_area(zones: xr.DataArray, classes: xr.DataArray, unit: str = "ha", grid: Grid | None = None):
    """Area of every class in every zone (e.g. 耕地 per county), from exact per-row cell areas.

    Source: ARCHITECTURE.md "Scale" item 4 (zonal area sums) and "Runs,
    outputs" (area tables in ha and mu); methods.md §0.2 (areas from cell
    geometry) and zones_and_standards.md §3.2 (official areas are ellipsoidal):
    on geographic grids each row has its exact ellipsoidal cell area. The
    reference is ``np.bincount`` of the pair codes weighted by per-row areas.

    Zone 0 or NaN (outside every zone) and class 0 or NaN (nodata) are left
    out. Codes must be integers; float inputs are truncated.

    Parameters
    ----------
    zones, classes : xarray.DataArray
        Aligned (y, x) integer code rasters on the run grid.
    unit : {"ha", "mu", "m2", "km2"}
        1 mu = 2000/3 m².
    grid : Grid, optional
        Read from ``zones`` when omitted.

    Returns
    -------
    pandas.DataFrame or dask.delayed.Delayed
        Columns ``zone``, ``class``, ``cells`` (int64) and ``area_<unit>``
        (float64), one row per pair present, sorted by zone then class. For
        numpy-backed inputs the DataFrame itself; for dask-backed inputs a
        Delayed that computes to it (building computes nothing). Areas are
        bit-identical for every chunking.
    """
    factor = AREA_UNITS.get(unit)
    if factor is None:
        raise ValueError(f"unit must be one of 'ha', 'mu', 'm2', 'km2', got {unit!r}")
    if zones.shape != classes.shape or zones.dims != classes.dims:
        raise ValueError(f"zones and classes are not aligned: {zones.dims}{zones.shape} vs {classes.dims}{classes.shape}")
    row_areas = (grid or grid_of(zones)).cell_area_m2()
    base = _area_base(row_areas)
    scale = math.ldexp(1.0, base)
    z, c = _codes(zones), _codes(classes)
    if not (isinstance(z, da.Array) or isinstance(c, da.Array)):
        return _table(_cell(z, c, row_areas[:, None], summarise=_block_sums, block_id=(0, 0), base=base), scale, factor, unit)
    z = z if isinstance(z, da.Array) else da.from_array(z, chunks=c.chunks)
    c = c.rechunk(z.chunks) if isinstance(c, da.Array) else da.from_array(c, chunks=z.chunks)
    parts = _per_block(_block_sums, z, c, _row_column(row_areas, z.chunks), base=base)
    table = _driver(_table, parts, scale=scale, factor=factor, unit=unit)
    # the one (1, 1) block of the driver, unwrapped: a Delayed computing to the DataFrame
    return table.to_delayed(optimize_graph=False)[0, 0][0, 0]
