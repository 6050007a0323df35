"""Focal statistics against scipy.ndimage references, window geometry by hand, nodata rules, chunk invariance."""
import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from scipy import ndimage

from evaluate.grid import Grid, coords_of, georeference
from evaluate.ops.focal import FOCAL_SHAPES, FOCAL_STATS, focal, focal_halo, footprint
from tests.helpers import chunkings, no_compute, terrain

GRID = Grid.from_bounds((400000, 2500000, 400000 + 23 * 30, 2500000 + 19 * 30), 30, "EPSG:4547")
# radius 75 m = 2.5 cells; the annulus keeps 1 < d/cell ≤ 2.5
RADIUS_M = 75.0
INNER_M = {"square": None, "circle": None, "annulus": 30.0}


def as_array(values: np.ndarray, grid: Grid = GRID) -> xr.DataArray:
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)


def elevations() -> np.ndarray:
    values = terrain(19, 23, seed=11).astype(np.float64)
    values[4:7, 15:18] = np.nan
    values[12, 3] = np.nan
    values[16:19, 0:4] = np.nan  # cells whose window is mostly nodata
    return values


def classes() -> np.ndarray:
    rng = np.random.default_rng(3)
    values = rng.integers(1, 5, size=(19, 23)).astype(np.int32)
    values[8:12, 5:9] = 7
    return values


VALUES = as_array(elevations())
CLASSES = as_array(classes())


def reference_statistic(stat: str):
    def f(window):
        window = window[~np.isnan(window)]
        if window.size == 0:
            return np.nan
        if stat == "majority":
            uniq, counts = np.unique(window, return_counts=True)
            return uniq[np.argmax(counts)]  # argmax takes the first, i.e. the smallest, of tied values
        return {"mean": np.mean, "min": np.min, "max": np.max, "sum": np.sum, "std": np.std}[stat](window)

    return f


def reference(values: np.ndarray, stat: str, mask: np.ndarray, keep_nodata: bool = True) -> np.ndarray:
    """scipy.ndimage.generic_filter over the same footprint, NaN outside the grid and ignored."""
    out = ndimage.generic_filter(values.astype(np.float64), reference_statistic(stat), footprint=mask, mode="constant", cval=np.nan)
    if keep_nodata:
        out[np.isnan(values)] = np.nan
    return out


# window geometry, by hand ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, radius_cells, inner_cells, cells, side",
    [
        ("square", 2.9, None, 25, 5),
        ("square", 1.0, None, 9, 3),
        ("square", 0.4, None, 1, 1),
        ("circle", 1.0, None, 5, 3),
        ("circle", 1.5, None, 9, 3),
        ("circle", 2.0, None, 13, 5),  # (±2, 0) lies exactly on the circle: included
        ("circle", 2.5, None, 21, 5),
        ("circle", 3.0, None, 29, 7),
        ("annulus", 2.0, 1.0, 8, 5),  # d = 1 lies exactly on the inner circle: excluded
        ("annulus", 2.5, 0.0, 20, 5),  # only the centre is excluded
        ("annulus", 3.0, 2.0, 16, 7),
    ],
)
def test_footprint_counts_cells_whose_centre_is_inside(shape, radius_cells, inner_cells, cells, side):
    inner = None if inner_cells is None else inner_cells * 30
    mask = footprint(GRID, shape, radius_cells * 30, inner)
    assert mask.shape == (side, side) and mask.sum() == cells
    assert focal_halo(mask) == side // 2
    np.testing.assert_array_equal(mask, mask[::-1, ::-1])


def test_annulus_of_barrier_detection():
    # methods.md §9.3 item 7: inner = r − 1 map unit, outer = r; at r = 90 m on 30 m cells the ring d ∈ (89, 90]
    mask = footprint(GRID, "annulus", 90.0, 89.0)
    ring = np.zeros((7, 7), dtype=bool)
    ring[0, 3] = ring[6, 3] = ring[3, 0] = ring[3, 6] = True
    np.testing.assert_array_equal(mask, ring)


def test_footprint_on_non_square_and_geographic_cells():
    grid = Grid.from_bounds((0, 0, 400, 400), (10, 20), "EPSG:4547")
    mask = footprint(grid, "circle", 40.0)
    assert mask.shape == (5, 9)  # ±2 rows of 20 m, ±4 columns of 10 m
    assert mask[0, 4] and not mask[0, 3] and mask[2, 0]
    geo = Grid.from_bounds((100.0, 29.0, 100.3, 31.0), 0.0003, "EPSG:4490")
    widths, heights = geo.cell_size_m()
    mask = footprint(geo, "square", 200.0)
    assert mask.shape == (2 * int(200 / heights.mean()) + 1, 2 * int(200 / widths.mean()) + 1)


def test_bad_windows_are_rejected():
    with pytest.raises(ValueError, match="stat"):
        focal(VALUES, "median", radius_m=60)
    with pytest.raises(ValueError, match="shape"):
        focal(VALUES, "mean", "hexagon", radius_m=60)
    with pytest.raises(ValueError, match="inner_radius_m"):
        focal(VALUES, "mean", "annulus", radius_m=60)
    with pytest.raises(ValueError, match="inner_radius_m"):
        focal(VALUES, "mean", "annulus", radius_m=60, inner_radius_m=60)
    with pytest.raises(ValueError, match="annulus only"):
        focal(VALUES, "mean", "circle", radius_m=60, inner_radius_m=30)
    with pytest.raises(ValueError, match="holds no cell"):
        focal(VALUES, "mean", "annulus", radius_m=20, inner_radius_m=10)


# values against scipy ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", FOCAL_SHAPES)
@pytest.mark.parametrize("stat", ["mean", "min", "max", "sum", "std"])
def test_float_statistics_match_scipy_generic_filter(stat, shape):
    mask = footprint(GRID, shape, RADIUS_M, INNER_M[shape])
    ours = focal(VALUES, stat, shape, radius_m=RADIUS_M, inner_radius_m=INNER_M[shape])
    assert ours.name == f"focal_{stat}" and ours.dtype == np.float64
    ref = reference(VALUES.values, stat, mask)
    np.testing.assert_array_equal(np.isnan(ours.values), np.isnan(ref))
    np.testing.assert_allclose(ours.values, ref, rtol=1e-12, atol=1e-9)


def test_square_mean_matches_uniform_filter():
    values = VALUES.values
    valid = np.isfinite(values)
    size = 2 * 2 + 1
    sums = ndimage.uniform_filter(np.where(valid, values, 0.0), size=size, mode="constant", cval=0.0)
    counts = ndimage.uniform_filter(valid.astype(np.float64), size=size, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore"):
        ref = np.where(valid, sums / counts, np.nan)
    np.testing.assert_allclose(focal(VALUES, "mean", "square", radius_m=RADIUS_M).values, ref, rtol=1e-12)


def test_std_keeps_its_precision_on_high_flat_terrain():
    # 4000 m ± 1 cm: Σx² − (Σx)²/n in float64 would lose about half of the digits here
    rng = np.random.default_rng(0)
    values = 4000.0 + 0.01 * rng.standard_normal((19, 23))
    mask = footprint(GRID, "circle", RADIUS_M)
    ref = reference(values, "std", mask)
    np.testing.assert_allclose(focal(as_array(values), "std", "circle", radius_m=RADIUS_M).values, ref, rtol=1e-9)


@pytest.mark.parametrize("shape", FOCAL_SHAPES)
def test_majority_of_classes_matches_scipy_and_keeps_the_dtype(shape):
    mask = footprint(GRID, shape, RADIUS_M, INNER_M[shape])
    ours = focal(CLASSES, "majority", shape, radius_m=RADIUS_M, inner_radius_m=INNER_M[shape])
    assert ours.dtype == np.int32
    np.testing.assert_array_equal(ours.values, reference(CLASSES.values.astype(np.float64), "majority", mask).astype(np.int32))


def test_majority_ties_go_to_the_smallest_value():
    grid = Grid.from_bounds((0, 0, 30, 30), 10, "EPSG:4547")
    values = np.array([[5, 5, 2], [2, 9, 9], [7, 7, 1]], dtype=np.int16)
    out = focal(as_array(values, grid), "majority", radius_m=10).values
    # centre window: 5, 2, 9 and 7 twice each, 1 once → 2
    assert out[1, 1] == 2
    # top-left window: 5, 5, 2, 9 → 5; bottom-right window: 9, 9, 7, 1 → 9
    assert out[0, 0] == 5 and out[2, 2] == 9
    floats = values.astype(np.float64)
    floats[1, 0] = np.nan  # one 2 fewer: 5, 7 and 9 tie → 5
    assert focal(as_array(floats, grid), "majority", radius_m=10).values[1, 1] == 5
    # values that are not integers are coded by sorting instead of a lookup table
    assert focal(as_array(floats + 0.5, grid), "majority", radius_m=10).values[1, 1] == 5.5
    wide = floats * 1e7  # integers too far apart for the lookup table
    assert focal(as_array(wide, grid), "majority", radius_m=10).values[1, 1] == 5e7


def test_integer_nodata_and_min_max_dtypes():
    values = classes()
    values[0:3, 0:3] = -1
    layer = as_array(values)
    for stat in ("majority", "min", "max"):
        out = focal(layer, stat, "circle", radius_m=45, nodata=-1)
        assert out.dtype == np.int32 and out.attrs["nodata"] == -1
        mask = footprint(GRID, "circle", 45)
        ref = reference(np.where(values == -1, np.nan, values).astype(np.float64), stat, mask)
        np.testing.assert_array_equal(out.values, np.where(np.isnan(ref), -1, ref).astype(np.int32))
    with no_compute():
        lazy = focal(layer.chunk({"y": 5, "x": 1}), "majority", "circle", radius_m=45, nodata=-1)
    np.testing.assert_array_equal(lazy.values, focal(layer, "majority", "circle", radius_m=45, nodata=-1).values)
    mean = focal(layer, "mean", radius_m=30, nodata=-1)
    assert mean.dtype == np.float64 and np.isnan(mean.values[1, 1]) and np.isfinite(mean.values[3, 3])
    assert focal(as_array(values.astype(np.int16)), "mean", radius_m=30).dtype == np.float32
    assert focal(as_array(values.astype(np.uint8) > 3), "max", radius_m=30).dtype == bool


def test_nodata_centre_stays_nodata_unless_filled():
    kept = focal(VALUES, "mean", "circle", radius_m=RADIUS_M).values
    filled = focal(VALUES, "mean", "circle", radius_m=RADIUS_M, fill_nodata=True).values
    holes = np.isnan(VALUES.values)
    assert np.isnan(kept[holes]).all()
    mask = footprint(GRID, "circle", RADIUS_M)
    np.testing.assert_allclose(filled, reference(VALUES.values, "mean", mask, keep_nodata=False), rtol=1e-12)
    assert np.isfinite(filled[5, 16]) and np.isfinite(filled[12, 3])
    np.testing.assert_array_equal(filled[~holes], kept[~holes])


def test_all_nodata_window_gives_nodata():
    values = np.full((5, 6), np.nan)
    values[0, 0] = 4.0
    grid = Grid.from_bounds((0, 0, 60, 50), 10, "EPSG:4547")
    for stat in FOCAL_STATS:
        out = focal(as_array(values, grid), stat, "annulus", radius_m=10, inner_radius_m=5, fill_nodata=True).values
        # only the four edge neighbours of [0, 0] see the valid cell
        assert np.isfinite(out).sum() == 2 and np.isfinite(out[0, 1]) and np.isfinite(out[1, 0]), stat


def test_outputs_keep_coords_crs_and_units():
    layer = VALUES.assign_attrs(units="m")
    out = focal(layer, "max", "circle", radius_m=RADIUS_M, nodata=-9999.0)
    assert out.dims == ("y", "x") and out.rio.crs == VALUES.rio.crs
    np.testing.assert_array_equal(out["y"].values, VALUES["y"].values)
    assert out.attrs["units"] == "m" and out.attrs["halo_cells"] == 2


# chunk invariance -------------------------------------------------------------------------------
CASES = [(stat, shape) for stat in FOCAL_STATS for shape in FOCAL_SHAPES]


def run_case(values: xr.DataArray, stat: str, shape: str) -> xr.DataArray:
    return focal(values, stat, shape, radius_m=RADIUS_M, inner_radius_m=INNER_M[shape])


EAGER = {(stat, shape): run_case(CLASSES if stat == "majority" else VALUES, stat, shape).values for stat, shape in CASES}


@pytest.mark.parametrize("stat", FOCAL_STATS)
@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((19, 23)))
def test_focal_is_identical_for_any_chunking(stat, chunks):
    source = CLASSES if stat == "majority" else VALUES
    lazy_source = source.chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = {shape: run_case(lazy_source, stat, shape) for shape in FOCAL_SHAPES}
    for out in lazy.values():
        assert isinstance(out.data, da.Array) and out.data.chunks == chunks
    # one compute for the three shapes keeps the test fast
    computed = dask.compute(*[out.data for out in lazy.values()])
    for shape, values in zip(lazy, computed):
        np.testing.assert_array_equal(values, EAGER[(stat, shape)], err_msg=shape)


@pytest.mark.parametrize("stat, shape", CASES)
def test_focal_with_one_cell_wide_chunks(stat, shape):
    source = CLASSES if stat == "majority" else VALUES
    lazy_source = source.chunk({"y": (1, 1, 17), "x": (1,) * 4 + (19,)})
    with no_compute():
        lazy = run_case(lazy_source, stat, shape)
    np.testing.assert_array_equal(lazy.values, EAGER[(stat, shape)])
