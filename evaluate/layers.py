"""The Stack: every input aligned lazily onto the run grid as a dask-backed DataArray.

Rasters in any CRS, resolution and extent are warped window by window
(GDAL's warper through ``rasterio.warp.reproject`` with the exact transformer,
on fixed 512-cell tiles); a raster on the grid's own lattice is read directly.
Vectors are rasterized per block from the features whose bounding box meets
the block (read with the file's spatial index). Building the stack reads only
metadata: no pixel is read until an output is written.

Resampling (see :func:`resolve_resampling`): continuous layers are
interpolated bilinearly where the grid is as fine as the source or finer and
averaged (GDAL ``average``: coverage-weighted mean) where it is coarser;
categorical layers and masks take the nearest source cell, or the GDAL
``mode`` where the grid is coarser. A config ``resampling:`` overrides this.
Each layer records the method used in ``attrs["resampling"]``.

Nodata representation on the grid: continuous layers are float32 with NaN;
categorical layers are int32 with −1; masks are uint8 0/1 (nodata and
"outside" are 0).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from rasterio.enums import Resampling
from rasterio.warp import reproject
from affine import Affine
from rasterio.windows import Window

from evaluate import units as units_mod
from evaluate.config import COARSER_TOLERANCE, InputSpec
from evaluate.grid import Grid, coords_of, georeference
from evaluate.ops._wrap import from_window_reader, map_cells, register_window_source

CATEGORICAL_NODATA = -1
WARP_TILE = 512  # cells per side of the fixed tiles on which rasters are warped
_DTYPES = {"continuous": np.float32, "categorical": np.int32, "mask": np.uint8}


class InputError(ValueError):
    """An input that cannot be aligned onto the grid (missing, unreadable, no CRS, no overlap...).

    ``key`` is the config key at fault (``path``, ``band``, ``units``, ``attribute``, ``codes``...).
    """

    def __init__(self, name: str, path, detail: str, key: str = "path"):
        self.name, self.path, self.detail, self.key = name, path, detail, key
        super().__init__(f"input '{name}' ({path}): {detail}")


def chunks_for(grid: Grid, chunk_size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Dask chunks of ``chunk_size`` × ``chunk_size`` cells over the grid."""
    return da.core.normalize_chunks((chunk_size, chunk_size), grid.shape)


# --------------------------------------------------------------------------- rasters
def _same_lattice(src_crs, src_transform, grid: Grid) -> tuple[int, int] | None:
    """(row, col) offset of the grid in the source if both share CRS, cell size and cell edges."""
    if src_crs is None or src_crs != grid.crs:
        return None
    s, g = src_transform, grid.transform
    if s.b or s.d or not (np.isclose(s.a, g.a, rtol=1e-9) and np.isclose(s.e, g.e, rtol=1e-9)):
        return None
    col = (g.c - s.c) / s.a
    row = (g.f - s.f) / s.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(row)), int(round(col))


def _finish(values: np.ndarray, valid: np.ndarray, kind: str) -> np.ndarray:
    if kind == "continuous":
        out = values.astype(np.float32)
        out[~valid] = np.nan
    elif kind == "categorical":
        out = values.astype(np.int32)
        out[~valid] = CATEGORICAL_NODATA
    else:
        out = ((values != 0) & valid).astype(np.uint8)
    return out


_WARP_FILL = {"continuous": np.nan, "categorical": np.iinfo(np.int32).min, "mask": np.iinfo(np.int32).min}


def warp_window(src, band: int, *, kind: str, src_nodata, resampling: str, scale, dst_crs, dst_transform, shape) -> np.ndarray:
    """One window of a raster warped by GDAL onto the grid lattice, before conversion to the layer's dtype.

    Parameters
    ----------
    src : rasterio.DatasetReader
        The open source raster.
    band : int
        1-based band.
    kind : {"continuous", "categorical", "mask"}
        Selects the buffer: float64 filled with NaN (continuous) or int32
        filled with ``_WARP_FILL`` (class codes and masks).
    src_nodata : float or None
        Source nodata value; GDAL leaves such cells out of every kernel.
    resampling : str
        A ``rasterio.enums.Resampling`` name, already resolved
        (:func:`resolve_resampling`).
    scale : tuple of float or None
        Destination pixels per source pixel for the whole raster
        (:func:`_warp_scale`); where below 1 it is passed to GDAL as
        ``XSCALE``/``YSCALE``.
    dst_crs, dst_transform, shape
        The window on the grid.

    Returns
    -------
    numpy.ndarray
        GDAL's result. With ``tolerance=0`` every destination cell centre is
        transformed exactly (no approximate transformer), so a bilinear value
        in this float64 buffer equals the 4-neighbour formula evaluated at
        that centre (≤ 2.3e-9 m on the SRTM DEM of tests/test_warp_exact.py;
        GDAL's default 0.125-pixel approximation errs by up to 0.87 m there).
    """
    fill = _WARP_FILL[kind]
    values = np.full(shape, fill, dtype=np.float64 if kind == "continuous" else np.int32)
    # GDAL widens the bilinear/cubic kernel only when downsampling (scale < 1), from each
    # processing window's size ratio unless XSCALE/YSCALE are given: fix it there from the whole
    # raster; upsampling and average/mode/nearest do not use it
    extra = {} if scale is None or min(scale) >= 1 else {"XSCALE": min(scale[0], 1.0), "YSCALE": min(scale[1], 1.0)}
    reproject(
        rasterio.band(src, band),
        values,
        src_nodata=src_nodata,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        dst_nodata=fill,
        init_dest_nodata=True,
        resampling=Resampling[resampling],
        # the exact transformer: GDAL's approximate one is interpolated per window, so its
        # errors (up to 0.125 px by default) would change with the chunking
        tolerance=0.0,
        **extra,
    )
    return values


def _read_raster_window(r0, r1, c0, c1, *, layer_name, path, band, kind, nodata, resampling, grid_crs, grid_transform, offset, scale, plausible):
    """Rows ``r0:r1``, columns ``c0:c1`` of a raster input on the grid (runs inside a dask task).

    Any window gives the bits of the same cells read in any other window: a
    lattice read is a plain copy, and the warp transforms every cell centre
    exactly with a kernel fixed for the whole raster (tests/test_warp_exact.py).
    Every cell read is checked against ``plausible`` (low, high in the
    layer's declared units), so an implausible value the sampled pre-check
    missed (unmarked −9999 holes) fails the run before anything is committed;
    a damaged file is an :class:`InputError` too.
    """
    try:
        values = _read_raster_cells(r0, r1, c0, c1, path, band, kind, nodata, resampling, grid_crs, grid_transform, offset, scale)
    except rasterio.errors.RasterioError as exc:
        raise InputError(layer_name, path, f"cannot read grid rows {r0}–{r1}, columns {c0}–{c1}: {str(exc)[:200]}; the file may be damaged (re-export it)") from None
    if plausible is not None and kind == "continuous" and np.isfinite(values).any():
        low, high, declared = plausible
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        if lo < low or hi > high:
            raise InputError(
                layer_name, path,
                f"grid rows {r0}–{r1}, columns {c0}–{c1} hold values {lo:g}..{hi:g} {declared}, outside the plausible {low:g}..{high:g}: "
                "unmarked nodata (set nodata: to that value) or wrong units",
                key="nodata",
            )
    return values


def _read_raster_cells(r0, r1, c0, c1, path, band, kind, nodata, resampling, grid_crs, grid_transform, offset, scale):
    shape = (r1 - r0, c1 - c0)
    with rasterio.open(path) as src:
        src_nodata = src.nodata if nodata is None else nodata
        if offset is not None:
            shifted = Window(c0 + offset[1], r0 + offset[0], shape[1], shape[0])
            inside = shifted.col_off >= 0 and shifted.row_off >= 0 and c1 + offset[1] <= src.width and r1 + offset[0] <= src.height
            # rasterio's boundless reads go through a VRT: only pay for it where the window leaves the source
            data = src.read(band, window=shifted, boundless=not inside, masked=True, fill_value=src_nodata)
            values, valid = np.ma.getdata(data), ~np.ma.getmaskarray(data)
            if src_nodata is not None and values.dtype.kind == "f" and np.isnan(src_nodata):
                valid &= ~np.isnan(values)
            elif nodata is not None:
                valid &= values != nodata  # the config's value, on top of the file's own mask
        else:
            values = warp_window(
                src, band, kind=kind, src_nodata=src_nodata, resampling=resampling, scale=scale,
                dst_crs=grid_crs, dst_transform=grid_transform @ Affine.translation(c0, r0), shape=shape,
            )
            valid = ~np.isnan(values) if kind == "continuous" else values != _WARP_FILL[kind]
    if values.dtype.kind == "f":
        valid &= np.isfinite(values)
    return _finish(values, valid, kind)


def _warp_scale(src, grid: Grid) -> tuple[float, float] | None:
    """Destination pixels per source pixel along x and y, fixed for the whole warp (GDAL XSCALE/YSCALE).

    The source's extent transformed to the grid CRS, divided by its pixel
    counts, over the grid's cell size: a value below 1 means a grid cell is
    larger than a source cell (downsampling). GDAL otherwise derives the
    resampling kernel's footprint from each processing window's size ratio;
    fixing it from the whole raster's extent gives every window the same
    kernel.
    """
    from rasterio.warp import transform_bounds

    try:
        xmin, ymin, xmax, ymax = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    except Exception:
        return None
    return (xmax - xmin) / src.width / grid.transform.a, (ymax - ymin) / src.height / abs(grid.transform.e)


def is_coarser(scale: tuple[float, float] | None) -> bool:
    """Whether the grid is coarser than the source: a grid cell more than 1 % larger along either axis.

    ``scale`` is :func:`_warp_scale` (destination pixels per source pixel).
    The tolerance (``config.COARSER_TOLERANCE``) keeps a grid of the source's
    own cell size in another CRS, where the transformed extent makes the
    ratio wobble around 1, on the upsampling methods.
    """
    return scale is not None and min(scale) < 1.0 - COARSER_TOLERANCE


def resolve_resampling(spec: InputSpec, scale: tuple[float, float] | None) -> str:
    """The GDAL resampling method used to warp a raster input onto the grid.

    The config's ``resampling:`` wins. Otherwise, by kind: where the grid is
    as fine as the source or finer, ``bilinear`` for continuous layers (GDAL:
    4-neighbour interpolation at the cell centre, source pixel centres at
    +0.5) and ``nearest`` for class codes and masks; where it is coarser
    (:func:`is_coarser`), ``average`` for continuous layers (GDAL ≥ 3.1: the
    mean of the valid source pixels under the destination cell, each weighted
    by the fraction of it covered) and ``mode`` for class codes and masks
    (GDAL ≥ 3.11: the code covering the largest part of the destination cell,
    ties broken by GDAL's scan order; older GDAL counted every touched source
    pixel once). Interpolating class codes is refused by the config.
    """
    return spec.resampling_for(coarser=is_coarser(scale))


def open_raster_layer(name: str, spec: InputSpec, grid: Grid, chunk_size: int) -> xr.DataArray:
    """A lazy DataArray of a raster input on ``grid`` (metadata is read now, pixels at compute time).

    A raster on the grid's lattice (same CRS, cell size and cell edges) is
    read directly (``attrs["resampling"] == "none"``); any other is warped
    with the method of :func:`resolve_resampling` on fixed
    ``WARP_TILE``-cell tiles, then rechunked to ``chunk_size``, so its values
    do not depend on the chunking.
    """
    path = spec.path
    try:
        with rasterio.open(path) as src:
            if spec.band > src.count:
                raise InputError(name, path, f"band {spec.band} requested but the file has {src.count}", key="band")
            if src.crs is None:
                raise InputError(name, path, "the raster has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4547)")
            if src.transform.b or src.transform.d:
                raise InputError(name, path, "rotated rasters are not supported; warp it to a north-up grid first")
            offset = _same_lattice(src.crs, src.transform, grid)
            if offset is None and spec.nodata is not None and src.nodata is not None and not _same_value(spec.nodata, src.nodata):
                # GDAL's warper honours one source nodata value: the file's would silently become data
                raise InputError(
                    name, path,
                    f"the config's nodata {spec.nodata:g} differs from the file's nodata tag {src.nodata:g}, and a warped raster can "
                    f"honour only one: set nodata: {src.nodata:g}, or re-tag the file (gdal_edit.py -a_nodata) if {spec.nodata:g} marks its holes",
                    key="nodata",
                )
            if offset is None:
                _check_overlap(name, path, src.crs, src.bounds, grid)
            elif not _windows_overlap(offset, (src.height, src.width), grid.shape):
                raise InputError(name, path, f"extent does not overlap the run grid {grid.bounds}")
            scale = None if offset is not None else _warp_scale(src, grid)
    except rasterio.errors.RasterioIOError as exc:
        if not Path(path).exists():
            raise InputError(name, path, "file not found") from None
        raise InputError(name, path, f"cannot open as a raster: {exc}") from None
    resampling = "none" if offset is not None else resolve_resampling(spec, scale)
    dtype = _DTYPES[spec.kind]
    # warped reads always run on the same fixed tiles, then are rechunked: GDAL's warper is
    # deterministic per output window but not across window layouts (kernel footprint, optimised
    # float32 paths), so this makes warped layers independent of the run's chunking
    read_chunks = chunks_for(grid, chunk_size if offset is not None else WARP_TILE)
    read_window = functools.partial(
        _read_raster_window,
        layer_name=name,
        plausible=_plausible_range(name, spec),
        path=str(path),
        band=spec.band,
        kind=spec.kind,
        nodata=spec.nodata,
        resampling=resampling,
        grid_crs=grid.crs.to_wkt(),
        grid_transform=grid.transform,
        offset=offset,
        scale=scale,
    )
    # a window source: stencils read their padded windows straight from the file (bounded memory)
    token = da.core.tokenize(str(path), spec.model_dump_json(), grid.to_dict(), chunk_size, WARP_TILE)
    data = from_window_reader(read_window, read_chunks, dtype, f"read-{name}-{token}")
    if offset is None:
        data = register_window_source(data.rechunk(chunks_for(grid, chunk_size)), read_window)
    return _wrap(name, data, spec, grid, resampling)


def _plausible_range(name: str, spec: InputSpec) -> tuple[float, float, str] | None:
    """The plausible range of a known layer (``evaluate.units.PLAUSIBLE``) in its declared units, or None."""
    rule = units_mod.PLAUSIBLE.get(name)
    if rule is None or spec.kind != "continuous":
        return None
    try:
        ends = units_mod.conversion(rule.unit, spec.effective_units)(np.array([rule.low, rule.high]))
    except units_mod.UnitsError:
        return None
    tol = 1e-6 * max(1.0, float(np.max(np.abs(ends))))
    return float(np.min(ends)) - tol, float(np.max(ends)) + tol, spec.effective_units


def _same_value(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def _windows_overlap(offset, src_shape, grid_shape) -> bool:
    r, c = offset
    return r < src_shape[0] and c < src_shape[1] and r + grid_shape[0] > 0 and c + grid_shape[1] > 0


def _check_overlap(name: str, path, crs, bounds, grid: Grid) -> None:
    from rasterio.warp import transform_bounds

    try:
        b = transform_bounds(crs, grid.crs, *bounds, densify_pts=21)
    except Exception as exc:
        raise InputError(name, path, f"cannot transform its extent to the grid CRS: {exc}") from None
    g = grid.bounds
    if not (b[0] < g[2] and b[2] > g[0] and b[1] < g[3] and b[3] > g[1]) or not np.all(np.isfinite(b)):
        raise InputError(name, path, f"extent {tuple(round(v, 3) for v in b)} (in the grid CRS) does not overlap the run grid {tuple(round(v, 3) for v in g)}")


def _wrap(name: str, data: da.Array, spec: InputSpec, grid: Grid, resampling: str) -> xr.DataArray:
    array = xr.DataArray(data, coords=coords_of(grid), dims=("y", "x"), name=name)
    array.attrs = {"units": spec.effective_units, "kind": spec.kind, "source": str(spec.path), "resampling": resampling}
    return georeference(array, grid)


# --------------------------------------------------------------------------- vectors
def _vector_info(name: str, spec: InputSpec) -> dict:
    import pyogrio

    path = spec.path
    if not Path(path).exists():
        raise InputError(name, path, "file not found")
    try:
        info = pyogrio.read_info(path, layer=spec.layer)
    except Exception as exc:
        raise InputError(name, path, f"cannot open as a vector layer{' ' + repr(spec.layer) if spec.layer else ''}: {exc}", key="layer" if spec.layer else "path") from None
    if info.get("crs") is None:
        raise InputError(name, path, "the vector layer has no CRS (a .prj file is missing?)")
    if info.get("features", 0) == 0:
        raise InputError(name, path, "the vector layer has no features")
    geometry = _geometry_kind(spec, info)
    if geometry in ("Point", "MultiPoint"):
        raise InputError(
            name, path, f"the layer holds points ({geometry}), which cover no area: a {spec.kind} layer needs polygons; "
            "buffer the points to their footprint first (e.g. QGIS Buffer, or ogr2ogr -dialect sqlite -sql \"SELECT ST_Buffer(geom, 50) ...\")",
            key="path",
        )
    if geometry in ("LineString", "MultiLineString") and not spec.all_touched:
        raise InputError(
            name, path, f"the layer holds lines ({geometry}), which cover no area, so burning cell centres would keep almost none; "
            "set all_touched: true to burn every cell a line crosses, or buffer the lines to polygons first",
            key="all_touched",
        )
    if spec.attribute is not None and spec.attribute not in list(info["fields"]):
        raise InputError(name, path, f"no field '{spec.attribute}'; fields are {', '.join(info['fields'])}", key="attribute")
    return info


def _geometry_kind(spec: InputSpec, info: dict) -> str:
    """The layer's declared geometry type, or for a generic layer the first type other than polygon among its first 1000 features."""
    import pyogrio.raw
    import shapely

    declared = str(info.get("geometry_type") or "Unknown").removesuffix(" ZM").removesuffix(" Z").removesuffix(" M")
    if declared not in ("Unknown", "Geometry", "GeometryCollection"):
        return declared
    _, _, wkb, _ = pyogrio.raw.read(spec.path, layer=spec.layer, max_features=1000, read_geometry=True, columns=[])
    kinds = set(shapely.get_type_id(shapely.from_wkb(np.asarray(wkb, dtype=object))).tolist())
    names = {0: "Point", 4: "MultiPoint", 1: "LineString", 5: "MultiLineString"}
    return next((names[k] for k in sorted(kinds) if k in names), declared)


def _burn_values(name: str, spec: InputSpec, raw: np.ndarray | None, count: int) -> np.ndarray:
    if spec.attribute is None:
        return np.full(count, 1 if spec.burn is None else spec.burn, dtype=np.float64)
    if spec.codes is not None:
        try:
            return np.array([spec.codes[str(v)] for v in raw], dtype=np.float64)
        except KeyError as exc:
            raise InputError(name, spec.path, f"value {exc.args[0]!r} of field '{spec.attribute}' is not in 'codes'", key="codes") from None
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            name, spec.path, f"field '{spec.attribute}' holds non-numeric values (e.g. {raw[0]!r}); give 'codes' to map them to integers", key="codes"
        ) from None


def _rasterize_window(r0, r1, c0, c1, *, layer_name, spec, vector_crs, grid_crs, grid_transform):
    """Rasterize the features meeting rows ``r0:r1``, columns ``c0:c1`` of the grid (runs inside a dask task)."""
    import pyogrio.raw
    import shapely
    from pyproj import Transformer
    from rasterio.features import rasterize
    from rasterio.warp import transform_bounds

    shape = (r1 - r0, c1 - c0)
    transform = grid_transform @ Affine.translation(c0, r0)
    xmin, ymax = transform.c, transform.f
    xmax, ymin = xmin + transform.a * shape[1], ymax + transform.e * shape[0]
    bbox = transform_bounds(grid_crs, vector_crs, xmin, ymin, xmax, ymax, densify_pts=21)
    columns = [spec.attribute] if spec.attribute else []
    _, fids, wkb, fields = pyogrio.raw.read(spec.path, layer=spec.layer, bbox=bbox, columns=columns, return_fids=True)
    dtype = _DTYPES[spec.kind]
    fill = CATEGORICAL_NODATA if spec.kind == "categorical" else (np.nan if spec.kind == "continuous" else 0)
    if len(wkb) == 0:
        return np.full(shape, fill, dtype=dtype)
    order = np.argsort(fids, kind="stable")  # later features win, in file order, whatever the block
    geoms = shapely.from_wkb(np.asarray(wkb, dtype=object)[order])
    values = _burn_values(layer_name, spec, None if not columns else np.asarray(fields[0], dtype=object)[order], len(geoms))
    if vector_crs != grid_crs:
        to_grid = Transformer.from_crs(vector_crs, grid_crs, always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1])))
    keep = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    pairs = list(zip(geoms[keep], values[keep]))
    if not pairs:
        return np.full(shape, fill, dtype=dtype)
    burned = rasterize(pairs, out_shape=shape, transform=transform, fill=fill, all_touched=spec.all_touched, dtype="float64" if spec.kind == "continuous" else "int32")
    return burned.astype(dtype)


def open_vector_layer(name: str, spec: InputSpec, grid: Grid, chunk_size: int) -> xr.DataArray:
    """A lazy DataArray rasterizing a vector input onto ``grid`` block by block."""
    from rasterio.crs import CRS

    info = _vector_info(name, spec)
    vector_crs = CRS.from_user_input(info["crs"])
    _check_overlap(name, spec.path, vector_crs, info["total_bounds"], grid)
    dtype = _DTYPES[spec.kind]
    read_window = functools.partial(
        _rasterize_window, layer_name=name, spec=spec, vector_crs=vector_crs.to_wkt(), grid_crs=grid.crs.to_wkt(), grid_transform=grid.transform
    )
    token = da.core.tokenize(str(spec.path), spec.model_dump_json(), grid.to_dict(), chunk_size)
    data = from_window_reader(read_window, chunks_for(grid, chunk_size), dtype, f"rasterize-{name}-{token}")
    return _wrap(name, data, spec, grid, "rasterize_all_touched" if spec.all_touched else "rasterize")


# --------------------------------------------------------------------------- stack
def open_layer(name: str, spec: InputSpec, grid: Grid, chunk_size: int) -> xr.DataArray:
    if spec.is_vector:
        return open_vector_layer(name, spec, grid, chunk_size)
    return open_raster_layer(name, spec, grid, chunk_size)


def build_stack(inputs: Mapping[str, InputSpec], grid: Grid, chunk_size: int) -> xr.Dataset:
    """All inputs on the run grid as one lazy ``xarray.Dataset`` (no pixel is read)."""
    arrays = {name: open_layer(name, spec, grid, chunk_size) for name, spec in inputs.items()}
    stack = xr.Dataset(arrays)
    stack.attrs["grid"] = str(grid.to_dict())
    return stack


def to_units(array: xr.DataArray, units: str) -> xr.DataArray:
    """``array`` converted (lazily) from its declared units to ``units``."""
    declared = array.attrs.get("units", units)
    if units_mod.canonical(declared) == units_mod.canonical(units):
        return array
    convert = units_mod.conversion(declared, units)
    # through map_cells, so a converted layer keeps its window source (stencils on it stay bounded)
    return map_cells(convert, array, dtype=array.dtype, attrs={**array.attrs, "units": units_mod.canonical(units), "converted_from": declared})


def sample_raster(path: Path, band: int = 1, nodata: float | None = None, windows: int = 4, size: int = 256) -> np.ndarray:
    """Values from a ``windows`` × ``windows`` lattice of small windows of a raster, NaN for nodata.

    A bounded read (at most windows² · size² cells) for plausibility checks,
    whatever the raster's size.
    """
    with rasterio.open(path) as src:
        h, w = src.height, src.width
        parts = []
        for i in range(windows):
            for j in range(windows):
                r = min(max(0, (2 * i + 1) * h // (2 * windows) - size // 2), max(0, h - size))
                c = min(max(0, (2 * j + 1) * w // (2 * windows) - size // 2), max(0, w - size))
                block = src.read(band, window=Window(c, r, min(size, w), min(size, h)), masked=True)
                if nodata is not None:
                    block = np.ma.masked_equal(block, nodata)
                parts.append(np.ma.filled(block.astype(np.float64), np.nan).ravel())
    return np.concatenate(parts)
