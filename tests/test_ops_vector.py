"""ops.polygonize: chunk-invariant polygons with ellipsoidal areas; GK zone choice (issue 8 item 2, zones_and_standards.md §3.1, §6)."""
import numpy as np
import pyproj
import pytest
import rasterio.features
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluate.grid import Grid
from evaluate.ops.vector import ellipsoidal_area_m2, gk_zone_epsg, polygonize
from tests.helpers import grid_for, raster_of


def blocky_classes(n: int, seed: int, block: int = 4, holes: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = (rng.random((n // block + 1, n // block + 1)) * 4).astype(np.int16)
    classes = np.kron(base, np.ones((block, block), np.int16))[:n, :n]
    classes[rng.random((n, n)) < holes] = 0
    return classes


def test_one_polygon_per_4_connected_region_with_holes_and_the_class_value():
    classes = np.zeros((7, 7), np.int16)
    classes[1:6, 1:6] = 2
    classes[3, 3] = 5  # a hole of another class
    classes[0, 6] = 2  # touches the ring only at a corner: its own polygon under 4-connectivity
    out = polygonize(raster_of(classes))
    assert out["value"].tolist() == [2, 2, 5]
    ring = out.iloc[1] if out["cells"].iloc[1] == 24 else out.iloc[0]
    assert ring["cells"] == 24 and len(ring["geometry"].interiors) == 1
    assert ring["geometry"].area == pytest.approx(24 * 900.0)
    assert shapely.is_valid(out["geometry"].to_numpy()).all()
    assert set(out["geometry"].map(lambda g: g.geom_type)) == {"Polygon"}


def test_same_shapes_as_gdal_polygonize_of_the_whole_array():
    classes = blocky_classes(60, 1)
    grid = grid_for(classes.shape)
    ours = polygonize(raster_of(classes, grid), grid=grid)
    theirs = [shapely.geometry.shape(g) for g, v in rasterio.features.shapes(classes, mask=classes > 0, connectivity=4, transform=grid.transform)]
    key = lambda g: shapely.normalize(shapely.simplify(g, 0)).wkb  # noqa: E731
    assert sorted(key(g) for g in ours["geometry"]) == sorted(key(g) for g in theirs)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 1000), rows=st.integers(3, 40), cols=st.integers(3, 40))
def test_polygons_are_bit_identical_for_every_chunking(seed, rows, cols):
    classes = blocky_classes(83, seed, block=int(seed % 7) + 1)
    grid = grid_for(classes.shape)
    eager = polygonize(raster_of(classes, grid), grid=grid)
    lazy = polygonize(raster_of(classes, grid, (rows, cols)), grid=grid).compute()
    assert lazy["region"].tolist() == eager["region"].tolist()
    assert [g.wkb for g in lazy["geometry"]] == [g.wkb for g in eager["geometry"]]
    np.testing.assert_array_equal(lazy["area_m2"].to_numpy(), eager["area_m2"].to_numpy())


def test_a_region_across_a_chunk_corner_is_one_polygon():
    classes = np.zeros((20, 20), np.int16)
    classes[5:15, 5:15] = 1  # the 10 × 10 square spans the corner of four 10 × 10 chunks
    classes[8:12, 8:12] = 0  # with a hole across the same corner
    out = polygonize(raster_of(classes, chunks=(10, 10))).compute()
    assert len(out) == 1 and out["cells"][0] == 84
    geometry = out["geometry"][0]
    assert len(geometry.interiors) == 1 and len(geometry.exterior.coords) == 5  # no vertices left on the seams


def test_polygonize_builds_no_graph_work_until_computed():
    import dask

    lazy = polygonize(raster_of(blocky_classes(40, 2), chunks=(16, 16)))
    assert dask.is_dask_collection(lazy)


def test_ellipsoidal_areas_agree_with_the_grid_cell_areas():
    # on CGCS2000 geographic cells the polygon's geodesic area equals the grid's exact per-row cell areas
    grid = Grid.from_bounds((110.0, 30.0, 110.1, 30.1), 0.001, "EPSG:4490")
    classes = blocky_classes(grid.shape[0], 3, block=9)
    out = polygonize(raster_of(classes, grid), grid=grid)
    row_areas = grid.cell_area_m2()
    for region in out.itertuples():
        rows = np.nonzero(polygon_cells(region.geometry, grid))[0]
        assert region.area_m2 == pytest.approx(row_areas[rows].sum(), rel=1e-7)
    # a GK grid: polygon areas within 0.5 % of the planar cell areas (the GK scale factor is < 1.0003 within a zone)
    gk = grid_for((50, 50))
    out = polygonize(raster_of(blocky_classes(50, 4), gk), grid=gk)
    assert out["area_m2"].sum() == pytest.approx(out["cells"].sum() * 900.0, rel=5e-3)


def polygon_cells(polygon, grid: Grid) -> np.ndarray:
    return rasterio.features.rasterize([(polygon, 1)], out_shape=grid.shape, transform=grid.transform, dtype=np.uint8).astype(bool)


def test_a_one_hectare_square_on_the_ellipsoid():
    # 100 m × 100 m in GK zone 38 (CM 114°E) at the central meridian: scale factor 1, so the ellipsoidal area is 1 ha to < 1e-6
    square = shapely.box(500_000.0, 2_800_000.0, 500_100.0, 2_800_100.0)
    assert ellipsoidal_area_m2([square], "EPSG:4547")[0] == pytest.approx(10_000.0, rel=1e-6)
    # the same square 300 km east of the central meridian is ≈ (1 + 300²/(2R²))² smaller on the ellipsoid
    far = shapely.box(800_000.0, 2_800_000.0, 800_100.0, 2_800_100.0)
    assert ellipsoidal_area_m2([far], "EPSG:4547")[0] == pytest.approx(10_000.0 / (1 + 300.0**2 / (2 * 6371.0**2)) ** 2, rel=2e-4)


@pytest.mark.parametrize("lon, epsg, prefixed", [(114.2, 4547, 4526), (105.0, 4544, 4523), (75.1, 4534, 4513), (135.0, 4554, 4533), (116.49, 4548, 4527)])
def test_gk_zone_of_the_centroid_longitude(lon, epsg, prefixed):
    assert gk_zone_epsg(lon) == epsg and gk_zone_epsg(lon, prefixed=True) == prefixed
    crs = pyproj.CRS.from_epsg(epsg)
    central = [p.value for p in crs.coordinate_operation.params if "longitude" in p.name.lower()][0]
    assert abs(lon - central) <= 1.5


def test_gk_zone_outside_china_is_refused():
    with pytest.raises(ValueError, match="zones 25–45"):
        gk_zone_epsg(10.0)
