"""D8 flow direction, capped flow accumulation and RUSLE LS (methods.md §3.2.1, §0.3 item 8, §11 T19).

References: plain-Python D8 and accumulation written here (pyflwdir/richdem are not
installed), the hand-computed T19 case, and min(cap, uncapped) for the cap.
"""
import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluate import ops
from evaluate.grid import Grid, coords_of, georeference
from evaluate.kernels.hydrology import d8_accumulation, liu_s, ls_cell, mccool_m, slope_length_l
from evaluate.ops.hydrology import (
    capped_accumulation_cells,
    flow_accumulation,
    flow_direction,
    ls_factor,
    ls_halo,
)
from tests.helpers import chunkings, no_compute, terrain

# ESRI D8 code → (row step, column step), rows growing southwards
ESRI_D8 = {1: (0, 1), 2: (1, 1), 4: (1, 0), 8: (1, -1), 16: (0, -1), 32: (-1, -1), 64: (-1, 0), 128: (-1, 1)}
PROJECTED = Grid.from_bounds((400_000, 2_500_000, 400_000 + 45 * 30, 2_500_000 + 40 * 30), 30, "EPSG:4547")
GEOGRAPHIC = Grid.from_bounds((100.0, 30.0, 100.0 + 45 * 0.0003, 30.0 + 40 * 0.0003), 0.0003, "EPSG:4490")


def as_array(values: np.ndarray, grid: Grid) -> xr.DataArray:
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)


def small_grid(rows: int, cols: int, res=30.0) -> Grid:
    dx, dy = (res, res) if np.isscalar(res) else res
    return Grid.from_bounds((0, 0, cols * dx, rows * dy), (dx, dy), "EPSG:4547")


# --- plain-Python references ---------------------------------------------------------------
def reference_d8(z: np.ndarray, dx_rows, dy_rows) -> np.ndarray:
    """D8 as the operator documents it, written out cell by cell."""
    rows, cols = z.shape
    out = np.zeros(z.shape, dtype=np.uint8)
    for i in range(rows):
        for j in range(cols):
            if not np.isfinite(z[i, j]):
                out[i, j] = 255
                continue
            drops = []
            for code, (dr, dc) in ESRI_D8.items():  # dicts keep insertion order: E, SE, S, ... NE
                r, c = i + dr, j + dc
                if 0 <= r < rows and 0 <= c < cols and np.isfinite(z[r, c]):
                    distance = math.hypot(dx_rows[i] * abs(dc), dy_rows[i] * abs(dr))
                    drops.append(((float(z[i, j]) - float(z[r, c])) / distance, code))
            drop, code = max(drops, key=lambda t: t[0], default=(0.0, 0))  # max keeps the first of equals
            if drop > 0:
                out[i, j] = code
            elif i in (0, rows - 1) or j in (0, cols - 1):
                dr = 1 if i == rows - 1 else (-1 if i == 0 else 0)
                dc = 1 if j == cols - 1 else (-1 if j == 0 else 0)
                out[i, j] = next(k for k, step in ESRI_D8.items() if step == (dr, dc))
    return out


def reference_accumulation(fdir: np.ndarray) -> np.ndarray:
    """Each valid cell walks its D8 path and adds one to every cell on it, itself included."""
    rows, cols = fdir.shape
    fa = np.zeros(fdir.shape, dtype=np.int64)
    for i in range(rows):
        for j in range(cols):
            r, c = i, j
            while 0 <= r < rows and 0 <= c < cols and fdir[r, c] != 255:
                fa[r, c] += 1
                if fdir[r, c] == 0:
                    break
                dr, dc = ESRI_D8[int(fdir[r, c])]
                r, c = r + dr, c + dc
    return fa


def reference_ls(fa: np.ndarray, fdir: np.ndarray, slope_deg: np.ndarray, cellsize: float, max_length: float) -> np.ndarray:
    """methods.md §0.3 item 8 and §3.2.1, written out on a square projected grid."""
    out = np.full(fa.shape, np.nan)
    for (i, j), n in np.ndenumerate(fa):
        theta = float(slope_deg[i, j])
        if n == 0 or np.isnan(theta):
            continue
        d = math.sqrt(2.0) if fdir[i, j] in (2, 8, 32, 128) else 1.0
        length = min(max_length, (n - 1) * cellsize * d)
        pct = 100 * math.tan(math.radians(theta))
        m = 0.2 if pct < 1 else 0.3 if pct < 3 else 0.4 if pct < 5 else 0.5
        sin = math.sin(math.radians(theta))
        s = 10.8 * sin + 0.03 if theta < 5 else 16.8 * sin - 0.5 if theta < 10 else 21.91 * sin - 0.96
        out[i, j] = (length / 22.13) ** m * s
    return out


def random_dem(rows: int, cols: int, seed: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "integer":  # many ties and flats
        dem = rng.integers(0, 4, size=(rows, cols)).astype(np.float64)
    else:
        dem = rng.normal(size=(rows, cols)).cumsum(axis=0) + rng.normal(size=(rows, cols)).cumsum(axis=1)
    holes = rng.random((rows, cols)) < 0.08
    dem[holes] = np.nan
    return dem


DEM_CASES = [(rows, cols, seed, kind) for seed, (rows, cols) in enumerate([(12, 15), (9, 9), (1, 13), (11, 1), (2, 2)]) for kind in ("integer", "smooth")]


# --- flow direction ---------------------------------------------------------------------------
@pytest.mark.parametrize("rows, cols, seed, kind", DEM_CASES)
def test_flow_direction_matches_plain_python_d8(rows, cols, seed, kind):
    dem = random_dem(rows, cols, seed, kind)
    for res in (30.0, (30.0, 20.0)):
        grid = small_grid(rows, cols, res)
        ours = flow_direction(as_array(dem, grid)).values
        np.testing.assert_array_equal(ours, reference_d8(dem, *grid.cell_size_m()))


def test_flow_direction_on_a_geographic_grid_uses_each_rows_geodesic_cell_size():
    # at 60° N a cell of 0.001° is ~56 m wide and ~111 m tall: a 1 m drop east beats a 1.5 m drop north
    grid = Grid.from_bounds((100.0, 59.9, 100.005, 59.905), 0.001, "EPSG:4490")
    dem = np.full(grid.shape, 10.0)
    dem[2, 3] = 9.0
    dem[1, 2] = 8.5
    codes = flow_direction(as_array(dem, grid)).values
    assert codes[2, 2] == 1  # east, although the northern drop is larger in metres of elevation
    np.testing.assert_array_equal(codes, reference_d8(dem, *grid.cell_size_m()))


def test_flow_direction_edges_flats_pits_and_nodata():
    dem = np.array(
        [
            [5.0, 5.0, 5.0, 5.0],
            [5.0, 1.0, 5.0, 5.0],
            [5.0, 5.0, 3.0, 5.0],
            [5.0, 5.0, 5.0, np.inf],
        ]
    )
    codes = flow_direction(as_array(dem, small_grid(4, 4))).values
    expected = np.array([[2, 4, 8, 128], [1, 0, 16, 8], [128, 64, 32, 16], [8, 128, 64, 255]], dtype=np.uint8)
    # (1, 1) is a pit (no depression filling); (2, 2) drains to it, not into the non-finite nodata cell (3, 3);
    # edge cells without a lower neighbour inside the grid leave it straight out, diagonally at corners
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(codes, reference_d8(dem, *small_grid(4, 4).cell_size_m()))


def test_flat_interior_has_no_direction_and_edges_drain_outwards():
    codes = flow_direction(as_array(np.zeros((3, 4)), small_grid(3, 4))).values
    expected = np.array([[32, 64, 64, 128], [16, 0, 0, 1], [8, 4, 4, 2]], dtype=np.uint8)
    np.testing.assert_array_equal(codes, expected)


def test_nan_neighbours_are_not_flowed_into_and_integer_dems_work():
    dem = np.array([[9, 9, 9], [9, 5, 9], [9, 9, 9]], dtype=np.int16)
    grid = small_grid(3, 3)
    assert flow_direction(as_array(dem, grid)).values[1, 1] == 0
    with_hole = dem.astype(np.float64)
    with_hole[0, 0] = np.nan
    codes = flow_direction(as_array(with_hole, grid)).values
    assert codes[0, 0] == 255 and codes[0, 1] == 4 and codes[1, 0] == 1  # to the centre, not into the hole


# --- flow accumulation ------------------------------------------------------------------------
@pytest.mark.parametrize("rows, cols, seed, kind", DEM_CASES)
def test_uncapped_accumulation_matches_plain_python(rows, cols, seed, kind):
    dem = random_dem(rows, cols, seed, kind)
    grid = small_grid(rows, cols)
    fa = flow_accumulation(as_array(dem, grid), None)
    assert fa.dtype == np.uint32
    ref = reference_accumulation(reference_d8(dem, *grid.cell_size_m()))
    np.testing.assert_array_equal(fa.values, ref)
    assert (fa.values[np.isnan(dem)] == 0).all() and (fa.values[~np.isnan(dem)] >= 1).all()


def test_uncapped_accumulation_on_terrain_has_long_paths():
    grid = small_grid(40, 45)
    dem = terrain(40, 45, seed=1).astype(np.float64)
    fa = flow_accumulation(as_array(dem, grid), None).values
    np.testing.assert_array_equal(fa, reference_accumulation(reference_d8(dem, *grid.cell_size_m())))
    assert fa.max() > 100


@pytest.mark.parametrize(
    "res, max_length_m, cap",  # hand-computed: the smallest K with (K − 1) · shortest side ≥ λmax
    [(30.0, 300.0, 11), (30.0, 100.0, 5), (30.0, 90.0, 4), (30.0, 1.0, 2), ((30.0, 20.0), 300.0, 16), (0.1, 0.3, 4)],
)
def test_capped_accumulation_is_min_of_cap_and_uncapped(res, max_length_m, cap):
    grid = small_grid(40, 45, res)
    dem = terrain(40, 45, seed=2).astype(np.float64)
    dem[5:8, 30:33] = np.nan
    assert capped_accumulation_cells(max_length_m, grid) == cap
    uncapped = reference_accumulation(reference_d8(dem, *grid.cell_size_m()))
    capped = flow_accumulation(as_array(dem, grid), max_length_m)
    np.testing.assert_array_equal(capped.values, np.minimum(uncapped, cap))
    assert capped.attrs["cap_cells"] == cap


def test_accumulation_from_codes_equals_accumulation_from_dem():
    dem = as_array(terrain(40, 45, seed=4).astype(np.float64), PROJECTED)
    codes = flow_direction(dem)
    np.testing.assert_array_equal(flow_accumulation(codes, 300.0).values, flow_accumulation(dem, 300.0).values)


def test_non_d8_codes_are_nodata_in_the_accumulation_kernel():
    codes = np.array([[1, 1, 4], [0, 3, 4], [0, 0, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(d8_accumulation(codes, 0, 0), [[1, 2, 3], [1, 0, 4], [1, 1, 5]])


def test_geographic_cap_uses_the_shortest_geodesic_cell_side():
    dx, dy = GEOGRAPHIC.cell_size_m()
    shortest = min(dx.min(), dy.min())
    assert 28 < shortest < 30  # ~0.0003° of longitude at 30° N
    assert capped_accumulation_cells(300.0, GEOGRAPHIC) == math.ceil(300.0 / shortest) + 1
    assert ls_halo(300.0, GEOGRAPHIC) == math.ceil(300.0 / shortest) + 1  # ARCHITECTURE.md Scale item 3


def test_uncapped_accumulation_refuses_dask_input_without_computing():
    dem = as_array(terrain(20, 20).astype(np.float64), small_grid(20, 20)).chunk(7)
    with no_compute(), pytest.raises(ValueError, match="global problem"):
        flow_accumulation(dem, None)
    with pytest.raises(ValueError, match="positive"):
        flow_accumulation(dem, 0.0)


# --- LS factor --------------------------------------------------------------------------------
def test_t19_hand_case_through_the_ls_formula():
    # methods.md §11 T19: λ 30 m, θ 12° → m 0.5, L 1.1643, S 3.5953, LS 4.1861
    assert mccool_m(100 * math.tan(math.radians(12.0))) == 0.5
    assert slope_length_l(30.0, 0.5) == pytest.approx(1.1643, abs=5e-5)
    assert liu_s(12.0) == pytest.approx(3.5953, abs=5e-5)
    assert ls_cell(30.0, 12.0) == pytest.approx(4.1861, abs=5e-5)


@pytest.mark.parametrize(
    "pct, m", [(0.0, 0.2), (0.999, 0.2), (1.0, 0.3), (2.999, 0.3), (3.0, 0.4), (4.999, 0.4), (5.0, 0.5), (80.0, 0.5)]
)
def test_mccool_m_classes_are_lower_inclusive(pct, m):
    assert mccool_m(pct) == m


@pytest.mark.parametrize(
    "theta, expected",
    [(4.999, 10.8 * math.sin(math.radians(4.999)) + 0.03), (5.0, 16.8 * math.sin(math.radians(5.0)) - 0.5),
     (9.999, 16.8 * math.sin(math.radians(9.999)) - 0.5), (10.0, 21.91 * math.sin(math.radians(10.0)) - 0.96)],
)
def test_liu_s_branches(theta, expected):
    assert liu_s(theta) == pytest.approx(expected, rel=1e-12)


def test_t19_is_not_invest_sdr_ls():
    """§0.3 item 8: InVEST SDR's m and S give 3.62 for T19; ours stays 4.19 (do not 'fix' T19)."""
    theta = math.radians(12.0)
    beta = (math.sin(theta) / 0.0896) / (3 * math.sin(theta) ** 0.8 + 0.56)
    invest_m = beta / (1 + beta)  # slope > 9 %
    invest_s = 16.8 * math.sin(theta) - 0.5  # slope ≥ 9 %
    invest = (30.0 / 22.13) ** invest_m * invest_s
    assert invest == pytest.approx(3.62, abs=0.005)
    assert round(ls_cell(30.0, 12.0), 2) == 4.19


@pytest.mark.parametrize("direction", ["east", "southeast"])
def test_t19_on_a_tilted_plane(direction):
    # on a plane every cell flows the same way; the second cell from the upslope edge has FA 2, λ = cell · d
    grid = small_grid(7, 7)
    x = grid.x_coords()[None, :] * np.ones((7, 1))
    y = grid.y_coords()[:, None] * np.ones((1, 7))
    if direction == "east":
        dem, theta, code, length = -x * math.tan(math.radians(12.0)), 12.0, 1, 30.0
    else:
        grade = math.tan(math.radians(12.0)) / math.sqrt(2)  # along each axis; 12° down the SE diagonal
        dem, theta, code, length = -(x - y) * grade, 12.0, 2, 30.0 * math.sqrt(2)
    dem_array = as_array(dem, grid)
    codes = flow_direction(dem_array).values
    assert (codes[:-1, :-1] == code).all()  # the last row and column may leave the grid
    ls = ls_factor(dem_array).values
    assert ls[3, 1] == pytest.approx(ls_cell(length, theta), rel=1e-5)
    if direction == "east":
        assert ls[3, 1] == pytest.approx(4.1861, abs=5e-4)  # T19 through the whole operator
    assert ls[3, 0] == 0.0  # nothing upstream: λ = 0, L = 0


def test_ls_factor_matches_plain_python_reference_with_nodata():
    grid = small_grid(40, 45)
    dem = terrain(40, 45, seed=5).astype(np.float64)
    dem[12:15, 20:24] = np.nan
    dem_array = as_array(dem, grid)
    ls = ls_factor(dem_array, 200.0)
    assert ls.dtype == np.float32 and ls.attrs["units"] == "1"
    assert "spatial_ref" in ls.coords
    fdir = reference_d8(dem, *grid.cell_size_m())
    ref = reference_ls(reference_accumulation(fdir), fdir, ops.slope(dem_array).values, 30.0, 200.0)
    np.testing.assert_array_equal(np.isnan(ls.values), np.isnan(dem))
    np.testing.assert_allclose(ls.values, ref.astype(np.float32), rtol=1e-6)
    assert np.nanmax(ls.values) > 5  # steep cells with long slopes are covered
    # uncapped on the eager path equals the reference with an infinite λmax
    ref_uncapped = reference_ls(reference_accumulation(fdir), fdir, ops.slope(dem_array).values, 30.0, math.inf)
    np.testing.assert_allclose(ls_factor(dem_array, None).values, ref_uncapped.astype(np.float32), rtol=1e-6)


# --- chunk invariance -------------------------------------------------------------------------
def _terrain_with_holes(grid: Grid) -> xr.DataArray:
    dem = terrain(*grid.shape, seed=6).astype(np.float64)
    dem[17:20, 5:9] = np.nan
    dem[0, 30] = np.nan
    return as_array(dem, grid)


DEMS = {"projected": _terrain_with_holes(PROJECTED), "geographic": _terrain_with_holes(GEOGRAPHIC)}
LENGTHS = [45.0, 100.0, 300.0]
EAGER_FA = {(g, m): flow_accumulation(DEMS[g], m) for g in DEMS for m in LENGTHS}
EAGER_LS = {(g, m): ls_factor(DEMS[g], m) for g in DEMS for m in LENGTHS}


def test_capped_values_are_reached_so_the_halo_matters():
    for (g, m), fa in EAGER_FA.items():
        assert (fa.values == fa.attrs["cap_cells"]).mean() > 0.2, (g, m)


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(PROJECTED.shape), grid_name=st.sampled_from(sorted(DEMS)), max_length=st.sampled_from(LENGTHS))
def test_capped_accumulation_is_identical_for_any_chunking(chunks, grid_name, max_length):
    lazy_dem = DEMS[grid_name].chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy_codes = flow_direction(lazy_dem)
        lazy = flow_accumulation(lazy_dem, max_length)
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks == chunks
    np.testing.assert_array_equal(lazy_codes.values, flow_direction(DEMS[grid_name]).values)
    np.testing.assert_array_equal(lazy.values, EAGER_FA[grid_name, max_length].values)


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(PROJECTED.shape), grid_name=st.sampled_from(sorted(DEMS)), max_length=st.sampled_from(LENGTHS))
def test_ls_factor_is_identical_for_any_chunking(chunks, grid_name, max_length):
    lazy_dem = DEMS[grid_name].chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = ls_factor(lazy_dem, max_length)
    assert isinstance(lazy.data, da.Array) and lazy.data.chunks == chunks
    eager = EAGER_LS[grid_name, max_length]
    np.testing.assert_array_equal(lazy.values, eager.values)
    assert lazy.attrs == eager.attrs and "spatial_ref" in lazy.coords
