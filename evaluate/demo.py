"""The embedded demo region: write the synthetic inputs of :mod:`evaluate.synthetic` to disk.

Rasters are written window by window (one block of every layer in memory at
a time), as tiled, DEFLATE-compressed GeoTIFFs with nodata, band
descriptions, units and provenance tags; vectors as one GeoPackage per layer.
Every file is written under a temporary name in the target folder and
renamed into place, so a killed run never leaves a half-written input, and
files that already exist are left alone (a rerun only fills the gaps).
"""
from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from evaluate.grid import Grid
from evaluate import synthetic

DEMO_CRS = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E (no zone prefix)
DEMO_ORIGIN = (380000.0, 2520000.0)  # lower-left corner (x, y) of the demo in DEMO_CRS, ≈22.8°N 112.8°E
DEMO_SIZE = 1500
DEMO_RESOLUTION = 30.0
DEMO_SEED = 2026

__all__ = ["DEMO_CRS", "DEMO_GRID", "DEMO_ORIGIN", "DEMO_RESOLUTION", "DEMO_SEED", "DEMO_SIZE", "demo_grid", "write_demo_inputs"]


def demo_grid(size: int = DEMO_SIZE, resolution: float = DEMO_RESOLUTION, crs: str = DEMO_CRS) -> Grid:
    """The demo grid: ``size`` × ``size`` cells of ``resolution`` metres.

    In :data:`DEMO_CRS` the grid starts at :data:`DEMO_ORIGIN` (x 380000–425000,
    y 2 520 000–2 565 000 for the defaults). In another projected CRS it is
    centred on the same place; in a geographic CRS it is centred there with
    square cells of ``resolution / 111 320`` degrees.
    """
    if size <= 0 or resolution <= 0:
        raise ValueError(f"size and resolution must be positive, got {size} and {resolution}")
    from pyproj import CRS as ProjCRS, Transformer

    target = ProjCRS.from_user_input(crs)
    x0, y0 = DEMO_ORIGIN
    if target == ProjCRS.from_user_input(DEMO_CRS):
        return Grid.from_bounds((x0, y0, x0 + size * resolution, y0 + size * resolution), resolution, crs)
    half = size * resolution / 2.0
    cx, cy = Transformer.from_crs(DEMO_CRS, target, always_xy=True).transform(x0 + half, y0 + half)
    if target.is_geographic:
        step = resolution / 111320.0
    else:
        step = resolution / float(target.axis_info[0].unit_conversion_factor)
    half = size * step / 2.0
    grid = Grid.from_bounds((cx - half, cy - half, cx + half, cy + half), step, crs)
    # float noise in the bounds must not add a row or column
    return Grid(grid.crs, grid.transform, (size, size))


DEMO_GRID: Grid = demo_grid()


def _tmp_path(final: Path) -> Path:
    # same folder (so the rename is atomic), same suffix (so GDAL picks no other driver), hidden
    return final.with_name(f".{final.stem}.{os.getpid()}.tmp{final.suffix}")


def _strips(r0: int, r1: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, math.ceil((r1 - r0) / parts))
    return [(a, min(r1, a + step)) for a in range(r0, r1, step)]


def _write_rasters(names: list[str], paths: dict[str, Path], grid: Grid, seed: int, block: int) -> None:
    import rasterio

    tile = 512 if max(grid.shape) > 8192 else 256
    block = max(tile, (int(block) // tile) * tile)
    workers = max(1, os.cpu_count() or 1)
    tmp = {n: _tmp_path(paths[n]) for n in names}
    try:
        with ExitStack() as stack:
            dst = {}
            for n in names:
                info = synthetic.RASTER_LAYERS[n]
                profile = dict(
                    driver="GTiff", width=grid.width, height=grid.height, count=info.bands, dtype=info.dtype,
                    crs=grid.crs, transform=grid.transform, nodata=info.nodata, tiled=True,
                    blockxsize=tile, blockysize=tile, compress="deflate",
                    predictor=3 if info.dtype.startswith("float") else 2, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
                )
                ds = stack.enter_context(rasterio.open(tmp[n], "w", **profile))
                descriptions = info.band_descriptions or (n,)
                for b in range(info.bands):
                    ds.set_band_description(b + 1, descriptions[b])
                    ds.set_band_unit(b + 1, info.units)
                tags = dict(
                    layer=n, units=info.units, kind=info.kind, description=info.description, seed=str(seed),
                    generator="evaluate.synthetic", generator_version=synthetic.GENERATOR_VERSION,
                )
                if n == "landuse":
                    tags["codes"] = json.dumps({str(k): list(v) for k, v in synthetic.DLBM_CODES.items()}, ensure_ascii=False)
                elif n == "czcsxm":
                    tags["codes"] = json.dumps({str(k): list(v) for k, v in synthetic.CZCSXM_CODES.items()}, ensure_ascii=False)
                ds.update_tags(**tags)
                dst[n] = ds

            def compute(rows: tuple[int, int], cols: tuple[int, int]) -> dict[str, np.ndarray]:
                x, y = synthetic.grid_metric_coords(grid, slice(*rows), slice(*cols))
                return synthetic.raster_blocks(names, x, y, seed)

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for r0 in range(0, grid.height, block):
                    r1 = min(grid.height, r0 + block)
                    for c0 in range(0, grid.width, block):
                        c1 = min(grid.width, c0 + block)
                        # strips of one block run on all cores (the kernels release the GIL)
                        strips = _strips(r0, r1, 4 * workers)
                        parts = list(pool.map(lambda s: compute(s, (c0, c1)), strips))
                        window = rasterio.windows.Window(c0, r0, c1 - c0, r1 - r0)
                        for n in names:
                            data = np.concatenate([p[n] for p in parts], axis=-2)
                            if data.ndim == 2:
                                dst[n].write(data, 1, window=window)
                            else:
                                dst[n].write(data, window=window)
        for n in names:
            if paths[n].exists():  # appeared meanwhile: leave the existing file alone
                tmp[n].unlink()
            else:
                os.replace(tmp[n], paths[n])
    finally:
        for t in tmp.values():
            if t.exists():
                t.unlink()


def _write_vector(name: str, path: Path, grid: Grid, seed: int) -> None:
    import pyogrio.raw
    import shapely

    info = synthetic.VECTOR_LAYERS[name]
    geoms, attrs = synthetic.vector_features(name, grid.bounds, grid.crs, seed)
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object)) if geoms else np.empty(0, dtype=object)
    tmp = _tmp_path(path)
    try:
        pyogrio.raw.write(
            str(tmp), wkb, field_data=[attrs[k] for k in info.fields], fields=list(info.fields), layer=name,
            driver="GPKG", geometry_type=info.geometry_type, crs=grid.crs.to_wkt(), encoding="UTF-8",
            layer_metadata={"description": info.description, "seed": str(seed), "generator": "evaluate.synthetic"},
        )
        if path.exists():
            tmp.unlink()
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_demo_inputs(folder: Path, grid: Grid, seed: int = DEMO_SEED, block: int = 1024) -> dict[str, Path]:
    """Write every synthetic input layer of ``grid`` into ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        Created if missing. Rasters are ``<layer>.tif``, vectors
        ``<layer>.gpkg`` (layer name = file stem), for every key of
        :data:`evaluate.synthetic.RASTER_LAYERS` and
        :data:`evaluate.synthetic.VECTOR_LAYERS`.
    grid : evaluate.grid.Grid
        The grid of the rasters; vectors cover its bounds, in its CRS.
    seed : int
        Seed of the synthetic world.
    block : int
        Side of the square windows written at once (rounded down to a multiple
        of the 256 or 512 tile size); memory holds one window of every layer.

    Returns
    -------
    dict
        layer name → path, including files that already existed and were
        left untouched.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"{n}.tif" for n in synthetic.RASTER_LAYERS}
    paths.update({n: folder / f"{n}.gpkg" for n in synthetic.VECTOR_LAYERS})
    todo = [n for n in synthetic.RASTER_LAYERS if not paths[n].exists()]
    if todo:
        _write_rasters(todo, paths, grid, seed, block)
    for n in synthetic.VECTOR_LAYERS:
        if not paths[n].exists():
            _write_vector(n, paths[n], grid, seed)
    return paths
