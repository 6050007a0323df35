"""Terrain operators."""
from __future__ import annotations

import xarray as xr
import numpy as np

from evaluate.grid import Grid, grid_of
from evaluate.kernels.terrain import horn_slope
from evaluate.ops._wrap import map_stencil

SLOPE_HALO = 1


def slope(dem: xr.DataArray, units: str = "degrees", grid: Grid | None = None) -> xr.DataArray:
    """Slope of a DEM by Horn's 3×3 method (halo 1).

    Source: Horn (1981); methods.md §2.1 ``slope`` and §2.2 item 1 (degrees,
    as ArcGIS ``Slope(..., "DEGREE")``; metric cell sizes per row on
    geographic grids). Matches ``gdaldem slope -compute_edges`` on projected
    grids: at the grid's edge and next to nodata, missing neighbours take the
    centre cell's value.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevation in metres on the run grid, NaN for nodata.
    units : {"degrees", "percent"}
    grid : Grid, optional
        The grid of ``dem``; read from its coordinates and CRS if omitted.
    """
    if units not in ("degrees", "percent"):
        raise ValueError(f"slope units must be 'degrees' or 'percent', got {units!r}")
    grid = grid or grid_of(dem)
    dx_rows, dy_rows = grid.cell_size_m()
    percent = units == "percent"

    def kernel(padded, dx, dy):
        return horn_slope(padded, dx, dy, percent)

    return map_stencil(
        kernel,
        dem,
        SLOPE_HALO,
        row_args=(dx_rows, dy_rows),
        dtype=np.float32,
        name="slope_deg" if not percent else "slope_pct",
        attrs={"units": units, "long_name": "slope (坡度)", "method": "Horn 1981, 3x3"},
    )

