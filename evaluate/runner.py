"""The runner: from a validated config to written outputs and a manifest.

Only the runner (with ``evaluate.io``) touches files. A run builds one lazy
dask graph for all models, checks every input cheaply first, computes and
writes all outputs in one pass on the configured scheduler (local threads by
default, or a dask.distributed cluster), then writes ``manifest.json``
(config hash, resolved parameters with their sources, input fingerprints,
package versions, per-step wall time and peak RSS).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import sys
import threading
import uuid
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import dask
import numpy as np
import psutil
import rasterio
import xarray as xr

from evaluate import io, layers, units
from evaluate.config import INPUT_PREFIX, RunConfig
from evaluate.grid import Grid, GridError
from evaluate.modelspec import Evaluation, OutputDecl

log = logging.getLogger("dualeval")

QUICK_HASH_ABOVE = 256 * 2**20  # inputs larger than this get a bounded fingerprint instead of a full sha256


class RunError(ValueError):
    """A run that cannot proceed because of its inputs or config (exit code 2)."""


# --------------------------------------------------------------------------- measuring
class _PeakRSS:
    """Samples the resident set size of this process and its children in a background thread.

    The process's own RSS is read every ``interval``; listing children scans
    every process of the machine, so their RSS is re-read only every
    ``children_every`` samples (dask.distributed's local workers live long).
    """

    def __init__(self, interval: float = 0.02, children_every: int = 50):
        self.interval, self.children_every, self.peak = interval, children_every, 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._children_rss = 0

    def _children(self) -> int:
        total = 0
        for child in self._proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _rss(self, sample: int = 0) -> int:
        if sample % self.children_every == 0:
            self._children_rss = self._children()
        return self._proc.memory_info().rss + self._children_rss

    def _loop(self):
        sample = 1
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss(sample))
            sample += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


@dataclass
class StepLog:
    steps: list[dict] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        log.info("%s ...", name)
        start = time.perf_counter()
        with _PeakRSS() as rss:
            yield
        record = {"step": name, "wall_s": round(time.perf_counter() - start, 3), "peak_rss_mib": round(rss.peak / 2**20, 1)}
        self.steps.append(record)
        log.info("%s done in %.2f s (peak RSS %.0f MiB)", name, record["wall_s"], record["peak_rss_mib"])


# --------------------------------------------------------------------------- grid and inputs
def resolve_grid(config: RunConfig) -> Grid:
    """The run grid from ``grid.like`` or from crs + bounds + resolution; refused when larger than ``compute.max_cells``."""
    where = str(config.source) if config.source else "<config>"
    spec = config.grid
    try:
        if spec.like is not None:
            if not spec.like.exists():
                raise RunError(f"{where}: grid.like: file not found ({spec.like})")
            grid = Grid.from_raster(spec.like)
        else:
            grid = Grid.from_bounds(spec.bounds, spec.resolution, spec.crs)
    except GridError as exc:
        raise RunError(f"{where}: grid: {exc}") from None
    except rasterio.errors.RasterioIOError as exc:
        raise RunError(f"{where}: grid.like: cannot open as a raster: {exc} ({spec.like})") from None
    limit = config.compute.max_cells
    if grid.size > limit:
        chunk = config.compute.chunk_size
        chunks = -(-grid.shape[0] // chunk) * -(-grid.shape[1] // chunk)
        units = grid.crs.linear_units if grid.crs.is_projected else "degrees"
        raise RunError(
            f"{where}: grid: {grid.shape[0]:,} × {grid.shape[1]:,} = {grid.size:.3g} cells ({chunks:,} chunks of {chunk}²; "
            f"one float32 layer alone {grid.size * 4 / 2**40:,.1f} TiB) exceed compute.max_cells = {limit:.3g}; "
            f"is grid.resolution in the CRS's units ({units})? Raise compute.max_cells to run a grid this large"
        )
    return grid


def ensure_demo_inputs(config: RunConfig) -> list[str]:
    """Generate the synthetic demo inputs if the config has a ``demo`` section and any input is missing."""
    if config.demo is None or all(spec.path.exists() for spec in config.inputs.values()):
        return []
    from evaluate.demo import demo_grid, write_demo_inputs

    d = config.demo
    written = write_demo_inputs(d.folder, demo_grid(size=d.size, resolution=d.resolution, crs=d.crs), seed=d.seed)
    return sorted(str(p) for p in written.values())


def check_inputs(config: RunConfig, grid: Grid) -> list[str]:
    """Cheap checks of every input without computing anything: opens, CRS, overlap, units, empty layers.

    Returns one line per problem, naming the config file, the key at fault and the data file
    (empty when all inputs are usable).
    """
    from models import MODELS

    where = str(config.source) if config.source else "<config>"
    problems = []

    def problem(name: str, key: str, detail: str, path) -> None:
        problems.append(f"{where}: inputs.{name}.{key}: {detail} ({path})")

    folder = config.outputs.folder
    if folder.exists() and not folder.is_dir():
        problems.append(f"{where}: outputs.folder: {folder} is a file, not a folder; name a folder (it is created if missing)")

    for name, spec in config.inputs.items():
        try:
            layers.open_layer(name, spec, grid, config.compute.chunk_size)
        except layers.InputError as exc:
            problem(name, exc.key, exc.detail, exc.path)
            continue
        if spec.is_vector:
            continue
        try:
            sample = layers.sample_raster(spec.path, spec.band, spec.nodata)
        except Exception as exc:  # a corrupt file shows up here, not at open
            problem(name, "path", f"cannot read pixels: {exc}", spec.path)
            continue
        if not np.isfinite(sample).any():
            problem(name, "nodata", "every sampled cell is nodata; is the nodata value right?", spec.path)
        elif spec.kind == "continuous":
            try:
                units.check_plausible(name, spec.effective_units, sample)
            except units.UnitsError as exc:
                problem(name, "units", str(exc), spec.path)
    plan = config.plan()
    for model_name in plan.order:
        for input_name, how in plan.sources[model_name].items():
            decl = MODELS[model_name].SPEC.inputs[input_name]
            spec = config.inputs.get(input_name)
            if how != "layer":
                continue
            if spec.kind != decl.kind:
                problem(input_name, "kind", f"model {model_name} needs a {decl.kind} layer, the config declares {spec.kind}", spec.path)
            elif decl.kind == "continuous":
                try:
                    units.conversion(spec.effective_units, decl.units)
                except units.UnitsError as exc:
                    problem(input_name, "units", f"model {model_name} needs {decl.units!r}: {exc}", spec.path)
    return problems


# --------------------------------------------------------------------------- models
def evaluation(config: RunConfig) -> Evaluation:
    return Evaluation(**config.evaluation.model_dump())


def build_outputs(config: RunConfig, stack: xr.Dataset) -> tuple[dict[str, io.RasterOutput], dict[str, io.TableOutput], dict]:
    """Run the planned models (the enabled ones and their prerequisites, in dependency order) on the lazy stack.

    Each model's inputs are config layers (converted to the declared units)
    or the very arrays an earlier model returned, so a shared intermediate
    is one set of graph keys, computed once in the single write pass.
    Written: every output of the models the config names, plus
    ``outputs.write``; the rest stay intermediates. Returns the rasters and
    tables to write and, per planned model, its resolved parameters and
    where each input came from.
    """
    from models import MODELS

    plan = config.plan()
    ev = evaluation(config)
    produced: dict = {}
    resolved_all = {}
    depends: dict[str, set[str]] = {}  # model → the config layers it reads, directly or through its producers
    for model_name in plan.order:
        model = MODELS[model_name]
        run_cfg = config.models.get(model_name)
        resolved = model.SPEC.resolve(run_cfg.params if run_cfg else {})
        sources = plan.sources[model_name]
        resolved_all[model_name] = {
            "source": model.SPEC.source,
            "parameters": resolved,
            "inputs": dict(sources),
            "requested": model_name in plan.requested,
        }
        inputs, reads = {}, set()
        for name, how in sources.items():
            decl = model.SPEC.inputs[name]
            if how == "layer":
                reads.add(name)
                inputs[name] = layers.to_units(stack[name], decl.units) if decl.kind == "continuous" else stack[name]
            elif how.startswith("model:"):
                reads |= depends[how[6:]]
                inputs[name] = produced[name]
        depends[model_name] = reads
        try:
            result = model.run(inputs, {k: v["value"] for k, v in resolved.items()}, ev)
        except ValueError as exc:  # a model refusing its inputs or parameters (e.g. a network grid that would not fit)
            where = str(config.source) if config.source else "<config>"
            raise RunError(f"{where}: models.{model_name}: {str(exc)[:600]}") from None
        missing = set(model.SPEC.outputs) - set(result)
        if missing:
            raise RuntimeError(f"model {model_name} did not return its outputs {sorted(missing)}")
        produced.update({k: result[k] for k in model.SPEC.outputs})

    wanted = [o for m in plan.order if m in plan.requested for o in MODELS[m].SPEC.outputs] + list(config.outputs.write)
    rasters: dict[str, io.RasterOutput] = {}
    tables: dict[str, io.TableOutput] = {}
    for out_name in dict.fromkeys(wanted):
        model_name = MODELS.producer_of[out_name]
        decl = MODELS[model_name].SPEC.outputs[out_name]
        tags = {
            "DUALEVAL_VERSION": engine_version(),
            "DUALEVAL_MODEL": model_name,
            "DUALEVAL_SOURCE": MODELS[model_name].SPEC.source,
            "DUALEVAL_GUIDELINE": ev.guideline,
            "DUALEVAL_CONFIG_SHA256": config.fingerprint(),
            "DUALEVAL_PARAMETERS": {k: v["value"] for k, v in resolved_all[model_name]["parameters"].items()},
            # where each parameter's value comes from: the config, or the guideline section and evidence tag of the default
            "DUALEVAL_EVIDENCE": {k: ("config" if v["from"] == "config" else v["default_source"]) for k, v in resolved_all[model_name]["parameters"].items()},
            "DUALEVAL_INPUTS": resolved_all[model_name]["inputs"],
            "DUALEVAL_READS": sorted(depends[model_name]),
        }
        if decl.kind in ("table", "vector"):
            tables[out_name] = io.TableOutput(out_name, produced[out_name], decl, tags)
        else:
            rasters[out_name] = io.RasterOutput(out_name, produced[out_name], decl, tags)
    return rasters, tables, resolved_all


# the layer dtypes of evaluate.layers, with the nodata each is written with
_INPUT_RASTER = {"continuous": ("float32", float("nan")), "categorical": ("int32", layers.CATEGORICAL_NODATA), "mask": ("uint8", None)}


def build_input_outputs(config: RunConfig, stack: xr.Dataset) -> dict[str, io.RasterOutput]:
    """The inputs named in ``outputs.write_inputs``, as aligned on the run grid, to write as ``input_<name>.tif``.

    Each is the Stack's layer itself, in the units the config declared:
    float32 with NaN nodata (continuous), int32 with −1 (categorical), uint8
    0/1 (mask, no nodata value: 0 is "outside"). They are written in the same
    pass and with the same atomic writer as the model outputs.
    """
    outputs = {}
    for name in config.outputs.write_inputs:
        layer, spec = stack[name], config.inputs[name]
        dtype, nodata = _INPUT_RASTER[spec.kind]
        decl = OutputDecl(
            dtype=dtype,
            description=f"input {name} on the run grid ({spec.kind}, resampling: {layer.attrs['resampling']})",
            units=spec.effective_units if spec.kind == "continuous" else "",
            nodata=nodata,
        )
        tags = {
            "DUALEVAL_VERSION": engine_version(),
            "DUALEVAL_INPUT": name,
            "DUALEVAL_INPUT_PATH": str(spec.path),
            "DUALEVAL_RESAMPLING": layer.attrs["resampling"],
            "DUALEVAL_CONFIG_SHA256": config.fingerprint(),
        }
        outputs[f"{INPUT_PREFIX}{name}"] = io.RasterOutput(f"{INPUT_PREFIX}{name}", layer, decl, tags)
    return outputs


# --------------------------------------------------------------------------- scheduler
@contextlib.contextmanager
def scheduler(config: RunConfig):
    """Yield a dask.distributed Client for 'processes'/addresses, or None with the local scheduler set."""
    spec = config.compute
    if spec.scheduler in ("threads", "synchronous"):
        with dask.config.set(scheduler=spec.scheduler, num_workers=spec.workers):
            yield None
        return
    from distributed import Client, LocalCluster

    if spec.scheduler == "processes":
        cluster = LocalCluster(
            n_workers=spec.workers or max(1, os.cpu_count() or 1),
            threads_per_worker=spec.threads_per_worker or 1,
            processes=True,
            dashboard_address=None,
        )
        with cluster, Client(cluster) as client:
            yield client
    else:
        try:
            client = Client(spec.scheduler, timeout=dask.config.get("distributed.comm.timeouts.connect"))
        except (OSError, TimeoutError) as exc:
            where = str(config.source) if config.source else "<config>"
            raise RunError(
                f"{where}: compute.scheduler: cannot reach the dask scheduler at {spec.scheduler} ({str(exc)[:300]}); "
                "start it (dask scheduler) or use 'threads' or 'processes'"
            ) from None
        with client:
            yield client


# --------------------------------------------------------------------------- manifest
def engine_version() -> str:
    try:
        return importlib.metadata.version("dualeval")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def fingerprint_file(path: Path) -> dict:
    """Size, mtime and sha256 (full, or of size + first and last MiB for files over 256 MiB)."""
    path = Path(path)
    stat = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if stat.st_size <= QUICK_HASH_ABOVE:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
            method = "sha256"
        else:
            digest.update(str(stat.st_size).encode())
            digest.update(f.read(2**20))
            f.seek(-(2**20), os.SEEK_END)
            digest.update(f.read(2**20))
            method = "sha256(size + first MiB + last MiB)"
    return {"path": str(path), "bytes": stat.st_size, "mtime": dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).isoformat(), "hash": digest.hexdigest(), "hash_method": method}


def _versions() -> dict:
    names = ["numpy", "numba", "xarray", "dask", "distributed", "rasterio", "rioxarray", "pyogrio", "shapely", "pyproj", "pydantic"]
    out = {"python": platform.python_version()}
    for n in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[n] = importlib.metadata.version(n)
    import rasterio

    out["gdal"] = rasterio.__gdal_version__
    return out


# --------------------------------------------------------------------------- run
@dataclass
class RunResult:
    folder: Path
    outputs: dict[str, Path]
    manifest: Path
    steps: list[dict]


def run(config: RunConfig, progress: Callable[[str, int, int], None] | None = None, force: bool = False) -> RunResult:
    """Execute a validated run config end to end.

    An output whose file in the folder carries the same content key (see
    :func:`content_key`) is reused, not recomputed, unless ``force``; one
    that an interrupted run of the same key left half-written is resumed,
    block by block (``compute.checkpoint_s``).
    """
    steps = StepLog()
    started = dt.datetime.now(dt.timezone.utc)
    run_id = str(uuid.uuid4())  # RUNID of vector features (zones_and_standards.md §7)
    generated = []
    if config.demo is not None and not all(spec.path.exists() for spec in config.inputs.values()):
        with steps.step("generate demo inputs"):
            generated = ensure_demo_inputs(config)
    with steps.step("check inputs"):
        grid = resolve_grid(config)
        problems = check_inputs(config, grid)
        if problems:
            raise RunError("\n".join(problems))
        targets = [config.outputs.folder / "manifest.json"]
        io.refuse_input_paths(targets + [config.outputs.folder / f for f in _output_names(config)], [s.path for s in config.inputs.values()])
    # fingerprints now, compared again before the outputs are committed: an input replaced under a running job fails it
    fingerprints = {n: fingerprint_file(s.path) for n, s in config.inputs.items()}
    with steps.step("build graph"):
        stack = layers.build_stack(config.inputs, grid, config.compute.chunk_size)
        outputs, tables, resolved = build_outputs(config, stack)
        outputs.update(build_input_outputs(config, stack))
        reused = _reusable(config, grid, fingerprints, outputs, force)
        to_write = {n: o for n, o in outputs.items() if n not in reused}
    # one run per folder at a time; a killed run's lock and hidden partial files are cleared here
    with io.folder_lock(config.outputs.folder):
        write_stats: dict = {}
        with steps.step("compute and write rasters"), scheduler(config) as client:
            # a folder is complete only while its manifest.json exists: drop a previous run's before replacing rasters,
            # and only now that the scheduler is reached and computing can start (a failed start removes nothing)
            stale = config.outputs.folder / "manifest.json"
            if stale.exists():
                stale.unlink()
            written = {} if not (to_write or tables) else io.write_rasters(
                to_write,
                config.outputs.folder,
                grid,
                compress=config.outputs.compress,
                compress_level=config.outputs.compress_level,
                tile_size=config.outputs.tile_size,
                client=client,
                progress=(lambda done, total: progress("compute and write rasters", done, total)) if progress else None,
                stats=write_stats,
                before_commit=lambda: _check_unchanged(config, fingerprints),
                tables=tables,
                vector_options=io.VectorOptions(tuple(config.outputs.vector_formats), config.outputs.vector_crs, config.outputs.shp_encoding,
                                                run_id=run_id, engine_version=engine_version()),
                checkpoint_s=config.compute.checkpoint_s,
                resume=not force,
            )
        # seconds each output spent in GDAL writes (compression included): writes of several outputs overlap each other and compute
        steps.steps[-1]["gdal_write_s"] = write_stats.get("write_s", {})
        # blocks an interrupted run of the same outputs had written, taken over instead of computed
        steps.steps[-1]["resumed_blocks"] = write_stats.get("resumed_blocks", {})
        manifest = {
            "engine": {"name": "dualeval", "version": engine_version()},
            "run": {
                "id": run_id,
                "name": config.name,
                "config_file": str(config.source) if config.source else None,
                "config_sha256": config.fingerprint(),
                "started": started.isoformat(),
                "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
                "status": "complete",
                "command": " ".join(sys.argv),
            },
            "grid": {**grid.to_dict(), "cells": grid.size},
            "compute": config.compute.model_dump(mode="json"),
            "generated_demo_inputs": generated,
            # the method actually used: the config's, else the kind's default for this grid ("none": read on the grid's lattice)
            "inputs": {
                n: {**fingerprints[n], "kind": s.kind, "units": s.effective_units, "resampling": stack[n].attrs["resampling"],
                    **({"written": str(written[f"{INPUT_PREFIX}{n}"])} if f"{INPUT_PREFIX}{n}" in written else {})}
                for n, s in config.inputs.items()
            },
            "models": resolved,
            "evaluation": config.evaluation.model_dump(mode="json"),
            # optional inputs that were not available, per model: treated as neutral (no downgrade)
            "missing_optional_inputs": config.plan().missing_optional(),
            "outputs": {
                n: {"path": str(p), "kind": tables[n.split(".")[0]].decl.kind if n.split(".")[0] in tables else "raster",
                    "dtype": (tables[n.split(".")[0]] if n.split(".")[0] in tables else outputs[n]).decl.dtype,
                    "description": (tables[n.split(".")[0]] if n.split(".")[0] in tables else outputs[n]).decl.description,
                    "classes": {c.code: {"zh": c.zh, "en": c.en} for c in outputs[n].decl.classes} if n in outputs else {},
                    **({"content_key": outputs[n].tags[CONTENT_KEY_TAG], "reused": n in reused} if n in outputs else {})}
                for n, p in {**written, **reused}.items()
            },
            "steps": steps.steps,
            "peak_rss_mib": max(s["peak_rss_mib"] for s in steps.steps),
            "versions": _versions(),
            "platform": {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.system()},
        }
        manifest_path = config.outputs.folder / "manifest.json"
        io.atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False))
    return RunResult(config.outputs.folder, {**written, **reused}, manifest_path, steps.steps)


CONTENT_KEY_TAG = io.CONTENT_KEY_TAG


def content_key(config: RunConfig, grid: Grid, fingerprints: dict[str, dict], output: io.RasterOutput) -> str:
    """What an output is a function of, hashed: engine version and code, model and resolved parameters (the output's tags),
    its declaration, the grid, the writing options, and the inputs it reads (content hash, size and spec; the
    modification time too where the hash covers only part of a large file)."""
    from models import MODELS

    tags = output.tags
    if "DUALEVAL_MODEL" in tags:
        reads = tags["DUALEVAL_READS"]
    else:
        reads = [tags["DUALEVAL_INPUT"]]
    inputs = {}
    for name in reads:
        f = fingerprints[name]
        inputs[name] = [f["hash"], f["bytes"], f["mtime"] if f["hash_method"] != "sha256" else None, config.inputs[name].model_dump_json()]
    payload = {
        "engine": [engine_version(), _code_fingerprint()],
        "output": output.name,
        "tags": {k: v for k, v in tags.items() if k not in ("DUALEVAL_CONFIG_SHA256", CONTENT_KEY_TAG)},
        "decl": repr(output.decl),
        "grid": grid.to_dict(),
        "writing": [config.outputs.compress, config.outputs.compress_level, config.outputs.tile_size],
        "inputs": inputs,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """sha256 of the engine's and the models' source and table files: any change of code or tables invalidates reuse."""
    import evaluate
    import models

    digest = hashlib.sha256()
    for package in (evaluate, models):
        root = Path(package.__file__).parent
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml") and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _reusable(config: RunConfig, grid: Grid, fingerprints: dict[str, dict], outputs: dict[str, io.RasterOutput], force: bool) -> dict[str, Path]:
    """Tag every output with its content key; return those whose file in the folder already carries it (none if ``force``)."""
    reused = {}
    for name, output in outputs.items():
        output.tags[CONTENT_KEY_TAG] = content_key(config, grid, fingerprints, output)
        final = config.outputs.folder / f"{name}.tif"
        if not force and final.exists():
            try:
                with rasterio.open(final) as done:
                    if done.tags().get(CONTENT_KEY_TAG) == output.tags[CONTENT_KEY_TAG]:
                        reused[name] = final
            except rasterio.errors.RasterioError:
                pass  # unreadable: recompute it
    if reused:
        log.info("reusing %d unchanged output(s): %s", len(reused), ", ".join(reused))
    return reused


def _check_unchanged(config: RunConfig, fingerprints: dict[str, dict]) -> None:
    """Raise :class:`RunError` if an input file changed since the run started (its outputs would mix two versions)."""
    where = str(config.source) if config.source else "<config>"
    for name, before in fingerprints.items():
        path = config.inputs[name].path
        try:
            now = fingerprint_file(path)
        except OSError:
            now = None
        if now is None or (now["bytes"], now["mtime"], now["hash"]) != (before["bytes"], before["mtime"], before["hash"]):
            raise RunError(f"{where}: inputs.{name}.path: {path} changed while the run was reading it; nothing was written: run again once it is stable")


def _output_names(config: RunConfig) -> list[str]:
    """The files a run writes (rasters as .tif, tables as .csv)."""
    from models import MODELS

    plan = config.plan()
    names = [o for m in plan.order if m in plan.requested for o in MODELS[m].SPEC.outputs] + list(config.outputs.write)
    suffix = {"table": ".csv", "vector": ".gpkg", "raster": ".tif"}
    files = [f"{n}{suffix[MODELS[MODELS.producer_of[n]].SPEC.outputs[n].kind]}" for n in dict.fromkeys(names)]
    return files + [f"{INPUT_PREFIX}{n}.tif" for n in config.outputs.write_inputs]
