"""Benchmarks of ``evaluate.ops`` against the nearest peer tools, measured in one run (issue 3).

Usage (from the project root, with the project's venv)::

    .venv/bin/python benchmarks/ops.py --quick                 # smoke run (~1–2 min), see below
    .venv/bin/python benchmarks/ops.py --json bench-8192.json  # every row on 8192² (default; long)
    .venv/bin/python benchmarks/ops.py --only slope grade land_grade --json bench-8192.json
    .venv/bin/python benchmarks/ops.py --size 16384 --only slope land_grade --no-peers
    .venv/bin/python benchmarks/ops.py --list                  # cases, peers, and why any is skipped
    .venv/bin/python benchmarks/ops.py --markdown bench-8192.json   # README tables from a saved run

``--quick``: a 2048² grid in 1024² chunks; the pre-flight check runs every
row once on a 384² grid (ours eager == ours dask, and every peer runs in each
of its modes and computes the same thing), and only the rows marked
``quick=True`` are timed (slope, grade, land_grade, weighted_sum, label: one
row of each kind of target).

Every measurement runs in a fresh process (see ``_harness.py``): one warm-up
call, then the median of ``--repeats`` (≥ 3) timed calls; peak RSS is that
process's own high-water mark (VmHWM; command-line peers: their ru_maxrss).
Eager rows run ours and every peer on all cores (``DUALEVAL_THREADS``,
``NUMBA_NUM_THREADS``, numexpr threads = cores; tools that have no threads,
such as gdaldem, numpy, scipy.ndimage, stay on one); dask rows run one
scheduler worker per core on 2048² chunks. ``--threads N`` pins all of it to N.
Rows with a target of the issue (slope, grade, weighted_sum, the elementwise
rows' bandwidth, label) show it in the "target" column, met or MISSED.

Adding a row
------------
Register a :class:`Case` below: a name, the operator label, the input layers
it reads (keys of ``LAYERS``; add a ``Layer`` if you need a new one), ``ours``
(a function of ``inp``, where ``inp["dem"]`` is the layer as a georeferenced
DataArray, numpy-backed in eager mode and dask-backed in dask mode), and its
peers (``Peer(name, modes, run=...)`` for Python tools, taking the same
``inp``; ``Peer(name, argv=lambda paths, out: [...])`` for command-line tools,
given GeoTIFF paths of the inputs; ``compare=`` makes the pre-flight check
verify that the peer computes the same thing). Operators still being written
are fetched with ``optional(module, name, params)``, which disables the row
with the reason until the function exists with those parameters.

pygeoprocessing (InVEST's raster engine) would be the peer for several rows;
it is not installed in this environment and deliberately not installed here.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    BW_TARGET,
    LAYERS,
    RUN_NOTES,
    Case,
    Layer,
    Peer,
    identical,
    main,
    optional,
    register,
    tool,
    within,
)

# ----------------------------------------------------------------------------
# Input layers: synthetic ones from evaluate.synthetic, derived ones from them
# ----------------------------------------------------------------------------


def _array(values: np.ndarray, grid):
    import xarray as xr

    from evaluate.grid import coords_of, georeference

    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)


def _slope_layer(load, grid):
    from evaluate import ops

    return ops.slope(_array(load("dem"), grid)).values


WATER_CODES = (1101, 1102, 1103, 1104, 1107)  # rivers, lakes, reservoirs, ponds, ditches
CROPLAND_CODES = (101, 102, 103)
BUILT_CODES = (701, 702, 591, 601)  # residential, homesteads, commercial, industrial: travel-time origins
ROAD_SPEED_M_PER_MIN = {1003: 1000.0, 1004: 500.0, 1006: 400.0}  # highway 60, street 30, rural road 24 km/h
WALK_M_PER_MIN = 80.0

LAYERS.update(
    dem=Layer("float32", synthetic="dem", description="elevation, m"),
    silt=Layer("float32", synthetic="soil_silt", description="silt, percent"),
    landuse=Layer("int16", synthetic="landuse", description="三调 DLBM codes as integers"),
    slope=Layer("float32", derive=_slope_layer, needs=("dem",), description="Horn slope, degrees"),
    water=Layer("uint8", derive=lambda load, g: np.isin(load("landuse"), WATER_CODES).astype(np.uint8), needs=("landuse",)),
    cropland=Layer("uint8", derive=lambda load, g: np.isin(load("landuse"), CROPLAND_CODES).astype(np.uint8), needs=("landuse",)),
    built=Layer("uint8", derive=lambda load, g: np.isin(load("landuse"), BUILT_CODES).astype(np.uint8), needs=("landuse",)),
    # resistance ≥ 1 growing with slope: the shape of an ecological 阻力面
    friction=Layer("float32", derive=lambda load, g: (1.0 + load("slope") / 5.0).astype(np.float32), needs=("slope",)),
    speed=Layer("float32", derive=lambda load, g: _speed(load("landuse"), load("slope")), needs=("landuse", "slope")),
    zones=Layer("int32", derive=lambda load, g: _zones(g), description="square 'counties' of ZONE_CELLS cells"),
    slope_grade=Layer("uint8", derive=lambda load, g: np.searchsorted([2.0, 6.0, 15.0, 25.0], load("slope"), "left").astype(np.uint8) + 1,
                      needs=("slope",)),
    silt_grade=Layer("uint8", derive=lambda load, g: np.searchsorted([20.0, 30.0, 40.0, 50.0], load("silt"), "left").astype(np.uint8) + 1,
                     needs=("silt",)),
)
ZONE_CELLS = 1000


def _zones(grid) -> np.ndarray:
    r = np.arange(grid.height)[:, None] // ZONE_CELLS
    c = np.arange(grid.width)[None, :] // ZONE_CELLS
    return (1 + r * 1000 + c).astype(np.int32)


def _speed(landuse: np.ndarray, slope_deg: np.ndarray) -> np.ndarray:
    """Metres per minute: roads by class, walking slowed by slope elsewhere, water impassable (NaN)."""
    speed = (WALK_M_PER_MIN / (1.0 + slope_deg / 10.0)).astype(np.float32)
    for code, v in ROAD_SPEED_M_PER_MIN.items():
        speed[landuse == code] = v
    speed[np.isin(landuse, WATER_CODES)] = np.nan
    return speed


def _np(a):
    """The backing array of a DataArray: numpy in eager mode, dask in dask mode."""
    return a.data


def _blockwise(inp, fn, *arrays, dtype):
    """A numpy function applied as is (eager) or per chunk with dask.array.map_blocks (dask)."""
    import dask.array as da

    if inp.lazy:
        return da.map_blocks(fn, *[_np(a) for a in arrays], dtype=dtype)
    return fn(*[_np(a) for a in arrays])


def _overlap(inp, fn, array, depth: int, boundary, dtype):
    """A numpy stencil function, eager or with dask.array.map_overlap (the idiomatic dask peer)."""
    import dask.array as da

    if inp.lazy:
        return da.map_overlap(fn, _np(array), depth=depth, boundary=boundary, dtype=dtype, trim=True)
    return fn(_np(array))


def _numexpr(inp, fn, *arrays, dtype):
    """A function of numpy arrays that calls ``numexpr.evaluate``, on numexpr's thread pool or per dask chunk.

    Eager: numexpr runs on ``inp.threads`` threads (the run's thread count, or
    the peer's pin, e.g. 1). Dask: ``map_blocks`` with one numexpr thread per
    task, dask's workers being the parallelism.
    """
    import numexpr

    numexpr.set_num_threads(1 if inp.lazy else inp.threads)
    return _blockwise(inp, fn, *arrays, dtype=dtype)


@functools.lru_cache(maxsize=None)
def _gdaldem_threading() -> list[str]:
    """``["-multithread"]`` if this gdaldem lists such an option in its usage; else [] (it computes on one thread)."""
    if tool("gdaldem"):
        return []
    try:
        usage = subprocess.run(["gdaldem", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["-multithread"] if "-multithread" in usage.stdout + usage.stderr else []


if "--worker" not in sys.argv and not tool("gdaldem"):
    RUN_NOTES.append("gdaldem: " + ("run with -multithread" if _gdaldem_threading() else
                                    "its usage (gdaldem --help) has no -multithread option: it computes on one thread "
                                    "whatever --threads; GDAL_NUM_THREADS does not apply to it"))
RUN_NOTES.append("single-threaded whatever --threads: numpy expressions, scipy.ndimage, scikit-image, "
                 "rasterio.features.sieve, gdal_proximity.py, gdal_sieve.py, and xarray-spatial 0.10's numpy paths of "
                 "slope, aspect, classify, focal.apply (its prange sits in a plain @ngjit kernel), cost_distance and "
                 "flow_direction. Multi-threaded: numexpr (its own pool), xarray-spatial's eager proximity (scipy "
                 "cKDTree query with workers=-1: every CPU of the process's affinity)")


# ----------------------------------------------------------------------------
# Terrain: slope (halo 1), aspect, relief
# ----------------------------------------------------------------------------

from evaluate import ops  # noqa: E402


def _xrs(name):
    def run(inp):
        import xrspatial

        return getattr(xrspatial, name)(inp["dem"])

    return run


register(Case(
    "slope", "slope (Horn 3x3)", ("dem",),
    quick=True,
    ours=lambda inp: ops.slope(inp["dem"]),
    scaling=True,
    peers=[
        Peer("gdaldem slope", argv=lambda p, out: ["gdaldem", "slope", "-compute_edges", "-q", *_gdaldem_threading(),
                                                   p["dem"], out],
             skip=tool("gdaldem"), compare=within(1e-3), target=4.0),
        Peer("xrspatial.slope", modes=("eager", "dask"), run=_xrs("slope"), compare=within(1e-3), target=1.5),
    ],
    note="gdaldem reads and computes in float32 (agrees within 1e-3 degrees); xrspatial leaves the grid's edge NaN. "
         "Targets: 4x gdaldem, 1.5x xarray-spatial (eager and dask).",
))

_aspect, _why = optional("evaluate.ops.terrain", "aspect", ("dem",))


def _aspect_within(ours, peer, tol: float, interior: int = 1):
    """Aspects equal to ``tol`` degrees on the circle, away from the edge; flat = NaN in ours, NaN or -9999 in peers."""
    cut = (slice(interior, -interior or None),) * 2
    a, b = ours[cut].astype(np.float64), peer[cut].astype(np.float64)
    if a.shape != b.shape:
        return f"DIFFER: shapes {a.shape} vs {b.shape}"
    b = np.where(b < 0, np.nan, b)  # gdaldem -9999 / ArcGIS -1 for flat cells
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return f"DIFFER: flat/nodata masks differ in {int(np.sum(np.isnan(a) != np.isnan(b)))} cells"
    d = np.abs(a - b)
    d = np.minimum(d, 360.0 - d)
    worst = float(np.nanmax(d)) if np.any(~np.isnan(d)) else 0.0
    return None if worst <= tol else f"DIFFER: max angular |diff| {worst:.3g} > {tol:g} degrees"
register(Case(
    "aspect", "aspect (Horn 3x3)", ("dem",),
    ours=(lambda inp: _aspect(inp["dem"])) if _aspect else None, skip=_why,
    peers=[
        Peer("gdaldem aspect", argv=lambda p, out: ["gdaldem", "aspect", "-compute_edges", "-q", *_gdaldem_threading(),
                                                    p["dem"], out],
             skip=tool("gdaldem"), compare=lambda a, b: _aspect_within(a, b, 0.1)),
        Peer("xrspatial.aspect", modes=("eager", "dask"), run=_xrs("aspect"), compare=lambda a, b: _aspect_within(a, b, 1e-3)),
    ],
    note="compared as angles (359.99 vs 0.01 is 0.02 degrees) away from the edge; gdaldem computes in float32, which "
         "moves the aspect of nearly flat cells by up to ~0.1 degrees.",
))

RELIEF_WINDOW_M = 1000.0  # methods.md §2.2 item 2 default: 33 x 33 cells at 30 m
_relief, _why = optional("evaluate.ops.terrain", "relief", ("dem", "window_m", "mode"))


def _scipy_relief(inp):
    from scipy import ndimage

    side = int(2 * int(RELIEF_WINDOW_M / 30.0 / 2) + 1)

    def rng(block):
        # mode="nearest" repeats edge values, which never changes a max or min: same as a window clipped at the edge
        return ndimage.maximum_filter(block, size=side, mode="nearest") - ndimage.minimum_filter(block, size=side, mode="nearest")

    return _overlap(inp, rng, inp["dem"], side // 2, "nearest", np.float32)


register(Case(
    "relief", f"relief ({RELIEF_WINDOW_M:.0f} m moving window)", ("dem",),
    ours=(lambda inp: _relief(inp["dem"], window_m=RELIEF_WINDOW_M, mode="moving")) if _relief else None, skip=_why,
    peers=[Peer("scipy.ndimage max-min filter", modes=("eager", "dask"), run=_scipy_relief, compare=within(1e-3, interior=0))],
    note="the scipy peer runs eagerly on numpy and through dask.array.map_overlap in dask mode.",
))

# ----------------------------------------------------------------------------
# Focal statistics
# ----------------------------------------------------------------------------

FOCAL_RADIUS_M = 150.0  # a square of 11 x 11 cells at 30 m
_focal, _why = optional("evaluate.ops.focal", "focal", ("values", "stat", "shape", "radius_m"))


def _scipy_mean(inp):
    from scipy import ndimage

    side = 2 * int(FOCAL_RADIUS_M / 30.0) + 1
    return _overlap(inp, lambda b: ndimage.uniform_filter(b, size=side, mode="nearest"), inp["dem"], side // 2, "nearest", np.float32)


def _xrs_focal_mean(inp):
    from xrspatial import focal

    side = 2 * int(FOCAL_RADIUS_M / 30.0) + 1
    return focal.apply(inp["dem"], np.ones((side, side), dtype=np.float64))


register(Case(
    "focal_mean", f"focal mean (square r={FOCAL_RADIUS_M:.0f} m)", ("dem",),
    ours=(lambda inp: _focal(inp["dem"], "mean", "square", radius_m=FOCAL_RADIUS_M)) if _focal else None, skip=_why,
    peers=[
        Peer("scipy.ndimage.uniform_filter", modes=("eager", "dask"), run=_scipy_mean, compare=within(1e-2, interior=5)),
        Peer("xrspatial.focal.apply(mean)", modes=("eager", "dask"), run=_xrs_focal_mean, compare=within(1e-2, interior=5)),
    ],
    note="edge rules differ (ours clips the window, scipy repeats edge cells): compared away from the edge.",
))

# ----------------------------------------------------------------------------
# Classification: grade (reclassify) and the agri_land elementwise chain
# ----------------------------------------------------------------------------

SLOPE_THRESHOLDS_DEG = (2.0, 6.0, 15.0, 25.0)  # models/tables/agriculture.yaml land_slope_grade


def _numpy_grade(slope: np.ndarray) -> np.ndarray:
    """Upper-inclusive grading (v ≤ t1 → 1) as a numpy user writes it; NaN → 0."""
    g = np.ones(slope.shape, dtype=np.uint8)
    for t in SLOPE_THRESHOLDS_DEG:
        g += slope > t
    g[np.isnan(slope)] = 0
    return g


# the grade as a numexpr user writes it: a where-chain, upper-inclusive (v <= t1 -> 1), NaN -> 0. Thresholds go in
# as float32 constants (exact for these values), so numexpr compares float32 without upcasting the slope.
_NE_CONST = {f"t{i}": np.float32(t) for i, t in enumerate(SLOPE_THRESHOLDS_DEG)}
NUMEXPR_GRADE = ("".join(f"where(s <= t{i}, {i + 1}, " for i in range(len(SLOPE_THRESHOLDS_DEG)))
                 + f"where(s == s, {len(SLOPE_THRESHOLDS_DEG) + 1}, 0)" + ")" * len(SLOPE_THRESHOLDS_DEG))


def _numexpr_grade(slope: np.ndarray) -> np.ndarray:
    import numexpr

    return numexpr.evaluate(NUMEXPR_GRADE, local_dict={"s": slope, **_NE_CONST})


def _xrs_reclassify(inp):
    from xrspatial.classify import reclassify

    return reclassify(inp["slope"], bins=[*SLOPE_THRESHOLDS_DEG, np.inf], new_values=[1, 2, 3, 4, 5])


register(Case(
    "grade", "grade (5 classes)", ("slope",),
    quick=True,
    ours=lambda inp: ops.grade(inp["slope"], SLOPE_THRESHOLDS_DEG, better="smaller"),
    bytes_per_cell=4 + 1,  # read float32, write uint8
    peers=[
        Peer("xrspatial.classify.reclassify", modes=("eager", "dask"), run=_xrs_reclassify, compare=identical, target=3.0),
        Peer("numpy comparisons", modes=("eager", "dask"),
             run=lambda inp: _blockwise(inp, _numpy_grade, inp["slope"], dtype=np.uint8), compare=identical),
        Peer("numexpr where-chain", modes=("eager", "dask"),
             run=lambda inp: _numexpr(inp, _numexpr_grade, inp["slope"], dtype=np.int32), compare=identical),
    ],
    bw_target=BW_TARGET,
    note="xrspatial reclassify writes float32 (NaN for nodata), numexpr int32 (it has no 8-bit integers), ours uint8 "
         "(0 for nodata). Targets: 3x xarray-spatial; within 2x of the copy bandwidth.",
))


def _agri_params() -> dict:
    from models import MODELS

    return {k: v["value"] for k, v in MODELS["agri_land"].SPEC.resolve({}).items()}


def _land_grade(inp):
    from models.agri_land import land_grade

    return land_grade(inp["slope"], inp["silt"], _agri_params())


def _numpy_land_grade(slope: np.ndarray, silt: np.ndarray) -> np.ndarray:
    """models.agri_land.land_grade written as plain numpy: grade slope, +1 at 60 ≤ silt < 80 %, worst at ≥ 80 %."""
    g = _numpy_grade(slope)
    steps = np.where(silt >= 80.0, 4, np.where(silt >= 60.0, 1, 0)).astype(np.uint8)
    out = np.minimum(g + steps, 5).astype(np.uint8)
    out[(g == 0) | np.isnan(silt)] = 0
    return out


def _numexpr_land_grade(slope: np.ndarray, silt: np.ndarray) -> np.ndarray:
    """The land_grade chain in numexpr: the grade where-chain, then the silt downgrade in a second expression."""
    import numexpr

    g = numexpr.evaluate(NUMEXPR_GRADE, local_dict={"s": slope, **_NE_CONST})
    return numexpr.evaluate("where((g == 0) | (silt != silt), 0, where(silt >= c80, 5, where(silt >= c60, "
                            "where(g >= 4, 5, g + 1), g)))",
                            local_dict={"g": g, "silt": silt, "c80": np.float32(80.0), "c60": np.float32(60.0)})


register(Case(
    "land_grade", "land_grade chain (grade+lookup+downgrade)", ("slope", "silt"),
    quick=True,
    ours=_land_grade,
    bytes_per_cell=4 + 4 + 1,  # read slope and silt float32, write uint8
    scaling=True,
    peers=[Peer("numpy expression", modes=("eager", "dask"),
                run=lambda inp: _blockwise(inp, _numpy_land_grade, inp["slope"], inp["silt"], dtype=np.uint8),
                compare=identical),
           Peer("numexpr where-chains", modes=("eager", "dask"),
                run=lambda inp: _numexpr(inp, _numexpr_land_grade, inp["slope"], inp["silt"], dtype=np.int32),
                compare=identical)],
    bw_target=BW_TARGET,
    note="models/agri_land.py land_grade on slope (from the DEM) and silt; the numpy and numexpr peers are the same "
         "logic as array expressions (dask: map_blocks of them). Target: within 2x of the copy bandwidth.",
))

# Class breaks (ARCHITECTURE.md Scale class 4: a global reduction, then an elementwise pass)
N_CLASSES = 5
_quantile_breaks, _why_q = optional("evaluate.ops.classify", "quantile_breaks", ("values", "n"))
_natural_breaks, _why_n = optional("evaluate.ops.classify", "natural_breaks", ("values", "n", "bins"))
_classify, _why_c = optional("evaluate.ops.classify", "apply_breaks", ("values", "breaks"))


def _numpy_quantile_classes(inp):
    v = _np(inp["slope"])
    finite = v[np.isfinite(v)]
    breaks = np.quantile(finite, np.arange(1, N_CLASSES) / N_CLASSES, method="inverted_cdf")
    out = (np.searchsorted(breaks, v, side="left") + 1).astype(np.uint8)  # upper-inclusive: v ≤ b1 → 1
    out[~np.isfinite(v)] = 0
    return out


def _xrs_classes(name, **kw):
    def run(inp):
        import xrspatial.classify as xc

        return getattr(xc, name)(inp["slope"], k=N_CLASSES, **kw)

    return run


def _same_classes(share: float):
    """A ``compare`` for peers that pick their own breaks: the share of cells in the same class (xrspatial: 0-based)."""

    def compare(ours, peer):
        b = peer.astype(np.float64)
        b = np.where(np.isnan(b), 0, b + 1)  # xrspatial classes 0 … k-1 and NaN; ours 1 … k and 0
        if ours.shape != b.shape:
            return f"DIFFER: shapes {ours.shape} vs {b.shape}"
        same = float(np.mean(ours.astype(np.float64) == b))
        detail = f"{100 * same:.2f} % of cells in the same class"
        return None if same == 1.0 else (f"agrees ({detail})" if same >= share else f"DIFFER: {detail} < {100 * share:g} %")

    return compare


register(Case(
    "quantile_classes", f"quantile breaks + classify ({N_CLASSES})", ("slope",),
    ours=(lambda inp: _classify(inp["slope"], _quantile_breaks(inp["slope"], N_CLASSES))) if _quantile_breaks and _classify else None,
    skip=_why_q or _why_c,
    peers=[
        Peer("numpy quantile(inverted_cdf)+searchsorted", run=_numpy_quantile_classes, compare=identical),
        Peer("xrspatial.classify.quantile", modes=("eager", "dask"), run=_xrs_classes("quantile", num_sample=20000),
             compare=_same_classes(0.95)),
    ],
    note="ours is exact for any chunking (two-pass rank selection); xrspatial 0.10 interpolates percentiles of all "
         "cells on numpy (num_sample is ignored there) and of a 20000-cell sample on dask (its default), so its "
         "classes differ slightly.",
))
register(Case(
    "natural_breaks", f"natural breaks + classify ({N_CLASSES})", ("slope",),
    ours=(lambda inp: _classify(inp["slope"], _natural_breaks(inp["slope"], N_CLASSES, bins=1024))) if _natural_breaks and _classify else None,
    skip=_why_n or _why_c,
    peers=[Peer("xrspatial.classify.natural_breaks(20000 samples)", modes=("eager", "dask"),
                run=_xrs_classes("natural_breaks", num_sample=20000), compare=_same_classes(0.9))],
    note="ours: Jenks on a 1024-bin histogram of all cells; xrspatial: exact Jenks on a 20000-cell sample.",
))

# Combination of layers (elementwise)
_weighted_sum, _why = optional("evaluate.ops.combine", "weighted_sum", ("layers", "weights"))
WEIGHTS = (0.6, 0.4)


def _numpy_weighted(a, b):
    return (np.float32(WEIGHTS[0]) * a + np.float32(WEIGHTS[1]) * b).astype(np.float32)


def _numexpr_weighted(a, b):
    import numexpr

    # float32 weights keep the expression in float32 (Python float literals would upcast it to float64)
    return numexpr.evaluate("w0 * a + w1 * b", local_dict={"a": a, "b": b, "w0": np.float32(WEIGHTS[0]),
                                                           "w1": np.float32(WEIGHTS[1])})


register(Case(
    "weighted_sum", "weighted_sum (2 layers)", ("slope", "silt"),
    quick=True,
    ours=(lambda inp: _weighted_sum([inp["slope"], inp["silt"]], WEIGHTS)) if _weighted_sum else None, skip=_why,
    bytes_per_cell=4 + 4 + 4,
    peers=[Peer("numpy expression", modes=("eager", "dask"), compare=within(1e-4, interior=0),
                run=lambda inp: _blockwise(inp, _numpy_weighted, inp["slope"], inp["silt"], dtype=np.float32)),
           Peer("numexpr", modes=("eager", "dask"), compare=within(1e-4, interior=0), target=1.0,
                run=lambda inp: _numexpr(inp, _numexpr_weighted, inp["slope"], inp["silt"], dtype=np.float32)),
           Peer("numexpr (1 thread)", modes=("eager",), compare=within(1e-4, interior=0), threads=1,
                run=lambda inp: _numexpr(inp, _numexpr_weighted, inp["slope"], inp["silt"], dtype=np.float32))],
    bw_target=BW_TARGET,
    note="ours accumulates in float64, numpy and numexpr in float32 (agree within 1e-4). 'numexpr' runs on the "
         "run's threads (dask: one per task), 'numexpr (1 thread)' is pinned to one. Targets: 1x numexpr on the same "
         "threads; within 2x of the copy bandwidth.",
))

_matrix_lookup, _why = optional("evaluate.ops.combine", "matrix_lookup", ("matrix", "grades"))
# a 5 x 5 judgement matrix shaped like methods.md §4.4 LAND x WATER: the worse grade dominates
MATRIX = np.array([[1, 1, 2, 3, 5], [1, 2, 2, 3, 5], [2, 2, 3, 4, 5], [3, 3, 4, 4, 5], [4, 4, 5, 5, 5]], dtype=np.uint8)


def _numpy_matrix(g1, g2):
    padded = np.zeros((6, 6), dtype=np.uint8)  # row/column 0 = nodata grade
    padded[1:, 1:] = MATRIX
    return padded[g1, g2]


register(Case(
    "matrix_lookup", "matrix_lookup (5x5 judgement matrix)", ("slope_grade", "silt_grade"),
    ours=(lambda inp: _matrix_lookup(MATRIX, inp["slope_grade"], inp["silt_grade"])) if _matrix_lookup else None, skip=_why,
    bytes_per_cell=1 + 1 + 1,
    bw_target=BW_TARGET,
    peers=[Peer("numpy fancy indexing", modes=("eager", "dask"), compare=identical,
                run=lambda inp: _blockwise(inp, _numpy_matrix, inp["slope_grade"], inp["silt_grade"], dtype=np.uint8))],
))

# ----------------------------------------------------------------------------
# Hydrology: xarray-spatial 0.10's D8 flow direction (pysheds, richdem and WhiteboxTools are not in the venv)
# ----------------------------------------------------------------------------

MAX_SLOPE_LENGTH_M = 300.0
_fdir, _why_fdir = optional("evaluate.ops.hydrology", "flow_direction", ("dem",))
_facc, _why_facc = optional("evaluate.ops.hydrology", "flow_accumulation", ("dem_or_fdir", "max_length_m"))
_ls, _why_ls = optional("evaluate.ops.hydrology", "ls_factor", ("dem", "max_slope_length_m"))
_NO_HYDRO_PEER = ("no peer: pysheds, richdem, WhiteboxTools are not in the venv, and xarray-spatial's "
                  "flow_accumulation is uncapped and stops at its NaN edge, a different job")


def _d8_within(interior: int = 1):
    """Same ESRI D8 codes away from the edge (xrspatial leaves its edge NaN; ours routes edge cells out of the grid)."""

    def compare(ours, peer):
        cut = (slice(interior, -interior or None),) * 2
        a, b = ours[cut].astype(np.float64), peer[cut].astype(np.float64)
        if a.shape != b.shape:
            return f"DIFFER: shapes {a.shape} vs {b.shape}"
        a[a == 255] = np.nan  # our nodata code
        n = int(np.sum((a != b) & ~(np.isnan(a) & np.isnan(b))))
        return None if n == 0 else f"DIFFER in {n} of {a.size} interior cells"

    return compare


def _xrs_flow_direction(inp):
    import xrspatial

    return xrspatial.flow_direction(inp["dem"])


register(Case(
    "flow_direction", "flow_direction (D8)", ("dem",),
    ours=(lambda inp: _fdir(inp["dem"])) if _fdir else None, skip=_why_fdir,
    peers=[Peer("xrspatial.flow_direction (d8)", modes=("eager", "dask"), run=_xrs_flow_direction, compare=_d8_within())],
    note="both write ESRI D8 codes (0 for pits and flats); xrspatial leaves the grid's edge NaN, compared away from it.",
))
register(Case(
    "flow_accumulation", f"flow_accumulation (capped {MAX_SLOPE_LENGTH_M:.0f} m)", ("dem",),
    ours=(lambda inp: _facc(inp["dem"], max_length_m=MAX_SLOPE_LENGTH_M)) if _facc else None, skip=_why_facc,
    note="from the DEM (includes flow_direction); " + _NO_HYDRO_PEER,
))
register(Case(
    "ls_factor", f"ls_factor (λmax {MAX_SLOPE_LENGTH_M:.0f} m)", ("dem",),
    ours=(lambda inp: _ls(inp["dem"], max_slope_length_m=MAX_SLOPE_LENGTH_M)) if _ls else None, skip=_why_ls,
    note=_NO_HYDRO_PEER,
))

# ----------------------------------------------------------------------------
# Distance: Euclidean (capped), cost distance, travel time
# ----------------------------------------------------------------------------

MAX_DISTANCE_M = 3000.0
MAX_COST = 3000.0  # resistance · m; resistance ≥ 1 → halo ⌈3000 / 30⌉ + 1 cells
MAX_MINUTES = 15.0
_distance, _why = optional("evaluate.ops.distance", "distance", ("features", "max_distance_m"))


def _xrs_proximity(inp):
    from xrspatial import proximity

    return proximity(inp["water"], target_values=[1], max_distance=MAX_DISTANCE_M)


def _finite_within(tol: float, share: float = 1.0, cap: float | None = None, nodata: float | None = None):
    """Agreement within ``tol`` on at least ``share`` of the cells, reading 'beyond the cap' alike.

    Ours writes +inf beyond the cap, the peers NaN or nodata; ``cap`` caps an
    uncapped peer (scipy's EDT). GDAL's proximity (and xrspatial's port of
    it) propagates the nearest feature from neighbouring cells, which is not
    always the nearest: a few cells are off by metres.
    """

    def compare(ours, peer):
        a = np.where(np.isinf(ours), np.nan, ours.astype(np.float64))
        b = peer.astype(np.float64)
        if nodata is not None:  # gdal_proximity.py writes -nodata values without declaring them in the file
            b[b == nodata] = np.nan
        if cap is not None:
            b = np.where(b <= cap, b, np.nan)
        if a.shape != b.shape:
            return f"DIFFER: shapes {a.shape} vs {b.shape}"
        mismatch = int(np.sum(np.isnan(a) != np.isnan(b)))
        d = np.abs(a - b)[~np.isnan(a) & ~np.isnan(b)]
        ok = float(np.mean(d <= tol)) if d.size else 1.0
        detail = f"{100 * ok:.3f} % of cells within {tol:g}, max |diff| {d.max() if d.size else 0:.3g}, nodata mismatch {mismatch}"
        return None if ok == 1.0 and mismatch == 0 else (f"agrees ({detail})" if ok >= share and mismatch == 0 else f"DIFFER: {detail}")

    return compare


def _scipy_edt(inp):
    from scipy import ndimage

    dy, dx = (float(v[0]) for v in reversed(inp.grid.cell_size_m()))
    return ndimage.distance_transform_edt(_np(inp["water"]) == 0, sampling=(dy, dx))


register(Case(
    "distance", f"distance (Euclidean, cap {MAX_DISTANCE_M:.0f} m)", ("water",),
    ours=(lambda inp: _distance(inp["water"], max_distance_m=MAX_DISTANCE_M)) if _distance else None, skip=_why,
    peers=[
        Peer("scipy.ndimage.distance_transform_edt", run=_scipy_edt, compare=_finite_within(1e-6, cap=MAX_DISTANCE_M)),
        Peer("gdal_proximity.py", skip=tool("gdal_proximity.py"), compare=_finite_within(0.5, 0.99, nodata=-1.0),
             argv=lambda p, out: ["gdal_proximity.py", "-q", p["water"], out, "-values", "1", "-distunits", "GEO",
                                  "-maxdist", str(MAX_DISTANCE_M), "-nodata", "-1", "-ot", "Float32"]),
        Peer("xrspatial.proximity", modes=("eager", "dask"), run=_xrs_proximity, compare=_finite_within(0.5, 0.99)),
    ],
    note="sources: water cells of the synthetic land use; ours is an exact EDT (float64 metres), scipy's EDT is "
         "exact but uncapped and in-memory only, GDAL's proximity and xrspatial's port of it are approximate.",
))

_cost, _why = optional("evaluate.ops.distance", "cost_distance", ("sources", "resistance", "max_cost", "min_resistance"))


def _xrs_cost(inp):
    from xrspatial import cost_distance

    return cost_distance(inp["water"], inp["friction"], target_values=[1], max_cost=MAX_COST)


register(Case(
    "cost_distance", f"cost_distance (cap {MAX_COST:.0f})", ("water", "friction"),
    ours=(lambda inp: _cost(inp["water"], inp["friction"], MAX_COST, min_resistance=1.0)) if _cost else None, skip=_why,
    peers=[Peer("xrspatial.cost_distance", modes=("eager", "dask"), run=_xrs_cost, compare=_finite_within(0.5))],
    note="8-neighbour Dijkstra with ArcGIS edge costs on both sides; resistance = 1 + slope/5.",
))

_travel, _why = optional("evaluate.ops.distance", "travel_time",
                         ("sources", "speed_m_per_min", "max_minutes", "max_speed_m_per_min"))


def _xrs_travel(inp):
    from xrspatial import cost_distance

    pace = 1.0 / inp["speed"]  # minutes per metre: travel time is cost distance on pace
    return cost_distance(inp["built"], pace, target_values=[1], max_cost=MAX_MINUTES)


register(Case(
    "travel_time", f"travel_time (cap {MAX_MINUTES:.0f} min)", ("built", "speed"),
    ours=(lambda inp: _travel(inp["built"], inp["speed"], MAX_MINUTES,
                              max_speed_m_per_min=max(ROAD_SPEED_M_PER_MIN.values()))) if _travel else None, skip=_why,
    peers=[Peer("xrspatial.cost_distance(1/speed)", modes=("eager", "dask"), run=_xrs_travel, compare=_finite_within(1e-3))],
    note="origins: built-up cells; speed: roads 400–1000 m/min, walking 80/(1+slope/10) m/min, water impassable.",
))

# ----------------------------------------------------------------------------
# Patches and zones (ops/patches.py, ops/zonal.py). Signatures were unknown when these rows were written:
# the parameter names passed to optional() are guesses, so a row stays disabled, saying which names it
# expected, until it matches the landed function (then check the call and the compare).
# ----------------------------------------------------------------------------

MIN_PATCH_CELLS = 10
CELL_M2 = 30.0 * 30.0
EIGHT = np.ones((3, 3), dtype=bool)


def _scipy_label(inp):
    from scipy import ndimage

    return ndimage.label(_np(inp["cropland"]), structure=EIGHT)[0]


def _skimage_label(name):
    def run(inp):
        from skimage.measure import label

        return label(_np(inp[name]), connectivity=2, background=0)

    return run


_label, _why = optional("evaluate.ops.patches", "label", ("classes", "connectivity"))
register(Case(
    "label", "label (cropland patches, 8-conn)", ("cropland",),
    quick=True,
    ours=(lambda inp: _label(inp["cropland"], connectivity=8)) if _label else None, skip=_why,
    peers=[Peer("scipy.ndimage.label", run=_scipy_label, compare=identical, target=1.0),
           Peer("skimage.measure.label", run=_skimage_label("cropland"), compare=identical)],
    note="peers are in-memory only (eager rows); the dask row is ARCHITECTURE.md Scale class 5 (chunk-local labels + "
         "face links solved on the driver).",
))
def _same_partition(ours, peer):
    """A ``compare`` for labellings numbered differently: one peer label per label of ours, and the other way round."""
    if ours.shape != peer.shape:
        return f"DIFFER: shapes {ours.shape} vs {peer.shape}"
    a, b = ours.ravel().astype(np.float64), peer.ravel().astype(np.float64)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    na, nb = len(np.unique(a)), len(np.unique(b))
    return None if len(pairs) == na == nb else f"DIFFER: {na} labels vs {nb}, {len(pairs)} distinct pairs"


def _xrs_regions(inp):
    import xrspatial

    return xrspatial.regions(inp["landuse"], neighborhood=8)


register(Case(
    "label_classes", "label (land-use regions, 8-conn)", ("landuse",),
    ours=(lambda inp: _label(inp["landuse"], connectivity=8)) if _label else None, skip=_why,
    peers=[Peer("skimage.measure.label", run=_skimage_label("landuse"), compare=identical),
           Peer("xrspatial.regions (8-neighbourhood)", modes=("eager", "dask"), run=_xrs_regions,
                compare=_same_partition)],
    note="xarray-spatial numbers its regions in its own order (float64): compared as the same partition of the cells.",
))


def _scipy_patch_area(inp):
    from scipy import ndimage

    labels = ndimage.label(_np(inp["cropland"]), structure=EIGHT)[0]
    areas = np.bincount(labels.ravel()).astype(np.float64) * CELL_M2
    areas[0] = np.nan
    return areas[labels]


_patch_area, _why = optional("evaluate.ops.patches", "patch_area", ("labels", "unit"))
register(Case(
    "patch_area", "label + patch_area (m2)", ("cropland",),
    ours=(lambda inp: _patch_area(_label(inp["cropland"], connectivity=8), unit="m2")) if _patch_area and _label else None,
    skip=_why,
    peers=[Peer("scipy label + bincount", run=_scipy_patch_area, compare=within(1e-6, interior=0))],
))


def _rio_sieve(inp):
    from rasterio import features

    classes = _np(inp["landuse"])
    return features.sieve(classes, size=MIN_PATCH_CELLS, mask=classes != 0, connectivity=8)


_sieve, _why = optional("evaluate.ops.patches", "sieve", ("classes", "threshold_cells", "connectivity"))
register(Case(
    "sieve", f"sieve (< {MIN_PATCH_CELLS} cells, 8-conn)", ("landuse",),
    ours=(lambda inp: _sieve(inp["landuse"], MIN_PATCH_CELLS, connectivity=8)) if _sieve else None, skip=_why,
    peers=[
        Peer("rasterio.features.sieve", run=_rio_sieve, compare=identical),
        Peer("gdal_sieve.py", skip=tool("gdal_sieve.py"), compare=identical,
             argv=lambda p, out: ["gdal_sieve.py", "-q", "-st", str(MIN_PATCH_CELLS), "-8", "-of", "GTiff", p["landuse"], out]),
    ],
    note="on the synthetic land use (三调 codes); gdal_sieve.py includes GeoTIFF read/write.",
))


def _skimage_remove_small(inp):
    from skimage.morphology import remove_small_objects

    # skimage 0.26: objects of at most max_size cells go, i.e. fewer than MIN_PATCH_CELLS
    return remove_small_objects(_np(inp["cropland"]).astype(bool), max_size=MIN_PATCH_CELLS - 1, connectivity=2)


_remove, _why = optional("evaluate.ops.patches", "remove_small_patches", ("mask", "min_area", "unit", "connectivity"))
register(Case(
    "remove_small_patches", f"remove_small_patches (< {MIN_PATCH_CELLS} cells)", ("cropland",),
    ours=(lambda inp: _remove(inp["cropland"], MIN_PATCH_CELLS * CELL_M2, unit="m2", connectivity=8)) if _remove else None,
    skip=_why,
    peers=[Peer("skimage.morphology.remove_small_objects", run=_skimage_remove_small, compare=identical)],
))


def _numpy_zonal_area(inp):
    """Pair codes zone·2**16 + class, counted and weighted by per-row cell areas with np.bincount (hectares)."""
    zones, classes = _np(inp["zones"]).astype(np.int64), _np(inp["landuse"]).astype(np.int64)
    valid = (zones > 0) & (classes > 0)
    code = (zones << 16) | classes
    rows = np.broadcast_to(inp.grid.cell_area_m2()[:, None], zones.shape)
    uniq, inverse = np.unique(code[valid], return_inverse=True)
    cells = np.bincount(inverse)
    area = np.bincount(inverse, weights=rows[valid]) / 10_000.0
    return np.column_stack([uniq >> 16, uniq & 0xFFFF, cells, area])


def _same_table(ours, peer):
    ours = np.asarray(ours, dtype=np.float64)
    if ours.shape != peer.shape:
        return f"DIFFER: table shapes {ours.shape} vs {peer.shape}"
    return None if np.allclose(ours, peer, rtol=1e-12, atol=0) else "DIFFER: table values"


def _xrs_crosstab(inp):
    """xarray-spatial's zone x category cell counts, as rows (zone, class, cells) with cells > 0."""
    import xrspatial

    table = xrspatial.zonal_crosstab(inp["zones"], inp["landuse"], nodata_values=0)
    classes = [c for c in table.columns if c != "zone"]
    counts = table[classes].to_numpy()
    z, k = np.nonzero(counts)
    return np.column_stack([table["zone"].to_numpy()[z], np.asarray(classes, dtype=np.float64)[k], counts[z, k]])


def _same_counts(ours, peer):
    """Our (zone, class, cells, ha) table against a peer's (zone, class, cells) rows."""
    ours = np.asarray(ours, dtype=np.float64)[:, :3]
    peer = np.asarray(peer, dtype=np.float64)
    ours, peer = ours[np.lexsort(ours.T[::-1])], peer[np.lexsort(peer.T[::-1])]
    if ours.shape != peer.shape:
        return f"DIFFER: {len(ours)} (zone, class) pairs vs {len(peer)}"
    return None if np.array_equal(ours, peer) else f"DIFFER: counts differ in {int(np.sum(np.any(ours != peer, axis=1)))} pairs"


_zonal, _why = optional("evaluate.ops.zonal", "zonal_area", ("zones", "classes", "unit"))
register(Case(
    "zonal_area", "zonal_area (land use x zone, ha)", ("zones", "landuse"),
    ours=(lambda inp: _zonal(inp["zones"], inp["landuse"], unit="ha")) if _zonal else None, skip=_why,
    peers=[Peer("numpy unique + bincount", run=_numpy_zonal_area, compare=_same_table),
           Peer("xrspatial.zonal_crosstab (cell counts)", run=_xrs_crosstab, compare=_same_counts)],
    note=f"zones: {ZONE_CELLS}-cell squares (≈30 km counties); the dask row computes the delayed table. "
         "xarray-spatial's crosstab counts cells (no per-row cell areas) and is eager only here: its dask path needs "
         "dask.dataframe, which cannot be imported here (pyarrow is not installed).",
))


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve()))
