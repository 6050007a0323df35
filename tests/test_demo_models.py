"""Every model of configs/demo.yaml on a 400² window of the demo region: class areas against the committed golden
summary, and chunk invariance (eager numpy, dask with other chunkings) of every output."""
import json

import numpy as np
import pandas as pd
import pytest
import rasterio

from evaluate import layers
from evaluate.config import parse_config
from evaluate.runner import build_outputs, resolve_grid, run
from tests.demo_window import GOLDEN, class_summary, window_config


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    config = parse_config(window_config(folder), source=folder / "demo.yaml", base_dir=folder)
    return config, run(config)


def test_every_model_output_of_the_guideline_is_produced(demo_run):
    _, result = demo_run
    expected = {f"eco_service_{s}" for s in ("wc", "sc", "ws", "bio")} | {f"eco_service_value_{s}" for s in ("wc", "sc", "ws", "bio")}
    expected |= {f"eco_sens_{p}" for p in ("erosion", "desert", "rocky", "salin")} | {f"eco_sens_index_{p}" for p in ("erosion", "desert", "rocky", "salin")}
    expected |= {"eco_importance", "agri_land", "agri_water", "agri_heat", "agri_farm", "agri_cond", "soil_env", "met_hazard", "urban_land",
                 "urban_water", "urban_cond", "geohazard", "air_env", "water_env", "comfort", "location", "agri_suit", "urban_suit",
                 "conflict_flags", "potential", "agri_limit", "urban_limit", "carrying_scale", "conflict_areas", "urban_advantage"}
    assert expected <= set(result.outputs)
    scale = pd.read_csv(result.outputs["carrying_scale"], encoding="utf-8-sig")
    assert len(scale) >= 1 and set(scale["agri_binding"]) <= {"land", "water"} and (scale["agri_scale_m2"] <= scale["agri_land_m2"]).all()
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["evaluation"]["guideline"] == "2020trial"
    assert "npp" in manifest["missing_optional_inputs"]["eco_water"]
    with rasterio.open(result.outputs["agri_limit"]) as src:
        tags = src.tags(1)
        assert any("slope" in v for v in tags.values())  # the code table travels with the raster
        assert json.loads(src.tags()["DUALEVAL_INPUTS"])["slope"] == "model:slope"
    assert result.outputs["agri_limit"].with_suffix(".qml").exists()


def test_class_areas_match_the_golden_summary(demo_run):
    """Regenerate deliberately with `python tests/data/make_goldens.py --demo` after a reviewed change of the science."""
    _, result = demo_run
    assert class_summary(result.outputs) == json.loads(GOLDEN.read_text())


def test_2020_masking_holds_on_the_demo(demo_run):
    _, result = demo_run
    read = lambda n: rasterio.open(result.outputs[n]).read(1)  # noqa: E731
    eco, agri, urban = read("eco_importance"), read("agri_suit"), read("urban_suit")
    assert np.array_equal(eco == 1, agri == 9) and np.array_equal(eco == 1, urban == 9)
    assert set(np.unique(read("agri_suit"))) <= {1, 2, 3, 9}


@pytest.mark.parametrize("chunk_size", [400])  # against the module's 128 (uneven edge chunks); 100 costs 4× as much and adds no case
def test_every_output_is_chunk_invariant(demo_run, chunk_size, tmp_path):
    config, result = demo_run
    data = config.model_dump(mode="json")
    data["compute"]["chunk_size"] = chunk_size
    data["outputs"]["folder"] = str(tmp_path / "out")
    other = run(parse_config(data, source=tmp_path / "c.yaml", base_dir=tmp_path))
    for name, path in result.outputs.items():
        if path.suffix == ".csv":
            pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(other.outputs[name]), check_exact=False, rtol=1e-9)
            continue
        if path.suffix == ".gpkg":
            import pyogrio

            for layer, _ in pyogrio.list_layers(path):
                a, b = pyogrio.raw.read(path, layer=layer), pyogrio.raw.read(other.outputs[name], layer=layer)
                assert list(a[2]) == list(b[2]), f"{name}/{layer}: geometries differ"  # WKB, bit for bit
                for field, x, y in zip(a[0]["fields"], a[3], b[3]):
                    if field != "RUNID":
                        np.testing.assert_array_equal(x, y, err_msg=f"{name}/{layer}.{field}")
            continue
        with rasterio.open(path) as a, rasterio.open(other.outputs[name]) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)


def test_eager_numpy_run_equals_the_dask_run(demo_run):
    config, result = demo_run
    grid = resolve_grid(config)
    stack = layers.build_stack(config.inputs, grid, config.compute.chunk_size).load()
    rasters, tables, _ = build_outputs(config, stack)
    for name, output in rasters.items():
        with rasterio.open(result.outputs[name]) as src:
            expected = src.read(1)
        got = np.asarray(output.array.values).astype(expected.dtype)
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)


def test_the_zone_candidates_as_delivered(demo_run):
    """zones.gpkg (issue 8 item 3): three layers in the CGCS2000 GK zone of the region, readable Chinese fields, areas as the rasters."""
    import pyogrio
    import shapely

    _, result = demo_run
    path = result.outputs["zones"]
    assert path.suffix == ".gpkg"
    layers = {name for name, _ in pyogrio.list_layers(path)}
    assert layers == {"STBHHX", "YJJBNT", "CZKFBJ"}
    assert pyogrio.read_info(path, layer="STBHHX")["crs"] == "EPSG:4547"  # CM 114°E: the demo region's zone
    total = {}
    for layer in layers:
        meta, _, geometry, fields = pyogrio.raw.read(path, layer=layer)
        values = dict(zip(meta["fields"], fields))
        assert {"BSM", "XZQDM", "KZXLX", "MJ", "MJ_HA", "MJ_MU", "PJDJ", "CZJG", "CZLY", "JCBS", "RUNID", "ENGVER", "TYMJ"} <= set(values)
        geoms = shapely.from_wkb(geometry)
        assert shapely.is_valid(geoms).all() and set(shapely.get_type_id(geoms)) == {3}  # polygons only
        assert all(len(b) == 18 for b in values["BSM"]) and len(set(values["BSM"])) == len(geoms)
        np.testing.assert_allclose(values["MJ_MU"], np.round(values["MJ"] * 15 / 1e4, 2))
        total[layer] = float(values["MJ"].sum())
    assert "生态保护极重要" in set(pyogrio.raw.read(path, layer="STBHHX")[3][list(pyogrio.raw.read(path, layer="STBHHX")[0]["fields"]).index("PJDJ")])
    with rasterio.open(result.outputs["three_lines"]) as src:
        lines = src.read(1)
    for code, layer in ((1, "YJJBNT"), (2, "STBHHX"), (3, "CZKFBJ")):
        raster_m2 = (lines == code).sum() * 900.0
        assert total[layer] == pytest.approx(raster_m2, rel=5e-3)  # ellipsoidal vs planar GK cells: within 0.5 %
    rules = pd.read_csv(result.outputs["zone_rules"], encoding="utf-8-sig")
    assert {"8 no overlap", "14 UDB expansion multiple", "10 red-line cropland ≥ 5/3 mu released"} <= set(rules["rule"])
    assert (rules[rules["rule"].str.startswith(("4 ", "7 ", "9 core", "10 ", "14 ", "16 "))]["result"] == "pass").all(), rules
    summary = pd.read_csv(result.outputs["zone_summary"], encoding="utf-8-sig")
    assert (summary["udb_multiple"].dropna() <= summary["udb_cap"].max() + 1e-9).all()


def test_the_restoration_vectors_and_county_table(demo_run):
    """Issue 9 item 4: sources, corridors and priority polygons in CGCS2000 GeoPackages; the per-county table."""
    import pyogrio

    _, result = demo_run
    network = result.outputs["network"]
    assert {name for name, _ in pyogrio.list_layers(network)} <= {"STYD", "STLD"} and "STYD" in {n for n, _ in pyogrio.list_layers(network)}
    assert pyogrio.read_info(network, layer="STYD")["crs"] == "EPSG:4547"
    areas = result.outputs["restoration_areas"]
    meta, _, _, fields = pyogrio.raw.read(areas, layer="XFQY")
    values = dict(zip(meta["fields"], fields))
    assert set(values["YXJDJ"]) <= {"优先修复区", "重点修复区", "一般修复区"} and (values["MJ"] > 0).all()
    with rasterio.open(result.outputs["restoration_priority"]) as src:
        priority = src.read(1)
    assert values["MJ"].sum() == pytest.approx(((priority >= 1) & (priority <= 3)).sum() * 900.0, rel=5e-3)
    summary = pd.read_csv(result.outputs["restoration_summary"], encoding="utf-8-sig")
    assert {"admin", "priority_1_m2", "pinch_count", "barrier_count", "breakpoint_count"} <= set(summary.columns)
    assert summary[[f"priority_{k}_m2" for k in range(1, 6)]].to_numpy().sum() == pytest.approx(
        ((priority >= 1) & (priority <= 5)).sum() * 900.0, rel=1e-9)
