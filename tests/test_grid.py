import math

import numpy as np
import pytest
from affine import Affine
from pyproj import Geod

from evaluate.grid import SQUARE_METRES_PER_MU, Grid, GridError
from tests.helpers import small_inputs

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid differs from GRS80 only in 1/f beyond the 9th digit


@pytest.mark.parametrize("lat_top", [0.5, 30.0, 45.0, 61.3, 84.0])
@pytest.mark.parametrize("res", [1 / 3600, 3 / 3600, 0.01])
def test_geographic_cell_area_and_size_match_pyproj_geod(lat_top, res):
    grid = Grid.from_bounds((100.0, lat_top - 20 * res, 100.0 + 5 * res, lat_top), res, "EPSG:4490")
    areas = grid.cell_area_m2()
    widths, heights = grid.cell_size_m()
    for row in (0, 7, grid.height - 1):
        top = lat_top - row * res
        bottom = top - res
        # a quadrangle bounded by parallels: densify the parallels so Geod's geodesic edges follow them
        lons = np.linspace(100.0, 100.0 + res, 200)
        ring_lon = np.r_[lons, lons[::-1]]
        ring_lat = np.r_[np.full(200, bottom), np.full(200, top)]
        ref_area = abs(GEOD.polygon_area_perimeter(ring_lon, ring_lat)[0])
        assert areas[row] == pytest.approx(ref_area, rel=1e-6)
        centre = top - res / 2
        assert widths[row] == pytest.approx(GEOD.inv(100.0, centre, 100.0 + res, centre)[2], rel=1e-6)
        assert heights[row] == pytest.approx(GEOD.inv(100.0, bottom, 100.0, top)[2], rel=1e-6)
    if lat_top > 1:  # rows run southward, so cells grow with the row index
        assert np.all(np.diff(areas) > 0)


def test_projected_grid_has_constant_planar_cells_and_mu():
    grid = Grid.from_bounds((400000, 2500000, 400300, 2500090), 30, "EPSG:4547")
    assert grid.shape == (3, 10)
    w, h = grid.cell_size_m()
    assert np.all(w == 30) and np.all(h == 30)
    assert np.all(grid.cell_area_m2() == 900)
    assert grid.cell_area_mu()[0] == pytest.approx(900 / (2000 / 3))
    assert grid.cell_area_ha()[0] == pytest.approx(0.09)
    assert SQUARE_METRES_PER_MU == pytest.approx(666.6667, abs=1e-4)


def test_projected_grid_in_feet_converts_to_metres():
    grid = Grid.from_bounds((0, 0, 100, 100), 10, "EPSG:2229")  # NAD83 / California zone 5 (US survey ft)
    assert grid.cell_size_m()[0][0] == pytest.approx(10 * 1200 / 3937, rel=1e-9)


def test_from_bounds_covers_bounds_and_coordinates_are_centres():
    grid = Grid.from_bounds((0, 0, 95, 50), 10, "EPSG:4547")
    assert grid.shape == (5, 10)
    assert grid.x_coords()[0] == 5 and grid.y_coords()[0] == 45
    assert grid.bounds == (0, 0, 100, 50)


def test_from_raster(tmp_path):
    paths = small_inputs(tmp_path)
    grid = Grid.from_raster(paths["dem"])
    assert grid.shape == (90, 110) and grid.crs.to_epsg() == 4547


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(crs="EPSG:4547", transform=Affine(30, 1, 0, 0, -30, 0), shape=(2, 2)), "rotated"),
        (dict(crs="EPSG:4547", transform=Affine(30, 0, 0, 0, 30, 0), shape=(2, 2)), "north-up"),
        (dict(crs="EPSG:4547", transform=Affine(30, 0, 0, 0, -30, 0), shape=(0, 2)), "positive"),
        (dict(crs="EPSG:99999999", transform=Affine(30, 0, 0, 0, -30, 0), shape=(2, 2)), "unknown CRS"),
    ],
)
def test_bad_grids_are_refused(kwargs, message):
    with pytest.raises(GridError, match=message):
        Grid(**kwargs)


def test_bad_bounds_are_refused():
    with pytest.raises(GridError, match="xmin < xmax"):
        Grid.from_bounds((10, 0, 0, 10), 1, "EPSG:4547")
    with pytest.raises(GridError, match="resolution"):
        Grid.from_bounds((0, 0, 10, 10), 0, "EPSG:4547")
