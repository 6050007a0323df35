"""Capped Euclidean distance and cost distance (methods.md §9.3 item 3, §11 T25; ARCHITECTURE.md "Scale" item 3).

References: scipy's exact EDT, a plain-Python Dijkstra written here, skimage's
MCP_Geometric (same ArcGIS edge costs), pyproj geodesics, and T25 by hand.
"""
import heapq
import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from scipy import ndimage
from skimage.graph import MCP_Geometric

from evaluate.grid import Grid, coords_of, georeference
from evaluate.ops.distance import cost_distance, cost_halo, distance, distance_halo, travel_time
from tests.helpers import chunkings, no_compute

REL = 1e-9


def on_grid(values, grid: Grid) -> xr.DataArray:
    return georeference(xr.DataArray(np.asarray(values), coords=coords_of(grid), dims=("y", "x")), grid)


def projected(rows, cols, dx=30.0, dy=None):
    dy = dx if dy is None else dy
    return Grid.from_bounds((400000, 2500000, 400000 + cols * dx, 2500000 + rows * dy), (dx, dy), "EPSG:4547")


def scipy_capped(features, cap, dx, dy):
    """scipy's EDT of the features, +inf beyond the cap and NaN at nodata."""
    present = np.nan_to_num(features, nan=0.0) != 0
    ref = ndimage.distance_transform_edt(~present, sampling=(dy, dx)) if present.any() else np.full(features.shape, np.inf)
    ref = np.where(ref <= cap, ref, np.inf)
    return np.where(np.isnan(features), np.nan, ref)


def assert_same_distance(ours, ref):
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=REL, atol=0)


def python_dijkstra(sources, resistance, dx, dy, max_cost):
    """Textbook multi-source Dijkstra with heapq, ArcGIS CostDistance edge costs; NaN outside the cap."""
    rows, cols = resistance.shape
    best = np.full((rows, cols), np.inf)
    queue = []
    for i in range(rows):
        for j in range(cols):
            if sources[i, j] and not math.isnan(resistance[i, j]):
                best[i, j] = 0.0
                queue.append((0.0, i, j))
    heapq.heapify(queue)
    while queue:
        cost, i, j = heapq.heappop(queue)
        if cost > best[i, j]:
            continue
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ni, nj = i + di, j + dj
                if (di, dj) == (0, 0) or not (0 <= ni < rows and 0 <= nj < cols) or math.isnan(resistance[ni, nj]):
                    continue
                length = math.hypot(dx * dj, dy * di)
                new = cost + length * (resistance[i, j] + resistance[ni, nj]) / 2
                if new <= max_cost and new < best[ni, nj]:
                    best[ni, nj] = new
                    heapq.heappush(queue, (new, ni, nj))
    return np.where(np.isinf(best), np.nan, best)


def random_case(seed, rows=17, cols=21, barriers=0.12):
    rng = np.random.default_rng(seed)
    resistance = rng.uniform(1.0, 10.0, (rows, cols))
    resistance[rng.random((rows, cols)) < barriers] = np.nan
    sources = np.zeros((rows, cols))
    sources[rng.integers(0, rows, 4), rng.integers(0, cols, 4)] = 1.0
    return sources, resistance


# --- Euclidean distance --------------------------------------------------------------------


@pytest.mark.parametrize("dx, dy", [(30.0, 30.0), (30.0, 20.0), (10.0, 25.0)])
@pytest.mark.parametrize("cap", [95.0, 400.0, 1e6])
def test_distance_matches_scipy_edt(dx, dy, cap):
    rng = np.random.default_rng(int(dx + dy))
    features = (rng.random((40, 47)) < 0.01).astype(np.float64)
    features[20, :] = 0.0
    features[5, 30] = 1.0
    features[rng.random((40, 47)) < 0.05] = np.nan
    grid = projected(40, 47, dx, dy)
    ours = distance(on_grid(features, grid), cap)
    assert ours.attrs["units"] == "m" and ours.dtype == np.float64
    assert_same_distance(ours.values, scipy_capped(features, cap, dx, dy))


def test_distance_nodata_no_features_and_beyond_value():
    grid = projected(6, 7)
    empty = on_grid(np.zeros((6, 7)), grid)
    assert np.isposinf(distance(empty, 100.0).values).all()
    assert np.isnan(distance(empty, 100.0, beyond=np.nan).values).all()
    features = np.zeros((6, 7))
    features[0, 0] = 1.0
    features[0, 1] = np.nan  # nodata: not a feature, and nodata in the result
    out = distance(on_grid(features, grid), 61.0).values
    assert out[0, 0] == 0.0 and np.isnan(out[0, 1]) and out[0, 2] == 60.0 and np.isinf(out[0, 3])
    # bool and integer masks work too
    np.testing.assert_array_equal(distance(on_grid(features == 1, grid), 61.0).values[0, :4], [0.0, 30.0, 60.0, np.inf])


def test_distance_halo_and_bad_cap():
    assert distance_halo(95.0, projected(5, 5, 30.0, 20.0)) == 5
    with pytest.raises(ValueError, match="max_distance_m"):
        distance(on_grid(np.zeros((3, 3)), projected(3, 3)), 0.0)


def test_distance_on_a_geographic_grid_is_close_to_the_geodesic():
    grid = Grid.from_bounds((100.0, 45.0, 100.06, 45.05), 0.001, "EPSG:4490")
    features = np.zeros(grid.shape)
    features[25, 30] = 1.0
    out = distance(on_grid(features, grid), 2000.0).values
    geod = Geod(ellps="GRS80")
    lon, lat = np.meshgrid(grid.x_coords(), grid.y_coords())
    _, _, geodesic = geod.inv(np.full(lon.shape, lon[25, 30]), np.full(lat.shape, lat[25, 30]), lon, lat)
    inside = geodesic < 1990.0
    assert inside.sum() > 500
    np.testing.assert_allclose(out[inside], geodesic[inside], rtol=2e-4, atol=1e-6)
    assert np.isinf(out[geodesic > 2010.0]).all()


def test_a_feature_exactly_at_the_cap_crosses_chunks():
    grid = projected(15, 3, 30.0, 20.0)
    features = np.zeros(grid.shape)
    features[1, 1] = 1.0
    chunked = on_grid(features, grid).chunk({"y": (1, 7, 7), "x": 1})
    out = distance(chunked, 140.0).values
    np.testing.assert_array_equal(out[:, 1], [20.0 * abs(k - 1) if abs(k - 1) <= 7 else np.inf for k in range(15)])


def test_geographic_cost_distance_follows_meridians_and_parallels():
    grid = Grid.from_bounds((100.0, 45.0, 100.03, 45.03), 0.001, "EPSG:4490")
    sources = np.zeros(grid.shape)
    sources[15, 15] = 1.0
    out = cost_distance(on_grid(sources, grid), on_grid(np.ones(grid.shape), grid), 1e6, min_resistance=1.0).values
    geod = Geod(ellps="GRS80")
    lon, lat = grid.x_coords(), grid.y_coords()
    _, _, along_meridian = geod.inv(np.full(30, lon[15]), np.full(30, lat[15]), np.full(30, lon[15]), lat)
    np.testing.assert_allclose(out[:, 15], along_meridian, rtol=1e-6)
    # along the parallel: 1 mm of the geodesic's shortcut over 1.2 km
    _, _, along_parallel = geod.inv(np.full(30, lon[15]), np.full(30, lat[15]), lon, np.full(30, lat[15]))
    np.testing.assert_allclose(out[15, :], along_parallel, rtol=1e-5)


DIST_GRID = projected(23, 26, 30.0, 20.0)
DIST_FEATURES = np.zeros((23, 26))
DIST_FEATURES[np.arange(23), np.arange(23)] = 1.0  # a diagonal line crosses every chunk corner it meets
DIST_FEATURES[3, 20] = DIST_FEATURES[19, 2] = DIST_FEATURES[22, 25] = 1.0
DIST_FEATURES[10:12, 14:17] = np.nan
DIST_EAGER = {cap: distance(on_grid(DIST_FEATURES, DIST_GRID), cap).values for cap in (70.0, 200.0, 5000.0)}


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((23, 26)), cap=st.sampled_from(sorted(DIST_EAGER)))
def test_distance_is_identical_for_any_chunking(chunks, cap):
    lazy_input = on_grid(DIST_FEATURES, DIST_GRID).chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = distance(lazy_input, cap)
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks == chunks
    assert "spatial_ref" in lazy.coords
    np.testing.assert_array_equal(lazy.values, DIST_EAGER[cap])
    assert_same_distance(DIST_EAGER[cap], scipy_capped(DIST_FEATURES, cap, 30.0, 20.0))


# --- Cost distance -------------------------------------------------------------------------


def test_t25_cost_distance_row():
    grid = Grid.from_bounds((0, 0, 4, 1), 1.0, "EPSG:4547")
    sources = on_grid(np.array([[1.0, 0, 0, 0]]), grid)
    resistance = on_grid(np.array([[1.0, 2.0, 3.0, 4.0]]), grid)
    expected = [[0.0, 1.5, 4.0, 7.5]]
    np.testing.assert_array_equal(cost_distance(sources, resistance, 100.0, min_resistance=1.0).values, expected)
    lazy = cost_distance(sources.chunk(1), resistance.chunk(1), 100.0, min_resistance=1.0)
    np.testing.assert_array_equal(lazy.values, expected)
    capped = cost_distance(sources, resistance, 4.0, min_resistance=1.0).values
    np.testing.assert_array_equal(capped, [[0.0, 1.5, 4.0, np.nan]])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dx, dy", [(1.0, 1.0), (30.0, 20.0)])
def test_cost_distance_matches_python_dijkstra(seed, dx, dy):
    sources, resistance = random_case(seed)
    grid = projected(*resistance.shape, dx, dy)
    max_cost = 20.0 * dx
    ours = cost_distance(on_grid(sources, grid), on_grid(resistance, grid), max_cost, min_resistance=1.0)
    ref = python_dijkstra(sources, resistance, dx, dy, max_cost)
    assert ours.name == "mcr" and ours.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(ours.values), np.isnan(ref))
    reached = np.isfinite(ref).sum()
    assert 50 < reached < np.isfinite(resistance).sum()  # the cap bites but much is reached
    np.testing.assert_allclose(ours.values, ref, rtol=1e-12, atol=0)


def test_cost_distance_matches_skimage_mcp_geometric_uncapped():
    sources, resistance = random_case(7, rows=60, cols=70, barriers=0.2)
    grid = projected(60, 70, 10.0)
    ours = cost_distance(on_grid(sources, grid), on_grid(resistance, grid), 1e9, min_resistance=1.0).values
    mcp = MCP_Geometric(np.where(np.isnan(resistance), np.inf, resistance), sampling=(10.0, 10.0))
    starts = [tuple(p) for p in np.argwhere(sources == 1)]
    ref, _ = mcp.find_costs(starts)
    reached = np.isfinite(ref) & ~np.isnan(resistance)
    np.testing.assert_allclose(ours[reached], ref[reached], rtol=1e-9)
    # cells walled off by barriers are unreachable: NaN (ArcGIS NoData) like the barriers themselves
    assert np.isnan(ours[~reached]).all()


def test_barriers_and_sources_on_barriers():
    grid = projected(7, 7, 1.0)
    resistance = np.ones((7, 7))
    resistance[2:5, 2:5] = np.nan
    resistance[3, 3] = 1.0  # a pocket walled in by barriers
    sources = np.zeros((7, 7))
    sources[0, 0] = 1.0
    sources[2, 2] = 1.0  # on a barrier: no source
    args = (on_grid(sources, grid), on_grid(resistance, grid), 100.0)
    out = cost_distance(*args, min_resistance=1.0).values
    assert np.isnan(out[2:5, 2:5]).all()
    out_inf = cost_distance(*args, min_resistance=1.0, beyond=np.inf).values
    assert np.isposinf(out_inf[3, 3]) and np.isnan(out_inf[2, 2])
    # the way round the block: the barrier cells are never crossed
    assert out[6, 6] == pytest.approx(python_dijkstra(sources == 1, resistance, 1.0, 1.0, 100.0)[6, 6])
    assert out[6, 6] > 6 * math.sqrt(2)


def test_resistance_below_min_resistance_fails_at_compute_time():
    grid = projected(9, 9, 1.0)
    resistance = np.full((9, 9), 2.0)
    resistance[8, 8] = 0.5
    sources = np.zeros((9, 9))
    sources[0, 0] = 1
    with no_compute():
        lazy = cost_distance(on_grid(sources, grid).chunk(3), on_grid(resistance, grid).chunk(3), 10.0, min_resistance=1.0)
    with pytest.raises(ValueError, match="below min_resistance"):
        lazy.compute()
    with pytest.raises(ValueError, match="below min_resistance"):
        cost_distance(on_grid(sources, grid), on_grid(resistance, grid), 10.0, min_resistance=1.0)
    with pytest.raises(ValueError, match="min_resistance must be"):
        cost_distance(on_grid(sources, grid), on_grid(resistance, grid), 10.0, min_resistance=0.0)


def test_huge_halo_asks_for_a_coarser_analysis_grid():
    grid = projected(3000, 3000, 30.0)
    zeros = georeference(xr.DataArray(da.zeros(grid.shape, chunks=1000), coords=coords_of(grid), dims=("y", "x")), grid)
    assert cost_halo(1e6, 1.0, grid) == 33335
    with no_compute(), pytest.raises(ValueError, match="analysis_resolution_m ≥ 510"):
        cost_distance(zeros, zeros + 1.0, 1e6, min_resistance=1.0)
    with no_compute(), pytest.raises(ValueError, match="max_halo_cells=2048"):
        distance(zeros, 1e5)


COST_GRID = projected(19, 23, 30.0, 20.0)
COST_SOURCES, COST_RESISTANCE = random_case(11, 19, 23)
# mostly the minimum resistance, so that least-cost paths reach as far as the halo allows
COST_RESISTANCE[np.random.default_rng(12).random((19, 23)) < 0.7] = 1.0
COST_SOURCES[[0, 9, 10, 18], [0, 11, 12, 22]] = 1.0
COST_CAPS = (150.0, 700.0, 1e5)  # halos 8, 36 (wider than the grid), 5001
COST_EAGER = {
    cap: cost_distance(on_grid(COST_SOURCES, COST_GRID), on_grid(COST_RESISTANCE, COST_GRID), cap, min_resistance=1.0).values
    for cap in COST_CAPS
}


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((19, 23)), cap=st.sampled_from(COST_CAPS))
def test_cost_distance_is_identical_for_any_chunking(chunks, cap):
    sources = on_grid(COST_SOURCES, COST_GRID).chunk({"y": chunks[0], "x": chunks[1]})
    resistance = on_grid(COST_RESISTANCE, COST_GRID)  # numpy beside dask: aligned to the dask chunks
    with no_compute():
        lazy = cost_distance(sources, resistance, cap, min_resistance=1.0, max_halo_cells=10**6)
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks == chunks
    np.testing.assert_array_equal(lazy.values, COST_EAGER[cap])


def test_a_path_exactly_as_long_as_the_cap_crosses_chunks():
    # 7 moves of cost 20 reach the cap exactly; with chunks (1, 7, 7) a too-small halo cuts rows 1 -> 8
    grid = projected(15, 3, 20.0)
    sources = np.zeros(grid.shape)
    sources[1, 1] = 1.0
    chunked = on_grid(sources, grid).chunk({"y": (1, 7, 7), "x": 1})
    out = cost_distance(chunked, on_grid(np.ones(grid.shape), grid), 140.0, min_resistance=1.0).values
    np.testing.assert_array_equal(out[:, 1], [20.0 * abs(k - 1) if abs(k - 1) <= 7 else np.nan for k in range(15)])


def test_cost_distance_reference_for_the_chunking_test():
    for cap in COST_CAPS:
        ref = python_dijkstra(COST_SOURCES, COST_RESISTANCE, 30.0, 20.0, cap)
        np.testing.assert_allclose(COST_EAGER[cap], ref, rtol=1e-12)


# --- Travel time ---------------------------------------------------------------------------


def test_travel_time_is_cost_distance_with_pace():
    grid = Grid.from_bounds((0, 0, 5 * 100.0, 100.0), 100.0, "EPSG:4547")
    sources = on_grid(np.array([[1.0, 0, 0, 0, 0]]), grid)
    speed = on_grid(np.array([[100.0, 50.0, 0.0, 100.0, 100.0]]), grid)  # m/min; 0 = impassable
    out = travel_time(sources, speed, 60.0, max_speed_m_per_min=100.0)
    assert out.name == "travel_time_min" and out.attrs["units"] == "min"
    np.testing.assert_allclose(out.values, [[0.0, 100 * (0.01 + 0.02) / 2, np.nan, np.nan, np.nan]])
    open_road = on_grid(np.array([[100.0, 50.0, 25.0, 100.0, 100.0]]), grid)
    expected = np.cumsum([0.0, 1.5, 3.0, 2.5, 1.0])
    np.testing.assert_allclose(travel_time(sources, open_road, 60.0, max_speed_m_per_min=100.0).values[0], expected)
    np.testing.assert_allclose(travel_time(sources, open_road, 5.0, max_speed_m_per_min=100.0).values[0], [0, 1.5, 4.5, np.nan, np.nan])
    with pytest.raises(ValueError, match="below min_resistance"):
        travel_time(sources, open_road, 60.0, max_speed_m_per_min=60.0)


# --- Coarse analysis grid ------------------------------------------------------------------


def coarse_vs_fine(resistance, sources, grid, max_cost, resolution, chunks=None):
    fine = cost_distance(on_grid(sources, grid), on_grid(resistance, grid), max_cost, min_resistance=1.0).values
    src, res = on_grid(sources, grid), on_grid(resistance, grid)
    if chunks:
        src, res = src.chunk(chunks), res.chunk(chunks)
    with no_compute():
        coarse = cost_distance(src, res, max_cost, min_resistance=1.0, analysis_resolution_m=resolution)
    return fine, coarse


def test_coarse_grid_error_bound_on_uniform_resistance():
    grid = projected(41, 53, 10.0)
    sources = np.zeros(grid.shape)
    sources[[3, 30, 40], [4, 44, 0]] = 1.0
    fine, coarse = coarse_vs_fine(np.full(grid.shape, 3.0), sources, grid, 1e6, 50.0)
    assert coarse.attrs["analysis_factor"] == 5
    error = np.abs(coarse.values - fine)
    bound = math.sqrt(2) * (50.0 - 10.0) * 3.0  # √2 · (F − c) · R, documented in cost_distance
    assert error.max() <= bound + 1e-9
    assert error.max() > 0.25 * bound  # the bound is not vacuous


def test_coarse_grid_error_bound_on_a_smooth_surface_and_laziness():
    grid = projected(48, 60, 10.0)
    y, x = np.mgrid[0:48, 0:60]
    resistance = 1.0 + 4.0 * (1 + np.sin(x / 9.0) * np.cos(y / 7.0))  # 1..9, smooth at the coarse scale
    resistance[20:23, 30:33] = np.nan
    sources = np.zeros(grid.shape)
    sources[[5, 40], [5, 50]] = 1.0
    fine, coarse = coarse_vs_fine(resistance, sources, grid, 3000.0, 40.0, chunks={"y": 13, "x": 17})
    assert isinstance(coarse.data, da.Array) and coarse.data.chunks == ((13, 13, 13, 9), (17, 17, 17, 9))
    coarse = coarse.values
    assert np.isnan(coarse[20:23, 30:33]).all()
    both = np.isfinite(fine) & np.isfinite(coarse)
    assert both.sum() > 0.5 * fine.size
    bound = math.sqrt(2) * 40.0 * np.nanmax(resistance)
    assert np.abs(coarse - fine)[both].max() <= bound
    eager = cost_distance(on_grid(sources, grid), on_grid(resistance, grid), 3000.0, min_resistance=1.0, analysis_resolution_m=40.0)
    np.testing.assert_array_equal(coarse, eager.values)
