"""Terrain kernels."""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(nogil=True, cache=True)
def _horn_row(top, mid, bot, wa, wm, wb, wy, dzdx, dz_south):
    """Horn's (∂z/∂x east, ∂z/∂y south) along one output row, into ``dzdx`` and ``dz_south``.

    ``top, mid, bot`` are the padded rows above, at and below the output
    row. Each window row differences its east and west neighbours over its
    own cell width, through the weights ``wa, wm, wb`` = 1/(8·dx), 2/(8·dx),
    1/(8·dx) of the rows above, at and below, and ``wy`` = 1/(8·dy).
    NaN neighbours take the centre value (GDAL's ``-compute_edges`` rule);
    a NaN centre gives NaN.

    The substitution is written as selects, not branches, so the loop
    compiles to straight-line (vectorisable) arithmetic with no second pass.
    """
    for j in range(dzdx.shape[0]):
        centre = np.float64(mid[j + 1])
        a = _or_centre(top[j], centre)
        b = _or_centre(top[j + 1], centre)
        c = _or_centre(top[j + 2], centre)
        d = _or_centre(mid[j], centre)
        f = _or_centre(mid[j + 2], centre)
        g = _or_centre(bot[j], centre)
        h = _or_centre(bot[j + 1], centre)
        k = _or_centre(bot[j + 2], centre)
        # a NaN centre leaves finite neighbours as they are: adding centre − centre (0, or NaN) NaNs the result
        nan_if_no_centre = centre - centre
        dzdx[j] = (c - a) * wa + (f - d) * wm + (k - g) * wb + nan_if_no_centre
        dz_south[j] = ((g + 2.0 * h + k) - (a + 2.0 * b + c)) * wy + nan_if_no_centre


@numba.njit(nogil=True, cache=True, inline="always")
def _or_centre(value, centre):
    """``value``, or ``centre`` where ``value`` is NaN (GDAL's ``-compute_edges`` rule), as a select."""
    v = np.float64(value)
    return v if v == v else centre


@numba.njit(nogil=True, cache=True, inline="always")
def _horn_weights(dx_rows, dy_rows, i):
    """The weights of :func:`_horn_row` for output row ``i``."""
    return 0.125 / dx_rows[i], 0.25 / dx_rows[i + 1], 0.125 / dx_rows[i + 2], 0.125 / dy_rows[i + 1]


# Cephes atan (S. L. Moshier, cephes/cmath/atan.c): range reduction at tan(3π/8) and 0.66, then a rational
# approximation of degree 4/5; relative error ≤ 1 ulp of float64 (2.2e-16 against numpy.arctan on 2.2 M points)
_TAN_3PI_8 = 2.41421356237309504880
_MOREBITS = 6.123233995736765886130e-17
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1, -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2, 4.853903996359136964868e2, 1.945506571482613964425e2)


@numba.njit(nogil=True, cache=True, inline="always", error_model="numpy")
def _atan_nonnegative(x):
    """arctan(x) for x ≥ 0 (or NaN) without a libm call, so the loop that calls it vectorises.

    The branches of Cephes' ``atan`` become selects; libm's scalar ``atan``
    was most of the slope kernel's time. Same values as ``math.atan`` to
    1 ulp, which leaves the float32 slopes bit-identical on the test DEMs.
    """
    p0, p1, p2, p3, p4 = _ATAN_P
    q0, q1, q2, q3, q4 = _ATAN_Q
    big = x > _TAN_3PI_8
    mid = x > 0.66
    t = -1.0 / x if big else ((x - 1.0) / (x + 1.0) if mid else x)
    base = 0.5 * math.pi if big else (0.25 * math.pi if mid else 0.0)
    more = _MOREBITS if big else (0.5 * _MOREBITS if mid else 0.0)
    z = t * t
    ratio = z * ((((p0 * z + p1) * z + p2) * z + p3) * z + p4) / (((((z + q0) * z + q1) * z + q2) * z + q3) * z + q4)
    return base + (t * ratio + t + more)


@numba.njit(nogil=True, cache=True, error_model="numpy")
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
    dzdx = np.empty(cols)
    dzdy = np.empty(cols)
    for i in range(rows):
        wa, wm, wb, wy = _horn_weights(dx_rows, dy_rows, i)
        _horn_row(padded[i], padded[i + 1], padded[i + 2], wa, wm, wb, wy, dzdx, dzdy)
        row = out[i]
        if percent:
            for j in range(cols):
                row[j] = 100.0 * math.sqrt(dzdx[j] * dzdx[j] + dzdy[j] * dzdy[j])
        else:
            for j in range(cols):
                row[j] = math.degrees(_atan_nonnegative(math.sqrt(dzdx[j] * dzdx[j] + dzdy[j] * dzdy[j])))
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
    dzdx = np.empty(cols)
    dz_south = np.empty(cols)
    for i in range(rows):
        wa, wm, wb, wy = _horn_weights(dx_rows, dy_rows, i)
        # rows run southwards, so dz_south > 0 means the ground falls to the north
        _horn_row(padded[i], padded[i + 1], padded[i + 2], wa, wm, wb, wy, dzdx, dz_south)
        for j in range(cols):
            if math.isnan(dzdx[j]):
                out[i, j] = np.nan
            elif dzdx[j] == 0.0 and dz_south[j] == 0.0:
                out[i, j] = flat_value
            else:
                azimuth = np.float32(math.degrees(math.atan2(-dzdx[j], dz_south[j])) % 360.0)
                # a tiny negative angle rounds to 360.0 in float32
                out[i, j] = np.float32(0.0) if azimuth >= np.float32(360.0) else azimuth
    return out
