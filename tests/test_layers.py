"""The Stack: lazy warping (vs gdalwarp), chunk invariance, vector rasterization per chunk, units and bad inputs."""
import subprocess

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from pyproj import Transformer
from rasterio.features import rasterize

from evaluate.config import InputSpec
from evaluate.grid import Grid
from evaluate.layers import InputError, build_stack, is_coarser, open_layer, sample_raster, to_units
from evaluate.units import UnitsError, check_plausible
from models import MODELS
from tests.helpers import chunkings, no_compute, require_tool, write_raster

GRID = Grid.from_bounds((380000, 2520000, 380000 + 61 * 30, 2520000 + 47 * 30), 30, "EPSG:4547")
LONLAT = "EPSG:4490"


def lonlat_source(tmp_path, res_deg=0.0004, dtype="float32", categorical=False):
    """A smooth (or categorical) raster in geographic CRS covering GRID with margin."""
    to_ll = Transformer.from_crs(GRID.crs, LONLAT, always_xy=True)
    lon0, lat0 = to_ll.transform(GRID.bounds[0] - 500, GRID.bounds[3] + 500)
    lon1, lat1 = to_ll.transform(GRID.bounds[2] + 500, GRID.bounds[1] - 500)
    cols, rows = int((lon1 - lon0) / res_deg) + 1, int((lat0 - lat1) / res_deg) + 1
    r, c = np.mgrid[0:rows, 0:cols]
    if categorical:
        values = ((r // 7 + c // 5) % 4 + 1).astype("int16") * 100
    else:
        values = (500 + 40 * np.sin(c / 9.0) + 30 * np.cos(r / 7.0) + 0.5 * c).astype(dtype)
    transform = Affine(res_deg, 0, lon0, 0, -res_deg, lat0)
    return write_raster(tmp_path / ("cat.tif" if categorical else "cont.tif"), values, crs=LONLAT, transform=transform, nodata=-9999 if not categorical else 0)


def gdalwarp(src, dst, resampling, tmp_path):
    require_tool("gdalwarp")
    b = GRID.bounds
    subprocess.run(
        ["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:4547", "-te", *map(str, b), "-tr", "30", "30", "-r", resampling, "-et", "0", str(src), str(dst)],
        check=True,
    )
    with rasterio.open(dst) as ds:
        return ds.read(1, masked=True)


@pytest.mark.parametrize(
    "res_deg, resampling, gdal_r, rtol",
    [
        # upsampling (source coarser than the grid): bilinear by default; both sides use the exact
        # transformer, so they agree to float32 rounding (bit-identical with gdalwarp 3.6.2)
        (0.0004, None, "bilinear", 2.5e-7),
        # downsampling: average by default, GDAL's coverage-weighted mean of the footprint, computed per
        # cell from the exact transformer, so the fixed tiles change nothing: equal to float32 rounding
        (0.0001, None, "average", 2.5e-7),
        # bilinear forced by the config when downsampling: GDAL sizes the kernel from each processing
        # window's size ratio, we from the whole raster's (fixed, for chunk invariance): ≤ 5e-4
        (0.0001, "bilinear", "bilinear", 5e-4),
    ],
)
def test_reprojected_continuous_raster_lands_where_gdalwarp_puts_it(tmp_path, res_deg, resampling, gdal_r, rtol):
    src = lonlat_source(tmp_path, res_deg)
    ref = gdalwarp(src, tmp_path / "ref.tif", gdal_r, tmp_path)
    spec = InputSpec(path=src, kind="continuous", units="m", resampling=resampling)
    layer = open_layer("dem", spec, GRID, chunk_size=16)
    assert layer.attrs["resampling"] == gdal_r
    ours = layer.values
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref.filled(np.nan).astype(np.float32), rtol=rtol)


def test_reprojected_categorical_raster_matches_gdalwarp_nearest_exactly(tmp_path):
    src = lonlat_source(tmp_path, categorical=True)
    ref = gdalwarp(src, tmp_path / "ref.tif", "near", tmp_path)
    spec = InputSpec(path=src, kind="categorical")
    ours = open_layer("landuse", spec, GRID, chunk_size=13).values
    np.testing.assert_array_equal(ours, np.where(ref.mask, -1, ref.data).astype(np.int32))
    assert set(np.unique(ours)) <= {-1, 100, 200, 300, 400}


@pytest.fixture(scope="module")
def warped_sources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("warp")
    return lonlat_source(tmp, 0.0001), lonlat_source(tmp, categorical=True)


@settings(max_examples=12, deadline=None)
@given(chunks=chunkings(GRID.shape))
def test_warped_layers_do_not_depend_on_chunking(warped_sources, chunks):
    continuous, categorical = warped_sources
    for spec in (InputSpec(path=continuous, kind="continuous", units="m"), InputSpec(path=categorical, kind="categorical")):
        whole = open_layer("a", spec, GRID, chunk_size=4096).values
        chunked = open_layer("a", spec, GRID, chunk_size=4096).chunk({"y": chunks[0], "x": chunks[1]})
        # rechunking a single-block read is not a chunked read: build the read with these chunks directly
        from evaluate import layers

        lazy = layers.open_raster_layer("a", spec, GRID, chunk_size=max(chunks[0] + chunks[1]))
        np.testing.assert_array_equal(lazy.values, whole)
        np.testing.assert_array_equal(chunked.values, whole)


@pytest.mark.parametrize("chunk_size", [1, 5, 16, 64])
def test_warp_chunk_sizes_including_one_cell(warped_sources, chunk_size):
    continuous, _ = warped_sources
    spec = InputSpec(path=continuous, kind="continuous", units="m")
    small = Grid.from_bounds((380000, 2520000, 380000 + 9 * 30, 2520000 + 7 * 30), 30, "EPSG:4547")
    np.testing.assert_array_equal(open_layer("a", spec, small, chunk_size).values, open_layer("a", spec, small, 4096).values)


@pytest.mark.parametrize(
    "scale, coarser",
    [((1.0, 1.0), False), ((0.995, 3.0), False), ((0.98, 3.0), True), ((3.0, 0.5), True), ((2.0, 2.0), False), (None, False)],
)
def test_the_grid_is_coarser_when_its_cell_is_over_one_percent_larger_along_either_axis(scale, coarser):
    assert is_coarser(scale) is coarser


@pytest.mark.parametrize(
    "kind, res_deg, override, expected",
    [
        ("continuous", 0.0004, None, "bilinear"),  # ~34 × 44 m source cells onto 30 m: upsampling
        ("continuous", 0.0001, None, "average"),  # ~9 × 11 m source cells: coarsening
        ("categorical", 0.0004, None, "nearest"),
        ("categorical", 0.0001, None, "mode"),
        ("mask", 0.0001, None, "mode"),
        ("continuous", 0.0001, "bilinear", "bilinear"),  # the config's method wins
        ("categorical", 0.0001, "nearest", "nearest"),
    ],
)
def test_resampling_is_chosen_by_kind_and_grid_unless_the_config_says(tmp_path, kind, res_deg, override, expected):
    src = lonlat_source(tmp_path, res_deg, categorical=kind != "continuous")
    spec = InputSpec(path=src, kind=kind, units="m" if kind == "continuous" else None, resampling=override)
    layer = open_layer("a", spec, GRID, chunk_size=16)
    assert layer.attrs["resampling"] == expected
    if kind == "categorical" and expected == "mode":
        assert set(np.unique(layer.values)) <= {-1, 100, 200, 300, 400}  # only the source's codes


def test_layers_read_on_the_lattice_or_rasterized_record_no_resampling(tmp_path, vector_file):
    path = write_raster(tmp_path / "a.tif", np.ones((47, 61), np.float32), transform=GRID.transform)
    assert open_layer("a", InputSpec(path=path, kind="continuous", units="m", resampling="cubic"), GRID, 16).attrs["resampling"] == "none"
    vector = vector_file[0]
    assert open_layer("z", InputSpec(path=vector, kind="mask"), GRID, 16).attrs["resampling"] == "rasterize"
    assert open_layer("z", InputSpec(path=vector, kind="mask", all_touched=True), GRID, 16).attrs["resampling"] == "rasterize_all_touched"


def test_raster_on_the_grid_lattice_is_read_directly_and_outside_is_nodata(tmp_path):
    values = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    # the source starts 3 columns east and 2 rows south of the grid's corner
    transform = Affine(30, 0, GRID.bounds[0] + 90, 0, -30, GRID.bounds[3] - 60)
    path = write_raster(tmp_path / "a.tif", values, transform=transform, nodata=-1)
    layer = open_layer("a", InputSpec(path=path, kind="continuous", units="m"), GRID, chunk_size=7).values
    np.testing.assert_array_equal(layer[2:22, 3:33], values)
    assert np.isnan(layer[:2]).all() and np.isnan(layer[:, :3]).all() and np.isnan(layer[22:]).all()


def test_nodata_becomes_nan_and_minus_one(tmp_path):
    values = np.array([[1, 2], [255, 4]], dtype=np.uint8)
    transform = Affine(30, 0, GRID.bounds[0], 0, -30, GRID.bounds[3])
    path = write_raster(tmp_path / "c.tif", values, transform=transform, nodata=255)
    cat = open_layer("c", InputSpec(path=path, kind="categorical"), GRID, 8).values
    assert cat[:2, :2].tolist() == [[1, 2], [-1, 4]] and (cat[2:] == -1).all()
    cont = open_layer("c", InputSpec(path=path, kind="continuous", units="m", nodata=4), GRID, 8).values
    assert cont[1, 0] == 255 and np.isnan(cont[1, 1])  # the config's nodata overrides the file's


def write_vectors(path, geoms, values, crs, field="code"):
    from pyogrio.raw import write

    write(path, geometry=shapely.to_wkb(np.asarray(geoms, dtype=object)), field_data=[np.asarray(values)], fields=[field], crs=crs, geometry_type="Unknown", driver="GPKG")
    return path


def polygons_crossing_chunks():
    x0, y0, x1, y1 = GRID.bounds
    rng = np.random.default_rng(5)
    geoms, values = [], []
    for i in range(25):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        r = rng.uniform(40, 400)
        geoms.append(shapely.Point(cx, cy).buffer(r, quad_segs=3 + i % 5))  # overlapping polygons: file order decides
        values.append(i + 1)
    geoms.append(shapely.LineString([(x0 - 100, y0 + 100), (x1 + 100, y1 - 100)]).buffer(20))
    values.append(99)
    return geoms, values


@pytest.fixture(scope="module")
def vector_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vec")
    geoms, values = polygons_crossing_chunks()
    return write_vectors(tmp / "zones.gpkg", geoms, values, "EPSG:4547"), geoms, values


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("chunk", [2, 4, 7, 16, 40, 4096])
def test_vector_rasterization_per_chunk_equals_whole_array(vector_file, all_touched, chunk):
    path, geoms, values = vector_file
    spec = InputSpec(path=path, kind="categorical", attribute="code", all_touched=all_touched)
    ours = open_layer("zones", spec, GRID, chunk).values
    whole = rasterize(zip(geoms, values), out_shape=GRID.shape, transform=GRID.transform, fill=-1, all_touched=all_touched, dtype="int32")
    np.testing.assert_array_equal(ours, whole)
    assert len(np.unique(ours)) > 10


def test_vector_rasterization_with_one_cell_chunks(vector_file):
    path, geoms, values = vector_file
    small = Grid.from_bounds((380600, 2520300, 380600 + 11 * 30, 2520300 + 9 * 30), 30, "EPSG:4547")
    spec = InputSpec(path=path, kind="categorical", attribute="code", all_touched=True)
    whole = rasterize(zip(geoms, values), out_shape=small.shape, transform=small.transform, fill=-1, all_touched=True, dtype="int32")
    np.testing.assert_array_equal(open_layer("zones", spec, small, 1).values, whole)


def test_vector_in_another_crs_and_text_codes(tmp_path):
    geoms, _ = polygons_crossing_chunks()
    to_ll = Transformer.from_crs("EPSG:4547", LONLAT, always_xy=True)
    ll = [shapely.transform(g, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1]))) for g in geoms]
    dlbm = np.array(["0101", "0103", "0301", "05H1"] * 7)[: len(ll)]
    path = write_vectors(tmp_path / "dltb.gpkg", ll, dlbm, LONLAT, field="DLBM")
    codes = {"0101": 101, "0103": 103, "0301": 301, "05H1": 591}
    spec = InputSpec(path=path, kind="categorical", attribute="DLBM", codes=codes)
    ours = open_layer("landuse", spec, GRID, 9).values
    back = Transformer.from_crs(LONLAT, "EPSG:4547", always_xy=True)
    projected = [shapely.transform(g, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1]))) for g in ll]
    whole = rasterize(zip(projected, [codes[c] for c in dlbm]), out_shape=GRID.shape, transform=GRID.transform, fill=-1, dtype="int32")
    np.testing.assert_array_equal(ours, whole)
    with pytest.raises(InputError, match="not in 'codes'"):
        open_layer("landuse", InputSpec(path=path, kind="categorical", attribute="DLBM", codes={"0101": 1}), GRID, 9).values
    with pytest.raises(InputError, match="non-numeric"):
        open_layer("landuse", InputSpec(path=path, kind="categorical", attribute="DLBM"), GRID, 9).values


def test_mask_from_vector_with_constant_burn(vector_file):
    path, geoms, _ = vector_file
    mask = open_layer("m", InputSpec(path=path, kind="mask"), GRID, 11).values
    whole = rasterize(((g, 1) for g in geoms), out_shape=GRID.shape, transform=GRID.transform, fill=0, dtype="uint8")
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, whole)


def test_building_stack_and_models_computes_nothing(tmp_path, vector_file, warped_sources):
    continuous, categorical = warped_sources
    silt = write_raster(tmp_path / "silt.tif", np.full((47, 61), 0.4, np.float32), transform=GRID.transform)
    inputs = {
        "dem": InputSpec(path=continuous, kind="continuous", units="m"),
        "soil_silt": InputSpec(path=silt, kind="continuous", units="fraction"),
        "landuse": InputSpec(path=categorical, kind="categorical"),
        "zones": InputSpec(path=vector_file[0], kind="categorical", attribute="code"),
    }
    with no_compute():
        stack = build_stack(inputs, GRID, chunk_size=16)
        stack["soil_silt"] = to_units(stack["soil_silt"], "percent")
        slope = MODELS["slope"].run({"dem": stack["dem"]}, {}, None)["slope"]
        params = {k: v["value"] for k, v in MODELS["agri_land"].SPEC.resolve({}).items()}
        result = MODELS["agri_land"].run({"slope": slope, "soil_silt": stack["soil_silt"]}, params)
    assert result["agri_land"].data.npartitions == 12
    assert float(stack["soil_silt"].max()) == pytest.approx(40.0)  # fraction → percent, lazily


def test_unit_conversions_and_plausibility():
    precip_m = np.array([0.35, 1.2, 1.8])
    with pytest.raises(UnitsError, match="far too small"):
        check_plausible("precip", "mm/a", precip_m, "input 'precip'")
    check_plausible("precip", "m/a", precip_m, "input 'precip'")  # declared right: converted and fine
    with pytest.raises(UnitsError, match="outside the plausible range"):
        check_plausible("slope", "degrees", np.array([5.0, 120.0]), "input 'slope'")
    with pytest.raises(UnitsError, match="far too small"):
        check_plausible("soil_silt", "percent", np.array([0.2, 0.5, 0.7]), "input 'soil_silt'")
    with pytest.raises(UnitsError, match="outside the plausible range"):
        check_plausible("fvc", "fraction", np.array([10.0, 60.0]), "input 'fvc'")
    with pytest.raises(UnitsError, match="outside the plausible range"):
        check_plausible("tmean_annual", "degC", np.array([280.0, 290.0]), "input 't'")
    check_plausible("tmean_annual", "K", np.array([280.0, 290.0]), "input 't'")
    with pytest.raises(UnitsError, match="cannot convert"):
        check_plausible("precip", "degC", np.array([300.0]), "input 'precip'")


def test_bad_raster_inputs_give_clear_errors(tmp_path):
    values = np.ones((5, 5), np.float32)
    no_crs = write_raster(tmp_path / "nocrs.tif", values, crs=None)
    with pytest.raises(InputError, match="has no CRS"):
        open_layer("dem", InputSpec(path=no_crs, kind="continuous", units="m"), GRID, 8)
    far = write_raster(tmp_path / "far.tif", values, transform=Affine(30, 0, 0, 0, -30, 0))
    with pytest.raises(InputError, match="does not overlap"):
        open_layer("dem", InputSpec(path=far, kind="continuous", units="m"), GRID, 8)
    with pytest.raises(InputError, match="file not found"):
        open_layer("dem", InputSpec(path=tmp_path / "missing.tif", kind="continuous", units="m"), GRID, 8)
    with pytest.raises(InputError, match="band 2 requested"):
        open_layer("dem", InputSpec(path=far, kind="continuous", units="m", band=2), GRID, 8)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="cannot open"):
        open_layer("dem", InputSpec(path=junk, kind="continuous", units="m"), GRID, 8)


def test_sample_is_bounded_and_masks_nodata(tmp_path):
    values = np.arange(600 * 700, dtype=np.float32).reshape(600, 700)
    values[:, :10] = -5
    path = write_raster(tmp_path / "big.tif", values, nodata=-5)
    sample = sample_raster(path, windows=2, size=64)
    assert sample.size == 4 * 64 * 64
    assert np.nanmin(sample) >= 10


# ---------------------------------------------------------------- stencils read their halos from the sources
def _terrain_raster(tmp_path):
    from tests.helpers import terrain

    values = terrain(GRID.height, GRID.width)
    values[10:14, 20:30] = -9999  # nodata edges inside the grid
    return write_raster(tmp_path / "dem.tif", values, transform=GRID.transform, nodata=-9999)


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 16, 4096])
def test_stencils_on_stack_layers_read_padded_windows_and_equal_the_eager_result(tmp_path, warped_sources, vector_file, chunk_size):
    """A stencil over a lattice read, a warped layer (converted km → m), or a rasterized vector reads its halo from the
    file: one task per block (no gathering of neighbouring chunks) and the bits of the eager computation."""
    from evaluate import ops

    specs = {
        "lattice": InputSpec(path=_terrain_raster(tmp_path), kind="continuous", units="m"),
        "warped": InputSpec(path=warped_sources[0], kind="continuous", units="m"),
        "vector": InputSpec(path=vector_file[0], kind="categorical", attribute="code"),
    }
    for name, spec in specs.items():
        layer = open_layer(name, spec, GRID, chunk_size)
        eager_layer = layer.compute()
        if spec.kind == "continuous":
            with no_compute():
                lazy = ops.focal(ops.slope(to_units(layer.assign_attrs(units="km"), "m"), grid=GRID), "max", radius_m=60.0, grid=GRID)
            eager = ops.focal(ops.slope(to_units(eager_layer.assign_attrs(units="km"), "m"), grid=GRID), "max", radius_m=60.0, grid=GRID)
        else:
            with no_compute():
                lazy = ops.focal(layer, "majority", radius_m=45.0, nodata=-1, grid=GRID)
            eager = ops.focal(eager_layer, "majority", radius_m=45.0, nodata=-1, grid=GRID)
        assert len(dict(lazy.data.__dask_graph__())) == lazy.data.npartitions, name
        np.testing.assert_array_equal(lazy.values, eager.values, err_msg=name)


def test_the_configs_nodata_adds_to_the_files_and_a_conflicting_pair_on_a_warp_is_refused(tmp_path):
    """issue 10: `nodata: -1` over a file tagged −9999 made the −9999 cells values (warp) or was ignored (lattice)."""
    values = np.full(GRID.shape, 40.0, np.float32)
    values[2, 3], values[5, 5] = -1, -9999
    on_lattice = write_raster(tmp_path / "lattice.tif", values, transform=GRID.transform, nodata=-9999)
    layer = open_layer("s", InputSpec(path=on_lattice, kind="continuous", units="percent", nodata=-1), GRID, 8).values
    assert np.isnan(layer[2, 3]) and np.isnan(layer[5, 5]) and np.isfinite(layer).sum() == GRID.size - 2
    shifted = write_raster(tmp_path / "shifted.tif", values, transform=GRID.transform * Affine.translation(0.5, 0), nodata=-9999)
    with pytest.raises(InputError, match="the config's nodata -1 differs from the file's nodata tag -9999") as info:
        open_layer("s", InputSpec(path=shifted, kind="continuous", units="percent", nodata=-1), GRID, 8)
    assert info.value.key == "nodata"
    same = open_layer("s", InputSpec(path=shifted, kind="continuous", units="percent", nodata=-9999), GRID, 8).values
    assert np.nanmin(same) >= -1  # the −9999 holes stay holes when the values agree


def test_points_are_refused_and_lines_need_all_touched(tmp_path):
    """issue 10: points given as an area layer kept 0.014 % of cells, lines given as a mask were burnt by centre."""
    x0, y0, x1, y1 = GRID.bounds
    points = write_vectors(tmp_path / "towns.gpkg", [shapely.Point(x0 + 100, y0 + 100), shapely.Point(x0 + 700, y0 + 400)], [1, 2], "EPSG:4547")
    with pytest.raises(InputError, match="holds points \\(Point\\), which cover no area") as info:
        open_layer("towns", InputSpec(path=points, kind="mask", burn=1), GRID, 16)
    assert info.value.key == "path"
    line = shapely.LineString([(x0 + 15, y0 + 15), (x1 - 15, y1 - 15)])
    rivers = write_vectors(tmp_path / "rivers.gpkg", [line], [1], "EPSG:4547")
    with pytest.raises(InputError, match="set all_touched: true") as info:
        open_layer("rivers", InputSpec(path=rivers, kind="mask", burn=1), GRID, 16)
    assert info.value.key == "all_touched"
    burnt = open_layer("rivers", InputSpec(path=rivers, kind="mask", burn=1, all_touched=True), GRID, 16).values
    whole = rasterize([(line, 1)], out_shape=GRID.shape, transform=GRID.transform, all_touched=True, dtype="uint8")
    np.testing.assert_array_equal(burnt, whole)
    assert burnt.sum() >= GRID.width
