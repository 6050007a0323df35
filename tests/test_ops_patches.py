"""Patches and zonal areas: global ids vs scipy, areas vs numpy, small patches vs skimage, sieve vs rasterio/GDAL.

Every chunked result is compared with the eager one (bit-identical) for random
chunkings including 1-cell-wide chunks, with patches crossing chunk corners
through diagonal-only contacts, and built without any compute.
"""
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rasterio.features
import xarray as xr
from dask.delayed import Delayed
from hypothesis import given, settings
from scipy import ndimage
from skimage.morphology import remove_small_holes, remove_small_objects

from evaluate.grid import SQUARE_METRES_PER_MU, Grid, coords_of, georeference
from evaluate.ops.patches import fill_small_holes, label, patch_area, remove_small_patches, sieve, small_patch_halo
from evaluate.ops.zonal import zonal_area
from tests.helpers import chunkings, no_compute

SHAPE = (23, 29)
PROJECTED = Grid.from_bounds((400_000, 2_500_000, 400_000 + SHAPE[1] * 30, 2_500_000 + SHAPE[0] * 30), 30, "EPSG:4547")
# rows far enough apart in latitude that every row has its own ellipsoidal cell area
GEOGRAPHIC = Grid.from_bounds((100.0, 40.0, 100.0 + SHAPE[1] * 0.01, 40.0 + SHAPE[0] * 0.01), 0.01, "EPSG:4490")
STRUCTURE = {8: np.ones((3, 3), dtype=int), 4: ndimage.generate_binary_structure(2, 1)}
SKIMAGE_CONNECTIVITY = {8: 2, 4: 1}


def as_array(values: np.ndarray, grid: Grid = PROJECTED) -> xr.DataArray:
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x"), name="layer"), grid)


def chunked(array: xr.DataArray, chunks) -> xr.DataArray:
    return array.chunk({"y": chunks[0], "x": chunks[1]})


def patchy_mask(seed: int, shape=SHAPE) -> np.ndarray:
    """Random blobs plus a checkerboard band, whose 8-connected patches touch only diagonally."""
    rng = np.random.default_rng(seed)
    mask = ndimage.uniform_filter(rng.random(shape), 3) > 0.55
    rows, cols = np.indices(shape)
    band = (rows > shape[0] // 3) & (rows < shape[0] // 3 + 6)
    mask[band] = ((rows + cols) % 2 == 0)[band]
    mask |= rng.random(shape) < 0.08
    return mask


def canonical(ids: np.ndarray) -> np.ndarray:
    """Renumber a partition 1..n in row-major order of each part's first cell (0 stays 0)."""
    flat = ids.ravel()
    uniq, first = np.unique(flat, return_index=True)
    order = np.argsort(first[uniq != 0])
    lut = np.zeros(uniq.max() + 1 if len(uniq) else 1, dtype=np.int64)
    lut[uniq[uniq != 0][order]] = np.arange(1, len(order) + 1)
    return lut[ids]


MASK = patchy_mask(0)
CLASSES = np.random.default_rng(1).integers(0, 4, SHAPE).astype(np.uint8)
CLASSES[ndimage.uniform_filter(np.random.default_rng(2).random(SHAPE), 4) > 0.55] = 2  # some large regions too


# label --------------------------------------------------------------------------
@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("seed", [0, 3, 7])
def test_label_ids_equal_scipy_on_masks(seed, connectivity):
    mask = patchy_mask(seed)
    ours = label(as_array(mask), connectivity=connectivity)
    ref, n = ndimage.label(mask, STRUCTURE[connectivity])
    assert ours.dtype == np.int32 and n > 10
    # scipy numbers patches in raster order of their first cell, as we do: the ids agree exactly
    np.testing.assert_array_equal(ours.values, ref)


@pytest.mark.parametrize("connectivity", [8, 4])
def test_label_class_regions_join_only_equal_values(connectivity):
    ref = np.zeros(SHAPE, dtype=np.int64)
    for value in (1, 2, 3):
        parts, n = ndimage.label(CLASSES == value, STRUCTURE[connectivity])
        ref[parts > 0] = parts[parts > 0] + ref.max()
    ours = label(as_array(CLASSES), connectivity=connectivity).values
    np.testing.assert_array_equal(ours, canonical(ref))
    assert np.all((ours == 0) == (CLASSES == 0))


def test_label_treats_nan_and_zero_as_background():
    values = np.array([[1.0, np.nan, 1.0], [0.0, 2.0, 2.0], [np.nan, 0.0, 2.0]])
    np.testing.assert_array_equal(label(as_array(values, Grid.from_bounds((0, 0, 3, 3), 1, "EPSG:4547"))).values, [[1, 0, 2], [0, 3, 3], [0, 0, 3]])


@pytest.mark.parametrize("connectivity, expected", [(8, 1), (4, 4)])
@pytest.mark.parametrize("diagonal", ["main", "anti"])
def test_label_links_diagonal_only_contacts_across_a_chunk_corner(diagonal, connectivity, expected):
    mask = np.zeros((4, 4), dtype=bool)
    cells = [(0, 0), (1, 1), (2, 2), (3, 3)] if diagonal == "main" else [(0, 3), (1, 2), (2, 1), (3, 0)]
    for cell in cells:
        mask[cell] = True
    grid = Grid.from_bounds((0, 0, 4, 4), 1, "EPSG:4547")
    for chunks in [((2, 2), (2, 2)), ((1, 1, 1, 1), (1, 1, 1, 1)), ((1, 3), (3, 1))]:
        lazy = label(chunked(as_array(mask, grid), chunks), connectivity=connectivity)
        assert lazy.values.max() == expected, chunks


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE))
def test_label_ids_are_identical_for_any_chunking(chunks):
    with no_compute():
        mask_ids = label(chunked(as_array(MASK), chunks))
        class_ids = label(chunked(as_array(CLASSES), chunks), connectivity=4)
    assert isinstance(mask_ids.data, da.Array)
    np.testing.assert_array_equal(mask_ids.values, label(as_array(MASK)).values)
    np.testing.assert_array_equal(class_ids.values, label(as_array(CLASSES), connectivity=4).values)


def test_label_checkerboard_in_one_cell_chunks_is_one_patch():
    rows, cols = np.indices((7, 9))
    board = (rows + cols) % 2 == 0
    grid = Grid.from_bounds((0, 0, 9, 7), 1, "EPSG:4547")
    ids = label(as_array(board, grid).chunk(1)).values
    assert set(np.unique(ids)) == {0, 1}
    assert label(as_array(board, grid).chunk(1), connectivity=4).values.max() == board.sum()


def test_label_rejects_bad_connectivity():
    with pytest.raises(ValueError, match="connectivity"):
        label(as_array(MASK), connectivity=6)


# patch area ---------------------------------------------------------------------
def reference_patch_area(ids: np.ndarray, row_areas: np.ndarray) -> np.ndarray:
    weights = np.broadcast_to(row_areas[:, None], ids.shape)
    totals = np.bincount(ids.ravel(), weights=weights.ravel())
    return np.where(ids > 0, totals[ids], np.nan)


@pytest.mark.parametrize("unit, per_m2", [("m2", 1.0), ("ha", 1e-4), ("mu", 1 / SQUARE_METRES_PER_MU), ("km2", 1e-6)])
def test_patch_area_matches_numpy_with_per_row_ellipsoidal_areas(unit, per_m2):
    row_areas = GEOGRAPHIC.cell_area_m2()
    assert np.ptp(row_areas) > 1e3  # the rows really differ
    ids = label(as_array(MASK, GEOGRAPHIC))
    ours = patch_area(ids, unit=unit)
    ref = reference_patch_area(ids.values, row_areas) * per_m2
    np.testing.assert_allclose(ours.values, ref, rtol=1e-12)
    assert np.array_equal(np.isnan(ours.values), ~MASK)
    assert ours.attrs["units"] == unit


def test_patch_area_in_cells_counts_cells():
    ids = label(as_array(MASK, GEOGRAPHIC))
    counts = np.bincount(ids.values.ravel())
    np.testing.assert_array_equal(patch_area(ids, unit="cells").values[MASK], counts[ids.values[MASK]])


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE))
def test_patch_area_is_bit_identical_for_any_chunking(chunks):
    eager = patch_area(label(as_array(MASK, GEOGRAPHIC)), unit="ha")
    with no_compute():
        lazy = patch_area(label(chunked(as_array(MASK, GEOGRAPHIC), chunks)), unit="ha")
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.values, eager.values)


# small patches and holes --------------------------------------------------------
@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("cells", [2, 4, 9])
def test_remove_small_patches_matches_skimage(cells, connectivity):
    # a patch of n cells of 900 m² goes when 900·n < 900·cells, i.e. n ≤ cells − 1
    ours = remove_small_patches(as_array(MASK), cells * 900.0, unit="m2", connectivity=connectivity)
    ref = remove_small_objects(MASK, max_size=cells - 1, connectivity=SKIMAGE_CONNECTIVITY[connectivity])
    assert ours.dtype == bool and (MASK != ref).sum() > 0
    np.testing.assert_array_equal(ours.values, ref)


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("cells", [2, 5])
def test_fill_small_holes_matches_skimage(cells, connectivity):
    mask = ~patchy_mask(5)
    sk = SKIMAGE_CONNECTIVITY[connectivity]
    with_edges = fill_small_holes(as_array(mask), cells * 900.0, connectivity=connectivity, edge_holes=True)
    np.testing.assert_array_equal(with_edges.values, remove_small_holes(mask, max_size=cells - 1, connectivity=sk))
    # background touching the grid's edge is not enclosed: skimage on a mask framed by background agrees
    enclosed = fill_small_holes(as_array(mask), cells * 900.0, connectivity=connectivity)
    framed = remove_small_holes(np.pad(mask, 1, constant_values=False), max_size=cells - 1, connectivity=sk)[1:-1, 1:-1]
    np.testing.assert_array_equal(enclosed.values, framed)
    assert (with_edges.values != enclosed.values).any() and (enclosed.values != mask).any()


def test_small_patches_on_a_geographic_grid_follow_exact_patch_areas():
    ids = label(as_array(MASK, GEOGRAPHIC))
    area = patch_area(ids, unit="ha").values
    distinct = np.unique(area[MASK])
    assert len(distinct) > 6
    threshold = float(distinct[4] + distinct[5]) / 2  # halfway between two patch areas: no ties
    expected = MASK & ~(area < threshold)
    ours = remove_small_patches(as_array(MASK, GEOGRAPHIC), threshold, unit="ha")
    np.testing.assert_array_equal(ours.values, expected)
    assert (expected != MASK).any()
    assert ours.attrs["halo_cells"] == small_patch_halo(threshold * 1e4, GEOGRAPHIC.cell_area_m2())


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE))
def test_small_patch_removal_and_hole_filling_are_identical_for_any_chunking(chunks):
    mask = as_array(MASK, GEOGRAPHIC)
    area = 4.5 * GEOGRAPHIC.cell_area_m2().max() / 1e4
    with no_compute():
        removed = remove_small_patches(chunked(mask, chunks), area, unit="ha")
        filled = fill_small_holes(chunked(mask, chunks), area, unit="ha")
    np.testing.assert_array_equal(removed.values, remove_small_patches(mask, area, unit="ha").values)
    np.testing.assert_array_equal(filled.values, fill_small_holes(mask, area, unit="ha").values)


# sieve --------------------------------------------------------------------------
def gdal_sieve(classes: np.ndarray, threshold: int, connectivity: int) -> np.ndarray:
    return rasterio.features.sieve(classes, threshold, mask=classes != 0, connectivity=connectivity)


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("threshold", [2, 3, 5, 12])
@pytest.mark.parametrize("seed", [1, 4])
def test_sieve_matches_rasterio(seed, threshold, connectivity):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 5, SHAPE).astype(np.uint8)
    classes[ndimage.uniform_filter(rng.random(SHAPE), 5) > 0.53] = 3
    ours = sieve(as_array(classes), threshold, connectivity=connectivity)
    ref = gdal_sieve(classes, threshold, connectivity)
    assert ours.dtype == np.uint8 and (ref != classes).any()
    np.testing.assert_array_equal(ours.values, ref)


def test_sieve_follows_chains_of_small_polygons_across_chunks():
    # one-cell polygons 2,3,2,3,... right of a 4-cell polygon of 1 (nodata rows above and below):
    # each takes its first-met equal-size neighbour, to the left, and the chain ends in the 1s
    strip = np.zeros((3, 30), dtype=np.uint8)
    strip[1, :4] = 1
    strip[1, 4:] = np.where(np.arange(26) % 2 == 0, 2, 3)
    ref = gdal_sieve(strip, 2, 8)
    assert np.all(ref[1] == 1)
    grid = Grid.from_bounds((0, 0, 30, 3), 1, "EPSG:4547")
    for chunks in [((3,), (3,) * 10), ((1, 1, 1), (1,) * 30)]:
        np.testing.assert_array_equal(sieve(chunked(as_array(strip, grid), chunks), 2).values, ref)


def test_sieve_leaves_cycles_and_isolated_small_polygons():
    # two one-cell polygons that are each other's biggest neighbour, and one surrounded by nodata
    classes = np.array([[0, 0, 0, 0, 0], [0, 1, 2, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 3, 0]], dtype=np.uint8)
    grid = Grid.from_bounds((0, 0, 5, 4), 1, "EPSG:4547")
    np.testing.assert_array_equal(sieve(as_array(classes, grid), 3).values, classes)
    np.testing.assert_array_equal(gdal_sieve(classes, 3, 8), classes)


SIEVE_CLASSES = np.random.default_rng(9).integers(0, 4, SHAPE).astype(np.int16)
SIEVE_REF = {c: gdal_sieve(SIEVE_CLASSES, 4, c) for c in (4, 8)}


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE))
def test_sieve_is_identical_to_gdal_for_any_chunking(chunks):
    with no_compute():
        lazy = {c: sieve(chunked(as_array(SIEVE_CLASSES), chunks), 4, connectivity=c) for c in (4, 8)}
    for c in (4, 8):
        assert lazy[c].dtype == np.int16
        np.testing.assert_array_equal(lazy[c].values, SIEVE_REF[c])


# zonal areas --------------------------------------------------------------------
ZONES = np.zeros(SHAPE, dtype=np.int32)
ZONES[:, :10] = 540102
ZONES[:12, 10:] = 540103
ZONES[12:, 15:] = 540104  # a corner outside every zone stays 0
ZONE_CLASSES = np.random.default_rng(3).integers(0, 5, SHAPE).astype(np.uint8)


def reference_zonal(zones, classes, row_areas, per_m2):
    valid = (zones != 0) & (classes != 0)
    pair_zone, pair_class = np.unique(np.stack([zones[valid], classes[valid]]), axis=1)
    code = np.full(zones.shape, -1)
    for k, (z, c) in enumerate(zip(pair_zone, pair_class)):
        code[(zones == z) & (classes == c)] = k
    weights = np.broadcast_to(row_areas[:, None], zones.shape)[code >= 0]
    area = np.bincount(code[code >= 0], weights=weights) * per_m2
    cells = np.bincount(code[code >= 0])
    return pair_zone, pair_class, cells, area


@pytest.mark.parametrize("unit, per_m2", [("ha", 1e-4), ("mu", 1 / SQUARE_METRES_PER_MU), ("m2", 1.0)])
def test_zonal_area_matches_bincount_with_per_row_areas(unit, per_m2):
    table = zonal_area(as_array(ZONES, GEOGRAPHIC), as_array(ZONE_CLASSES, GEOGRAPHIC), unit=unit)
    assert isinstance(table, pd.DataFrame)
    zone, klass, cells, area = reference_zonal(ZONES, ZONE_CLASSES, GEOGRAPHIC.cell_area_m2(), per_m2)
    np.testing.assert_array_equal(table["zone"], zone)
    np.testing.assert_array_equal(table["class"], klass)
    np.testing.assert_array_equal(table["cells"], cells)
    np.testing.assert_allclose(table[f"area_{unit}"], area, rtol=1e-12)
    assert set(table["zone"]) == {540102, 540103, 540104} and 0 not in set(table["class"])


def test_zonal_area_treats_nan_as_nodata():
    zones = ZONES.astype(np.float64)
    zones[0, :5] = np.nan
    table = zonal_area(as_array(zones, GEOGRAPHIC), as_array(ZONE_CLASSES, GEOGRAPHIC), unit="ha")
    assert table["cells"].sum() == ((ZONES != 0) & (ZONE_CLASSES != 0)).sum() - (ZONE_CLASSES[0, :5] != 0).sum()


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE))
def test_zonal_area_is_lazy_and_identical_for_any_chunking(chunks):
    eager = zonal_area(as_array(ZONES, GEOGRAPHIC), as_array(ZONE_CLASSES, GEOGRAPHIC), unit="mu")
    with no_compute():
        lazy = zonal_area(chunked(as_array(ZONES, GEOGRAPHIC), chunks), chunked(as_array(ZONE_CLASSES, GEOGRAPHIC), chunks), unit="mu")
    assert isinstance(lazy, Delayed)
    pd.testing.assert_frame_equal(lazy.compute(), eager, check_exact=True)


def test_area_units_are_checked():
    with pytest.raises(ValueError, match="unit"):
        patch_area(label(as_array(MASK)), unit="acre")
    with pytest.raises(ValueError, match="unit"):
        zonal_area(as_array(ZONES), as_array(ZONE_CLASSES), unit="cells")
