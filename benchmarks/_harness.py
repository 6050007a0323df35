"""The benchmark harness behind ``benchmarks/ops.py``: inputs, isolated measurements, tables.

A benchmark is a :class:`Case` (one operator of ``evaluate.ops``) with zero or
more :class:`Peer` s (the nearest other tool doing the same job). Every
measurement runs in a fresh process (``ops.py --worker``, or a small launcher
for command-line peers), so its peak RSS (the process's own VmHWM; the peer's
``ru_maxrss`` as seen by the launcher) is not polluted by earlier measurements
or by this parent, and does one warm-up call (numba JIT cache load,
first-touch page faults of memory the host took back) before the timed repeats
whose median is reported.

Threads: by default every measurement may use every core this process may
run on (``os.sched_getaffinity``): eager rows run our operators and their
peers with ``NUMBA_NUM_THREADS`` / numexpr / OpenMP threads = cores, dask rows
run the threaded scheduler with one worker per core. ``--threads N`` pins all
of it to N threads, and the measuring processes to N CPUs (affinity). A peer
may pin itself (``Peer.threads``, e.g. numexpr on 1 thread).

Inputs are synthetic (``evaluate.synthetic.raster_block``): a realistic DEM,
silt and land use on a 30 m CGCS2000 / 3-degree Gauss-Krüger grid, generated
window by window once and cached as ``.npy`` (and GeoTIFF for command-line
peers) under the cache folder. Eager measurements load the whole array into
memory before timing; dask measurements read each chunk from the ``.npy`` file
inside the timed graph (from the page cache), so that their peak RSS shows what
the chunks in flight need, not the grid.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DEFAULT_SIZE = 8192
QUICK_SIZE = 2048
DEFAULT_CHUNK = 2048
# a 2048² smoke grid in 2048² chunks would be one chunk: exercise the multi-chunk path (2 x 2 chunks) instead
QUICK_CHUNK = 1024


def available_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask; every core when the platform cannot tell)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


CORES = len(available_cpus())
# Threads of this run: eager operators and peers (numba, numexpr, OpenMP), dask workers, input generation.
# Every core by default; ``--threads N`` sets it (main) and workers take it from their spec (run_worker).
THREADS = CORES
# Targets of the issue: elementwise rows within 2x of the copy bandwidth (see Case.bw_target)
BW_TARGET = 0.5
SEED = 0
CRS = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
RESOLUTION_M = 30.0
ORIGIN = (400_000.0, 2_550_000.0)  # upper-left corner: hills, basins and valleys in the synthetic world
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "dualeval-bench"
MIB = 1024.0 * 1024.0
RESULT_MARK = "@@BENCH "
CHECK_SIZE = 384


# ----------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------


@dataclass
class Peer:
    """The nearest other tool for a case, measured in the same run.

    Exactly one of ``run`` (a Python callable taking :class:`Inputs`, like
    ours) and ``argv`` (a command line built from input GeoTIFF paths and an
    output path; timed as a whole process, I/O included) is given.
    """

    name: str
    modes: tuple[str, ...] = ("eager",)
    run: Callable[["Inputs"], Any] | None = None
    argv: Callable[[dict[str, str], str], list[str]] | None = None
    inputs: tuple[str, ...] | None = None  # defaults to the case's inputs
    # compare(ours, peer) -> None if equivalent, else a message (run by the pre-flight check)
    compare: Callable[[np.ndarray, np.ndarray], str | None] | None = None
    skip: str | None = None  # reason the peer is unavailable
    # pin this peer to this many threads whatever the run's --threads (e.g. 1: numexpr single-threaded)
    threads: int | None = None
    # the target: peer wall s / our wall s must be at least this (table column "target": met/missed)
    target: float | None = None


@dataclass
class Case:
    """One operator benchmark.

    Parameters
    ----------
    name : str
        Unique id (used by ``--only``).
    operator : str
        What the table shows, e.g. ``"slope"`` or ``"land_grade chain"``.
    inputs : tuple of str
        Layer names of :data:`LAYERS` the callables read.
    ours : callable
        ``ours(inp) -> result`` with ``inp`` an :class:`Inputs`; the result
        (DataArray, dask or numpy array, or a tuple/dict of them) is consumed
        by the harness (dask graphs are computed into a null sink).
    modes : tuple of str
        ``"eager"`` and/or ``"dask"``.
    peers : list of Peer
    bytes_per_cell : float, optional
        Compulsory memory traffic of an elementwise op (bytes read + written
        per cell); the table then reports throughput as a fraction of the
        machine's copy bandwidth.
    scaling : bool
        Also measure ours at half the grid side, to show how peak RSS grows.
    skip : str, optional
        Why the case cannot run (module not landed, signature unknown...).
    note : str
        Shown under the table.
    quick : bool
        Timed by ``--quick`` (a smoke run times only these; its pre-flight
        check still runs every case once on a small grid).
    bw_target : float, optional
        With ``bytes_per_cell``: the issue's target share of the copy
        bandwidth (0.5 = within 2x of it). The table then shows a row against
        the time a copy at that bandwidth would take, with its target.
    """

    name: str
    operator: str
    inputs: tuple[str, ...]
    ours: Callable[["Inputs"], Any] | None
    modes: tuple[str, ...] = ("eager", "dask")
    peers: list[Peer] = field(default_factory=list)
    bytes_per_cell: float | None = None
    scaling: bool = False
    skip: str | None = None
    note: str = ""
    quick: bool = False  # timed by --quick (every case is still run by --quick's pre-flight check)
    bw_target: float | None = None


CASES: list[Case] = []
# Lines ops.py adds under every table (e.g. which peers cannot use more than one thread)
RUN_NOTES: list[str] = []


def register(case: Case) -> Case:
    if any(c.name == case.name for c in CASES):
        raise ValueError(f"duplicate benchmark case {case.name!r}")
    CASES.append(case)
    return case


def optional(module: str, name: str, params: Sequence[str] = ()) -> tuple[Callable | None, str | None]:
    """``(function, None)`` if ``module.name`` imports and takes ``params``; else ``(None, why)``.

    Rows for operators still being written use this so they light up when the
    module lands, and say so (instead of failing) while it has not, or when
    its signature no longer has the parameters the row passes.
    """
    import importlib

    try:
        fn = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        return None, f"{module}.{name} not importable ({exc.__class__.__name__}: {exc})"
    except AttributeError:
        return None, f"{module} has no {name}"
    if params:
        try:
            have = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return fn, None
        missing = [p for p in params if p not in have]
        if missing:
            return None, f"TODO: {module}.{name} signature {inspect.signature(fn)} lacks {missing}; update the row"
    return fn, None


def tool(name: str) -> str | None:
    """Why a command-line tool is unusable, or None when it is on PATH."""
    return None if shutil.which(name) else f"{name} not on PATH"


# ----------------------------------------------------------------------------
# Input layers
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """An input layer: a synthetic raster (``synthetic`` = layer name in evaluate.synthetic) or derived."""

    dtype: str
    synthetic: str | None = None
    derive: Callable[[Callable[[str], np.ndarray], "Grid"], np.ndarray] | None = None  # noqa: F821
    needs: tuple[str, ...] = ()
    description: str = ""


LAYERS: dict[str, Layer] = {}


def grid_for(size: int):
    from affine import Affine

    from evaluate.grid import Grid

    return Grid(CRS, Affine(RESOLUTION_M, 0.0, ORIGIN[0], 0.0, -RESOLUTION_M, ORIGIN[1]), (size, size))


def _needed(names: Sequence[str]) -> list[str]:
    """``names`` plus everything they derive from, dependencies first."""
    order: list[str] = []

    def visit(name):
        if name in order:
            return
        if name not in LAYERS:
            raise KeyError(f"unknown input layer {name!r}; known: {sorted(LAYERS)}")
        for dep in LAYERS[name].needs:
            visit(dep)
        order.append(name)

    for n in names:
        visit(n)
    return order


def stem(name: str) -> str:
    """File stem of a layer: its name, plus for derived layers a fingerprint of how they are derived.

    Editing a derivation (its source text, dtype or inputs) thus gives new
    cache files instead of silently reusing stale ones.
    """
    layer = LAYERS[name]
    if layer.derive is None:
        return name
    try:
        source = inspect.getsource(layer.derive)
    except (OSError, TypeError):
        source = repr(layer.derive)
    text = "|".join([source, layer.dtype, *(stem(d) for d in layer.needs)])
    return f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def layer_path(folder: Path, name: str, ext: str = "npy") -> Path:
    return Path(folder) / f"{stem(name)}.{ext}"


def data_dir(cache: Path, size: int) -> Path:
    from evaluate.synthetic import GENERATOR_VERSION

    return cache / f"grid{size}_seed{SEED}_x{int(ORIGIN[0])}_y{int(ORIGIN[1])}_r{int(RESOLUTION_M)}_gen{GENERATOR_VERSION}"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(names: Sequence[str], size: int, cache: Path, tif: Sequence[str] = (), parent: Path | None = None) -> Path:
    """Make sure every layer in ``names`` (and those in ``tif`` as GeoTIFF) exists for a ``size``² grid.

    ``parent``: a prepared folder of a larger grid with the same origin; its
    top-left window is exactly this grid (every synthetic value is a pure
    function of the cell coordinates), so layers are sliced from it.
    """
    folder = data_dir(cache, size)
    folder.mkdir(parents=True, exist_ok=True)
    grid = grid_for(size)
    wanted = _needed(list(names) + list(tif))
    missing = [n for n in wanted if not layer_path(folder, n).exists()]
    if parent is not None:
        for n in list(missing):
            src = layer_path(parent, n)
            if src.exists():
                big = np.load(src, mmap_mode="r")
                _atomic_npy(layer_path(folder, n), np.ascontiguousarray(big[:size, :size]))
                del big
                missing.remove(n)
    synth = [n for n in missing if LAYERS[n].synthetic]
    if synth:
        _generate(folder, grid, synth)
    for n in missing:
        if LAYERS[n].derive is None:
            continue
        t0 = time.perf_counter()
        out = LAYERS[n].derive(lambda k: np.load(layer_path(folder, k)), grid)
        _atomic_npy(layer_path(folder, n), np.asarray(out, dtype=LAYERS[n].dtype))
        _log(f"  derived {n} ({size}²) in {time.perf_counter() - t0:.1f} s")
    for n in tif:
        path = layer_path(folder, n, "tif")
        if not path.exists():
            _write_tif(layer_path(folder, n), path, grid)
    return folder


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _generate(folder: Path, grid, names: list[str]) -> None:
    """Synthetic layers by row strips on THREADS threads (the numba generator releases the GIL)."""
    from numpy.lib.format import open_memmap

    from evaluate.synthetic import grid_metric_coords, raster_blocks

    size = grid.height
    t0 = time.perf_counter()
    _log(f"  generating {', '.join(names)} on a {size}x{size} grid (cached in {folder}) ...")
    tmp = {n: layer_path(folder, n, "tmp.npy") for n in names}
    outs = {n: open_memmap(tmp[n], mode="w+", dtype=LAYERS[n].dtype, shape=grid.shape) for n in names}
    strip = max(16, min(256, (1 << 22) // grid.width))
    starts = list(range(0, size, strip))

    def work(r0):
        rows = slice(r0, min(size, r0 + strip))
        x, y = grid_metric_coords(grid, rows)
        blocks = raster_blocks([LAYERS[n].synthetic for n in names], x, y, SEED)
        for n in names:
            outs[n][rows] = blocks[LAYERS[n].synthetic]

    with ThreadPoolExecutor(THREADS) as pool:
        for k, _ in enumerate(pool.map(work, starts)):
            if (k + 1) % max(1, len(starts) // 8) == 0:
                _log(f"    {100 * (k + 1) // len(starts)} %  ({time.perf_counter() - t0:.0f} s)")
    for n in names:
        outs[n].flush()
        del outs[n]
        os.replace(tmp[n], layer_path(folder, n))
    _log(f"  generated in {time.perf_counter() - t0:.1f} s")


def _write_tif(npy: Path, path: Path, grid) -> None:
    """A plain striped, uncompressed GeoTIFF (what gdaldem and gdal_*.py read fastest)."""
    import rasterio

    data = np.load(npy, mmap_mode="r")
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1, dtype=data.dtype.name, crs=grid.crs,
                   transform=grid.transform, BIGTIFF="IF_SAFER")
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, grid.height, 1024):
            r1 = min(grid.height, r0 + 1024)
            dst.write(np.asarray(data[r0:r1]), 1, window=((r0, r1), (0, grid.width)))
    os.replace(tmp, path)
    del data


# ----------------------------------------------------------------------------
# Worker side: inputs and consumption
# ----------------------------------------------------------------------------


class _NpyWindows:
    """An array-like over a ``.npy`` file that reads only the requested window.

    The memory map is opened and dropped per read, so a dask graph over it
    holds no more of the file in its RSS than the chunks being read.
    """

    def __init__(self, path: Path):
        head = np.load(path, mmap_mode="r")
        self.path, self.shape, self.dtype, self.ndim = path, head.shape, head.dtype, head.ndim
        del head

    def __getitem__(self, key):
        mm = np.load(self.path, mmap_mode="r")
        out = np.array(mm[key])
        del mm
        return out


class Inputs:
    """The input layers of one measurement, as georeferenced (y, x) DataArrays.

    ``inp["dem"]`` is numpy-backed in eager mode (loaded before timing) and
    dask-backed in dask mode (chunks read from disk inside the graph);
    ``inp.path("dem")`` is the layer's GeoTIFF (command-line peers);
    ``inp.threads`` is how many threads this measurement may use (eager: the
    operator's own threads; dask: the scheduler's workers).
    """

    def __init__(self, folder: Path, size: int, mode: str, chunk: int, threads: int | None = None):
        self.folder, self.size, self.mode, self.chunk = Path(folder), size, mode, chunk
        self.threads = threads or THREADS
        self.grid = grid_for(size)
        self._cache: dict[str, Any] = {}

    @property
    def lazy(self) -> bool:
        return self.mode == "dask"

    def __getitem__(self, name: str):
        if name not in self._cache:
            import dask.array as da
            import xarray as xr

            from evaluate.grid import coords_of, georeference

            path = layer_path(self.folder, name)
            if self.lazy:
                src = _NpyWindows(path)
                data = da.from_array(src, chunks=(self.chunk, self.chunk), lock=False, asarray=True,
                                     meta=np.empty((0, 0), dtype=src.dtype), name=f"read-{name}-{self.size}")
            else:
                data = np.load(path)
            array = xr.DataArray(data, coords=coords_of(self.grid), dims=("y", "x"), name=name)
            self._cache[name] = georeference(array, self.grid)
        return self._cache[name]

    def path(self, name: str) -> str:
        return str(layer_path(self.folder, name, "tif"))

    def load(self, names: Sequence[str]) -> None:
        for n in names:
            self[n]


class _NullSink:
    """A ``da.store`` target that drops every block: the graph runs, nothing accumulates."""

    def __setitem__(self, key, value):
        pass


def consume(result) -> None:
    """Finish a result: compute dask graphs block by block into a null sink (never the whole grid)."""
    import dask
    import dask.array as da

    arrays = []

    import xarray as xr

    def collect(r):
        if r is None:
            return
        if isinstance(r, da.Array):
            arrays.append(r)
        elif isinstance(r, xr.Dataset):
            for v in r.data_vars.values():
                collect(v)
        elif isinstance(r, xr.DataArray):
            collect(r.data)
        elif isinstance(r, dict):
            for v in r.values():
                collect(v)
        elif isinstance(r, (tuple, list)):
            for v in r:
                collect(v)
        elif dask.is_dask_collection(r):  # e.g. a delayed table (zonal_area): small, computed whole
            dask.compute(r)

    collect(result)
    if arrays:
        da.store(arrays, [_NullSink() for _ in arrays], lock=False)


def as_numpy(result) -> np.ndarray:
    """The first array of a result as numpy (pre-flight checks, small grids only)."""
    import xarray as xr

    while isinstance(result, (tuple, list)):
        result = result[0]
    if isinstance(result, dict):
        result = next(iter(result.values()))
    if isinstance(result, xr.DataArray):
        result = result.values
    return np.asarray(result)


def _rss_now() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MIB


def _rss_peak() -> float:
    """This process's peak RSS in MiB: VmHWM of its own address space.

    Not ``ru_maxrss``: on Linux that starts from the parent's high-water mark
    when the child is forked (vforked) and exec'd, so every child of a big
    parent would report at least the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _configure_dask(threads: int) -> None:
    import dask

    # dask rows run the threaded scheduler on `threads` workers; eager rows never start it
    dask.config.set(scheduler="threads", num_workers=threads)


def _worker_env(mode: str, threads: int) -> dict[str, str]:
    """Environment of a measuring process: every thread pool sized to the measurement's thread count.

    Eager: our row-strip pool (``DUALEVAL_THREADS``, read by
    ``evaluate.ops._wrap.eager_threads``), numba (``parallel=True`` kernels,
    ours or xrspatial's ``prange``), numexpr and OpenMP/BLAS all get
    ``threads``. Dask: the scheduler runs ``threads`` tasks at once; numexpr
    and OpenMP stay at 1 per task (no oversubscription); numba and our pool
    keep ``threads`` (what an operator does inside a task is its own choice).
    """
    env = dict(os.environ)
    n = str(threads)
    inner = n if mode == "eager" else "1"
    env.update(DUALEVAL_THREADS=n, NUMBA_NUM_THREADS=n, NUMEXPR_MAX_THREADS=n, NUMEXPR_NUM_THREADS=inner,
               OMP_NUM_THREADS=inner, OPENBLAS_NUM_THREADS=inner, MKL_NUM_THREADS=inner, GDAL_NUM_THREADS=n,
               PYTHONHASHSEED="0")
    return env


def _pin(cpus: Sequence[int] | None):
    """A ``preexec_fn`` restricting a child (and everything it starts) to ``cpus``; None: no restriction."""
    if not cpus:
        return None
    mask = set(cpus)
    return lambda: os.sched_setaffinity(0, mask)


def measurement_threads(spec: dict) -> int:
    """The threads of one measurement: the peer's own pin, else the run's."""
    return int(spec.get("threads") or THREADS)


def run_worker(spec: dict) -> dict:
    """One measurement inside a fresh process: warm-up, then ``repeats`` timed calls."""
    global THREADS
    THREADS = measurement_threads(spec)
    if spec["who"] == "bandwidth":
        return _bandwidth(spec)
    case = _case(spec["case"])
    if case.skip:  # the operator changed under a running benchmark (another process editing evaluate/ops)
        raise RuntimeError(f"case {case.name} is now skipped: {case.skip}")
    if spec["who"] == "ours":
        fn, names = case.ours, case.inputs
    else:
        peer = _peer(case, spec["who"])
        fn, names = peer.run, peer.inputs or case.inputs
    _configure_dask(THREADS)
    inp = Inputs(Path(spec["folder"]), spec["size"], spec["mode"], spec["chunk"], threads=THREADS)
    rss_base = _rss_now()
    inp.load(names)
    rss_loaded = _rss_now()
    times = []
    for k in range(spec["warmup"] + spec["repeats"]):
        t0 = time.perf_counter()
        result = fn(inp)
        consume(result)
        elapsed = time.perf_counter() - t0
        del result
        if k >= spec["warmup"]:
            times.append(elapsed)
    return {"times": times, "rss_base_mib": rss_base, "rss_loaded_mib": rss_loaded, "rss_peak_mib": _rss_peak(),
            "threads": THREADS, "numba_threads": _numba_threads(), "cpus": len(available_cpus())}


def _numba_threads() -> int | None:
    try:
        import numba

        return int(numba.get_num_threads())
    except Exception:  # noqa: BLE001 - informational only
        return None


def _case(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)


def _peer(case: Case, name: str) -> Peer:
    for p in case.peers:
        if p.name == name:
            return p
    raise KeyError(f"{case.name}: no peer {name!r}")


# ----------------------------------------------------------------------------
# Memory bandwidth
# ----------------------------------------------------------------------------


def _bandwidth(spec: dict) -> dict:
    """Copy bandwidth of a ``threads``-thread numba parallel copy of a large float32 array."""
    import numba

    @numba.njit(parallel=True, nogil=True)
    def pcopy(src, dst):
        for i in numba.prange(src.shape[0]):
            dst[i] = src[i]

    n = spec.get("cells", 1 << 26)  # 256 MiB per array: far beyond any cache
    threads = spec["threads"]
    numba.set_num_threads(threads)
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros_like(src)
    times = []
    for k in range(2 + spec["repeats"]):
        t0 = time.perf_counter()
        pcopy(src, dst)
        t = time.perf_counter() - t0
        if k >= 2:
            times.append(t)
    return {"times": times, "bytes": 2 * src.nbytes, "threads": threads, "rss_peak_mib": _rss_peak()}


# ----------------------------------------------------------------------------
# Parent side: isolated processes
# ----------------------------------------------------------------------------


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int, bool]:
    """(exit status, timed out) of a child, killed after ``timeout`` seconds."""
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), True


def measure_python(script: Path, spec: dict, timeout: float) -> dict:
    """Run one measurement in a fresh ``python script --worker`` process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, str(script), "--worker", json.dumps(spec)], stdout=out, stderr=err,
                                env=_worker_env(spec.get("mode", "eager"), measurement_threads(spec)),
                                preexec_fn=_pin(spec.get("cpus")))
        rc, timed_out = _wait(proc, timeout)
        out.seek(0)
        err.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith(RESULT_MARK)]
        if rc != 0 or not lines:
            tail = err.read().strip().splitlines()[-3:]
            why = f"timed out after {timeout:.0f} s" if timed_out else f"exit {rc}: {' | '.join(tail)}"
            return {"error": why}
        res = json.loads(lines[-1][len(RESULT_MARK):])
    return res


# A minimal launcher (python -S, ~10 MiB) spawns each command-line peer and reports its wall time and
# ru_maxrss: spawned from this small process, the peer's ru_maxrss is its own peak (floor ≈ the launcher's
# RSS), not the high-water mark of this big parent (see _rss_peak).
_LAUNCHER = """
import os, sys, time
argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ,
                      file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - t0
sys.stdout.write("%d %r %d\\n" % (os.waitstatus_to_exitcode(status), elapsed, usage.ru_maxrss))
"""


def measure_cli(argv_fn: Callable[[dict[str, str], str], list[str]], paths: dict[str, str], out_dir: Path, warmup: int,
                repeats: int, timeout: float, threads: int | None = None, cpus: Sequence[int] | None = None) -> dict:
    """Time a command-line peer: each call a fresh process; wall time includes start-up and file I/O.

    ``threads`` sizes ``GDAL_NUM_THREADS`` (which the GDAL tools here ignore
    for an uncompressed GeoTIFF: they compute on one thread); ``cpus`` pins
    the launcher and the tool to those CPUs (``--threads N``).
    """
    times, peak = [], 0.0
    for k in range(warmup + repeats):
        out = out_dir / f"peer_out_{os.getpid()}.tif"
        if out.exists():
            out.unlink()
        argv = argv_fn(paths, str(out))
        with tempfile.TemporaryFile("w+") as res_file, tempfile.TemporaryFile("w+") as err_file:
            proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, *argv], stdout=res_file, stderr=err_file,
                                    env=_worker_env("eager", threads or THREADS), preexec_fn=_pin(cpus))
            rc, timed_out = _wait(proc, timeout)
            res_file.seek(0)
            err_file.seek(0)
            fields = res_file.read().split()
            err = err_file.read().strip()
        if out.exists():
            out.unlink()
        if rc == 0 and len(fields) == 3:
            rc, elapsed, rss = int(fields[0]), float(fields[1]), int(fields[2]) / 1024.0
        if rc != 0 or timed_out or len(fields) != 3:
            return {"error": "timed out" if timed_out else f"exit {rc}: {err[-300:]}"}
        peak = max(peak, rss)
        if k >= warmup:
            times.append(elapsed)
    return {"times": times, "rss_peak_mib": peak, "argv": argv_fn(paths, "OUT.tif")}


# ----------------------------------------------------------------------------
# Pre-flight check: are the peers computing the same thing?
# ----------------------------------------------------------------------------


def preflight(folder: Path, size: int, chunk: int, cases: list[Case]) -> list[str]:
    """On a small grid, in this process: ours eager == ours dask, and every peer runs and agrees.

    Each Python peer runs in every mode it is timed in (so an API change of a
    peer's dask path shows here, not in the middle of the timed run), and its
    result is compared with our eager result when it has a ``compare``; a
    command-line peer runs once. The last line counts what passed.
    """
    import dask

    lines, bad, n_checks = [], 0, 0
    with dask.config.set(scheduler="threads", num_workers=THREADS):
        for case in cases:
            n_checks += 1
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    eager = as_numpy(case.ours(Inputs(folder, size, "eager", chunk)))
                    lazy = as_numpy(_computed(case.ours(Inputs(folder, size, "dask", chunk))))
                same = _same(eager, lazy)
                bad += not same
                lines.append(f"  {case.name}: eager vs dask {'identical' if same else 'DIFFER: ' + _diff(eager, lazy)}"
                             + _warned(caught))
            except Exception as exc:  # a broken row must not stop the other rows
                bad += 1
                lines.append(f"  {case.name}: ERROR {exc.__class__.__name__}: {exc}")
                continue
            for peer in case.peers:
                if peer.skip:
                    continue
                modes = peer.modes if peer.run is not None else ("eager",)
                for mode in modes:
                    n_checks += 1
                    label = f"  {case.name} vs {peer.name}" + (f" [{mode}]" if peer.run is not None else " [command line]")
                    try:
                        with warnings.catch_warnings(record=True) as caught:
                            warnings.simplefilter("always")
                            if peer.run is not None:
                                other = as_numpy(_computed(peer.run(Inputs(folder, size, mode, chunk))))
                            else:
                                other = _run_cli_once(peer, folder, case)
                        warned = _warned(caught)
                        if peer.compare is None:
                            lines.append(f"{label}: runs (no comparison defined){warned}")
                            continue
                        msg = peer.compare(eager, other)  # None, "agrees (...)" or "DIFFER: ..."
                        bad += msg is not None and not msg.startswith("agrees")
                        lines.append(f"{label}: {'agrees' if msg is None else msg}{warned}")
                    except Exception as exc:
                        bad += 1
                        lines.append(f"{label}: ERROR {exc.__class__.__name__}: {exc}")
    lines.append(f"  pre-flight: {n_checks - bad} of {n_checks} checks passed"
                 + ("" if bad == 0 else f", {bad} DIFFER or ERROR (see above)"))
    return lines


def _warned(caught) -> str:
    """The distinct warnings a row or peer raised during its check, as a suffix of its check line ('' if none)."""
    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:120]}"
        if text not in seen:
            seen.append(text)
    return "".join(f" [it warned: {t}]" for t in seen)


def _computed(result):
    import dask
    import xarray as xr

    if isinstance(result, (xr.DataArray, xr.Dataset)):
        return result.compute()
    if isinstance(result, (tuple, list)):
        return type(result)(_computed(r) for r in result)
    if isinstance(result, dict):
        return {k: _computed(v) for k, v in result.items()}
    return dask.compute(result)[0] if dask.is_dask_collection(result) else result


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating))


def _diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} vs {b.shape}"
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return f"max |diff| {np.nanmax(d):.3g}, {int(np.sum(~(d == 0) & ~np.isnan(d)))} cells differ"


def _run_cli_once(peer: Peer, folder: Path, case: Case) -> np.ndarray:
    import rasterio

    names = peer.inputs or case.inputs
    paths = {n: str(layer_path(folder, n, "tif")) for n in names}
    out = folder / "check_out.tif"
    subprocess.run(peer.argv(paths, str(out)), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with rasterio.open(out) as src:
        data = src.read(1, masked=True)
        data = data.filled(np.nan) if np.issubdtype(data.dtype, np.floating) else data.filled(0)
    out.unlink()
    return data


def within(tol: float, interior: int = 1) -> Callable[[np.ndarray, np.ndarray], str | None]:
    """A ``compare``: equal to ``tol`` away from ``interior`` cells of the grid's edge (edge rules differ by tool)."""

    def compare(ours, peer):
        cut = (slice(interior, -interior or None),) * 2
        a, b = ours[cut].astype(np.float64), peer[cut].astype(np.float64)
        if a.shape != b.shape:
            return f"DIFFER: shapes {a.shape} vs {b.shape}"
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return f"DIFFER: nodata masks differ in {int(np.sum(np.isnan(a) != np.isnan(b)))} cells"
        d = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
        return None if d <= tol else f"DIFFER: max |diff| {d:.3g} > {tol:g}"

    return compare


def identical(ours, peer) -> str | None:
    """A ``compare``: bit-identical values (NaN in a float peer = 0 in our class rasters)."""
    b = peer
    if np.issubdtype(peer.dtype, np.floating) and not np.issubdtype(ours.dtype, np.floating):
        b = np.where(np.isnan(peer), 0, peer)
    if ours.shape != b.shape:
        return f"DIFFER: shapes {ours.shape} vs {b.shape}"
    n = int(np.sum(ours.astype(np.float64) != b.astype(np.float64)))
    return None if n == 0 else f"DIFFER in {n} cells"


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------


def _median(times: list[float]) -> float:
    return statistics.median(times)


def machine() -> dict:
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def versions() -> dict:
    import importlib.metadata as md

    out = {}
    for pkg in ("dualeval", "numpy", "numba", "dask", "xarray", "xarray-spatial", "scipy", "scikit-image", "numexpr",
                "rasterio"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    try:
        text = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout.strip()
        out["gdal"] = text.split(",")[0].removeprefix("GDAL ").strip() or None  # "GDAL 3.6.2, released 2023/01/02"
    except OSError:
        out["gdal"] = None
    try:
        import rasterio

        out["rasterio_gdal"] = rasterio.__gdal_version__
    except ImportError:
        out["rasterio_gdal"] = None
    out["pygeoprocessing"] = None  # not installed in this project's environment, deliberately not installed
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/ops.py",
        description="Benchmark evaluate.ops (eager and dask) against the nearest peer tools, each measurement in a "
                    "fresh process (median of --repeats after a warm-up; peak RSS of that process).",
    )
    p.add_argument("--size", type=int, default=None, help=f"grid side in cells (default {DEFAULT_SIZE}; 16384 needs ~8 GiB)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_SIZE}² grid in {QUICK_CHUNK}² chunks")
    p.add_argument("--chunk", type=int, default=None, help=f"dask chunk side (default {DEFAULT_CHUNK}; {QUICK_CHUNK} with --quick)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement after one warm-up (>= 3)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"pin every measurement (ours and peers, eager and dask) to N threads and N CPUs "
                        f"(default: all {CORES} cores this process may use)")
    p.add_argument("--only", nargs="+", default=None, metavar="CASE", help="run only these case names (see --list)")
    p.add_argument("--no-peers", action="store_true", help="measure only our operators")
    p.add_argument("--no-scaling", action="store_true", help="skip the half-size peak-RSS scaling measurements")
    p.add_argument("--no-check", action="store_true", help="skip the pre-flight result comparison on a small grid")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write all results as JSON")
    p.add_argument("--markdown", type=Path, default=None, metavar="JSON", help="print the markdown tables of a saved JSON and exit")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"input cache folder (default {DEFAULT_CACHE})")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement before it is killed")
    p.add_argument("--list", action="store_true", help="list the cases and whether each can run, then exit")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be at least 3 (medians of >= 3 runs)")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    if args.size is None:
        args.size = QUICK_SIZE if args.quick else DEFAULT_SIZE
    if args.chunk is None:
        args.chunk = QUICK_CHUNK if args.quick else DEFAULT_CHUNK
    return args


def main(script: Path, argv: Sequence[str] | None = None) -> int:
    global THREADS
    args = parse_args(argv)
    if args.worker is None and args.threads is not None:
        THREADS = args.threads
    if args.worker is not None:
        res = run_worker(json.loads(args.worker))
        print(RESULT_MARK + json.dumps(res), flush=True)
        return 0
    if args.markdown is not None:
        print(render_markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.list:
        for c in CASES:
            state = f"SKIP: {c.skip}" if c.skip else "ok"
            print(f"{c.name:28s} {c.operator:28s} {','.join(c.modes):11s} {state}")
            for peer in c.peers:
                print(f"    peer {peer.name:34s} {','.join(peer.modes):11s} {'SKIP: ' + peer.skip if peer.skip else 'ok'}")
        return 0
    return run_all(script, args)


def run_all(script: Path, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    cases = [c for c in CASES if args.only is None or c.name in args.only]
    if args.only:
        unknown = set(args.only) - {c.name for c in CASES}
        if unknown:
            print(f"unknown case(s): {sorted(unknown)}; see --list", file=sys.stderr)
            return 2
    runnable = [c for c in cases if not c.skip]
    skipped = [c for c in cases if c.skip]
    timed = [c for c in runnable if c.quick or not args.quick or args.only]
    size, chunk = args.size, args.chunk
    use_peers = not args.no_peers

    def live_peers(case):
        return [p for p in case.peers if use_peers and not p.skip]

    layers = sorted({n for c in runnable for n in c.inputs} | {n for c in runnable for p in live_peers(c) for n in (p.inputs or c.inputs)})
    tif = sorted({n for c in runnable for p in live_peers(c) if p.argv for n in (p.inputs or c.inputs)})
    _log(f"inputs for a {size}x{size} grid: {', '.join(layers) or '-'}")
    folder = prepare(layers, size, args.cache, tif=tif)
    half = size // 2
    scaling_cases = [c for c in timed if c.scaling] if not args.no_scaling else []
    half_folder = None
    if scaling_cases:
        half_layers = sorted({n for c in scaling_cases for n in c.inputs})
        half_folder = prepare(half_layers, half, args.cache, parent=folder)

    check_lines = []
    if not args.no_check and runnable:
        check_size = min(CHECK_SIZE, size)
        check_chunk = max(1, min(chunk, check_size) // 3)  # several chunks, ragged edges
        cf = prepare(layers, check_size, args.cache, tif=tif, parent=folder)
        _log(f"pre-flight check on a {check_size}² grid in {check_chunk}² chunks ...")
        check_lines = preflight(cf, check_size, check_chunk, [_no_skipped_peers(c, use_peers) for c in runnable])
        for ln in check_lines:
            _log(ln)

    # --threads N pins the measuring processes to N of the CPUs this one may use (when there are that many)
    cpus = available_cpus()
    pinned = args.threads is not None and args.threads < len(cpus)
    run_cpus = cpus[:THREADS] if pinned else None
    meta = {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"), "size": size, "cells": size * size,
            "chunk": chunk, "threads": THREADS, "threads_dask": THREADS, "threads_pinned": args.threads is not None,
            "cpus_available": len(cpus), "cpus_used": len(run_cpus) if run_cpus else len(cpus),
            "repeats": args.repeats, "warmup": 1, "seed": SEED, "crs": CRS,
            "resolution_m": RESOLUTION_M, "origin": ORIGIN, "machine": machine(), "versions": versions(),
            "command": " ".join([Path(sys.executable).name, "benchmarks/ops.py", *sys.argv[1:]])}

    def spec(case, mode, who, sz=size, fold=folder, threads=None):
        return {"case": case.name, "mode": mode, "who": who, "size": sz, "chunk": chunk, "folder": str(fold),
                "repeats": args.repeats, "warmup": 1, "threads": min(threads or THREADS, THREADS), "cpus": run_cpus}

    measurements: list[dict] = []

    def record(kind, case, mode, who, res, sz=size):
        entry = {"case": case.name if case else None, "operator": case.operator if case else None, "mode": mode,
                 "who": who, "size": sz, "cells": sz * sz, **res}
        if "times" in res:
            entry["median_s"] = _median(res["times"])
        measurements.append(entry)
        shown = f"{entry['median_s']:.3f} s" if "median_s" in entry else f"ERROR {res.get('error')}"
        _log(f"  {kind:8s} {(case.name if case else 'bandwidth'):24s} {mode:6s} {who:30s} {shown}  peak {res.get('rss_peak_mib', 0):.0f} MiB")
        return entry

    _log("memory bandwidth (numba parallel copy of a 256 MiB float32 array) ...")
    bw = {}
    for threads in sorted({THREADS, 1}, reverse=True):
        res = measure_python(script, {"who": "bandwidth", "threads": threads, "repeats": max(15, args.repeats), "mode": "dask",
                                      "cpus": run_cpus}, args.timeout)
        if "times" in res:
            # the best of many copies: a bound is what the machine can do; neighbours' load only slows copies down
            bw[threads] = res["bytes"] / min(res["times"])
        record("bw", None, f"{threads}thr", "numba copy", res)
    meta["bandwidth_bytes_per_s"] = {str(k): v for k, v in bw.items()}

    with tempfile.TemporaryDirectory(prefix="bench-out-", dir=args.cache) as tmp:
        for case in timed:
            for mode in case.modes:
                record("ours", case, mode, "ours", measure_python(script, spec(case, mode, "ours"), args.timeout))
                for peer in live_peers(case):
                    if mode not in peer.modes:
                        continue
                    if peer.argv is not None:
                        names = peer.inputs or case.inputs
                        paths = {n: str(layer_path(folder, n, "tif")) for n in names}
                        res = measure_cli(peer.argv, paths, Path(tmp), 1, args.repeats, args.timeout,
                                          threads=min(peer.threads or THREADS, THREADS), cpus=run_cpus)
                    else:
                        res = measure_python(script, spec(case, mode, peer.name, threads=peer.threads), args.timeout)
                    record("peer", case, mode, peer.name, res)
        for case in scaling_cases:
            for mode in case.modes:
                record("scaling", case, mode, "ours", measure_python(script, spec(case, mode, "ours", half, half_folder), args.timeout), sz=half)

    report = {"meta": meta, "measurements": measurements, "check": check_lines,
              "skipped": [{"case": c.name, "operator": c.operator, "why": c.skip} for c in skipped]
              + [{"case": c.name, "operator": c.operator, "why": "not timed by --quick (only run by the pre-flight check; time it with --only or without --quick)"}
                 for c in runnable if c not in timed]
              + [{"case": c.name, "peer": p.name, "why": p.skip} for c in runnable for p in c.peers if p.skip],
              "notes": {c.name: c.note for c in timed if c.note}, "run_notes": list(RUN_NOTES)}
    report["rows"] = build_rows(report, timed, use_peers)
    report["scaling"] = build_scaling(report)
    report["meta"]["total_s"] = round(time.perf_counter() - started, 1)
    print(render_text(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=float))
        _log(f"wrote {args.json}")
    return 0


def _no_skipped_peers(case: Case, use_peers: bool) -> Case:
    from dataclasses import replace

    return replace(case, peers=[p for p in case.peers if use_peers and not p.skip])


def _find(measurements, case, mode, who, size):
    for m in measurements:
        if m["case"] == case and m["mode"] == mode and m["who"] == who and m["size"] == size:
            return m
    return None


def _run_threads(meta: dict) -> int:
    """The run's thread count (older reports: the dask thread count, eager rows then ran on 1 thread)."""
    return int(meta.get("threads") or meta.get("threads_dask") or 2)


def _target(row: dict, target: float | None) -> dict:
    if target is None:
        return row
    row["target"] = target
    if row.get("ratio") is not None:
        row["target_met"] = bool(row["ratio"] >= target)
    return row


def build_rows(report: dict, cases: list[Case], use_peers: bool) -> list[dict]:
    """One row per (case, mode, peer): ours vs that peer, ratio = peer time / our time.

    An elementwise case with a ``bw_target`` also gets a row against the copy
    bandwidth bound: "peer wall s" = compulsory bytes / the run's copy
    bandwidth, so its ratio is the fraction of that bandwidth we reach.
    """
    ms, size = report["measurements"], report["meta"]["size"]
    threads = _run_threads(report["meta"])
    bws = report["meta"]["bandwidth_bytes_per_s"]
    bw_n, bw1 = bws.get(str(threads)), bws.get("1")
    rows = []
    for case in cases:
        for mode in case.modes:
            ours = _find(ms, case.name, mode, "ours", size)
            base = {"case": case.name, "operator": case.operator, "mode": mode, "cells": size * size}
            if ours is None or "median_s" not in ours:
                base.update(wall_s=None, error=(ours or {}).get("error", "not measured"))
            else:
                t = ours["median_s"]
                base.update(wall_s=t, mcells_s=size * size / t / 1e6, rss_mib=ours["rss_peak_mib"],
                            rss_base_mib=ours.get("rss_base_mib"), n=len(ours["times"]))
                if case.bytes_per_cell and bw_n:
                    rate = case.bytes_per_cell * size * size / t
                    base["bw_fraction"] = rate / bw_n
                    base["bw_fraction_1thread"] = rate / bw1 if bw1 else None
            peers = [p for p in case.peers if use_peers and not p.skip and mode in p.modes]
            if not peers and not case.bw_target:
                rows.append({**base, "peer": None})
                continue
            for peer in peers:
                m = _find(ms, case.name, mode, peer.name, size)
                row = {**base, "peer": peer.name}
                if m is None or "median_s" not in m:
                    row["peer_error"] = (m or {}).get("error", "not measured")
                else:
                    row.update(peer_wall_s=m["median_s"], peer_rss_mib=m["rss_peak_mib"])
                    if base.get("wall_s"):
                        row["ratio"] = m["median_s"] / base["wall_s"]
                rows.append(_target(row, peer.target))
            if case.bw_target and case.bytes_per_cell:
                row = {**base, "peer": f"copy bandwidth bound ({threads} thr)", "bound": True}
                if bw_n:
                    row["peer_wall_s"] = case.bytes_per_cell * size * size / bw_n
                    if base.get("wall_s"):
                        row["ratio"] = row["peer_wall_s"] / base["wall_s"]
                else:
                    row["peer_error"] = "copy bandwidth not measured"
                rows.append(_target(row, case.bw_target))
    return rows


def build_scaling(report: dict) -> list[dict]:
    """Peak RSS of ours at half the side vs the full side: dask should stay flat, eager grow about x4."""
    ms, size = report["measurements"], report["meta"]["size"]
    out = []
    for m in ms:
        if m["who"] != "ours" or m["size"] != size // 2 or "rss_peak_mib" not in m:
            continue
        full = _find(ms, m["case"], m["mode"], "ours", size)
        if full is None or "rss_peak_mib" not in full:
            continue
        b_half, b_full = m.get("rss_base_mib") or 0.0, full.get("rss_base_mib") or 0.0
        out.append({"case": m["case"], "operator": m["operator"], "mode": m["mode"], "half": size // 2, "full": size,
                    "rss_half_mib": m["rss_peak_mib"], "rss_full_mib": full["rss_peak_mib"],
                    "growth": full["rss_peak_mib"] / m["rss_peak_mib"],
                    "growth_over_base": (full["rss_peak_mib"] - b_full) / max(1e-9, m["rss_peak_mib"] - b_half),
                    "rss_base_mib": b_full})
    return out


def _fmt(v, spec=".3f", none="—"):
    return none if v is None else format(v, spec)


def _secs(v) -> str:
    """Seconds: 3 decimals, 4 below 0.1 s (small grids, the copy bandwidth bound)."""
    return _fmt(v, ".3f" if v is None or v >= 0.1 else ".4f")


TABLE_HEAD = ["operator", "mode", "cells", "wall s", "Mcells/s", "peak RSS MiB", "% bw", "peer", "peer wall s",
              "peer RSS MiB", "ratio", "target"]


def _target_cell(r: dict) -> str:
    if r.get("target") is None:
        return "—"
    want = f"≥{r['target']:.2f}"
    if "target_met" not in r:
        return f"{want} n/a"
    return f"{want} {'met' if r['target_met'] else 'MISSED'}"


def _table_cells(r: dict) -> list[str]:
    bw = r.get("bw_fraction")
    return [r["operator"], r["mode"], f"{r['cells']:,}", _secs(r.get("wall_s")) if r.get("wall_s") else "ERROR",
            _fmt(r.get("mcells_s"), ".1f"), _fmt(r.get("rss_mib"), ".0f"), _fmt(None if bw is None else 100 * bw, ".0f"),
            r.get("peer") or "—", _secs(r.get("peer_wall_s")) if "peer_error" not in r else "ERROR",
            _fmt(r.get("peer_rss_mib"), ".0f"), _fmt(r.get("ratio"), ".2f"), _target_cell(r)]


def _notes(report: dict) -> list[str]:
    meta = report["meta"]
    bws = meta["bandwidth_bytes_per_s"]
    lines = []
    if bws:
        lines.append("memory bandwidth (numba parallel copy of 256 MiB float32, bytes read+written per s, best of 15): "
                     + ", ".join(f"{k} thread(s) {v / 1e9:.1f} GB/s" for k, v in sorted(bws.items())))
        lines.append(f"% bw = compulsory bytes of an elementwise op per second / the {_run_threads(meta)}-thread copy bandwidth; "
                     "a 'copy bandwidth bound' row puts our time against the time those bytes take at that bandwidth")
    bases = [m["rss_base_mib"] for m in report["measurements"] if m.get("rss_base_mib")]
    if bases:
        lines.append(f"peak RSS = VmHWM of the measuring process: ≈{statistics.median(bases):.0f} MiB of a Python with numpy, "
                     "dask, xarray and numba imported, plus (eager rows) the inputs loaded before timing; command-line "
                     "peers: their own ru_maxrss")
    lines.append("ratio = peer wall s / our wall s (> 1: we are faster); target = the issue's minimum ratio, met or "
                 f"MISSED in this run. Dask rows use {meta['chunk']}² chunks and include "
                 "reading each chunk from a .npy in the page cache; command-line peers include process start-up and "
                 "GeoTIFF read/write.")
    lines += _target_lines(report)
    lines += report.get("run_notes", [])
    for r in report["rows"]:
        if r.get("error"):
            lines.append(f"ERROR {r['case']} {r['mode']}: {r['error']}")
        if r.get("peer_error"):
            lines.append(f"ERROR {r['case']} {r['mode']} peer {r['peer']}: {r['peer_error']}")
    for name, note in report.get("notes", {}).items():
        lines.append(f"{name}: {note}")
    lines.append("pygeoprocessing (InVEST's raster engine) is not installed in this environment, deliberately: no row "
                 "compares with it")
    for s in report.get("skipped", []):
        lines.append(f"skipped {s['case']}{' peer ' + s['peer'] if s.get('peer') else ''}: {s['why']}")
    return lines


def _threads_sentence(meta: dict) -> str:
    n = _run_threads(meta)
    if "threads" not in meta:  # a report of the harness before --threads: eager ran on one thread
        return f"Eager rows and their peers ran single-threaded; dask rows used {n} threads."
    how = (f"pinned by --threads to {n} thread(s) on {meta.get('cpus_used', n)} CPU(s)" if meta.get("threads_pinned")
           else f"all {n} cores")
    return (f"Threads: {how}. Eager rows run ours and every peer with DUALEVAL_THREADS=NUMBA_NUM_THREADS={n} and "
            f"numexpr/OpenMP threads={n} (a peer marked '1 thread' pins itself to one); dask rows run {n} scheduler "
            "workers, one numexpr/OpenMP thread per task.")


def _target_lines(report: dict) -> list[str]:
    rows = [r for r in report["rows"] if r.get("target") is not None]
    if not rows:
        return []
    met = [r for r in rows if r.get("target_met") is True]
    missed = [r for r in rows if r.get("target_met") is False]
    na = [r for r in rows if "target_met" not in r]
    out = [f"targets: {len(met)} met, {len(missed)} missed" + (f", {len(na)} not measured" if na else "")
           + " (rows below target stay in the table)"]
    for r in missed:
        out.append(f"target MISSED: {r['case']} {r['mode']} vs {r['peer']}: ratio {r['ratio']:.2f} < {r['target']:.2f}")
    return out


def _header(meta: dict) -> list[str]:
    """Versions of the peers and of our stack, and the threads: printed above the table."""
    v = meta.get("versions", {})

    def known(key):  # None: not installed; absent: a report of an older harness, which did not record it
        return v[key] or "not installed" if key in v else "not recorded"

    def ver(key):
        return f"{key} {known(key)}"

    peers = ", ".join([ver("xarray-spatial"), ver("scipy"), ver("scikit-image"), ver("numexpr"), ver("numpy"),
                       f"GDAL {known('gdal')} (gdaldem, gdal_*.py)",
                       f"rasterio {known('rasterio')} (bundling GDAL {known('rasterio_gdal')})"])
    ours = ", ".join([ver("dualeval"), ver("numba"), ver("dask"), ver("xarray"),
                      f"Python {meta.get('machine', {}).get('python', '?')}"])
    return [f"peer versions: {peers}", f"ours: {ours}", _threads_sentence(meta)]


def _scaling_lines(report: dict, md: bool) -> list[str]:
    if not report.get("scaling"):
        return []
    head = ["operator", "mode", "peak RSS MiB (half side)", "peak RSS MiB (full side)", "growth", "growth above import baseline"]
    rows = [[s["operator"], s["mode"], f"{s['rss_half_mib']:.0f} ({s['half']}²)", f"{s['rss_full_mib']:.0f} ({s['full']}²)",
             f"x{s['growth']:.2f}", f"x{s['growth_over_base']:.2f}"] for s in report["scaling"]]
    title = ("peak RSS vs grid size (4x the cells): eager grows with the grid; dask should grow only with what is in flight; "
             f"import baseline ≈ {statistics.median([s['rss_base_mib'] for s in report['scaling']]):.0f} MiB")
    return ["", title, *(_md(head, rows) if md else _text(head, rows))]


def _text(head, rows) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return [fmt.format(*head), fmt.format(*["-" * w for w in widths]), *[fmt.format(*r) for r in rows]]


def _md(head, rows) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|", *["| " + " | ".join(r) + " |" for r in rows]]


def render_text(report: dict) -> str:
    meta = report["meta"]
    lines = ["", f"dualeval operator benchmark — {meta['size']}x{meta['size']} float32 grid, {meta['date']}, "
                 f"{meta['machine']['cpu']} ({meta['machine']['cores']} cores, {meta['machine']['memory_gib']} GiB); "
                 f"medians of {meta['repeats']} runs after 1 warm-up", ""]
    lines += _header(meta) + [""]
    lines += _text(TABLE_HEAD, [_table_cells(r) for r in report["rows"]])
    lines += _scaling_lines(report, md=False)
    lines += [""] + _notes(report)
    if report.get("check"):
        lines += ["", "pre-flight check (small grid):", *report["check"]]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    meta = report["meta"]
    lines = [f"{meta['size']}×{meta['size']} float32 grid, dask chunks {meta['chunk']}², {meta['date']}, "
             f"{meta['machine']['cpu']} ({meta['machine']['cores']} cores, {meta['machine']['memory_gib']} GiB); "
             f"medians of {meta['repeats']} runs after 1 warm-up; command `{meta['command']}`", ""]
    lines += [f"- {ln}" for ln in _header(meta)] + [""]
    lines += _md(TABLE_HEAD, [_table_cells(r) for r in report["rows"]])
    lines += _scaling_lines(report, md=True)
    lines += [""] + [f"- {ln}" for ln in _notes(report)]
    if report.get("check"):
        lines += ["", "Pre-flight check (same results on a small grid):", "", *[f"- {ln.strip()}" for ln in report["check"]]]
    return "\n".join(lines)
