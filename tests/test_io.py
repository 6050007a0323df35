"""Atomic, chunk-by-chunk GeoTIFF writing with colour tables; inputs never overwritten; killed runs leave nothing complete-looking."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr

from evaluate.grid import Grid, coords_of
from evaluate.io import OutputError, RasterOutput, refuse_input_paths, write_rasters
from evaluate.modelspec import FIVE_GRADES, OutputDecl

GRID = Grid.from_bounds((0, 0, 30 * 70, 30 * 50), 30, "EPSG:4547")
CLASS_DECL = OutputDecl("uint8", "a class raster", nodata=0, classes=FIVE_GRADES)
FLOAT_DECL = OutputDecl("float32", "a float raster", units="degrees", nodata=float("nan"))


def lazy(values, chunks=16):
    return xr.DataArray(da.from_array(values, chunks=chunks), coords=coords_of(GRID), dims=("y", "x"))


def test_write_rasters_is_tiled_compressed_and_carries_class_metadata(tmp_path):
    classes = (np.arange(GRID.size).reshape(GRID.shape) % 6).astype(np.uint8)
    floats = np.random.default_rng(0).normal(size=GRID.shape).astype(np.float32)
    floats[3, 4] = np.nan
    outputs = {"cls": RasterOutput("cls", lazy(classes), CLASS_DECL, {"DUALEVAL_MODEL": "m"}), "val": RasterOutput("val", lazy(floats, 23), FLOAT_DECL)}
    done = []
    paths = write_rasters(outputs, tmp_path, GRID, tile_size=32, progress=lambda d, t: done.append((d, t)))
    assert done[-1][0] == done[-1][1] > 1
    with rasterio.open(paths["cls"]) as src:
        np.testing.assert_array_equal(src.read(1), classes)
        assert src.profile["tiled"] and src.block_shapes[0] == (32, 32) and src.compression.name.lower() == "deflate"
        assert src.colormap(1)[3] == (254, 224, 139, 255) and src.nodata == 0
        assert src.tags(1)["CLASS_1"] == "高 high" and src.tags()["DUALEVAL_MODEL"] == "m"
        assert (src.crs, src.transform) == (GRID.crs, GRID.transform)
    with rasterio.open(paths["val"]) as src:
        np.testing.assert_array_equal(src.read(1), floats)
        assert src.units[0] == "degrees"
    assert "中等 medium" in (tmp_path / "cls.tif.aux.xml").read_text(encoding="utf-8")
    assert 'label="3 中等 medium"' in (tmp_path / "cls.qml").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.partial"))


def test_a_failing_block_leaves_no_output_and_no_partial_file(tmp_path):
    def explode(block, block_info=None):
        if block_info[0]["chunk-location"] == (2, 3):
            raise RuntimeError("disk on fire")
        return block

    good = lazy(np.ones(GRID.shape, np.uint8))
    bad = good.copy(data=good.data.map_blocks(explode, dtype=np.uint8))
    previous = tmp_path / "bad.tif"
    previous.write_bytes(b"result of an earlier run")
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_rasters({"good": RasterOutput("good", good, CLASS_DECL), "bad": RasterOutput("bad", bad, CLASS_DECL)}, tmp_path, GRID)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tif"]  # nothing new, nothing half-written
    assert previous.read_bytes() == b"result of an earlier run"


def test_output_that_is_an_input_is_refused(tmp_path):
    target = tmp_path / "dem.tif"
    with pytest.raises(OutputError, match="is also an input"):
        refuse_input_paths([tmp_path / "x" / ".." / "dem.tif"], [target])


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import dask, dask.array as da, numpy as np, xarray as xr
    from evaluate.grid import Grid, coords_of
    from evaluate.io import RasterOutput, write_rasters
    from evaluate.modelspec import FIVE_GRADES, OutputDecl
    grid = Grid.from_bounds((0, 0, 30 * 64, 30 * 64), 30, "EPSG:4547")
    def slow(block):
        time.sleep(0.3)
        return block
    data = da.ones(grid.shape, dtype=np.uint8, chunks=8).map_blocks(slow, dtype=np.uint8)
    out = RasterOutput("slow", xr.DataArray(data, coords=coords_of(grid), dims=("y", "x")), OutputDecl("uint8", "s", nodata=0, classes=FIVE_GRADES))
    dask.config.set(scheduler="threads", num_workers=2)
    write_rasters({"slow": out}, sys.argv[1], grid)
    """
)


def test_a_killed_write_leaves_only_a_hidden_partial_file(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)])
    deadline = time.time() + 60
    while not list(tmp_path.glob(".slow.tif.*.partial")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # some blocks written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    names = [p.name for p in tmp_path.iterdir()]
    assert not (tmp_path / "slow.tif").exists()
    assert names and all(n.startswith(".") and n.endswith(".partial") for n in names), names


@pytest.mark.parametrize("compress, level", [("zstd", 1), ("deflate", 1), ("deflate", None)])
def test_compression_levels_are_applied_and_the_writes_are_timed(tmp_path, compress, level):
    floats = np.random.default_rng(1).normal(size=GRID.shape).astype(np.float32)
    stats = {}
    paths = write_rasters({"val": RasterOutput("val", lazy(floats, 23), FLOAT_DECL)}, tmp_path, GRID, compress=compress, compress_level=level, stats=stats)
    with rasterio.open(paths["val"]) as src:
        np.testing.assert_array_equal(src.read(1), floats)
        assert src.compression.name.lower() == compress
    assert set(stats["write_s"]) == {"val"} and 0 < stats["write_s"]["val"] <= stats["wall_s"]


def test_the_compression_level_reaches_gdal(tmp_path):
    """Level 1 and level 9 deflate give different files of the same values (GDAL ignores unknown options silently)."""
    smooth = (np.add.outer(np.arange(GRID.height), np.arange(GRID.width)) % 17).astype(np.float32) * 0.37
    sizes = {}
    for level in (1, 9):
        path = write_rasters({"val": RasterOutput("val", lazy(smooth, 23), FLOAT_DECL)}, tmp_path / str(level), GRID, compress_level=level)["val"]
        sizes[level] = path.stat().st_size
    assert sizes[1] != sizes[9]


def test_a_block_still_being_computed_when_another_fails_is_not_written_into_a_closed_file(tmp_path):
    """dask raises in the caller while other threads still compute: their late writes must not touch a closed dataset
    (closing a GDAL handle under a writing thread crashed the process) and no partial file may remain."""
    import threading
    import time

    import dask

    slow_started, late_write_done = threading.Event(), threading.Event()

    def slow_or_failing(block, block_info=None):
        location = block_info[0]["chunk-location"]
        if location == (0, 0):
            slow_started.set()
            time.sleep(0.6)  # finishes after the failure below has closed the outputs
            late_write_done.set()
        elif location == (1, 1) and slow_started.wait(5):
            raise RuntimeError("disk on fire")
        return block

    good = lazy(np.ones(GRID.shape, np.float32))
    bad = good.copy(data=good.data.map_blocks(slow_or_failing, dtype=np.float32))
    with dask.config.set(scheduler="threads", num_workers=4), pytest.raises(RuntimeError, match="disk on fire"):
        write_rasters({"out": RasterOutput("out", bad, FLOAT_DECL)}, tmp_path, GRID)
    assert late_write_done.wait(5)
    time.sleep(0.2)  # let the late task reach the writer
    assert not list(tmp_path.glob("*.tif")) and not list(tmp_path.glob(".*partial*"))


def test_closing_an_output_waits_for_the_block_being_written_and_refuses_later_ones():
    import threading
    import time

    from evaluate.io import OutputError, _WindowWriter

    events = []

    class SlowDataset:
        closed = False
        dtypes = ("float32",)

        def write(self, block, band, window):
            events.append(("write starts", time.perf_counter()))
            time.sleep(0.3)
            events.append(("write ends", time.perf_counter()))

        def close(self):
            events.append(("close", time.perf_counter()))
            self.closed = True

    writer = _WindowWriter(SlowDataset())
    thread = threading.Thread(target=writer.__setitem__, args=((slice(0, 2), slice(0, 2)), np.zeros((2, 2))))
    thread.start()
    time.sleep(0.05)  # the write is in flight
    writer.close()
    thread.join()
    assert [name for name, _ in events] == ["write starts", "write ends", "close"]
    with pytest.raises(OutputError, match="closed"):
        writer[(slice(0, 2), slice(0, 2))] = np.zeros((2, 2))
