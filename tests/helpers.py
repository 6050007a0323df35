"""Small generated inputs and shared test utilities."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from hypothesis import strategies as st

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CRS = "EPSG:4547"
ORIGIN = (400_000.0, 2_550_000.0)
RES = 30.0
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


def require_tool(name: str) -> str:
    """The path of a reference CLI tool; skip on a laptop without it, fail under CI."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI (install gdal-bin)")
        pytest.skip(f"{name} not installed")
    return path


def write_raster(path: Path, data: np.ndarray, *, crs=CRS, transform=None, nodata=None, tiled=False) -> Path:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or Affine(RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1])
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype.name, crs=crs, transform=transform, nodata=nodata)
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def terrain(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A smooth relief with slopes from flat (<2°) to steep (>25°), in metres."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64) * RES
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 6.28, 3)
    z = 300 + 450 * np.sin(x / 900 + phase[0]) * np.cos(y / 700 + phase[1]) + 0.02 * x
    z += 40 * np.sin(x / 150 + phase[2]) * np.sin(y / 170)
    z[: rows // 5, : cols // 4] = 250.0  # a flat plain
    return z.astype(np.float32)


def silt(rows: int, cols: int) -> np.ndarray:
    """Silt percent covering <60, 60–80 and ≥80 %."""
    y, x = np.mgrid[0:rows, 0:cols]
    return (30 + 60 * (x / max(cols - 1, 1)) + 5 * np.sin(y / 7)).astype(np.float32)


def small_inputs(folder: Path, rows: int = 90, cols: int = 110) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    dem = terrain(rows, cols)
    dem[40:43, 50:53] = -9999.0  # a nodata hole
    return {
        "dem": write_raster(folder / "dem.tif", dem, nodata=-9999.0),
        "soil_silt": write_raster(folder / "silt.tif", silt(rows, cols), nodata=-1.0),
    }


def small_config(folder: Path, inputs: dict[str, Path], **overrides) -> dict:
    rows, cols = 90, 110
    config = {
        "name": "small",
        "grid": {"crs": CRS, "bounds": [ORIGIN[0], ORIGIN[1] - rows * RES, ORIGIN[0] + cols * RES, ORIGIN[1]], "resolution": RES},
        "inputs": {
            "dem": {"path": str(inputs["dem"]), "kind": "continuous", "units": "m"},
            "soil_silt": {"path": str(inputs["soil_silt"]), "kind": "continuous", "units": "percent"},
        },
        # slope: the shared derived layer, requested so that it is written too
        "models": {"agri_land": {}, "slope": {}},
        "outputs": {"folder": str(folder / "out")},
        "compute": {"chunk_size": 32},
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def dump_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class ComputeCounter(dask.callbacks.Callback):
    """Counts dask computations started on the local schedulers."""

    def __init__(self):
        super().__init__()
        self.starts = 0

    def _start(self, dsk):
        self.starts += 1


@contextlib.contextmanager
def no_compute():
    """Fail if anything inside the block triggers a dask compute."""
    with ComputeCounter() as counter:
        yield counter
    assert counter.starts == 0, f"{counter.starts} dask compute(s) triggered while building the graph"


@st.composite
def chunkings(draw, shape: tuple[int, int], max_chunks: int = 6):
    """Random dask chunk tuples along each axis (at most ``max_chunks`` per axis), 1-cell-wide chunks included."""
    out = []
    for n in shape:
        cuts = draw(st.lists(st.integers(1, max(1, n - 1)), max_size=min(max_chunks - 1, n - 1), unique=True)) if n > 1 else []
        edges = [0, *sorted(cuts), n]
        out.append(tuple(b - a for a, b in zip(edges, edges[1:])))
    return tuple(out)


def grid_for(shape: tuple[int, int]):
    """A CGCS2000 GK grid of 30 m cells with ``shape`` (rows, cols)."""
    from evaluate.grid import Grid

    rows, cols = shape
    return Grid.from_bounds((ORIGIN[0], ORIGIN[1] - rows * RES, ORIGIN[0] + cols * RES, ORIGIN[1]), RES, CRS)


def raster_of(values, grid=None, chunks=None):
    """A georeferenced (y, x) DataArray of ``values`` (2-D, or 1-D as one row), dask-chunked if ``chunks``."""
    import xarray as xr

    from evaluate.grid import coords_of, georeference

    values = np.asarray(values)
    if values.ndim == 1:
        values = values[None, :]
    grid = grid or grid_for(values.shape)
    array = georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)
    return array.chunk({"y": chunks[0], "x": chunks[1]}) if chunks else array


def run_model(name: str, arrays: dict, params: dict | None = None, guideline: str = "2020trial", chunks=None) -> dict:
    """Run one registered model on numpy arrays (one per input it reads); returns its outputs computed to numpy."""
    from evaluate.modelspec import Evaluation
    from models import MODELS

    model = MODELS[name]
    resolved = {k: v["value"] for k, v in model.SPEC.resolve(params or {}).items()}
    shape = np.asarray(next(iter(arrays.values()))).shape
    grid = grid_for(shape if len(shape) == 2 else (1, shape[0]))
    inputs = {k: raster_of(v, grid, chunks) for k, v in arrays.items()}
    result = model.run(inputs, resolved, Evaluation(guideline=guideline))
    import dask
    import xarray as xr

    out = {}
    for key, value in result.items():
        if isinstance(value, xr.DataArray):
            out[key] = np.asarray(value.values)
        elif dask.is_dask_collection(value):
            out[key] = value.compute()
        else:
            out[key] = value
    return out
