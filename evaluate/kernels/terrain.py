"""Terrain kernels."""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, inline="always")
def _horn_gradient(padded, i, j, dxa, dxm, dxb, dy):
    """Horn's (∂z/∂x east, ∂z/∂y south) at padded[i + 1, j + 1]; NaN neighbours take the centre value.

    Each window row differences its east and west neighbours over its own
    cell width (dxa, dxm, dxb for the rows above, at and below the centre).
    """
    centre = padded[i + 1, j + 1]
    a = padded[i, j]
    b = padded[i, j + 1]
    c = padded[i, j + 2]
    d = padded[i + 1, j]
    f = padded[i + 1, j + 2]
    g = padded[i + 2, j]
    h = padded[i + 2, j + 1]
    k = padded[i + 2, j + 2]
    a = centre if math.isnan(a) else a
    b = centre if math.isnan(b) else b
    c = centre if math.isnan(c) else c
    d = centre if math.isnan(d) else d
    f = centre if math.isnan(f) else f
    g = centre if math.isnan(g) else g
    h = centre if math.isnan(h) else h
    k = centre if math.isnan(k) else k
    dzdx = ((c - a) / dxa + 2.0 * (f - d) / dxm + (k - g) / dxb) / 8.0
    dz_south = ((g + 2.0 * h + k) - (a + 2.0 * b + c)) / (8.0 * dy)
    return dzdx, dz_south


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
    for i in range(rows):
        for j in range(cols):
            if math.isnan(padded[i + 1, j + 1]):
                out[i, j] = np.nan
                continue
            dzdx, dzdy = _horn_gradient(padded, i, j, dx_rows[i], dx_rows[i + 1], dx_rows[i + 2], dy_rows[i + 1])
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
    for i in range(rows):
        for j in range(cols):
            if math.isnan(padded[i + 1, j + 1]):
                out[i, j] = np.nan
                continue
            # rows run southwards, so dz_south > 0 means the ground falls to the north
            dzdx, dz_south = _horn_gradient(padded, i, j, dx_rows[i], dx_rows[i + 1], dx_rows[i + 2], dy_rows[i + 1])
            if dzdx == 0.0 and dz_south == 0.0:
                out[i, j] = flat_value
                continue
            azimuth = np.float32(math.degrees(math.atan2(-dzdx, dz_south)) % 360.0)
            # a tiny negative angle rounds to 360.0 in float32
            out[i, j] = np.float32(0.0) if azimuth >= np.float32(360.0) else azimuth
    return out
