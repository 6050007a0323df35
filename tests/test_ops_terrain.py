"""Aspect parity with gdaldem, relief (地形起伏度, methods.md §2.2 item 2) against scipy / numpy references, chunk invariance."""
import subprocess
import warnings

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from evaluate.grid import Grid, coords_of, georeference
from evaluate.ops.terrain import aspect, relief, relief_window_cells, slope
from tests.helpers import TEST_DATA, chunkings, no_compute, require_tool, terrain, write_raster

# gdaldem aspect sums the 3×3 window in float32: its own rounding error is about
# ulp(4·max|z|) / |window gradient sum| radians, ~1e-3° at 8–10° slope on 3000 m
# terrain with 90 m cells. Comparisons at 1e-3° are therefore made where the
# slope is at least 10°; everywhere else that error model bounds the difference.
GDALDEM_TOLERANCE_DEG = 1e-3
STEEP_ENOUGH_DEG = 10.0


def as_array(values: np.ndarray, grid: Grid) -> xr.DataArray:
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)


def read_dem(path) -> xr.DataArray:
    with rasterio.open(path) as src:
        data = src.read(1, masked=True).astype(np.float64).filled(np.nan)
    return as_array(data, Grid.from_raster(path))


def gdaldem_aspect(dem_path, tmp_path) -> np.ndarray:
    require_tool("gdaldem")
    out = tmp_path / "aspect.tif"
    subprocess.run(["gdaldem", "aspect", "-compute_edges", "-q", str(dem_path), str(out)], check=True)
    with rasterio.open(out) as src:
        return src.read(1, masked=True).astype(np.float64).filled(np.nan)


def angular_difference(a, b):
    return np.abs((np.asarray(a, dtype=np.float64) - b + 180.0) % 360.0 - 180.0)


def float32_rounding_model_deg(z: np.ndarray) -> np.ndarray:
    """gdaldem's float32 rounding of the Horn sums, in degrees of aspect, for the interior cells."""
    centre = z[1:-1, 1:-1]
    w = [z[i : i + z.shape[0] - 2, j : j + z.shape[1] - 2] for i in range(3) for j in range(3)]
    w = [np.where(np.isnan(v), centre, v) for v in w]  # gdaldem -compute_edges: missing neighbours take the centre
    gx = (w[2] + 2 * w[5] + w[8]) - (w[0] + 2 * w[3] + w[6])
    gy = (w[6] + 2 * w[7] + w[8]) - (w[0] + 2 * w[1] + w[2])
    zmax = ndimage.maximum_filter(np.nan_to_num(np.abs(z)), size=3)[1:-1, 1:-1]
    with np.errstate(divide="ignore"):
        return np.degrees(np.spacing(np.float32(4 * zmax)).astype(np.float64) / np.hypot(gx, gy))


@pytest.mark.parametrize("dem_name", [None, "srtm_boulder_utm13n.tif"])
def test_aspect_matches_gdaldem_away_from_grid_edges(tmp_path, dem_name):
    dem_path = write_raster(tmp_path / "dem.tif", terrain(90, 110)) if dem_name is None else TEST_DATA / dem_name
    ref = gdaldem_aspect(dem_path, tmp_path)
    dem = read_dem(dem_path)
    ours = aspect(dem).values
    assert ours.dtype == np.float32
    interior = (slice(1, -1), slice(1, -1))
    ours, ref = ours[interior], ref[interior]
    # gdaldem writes flat cells (and nodata) as nodata; so do we by default
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.nanmin(ours) >= 0 and np.nanmax(ours) < 360
    diff = angular_difference(ours, ref)
    steep = slope(dem).values[interior] >= STEEP_ENOUGH_DEG
    assert steep.sum() > 0.4 * steep.size
    assert np.nanmax(diff[steep]) <= GDALDEM_TOLERANCE_DEG
    # on gentler slopes the difference is gdaldem's own float32 rounding
    model = float32_rounding_model_deg(dem.values)
    finite = np.isfinite(diff)
    assert np.all(diff[finite] <= 1e-4 + 4 * model[finite])


def test_aspect_matches_gdaldem_everywhere_when_its_float32_sums_are_exact(tmp_path):
    # elevations on a 1/64 m lattice below 2**12 m: every window sum gdaldem forms in float32 is exact,
    # so even near-flat cells must agree to the float32 output rounding
    z = np.round(terrain(60, 70, seed=5).astype(np.float64) * 64) / 64
    z[30:36, 40:47] = 512.25
    dem_path = write_raster(tmp_path / "dem.tif", z.astype(np.float32))
    ref = gdaldem_aspect(dem_path, tmp_path)[1:-1, 1:-1]
    ours = aspect(read_dem(dem_path)).values[1:-1, 1:-1]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ref).sum() >= 5 * 4  # the flat plateau and plain are compared too
    assert np.nanmax(angular_difference(ours, ref)) <= 1e-4


@pytest.mark.parametrize(
    "east, north, expected",
    [(-1.0, 0.0, 90.0), (1.0, 0.0, 270.0), (0.0, -1.0, 0.0), (0.0, 1.0, 180.0), (-1.0, -1.0, 45.0), (0.3, -0.3 * np.sqrt(3), 330.0)],
)
def test_aspect_of_planes_faces_downhill_clockwise_from_north(east, north, expected):
    grid = Grid.from_bounds((0, 0, 200, 160), 10, "EPSG:4547")
    x = grid.x_coords()[None, :]
    y = grid.y_coords()[:, None]
    a = aspect(as_array(east * x + north * y + np.zeros(grid.shape), grid)).values
    # (edge cells use the centre value for missing neighbours, a one-sided gradient: test_aspect_flat_value_nodata_and_edges)
    assert np.all(angular_difference(a[1:-1, 1:-1], expected) < 1e-4)


def test_aspect_flat_value_nodata_and_edges():
    grid = Grid.from_bounds((0, 0, 100, 100), 10, "EPSG:4547")
    values = np.fromfunction(lambda r, c: 3.0 * c, grid.shape)
    values[:, :4] = 7.0  # a flat plain in the west
    values[6, 7] = np.nan
    dem = as_array(values, grid)
    a = aspect(dem).values
    assert np.isnan(a[6, 7]) and np.isnan(a[:, :3]).all()
    # next to the hole and on the grid's edge the missing neighbours take the centre value: still facing west
    np.testing.assert_allclose(a[6, 8], 270.0, atol=1e-4)
    np.testing.assert_allclose(a[0, 6], 270.0, atol=1e-4)
    np.testing.assert_allclose(a[5, 9], 270.0, atol=1e-4)
    arcgis = aspect(dem, flat_value=-1.0).values
    assert (arcgis[:, :3] == -1.0).all() and np.isnan(arcgis).sum() == 1


def test_geographic_aspect_uses_per_row_geodesic_cell_size():
    # at 60°N a degree of longitude is half a degree of latitude: ignoring that turns 45° into ~63°
    grid = Grid.from_bounds((100.0, 59.9, 100.05, 60.0), 0.001, "EPSG:4490")
    widths, heights = grid.cell_size_m()
    northing = -np.cumsum(np.r_[0.0, (heights[:-1] + heights[1:]) / 2])[:, None]
    easting = np.arange(grid.width)[None, :] * widths[:, None]
    a = aspect(as_array(-(northing + 0 * easting), grid)).values[1:-1, 1:-1]
    np.testing.assert_allclose(a, 0.0, atol=0.01)
    # widths shrink northwards, so this east-west ramp also tilts north-south by ~0.001° per column: western columns
    a = aspect(as_array(-easting, grid)).values[1:-1, 1:-1]
    np.testing.assert_allclose(a[:, :10], 90.0, atol=0.01)
    a = aspect(as_array(-(easting + northing), grid)).values[1:-1, 1:-1]
    np.testing.assert_allclose(a[:, :10], 45.0, atol=0.1)


# relief -----------------------------------------------------------------------------------------
def moving_range_reference(values: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """scipy max/min filters with NaN ignored (±inf outside the grid and in holes), NaN centre → NaN."""
    hi = ndimage.maximum_filter(np.where(np.isnan(values), -np.inf, values), size=(ny, nx), mode="constant", cval=-np.inf)
    lo = ndimage.minimum_filter(np.where(np.isnan(values), np.inf, values), size=(ny, nx), mode="constant", cval=np.inf)
    out = hi - lo
    out[np.isnan(values)] = np.nan
    return out


def block_range_reference(values: np.ndarray, by: int, bx: int) -> np.ndarray:
    """Blocks anchored at [0, 0] by reshaping a NaN-padded copy."""
    rows, cols = values.shape
    nby, nbx = -(-rows // by), -(-cols // bx)
    padded = np.full((nby * by, nbx * bx), np.nan)
    padded[:rows, :cols] = values
    blocks = padded.reshape(nby, by, nbx, bx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        rng = np.nanmax(blocks, axis=(1, 3)) - np.nanmin(blocks, axis=(1, 3))
    out = np.repeat(np.repeat(rng, by, axis=0), bx, axis=1)[:rows, :cols]
    out[np.isnan(values)] = np.nan
    return out


RELIEF_GRID = Grid.from_bounds((400000, 2500000, 400000 + 41 * 30, 2500000 + 37 * 30), 30, "EPSG:4547")


def relief_dem() -> np.ndarray:
    dem = terrain(37, 41, seed=7).astype(np.float64)
    dem[3:9, 30:33] = np.nan
    dem[20, 5] = np.nan
    dem[30:37, 0:7] = np.nan  # a whole 7×7 block of nodata in block mode (window 210 m)
    return dem


RELIEF_DEM = as_array(relief_dem(), RELIEF_GRID)


@pytest.mark.parametrize(
    "cell, window_m, moving, block",
    [(30, 1000, 33, 33), (90, 1000, 11, 11), (25, 1000, 41, 40), (30, 450, 15, 15), (100, 300, 3, 3), (30, 100, 3, 3), (30, 75, 3, 3)],
)
def test_relief_window_rounding(cell, window_m, moving, block):
    grid = Grid.from_bounds((0, 0, 100 * cell, 100 * cell), cell, "EPSG:4547")
    assert relief_window_cells(grid, window_m, "moving") == (moving, moving)
    assert relief_window_cells(grid, window_m, "block") == (block, block)


def test_relief_window_on_a_geographic_grid_uses_the_mean_cell_size():
    grid = Grid.from_bounds((100.0, 29.0, 100.3, 31.0), 0.0003, "EPSG:4490")
    widths, heights = grid.cell_size_m()
    ny, nx = relief_window_cells(grid, 1000, "moving")
    assert (ny, nx) == (2 * int(1000 / heights.mean() / 2) + 1, 2 * int(1000 / widths.mean() / 2) + 1)
    assert nx > ny  # cells are narrower than high at 30°N
    with pytest.raises(ValueError, match="single cell"):
        relief_window_cells(grid, 20, "moving")


@pytest.mark.parametrize("window_m", [90, 150, 210, 390])
def test_moving_relief_matches_scipy_max_minus_min(window_m):
    ny, nx = relief_window_cells(RELIEF_GRID, window_m, "moving")
    ours = relief(RELIEF_DEM, window_m).values
    assert ours.dtype == np.float32
    ref = moving_range_reference(RELIEF_DEM.values, ny, nx)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref.astype(np.float32), rtol=1e-6, atol=0)


def test_moving_relief_on_non_square_cells_has_a_rectangular_window():
    grid = Grid.from_bounds((0, 0, 41 * 20, 37 * 40), (20, 40), "EPSG:4547")
    dem = as_array(relief_dem(), grid)
    assert relief_window_cells(grid, 200, "moving") == (5, 11)
    np.testing.assert_allclose(relief(dem, 200).values, moving_range_reference(dem.values, 5, 11), rtol=1e-6)


@pytest.mark.parametrize("window_m", [60, 120, 210, 330])
def test_block_relief_matches_numpy_blocks(window_m):
    by, bx = relief_window_cells(RELIEF_GRID, window_m, "block")
    ours = relief(RELIEF_DEM, window_m, mode="block").values
    ref = block_range_reference(RELIEF_DEM.values, by, bx)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref.astype(np.float32), rtol=1e-6, atol=0)


def test_relief_nodata_rules():
    grid = Grid.from_bounds((0, 0, 70, 60), 10, "EPSG:4547")
    values = np.full((6, 7), np.nan)
    values[2, 3] = 100.0
    values[2, 4] = 130.0
    dem = as_array(values, grid)
    moving = relief(dem, 30).values
    assert moving[2, 3] == 30 and moving[2, 4] == 30 and np.isnan(moving).sum() == values.size - 2
    block = relief(dem, 30, mode="block").values
    # block [0:3, 3:6] holds both cells: range 30; the nodata cells of a block stay nodata
    assert block[2, 3] == 30 and block[2, 4] == 30 and np.isnan(block).sum() == values.size - 2
    values[2, 4] = np.nan
    assert relief(as_array(values, grid), 30).values[2, 3] == 0  # a lone valid cell


def test_relief_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        relief(RELIEF_DEM, 300, mode="blocks")
    with pytest.raises(ValueError, match="single cell"):
        relief(RELIEF_DEM, 40)
    with pytest.raises(ValueError, match="positive"):
        relief(RELIEF_DEM, -5)


def test_relief_of_an_integer_dem():
    grid = Grid.from_bounds((0, 0, 200, 50), 10, "EPSG:4547")
    ramp = np.repeat(np.arange(20, dtype=np.int16)[None, :] * 3, 5, axis=0)
    expected = np.full(ramp.shape, 6.0, dtype=np.float32)
    expected[:, [0, -1]] = 3.0  # the window is clipped at the grid's edge
    np.testing.assert_array_equal(relief(as_array(ramp, grid), 30).values, expected)
    np.testing.assert_array_equal(relief(as_array(ramp, grid), 30, mode="block").values[0, :6], [6, 6, 6, 6, 6, 6])


# chunk invariance -------------------------------------------------------------------------------
EAGER = {
    "aspect": aspect(RELIEF_DEM).values,
    "moving": relief(RELIEF_DEM, 150).values,
    "moving_wide": relief(RELIEF_DEM, 390).values,
    "block": relief(RELIEF_DEM, 210, mode="block").values,
    "block_small": relief(RELIEF_DEM, 120, mode="block").values,
}
LAZY = {
    "aspect": lambda dem: aspect(dem),
    "moving": lambda dem: relief(dem, 150),
    "moving_wide": lambda dem: relief(dem, 390),
    "block": lambda dem: relief(dem, 210, mode="block"),
    "block_small": lambda dem: relief(dem, 120, mode="block"),
}


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((37, 41)), which=st.sampled_from(sorted(EAGER)))
def test_aspect_and_relief_are_identical_for_any_chunking(chunks, which):
    lazy_dem = RELIEF_DEM.chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = LAZY[which](lazy_dem)
    assert isinstance(lazy.data, da.Array)
    assert lazy.data.chunks == chunks
    np.testing.assert_array_equal(lazy.values, EAGER[which])


@pytest.mark.parametrize("which", sorted(EAGER))
def test_one_cell_wide_chunks(which):
    lazy_dem = RELIEF_DEM.chunk({"y": 1, "x": (1,) * 5 + (36,)})
    with no_compute():
        lazy = LAZY[which](lazy_dem)
    np.testing.assert_array_equal(lazy.values, EAGER[which])


def test_outputs_keep_coords_crs_and_units():
    for out in (aspect(RELIEF_DEM), relief(RELIEF_DEM, 150), relief(RELIEF_DEM, 150, mode="block")):
        assert out.dims == ("y", "x")
        np.testing.assert_array_equal(out["x"].values, RELIEF_DEM["x"].values)
        assert out.rio.crs == RELIEF_DEM.rio.crs
        assert out.attrs["units"] in ("m", "degrees")
