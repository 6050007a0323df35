"""The run grid: CRS, affine transform and shape, with exact cell sizes and areas.

Every layer of a run is aligned onto one :class:`Grid`. Projected grids have a
constant cell size; geographic grids (EPSG:4490, EPSG:4326) have a geodesic cell
width that shrinks with latitude and an ellipsoidal cell area per row, as
required by methods.md §0.2 ("Areas: always compute areas from cell geometry")
and zones_and_standards.md §3.2 (official areas are ellipsoidal areas).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

SQUARE_METRES_PER_MU = 2000.0 / 3.0
SQUARE_METRES_PER_HA = 10_000.0


class GridError(ValueError):
    """A grid definition that cannot be used (rotated, empty, unknown CRS...)."""


def _as_crs(crs: CRS | str | int) -> CRS:
    try:
        return crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
    except Exception as exc:  # rasterio raises CRSError; keep the user's text in the message
        raise GridError(f"unknown CRS {crs!r}: {exc}") from None


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Parameters
    ----------
    crs : rasterio.crs.CRS
        Coordinate reference system of the grid.
    transform : affine.Affine
        Maps (col, row) of a cell's upper-left corner to (x, y). Must be
        north-up (no rotation, negative row step).
    shape : tuple of int
        (rows, cols).
    """

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "crs", _as_crs(self.crs))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))
        t = self.transform
        if t.b != 0 or t.d != 0:
            raise GridError("rotated or sheared grids are not supported; warp to a north-up grid first")
        if t.a <= 0 or t.e >= 0:
            raise GridError(f"grid must be north-up with positive cell width; got transform {tuple(t)[:6]}")
        if self.shape[0] <= 0 or self.shape[1] <= 0:
            raise GridError(f"grid shape must be positive, got {self.shape}")

    # construction ---------------------------------------------------------
    @classmethod
    def from_raster(cls, path: str | Path) -> "Grid":
        """The grid of an existing raster file."""
        with rasterio.open(path) as src:
            if src.crs is None:
                raise GridError(f"{path}: raster has no CRS")
            return cls(src.crs, src.transform, (src.height, src.width))

    @classmethod
    def from_bounds(
        cls,
        bounds: tuple[float, float, float, float],
        resolution: float | tuple[float, float],
        crs: CRS | str | int,
    ) -> "Grid":
        """A grid covering ``bounds`` (xmin, ymin, xmax, ymax) with square or (dx, dy) cells.

        The grid is anchored at (xmin, ymax); the last row/column is extended
        so that the bounds are fully covered.
        """
        xmin, ymin, xmax, ymax = map(float, bounds)
        dx, dy = (resolution, resolution) if np.isscalar(resolution) else resolution
        dx, dy = float(dx), float(dy)
        if not (xmax > xmin and ymax > ymin):
            raise GridError(f"bounds must satisfy xmin < xmax and ymin < ymax, got {bounds}")
        if dx <= 0 or dy <= 0:
            raise GridError(f"resolution must be positive, got {resolution}")
        # tolerate bounds that are an exact multiple up to float noise
        cols = max(1, math.ceil((xmax - xmin) / dx - 1e-9))
        rows = max(1, math.ceil((ymax - ymin) / dy - 1e-9))
        return cls(_as_crs(crs), Affine(dx, 0.0, xmin, 0.0, -dy, ymax), (rows, cols))

    # basic properties -----------------------------------------------------
    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def resolution(self) -> tuple[float, float]:
        """(dx, dy) in CRS units, both positive."""
        return self.transform.a, -self.transform.e

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        xmin, ymax = self.transform.c, self.transform.f
        dx, dy = self.resolution
        return xmin, ymax - dy * self.height, xmin + dx * self.width, ymax

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def x_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Cell-centre x coordinates of columns ``start:stop``."""
        stop = self.width if stop is None else stop
        return self.transform.c + (np.arange(start, stop) + 0.5) * self.transform.a

    def y_coords(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Cell-centre y coordinates of rows ``start:stop`` (decreasing)."""
        stop = self.height if stop is None else stop
        return self.transform.f + (np.arange(start, stop) + 0.5) * self.transform.e

    def window_transform(self, row_off: int, col_off: int) -> Affine:
        """Transform of the sub-grid whose upper-left cell is (row_off, col_off)."""
        return self.transform @ Affine.translation(col_off, row_off)

    def window(self, rows: slice, cols: slice) -> Window:
        return Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)

    def to_dict(self) -> dict:
        return {
            "crs": self.crs.to_string(),
            "transform": list(self.transform)[:6],
            "shape": list(self.shape),
            "bounds": list(self.bounds),
        }

    # cell geometry --------------------------------------------------------
    def _ellipsoid(self) -> tuple[float, float]:
        """(semi-major axis a, first eccentricity squared e²) of the CRS's ellipsoid."""
        from pyproj import CRS as ProjCRS

        ell = ProjCRS.from_wkt(self.crs.to_wkt()).ellipsoid
        a, b = ell.semi_major_metre, ell.semi_minor_metre
        return a, 1.0 - (b * b) / (a * a)

    def _linear_unit_metres(self) -> float:
        factor = self.crs.linear_units_factor[1]
        return float(factor)

    def cell_size_m(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell width and height in metres for every row, as two float64 arrays of length ``height``.

        Projected grids: constant, the CRS unit converted to metres (planar).
        Geographic grids: the width is the arc of the row's central parallel,
        ``N(φ)·cos φ·Δλ``, and the height the meridian arc across the cell,
        both on the CRS's ellipsoid. These are the metric spacings a Horn
        slope kernel needs per row (methods.md §2.2 item 1: "On a geographic
        DEM, compute metric cell sizes per row").
        """
        dx, dy = self.resolution
        if not self.is_geographic:
            f = self._linear_unit_metres()
            return np.full(self.height, dx * f), np.full(self.height, dy * f)
        a, e2 = self._ellipsoid()
        lat = np.radians(self.y_coords())
        prime_vertical = a / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
        width = prime_vertical * np.cos(lat) * math.radians(dx)
        half = math.radians(dy) / 2.0
        height = _meridian_arc(lat + half, a, e2) - _meridian_arc(lat - half, a, e2)
        return width, height

    def cell_area_m2(self) -> np.ndarray:
        """Area of one cell in every row (float64, length ``height``), in m².

        Geographic grids: exact ellipsoidal area of the latitude–longitude
        quadrangle, ``b²·Δλ/2 · [q(φ₂) − q(φ₁)]`` with the authalic function
        ``q``. Projected grids: the planar cell area (constant per row).
        """
        if not self.is_geographic:
            w, h = self.cell_size_m()
            return w * h
        a, e2 = self._ellipsoid()
        dlon = math.radians(self.resolution[0])
        top = np.radians(self.transform.f + np.arange(self.height) * self.transform.e)
        bottom = np.radians(self.transform.f + np.arange(1, self.height + 1) * self.transform.e)
        b2 = a * a * (1.0 - e2)
        return b2 * dlon / 2.0 * (_authalic_q(top, e2) - _authalic_q(bottom, e2))

    def cell_area_ha(self) -> np.ndarray:
        return self.cell_area_m2() / SQUARE_METRES_PER_HA

    def cell_area_mu(self) -> np.ndarray:
        """Cell area per row in mu (1 mu = 2000/3 m²)."""
        return self.cell_area_m2() / SQUARE_METRES_PER_MU


def _authalic_q(phi: np.ndarray, e2: float) -> np.ndarray:
    """Snyder (1987) eq. 3-12 without the (1−e²) factor: sinφ/(1−e²sin²φ) + atanh(e·sinφ)/e."""
    e = math.sqrt(e2)
    s = np.sin(phi)
    return s / (1.0 - e2 * s * s) + np.arctanh(e * s) / e


def _meridian_arc(phi: np.ndarray, a: float, e2: float) -> np.ndarray:
    """Meridian distance from the equator to latitude ``phi`` (Snyder 1987 eq. 3-21, to e⁸)."""
    e4, e6, e8 = e2 * e2, e2**3, e2**4
    return a * (
        (1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256 - 175 * e8 / 16384) * phi
        - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024 + 105 * e8 / 4096) * np.sin(2 * phi)
        + (15 * e4 / 256 + 45 * e6 / 1024 + 525 * e8 / 16384) * np.sin(4 * phi)
        - (35 * e6 / 3072 + 175 * e8 / 12288) * np.sin(6 * phi)
        + (315 * e8 / 131072) * np.sin(8 * phi)
    )


# DataArray georeferencing -----------------------------------------------------
def coords_of(grid: Grid, rows: slice = slice(None), cols: slice = slice(None)) -> dict:
    """The ``y``/``x`` cell-centre coordinates of a (sub-)grid, for building DataArrays."""
    r0, r1, _ = rows.indices(grid.height)
    c0, c1, _ = cols.indices(grid.width)
    return {"y": grid.y_coords(r0, r1), "x": grid.x_coords(c0, c1)}


def georeference(array, grid: Grid):
    """Attach ``grid``'s CRS and transform to a (y, x) DataArray, rioxarray-style (lazy-safe)."""
    import rioxarray  # noqa: F401  registers the .rio accessor

    array = array.rio.write_crs(grid.crs)
    return array.rio.write_transform(grid.transform)


def grid_of(array) -> Grid:
    """The :class:`Grid` of a georeferenced (y, x) DataArray.

    The cell size comes from the stored transform (so single-row or
    single-column slices work) and the origin from the coordinates (so slices
    of a larger grid get their own origin).
    """
    import rioxarray  # noqa: F401

    crs = array.rio.crs
    if crs is None:
        raise GridError(f"array {array.name!r} has no CRS; build it with evaluate.layers or georeference()")
    cached = array.rio.transform(recalc=False)
    x, y = array["x"].values, array["y"].values
    dx, dy = cached.a, cached.e
    origin_x = float(x[0]) - dx / 2.0
    origin_y = float(y[0]) - dy / 2.0
    return Grid(crs, Affine(dx, 0.0, origin_x, 0.0, dy, origin_y), (len(y), len(x)))
