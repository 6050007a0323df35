"""Raster → polygons whose shapes do not depend on the chunking, with ellipsoidal areas.

Every class region becomes one polygon (4-connected cells of equal value:
two GIS polygons cannot share only a corner). The chunked algorithm
(ARCHITECTURE.md "Scale"): global region ids from :func:`evaluate.ops.label`;
each chunk traces its regions with ``rasterio.features.shapes`` (GDAL's
polygonizer) in integer cell-corner coordinates; only regions that reach an
inner chunk edge are pieced together on the driver (a coverage union of
pixel-aligned pieces, exact in integer coordinates). Every polygon is then
brought to one canonical form (collinear vertices dropped, rings
normalised) and mapped to the grid's CRS by one affine transform of its
integer corners, so the same region gives the same coordinates, bit for bit,
whatever the chunking.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pyproj
import rasterio.features
import shapely
import xarray as xr
from affine import Affine

from evaluate.grid import Grid, grid_of
from evaluate.ops.patches import _driver, _per_block, label

CGCS2000 = pyproj.CRS.from_epsg(4490)
#: segments longer than this (metres) are densified before the ellipsoidal area is taken, so that grid edges (parallels on a geographic grid)
#: are followed, not the geodesic chord: < 0.01 m² per 100 m edge at 30°N (zones_and_standards.md §6 rule 5)
DENSIFY_M = 100.0


@dataclass(frozen=True)
class _Piece:
    region: int
    value: float
    polygon: shapely.Polygon  # integer cell-corner coordinates (column, row)


def _block_pieces(ids: np.ndarray, values: np.ndarray, row0: int, col0: int, open_edges: tuple[bool, bool, bool, bool]):
    """(complete, open) pieces of one chunk: regions that touch an inner chunk edge are open (they may continue)."""
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    if not ids.any():
        return [], []
    top, bottom, left, right = open_edges
    edge_ids = set()
    for is_open, line in ((top, ids[0]), (bottom, ids[-1]), (left, ids[:, 0]), (right, ids[:, -1])):
        if is_open:
            edge_ids.update(np.unique(line[line > 0]).tolist())
    value_of = {}
    flat_ids, flat_values = ids.ravel(), values.ravel()
    present, first = np.unique(flat_ids, return_index=True)
    for region, index in zip(present.tolist(), first.tolist()):
        if region:
            value_of[region] = flat_values[index]
    complete, open_ = [], []
    for geojson, region in rasterio.features.shapes(ids, mask=ids > 0, connectivity=4, transform=Affine.translation(col0, row0)):
        region = int(region)
        piece = _Piece(region, value_of[region], shapely.geometry.shape(geojson))
        (open_ if region in edge_ids else complete).append(piece)
    return complete, open_


def _canonical(polygons: np.ndarray) -> np.ndarray:
    """One form per shape: rings in normalised order (GDAL's polygonizer leaves no collinear vertex)."""
    return shapely.normalize(polygons)


def _assemble(block_results) -> pd.DataFrame:
    complete, open_ = [], {}
    for pieces, seam_pieces in block_results:
        complete.extend(pieces)
        for piece in seam_pieces:
            open_.setdefault(piece.region, []).append(piece)
    regions = [p.region for p in complete]
    values = [p.value for p in complete]
    shapes = [p.polygon for p in complete]
    for region in sorted(open_):
        pieces = open_[region]
        # integer corners: a union snapped to the unit grid is exact
        merged = shapely.union_all([p.polygon for p in pieces], grid_size=1.0) if len(pieces) > 1 else pieces[0].polygon
        # the union leaves vertices where the seams crossed the region's edges: drop the collinear ones (exact in integers)
        merged = shapely.simplify(merged, 0.0, preserve_topology=True)
        if merged.geom_type != "Polygon":  # a 4-connected region is one polygon; anything else is a bug worth stopping on
            raise AssertionError(f"region {region}: pieces joined into a {merged.geom_type}")
        regions.append(region)
        values.append(pieces[0].value)
        shapes.append(merged)
    frame = pd.DataFrame({"region": np.asarray(regions, dtype=np.int64), "value": values, "geometry": _canonical(np.asarray(shapes, dtype=object))})
    return frame.sort_values("region", kind="stable").reset_index(drop=True)


def _to_crs_coordinates(frame: pd.DataFrame, transform: Affine) -> pd.DataFrame:
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f

    def affine(points: np.ndarray) -> np.ndarray:
        col, row = points[:, 0], points[:, 1]
        return np.column_stack([a * col + b * row + c, d * col + e * row + f])

    out = frame.copy()
    out["geometry"] = shapely.transform(frame["geometry"].to_numpy(), affine)
    return out


def ellipsoidal_area_m2(polygons, crs) -> np.ndarray:
    """Area of each polygon on the CGCS2000 ellipsoid (m², geodesic edges), whatever the CRS it is given in.

    Source: zones_and_standards.md §3.2 ("official areas are ellipsoidal
    areas … 面积一律椭球面积（测地线）"). Projected polygons are densified to
    :data:`DENSIFY_M` (geographic ones to the same length in degrees, so that
    an edge along a parallel stays on it) and their vertices taken to CGCS2000 longitude/latitude;
    the area is ``pyproj.Geod.polygon_area_perimeter`` on the CGCS2000
    ellipsoid (a = 6 378 137 m, 1/f = 298.257222101).
    """
    crs = pyproj.CRS(crs)
    geod = CGCS2000.get_geod()
    polygons = np.asarray(polygons, dtype=object)
    # densified edges follow the grid's lines (parallels and meridians, or projected straight lines) between vertices
    if crs.is_geographic:
        polygons = shapely.segmentize(polygons, DENSIFY_M / 111_000.0)
    else:
        polygons = shapely.segmentize(polygons, DENSIFY_M / crs.axis_info[0].unit_conversion_factor)
    to_lonlat = pyproj.Transformer.from_crs(crs, CGCS2000, always_xy=True)
    lonlat = shapely.transform(polygons, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
    return np.array([abs(geod.geometry_area_perimeter(p)[0]) for p in lonlat], dtype=np.float64)


def polygonize(classes: xr.DataArray, *, min_cells: int = 1, areas: bool = True, grid: Grid | None = None) -> pd.DataFrame | dask.delayed:
    """Polygons of the class regions of a raster: one per 4-connected region of equal value.

    Source: issue 8 item 2 and zones_and_standards.md §6 rule 4 (valid,
    non-empty, single-part polygons; no slivers); GDAL's polygonizer traces
    each chunk (``rasterio.features.shapes``), seams are joined exactly.

    Parameters
    ----------
    classes : xarray.DataArray
        (y, x) class raster (integers or a mask); 0, False and NaN are
        background (no polygon).
    min_cells : int
        Regions with fewer cells are left out (sliver control; a region is
        never smaller than one cell).
    areas : bool
        Compute ``area_m2`` (one geodesic polygon area per region: most of
        the cost for many small polygons); NaN when False.
    grid : Grid, optional
        Read from ``classes`` when omitted.

    Returns
    -------
    pandas.DataFrame or dask.delayed
        Columns ``region`` (global id, row-major order of the region's first
        cell), ``value`` (the class), ``cells``, ``area_m2`` (ellipsoidal,
        CGCS2000) and ``geometry`` (shapely polygons in the grid's CRS),
        sorted by region. Eager input gives the frame; dask input a
        ``dask.delayed`` frame (nothing is computed until it is).
    """
    grid = grid or grid_of(classes)
    ids = label(classes, connectivity=4)
    values = classes.data
    transform = grid.transform
    crs = grid.crs

    def finish(frame: pd.DataFrame, counts: pd.Series) -> pd.DataFrame:
        frame["cells"] = counts.reindex(frame["region"]).to_numpy(dtype=np.int64)
        frame = frame[frame["cells"] >= min_cells].reset_index(drop=True)
        frame = _to_crs_coordinates(frame, transform)
        if areas:
            frame["area_m2"] = ellipsoidal_area_m2(frame["geometry"].to_numpy(), crs) if len(frame) else np.zeros(0)
        else:
            frame["area_m2"] = np.full(len(frame), np.nan)
        return frame[["region", "value", "cells", "area_m2", "geometry"]]

    def cell_counts(block: np.ndarray) -> pd.Series:
        present, counts = np.unique(block, return_counts=True)
        keep = present > 0
        return pd.Series(counts[keep], index=present[keep])

    if not isinstance(ids.data, da.Array):
        block = np.asarray(ids.data)
        complete, _ = _block_pieces(block, np.asarray(values), 0, 0, (False,) * 4)
        return finish(_assemble([(complete, [])]), cell_counts(block))

    id_data = ids.data
    value_data = (values if isinstance(values, da.Array) else da.from_array(values, chunks=id_data.chunks)).rechunk(id_data.chunks)
    offsets = [np.concatenate([[0], np.cumsum(c)]).astype(np.int64) for c in id_data.chunks]
    summaries = _per_block(_block_summary, id_data, value_data, offsets=offsets, grid_blocks=id_data.numblocks)
    table = _driver(_gather, summaries)
    return dask.delayed(lambda cell: finish(*cell[0, 0]), pure=True)(table)


def _block_summary(ids: np.ndarray, values: np.ndarray, offsets, grid_blocks, block_id=None):
    i, j = block_id
    nbr, nbc = grid_blocks
    complete, open_ = _block_pieces(ids, values, int(offsets[0][i]), int(offsets[1][j]), (i > 0, i < nbr - 1, j > 0, j < nbc - 1))
    present, counts = np.unique(ids, return_counts=True)
    keep = present > 0
    return complete, open_, present[keep], counts[keep]


def _gather(summaries: np.ndarray):
    parts = summaries.ravel()
    frame = _assemble([(p[0], p[1]) for p in parts])
    regions = np.concatenate([p[2] for p in parts]) if len(parts) else np.zeros(0, np.int64)
    counts = np.concatenate([p[3] for p in parts]) if len(parts) else np.zeros(0, np.int64)
    return frame, pd.Series(counts, index=regions).groupby(level=0).sum()


def gk_zone_epsg(longitude: float, prefixed: bool = False) -> int:
    """The CGCS2000 3° Gauss–Krüger EPSG code of the zone whose central meridian is nearest ``longitude``.

    Source: zones_and_standards.md §3.1 [C]: n = round(lon / 3), zones 25–45;
    EPSG 4534 + (n − 25) without the zone prefix in the easting, 4513 + (n − 25) with it.
    """
    n = int(math.floor(longitude / 3.0 + 0.5))
    if not 25 <= n <= 45:
        raise ValueError(f"longitude {longitude:.3f}° is outside the CGCS2000 3° zones 25–45 (73.5°E–136.5°E)")
    return (4513 if prefixed else 4534) + (n - 25)
