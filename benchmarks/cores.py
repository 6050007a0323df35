"""How numba's threads and dask's threads should share the cores: measured, not assumed.

Compares, on the same DEM and in one process per threading layer, Horn slope computed
1. by the single-threaded ``nogil`` kernel in the calling thread (``serial``);
2. by the same kernel over row strips on the eager thread pool of ``evaluate.ops._wrap`` (``strips``);
3. by a numba ``parallel=True`` (``prange``) twin of the kernel, under the given threading layer;
4. under dask's threaded scheduler (chunks of ``--chunk``): the nogil kernel per chunk (``dask+nogil``)
   and the prange twin per chunk (``dask+prange``: dask threads × numba threads);
and checks that every variant gives the same bits as the serial call, also when several dask
threads call the kernel at once.

Run: ``python benchmarks/cores.py [--size 8192] [--chunk 2048] [--layer workqueue|omp|tbb]``.
Each threading layer needs a fresh process (numba picks it at the first parallel launch).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numba
import numpy as np

from evaluate.kernels.terrain import _atan_nonnegative, _horn_row, _horn_weights, horn_slope
from evaluate.ops._wrap import eager_threads, run_in_row_strips


def make_dem(n: int) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    return (500 + 300 * np.sin(x / 200) * np.cos(y / 150) + 50 * np.sin(x / 13 + y / 17)).astype(np.float32)


@numba.njit(nogil=True, parallel=True, cache=False, error_model="numpy")
def prange_slope(padded, dx_rows, dy_rows):
    """The Horn slope of ``evaluate.kernels.horn_slope`` with rows spread by ``prange``."""
    rows, cols = padded.shape[0] - 2, padded.shape[1] - 2
    out = np.empty((rows, cols), dtype=np.float32)
    for i in numba.prange(rows):
        dzdx = np.empty(cols)
        dzdy = np.empty(cols)
        wa, wm, wb, wy = _horn_weights(dx_rows, dy_rows, i)
        _horn_row(padded[i], padded[i + 1], padded[i + 2], wa, wm, wb, wy, dzdx, dzdy)
        for j in range(cols):
            out[i, j] = math.degrees(_atan_nonnegative(math.sqrt(dzdx[j] * dzdx[j] + dzdy[j] * dzdy[j])))
    return out


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--layer", default="workqueue", choices=["workqueue", "omp", "tbb"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    numba.config.THREADING_LAYER = args.layer

    import dask
    import dask.array as da

    n = args.size
    dem = make_dem(n)
    padded = np.pad(dem, 1, constant_values=np.nan)
    dx = np.full(n + 2, 30.0)
    dy = np.full(n + 2, 30.0)
    reference = horn_slope(padded, dx, dy, False)

    def strips():
        return run_in_row_strips(lambda r0, r1: horn_slope(padded[r0 : r1 + 2], dx[r0 : r1 + 2], dy[r0 : r1 + 2], False), (n, n), np.float32)

    lazy = da.from_array(dem, chunks=args.chunk)
    overlapped = da.overlap.overlap(lazy, depth=1, boundary=np.nan)
    dx_col = da.from_array(dx[1:-1, None], chunks=(args.chunk, 1))
    dx_pad = da.overlap.overlap(dx_col, depth={0: 1, 1: 0}, boundary={0: "nearest", 1: "none"})

    def per_chunk(kernel):
        return da.map_blocks(lambda b, d: kernel(b, np.ascontiguousarray(d[:, 0]), np.ascontiguousarray(d[:, 0])), overlapped, dx_pad, dtype=np.float32, chunks=lazy.chunks)

    dask_nogil = per_chunk(lambda b, d, e: horn_slope(b, d, e, False))
    dask_prange = per_chunk(prange_slope)
    variants = {
        "serial": lambda: horn_slope(padded, dx, dy, False),
        "strips": strips,
        f"prange ({args.layer})": lambda: prange_slope(padded, dx, dy),
        "dask+nogil": lambda: dask_nogil.compute(scheduler="threads"),
    }
    if args.layer == "workqueue":
        # measured: numba aborts the whole process ("Concurrent access has been detected")
        print("dask+prange (workqueue): skipped, the workqueue layer terminates the process when dask threads call a prange kernel at once")
    else:
        variants[f"dask+prange ({args.layer})"] = lambda: dask_prange.compute(scheduler="threads")
    cores = eager_threads()
    print(f"{n}² cells, {cores} cores, numba {numba.__version__}, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, chunk {args.chunk}")
    print(f"{'variant':28s} {'median s':>9s} {'Mcells/s':>9s} {'vs serial':>9s}  same bits")
    base = None
    for name, fn in variants.items():
        try:
            wall = timed(fn, args.repeats)
            same = np.array_equal(fn(), reference, equal_nan=True)
        except Exception as exc:  # a layer that cannot run concurrent callers says so here
            print(f"{name:28s} failed: {type(exc).__name__}: {exc}")
            continue
        base = base or wall
        print(f"{name:28s} {wall:9.3f} {n * n / wall / 1e6:9.1f} {base / wall:9.2f}  {same}")
    with dask.config.set(scheduler="threads", num_workers=cores):
        print("threading layer used by prange:", numba.threading_layer())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
