"""The one wrapper that turns a numba kernel into an xarray operator, eager or dask.

Operators never call ``.compute()``: a dask input gives a lazy dask output, a
numpy input an eager one, and both go through the very same kernel call per
block so the results are bit-identical whatever the chunking.

How the cores are shared (measured in ``benchmarks/threading.py``): kernels are
single-threaded ``nogil`` numba functions, and parallelism comes from Python
threads over blocks. On the lazy path those are dask's threads (or a
dask.distributed worker's), one kernel call per chunk. On the eager path the
wrapper cuts the array into row strips and runs them on a shared pool of
:func:`eager_threads` threads; a strip is just a chunking along y, so the
result is bit-identical to a single call by the same contract that makes dask
chunkings identical. No kernel uses numba's own ``parallel=True`` threads: under
dask they would oversubscribe the cores (dask threads × numba threads) and
numba's default ``workqueue`` layer is not safe for concurrent callers.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import dask.array as da
from dask.base import tokenize
import numpy as np
import xarray as xr

#: eager arrays below this many cells run in the calling thread (a pool hand-off costs more)
PARALLEL_MIN_CELLS = 1 << 20
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def eager_threads() -> int:
    """Threads for eager (numpy) operators: ``$DUALEVAL_THREADS``, else every core this process may use."""
    value = os.environ.get("DUALEVAL_THREADS")
    if value:
        return max(1, int(value))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _strip_pool(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != threads:
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="dualeval-eager", initializer=_mark_pool_thread)
        return _pool


def _mark_pool_thread() -> None:
    _in_pool.active = True


def run_in_row_strips(strip: Callable[[int, int], np.ndarray], shape: tuple[int, ...], dtype) -> np.ndarray:
    """``strip(r0, r1)`` for row strips covering an array of ``shape``, run on the eager pool and stacked along y.

    Each pool thread copies its strip into the result itself (a strip of
    another dtype or shape than announced is stacked afterwards instead).
    Runs as one call in the calling thread when the array is small, when one
    thread is configured, or when called from a pool thread (no nested pools).
    """
    rows, cells = shape[0], int(np.prod(shape))
    threads = eager_threads()
    if threads == 1 or cells < PARALLEL_MIN_CELLS or rows < 2 or getattr(_in_pool, "active", False):
        return strip(0, rows)
    out = np.empty(shape, dtype=dtype)

    def into_out(r0, r1):
        block = strip(r0, r1)
        if block.dtype != out.dtype or block.shape[1:] != out.shape[1:]:
            return block
        out[r0:r1] = block
        return None

    parts = min(rows, 2 * threads)  # a few more strips than threads evens out uneven rows (nodata, edges)
    edges = np.linspace(0, rows, parts + 1).astype(int)
    pool = _strip_pool(threads)
    futures = [(r0, r1, pool.submit(into_out, int(r0), int(r1))) for r0, r1 in zip(edges[:-1], edges[1:])]
    blocks = [(r0, r1, f.result()) for r0, r1, f in futures]
    if all(block is None for _, _, block in blocks):
        return out
    return np.concatenate([out[r0:r1] if block is None else block for r0, r1, block in blocks], axis=0)


def padded_window(read: Callable[[int, int, int, int], np.ndarray], r0: int, r1: int, c0: int, c1: int, halo: int, fill, shape, prepare=None) -> np.ndarray:
    """Rows ``r0:r1``, columns ``c0:c1`` of a (rows, cols) array widened by ``halo`` cells, ``fill`` beyond its edge.

    ``read(r0, r1, c0, c1)`` gives any window inside the array; ``prepare``
    converts what it reads (e.g. integers to float64 for a NaN fill). This is
    the padding ``da.overlap`` applies at the grid's edge, so a kernel sees the
    same padded block on every path.
    """
    rows, cols = shape
    top, bottom, left, right = r0 - halo, r1 + halo, c0 - halo, c1 + halo
    inner = read(max(top, 0), min(bottom, rows), max(left, 0), min(right, cols))
    if prepare is not None:
        inner = prepare(inner)
    if top >= 0 and left >= 0 and bottom <= rows and right <= cols:
        return inner
    out = np.full((bottom - top, right - left), fill, dtype=inner.dtype)
    out[max(top, 0) - top : min(bottom, rows) - top, max(left, 0) - left : min(right, cols) - left] = inner
    return out


# --------------------------------------------------------------------------- window sources
WindowReader = Callable[[int, int, int, int], np.ndarray]
#: dask array name → a reader of any window of it; bounded so a long session cannot grow it without end
_window_readers: OrderedDict[str, WindowReader] = OrderedDict()
_WINDOW_READERS_KEPT = 4096


def register_window_source(array: da.Array, read_window: WindowReader) -> da.Array:
    """Declare that ``read_window(r0, r1, c0, c1)`` computes ``array[r0:r1, c0:c1]`` from scratch.

    This is how stencils keep their memory bounded by the chunks in flight
    (ARCHITECTURE.md, "Scale"): a stencil whose inputs all have a window
    source reads each padded block straight from the sources, a halo's worth
    of recomputation, instead of gathering the neighbouring chunks. Gathering
    makes every chunk wait in memory for its neighbours in the next chunk
    row, so peak memory would grow with the grid's width (measured: 128 MiB
    more per 2048-cell chunk column for slope + grade). The reader must give
    exactly the bits of the array's own blocks for any window inside the
    grid (lattice reads, rasterized vectors, exact warps — any window warps to
    the same bits, tests/test_warp_exact.py and tests/test_layers.py — and
    every elementwise or stencil operator built on them do). An
    evicted or missing reader only means the gathering path is used.
    """
    _window_readers[array.name] = read_window
    _window_readers.move_to_end(array.name)
    while len(_window_readers) > _WINDOW_READERS_KEPT:
        _window_readers.popitem(last=False)
    return array


def from_window_reader(read_window: WindowReader, chunks, dtype, name: str) -> da.Array:
    """A dask array whose every block is ``read_window`` of its location, registered as its window source."""

    def block(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return read_window(r0, r1, c0, c1)

    data = da.map_blocks(block, chunks=chunks, dtype=dtype, meta=np.empty((0, 0), dtype=dtype), name=name)
    return register_window_source(data, read_window)


def window_reader(data) -> WindowReader | None:
    """The window reader of a dask array (None if it has none), or a slicer of a numpy array."""
    if isinstance(data, da.Array):
        return _window_readers.get(data.name)
    array = np.asarray(data)
    return lambda r0, r1, c0, c1: array[r0:r1, c0:c1]


def _is_dask(array: xr.DataArray) -> bool:
    return isinstance(array.data, da.Array)


def _like(template: xr.DataArray, data, name: str | None, attrs: dict | None) -> xr.DataArray:
    out = xr.DataArray(data, coords=template.coords, dims=template.dims, name=name or template.name)
    out.attrs = dict(attrs or {})
    return out


def map_cells(
    func: Callable[..., np.ndarray],
    *arrays: xr.DataArray,
    dtype: np.dtype | type,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Apply an elementwise block function (halo 0) to aligned arrays.

    ``func`` receives numpy blocks of identical shape and returns one block of
    that shape. Dask inputs are unified to common chunks (ARCHITECTURE.md,
    class 1 "Elementwise": map_blocks, no halo).
    """
    first = arrays[0]
    for other in arrays[1:]:
        if other.shape != first.shape or other.dims != first.dims:
            raise ValueError(f"arrays are not aligned: {first.dims}{first.shape} vs {other.dims}{other.shape}")
    if any(_is_dask(a) for a in arrays):
        chunks = next(a.data.chunks for a in arrays if _is_dask(a))
        blocks = [a.data.rechunk(chunks) if _is_dask(a) else da.from_array(a.data, chunks=chunks) for a in arrays]
        data = da.map_blocks(func, *blocks, dtype=dtype, meta=np.empty((0,) * first.ndim, dtype=dtype))
        readers = [window_reader(a.data) for a in arrays]
        if first.ndim == 2 and all(readers):
            register_window_source(data, lambda r0, r1, c0, c1: func(*[read(r0, r1, c0, c1) for read in readers]))
    else:
        blocks = [np.asarray(a.data) for a in arrays]
        if first.ndim == 0:
            data = func(*blocks)
        else:
            data = run_in_row_strips(lambda r0, r1: func(*[b[r0:r1] for b in blocks]), first.shape, dtype)
    return _like(first, data, name, attrs)


def map_stencil(
    func: Callable[..., np.ndarray],
    arrays: xr.DataArray | Sequence[xr.DataArray],
    halo: int,
    *,
    row_args: Sequence[np.ndarray] = (),
    fill: float | int = np.nan,
    dtype: np.dtype | type,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Apply a fixed-stencil kernel with a halo of ``halo`` cells (ARCHITECTURE.md class 2).

    ``func(*padded_blocks, *padded_row_args)`` receives each array's block
    padded by ``halo`` cells on every side (``fill`` beyond the grid's edge;
    integer arrays keep their dtype, so give an integer ``fill`` for them) and
    each per-row argument padded by ``halo`` rows (edge values repeated), and
    returns the unpadded block. Per-row arguments are 1-D arrays of length
    ``rows``, e.g. geodesic cell widths. The eager path pads the whole array
    the same way and makes the same call, so results are identical whatever
    the chunking.
    """
    arrays = [arrays] if isinstance(arrays, xr.DataArray) else list(arrays)
    first = arrays[0]
    if first.ndim != 2 or any(a.shape != first.shape for a in arrays):
        raise ValueError(f"map_stencil needs aligned 2-D (y, x) arrays, got {[a.shape for a in arrays]}")
    rows = first.shape[0]
    for arg in row_args:
        if np.shape(arg) != (rows,):
            raise ValueError(f"row argument of shape {np.shape(arg)} does not match {rows} rows")

    to_float = isinstance(fill, float) and np.isnan(fill)

    def prepared(data):
        # NaN cannot pad an integer array: such inputs are computed in float64
        if to_float and not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float64)
        return data

    readers = [window_reader(a.data) for a in arrays]
    if any(_is_dask(a) for a in arrays) and all(readers):
        data = _windowed_stencil(func, readers, prepared, halo, row_args, fill, first.shape, dtype, next(a.data.chunks for a in arrays if _is_dask(a)), [a.data for a in arrays])
    elif any(_is_dask(a) for a in arrays) and halo >= min(first.shape):
        # a halo as wide as the grid: one task over the whole (small) grid, padded by fill
        chunks = next(a.data.chunks for a in arrays if _is_dask(a))
        sources = [prepared(a.data) for a in arrays]
        sources = [da.pad(s.rechunk(-1) if isinstance(s, da.Array) else da.from_array(s, chunks=-1), halo, mode="constant",
                          constant_values=fill) for s in sources]
        rows_padded = [np.pad(np.asarray(arg, dtype=np.float64), halo, mode="edge") for arg in row_args]
        data = da.map_blocks(lambda *parts: func(*parts, *rows_padded), *[s.rechunk(-1) for s in sources], chunks=((first.shape[0],), (first.shape[1],)),
                             dtype=dtype, meta=np.empty((0, 0), dtype=dtype)).rechunk(chunks)
    elif any(_is_dask(a) for a in arrays):
        chunks = next(a.data.chunks for a in arrays if _is_dask(a))
        # a halo cannot be wider than a chunk: compute on merged chunks, hand back the caller's
        work = tuple(da.overlap.ensure_minimum_chunksize(max(halo, 1), c) for c in chunks)
        sources = [prepared(a.data) for a in arrays]
        sources = [s.rechunk(work) if isinstance(s, da.Array) else da.from_array(s, chunks=work) for s in sources]
        padded = [da.overlap.overlap(s, depth={0: halo, 1: halo}, boundary={0: fill, 1: fill}) for s in sources]
        padded_rows = []
        for arg in row_args:
            column = da.from_array(np.asarray(arg, dtype=np.float64)[:, None], chunks=(work[0], 1))
            padded_rows.append(da.overlap.overlap(column, depth={0: halo, 1: 0}, boundary={0: "nearest", 1: "none"}))
        n = len(padded)

        def block(*parts):
            return func(*parts[:n], *[np.ascontiguousarray(c[:, 0]) for c in parts[n:]])

        data = da.map_blocks(block, *padded, *padded_rows, chunks=work, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
        if work != chunks:
            data = data.rechunk(chunks)
    else:
        padded_rows = [np.pad(np.asarray(a, dtype=np.float64), halo, mode="edge") for a in row_args]
        cols = first.shape[1]

        def strip(r0, r1):
            # each strip pads its own rows (in parallel), exactly as the dask path pads a chunk
            blocks = [padded_window(read, r0, r1, 0, cols, halo, fill, first.shape, prepared) for read in readers]
            return func(*blocks, *[r[r0 : r1 + 2 * halo] for r in padded_rows])

        data = run_in_row_strips(strip, first.shape, dtype)
    return _like(first, data, name, attrs)


def _windowed_stencil(func, readers, prepared, halo, row_args, fill, shape, dtype, chunks, inputs) -> da.Array:
    """The dask path of :func:`map_stencil` when every input has a window source.

    Each output block is one task that reads its inputs' windows widened by
    the halo (``fill`` beyond the grid's edge, as ``da.overlap`` pads) and
    calls the kernel: no task depends on a neighbouring chunk, so the chunks
    in flight bound the memory. The result is registered as a window source
    itself, so chains of stencils stay independent block by block.
    """
    padded_rows = [np.pad(np.asarray(a, dtype=np.float64), halo, mode="edge") for a in row_args]

    def compute_window(r0, r1, c0, c1):
        blocks = [padded_window(read, r0, r1, c0, c1, halo, fill, shape, prepared) for read in readers]
        return func(*blocks, *[np.ascontiguousarray(r[r0 : r1 + 2 * halo]) for r in padded_rows])

    token = tokenize(func, [getattr(a, "name", None) for a in inputs], halo, fill, dtype, chunks, *padded_rows)
    return from_window_reader(compute_window, chunks, dtype, f"stencil-{token}")
