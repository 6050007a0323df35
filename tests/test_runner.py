"""Runs end to end: identical results on the threaded, synchronous and dask.distributed schedulers; the manifest."""
import json

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import shapely
from affine import Affine

from evaluate.config import parse_config
from evaluate.layers import build_stack
from evaluate.runner import RunError, resolve_grid, run
from tests.helpers import CRS, ORIGIN, silt, small_config, small_inputs, write_raster


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
    for name in ("agri_land", "slope"):
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
    assert manifest["inputs"]["dem"]["resampling"] == "none"  # on the grid's lattice: read directly
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
    for name in ("agri_land", "slope"):
        np.testing.assert_array_equal(read(result.outputs[name]), read(threaded.outputs[name]))


def test_write_inputs_writes_the_aligned_layers_and_the_manifest_records_the_resampling_used(tmp_path, inputs):
    """``outputs.write_inputs``: each named input as the Stack computed it, in its declared units and layer dtype."""
    # silt at 10 m (a coarser grid: averaged), land use at 10 m (mode), a mask polygon (rasterized)
    fine = Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
    silt_values = np.repeat(np.repeat(silt(90, 110), 3, 0), 3, 1)
    silt_values[30:45, 60:75] = -1.0
    silt_10m = write_raster(tmp_path / "silt10.tif", silt_values, transform=fine, nodata=-1.0)
    codes = (np.arange(270 * 330).reshape(270, 330) // 7 % 4 + 1).astype(np.int16)
    codes[:9] = 0
    landuse = write_raster(tmp_path / "landuse.tif", codes, transform=fine, nodata=0)
    reserve = shapely.Point(ORIGIN[0] + 1500, ORIGIN[1] - 1200).buffer(600)
    pyogrio.raw.write(str(tmp_path / "reserve.gpkg"), geometry=shapely.to_wkb(np.array([reserve], dtype=object)), field_data=[], fields=[], crs=CRS, geometry_type="Polygon", driver="GPKG")
    config = small_config(tmp_path, {"dem": inputs["dem"], "soil_silt": silt_10m}, outputs={"folder": str(tmp_path / "out"), "write_inputs": ["dem", "soil_silt", "landuse", "reserve"]})
    config["inputs"]["landuse"] = {"path": str(landuse), "kind": "categorical"}
    config["inputs"]["reserve"] = {"path": str(tmp_path / "reserve.gpkg"), "kind": "mask"}
    parsed = parse_config(config, source=tmp_path / "w.yaml", base_dir=tmp_path)
    result = run(parsed)

    stack = build_stack(parsed.inputs, resolve_grid(parsed), parsed.compute.chunk_size)
    expected = {"dem": ("float32", "none", "m"), "soil_silt": ("float32", "average", "percent"), "landuse": ("int32", "mode", ""), "reserve": ("uint8", "rasterize", "")}
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    for name, (dtype, resampling, units) in expected.items():
        path = result.outputs[f"input_{name}"]
        assert path == tmp_path / "out" / f"input_{name}.tif"
        with rasterio.open(path) as ds:
            assert ds.dtypes[0] == dtype and (ds.units[0] or "") == units and ds.tags()["DUALEVAL_RESAMPLING"] == resampling
            values = ds.read(1)
            nodata = ds.nodata
        np.testing.assert_array_equal(values, stack[name].values)  # the Stack's layer, bit for bit (NaN for NaN)
        assert manifest["inputs"][name]["resampling"] == resampling and manifest["inputs"][name]["written"] == str(path)
        assert manifest["outputs"][f"input_{name}"]["dtype"] == dtype
        if dtype == "float32":
            assert np.isnan(nodata) and np.isnan(values).any()
        elif dtype == "int32":
            assert nodata == -1 and (values == -1).any() and set(np.unique(values)) <= {-1, 1, 2, 3, 4}
        else:
            assert nodata is None and set(np.unique(values)) == {0, 1}
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".tif") == sorted(
        ["agri_land.tif", "slope.tif"] + [f"input_{n}.tif" for n in expected]
    )
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".partial")]


def test_an_unreachable_scheduler_is_a_clear_error_and_the_previous_run_stays_complete(tmp_path, inputs):
    import socket

    import dask

    first = run_with(tmp_path, inputs, "kept")
    manifest = first.manifest.read_bytes()
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), pytest.raises(RunError, match="compute.scheduler: cannot reach the dask scheduler at tcp://127.0.0.1"):
        run_with(tmp_path, inputs, "kept", scheduler=address)
    assert first.manifest.read_bytes() == manifest  # nothing is removed before computing can start


def test_a_folder_held_by_a_live_run_is_refused_and_a_dead_runs_lock_and_partials_are_cleared(tmp_path, inputs):
    import subprocess
    import sys

    from evaluate.io import LOCK_NAME, OutputError

    folder = tmp_path / "locked"
    first = run_with(tmp_path, inputs, "locked")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / LOCK_NAME).write_text(str(live.pid))
        with pytest.raises(OutputError, match=f"another dualeval run \\(pid {live.pid}\\) is writing into"):
            run_with(tmp_path, inputs, "locked")
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == {**before, LOCK_NAME: str(live.pid).encode()}
    finally:
        live.kill()
        live.wait()
    # the owner is gone now: its lock is stale, and so is the partial file a killed run would leave
    (folder / ".agri_land.tif.deadbeef.partial").write_bytes(b"half a raster")
    again = run_with(tmp_path, inputs, "locked")
    assert not list(folder.glob(".*partial")) and not (folder / LOCK_NAME).exists()
    assert read(again.outputs["agri_land"]).tobytes() == read(first.outputs["agri_land"]).tobytes()


def _interruptible_run(tmp_path, checkpoint_s: float, size: int = 3000):
    """A config of a few seconds of compute and write (two outputs, 256² chunks), and its command line."""
    import sys

    from tests.helpers import dump_config, terrain

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    dem = write_raster(data / "dem.tif", terrain(size, size), tiled=True)
    soil = write_raster(data / "silt.tif", silt(size, size), tiled=True)
    config = small_config(tmp_path, {"dem": dem, "soil_silt": soil}, outputs={"folder": str(tmp_path / "out")},
                          compute={"chunk_size": 256, "checkpoint_s": checkpoint_s})
    config["grid"]["bounds"] = [ORIGIN[0], ORIGIN[1] - size * 30.0, ORIGIN[0] + size * 30.0, ORIGIN[1]]
    path = dump_config(tmp_path / "run.yaml", config)
    return config, [sys.executable, "-m", "evaluate.cli", "run", str(path)]


def _start_and_signal(command, signum, progress: str) -> tuple[int, str]:
    """Run ``command`` and send it ``signum`` once its progress line says ``progress`` (e.g. ``"(10%)"``) of the blocks are written."""
    import subprocess

    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "compute and write rasters:" in line and progress in line:
            proc.send_signal(signum)
            break
    rest = proc.stderr.read()
    return proc.wait(60), rest


def _uninterrupted(tmp_path, config) -> dict:
    other = dict(config, outputs={**config["outputs"], "folder": str(tmp_path / "reference")})
    return {n: read(p) for n, p in run(parse_config(other, source=tmp_path / "ref.yaml", base_dir=tmp_path)).outputs.items()}


def test_sigterm_mid_run_exits_like_ctrl_c_commits_nothing_and_a_rerun_resumes(tmp_path):
    import signal
    import subprocess

    config, command = _interruptible_run(tmp_path, checkpoint_s=60)
    code, err = _start_and_signal(command, signal.SIGTERM, "(10%)")
    assert code == 128 + signal.SIGTERM, err
    assert "interrupted; nothing was committed" in err
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    # no raster, no lock, no manifest: only the hidden resumable blocks (partial raster + journal per output)
    assert left and all(n.startswith(".") and ".resume.partial" in n for n in left), left
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    resumed = next(s for s in manifest["steps"] if s["step"] == "compute and write rasters")["resumed_blocks"]
    assert resumed and all(n > 0 for n in resumed.values()), resumed
    assert not list((tmp_path / "out").glob(".*")), "a hidden partial file survived the successful run"
    for name, expected in _uninterrupted(tmp_path, config).items():
        np.testing.assert_array_equal(read(tmp_path / "out" / f"{name}.tif"), expected, err_msg=name)


def test_a_sigkilled_run_rerun_resumes_its_checkpointed_blocks_and_equals_an_uninterrupted_run(tmp_path):
    """issue 10 item 4: kill -9 mid-run, run again: only the missing blocks are computed, and the outputs are the same bits."""
    import signal
    import subprocess

    config, command = _interruptible_run(tmp_path, checkpoint_s=0.2)
    code, err = _start_and_signal(command, signal.SIGKILL, "(50%)")
    assert code == -signal.SIGKILL, err
    out = tmp_path / "out"
    assert not list(out.glob("*.tif")) and not (out / "manifest.json").exists()
    journalled = {p.name: len(p.read_text().splitlines()) - 1 for p in out.glob(".*.resume.partial.blocks")}
    assert len(journalled) == 2 and all(n > 0 for n in journalled.values()), journalled  # checkpointed every 0.2 s
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    steps = json.loads((out / "manifest.json").read_text())["steps"]
    resumed = next(s for s in steps if s["step"] == "compute and write rasters")["resumed_blocks"]
    assert sum(resumed.values()) > 0, (resumed, done.stderr[-2000:])  # journalled blocks that read back with their CRC
    assert not list(out.glob(".*"))
    for name, expected in _uninterrupted(tmp_path, config).items():
        np.testing.assert_array_equal(read(out / f"{name}.tif"), expected, err_msg=name)
    # a changed parameter is another content key: the stale resumable files are not used, and are removed
    code, _ = _start_and_signal(command, signal.SIGKILL, "(50%)")
    config["models"] = {"agri_land": {"params": {"silt_thresholds_pct": [50, 80]}}}
    again = run(parse_config(config, source=tmp_path / "run.yaml", base_dir=tmp_path))
    assert not list(out.glob(".*"))
    step = next(s for s in json.loads(again.manifest.read_text())["steps"] if s["step"] == "compute and write rasters")
    assert "agri_land" not in step["resumed_blocks"]


def test_an_input_replaced_during_the_run_fails_it_and_nothing_is_committed(tmp_path):
    import os
    import shutil

    ins = small_inputs(tmp_path / "data")
    config = small_config(tmp_path, ins, outputs={"folder": str(tmp_path / "out")}, compute={"chunk_size": 16})
    replacement = tmp_path / "data" / "dem_v2.tif"
    shutil.copy(ins["dem"], replacement)
    with rasterio.open(replacement, "r+") as dst:
        dem = dst.read(1, masked=True)
        dst.write((dem + 1).filled(dst.nodata), 1)
    swapped = []

    def swap_once(step, done, total):
        if done == 2 and not swapped:  # blocks are being written: replace the DEM atomically, as `mv` would
            os.replace(replacement, ins["dem"])
            swapped.append(step)

    with pytest.raises(RunError, match="inputs.dem.path: .*dem.tif changed while the run was reading it; nothing was written"):
        run(parse_config(config, source=tmp_path / "run.yaml", base_dir=tmp_path), progress=swap_once)
    assert swapped and sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def _unsampled_inputs(folder, tmp_path):
    """A 1300² DEM and silt whose rows and columns 291–358 lie between the 16 windows of 256² the pre-check samples."""
    from tests.helpers import terrain

    dem = terrain(1300, 1300)
    paths = {"dem": write_raster(folder / "dem.tif", dem, tiled=True), "soil_silt": write_raster(folder / "silt.tif", silt(1300, 1300), tiled=True)}
    config = small_config(tmp_path, paths, outputs={"folder": str(tmp_path / "out")}, compute={"chunk_size": 256})
    config["grid"]["bounds"] = [ORIGIN[0], ORIGIN[1] - 1300 * 30.0, ORIGIN[0] + 1300 * 30.0, ORIGIN[1]]
    return paths, dem, config


def test_unmarked_nodata_the_sample_misses_fails_the_run_before_anything_is_committed(tmp_path):
    """issue 10: −9999 voids in a DEM without a nodata tag, outside the sampled windows, were used as elevations."""
    (tmp_path / "in").mkdir()
    paths, dem, config = _unsampled_inputs(tmp_path / "in", tmp_path)
    dem[300:308, 300:308] = -9999.0
    write_raster(paths["dem"], dem, tiled=True)
    from evaluate.runner import check_inputs

    parsed = parse_config(config, source=tmp_path / "run.yaml", base_dir=tmp_path)
    assert check_inputs(parsed, resolve_grid(parsed)) == []  # the sampled pre-check cannot see them
    from evaluate.layers import InputError

    with pytest.raises(InputError, match="input 'dem' .*hold values -9999..[0-9.]+ m, outside the plausible -500.*unmarked nodata"):
        run(parsed)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_a_damaged_tile_is_an_input_error_naming_the_layer(tmp_path):
    (tmp_path / "in").mkdir()
    paths, _, config = _unsampled_inputs(tmp_path / "in", tmp_path)
    with rasterio.open(paths["soil_silt"]) as src:
        profile, values = src.profile, src.read(1)
    with rasterio.open(paths["soil_silt"], "w", **{**profile, "compress": "deflate"}) as dst:
        dst.write(values, 1)
    with rasterio.open(paths["soil_silt"]) as src:  # the 16² tile holding rows and columns 304-319
        offset = int(src.get_tag_item("BLOCK_OFFSET_19_19", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_19_19", "TIFF", bidx=1))
    with open(paths["soil_silt"], "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    from evaluate.layers import InputError

    from evaluate.runner import check_inputs

    parsed = parse_config(config, source=tmp_path / "run.yaml", base_dir=tmp_path)
    assert check_inputs(parsed, resolve_grid(parsed)) == []  # the damage lies between the sampled windows
    with pytest.raises(InputError, match="input 'soil_silt' .*cannot read grid rows .*the file may be damaged"):
        run(parsed)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_a_worker_killed_mid_run_on_a_local_cluster_still_gives_the_threaded_outputs(tmp_path, inputs, threaded):
    """issue 10: dask.distributed re-runs the lost worker's tasks; the run completes with identical rasters."""
    import os
    import signal

    import psutil

    killed = []

    def kill_one_worker(step, done, total):
        if done == 3 and not killed:
            # the nannies live in this process; each worker is a spawned child process
            workers = [p for p in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())]
            if workers:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed.append(workers[0].pid)

    config = small_config(tmp_path, inputs, outputs={"folder": str(tmp_path / "killed")}, compute={"chunk_size": 16, "scheduler": "processes", "workers": 2})
    result = run(parse_config(config, source=tmp_path / "killed.yaml", base_dir=tmp_path), progress=kill_one_worker)
    assert killed, "no worker process was found to kill"
    for name in ("agri_land", "slope"):
        np.testing.assert_array_equal(read(result.outputs[name]), read(threaded.outputs[name]))


def test_a_file_size_limit_reached_while_writing_is_a_clear_error_and_leaves_nothing(tmp_path):
    """issue 10: `ulimit -f` smaller than one output ended in a crash with partial files left."""
    import subprocess
    import sys

    from tests.helpers import dump_config, terrain

    rows = cols = 1500
    dem = write_raster(tmp_path / "dem.tif", terrain(rows, cols), tiled=True)
    soil = write_raster(tmp_path / "silt.tif", silt(rows, cols), tiled=True)
    config = small_config(tmp_path, {"dem": dem, "soil_silt": soil}, outputs={"folder": str(tmp_path / "out")}, compute={"chunk_size": 256})
    config["grid"]["bounds"] = [ORIGIN[0], ORIGIN[1] - rows * 30.0, ORIGIN[0] + cols * 30.0, ORIGIN[1]]
    path = dump_config(tmp_path / "run.yaml", config)
    # 2 MiB per file: the inputs are already written, the float32 slope output (~5 MiB compressed) cannot fit
    done = subprocess.run(["bash", "-c", f'ulimit -f 2048 && exec "{sys.executable}" -m evaluate.cli run "{path}"'], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is the disk full, or a file-size limit (ulimit -f) reached? Nothing was committed" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_a_rerun_reuses_unchanged_outputs_and_recomputes_what_changed(tmp_path):
    """ARCHITECTURE "Runs": outputs whose inputs, parameters and code are unchanged are skipped on re-run (content key)."""
    import json as json_

    ins = small_inputs(tmp_path / "data")

    def again(params=None, force=False):
        config = small_config(tmp_path, ins, outputs={"folder": str(tmp_path / "out")}, compute={"chunk_size": 32})
        if params:
            config["models"] = {"agri_land": {"params": params}}
        return run(parse_config(config, source=tmp_path / "run.yaml", base_dir=tmp_path), force=force)

    first = again()
    stamps = {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in first.outputs.items()}
    second = again()
    manifest = json_.loads(second.manifest.read_text())
    assert {n: o["reused"] for n, o in manifest["outputs"].items()} == {"agri_land": True, "slope": True}
    assert {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in second.outputs.items()} == stamps  # not rewritten
    changed = again(params={"silt_thresholds_pct": [50, 80]})
    outputs = json_.loads(changed.manifest.read_text())["outputs"]
    assert not outputs["agri_land"]["reused"] and outputs["agri_land"]["content_key"] != manifest["outputs"]["agri_land"]["content_key"]
    forced = again(params={"silt_thresholds_pct": [50, 80]}, force=True)
    assert not any(o["reused"] for o in json_.loads(forced.manifest.read_text())["outputs"].values())
    with rasterio.open(ins["soil_silt"], "r+") as dst:  # new input content: recomputed
        silt_values = dst.read(1)
        dst.write(np.where(silt_values >= 0, np.minimum(silt_values + 5, 100), silt_values), 1)
    assert not any(o["reused"] for o in json_.loads(again(params={"silt_thresholds_pct": [50, 80]}).manifest.read_text())["outputs"].values())
