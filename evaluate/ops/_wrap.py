"""The one wrapper that turns a numba kernel into an xarray operator, eager or dask.

Operators never call ``.compute()``: a dask input gives a lazy dask output, a
numpy input an eager one, and both go through the very same kernel call per
block so the results are bit-identical whatever the chunking.
"""
from __future__ import annotations

from typing import Callable, Sequence

import dask.array as da
import numpy as np
import xarray as xr


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
    else:
        data = func(*[np.asarray(a.data) for a in arrays])
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

    def prepared(a):
        data = a.data
        if isinstance(fill, float) and np.isnan(fill) and not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float64)
        return data

    sources = [prepared(a) for a in arrays]
    if any(_is_dask(a) for a in arrays):
        chunks = next(a.data.chunks for a in arrays if _is_dask(a))
        # a halo cannot be wider than a chunk: compute on merged chunks, hand back the caller's
        work = tuple(da.overlap.ensure_minimum_chunksize(max(halo, 1), c) for c in chunks)
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
        padded = [np.pad(np.asarray(s), halo, mode="constant", constant_values=fill) for s in sources]
        padded_rows = [np.pad(np.asarray(a, dtype=np.float64), halo, mode="edge") for a in row_args]
        data = func(*padded, *padded_rows)
    return _like(first, data, name, attrs)
