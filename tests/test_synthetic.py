"""Tests of the synthetic region generator (evaluate.synthetic) and the demo writer (evaluate.demo)."""
from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely

from evaluate import synthetic as syn
from evaluate.demo import DEMO_GRID, demo_grid, write_demo_inputs
from evaluate.grid import Grid

SEED = 2026
ALL = list(syn.RASTER_LAYERS)

# a 200 x 200 window (6 km) of the demo grid with a city, villages, rivers, cropland and mountains
WIN_ROWS = slice(520, 720)
WIN_COLS = slice(1020, 1220)


def _window_grid(rows: slice = WIN_ROWS, cols: slice = WIN_COLS) -> Grid:
    t = DEMO_GRID.window_transform(rows.start, cols.start)
    return Grid(DEMO_GRID.crs, t, (rows.stop - rows.start, cols.stop - cols.start))


@pytest.fixture(scope="module")
def window() -> dict[str, np.ndarray]:
    x, y = syn.grid_metric_coords(DEMO_GRID, WIN_ROWS, WIN_COLS)
    return syn.raster_blocks(ALL, x, y, SEED)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- chunk invariance and determinism -------------------------------------------------


def test_random_tilings_stitch_bit_identically(window):
    x, y = syn.grid_metric_coords(DEMO_GRID, WIN_ROWS, WIN_COLS)
    rng = np.random.default_rng(7)
    for _ in range(2):
        rcuts = np.unique(np.concatenate([[0, y.size], rng.integers(1, y.size, 3)]))
        ccuts = np.unique(np.concatenate([[0, x.size], rng.integers(1, x.size, 3)]))
        stitched = {n: np.empty_like(window[n]) for n in ALL}
        for r0, r1 in zip(rcuts[:-1], rcuts[1:]):
            for c0, c1 in zip(ccuts[:-1], ccuts[1:]):
                part = syn.raster_blocks(ALL, x[c0:c1], y[r0:r1], SEED)
                for n in ALL:
                    stitched[n][..., r0:r1, c0:c1] = part[n]
        for n in ALL:
            assert _same_bits(stitched[n], window[n]), f"{n} differs between tilings"


def test_single_layer_calls_and_point_coordinates_match_the_block(window):
    x, y = syn.grid_metric_coords(DEMO_GRID, WIN_ROWS, WIN_COLS)
    xs, ys = np.meshgrid(x[50:90], y[20:70])
    for n in ("dem", "landuse", "czcsxm", "soil_silt", "tmean_month", "aet"):
        alone = syn.raster_block(n, x[50:90], y[20:70], SEED)
        points = syn.raster_block(n, xs, ys, SEED)
        assert _same_bits(alone, window[n][..., 20:70, 50:90]), n
        assert _same_bits(points, alone), n
    # a single cell is a window too
    one = syn.raster_blocks(ALL, x[123:124], y[45:46], SEED)
    for n in ALL:
        assert _same_bits(one[n], window[n][..., 45:46, 123:124]), n


def test_deterministic_and_seed_dependent(window):
    x, y = syn.grid_metric_coords(DEMO_GRID, WIN_ROWS, WIN_COLS)
    again = syn.raster_blocks(ALL, x, y, SEED)
    other = syn.raster_blocks(ALL, x, y, SEED + 1)
    for n in ALL:
        assert _same_bits(again[n], window[n]), n
        assert not np.array_equal(other[n], window[n]), f"{n} does not depend on the seed"


def test_shapes_and_dtypes(window):
    for n, info in syn.RASTER_LAYERS.items():
        a = window[n]
        assert a.dtype == np.dtype(info.dtype), n
        expected = (200, 200) if info.bands == 1 else (info.bands, 200, 200)
        assert a.shape == expected, n
        if a.dtype.kind == "f":
            assert np.isfinite(a).all(), n
        assert not np.any(a == info.nodata), f"{n} contains its nodata value"


def test_bad_arguments():
    x = np.arange(3.0)
    with pytest.raises(KeyError):
        syn.raster_block("elevation", x, x, SEED)
    with pytest.raises(ValueError):
        syn.raster_block("dem", x, np.zeros((2, 2)), SEED)
    with pytest.raises(ValueError):
        syn.raster_block("dem", x, x, -1)
    with pytest.raises(TypeError):
        syn.raster_block("dem", x, x, 1.5)
    with pytest.raises(KeyError):
        syn.vector_features("lakes", (0, 0, 1, 1), "EPSG:4547", SEED)


# --- value ranges and invariants -----------------------------------------------------


def test_texture_sums_to_exactly_100(window):
    sand, silt, clay = window["soil_sand"], window["soil_silt"], window["soil_clay"]
    assert np.all((sand + silt + clay) == np.float32(100.0))
    assert np.all(sand.astype(np.float64) + silt + clay == 100.0)
    for a in (sand, silt, clay):
        assert a.min() >= 0.0 and a.max() <= 100.0


def test_temperature_follows_lapse_rate_and_daily_model(window):
    dem = window["dem"].astype(np.float64)
    tann = window["tmean_annual"].astype(np.float64)
    assert np.ptp(dem) > 300.0, "the test window should span some relief"
    slope = np.polyfit(dem.ravel(), tann.ravel(), 1)[0]
    assert slope == pytest.approx(-0.006, abs=0.0003)
    # sea-level equivalent is nearly constant over 6 km
    assert np.std(tann + 0.006 * dem) < 0.05
    months = window["tmean_month"].astype(np.float64)
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
    np.testing.assert_allclose(np.tensordot(days, months, 1) / 365.0, tann, atol=1e-3)
    assert np.all(months[6] > months[0])  # July warmer than January
    at0 = window["at0"].astype(np.float64)
    # dropping the days below 0 °C can only raise the sum; without such days it is 365 × the annual mean
    assert np.all(at0 >= 365.0 * tann - 0.5)
    frost_free = months.min(axis=0) > 6.0
    assert frost_free.any()
    np.testing.assert_allclose(at0[frost_free], 365.0 * tann[frost_free], rtol=1e-5)


def test_ranges(window):
    assert 0.0 <= window["dem"].min() and window["dem"].max() < 3000.0
    assert 100.0 <= window["precip"].min() and window["precip"].max() <= 3200.0
    assert 1000.0 <= window["at0"].min() and window["at0"].max() <= 9000.0
    assert -1.0 <= window["ndvi"].min() and window["ndvi"].max() <= 1.0
    assert 0.0 < window["soil_oc"].min() and window["soil_oc"].max() < 10.0
    assert np.all(window["aet"] > 0.0)
    assert np.mean(window["aet"] < window["precip"]) > 0.9


def test_landuse_codes_and_consistency(window):
    lu, cz, ndvi = window["landuse"], window["czcsxm"], window["ndvi"]
    assert set(np.unique(lu).tolist()) <= set(syn.DLBM_CODES)
    assert set(np.unique(cz).tolist()) <= set(syn.CZCSXM_CODES)
    water = np.isin(lu, [1101, 1102, 1103, 1104])
    assert water.any() and np.all(ndvi[water] < 0.0)
    forest = lu == 301
    assert forest.any() and ndvi[forest].mean() > 0.6
    # the 城镇村 attribute marks construction cells only
    construction = {591, 508, 601, 701, 702, 891, 892, 809, 810, 1004, 1005, 1201}
    assert set(np.unique(lu[cz > 0]).tolist()) <= construction
    assert np.all(cz[np.isin(lu, [701, 702, 601])] > 0)
    # paddy fields lie on flat land, bare rock and forest on slopes
    dem = window["dem"].astype(np.float64)
    gy, gx = np.gradient(dem, 30.0)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    assert np.median(slope[lu == 101]) < 3.0
    assert np.median(slope[forest]) > np.median(slope[lu == 103])


# --- variety on the demo grid ---------------------------------------------------------


def test_demo_grid_defaults():
    g = demo_grid()
    assert g.shape == (1500, 1500)
    assert g.resolution == (30.0, 30.0)
    assert g.crs.to_epsg() == 4547
    assert g.bounds == (380000.0, 2520000.0, 425000.0, 2565000.0)
    assert DEMO_GRID == g


def test_demo_variety_slope_silt_precip_landuse():
    g = DEMO_GRID
    # dense 30 m patches spread over the demo, for true 30 m slopes
    slopes = []
    for r0 in range(0, g.height - 24, 190):
        for c0 in range(0, g.width - 24, 190):
            x, y = syn.grid_metric_coords(g, slice(r0, r0 + 24), slice(c0, c0 + 24))
            dem = syn.raster_block("dem", x, y, SEED).astype(np.float64)
            gy, gx = np.gradient(dem, 30.0)
            slopes.append(np.degrees(np.arctan(np.hypot(gx, gy)))[1:-1, 1:-1].ravel())
    slope = np.concatenate(slopes)
    classes = np.digitize(slope, [2.0, 6.0, 15.0, 25.0], right=True)
    counts = np.bincount(classes, minlength=5)
    assert np.all(counts / slope.size > 0.03), f"slope classes ≤2,2-6,6-15,15-25,>25: {counts}"

    # every 10th cell of the whole demo
    x, y = syn.grid_metric_coords(g)
    coarse = syn.raster_blocks(["soil_silt", "precip", "landuse", "czcsxm", "at0", "dem"], x[::10], y[::10], SEED)
    silt = coarse["soil_silt"]
    assert (silt >= 60.0).any() and np.mean(silt >= 60.0) < 0.2
    precip_grades = np.unique(np.digitize(coarse["precip"], [200.0, 400.0, 800.0, 1200.0]))
    assert precip_grades.size >= 3
    lu = set(np.unique(coarse["landuse"]).tolist())
    for needed in (101, 102, 103, 201, 301, 305, 404, 1101, 1102, 1103, 1006, 1003, 702, 701, 601, 1207):
        assert needed in lu, f"DLBM {needed} missing from the demo"
    assert {201, 202, 203} <= set(np.unique(coarse["czcsxm"]).tolist())
    assert coarse["dem"].max() > 1500.0 and coarse["dem"].min() < 300.0
    heat = np.unique(np.digitize(coarse["at0"], [1500.0, 4000.0, 5800.0, 7600.0]))
    assert heat.size >= 3


def test_large_region_has_every_water_grade_and_wide_heat_range():
    # 1200 km x 1200 km around the demo, every 8 km
    x = np.arange(-200000.0, 1000000.0, 8000.0)
    y = np.arange(2000000.0, 3200000.0, 8000.0)
    out = syn.raster_blocks(["precip", "at0", "soil_silt"], x, y, SEED)
    grades = np.unique(np.digitize(out["precip"], [200.0, 400.0, 800.0, 1200.0]))
    assert grades.tolist() == [0, 1, 2, 3, 4]
    assert out["at0"].min() < 4000.0 and out["at0"].max() > 7600.0
    assert (out["soil_silt"] >= 80.0).any()


def test_geographic_grid_is_chunk_invariant():
    g = demo_grid(size=60, crs="EPSG:4490")
    assert g.is_geographic and g.shape == (60, 60)
    x, y = syn.grid_metric_coords(g)
    assert x.shape == (60, 60)
    full = syn.raster_blocks(["dem", "landuse"], x, y, SEED)
    xa, ya = syn.grid_metric_coords(g, slice(17, 60), slice(0, 41))
    part = syn.raster_blocks(["dem", "landuse"], xa, ya, SEED)
    for n in ("dem", "landuse"):
        assert _same_bits(part[n], full[n][17:60, 0:41])
    # the same place in metres: roughly the terrain of the projected demo (same scale)
    assert 0.0 < full["dem"].min() and full["dem"].max() < 3000.0
    lon, lat = syn.metric_to_lonlat(x[0, :3], y[0, :3])
    np.testing.assert_allclose(lon, g.x_coords(0, 3), atol=1e-9)
    np.testing.assert_allclose(lat, np.full(3, g.y_coords(0, 1)[0]), atol=1e-9)


# --- vectors --------------------------------------------------------------------------


def test_vectors_are_consistent_with_rasters(window):
    g = _window_grid()
    towns, attrs = syn.vector_features("towns", g.bounds, g.crs, SEED)
    assert len(towns) > 3 and "village" in set(attrs["level"])
    code = {"city": 201, "town": 202, "village": 203}
    hits = 0
    for p, level in zip(towns, attrs["level"]):
        r, c = rasterio.transform.rowcol(g.transform, p.x, p.y)
        hits += window["czcsxm"][r, c] == code[level]
    assert hits >= 0.9 * len(towns)
    for name, info in syn.VECTOR_LAYERS.items():
        geoms, a = syn.vector_features(name, g.bounds, g.crs, SEED)
        assert set(a) == set(info.fields)
        assert all(len(v) == len(geoms) for v in a.values())
        assert all(gm.geom_type == info.geometry_type for gm in geoms), name
        assert all(shapely.box(*g.bounds).buffer(1e-6).covers(gm) for gm in geoms), name
    counties, ca = syn.vector_features("counties", DEMO_GRID.bounds, DEMO_GRID.crs, SEED)
    assert all(100000 <= c <= 999999 for c in ca["code"]) and len(set(ca["code"])) == len(counties)
    total = shapely.union_all(counties).area
    assert total == pytest.approx(45000.0 * 45000.0, rel=1e-6)  # counties tile the region


def test_reserves_redline_and_pbf_sit_where_they_should():
    g = DEMO_GRID
    reserves, ra = syn.vector_features("reserves", g.bounds, g.crs, SEED)
    redline, _ = syn.vector_features("redline_existing", g.bounds, g.crs, SEED)
    assert {"core", "general"} <= set(ra["zone"])
    rl = shapely.union_all(redline)
    res = shapely.union_all(reserves)
    assert res.area > 0 and rl.intersection(res).area > 0.95 * res.area
    # reserves: high, forested land; farmland: flat cropland
    pts = shapely.points(np.random.default_rng(1).uniform([g.bounds[0], g.bounds[1]], [g.bounds[2], g.bounds[3]], (4000, 2)))
    inside = shapely.contains(res, pts)
    xy = shapely.get_coordinates(pts)
    dem = syn.raster_block("dem", xy[:, 0][None, :], xy[:, 1][None, :], SEED)[0]
    assert np.median(dem[inside]) > np.median(dem[~inside]) + 200.0
    pbf, pa = syn.vector_features("pbf_existing", g.bounds, g.crs, SEED)
    assert len(pbf) > 50 and set(pa["DLBM"]) <= {"0101", "0102", "0103"}
    pts_pbf = shapely.get_coordinates(shapely.point_on_surface(pbf))
    lu = syn.raster_block("landuse", pts_pbf[:, 0][None, :], pts_pbf[:, 1][None, :], SEED)[0]
    assert np.mean(np.isin(lu, [101, 102, 103])) > 0.8


# --- writer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    grid = _window_grid()
    (folder / "soil_oc.tif").write_bytes(b"already here")
    paths = write_demo_inputs(folder, grid, seed=SEED, block=128)
    return folder, grid, paths


def test_writer_writes_every_layer(written, window):
    folder, grid, paths = written
    assert set(paths) == set(syn.RASTER_LAYERS) | set(syn.VECTOR_LAYERS)
    assert not list(folder.glob(".*")), "temporary files were left behind"
    for n, info in syn.RASTER_LAYERS.items():
        if n == "soil_oc":
            continue
        with rasterio.open(paths[n]) as src:
            assert src.crs == grid.crs and src.transform == grid.transform
            assert (src.height, src.width, src.count) == (grid.height, grid.width, info.bands)
            assert src.nodata == info.nodata and src.dtypes[0] == info.dtype
            assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
            assert src.compression.name.lower() == "deflate"
            assert src.units[0] == info.units and src.tags()["layer"] == n
            data = src.read() if info.bands > 1 else src.read(1)
        assert _same_bits(data, window[n]), n
    with rasterio.open(paths["tmean_month"]) as src:
        assert src.descriptions[0] == "tmean_Jan"
    for n, info in syn.VECTOR_LAYERS.items():
        meta = pyogrio.read_info(paths[n])
        assert meta["geometry_type"] == info.geometry_type, n
        assert list(meta["fields"]) == list(info.fields), n
        assert meta["crs"] == "EPSG:4547", n
    geom_info = pyogrio.raw.read(paths["towns"])
    assert len(geom_info[2]) > 0


def test_writer_leaves_existing_files_alone(written):
    folder, grid, paths = written
    assert (folder / "soil_oc.tif").read_bytes() == b"already here"
    before = {n: p.stat().st_mtime_ns for n, p in paths.items()}
    again = write_demo_inputs(folder, grid, seed=SEED + 1)
    assert again == paths
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == before
