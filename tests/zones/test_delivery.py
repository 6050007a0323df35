"""Delivery of vector outputs (issue 8 item 3): GeoPackage, Shapefile with .cpg (UTF-8 / GBK), FileGDB; CGCS2000 output CRS."""
import dask
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from evaluate.grid import Grid
from evaluate.io import TableOutput, VectorOptions, vector_crs, write_rasters
from evaluate.modelspec import OutputDecl

GRID = Grid.from_bounds((500_000.0, 2_800_000.0, 503_000.0, 2_803_000.0), 30.0, "EPSG:4547")
DECL = OutputDecl("vector", "test polygons", kind="vector")


def frame():
    return pd.DataFrame({
        "layer": ["STBHHX", "STBHHX", "YJJBNT"],
        "BSM": ["440100020000000001", "440100020000000002", "440100010000000001"],
        "XZQDM": ["440100"] * 3,
        "ZRBHDMC": ["丹霞山国家级自然保护区", "南岭", "耕地"],
        "MJ": [900.0, 1800.0, 2700.0],
        "geometry": [shapely.box(500_000, 2_800_000, 500_030, 2_800_030), shapely.box(500_060, 2_800_000, 500_120, 2_800_030),
                     shapely.box(501_000, 2_801_000, 501_090, 2_801_030)],
    })


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_shapefile_round_trips_chinese_text_with_its_cpg(tmp_path, encoding):
    options = VectorOptions(("shp",), "auto", encoding, run_id="r1", engine_version="0.1.0")
    paths = write_rasters({}, tmp_path, GRID, tables={"zones": TableOutput("zones", frame(), DECL)}, vector_options=options)
    folder = paths["zones"]
    assert folder.name == "zones_shp" and (folder / "STBHHX.cpg").read_text().strip() == encoding
    dbf = (folder / "STBHHX.dbf").read_bytes()
    assert "丹霞山".encode("gbk" if encoding == "GBK" else "utf-8") in dbf
    meta, _, _, fields = pyogrio.raw.read(folder / "STBHHX.shp")
    got = dict(zip(meta["fields"], fields))
    assert list(got["ZRBHDMC"]) == ["丹霞山国家级自然保护区", "南岭"]
    assert all(len(name) <= 10 for name in meta["fields"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial left


def test_geopackage_and_filegdb_hold_every_layer_in_the_requested_crs(tmp_path):
    options = VectorOptions(("gpkg", "filegdb"), "EPSG:4490", "UTF-8", run_id="r2", engine_version="0.1.0")
    paths = write_rasters({}, tmp_path, GRID, tables={"zones": TableOutput("zones", frame(), DECL)}, vector_options=options)
    assert paths["zones"].name == "zones.gpkg" and paths["zones.filegdb"].name == "zones.gdb"
    for path in (paths["zones"], paths["zones.filegdb"]):
        assert {name for name, _ in pyogrio.list_layers(path)} == {"STBHHX", "YJJBNT"}
        info = pyogrio.read_info(path, layer="YJJBNT")
        assert info["crs"] == "EPSG:4490"
        meta, _, geometry, fields = pyogrio.raw.read(path, layer="STBHHX")
        values = dict(zip(meta["fields"], fields))
        assert "TYMJ" not in values and list(values["RUNID"]) == ["r2", "r2"]  # no planar area in geographic output
        lon, lat = shapely.get_coordinates(shapely.from_wkb(geometry)).T
        assert (abs(lon - 114.0) < 0.1).all() and (abs(lat - 25.3) < 0.1).all()  # x = longitude (traditional GIS order)


def test_auto_crs_is_the_gk_zone_of_the_grid_centre_and_planar_area_is_added(tmp_path):
    assert vector_crs("auto", GRID) == "EPSG:4547"  # CM 114°E
    west = Grid.from_bounds((73.6, 39.0, 74.4, 39.5), 0.01, "EPSG:4490")
    assert vector_crs("auto", west) == "EPSG:4534"  # CM 75°E
    paths = write_rasters({}, tmp_path, GRID, tables={"zones": TableOutput("zones", frame(), DECL)}, vector_options=VectorOptions())
    meta, _, _, fields = pyogrio.raw.read(paths["zones"], layer="STBHHX")
    assert dict(zip(meta["fields"], fields))["TYMJ"].tolist() == [900.0, 1800.0]


def test_a_lazy_vector_output_is_computed_in_the_same_pass(tmp_path):
    lazy = dask.delayed(frame)()
    paths = write_rasters({}, tmp_path, GRID, tables={"zones": TableOutput("zones", lazy, DECL)})
    assert len(pyogrio.raw.read(paths["zones"], layer="YJJBNT")[2]) == 1


def test_a_config_refuses_a_non_cgcs2000_vector_crs():
    from evaluate.config import OutputSpec

    with pytest.raises(ValueError, match="4513–4554"):
        OutputSpec(folder="out", vector_crs="EPSG:3857")
    assert OutputSpec(folder="out", vector_crs="4526").vector_crs == "EPSG:4526"
