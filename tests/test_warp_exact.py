"""Warped layers are exact: the Stack's values against independent formulas and ``gdalwarp -et 0``.

Upsampling (bilinear), on real terrain: the 3-arc-second SRTM DEM (EPSG:4326,
Int32) warped by the Stack onto a UTM 13N grid (30 m, and 10 m so that several
of the fixed 512-cell warp tiles meet) and onto a CGCS2000 geographic grid of
0.0005° is compared with the bilinear formula evaluated independently:
each destination cell centre is transformed with pyproj into the source CRS,
turned into fractional source pixel coordinates (pixel centres at +0.5), and
interpolated from its 4 neighbours in float64 (GDAL's convention). Cells whose
4 neighbours include nodata or fall outside the source are left out (GDAL
renormalises the weights over the valid neighbours there).

Measured (GDAL 3.12.2 in the rasterio 1.5.2 wheel, PROJ 9.8 in pyproj):

- GDAL's warp in the Stack's float64 buffer (``layers.warp_window``) vs the
  formula: max |diff| 2.0e-9 m (UTM 30 m), 2.2e-9 m (UTM 10 m), 9.4e-10 m
  (0.0005°), every cell compared: exact. (GDAL's default approximate
  transformer, tolerance 0.125 px, errs by up to 0.87 m on the UTM grids.)
- the Stack's float32 layer vs the formula: 1.22e-4 m, the float32 rounding
  of 2000–3300 m values (half a float32 ulp at 2048–4096 is 1.22e-4). All but
  one of the 1.1 million compared cells hold the correctly rounded float32 of
  the exact value; that one lies within 2e-9 m of a rounding midpoint. A
  float32 layer cannot do better; the warp itself is exact.
- ``gdalwarp -et 0 -r bilinear -ot Float64`` vs the formula: ≤ 2.2e-9 m;
  ``-ot Float32`` vs the Stack: bit-identical on the whole grid.

Coarsening, on a synthetic 10 m categorical raster (land-use-like patches, 5
codes, a nodata block) and a continuous one, onto 30 m (an integer factor,
same CRS), 25 m (same CRS), 30 m in the neighbouring Gauss–Krüger zone
(EPSG:4546) and 0.0003° in EPSG:4490. The reference takes GDAL's footprint
of a destination cell (its top-left and bottom-right corners transformed into
source pixel coordinates, the rectangle between them) and weights each source
pixel by the fraction of it inside the rectangle:

- ``average``: the weighted mean of the valid pixels. The Stack's float32
  layer is within half a float32 ulp of it (measured 3.05e-5 on 500–1000
  values); ``gdalwarp -r average -ot Float64`` is within 7.3e-10 of it.
- ``mode``: the code with the largest covered area, ties going to the code
  that first reached the running maximum in row-major order (GDAL ≥ 3.11,
  OSGeo/gdal#11661). The Stack equals it on every cell. ``gdalwarp`` before
  3.11 counts every touched pixel once instead: it differs from the Stack on
  4–6 % of these cells (boundary cells of patches: 1901 of 46440 at 25 m, 1711
  of 30976 at EPSG:4546, 1357 of 26690 at EPSG:4490; none at the integer
  factor), and equals the Stack on every cell where the two definitions
  agree, which is what the parity test checks for an older gdalwarp (all
  cells with GDAL ≥ 3.11).

Chunking: every layer is bit-identical for chunk sizes from 1 to 4096 and for
another layout of the fixed warp tiles.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.warp import transform_bounds

from evaluate import layers
from evaluate.config import InputSpec
from evaluate.grid import Grid
from evaluate.layers import open_layer
from tests.helpers import SHARED_DATA, TEST_DATA, require_tool, write_raster

SRTM_NAME = "srtm_boulder_3arcsec.tif"
UTM = "EPSG:32613"
UTM_BOUNDS = (453_000, 4_439_000, 461_700, 4_450_000)  # inside the DEM's footprint
GRIDS = {
    "utm_30m": Grid.from_bounds(UTM_BOUNDS, 30, UTM),
    "utm_10m": Grid.from_bounds(UTM_BOUNDS, 10, UTM),  # 1100 × 870 cells: 3 × 2 warp tiles
    "cgcs2000_0.0005deg": Grid.from_bounds((-105.555, 40.095, -105.445, 40.205), 0.0005, "EPSG:4490"),
}
CROP = Grid.from_bounds((455_010, 4_441_020, 455_010 + 31 * 30, 4_441_020 + 23 * 30), 30, UTM)


@pytest.fixture(scope="module")
def srtm() -> Path:
    for folder in (TEST_DATA, SHARED_DATA):
        if (folder / SRTM_NAME).exists():
            return folder / SRTM_NAME
    pytest.fail(f"{SRTM_NAME} is neither in tests/data nor in ../shared/data")


def half_ulp32(exact: np.ndarray) -> np.ndarray:
    """Half the float32 spacing at each value: the most a correctly rounded float32 may differ by."""
    return np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64) / 2


def gdalwarp(src: Path, dst: Path, grid: Grid, resampling: str, ot: str | None = None) -> np.ndarray:
    """``gdalwarp -et 0`` onto ``grid``, as float64 with NaN for nodata (or int with the file's nodata)."""
    exe = require_tool("gdalwarp")
    res = [repr(grid.transform.a), repr(-grid.transform.e)]
    cmd = [exe, "-q", "-overwrite", "-t_srs", grid.crs.to_string(), "-te", *map(repr, grid.bounds), "-tr", *res, "-r", resampling, "-et", "0"]
    subprocess.run([*cmd, *(["-ot", ot] if ot else []), str(src), str(dst)], check=True)
    with rasterio.open(dst) as ds:
        assert ds.transform.almost_equals(grid.transform) and ds.shape == grid.shape
        data = ds.read(1, masked=True)
    return data.astype(np.float64).filled(np.nan)


def gdalwarp_version() -> tuple[int, int]:
    out = subprocess.run([require_tool("gdalwarp"), "--version"], check=True, capture_output=True, text=True).stdout
    major, minor = re.search(r"GDAL (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


# --------------------------------------------------------------------------- bilinear
def bilinear_reference(path: Path, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The bilinear value at every cell centre of ``grid`` in float64, and where it is defined.

    Defined where the 4 source neighbours lie inside the source and are all
    valid; elsewhere GDAL renormalises over the valid ones, which this
    reference leaves out.
    """
    with rasterio.open(path) as src:
        z = src.read(1).astype(np.float64)
        valid = src.read_masks(1) > 0
        to_src = Transformer.from_crs(grid.crs, src.crs, always_xy=True)
        inverse = ~src.transform
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    x, y = grid.transform * (cols + 0.5, rows + 0.5)
    px, py = inverse * to_src.transform(x, y)
    fx, fy = px - 0.5, py - 0.5  # source pixel centres sit at +0.5
    i, j = np.floor(fx).astype(int), np.floor(fy).astype(int)
    wx, wy = fx - i, fy - j
    inside = (i >= 0) & (j >= 0) & (i + 1 < z.shape[1]) & (j + 1 < z.shape[0])
    i, j = np.clip(i, 0, z.shape[1] - 2), np.clip(j, 0, z.shape[0] - 2)
    ok = inside & valid[j, i] & valid[j, i + 1] & valid[j + 1, i] & valid[j + 1, i + 1]
    value = (1 - wy) * ((1 - wx) * z[j, i] + wx * z[j, i + 1]) + wy * ((1 - wx) * z[j + 1, i] + wx * z[j + 1, i + 1])
    return np.where(ok, value, np.nan), ok


@pytest.mark.parametrize("grid_id", list(GRIDS))
def test_bilinear_warp_is_the_exact_formula_on_real_terrain(srtm, grid_id):
    grid = GRIDS[grid_id]
    exact, ok = bilinear_reference(srtm, grid)
    assert ok.sum() >= max(40_000, 0.95 * grid.size)
    layer = open_layer("dem", InputSpec(path=srtm, kind="continuous", units="m"), grid, chunk_size=256)
    assert layer.attrs["resampling"] == "bilinear"  # the grid is finer than the ~70 × 93 m source cells
    ours = layer.values
    # the warp itself, into the Stack's float64 buffer with the Stack's own settings: exact
    with rasterio.open(srtm) as src:
        raw = layers.warp_window(
            src, 1, kind="continuous", src_nodata=src.nodata, resampling="bilinear", scale=layers._warp_scale(src, grid),
            dst_crs=grid.crs, dst_transform=grid.transform, shape=grid.shape,
        )
    assert np.abs(raw[ok] - exact[ok]).max() <= 1e-6
    # the float32 layer: the correctly rounded exact value (≤ half an ulp, 1.22e-4 m at 2048–4096 m)
    assert not np.isnan(ours[ok]).any()
    assert (np.abs(ours[ok] - exact[ok]) <= half_ulp32(exact[ok]) + 1e-6).all()


@pytest.mark.parametrize("grid_id", list(GRIDS))
def test_bilinear_warp_matches_gdalwarp_with_the_exact_transformer(srtm, grid_id, tmp_path):
    grid = GRIDS[grid_id]
    exact, ok = bilinear_reference(srtm, grid)
    ref64 = gdalwarp(srtm, tmp_path / "ref64.tif", grid, "bilinear", ot="Float64")
    assert np.abs(ref64[ok] - exact[ok]).max() <= 1e-6  # gdalwarp agrees with the independent formula
    ref32 = gdalwarp(srtm, tmp_path / "ref32.tif", grid, "bilinear", ot="Float32")
    ours = open_layer("dem", InputSpec(path=srtm, kind="continuous", units="m"), grid, chunk_size=97).values
    # every cell, edges and nodata included: bit-identical with gdalwarp 3.6.2; one float32 ulp allowed for
    # another GDAL/PROJ build, whose last-digit differences may round a cell at a midpoint the other way
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref32))
    valid = ~np.isnan(ref32)
    assert (np.abs(ours[valid] - ref32[valid]) <= np.spacing(np.abs(ref32[valid]).astype(np.float32))).all()


@pytest.mark.parametrize("grid, chunk_sizes", [(CROP, [1, 2, 5, 7, 16, 97]), (GRIDS["utm_10m"], [97, 300, 512, 1000])], ids=["crop", "utm_10m"])
def test_bilinear_warp_does_not_depend_on_chunking(srtm, grid, chunk_sizes):
    spec = InputSpec(path=srtm, kind="continuous", units="m")
    whole = open_layer("dem", spec, grid, chunk_size=4096).values
    for size in chunk_sizes:
        np.testing.assert_array_equal(open_layer("dem", spec, grid, chunk_size=size).values, whole, err_msg=f"chunk_size={size}")


# --------------------------------------------------------------------------- coarsening: mode and average
SRC_CRS = "EPSG:4547"
X0, Y0, N = 400_000.0, 2_550_000.0, 600
SRC_TRANSFORM = Affine(10, 0, X0, 0, -10, Y0)
CODES = [101, 103, 201, 301, 1001]


def coarse_grids() -> dict[str, Grid]:
    grids = {
        "same_crs_30m": Grid.from_bounds((X0 + 300, Y0 - 5700, X0 + 5700, Y0 - 300), 30, SRC_CRS),  # factor 3, aligned
        "same_crs_25m": Grid.from_bounds((X0 + 305, Y0 - 5705, X0 + 305 + 25 * 215, Y0 - 305), 25, SRC_CRS),
    }
    for crs, res in (("EPSG:4546", 30.0), ("EPSG:4490", 0.0003)):
        b = transform_bounds(SRC_CRS, crs, X0 + 400, Y0 - 5600, X0 + 5600, Y0 - 400)
        nx, ny = int((b[2] - b[0]) / res), int((b[3] - b[1]) / res)
        grids[f"{crs.lower().replace(':', '')}"] = Grid.from_bounds((b[0], b[1], b[0] + nx * res, b[1] + ny * res), res, crs)
    return grids


COARSE = coarse_grids()


@pytest.fixture(scope="module")
def fine_rasters(tmp_path_factory):
    """10 m rasters: land-use-like patches of 5 codes with ragged edges, a smooth surface with noise; a nodata block."""
    rng = np.random.default_rng(7)
    coarse = rng.choice(CODES, size=(N // 12 + 2, N // 12 + 2))
    r, c = np.mgrid[0:N, 0:N]
    codes = coarse[np.clip((r + rng.integers(-3, 4, (N, N))) // 12, 0, None), np.clip((c + rng.integers(-3, 4, (N, N))) // 12, 0, None)].astype(np.int16)
    surface = (500 + 40 * np.sin(c / 9) + 30 * np.cos(r / 7) + 0.5 * c + rng.normal(0, 3, (N, N))).astype(np.float32)
    codes[200:236, 300:350], surface[200:236, 300:350] = 0, -9999
    tmp = tmp_path_factory.mktemp("fine")
    return {
        "categorical": (write_raster(tmp / "codes.tif", codes, crs=SRC_CRS, transform=SRC_TRANSFORM, nodata=0), codes, 0),
        "continuous": (write_raster(tmp / "surface.tif", surface, crs=SRC_CRS, transform=SRC_TRANSFORM, nodata=-9999), surface, -9999),
    }


def coverage_reference(values: np.ndarray, nodata, grid: Grid) -> dict[str, np.ndarray]:
    """Coverage-weighted mean and mode per destination cell, and the mode counting each touched pixel once.

    GDAL's footprint of a destination cell: its top-left and bottom-right
    corners transformed into source pixel coordinates, and the rectangle they
    span; each source pixel weighs the fraction of it inside the rectangle.
    """
    rows, cols = np.mgrid[0 : grid.height + 1, 0 : grid.width + 1]
    x, y = grid.transform * (cols, rows)
    if grid.crs != rasterio.crs.CRS.from_user_input(SRC_CRS):
        x, y = Transformer.from_crs(grid.crs, SRC_CRS, always_xy=True).transform(x, y)
    px, py = ~SRC_TRANSFORM * (x, y)
    out = {k: np.full(grid.shape, np.nan) for k in ("mean", "mode", "mode_unweighted")}
    for i in range(grid.height):
        for j in range(grid.width):
            x0, x1 = sorted((px[i, j], px[i + 1, j + 1]))
            y0, y1 = sorted((py[i, j], py[i + 1, j + 1]))
            c0, c1 = max(int(np.floor(x0 + 1e-10)), 0), min(int(np.ceil(x1 - 1e-10)), values.shape[1])
            r0, r1 = max(int(np.floor(y0 + 1e-10)), 0), min(int(np.ceil(y1 - 1e-10)), values.shape[0])
            block = values[r0:r1, c0:c1].astype(np.float64)
            wx = np.minimum(np.arange(c0, c1) + 1, x1) - np.maximum(np.arange(c0, c1), x0)
            wy = np.minimum(np.arange(r0, r1) + 1, y1) - np.maximum(np.arange(r0, r1), y0)
            weights = wy[:, None] * wx[None, :]
            valid = block != nodata
            if not valid.any():
                continue
            out["mean"][i, j] = (weights * block)[valid].sum() / weights[valid].sum()
            for key, w in (("mode", weights), ("mode_unweighted", np.ones_like(weights))):
                total, best, top = {}, None, -1.0
                for v, wv in zip(block[valid], w[valid]):  # row-major: the first to reach the running maximum wins ties
                    total[v] = total.get(v, 0.0) + wv
                    if total[v] > top:
                        best, top = v, total[v]
                out[key][i, j] = best
    return out


@pytest.fixture(scope="module")
def references(fine_rasters):
    return {
        (kind, grid_id): coverage_reference(values, nodata, grid)
        for kind, (_, values, nodata) in fine_rasters.items()
        for grid_id, grid in COARSE.items()
    }


def stack_layer(fine_rasters, kind: str, grid: Grid, chunk_size: int = 256):
    path = fine_rasters[kind][0]
    spec = InputSpec(path=path, kind=kind, units="m" if kind == "continuous" else None)
    layer = open_layer("a", spec, grid, chunk_size)
    assert layer.attrs["resampling"] == ("average" if kind == "continuous" else "mode")  # the coarsening defaults
    values = layer.values.astype(np.float64)
    return np.where(values == layers.CATEGORICAL_NODATA, np.nan, values) if kind == "categorical" else values


@pytest.mark.parametrize("grid_id", list(COARSE))
def test_mode_is_the_coverage_weighted_majority(fine_rasters, references, grid_id):
    ours = stack_layer(fine_rasters, "categorical", COARSE[grid_id])
    expected = references["categorical", grid_id]["mode"]
    np.testing.assert_array_equal(ours, expected)
    assert set(np.unique(ours[~np.isnan(ours)])) <= set(CODES) and np.isnan(ours).any()  # the nodata block


@pytest.mark.parametrize("grid_id", list(COARSE))
def test_mode_matches_gdalwarp(fine_rasters, references, grid_id, tmp_path):
    """Cell for cell with gdalwarp ≥ 3.11; with an older gdalwarp, on every cell where its unweighted mode agrees.

    Before GDAL 3.11 mode counted every pixel the footprint touches once (no
    coverage weights), so boundary cells of patches may differ (measured with
    gdalwarp 3.6.2: none at the integer factor, 4–6 % of the cells
    otherwise); where the two definitions pick the same code the results must
    be identical.
    """
    grid = COARSE[grid_id]
    ref = gdalwarp(fine_rasters["categorical"][0], tmp_path / "mode.tif", grid, "mode")
    ours = stack_layer(fine_rasters, "categorical", grid)
    same = np.ones(grid.shape, bool)
    if gdalwarp_version() < (3, 11):
        expected = references["categorical", grid_id]
        same = (expected["mode"] == expected["mode_unweighted"]) | np.isnan(expected["mode"])
        assert same.mean() > 0.9
        if grid_id == "same_crs_30m":
            assert same.all()  # whole source pixels only: both definitions coincide
    np.testing.assert_array_equal(ours[same], ref[same])


@pytest.mark.parametrize("grid_id", list(COARSE))
def test_average_is_the_coverage_weighted_mean(fine_rasters, references, grid_id, tmp_path):
    grid = COARSE[grid_id]
    ours = stack_layer(fine_rasters, "continuous", grid)
    exact = references["continuous", grid_id]["mean"]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(exact))
    valid = ~np.isnan(exact)
    assert (np.abs(ours[valid] - exact[valid]) <= half_ulp32(exact[valid]) + 1e-6).all()  # measured 3.05e-5
    ref = gdalwarp(fine_rasters["continuous"][0], tmp_path / "avg.tif", grid, "average", ot="Float64")
    np.testing.assert_array_equal(np.isnan(ref), np.isnan(exact))
    assert np.abs(ref[valid] - exact[valid]).max() <= 1e-6  # gdalwarp's average is the same formula (7.3e-10)
    assert (np.abs(ours[valid] - ref[valid]) <= half_ulp32(ref[valid]) + 1e-6).all()


@pytest.mark.parametrize("kind", ["categorical", "continuous"])
def test_coarsening_does_not_depend_on_chunking(fine_rasters, kind):
    grid = COARSE["epsg4546"]
    whole = stack_layer(fine_rasters, kind, grid, chunk_size=4096)
    for size in (3, 7, 97):
        np.testing.assert_array_equal(stack_layer(fine_rasters, kind, grid, chunk_size=size), whole, err_msg=f"chunk_size={size}")


@pytest.mark.parametrize("case", ["bilinear", "mode", "average"])
def test_warped_values_do_not_depend_on_the_warp_tiles(srtm, fine_rasters, monkeypatch, case):
    """Bilinear upsampling, mode and average are computed per destination cell from the exact transformer:
    GDAL's processing windows (the Stack's fixed tiles) change nothing, bit for bit."""
    if case == "bilinear":
        spec, grid = InputSpec(path=srtm, kind="continuous", units="m"), GRIDS["utm_30m"]
    else:
        kind = "categorical" if case == "mode" else "continuous"
        spec, grid = InputSpec(path=fine_rasters[kind][0], kind=kind, units="m" if kind == "continuous" else None), COARSE["epsg4490"]
    default = open_layer("a", spec, grid, chunk_size=64).values
    monkeypatch.setattr(layers, "WARP_TILE", 37)
    np.testing.assert_array_equal(open_layer("a", spec, grid, chunk_size=63).values, default)
