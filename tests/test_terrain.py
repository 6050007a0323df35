"""Slope parity with gdaldem, nodata and edge rules, and the agri_land model (methods.md §4.1, §11 T1–T4)."""
import subprocess

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings

from evaluate import ops
from evaluate.grid import Grid, coords_of, georeference
from models import MODELS
from models.agriculture.land import land_grade
from tests.helpers import IN_CI, TEST_DATA, chunkings, no_compute, silt, terrain, write_raster

import shutil

PARAMS = {k: v["value"] for k, v in MODELS["agri_land"].SPEC.resolve({}).items()}
# gdaldem reads and computes in float32; an exact float64 Horn differs from it by up to ~5e-4°
GDALDEM_TOLERANCE_DEG = 1e-3


def as_array(values: np.ndarray, grid: Grid) -> xr.DataArray:
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)


def read_dem(path):
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64).filled(np.nan)
    return as_array(data, Grid.from_raster(path))


def golden_slope(dem_path, golden_name, tmp_path):
    """gdaldem's slope, computed now when gdaldem is installed, else the committed golden."""
    if shutil.which("gdaldem"):
        out = tmp_path / "slope.tif"
        subprocess.run(["gdaldem", "slope", "-compute_edges", "-q", str(dem_path), str(out)], check=True)
        with rasterio.open(out) as src:
            return src.read(1, masked=True).filled(np.nan)
    if IN_CI:
        pytest.fail("gdaldem is required under CI")
    return np.load(TEST_DATA / golden_name)


@pytest.mark.parametrize(
    "dem_name, golden_name",
    [(None, "slope_golden_synthetic.npy"), ("srtm_boulder_utm13n.tif", "slope_golden_srtm_utm.npy")],
)
def test_slope_matches_gdaldem_away_from_grid_edges(tmp_path, dem_name, golden_name):
    dem_path = write_raster(tmp_path / "dem.tif", terrain(90, 110)) if dem_name is None else TEST_DATA / dem_name
    ref = golden_slope(dem_path, golden_name, tmp_path)
    ours = ops.slope(read_dem(dem_path)).values
    interior = (slice(1, -1), slice(1, -1))
    both = np.isfinite(ref[interior]) & np.isfinite(ours[interior])
    assert both.sum() > 0.8 * ref[interior].size
    # nodata agrees exactly, including cells next to nodata (both replace missing neighbours by the centre)
    np.testing.assert_array_equal(np.isnan(ours[interior]), np.isnan(ref[interior]))
    assert np.nanmax(np.abs(ours[interior] - ref[interior])) <= GDALDEM_TOLERANCE_DEG
    assert np.nanmax(ours) > 20  # the comparison covers steep terrain


def test_slope_of_planes_is_exact_and_percent_is_tangent():
    grid = Grid.from_bounds((0, 0, 300, 300), 10, "EPSG:4547")
    x = grid.x_coords()[None, :] * np.ones((grid.height, 1))
    for theta in (0.0, 7.0, 30.0, 60.0):
        dem = as_array(x * np.tan(np.radians(theta)), grid)
        deg = ops.slope(dem).values[1:-1, 1:-1]
        pct = ops.slope(dem, units="percent").values[1:-1, 1:-1]
        np.testing.assert_allclose(deg, theta, atol=1e-4)
        np.testing.assert_allclose(pct, 100 * np.tan(np.radians(theta)), rtol=1e-5, atol=1e-4)


def test_slope_nodata_and_edges():
    grid = Grid.from_bounds((0, 0, 100, 100), 10, "EPSG:4547")
    values = np.fromfunction(lambda r, c: 3.0 * c, grid.shape)
    values[4, 4] = np.nan
    s = ops.slope(as_array(values, grid)).values
    assert np.isnan(s[4, 4]) and np.isnan(s).sum() == 1
    # a neighbour of the hole and an edge cell use the centre value for the missing neighbour: still finite
    assert np.isfinite(s[4, 5]) and np.isfinite(s[0, 0])


def test_geographic_slope_uses_per_row_geodesic_cell_size():
    # a north-south ramp of 1 m per metre of meridian: 45° everywhere, at any latitude
    grid = Grid.from_bounds((100.0, 59.9, 100.05, 60.0), 0.001, "EPSG:4490")
    widths, heights = grid.cell_size_m()
    northing = -np.cumsum(np.r_[0.0, (heights[:-1] + heights[1:]) / 2])
    dem = as_array(np.repeat(northing[:, None], grid.width, axis=1), grid)
    np.testing.assert_allclose(ops.slope(dem).values[1:-1, 1:-1], 45.0, atol=0.01)
    # an east-west ramp in metres of the local parallel: 45° too, although a degree of longitude is half a degree of latitude here
    easting = np.arange(grid.width)[None, :] * widths[:, None]
    np.testing.assert_allclose(ops.slope(as_array(easting, grid)).values[1:-1, 1:-1], 45.0, atol=0.01)


@pytest.mark.parametrize(
    "case, slope_deg, silt_pct, expected",
    [
        ("T1", [7.0], [50.0], [3]),
        ("T2", [7.0], [70.0], [4]),
        ("T3", [1.5], [85.0], [5]),
        ("T4", [2.0, 2.0001, 25.0, 25.01], [0.0] * 4, [1, 2, 4, 5]),
        ("silt boundaries", [1.0, 1.0, 1.0, 1.0], [59.999, 60.0, 79.999, 80.0], [1, 2, 2, 5]),
        ("nodata", [np.nan, 1.0, np.nan], [10.0, np.nan, np.nan], [0, 0, 0]),
        ("clamp", [30.0, 20.0], [70.0, 70.0], [5, 5]),
    ],
)
def test_agri_land_cases(case, slope_deg, silt_pct, expected):
    s = xr.DataArray(np.array([slope_deg], dtype=np.float64), dims=("y", "x"))
    t = xr.DataArray(np.array([silt_pct], dtype=np.float64), dims=("y", "x"))
    result = land_grade(s, t, PARAMS)
    assert result.dtype == np.uint8
    assert result.values.ravel().tolist() == expected


def _stack(rows=47, cols=53):
    grid = Grid.from_bounds((400000, 2500000, 400000 + cols * 30, 2500000 + rows * 30), 30, "EPSG:4547")
    dem = terrain(rows, cols, seed=3).astype(np.float64)
    dem[10:12, 20:23] = np.nan
    silt_values = silt(rows, cols).astype(np.float64)
    silt_values[30, :5] = np.nan
    return xr.Dataset({"dem": as_array(dem, grid), "soil_silt": as_array(silt_values, grid)}), grid


EAGER_STACK, _ = _stack()
def run_agri_land(stack):
    slope = MODELS["slope"].run({"dem": stack["dem"]}, {}, None)["slope"]
    return {"slope": slope, **MODELS["agri_land"].run({"slope": slope, "soil_silt": stack["soil_silt"]}, PARAMS)}


EAGER_RESULT = run_agri_land(EAGER_STACK)


@settings(max_examples=25, deadline=None)
@given(chunks=chunkings((47, 53)))
def test_agri_land_is_identical_for_any_chunking(chunks):
    lazy_stack = EAGER_STACK.chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = run_agri_land(lazy_stack)
    assert isinstance(lazy["agri_land"].data, da.Array)
    np.testing.assert_array_equal(lazy["agri_land"].values, EAGER_RESULT["agri_land"].values)
    np.testing.assert_array_equal(lazy["slope"].values, EAGER_RESULT["slope"].values)


def test_agri_land_covers_all_classes_on_test_terrain():
    classes = set(np.unique(EAGER_RESULT["agri_land"].values).tolist())
    assert classes == {0, 1, 2, 3, 4, 5}


def test_the_kernels_arctan_is_libms_to_one_ulp():
    """Horn slope uses Cephes' atan (vectorisable) instead of libm's: within 1 ulp over the whole range of rises."""
    import numba

    from evaluate.kernels.terrain import _atan_nonnegative

    @numba.njit
    def many(xs):
        out = np.empty_like(xs)
        for i in range(xs.shape[0]):
            out[i] = _atan_nonnegative(xs[i])
        return out

    xs = np.concatenate([[0.0, 0.66, np.nextafter(0.66, 1), 2.41421356237309504880, 1e300, np.inf], np.linspace(0, 5, 200_001), np.geomspace(1e-300, 1e300, 200_001)])
    ours, ref = many(xs), np.arctan(xs)
    assert np.all(np.abs(ours - ref) <= np.spacing(ref))
    assert np.isnan(many(np.array([np.nan]))[0])
