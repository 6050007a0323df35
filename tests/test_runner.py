"""Runs end to end: identical results on the threaded, synchronous and dask.distributed schedulers; the manifest."""
import json

import numpy as np
import pytest
import rasterio

from evaluate.config import parse_config
from evaluate.runner import RunError, run
from tests.helpers import small_config, small_inputs


def run_with(tmp_path, inputs, name, **compute):
    config = small_config(tmp_path, inputs, outputs={"folder": str(tmp_path / name)}, compute={"chunk_size": 32, **compute})
    return run(parse_config(config, source=tmp_path / f"{name}.yaml", base_dir=tmp_path))


def read(path):
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return small_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def threaded(tmp_path_factory, inputs):
    return run_with(tmp_path_factory.mktemp("threads"), inputs, "threads")


def test_distributed_and_synchronous_runs_equal_the_threaded_run(tmp_path, inputs, threaded):
    cluster = run_with(tmp_path, inputs, "cluster", scheduler="processes", workers=2, chunk_size=16)
    serial = run_with(tmp_path, inputs, "serial", scheduler="synchronous", chunk_size=64)
    for name in ("agri_land", "slope_deg"):
        expected = read(threaded.outputs[name])
        np.testing.assert_array_equal(read(cluster.outputs[name]), expected)
        np.testing.assert_array_equal(read(serial.outputs[name]), expected)
    assert json.loads(cluster.manifest.read_text())["compute"]["scheduler"] == "processes"


def test_manifest_records_provenance(threaded, inputs):
    manifest = json.loads(threaded.manifest.read_text(encoding="utf-8"))
    assert manifest["run"]["status"] == "complete" and len(manifest["run"]["config_sha256"]) == 64
    params = manifest["models"]["agri_land"]["parameters"]
    assert params["slope_thresholds_deg"] == {"value": [2, 6, 15, 25], "from": "default", "default_source": params["slope_thresholds_deg"]["default_source"]}
    assert "§4.1" in params["slope_thresholds_deg"]["default_source"]
    assert manifest["inputs"]["dem"]["hash_method"] == "sha256" and manifest["inputs"]["dem"]["bytes"] == inputs["dem"].stat().st_size
    assert {s["step"] for s in manifest["steps"]} == {"check inputs", "build graph", "compute and write rasters"}
    assert all(s["wall_s"] >= 0 and s["peak_rss_mib"] > 50 for s in manifest["steps"])
    assert manifest["peak_rss_mib"] == max(s["peak_rss_mib"] for s in manifest["steps"])
    assert manifest["versions"]["gdal"] and manifest["grid"]["cells"] == 90 * 110
    assert manifest["outputs"]["agri_land"]["classes"]["5"]["zh"] == "低"


def test_a_failed_rerun_removes_the_old_manifest_and_keeps_inputs(tmp_path, inputs):
    first = run_with(tmp_path, inputs, "again")
    assert first.manifest.exists()
    before = {k: p.read_bytes() for k, p in inputs.items()}
    bad = small_config(tmp_path, inputs, outputs={"folder": str(tmp_path / "again")})
    bad["inputs"]["soil_silt"]["units"] = "fraction"  # silt in percent declared as fraction: implausible, refused before writing
    with pytest.raises(RunError, match="inputs.soil_silt.units"):
        run(parse_config(bad, source=tmp_path / "bad.yaml", base_dir=tmp_path))
    assert first.manifest.exists()  # refused before touching the folder
    assert {k: p.read_bytes() for k, p in inputs.items()} == before


def test_output_folder_that_holds_an_input_is_refused(tmp_path):
    ins = small_inputs(tmp_path / "data")
    config = small_config(tmp_path, ins, outputs={"folder": str(tmp_path / "data")})
    config["inputs"]["dem"]["path"] = str(tmp_path / "data" / "agri_land.tif")
    (tmp_path / "data" / "agri_land.tif").write_bytes(ins["dem"].read_bytes())
    before = (tmp_path / "data" / "agri_land.tif").read_bytes()
    with pytest.raises(Exception, match="is also an input"):
        run(parse_config(config, source=tmp_path / "c.yaml", base_dir=tmp_path))
    assert (tmp_path / "data" / "agri_land.tif").read_bytes() == before


def test_run_on_an_existing_cluster_by_address(tmp_path, inputs, threaded):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        result = run_with(tmp_path, inputs, "remote", scheduler=cluster.scheduler_address)
    for name in ("agri_land", "slope_deg"):
        np.testing.assert_array_equal(read(result.outputs[name]), read(threaded.outputs[name]))
