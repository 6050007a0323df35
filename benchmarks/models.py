"""Model benchmark: every 双评价 model of ``configs/demo.yaml``, eager and dask, and RUSLE against InVEST SDR.

For each ``--sizes`` grid (default 4096² and 8192², 30 m cells, EPSG:4547)
this writes every input layer of ``configs/demo.yaml`` once as ``.npy``
(synthetic rasters from ``evaluate.synthetic.raster_blocks``, 12-band inputs
split into their members ``precip_m01`` … ``rh_m12`` the way the config
expands ``bands: 12``, and the demo's vector inputs rasterized from
``evaluate.synthetic.vector_features`` with the config's ``attribute`` /
``burn`` / ``codes`` / ``all_touched``), then times, each in a fresh process
(the ``_harness`` protocol: one warm-up call, the median of ``--repeats``
timed calls, peak RSS = the process's own VmHWM):

- one row per non-derived model of the config, **including its
  prerequisites** (``MODELS.plan([model], layers)``: the derived layers and
  upstream models it reads, listed in the row), run as
  ``evaluate/runner.py::build_outputs`` runs a plan (config layers converted
  to the declared units with ``evaluate.layers.to_units``, produced outputs
  passed on), with the model's own outputs consumed;
- one row for the whole plan of the config (every model, every output the
  runner would write);
- in two modes: *eager* (numpy-backed inputs loaded before timing; eager
  operators run on the run's threads) and *dask* (inputs read window by window
  from the ``.npy`` inside the timed graph, registered as window sources like
  the runner's rasters, ``--chunk`` 1024² chunks, threaded scheduler); dask
  outputs go block by block into a null sink, tables are computed in the same
  pass. No file is written in either mode.

Then the soil-conservation comparison on the ``--invest-size`` grid (4096²):
our RUSLE service (``eco_soil`` with its prerequisites ``r_factor`` from the 12
monthly rasters, ``ls`` via ``ops.ls_factor``, ``fvc``, ``ecosys``: K EPIC, C,
A_c and the 50/80 % classes) against ``natcap.invest.sdr`` on the same grid
and the same R, K and C (InVEST gets our R and K as rasters and a LULC raster
with one code per distinct C value of ours, usle_p = 1, one watershed covering
the grid). InVEST runs in its own virtual environment (``--invest-python``);
if it cannot be imported the comparison is skipped with the reason.

Usage::

    python benchmarks/models.py --sizes 1024 --invest-size 1024     # quick (~5 min)
    python benchmarks/models.py --json /tmp/models.json             # 4096² and 8192², and InVEST at 4096²
    python benchmarks/models.py --markdown /tmp/models.json         # tables of a saved run
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import _harness as H  # noqa: E402

DEMO_CONFIG = ROOT / "configs" / "demo.yaml"
DEFAULT_SIZES = (4096, 8192)
DEFAULT_CHUNK = 1024
PLAN = "whole_plan"  # the case of every model of the config at once
MODES = ("eager", "dask")
# an eager row holds its inputs and every intermediate of its plan whole: skipped (with the reason) when its predicted
# peak exceeds this share of the machine's memory (the whole plan peaks at 11.2 GiB at 4096², so ≈ 45 GiB at 8192²)
EAGER_MEMORY_SHARE = 0.75
LAYERS_VERSION = 1  # bump when the derivation of the cached layers changes
DTYPES = {"continuous": "float32", "categorical": "int32", "mask": "uint8"}  # as evaluate.layers stacks them
FILL = {"continuous": np.nan, "categorical": -1, "mask": 0}  # evaluate.layers: what a vector does not cover
# Parameters set on top of configs/demo.yaml (``--as-configured`` drops them). The demo's `location` computes its
# travel time exactly at 30 m: reaching the last limit at the top road speed needs a halo of 4001 cells, which a lazy
# graph refuses above 2048 (ops.travel_time: "pass analysis_resolution_m ≥ 60"), so at 4096² and more the demo's
# location, urban_suit, carrying_scale, conflicts and whole plan cannot run in dask mode as configured. Both modes get
# the override, so eager and dask compute the same thing.
OVERRIDES = {"location": {"analysis_resolution_m": 60.0}}
INVEST_SIZE = 4096
# a separate venv with natcap.invest (it needs GDAL's Python bindings for the system GDAL): see benchmarks/README.md
INVEST_PYTHON = Path(os.environ.get("DUALEVAL_INVEST_PYTHON", str(ROOT / ".venv-invest" / "bin" / "python")))
INVEST_TARGET = 10.0  # ours must be at least this many times faster than InVEST SDR
INVEST_MARK = "@@INVEST "
MIB = 2.0**20
SHOWN_PREREQUISITES = 6  # longer plans are listed under the table


# ----------------------------------------------------------------------------
# The config, its plans and its layers
# ----------------------------------------------------------------------------


def demo_config(path: Path | str = DEMO_CONFIG):
    from evaluate.config import load_config

    return load_config(path)


def snapshot_config(path: Path, cache: Path) -> Path:
    """A copy of the config for this run, so that every worker plans the same models while the file may be edited."""
    text = Path(path).read_text(encoding="utf-8")
    snap = cache / f"config-{Path(path).stem}-{hashlib.sha1(text.encode()).hexdigest()[:10]}.yaml"
    cache.mkdir(parents=True, exist_ok=True)
    if not snap.exists():
        snap.write_text(text, encoding="utf-8")
    return snap


def model_cases(config) -> list[str]:
    """The non-derived models the config enables, in config order."""
    from models import MODELS

    return [n for n, r in config.models.items() if r.enabled and not MODELS[n].derived]


def model_params(config, overrides: dict) -> dict:
    """Parameters of every model: the config's, with ``overrides`` on top."""
    from models import MODELS

    return {n: {**(config.models[n].params if n in config.models else {}), **overrides.get(n, {})} for n in MODELS}


def plan_for(config, case: str, overrides: dict | None = None):
    """The plan of one model (with its prerequisites) or of the whole config (:data:`PLAN`)."""
    from models import MODELS

    requested = model_cases(config) if case == PLAN else [case]
    return MODELS.plan(requested, set(config.inputs), config.evaluation.guideline, model_params(config, overrides or {}))


def plan_layers(plan) -> list[str]:
    """The config layers a plan reads."""
    names = {i for m in plan.order for i, how in plan.sources[m].items() if how == "layer"}
    return sorted(names)


def layer_source(name: str, spec) -> dict:
    """Where the synthetic values of config input ``name`` come from (its file's stem names the synthetic layer)."""
    from evaluate import synthetic

    stem = spec.path.stem
    if spec.is_vector:
        if stem not in synthetic.VECTOR_LAYERS:
            raise SystemExit(f"models.py: input {name!r} reads {spec.path.name}, which is no synthetic vector layer")
        return {"vector": stem, "attribute": spec.attribute, "burn": spec.burn, "codes": spec.codes,
                "all_touched": spec.all_touched}
    info = synthetic.RASTER_LAYERS.get(stem)
    if info is None:
        raise SystemExit(f"models.py: input {name!r} reads {spec.path.name}, which is no synthetic raster layer")
    if spec.band > info.bands:
        raise SystemExit(f"models.py: input {name!r} reads band {spec.band} of {stem}, which has {info.bands}")
    return {"raster": stem, "band": spec.band, "units": info.units}


def layer_key(name: str, spec, size: int) -> dict:
    from evaluate.synthetic import GENERATOR_VERSION

    return {"version": LAYERS_VERSION, "generator": GENERATOR_VERSION, "seed": H.SEED, "size": size, "kind": spec.kind,
            "units": spec.effective_units, **layer_source(name, spec)}


def layer_folder(cache: Path, size: int) -> Path:
    return H.data_dir(cache, size) / "models"


def prepare_inputs(config, size: int, cache: Path, names: list[str]) -> Path:
    """Write the missing or stale layers ``names`` of a ``size``² grid as ``.npy`` (cached across runs)."""
    folder = layer_folder(cache, size)
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "layers.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    todo = [n for n in names if not (folder / f"{n}.npy").exists() or index.get(n) != layer_key(n, config.inputs[n], size)]
    if not todo:
        return folder
    grid = H.grid_for(size)
    t0 = time.perf_counter()
    rasters = [n for n in todo if "raster" in layer_source(n, config.inputs[n])]
    vectors = [n for n in todo if n not in rasters]
    if rasters:
        _generate_rasters(folder, grid, config, rasters)
    if vectors:
        _rasterize_vectors(folder, grid, config, vectors)
    for n in todo:
        index[n] = layer_key(n, config.inputs[n], size)
    index_path.write_text(json.dumps(index, indent=1))
    H._log(f"  {len(todo)} layer(s) of {size}² written in {time.perf_counter() - t0:.0f} s ({folder})")
    return folder


def _generate_rasters(folder: Path, grid, config, names: list[str]) -> None:
    """Synthetic raster layers by row strips on the run's threads (the numba generator releases the GIL)."""
    from numpy.lib.format import open_memmap

    from evaluate.synthetic import grid_metric_coords, raster_blocks

    size = grid.height
    sources = {n: layer_source(n, config.inputs[n]) for n in names}
    synth = sorted({s["raster"] for s in sources.values()})
    H._log(f"  generating {len(names)} raster layer(s) from {len(synth)} synthetic layer(s) on {size}² ...")
    tmp = {n: folder / f"{n}.tmp.npy" for n in names}
    outs = {n: open_memmap(tmp[n], mode="w+", dtype=DTYPES[config.inputs[n].kind], shape=grid.shape) for n in names}
    strip = max(16, min(256, (1 << 20) // grid.width))
    starts = list(range(0, size, strip))
    t0 = time.perf_counter()

    def work(r0):
        rows = slice(r0, min(size, r0 + strip))
        x, y = grid_metric_coords(grid, rows)
        blocks = raster_blocks(synth, x, y, H.SEED)
        for n, src in sources.items():
            block = blocks[src["raster"]]
            outs[n][rows] = block[src["band"] - 1] if block.ndim == 3 else block

    with ThreadPoolExecutor(H.THREADS) as pool:
        for k, _ in enumerate(pool.map(work, starts)):
            if (k + 1) % max(1, len(starts) // 8) == 0:
                H._log(f"    {100 * (k + 1) // len(starts)} %  ({time.perf_counter() - t0:.0f} s)")
    for n in names:
        outs[n].flush()
        del outs[n]
        os.replace(tmp[n], folder / f"{n}.npy")


def _rasterize_vectors(folder: Path, grid, config, names: list[str]) -> None:
    """The demo's vector inputs, rasterized as ``evaluate.layers`` does (attribute/burn, codes, all_touched, later features win)."""
    from rasterio.features import rasterize

    from evaluate.synthetic import vector_features

    features: dict[str, tuple] = {}
    for n in names:
        spec, src = config.inputs[n], layer_source(n, config.inputs[n])
        if src["vector"] not in features:
            t0 = time.perf_counter()
            features[src["vector"]] = vector_features(src["vector"], grid.bounds, grid.crs, H.SEED)
            H._log(f"  vector layer {src['vector']}: {len(features[src['vector']][0])} features in {time.perf_counter() - t0:.1f} s")
        geoms, attrs = features[src["vector"]]
        if spec.attribute is None:
            values = np.full(len(geoms), 1.0 if spec.burn is None else spec.burn)
        elif spec.codes is not None:
            values = np.array([spec.codes[str(v)] for v in attrs[spec.attribute]], dtype=np.float64)
        else:
            values = np.asarray(attrs[spec.attribute], dtype=np.float64)
        dtype = DTYPES[spec.kind]
        burned = rasterize(list(zip(geoms, values)), out_shape=grid.shape, transform=grid.transform, fill=FILL[spec.kind],
                           all_touched=spec.all_touched, dtype="float32" if spec.kind == "continuous" else "int32")
        H._atomic_npy(folder / f"{n}.npy", burned.astype(dtype))


# ----------------------------------------------------------------------------
# Worker side
# ----------------------------------------------------------------------------


def load_layer(folder: Path, grid, name: str, spec, mode: str, chunk: int):
    """Config layer ``name`` as the runner stacks it: a georeferenced DataArray with its declared units.

    Eager: the whole array in memory. Dask: blocks read from the ``.npy``
    inside the graph, registered as the array's window source (stencils read
    their padded windows from it, as they do from the runner's rasters).
    """
    import xarray as xr

    from evaluate.grid import coords_of, georeference
    from evaluate.layers import chunks_for
    from evaluate.ops._wrap import from_window_reader

    path = folder / f"{name}.npy"
    if mode == "eager":
        data = np.load(path)
    else:
        head = np.load(path, mmap_mode="r")
        dtype = head.dtype
        del head

        def read_window(r0, r1, c0, c1, path=path):
            mm = np.load(path, mmap_mode="r")
            out = np.array(mm[r0:r1, c0:c1])
            del mm
            return out

        token = hashlib.sha1(f"{path}|{path.stat().st_mtime_ns}|{chunk}".encode()).hexdigest()[:12]
        data = from_window_reader(read_window, chunks_for(grid, chunk), dtype, f"read-{name}-{token}")
    array = xr.DataArray(data, coords=coords_of(grid), dims=("y", "x"), name=name)
    array.attrs = {"units": spec.effective_units, "kind": spec.kind, "source": str(path)}
    return georeference(array, grid)


def run_plan(config, plan, arrays: dict, overrides: dict | None = None, requested_only: bool = True,
             node_times: dict | None = None) -> dict:
    """Run a plan as ``evaluate.runner.build_outputs`` does; the requested models' outputs (or every produced layer).

    ``node_times``: seconds of each model's ``run`` are appended to it (eager
    inputs: the model's own computation; dask: building its graph).
    """
    from evaluate import layers
    from evaluate.runner import evaluation
    from models import MODELS

    ev = evaluation(config)
    given = model_params(config, overrides or {})
    produced: dict = {}
    for model_name in plan.order:
        model = MODELS[model_name]
        params = {k: v["value"] for k, v in model.SPEC.resolve(given[model_name]).items()}
        inputs = {}
        for name, how in plan.sources[model_name].items():
            decl = model.SPEC.inputs[name]
            if how == "layer":
                inputs[name] = layers.to_units(arrays[name], decl.units) if decl.kind == "continuous" else arrays[name]
            elif how.startswith("model:"):
                inputs[name] = produced[name]
        t0 = time.perf_counter()
        result = model.run(inputs, params, ev)
        if node_times is not None:
            node_times.setdefault(model_name, []).append(time.perf_counter() - t0)
        produced.update({k: result[k] for k in model.SPEC.outputs})
    if not requested_only:
        return produced
    return {o: produced[o] for m in plan.order if m in plan.requested for o in MODELS[m].SPEC.outputs}


def consume(outputs: dict) -> None:
    """Finish every output in one pass: dask rasters block by block into null sinks, tables computed with them."""
    import dask
    import dask.array as da
    import xarray as xr

    arrays, lazy = [], []
    for value in outputs.values():
        data = value.data if isinstance(value, xr.DataArray) else value
        if isinstance(data, da.Array):
            arrays.append(data)
        elif dask.is_dask_collection(data):
            lazy.append(data)
    jobs = list(lazy)
    if arrays:
        jobs.append(da.store(arrays, [H._NullSink() for _ in arrays], lock=False, compute=False))
    if jobs:
        dask.compute(*jobs)


def run_worker(spec: dict) -> dict:
    """One measurement in this fresh process: load, one warm-up call, ``repeats`` timed calls."""
    H.THREADS = H.measurement_threads(spec)
    if spec["who"] == "invest-prep":
        return invest_prep(spec)
    if spec["who"] == "invest-compare":
        return invest_compare(spec)
    H._configure_dask(H.THREADS)
    config = demo_config(spec["config"])
    overrides = spec.get("overrides") or {}
    plan = plan_for(config, spec["case"], overrides)
    grid = H.grid_for(spec["size"])
    folder = Path(spec["folder"])
    rss_base = H._rss_now()
    arrays = {n: load_layer(folder, grid, n, config.inputs[n], spec["mode"], spec["chunk"]) for n in plan_layers(plan)}
    rss_loaded = H._rss_now()
    times, nodes = [], {}
    for k in range(spec["warmup"] + spec["repeats"]):
        node_times = {} if k >= spec["warmup"] else None
        t0 = time.perf_counter()
        outputs = run_plan(config, plan, arrays, overrides, node_times=node_times)
        t1 = time.perf_counter()
        consume(outputs)
        elapsed = time.perf_counter() - t0
        del outputs
        if k >= spec["warmup"]:
            times.append(elapsed)
            node_times["(finish: dask compute / tables)"] = [elapsed - (t1 - t0)]
            for name, ts in node_times.items():
                nodes.setdefault(name, []).append(sum(ts))
    return {"times": times, "nodes": {n: statistics.median(ts) for n, ts in nodes.items()}, "warmup": spec["warmup"], "rss_base_mib": rss_base, "rss_loaded_mib": rss_loaded, "rss_peak_mib": H._rss_peak(),
            "threads": H.THREADS, "numba_threads": H._numba_threads()}


# ----------------------------------------------------------------------------
# InVEST SDR comparison
# ----------------------------------------------------------------------------

SOIL_CASE = "eco_soil"

# Runs inside the InVEST environment: one sdr.execute in a fresh workspace, timed, with this process's VmHWM.
_INVEST_RUNNER = r"""
import json, sys, time
t0 = time.perf_counter()
import natcap.invest
from natcap.invest.sdr import sdr
imported = time.perf_counter() - t0
args = json.loads(sys.argv[1])
t1 = time.perf_counter()
sdr.execute(args)
wall = time.perf_counter() - t1
hwm = next(int(l.split()[1]) / 1024.0 for l in open('/proc/self/status') if l.startswith('VmHWM:'))
print('@@INVEST ' + json.dumps({'wall_s': wall, 'import_s': imported, 'rss_peak_mib': hwm, 'version': natcap.invest.__version__}), flush=True)
"""

_INVEST_PROBE = r"""
import natcap.invest, pygeoprocessing
from osgeo import gdal
from natcap.invest.sdr import sdr
print(natcap.invest.__version__, pygeoprocessing.__version__, gdal.__version__)
"""


def invest_folder(cache: Path, size: int) -> Path:
    return layer_folder(cache, size) / "invest"


def _write_tif(path: Path, array: np.ndarray, grid, nodata) -> None:
    import rasterio

    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1, dtype=array.dtype.name, crs=grid.crs,
                   transform=grid.transform, nodata=nodata, tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


def _watershed(path: Path, grid) -> None:
    """One polygon covering the grid (InVEST SDR aggregates over it and masks the rasters with it)."""
    import pyogrio.raw
    import shapely

    xmin, ymin, xmax, ymax = grid.bounds
    wkb = np.array([shapely.to_wkb(shapely.box(xmin, ymin, xmax, ymax))], dtype=object)
    path.unlink(missing_ok=True)
    pyogrio.raw.write(path, geometry=wkb, field_data=[np.array([1], dtype=np.int32)], fields=["ws_id"], crs=grid.crs.to_wkt(),
                      geometry_type="Polygon", driver="GPKG")


def invest_prep(spec: dict) -> dict:
    """Our eco_soil plan, eagerly, once (not timed): InVEST's inputs and our reference arrays.

    Two InVEST input sets. *timing* (the whole grid): our R and K rasters, the
    DEM, and the 三调 land use as LULC with usle_c = the mean of our C over
    each land-use code (a table of a few dozen rows, as InVEST is used).
    *check* (the top-left ``check`` ² window): the same R, K and DEM, and a
    LULC with one code per distinct value of our C, usle_c = that value, so
    that InVEST's C·P raster is our C cell for cell. A table of 10⁵–10⁶ rows
    slows InVEST's reclassification down several times (1024²: 39 s against
    14 s with 20 rows), so this run checks R·K·C and is not timed against us.
    """
    config = demo_config(spec["config"])
    plan = plan_for(config, SOIL_CASE)
    size, n = spec["size"], spec["check"]
    grid, check_grid = H.grid_for(size), H.grid_for(n)
    folder, out = Path(spec["folder"]), Path(spec["out"])
    (out / "check").mkdir(parents=True, exist_ok=True)
    arrays = {k: load_layer(folder, grid, k, config.inputs[k], "eager", spec["chunk"]) for k in plan_layers(plan)}
    produced = run_plan(config, plan, arrays, requested_only=False)  # eco_soil: no override applies
    r = np.asarray(produced["r_factor"].values, dtype=np.float32)
    k = np.asarray(produced["soil_k"].values, dtype=np.float32)
    c = np.asarray(produced["soil_c"].values, dtype=np.float32)
    ls = np.asarray(produced["ls"].values, dtype=np.float32)
    loss = np.asarray(produced["soil_loss"].values, dtype=np.float32)
    dem = np.asarray(arrays["dem"].values, dtype=np.float32)
    landuse = np.asarray(arrays["landuse"].values).astype(np.int32)
    nodata = np.float32(-9999.0)
    r_out = np.where(np.isfinite(r), r, nodata).astype(np.float32)
    k_out = np.where(np.isfinite(k), k, nodata).astype(np.float32)
    finite = np.isfinite(c)
    # timing set: the land use as LULC, usle_c = mean C of the code
    codes, inverse = np.unique(landuse, return_inverse=True)
    inverse = inverse.reshape(landuse.shape)
    sums = np.bincount(inverse[finite], weights=c[finite].astype(np.float64), minlength=codes.size)
    counts = np.bincount(inverse[finite], minlength=codes.size)
    for name, array, nd in (("dem", dem, float(nodata)), ("erosivity", r_out, float(nodata)), ("erodibility", k_out, float(nodata)),
                            ("lulc_landuse", landuse, -1)):
        _write_tif(out / f"{name}.tif", array, grid, nd)
    with open(out / "biophysical_landuse.csv", "w") as f:
        f.write("lucode,usle_c,usle_p\n")
        for code, total, count in zip(codes, sums, counts):
            f.write(f"{int(code)},{(total / count if count else 0.0):.6f},1\n")
    _watershed(out / "watersheds.gpkg", grid)
    # check set: one LULC code per distinct float32 C value on the window, usle_c = that value exactly
    w = (slice(0, n), slice(0, n))
    cw, fw = c[w], finite[w]
    values, inv = np.unique(cw[fw], return_inverse=True)
    lulc = np.zeros(cw.shape, dtype=np.int32)  # 0 = nodata (C undefined)
    lulc[fw] = inv.astype(np.int32) + 1
    for name, array, nd in (("dem", dem[w], float(nodata)), ("erosivity", r_out[w], float(nodata)),
                            ("erodibility", k_out[w], float(nodata)), ("lulc", lulc, 0)):
        _write_tif(out / "check" / f"{name}.tif", np.ascontiguousarray(array), check_grid, nd)
    with open(out / "check" / "biophysical.csv", "w") as f:
        f.write("lucode,usle_c,usle_p\n")
        for code, value in enumerate(values, start=1):
            f.write(f"{code},{float(value)!r},1\n")
    _watershed(out / "check" / "watersheds.gpkg", check_grid)
    np.save(out / "ours_ls.npy", ls)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.save(out / "check" / "ours_rkc.npy", np.where(ls[w] > 0, loss[w].astype(np.float64) / ls[w], np.nan))
    # the same eco_soil layers as GeoTIFFs, for `dualeval run` (12 months as one 12-band file, as the demo has them)
    _write_dualeval_inputs(out, arrays, grid)
    return {"landuse_codes": int(codes.size), "c_values_check": int(values.size), "c_nan_cells": int((~finite).sum()),
            "rss_peak_mib": H._rss_peak()}


def _write_dualeval_inputs(out: Path, arrays: dict, grid) -> None:
    import rasterio

    months = sorted(n for n in arrays if n.startswith("precip_m"))
    single = [n for n in arrays if n not in months]
    for n in single:
        a = np.asarray(arrays[n].values)
        _write_tif(out / f"in_{n}.tif", a, grid, -9999.0 if a.dtype.kind == "f" else -1 if a.dtype.kind == "i" else 255)
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=len(months), dtype="float32", crs=grid.crs,
                   transform=grid.transform, nodata=-9999.0, tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
    with rasterio.open(out / "in_precip_month.tif", "w", **profile) as dst:
        for b, n in enumerate(months, start=1):
            dst.write(np.asarray(arrays[n].values, dtype=np.float32), b)


def dualeval_soil_config(out: Path, config, size: int, chunk: int) -> Path:
    """A run config of eco_soil alone on the GeoTIFFs of :func:`invest_prep` (writes its 5 outputs, compressed)."""
    import yaml

    plan = plan_for(config, SOIL_CASE)
    grid = H.grid_for(size)
    inputs = {}
    for n in plan_layers(plan):
        spec = config.inputs[n]
        if n.startswith("precip_m"):
            inputs["precip_m"] = {"path": str(out / "in_precip_month.tif"), "kind": "continuous", "units": spec.effective_units, "bands": 12}
            continue
        inputs[n] = {"path": str(out / f"in_{n}.tif"), "kind": spec.kind, **({"units": spec.effective_units} if spec.kind == "continuous" else {})}
    cfg = {"name": f"models-bench-soil-{size}", "grid": {"crs": str(grid.crs), "bounds": list(grid.bounds), "resolution": H.RESOLUTION_M},
           "evaluation": {"guideline": config.evaluation.guideline}, "inputs": inputs, "models": {SOIL_CASE: {}},
           "outputs": {"folder": str(out / "dualeval-run")}, "compute": {"chunk_size": chunk, "scheduler": "threads"}}
    path = out / "dualeval-soil.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return path


def _read(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1, masked=True).astype(np.float64).filled(np.nan)


def invest_compare(spec: dict) -> dict:
    """R·K·C on the check window (ours A_r / LS against InVEST usle / LS) and LS on the whole grid (Pearson)."""
    out = Path(spec["out"])
    timing, check = Path(spec["timing_ws"]), Path(spec["check_ws"])
    result: dict[str, Any] = {}
    if check.exists():
        ours_rkc = np.load(out / "check" / "ours_rkc.npy")
        inv_ls = _read(check / "intermediate_outputs" / "ls.tif")
        usle = _read(check / "usle.tif")
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_rkc = np.where(inv_ls > 0, usle / inv_ls, np.nan)
        both = np.isfinite(ours_rkc) & np.isfinite(inv_rkc)
        a, b = ours_rkc[both], inv_rkc[both]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
        rel = np.where(np.isfinite(rel), rel, 0.0)  # both 0 (C = 0: paddy, water)
        result["rkc"] = {"cells": int(both.sum()), "of_cells": int(both.size), "share": float(both.mean()),
                         "zero_cells": int((a == 0).sum()), "max_rel_diff": float(rel.max()) if rel.size else None,
                         "p999_rel_diff": float(np.quantile(rel, 0.999)) if rel.size else None,
                         "share_within_1e-6": float((rel <= 1e-6).mean()) if rel.size else None,
                         "invest_undefined": int((~np.isfinite(inv_rkc)).sum()), "ours_undefined": int((~np.isfinite(ours_rkc)).sum())}
    if timing.exists():
        ours_ls = np.load(out / "ours_ls.npy").astype(np.float64)
        inv_ls = _read(timing / "intermediate_outputs" / "ls.tif")
        sel = np.isfinite(ours_ls) & np.isfinite(inv_ls)
        sel[[0, -1], :] = False  # the grid's edge: each tool has its own edge rule
        sel[:, [0, -1]] = False
        x, y = ours_ls[sel], inv_ls[sel]
        pos = sel & (ours_ls > 0) & (inv_ls > 0)
        result["ls"] = {"cells": int(sel.sum()), "pearson": float(np.corrcoef(x, y)[0, 1]),
                        "pearson_log": float(np.corrcoef(np.log(ours_ls[pos]), np.log(inv_ls[pos]))[0, 1]),
                        "spearman": _spearman(x, y), "ours_median": float(np.median(x)), "invest_median": float(np.median(y)),
                        "ours_p99": float(np.quantile(x, 0.99)), "invest_p99": float(np.quantile(y, 0.99))}
    result["rss_peak_mib"] = H._rss_peak()
    return result


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (ties broken by order: fine for a summary on millions of cells)."""
    rx = np.empty(x.size, dtype=np.float64)
    ry = np.empty(y.size, dtype=np.float64)
    rx[np.argsort(x, kind="stable")] = np.arange(x.size)
    ry[np.argsort(y, kind="stable")] = np.arange(y.size)
    return float(np.corrcoef(rx, ry)[0, 1])


def invest_available(python: Path) -> tuple[str | None, str | None]:
    """(versions, None) when InVEST SDR imports in ``python``; else (None, why)."""
    if not python.exists():
        return None, f"{python} not found (see benchmarks/README.md, 'InVEST SDR': a separate venv with GDAL bindings and natcap.invest)"
    proc = subprocess.run([str(python), "-c", _INVEST_PROBE], capture_output=True, text=True, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
        return None, f"natcap.invest SDR does not import in {python}: {tail}"
    v = proc.stdout.split()
    return f"natcap.invest {v[0]}, pygeoprocessing {v[1]}, GDAL {v[2]}", None


def run_invest(python: Path, inputs: Path, lulc: str, table: str, workspace: Path, flow: str, threads: int, timeout: float) -> dict:
    """One InVEST SDR run in a fresh process and a fresh workspace (taskgraph would reuse an old one)."""
    import shutil

    if workspace.exists():
        shutil.rmtree(workspace)
    args = {"workspace_dir": str(workspace), "results_suffix": "", "n_workers": -1, "dem_path": str(inputs / "dem.tif"),
            "erosivity_path": str(inputs / "erosivity.tif"), "erodibility_path": str(inputs / "erodibility.tif"),
            "lulc_path": str(inputs / lulc), "watersheds_path": str(inputs / "watersheds.gpkg"),
            "biophysical_table_path": str(inputs / table), "threshold_flow_accumulation": 1000, "k_param": 2,
            "sdr_max": 0.8, "ic_0_param": 0.5, "l_max": 122, "flow_dir_algorithm": flow}
    env = H._worker_env("eager", threads)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(python), "-c", _INVEST_RUNNER, json.dumps(args)], capture_output=True, text=True, env=env,
                              cwd=tempfile.gettempdir(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    process_s = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(INVEST_MARK)]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {' | '.join(proc.stderr.strip().splitlines()[-3:])}"}
    return {**json.loads(lines[-1][len(INVEST_MARK):]), "process_s": process_s}


# ----------------------------------------------------------------------------
# Parent side
# ----------------------------------------------------------------------------


def _row(size: int, case: str, mode: str, plan, res: dict, inputs_mib: float) -> dict:
    from models import MODELS

    prereq = [m for m in plan.order if m not in plan.requested]
    row = {"size": size, "cells": size * size, "case": case, "mode": mode, "models": len(plan.order), "prerequisites": prereq,
           "derived": [m for m in prereq if MODELS[m].derived], "layers": len(plan_layers(plan)), "inputs_mib": round(inputs_mib, 1)}
    if "times" in res:
        t = statistics.median(res["times"])
        row.update(wall_s=t, times=res["times"], n=len(res["times"]), warmup=res.get("warmup"), nodes=res.get("nodes"), load1=res.get("load1"), mcells_s=size * size / t / 1e6, rss_mib=res["rss_peak_mib"],
                   rss_loaded_mib=res["rss_loaded_mib"], rss_base_mib=res["rss_base_mib"])
    else:
        row["error"] = res.get("error") or res.get("skipped")
        row["skipped"] = "skipped" in res
    return row


def too_big(rows: list[dict], size: int, case: str, mode: str, inputs_mib: float, mem_mib: float) -> str | None:
    """Why an eager measurement would not fit in memory, or None.

    The peak is predicted from the same row on the largest smaller grid of
    this run (the part above the import baseline grows with the cells), else
    from the inputs (loaded whole) plus twice as much for intermediates.
    """
    if mode != "eager":
        return None
    smaller = [r for r in rows if r["case"] == case and r["mode"] == mode and r["size"] < size and r.get("rss_mib")]
    if smaller:
        r = max(smaller, key=lambda r: r["size"])
        base = r.get("rss_base_mib") or 0.0
        predicted = base + (r["rss_mib"] - base) * (size / r["size"]) ** 2
        how = f"{r['rss_mib']:.0f} MiB at {r['size']}² scaled by the cells"
    else:
        predicted = 3.0 * inputs_mib
        how = f"3 × its {inputs_mib / 1024:.1f} GiB of inputs"
    if predicted > EAGER_MEMORY_SHARE * mem_mib:
        return (f"predicted peak {predicted / 1024:.1f} GiB ({how}) > {EAGER_MEMORY_SHARE:.0%} of the {mem_mib / 1024:.1f} GiB "
                "of memory")
    return None


def measure_rows(args, config, script: Path, rows: list[dict], save) -> list[dict]:
    """Measure every (size, case, mode) not in ``rows`` yet (``--resume``); ``save(rows)`` after each one."""
    import psutil

    cases = [c for c in model_cases(config) if not args.models or c in args.models]
    if not args.models or PLAN in args.models:
        cases.append(PLAN)
    mem = psutil.virtual_memory().total / MIB
    done = {(r["size"], r["case"], r["mode"]) for r in rows if "wall_s" in r or r.get("skipped")}
    rows[:] = [r for r in rows if (r["size"], r["case"], r["mode"]) in done]
    for size in sorted(args.sizes):
        needed = sorted({n for c in cases for n in plan_layers(plan_for(config, c, args.overrides))})
        H._log(f"== {size}² ({size * size:,} cells): {len(needed)} input layers")
        folder = prepare_inputs(config, size, args.cache, needed)
        for case in cases:
            plan = plan_for(config, case, args.overrides)
            inputs_bytes = sum((folder / f"{n}.npy").stat().st_size for n in plan_layers(plan))
            for mode in args.modes:
                if (size, case, mode) in done:
                    continue
                why = too_big(rows, size, case, mode, inputs_bytes / MIB, mem)
                if why:
                    res = {"skipped": why}
                else:
                    spec = {"who": "ours", "case": case, "mode": mode, "size": size, "chunk": args.chunk, "folder": str(folder),
                            "repeats": args.repeats, "warmup": args.warmup, "threads": H.THREADS, "overrides": args.overrides,
                            "config": str(args.snapshot)}
                    res = H.measure_python(script, spec, args.timeout)
                    res["load1"] = os.getloadavg()[0]  # others' jobs on the machine show here (ours: ≈ the threads)
                row = _row(size, case, mode, plan, res, inputs_bytes / MIB)
                rows.append(row)
                shown = f"{row['wall_s']:.3f} s, {row['mcells_s']:.1f} Mcells/s, peak {row['rss_mib']:.0f} MiB" if "wall_s" in row \
                    else ("SKIPPED " if row.get("skipped") else "ERROR ") + str(row["error"])
                H._log(f"  {case:18s} {mode:5s} {shown}")
                save(rows)
    return rows


def soil_comparison(args, config, script: Path, rows: list[dict]) -> dict:
    """InVEST SDR against our eco_soil plan on the --invest-size grid (and the R·K·C check on its top-left window)."""
    size = args.invest_size
    check = min(args.invest_check_size, size)
    report: dict[str, Any] = {"size": size, "cells": size * size, "check_size": check, "flow_dir_algorithm": args.invest_flow,
                              "target": INVEST_TARGET}
    versions, why = invest_available(args.invest_python)
    if why:
        report["skipped"] = why
        H._log(f"InVEST SDR comparison skipped: {why}")
        return report
    report["invest_versions"] = versions
    H._log(f"== soil conservation vs InVEST SDR on {size}² ({versions})")
    plan = plan_for(config, SOIL_CASE)
    folder = prepare_inputs(config, size, args.cache, plan_layers(plan))
    out = invest_folder(args.cache, size)
    prep = H.measure_python(script, {"who": "invest-prep", "size": size, "check": check, "chunk": args.chunk, "folder": str(folder),
                                     "out": str(out), "mode": "eager", "threads": H.THREADS, "config": str(args.snapshot)}, args.timeout)
    if "error" in prep:
        report["error"] = f"preparing the InVEST inputs failed: {prep['error']}"
        H._log(report["error"])
        return report
    report.update(landuse_codes=prep["landuse_codes"], c_values_check=prep["c_values_check"], c_nan_cells=prep["c_nan_cells"])
    H._log(f"  inputs written ({prep['landuse_codes']} land-use codes; {prep['c_values_check']:,} distinct C values on the check window)")

    ours = {}
    for mode in args.modes:
        row = next((r for r in rows if r["size"] == size and r["case"] == SOIL_CASE and r["mode"] == mode and "wall_s" in r), None)
        if row is None:
            spec = {"who": "ours", "case": SOIL_CASE, "mode": mode, "size": size, "chunk": args.chunk, "folder": str(folder),
                    "repeats": args.repeats, "warmup": args.warmup, "threads": H.THREADS, "overrides": args.overrides,
                    "config": str(args.snapshot)}
            row = _row(size, SOIL_CASE, mode, plan, H.measure_python(script, spec, args.timeout), 0.0)
        ours[mode] = {k: row.get(k) for k in ("wall_s", "mcells_s", "rss_mib", "error", "n")}
        H._log(f"  ours {mode}: {ours[mode]}")
    # the whole pipeline as a user runs it: GeoTIFFs in, eco_soil's 5 outputs written (compressed), manifest
    cfg = dualeval_soil_config(out, config, size, args.chunk)
    cli = H.measure_cli(lambda paths, o: [sys.executable, "-m", "evaluate.cli", "-q", "run", str(cfg), "--force"], {}, out,
                        args.warmup, args.repeats, args.timeout, threads=H.THREADS)
    run = {"wall_s": statistics.median(cli["times"]) if "times" in cli else None, "rss_mib": cli.get("rss_peak_mib"),
           "error": cli.get("error"), "n": len(cli.get("times", []))}
    if run["wall_s"]:
        run["mcells_s"] = size * size / run["wall_s"] / 1e6
    ours["dualeval run"] = run
    H._log(f"  ours dualeval run: {run}")
    report["ours"] = ours

    runs = []
    for k in range(args.invest_repeats):
        res = run_invest(args.invest_python, out, "lulc_landuse.tif", "biophysical_landuse.csv", out / "invest-timing",
                         args.invest_flow, H.THREADS, args.invest_timeout)
        runs.append(res)
        H._log(f"  InVEST SDR run {k + 1} (land-use LULC): {res}")
        if "error" in res:
            break
    report["invest_runs"] = runs
    good = [r for r in runs if "wall_s" in r]
    if good:
        inv_wall = statistics.median(r["wall_s"] for r in good)
        report["invest"] = {"wall_s": inv_wall, "mcells_s": size * size / inv_wall / 1e6, "rss_mib": max(r["rss_peak_mib"] for r in good),
                            "process_s": statistics.median(r["process_s"] for r in good), "runs": len(good),
                            "version": good[0]["version"]}
        report["ratios"] = {m: inv_wall / o["wall_s"] for m, o in ours.items() if o.get("wall_s")}
    else:
        report["error"] = f"InVEST SDR failed: {runs[-1].get('error') if runs else 'not run'}"
    chk = run_invest(args.invest_python, out / "check", "lulc.tif", "biophysical.csv", out / "invest-check", args.invest_flow,
                     H.THREADS, args.invest_timeout)
    report["invest_check_run"] = chk
    H._log(f"  InVEST SDR check run ({check}², exact C): {chk}")
    cmp_ = H.measure_python(script, {"who": "invest-compare", "out": str(out), "mode": "eager", "threads": H.THREADS,
                                     "timing_ws": str(out / "invest-timing") if good else "-",
                                     "check_ws": str(out / "invest-check") if "wall_s" in chk else "-"}, args.timeout)
    report["agreement"] = cmp_
    H._log(f"  agreement: {cmp_}")
    return report


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def _f(v, spec=".3f", none="—"):
    return none if v is None else format(v, spec)


def _secs(v):
    return "—" if v is None else format(v, ".3f" if v < 100 else ".1f")


def merge_reports(reports: list[dict]) -> dict:
    """Several saved runs as one report: their rows (e.g. 4096² and 8192² run separately), the first soil comparison."""
    if len(reports) == 1:
        return reports[0]
    meta = dict(reports[0]["meta"])
    meta["commands"] = [r["meta"]["command"] for r in reports]
    meta["date"] = " / ".join(dict.fromkeys(r["meta"]["date"][:10] for r in reports))
    merged = {"meta": meta, "rows": [row for r in reports for row in r["rows"]]}
    soil = next((r["soil"] for r in reports if r.get("soil") and not r["soil"].get("skipped")), None) or \
        next((r["soil"] for r in reports if r.get("soil")), None)
    if soil:
        merged["soil"] = soil
    return merged


def markdown(report: dict) -> str:
    meta = report["meta"]
    lines = [f"{meta['date']}, {meta['machine']['cpu']} ({meta['machine']['cores']} cores, {meta['machine']['memory_gib']} GiB), "
             f"{meta['threads']} threads; dask chunks {meta['chunk']}², threaded scheduler; each measurement a fresh process: "
             "runs = untimed warm-up + timed calls, wall s = their median; command(s) " + "; ".join(f"`{c}`" for c in meta.get("commands", [meta["command"]])), "",
             f"- ours: {', '.join(f'{k} {v}' for k, v in meta['versions'].items() if v and k in ('dualeval', 'numpy', 'numba', 'dask', 'xarray'))}, "
             f"Python {meta['machine']['python']}",
             "- parameters: configs/demo.yaml's" + ("; on top (benchmark override): " + ", ".join(
                 f"{m}.{k} = {v}" for m, kv in meta.get("overrides", {}).items() for k, v in kv.items())
                 + " (as configured, location's exact 30 m travel time needs a 4001-cell halo, which a lazy graph refuses "
                 "above 2048 cells per side)" if meta.get("overrides") else ""), ""]
    head = ["grid", "model (+ prerequisites in its plan)", "layers", "mode", "runs", "wall s", "Mcells/s", "peak RSS MiB", "dask ÷ eager",
            "load"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    rows = report["rows"]
    for r in rows:
        label = "**whole plan** (" + str(r["models"]) + " models)" if r["case"] == PLAN else r["case"]
        if r["case"] != PLAN and r["prerequisites"]:
            pre = r["prerequisites"]
            label += f" (+ {', '.join(pre)})" if len(pre) <= SHOWN_PREREQUISITES else f" (+ {len(pre)} models, below)"
        other = next((o for o in rows if o["size"] == r["size"] and o["case"] == r["case"] and o["mode"] == "eager"), None)
        ratio = (r["wall_s"] / other["wall_s"]) if r["mode"] == "dask" and other and other.get("wall_s") and r.get("wall_s") else None
        if "wall_s" in r:
            runs = f"{r.get('warmup', 1)}+{r['n']}"
            cells = [runs, _secs(r["wall_s"]), _f(r["mcells_s"], ".1f"), _f(r["rss_mib"], ".0f"), _f(ratio, ".2f"), _f(r.get("load1"), ".1f")]
        else:
            cells = ["—", "skipped" if r.get("skipped") else "ERROR", "—", "—", "—", "—"]
        lines.append(f"| {r['size']}² | {label} | {r['layers']} | {r['mode']} | " + " | ".join(cells) + " |")
    notes = [f"{r['size']}² {r['case']} {r['mode']}: {'skipped' if r.get('skipped') else 'ERROR'}: {r['error']}" for r in rows if "error" in r]
    long_plans = {r["case"]: r["prerequisites"] for r in rows if r["case"] != PLAN and len(r["prerequisites"]) > SHOWN_PREREQUISITES}
    notes += [f"{case} (+ {len(pre)}): {', '.join(pre)}" for case, pre in long_plans.items()]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    sizes = sorted({r["size"] for r in rows})
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        lines += ["", f"Scaling {a}² → {b}² ({(b / a) ** 2:.0f}× the cells): wall-time ratio, peak-RSS ratio", "",
                  "| model | eager time | eager RSS | dask time | dask RSS |", "|---|---|---|---|---|"]
        for case in dict.fromkeys(r["case"] for r in rows):
            cells = []
            for mode in MODES:
                ra = next((r for r in rows if r["size"] == a and r["case"] == case and r["mode"] == mode and "wall_s" in r), None)
                rb = next((r for r in rows if r["size"] == b and r["case"] == case and r["mode"] == mode and "wall_s" in r), None)
                cells += [f"{rb['wall_s'] / ra['wall_s']:.2f}×", f"{rb['rss_mib'] / ra['rss_mib']:.2f}×"] if ra and rb else ["—", "—"]
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "- Each model row times its whole plan: the derived layers and upstream models it reads (listed) and the model, "
              "as the runner chains them; only the model's own outputs are consumed (dask computes what they need, eager computes "
              "every node of the plan). The whole-plan row consumes every output of every model, as the runner would write them.",
              f"- load = the 1-minute load average when the measurement ended (ours alone: ≈ {report['meta']['threads']}; more: "
              "another job shared the cores).",
              "- peak RSS = VmHWM of the measuring process (≈" + _f(statistics.median([r['rss_base_mib'] for r in rows if r.get('rss_base_mib')]) if any(r.get('rss_base_mib') for r in rows) else None, '.0f')
              + " MiB after imports); eager rows include their inputs, loaded before timing. Dask rows read each chunk from a .npy "
              "(page cache, or disk when it does not fit) inside the timed graph. No row writes a file."]
    for r in rows:
        if r["case"] == PLAN and r["mode"] == "eager" and r.get("nodes"):
            nodes = sorted(r["nodes"].items(), key=lambda kv: -kv[1])
            total = sum(v for _, v in nodes)
            lines += ["", f"Where the eager whole plan spends its {r['wall_s']:.1f} s at {r['size']}² (median per node; each model's own "
                      "computation, its prerequisites excluded):", "", "| node | s | share |", "|---|---|---|"]
            lines += [f"| {n} | {v:.3f} | {100 * v / total:.1f} % |" for n, v in nodes if v >= 0.005 * total]
            small = [n for n, v in nodes if v < 0.005 * total]
            if small:
                lines.append(f"| {len(small)} more nodes, < 0.5 % each | {sum(r['nodes'][n] for n in small):.3f} | — |")
    soil = report.get("soil")
    if soil:
        lines += ["", *soil_markdown(soil)]
    return "\n".join(lines)


def soil_markdown(s: dict) -> list[str]:
    lines = [f"Soil conservation on {s['size']}² ({s['cells']:,} cells): our RUSLE (eco_soil plan) vs InVEST SDR"]
    if s.get("skipped"):
        return lines + ["", f"- skipped: {s['skipped']}"]
    if "invest" not in s:
        return lines + ["", f"- ERROR: {s.get('error')}"]
    inv = s["invest"]
    lines += ["", f"- InVEST: {s['invest_versions']}; flow_dir_algorithm {s['flow_dir_algorithm']}, n_workers -1 (one process), "
              f"threshold_flow_accumulation 1000, l_max 122, k 2, IC0 0.5, SDRmax 0.8; {inv['runs']} run(s), each in a fresh process "
              f"and workspace; wall s = `sdr.execute` (GeoTIFFs in, every SDR output and intermediate written), the process took "
              f"{inv['process_s']:.1f} s with imports.",
              f"- Same inputs: InVEST's erosivity and erodibility are our R and K rasters, the DEM the same; LULC = the 三调 land use "
              f"({s['landuse_codes']} codes) with usle_c = the mean of our C per code, usle_p = 1; watersheds: one polygon covering "
              "the grid.", "",
              "| run | what it computes | wall s | Mcells/s | peak RSS MiB | InVEST ÷ ours | target |", "|---|---|---|---|---|---|---|",
              f"| InVEST SDR {inv['version']} | align + mask, pit fill, {s['flow_dir_algorithm']} routing, LS, RKLS, USLE, SDR, "
              f"sediment export and deposition (GeoTIFF in/out) | {inv['wall_s']:.1f} | {inv['mcells_s']:.2f} | {inv['rss_mib']:.0f} | 1 | — |"]
    what = {"eager": "R from 12 months, K EPIC, LS (D8), FVC, ecosystems, C, A_r, A_c, 50/80 % classes; numpy, in memory",
            "dask": f"the same, lazily: 1024² chunks read from .npy, outputs to a null sink",
            "dualeval run": "the same through `dualeval run` (GeoTIFFs in, its 5 outputs written compressed, manifest)"}
    for mode, o in s["ours"].items():
        ratio = s.get("ratios", {}).get(mode)
        verdict = "—" if ratio is None else f"≥{s['target']:.0f}× {'met' if ratio >= s['target'] else 'MISSED'}"
        lines.append(f"| ours, {mode} | {what.get(mode, '')} | {_secs(o.get('wall_s'))} | {_f(o.get('mcells_s'), '.2f')} | "
                     f"{_f(o.get('rss_mib'), '.0f')} | {_f(ratio, '.1f')} | {verdict} |")
    ag = s.get("agreement") or {}
    chk = s.get("invest_check_run") or {}
    if "rkc" in ag:
        rkc = ag["rkc"]
        took = f"{chk['wall_s']:.1f} s" if "wall_s" in chk else "?"
        lines += ["", f"- R·K·C, equal by construction: on the top-left {s['check_size']}² window InVEST ran again ({took}, not comparable: "
                  f"the LULC there has one code per distinct value of our C, {s['c_values_check']:,} rows, so that its C·P raster is our C "
                  f"exactly). Ours A_r / LS against InVEST usle / LS on {rkc['cells']:,} of {rkc['of_cells']:,} cells (the rest: "
                  f"LS = 0 or a stream, where InVEST leaves RKLS undefined): max relative difference {rkc['max_rel_diff']:.2e}, "
                  f"99.9th percentile {rkc['p999_rel_diff']:.2e}, {100 * rkc['share_within_1e-6']:.2f} % within 1e-6 (float32 rounding)."]
    elif chk.get("error"):
        lines += ["", f"- R·K·C check run failed: {chk['error']}"]
    if "ls" in ag:
        ls = ag["ls"]
        lines += [f"- LS, different methods: ours the Chinese variant (McCool m, Liu Baoyuan S for steep slopes) on D8 flow length "
                  f"with λ capped at 300 m; InVEST Desmet–Govers on {s['flow_dir_algorithm']} contributing area with L ≤ 122. On "
                  f"{ls['cells']:,} cells (edge excluded): Pearson r = {ls['pearson']:.3f}, of log LS {ls['pearson_log']:.3f}, Spearman "
                  f"{ls['spearman']:.3f}; median {ls['ours_median']:.2f} (ours) vs {ls['invest_median']:.2f}, 99th percentile "
                  f"{ls['ours_p99']:.1f} vs {ls['invest_p99']:.1f}."]
    return lines


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benchmarks/models.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=DEMO_CONFIG, help=f"the run config whose models and inputs are timed (default "
                   f"{DEMO_CONFIG.relative_to(ROOT)}); its data paths are not read, every input is synthesised")
    p.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="grid sides (default 4096 8192; 1024 for a quick run)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help=f"dask chunk side (default {DEFAULT_CHUNK})")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement after the warm-up (default 3)")
    p.add_argument("--warmup", type=int, default=1, choices=(0, 1), help="untimed warm-up calls first (default 1)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL", help=f"only these models (and {PLAN} for the whole plan)")
    p.add_argument("--as-configured", action="store_true", help="run configs/demo.yaml's parameters as they are, without "
                   f"the benchmark's overrides {OVERRIDES} (location then fails in dask mode above 2048²)")
    p.add_argument("--no-invest", action="store_true", help="skip the InVEST SDR comparison")
    p.add_argument("--invest-size", type=int, default=INVEST_SIZE, help=f"grid side of the InVEST comparison (default {INVEST_SIZE})")
    p.add_argument("--invest-python", type=Path, default=INVEST_PYTHON, help=f"python of the InVEST venv (default {INVEST_PYTHON})")
    p.add_argument("--invest-check-size", type=int, default=2048, help="side of the top-left window on which R·K·C is "
                   "checked with an exact-C LULC (default 2048; capped at --invest-size)")
    p.add_argument("--invest-repeats", type=int, default=1, help="InVEST SDR runs (median; default 1, it takes minutes)")
    p.add_argument("--invest-flow", choices=("MFD", "D8"), default="MFD", help="InVEST flow_dir_algorithm (default MFD, InVEST's default)")
    p.add_argument("--invest-timeout", type=float, default=3600.0, help="seconds per InVEST run")
    p.add_argument("--cache", type=Path, default=H.DEFAULT_CACHE, help=f"input cache (default {H.DEFAULT_CACHE})")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    p.add_argument("--json", type=Path, help="also write the results as JSON (rewritten after every measurement)")
    p.add_argument("--resume", action="store_true", help="keep the rows already in --json and measure only the others")
    p.add_argument("--markdown", type=Path, nargs="+", metavar="JSON", help="print the tables of saved --json runs (merged) and exit")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    args.overrides = {} if args.as_configured else OVERRIDES
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        print(H.RESULT_MARK + json.dumps(run_worker(json.loads(args.worker)), default=float), flush=True)
        return 0
    if args.markdown:
        print(markdown(merge_reports([json.loads(p.read_text()) for p in args.markdown])))
        return 0
    script = Path(__file__).resolve()
    args.snapshot = snapshot_config(args.config, args.cache)
    config = demo_config(args.snapshot)
    if args.models:
        unknown = set(args.models) - set(model_cases(config)) - {PLAN}
        if unknown:
            print(f"unknown model(s) {sorted(unknown)}; the config's: {', '.join(model_cases(config))}, {PLAN}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    meta = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "sizes": args.sizes, "chunk": args.chunk,
            "repeats": args.repeats, "threads": H.THREADS, "machine": H.machine(), "versions": H.versions(), "overrides": args.overrides,
            "config": str(args.config), "models": model_cases(config),
            "command": " ".join(["python", "benchmarks/models.py", *(argv if argv is not None else sys.argv[1:])])}
    rows: list[dict] = []
    if args.resume and args.json and args.json.exists():
        rows = json.loads(args.json.read_text()).get("rows", [])
        H._log(f"resuming {args.json}: {len(rows)} row(s) measured before")

    def save(current, soil=None):
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            partial = {"meta": meta, "rows": current, **({"soil": soil} if soil else {})}
            args.json.write_text(json.dumps(partial, indent=1, default=float, ensure_ascii=False))

    rows = measure_rows(args, config, script, rows, save)
    report = {"meta": meta, "rows": rows}
    if not args.no_invest:
        report["soil"] = soil_comparison(args, config, script, rows)
    meta["total_s"] = round(time.perf_counter() - started, 1)
    print(markdown(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=float, ensure_ascii=False))
        H._log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
