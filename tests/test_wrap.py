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
