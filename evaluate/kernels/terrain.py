"""Terrain kernels."""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def horn_slope(padded: np.ndarray, dx_rows: np.ndarray, dy_rows: np.ndarray, percent: bool) -> np.ndarray:
    """Slope by Horn (1981) on a block padded by one cell.

    Horn, B.K.P. (1981) Hill shading and the reflectance map, Proc. IEEE 69(1), eq. for
    the 3×3 weighted finite difference, as in GDAL ``gdaldem slope`` and ArcGIS
    ``Slope`` (methods.md §2.1, §2.2 item 1).

    Each of the three rows of the window differences its own east and west
    neighbours over its own cell width ``dx_rows`` (row-wise geodesic widths on
    geographic grids; all equal on projected grids, where this reduces to the
    textbook formula). Neighbours that are NaN (nodata, or outside the grid)
    are replaced by the centre value, GDAL's ``-compute_edges`` rule, so edge
    cells get a one-sided estimate instead of nodata. A NaN centre gives NaN.

    Parameters
    ----------
    padded : (rows + 2, cols + 2) float array
    dx_rows, dy_rows : (rows + 2,) float64
        Cell width and height in metres of every padded row.
    percent : bool
        Return 100·tanθ instead of degrees.

    Returns
    -------
    (rows, cols) float32
    """
    rows = padded.shape[0] - 2
    cols = padded.shape[1] - 2
    out = np.empty((rows, cols), dtype=np.float32)
    win = np.empty(9, dtype=np.float64)
    for i in range(rows):
        dxa = dx_rows[i]
        dxm = dx_rows[i + 1]
        dxb = dx_rows[i + 2]
        dy = dy_rows[i + 1]
        for j in range(cols):
            centre = padded[i + 1, j + 1]
            if math.isnan(centre):
                out[i, j] = np.nan
                continue
            k = 0
            for di in range(3):
                for dj in range(3):
                    v = padded[i + di, j + dj]
                    win[k] = centre if math.isnan(v) else v
                    k += 1
            # win: a b c / d e f / g h i
            dzdx = ((win[2] - win[0]) / dxa + 2.0 * (win[5] - win[3]) / dxm + (win[8] - win[6]) / dxb) / 8.0
            dzdy = ((win[6] + 2.0 * win[7] + win[8]) - (win[0] + 2.0 * win[1] + win[2])) / (8.0 * dy)
            rise = math.sqrt(dzdx * dzdx + dzdy * dzdy)
            if percent:
                out[i, j] = 100.0 * rise
            else:
                out[i, j] = math.degrees(math.atan(rise))
    return out


@numba.njit(nogil=True, cache=True)
def horn_aspect(padded: np.ndarray, dx_rows: np.ndarray, dy_rows: np.ndarray, flat_value: float) -> np.ndarray:
    """Aspect by Horn (1981): azimuth of steepest descent, degrees clockwise from north in [0, 360).

    The gradient is the one of :func:`horn_slope` (per-row cell widths, the
    same ``-compute_edges`` rule: NaN neighbours take the centre value, a NaN
    centre gives NaN). The azimuth of the downhill vector (−∂z/∂x east,
    −∂z/∂y north) is ``atan2(east, north)``, which equals gdaldem aspect's
    ``450 − atan2(dy, −dx)`` (mod 360) on square cells. A cell whose two
    gradient components are both exactly zero is flat and gets ``flat_value``
    (gdaldem: nodata, or 0 with ``-zero_for_flat``; ArcGIS: −1).

    Parameters
    ----------
    padded : (rows + 2, cols + 2) float array
    dx_rows, dy_rows : (rows + 2,) float64
        Cell width and height in metres of every padded row.
    flat_value : float

    Returns
    -------
    (rows, cols) float32
    """
    rows = padded.shape[0] - 2
    cols = padded.shape[1] - 2
    out = np.empty((rows, cols), dtype=np.float32)
    win = np.empty(9, dtype=np.float64)
    for i in range(rows):
        dxa = dx_rows[i]
        dxm = dx_rows[i + 1]
        dxb = dx_rows[i + 2]
        dy = dy_rows[i + 1]
        for j in range(cols):
            centre = padded[i + 1, j + 1]
            if math.isnan(centre):
                out[i, j] = np.nan
                continue
            k = 0
            for di in range(3):
                for dj in range(3):
                    v = padded[i + di, j + dj]
                    win[k] = centre if math.isnan(v) else v
                    k += 1
            # win: a b c / d e f / g h i; rows run southwards, so dz_south > 0 means the ground falls to the north
            dzdx = ((win[2] - win[0]) / dxa + 2.0 * (win[5] - win[3]) / dxm + (win[8] - win[6]) / dxb) / 8.0
            dz_south = ((win[6] + 2.0 * win[7] + win[8]) - (win[0] + 2.0 * win[1] + win[2])) / (8.0 * dy)
            if dzdx == 0.0 and dz_south == 0.0:
                out[i, j] = flat_value
                continue
            azimuth = np.float32(math.degrees(math.atan2(-dzdx, dz_south)) % 360.0)
            # a tiny negative angle rounds to 360.0 in float32
            out[i, j] = np.float32(0.0) if azimuth >= np.float32(360.0) else azimuth
    return out
