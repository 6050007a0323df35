"""The shared operator wrapper: halos wider than chunks, several inputs, integer fills."""
import numpy as np
import xarray as xr
from hypothesis import given, settings
from scipy import ndimage

from evaluate.ops._wrap import map_cells, map_stencil
from tests.helpers import chunkings, no_compute

VALUES = xr.DataArray(np.random.default_rng(0).normal(size=(20, 23)), dims=("y", "x"))
LABELS = xr.DataArray(np.random.default_rng(1).integers(0, 4, size=(20, 23)), dims=("y", "x"))
HALO = 4


def box_max(padded, labels):
    """Max over a (2·HALO+1)² window of cells whose label equals the centre's (a two-input stencil)."""
    h = HALO
    out = np.empty((padded.shape[0] - 2 * h, padded.shape[1] - 2 * h))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            win = padded[i : i + 2 * h + 1, j : j + 2 * h + 1]
            same = labels[i : i + 2 * h + 1, j : j + 2 * h + 1] == labels[i + h, j + h]
            out[i, j] = np.nanmax(np.where(same, win, np.nan))
    return out


EAGER = map_stencil(box_max, [VALUES, LABELS], HALO, fill=-1, dtype=np.float64)


def test_eager_stencil_matches_scipy_on_a_single_label():
    ones = xr.zeros_like(LABELS)
    ref = ndimage.maximum_filter(VALUES.values, size=2 * HALO + 1, mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(map_stencil(box_max, [VALUES, ones], HALO, fill=-1, dtype=np.float64).values, ref)


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((20, 23)))
def test_halo_wider_than_chunks_gives_the_eager_result_and_the_callers_chunks(chunks):
    lazy_values = VALUES.chunk({"y": chunks[0], "x": chunks[1]})
    with no_compute():
        lazy = map_stencil(box_max, [lazy_values, LABELS], HALO, fill=-1, dtype=np.float64)
    assert lazy.data.chunks == chunks
    np.testing.assert_array_equal(lazy.values, EAGER.values)


def test_map_cells_aligns_numpy_and_dask_inputs():
    lazy = map_cells(np.add, VALUES.chunk({"y": 7}), LABELS, dtype=np.float64)
    np.testing.assert_array_equal(lazy.values, VALUES.values + LABELS.values)


def test_eager_row_strips_on_the_thread_pool_give_the_single_call_bits(monkeypatch):
    import evaluate.ops._wrap as wrap

    single = map_stencil(box_max, [VALUES, LABELS], HALO, fill=-1, dtype=np.float64).values
    monkeypatch.setattr(wrap, "PARALLEL_MIN_CELLS", 0)
    for threads in ("1", "2", "3", "7"):
        monkeypatch.setenv("DUALEVAL_THREADS", threads)
        np.testing.assert_array_equal(map_stencil(box_max, [VALUES, LABELS], HALO, fill=-1, dtype=np.float64).values, single)
        np.testing.assert_array_equal(map_cells(np.multiply, VALUES, LABELS, dtype=np.float64).values, VALUES.values * LABELS.values)
        # integers padded with NaN are computed in float64; a kernel returning another dtype than announced is stacked as is
        np.testing.assert_array_equal(
            map_stencil(lambda p: p[1:-1, 1:-1] - p[:-2, 1:-1], LABELS, 1, dtype=np.float32).values,
            np.concatenate([np.full((1, 23), np.nan), LABELS.values[1:] - LABELS.values[:-1]]),
        )


def test_strips_actually_run_on_several_threads(monkeypatch):
    import threading

    import evaluate.ops._wrap as wrap

    seen = set()

    def record(block):
        seen.add(threading.get_ident())
        return block + 1

    monkeypatch.setattr(wrap, "PARALLEL_MIN_CELLS", 0)
    monkeypatch.setenv("DUALEVAL_THREADS", "2")
    out = map_cells(record, xr.DataArray(np.zeros((64, 8)), dims=("y", "x")), dtype=np.float64)
    assert (out.values == 1).all() and len(seen) >= 1 and threading.get_ident() not in seen


def test_slope_kernel_called_from_many_dask_threads_at_once_gives_the_eager_bits():
    """Several dask threads run the nogil kernel concurrently (no shared state): same bits as one eager call."""
    import dask

    from evaluate import ops
    from evaluate.grid import Grid, coords_of, georeference
    from tests.helpers import CRS, ORIGIN, RES, terrain

    values = terrain(300, 280)
    values[40:60, 100:130] = np.nan  # nodata edges take the kernel's slow path
    grid = Grid.from_bounds([ORIGIN[0], ORIGIN[1] - 300 * RES, ORIGIN[0] + 280 * RES, ORIGIN[1]], RES, CRS)
    dem = georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid)
    eager = ops.slope(dem).values
    lazy = ops.slope(dem.chunk({"y": 23, "x": 31}))
    with dask.config.set(scheduler="threads", num_workers=8):
        for _ in range(3):
            np.testing.assert_array_equal(lazy.values, eager)


# ---------------------------------------------------------------- stencils over window sources
def windowed(values: xr.DataArray, chunks) -> xr.DataArray:
    """A dask-backed copy of ``values`` that declares a window source (as file-backed layers do)."""
    from evaluate.ops._wrap import register_window_source

    lazy = values.chunk({"y": chunks[0], "x": chunks[1]})
    array = np.asarray(values.values)
    register_window_source(lazy.data, lambda r0, r1, c0, c1: array[r0:r1, c0:c1])
    return lazy


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((20, 23)))
def test_stencil_over_window_sources_reads_padded_windows_and_gives_the_eager_bits(chunks):
    with no_compute():
        lazy = map_stencil(box_max, [windowed(VALUES, chunks), windowed(LABELS, chunks)], HALO, fill=-1, dtype=np.float64)
    assert lazy.data.chunks == chunks
    assert len(dict(lazy.data.__dask_graph__())) == lazy.data.npartitions  # one task per block: none waits for a neighbour
    np.testing.assert_array_equal(lazy.values, EAGER.values)


@settings(max_examples=10, deadline=None)
@given(chunks=chunkings((20, 23)))
def test_a_chain_of_three_stencils_and_an_elementwise_step_stays_block_independent(chunks):
    def mean3(padded):
        return (padded[:-2, :-2] + padded[1:-1, 1:-1] + padded[2:, 2:]) / 3.0

    def chain(values):
        first = map_stencil(mean3, values, 1, fill=0.0, dtype=np.float64)
        second = map_cells(np.sqrt, map_cells(np.abs, first, dtype=np.float64), dtype=np.float64)
        third = map_stencil(mean3, second, 1, fill=0.0, dtype=np.float64)
        return map_stencil(lambda p: box_max(p, np.zeros_like(p)), third, HALO, fill=-1.0, dtype=np.float64)

    with no_compute():
        lazy = chain(windowed(VALUES, chunks))
    assert len(dict(lazy.data.__dask_graph__())) == lazy.data.npartitions
    np.testing.assert_array_equal(lazy.values, chain(VALUES).values)


def test_integer_inputs_with_a_nan_fill_are_computed_in_float_on_both_paths():
    def centre_minus_up(padded):
        return padded[1:-1, 1:-1] - padded[:-2, 1:-1]

    eager = map_stencil(centre_minus_up, LABELS, 1, dtype=np.float64).values
    lazy = map_stencil(centre_minus_up, windowed(LABELS, ((7, 13), (10, 13))), 1, dtype=np.float64).values
    assert np.isnan(eager[0]).all() and np.isfinite(eager[1:]).all()
    np.testing.assert_array_equal(lazy, eager)
