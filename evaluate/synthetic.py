"""A deterministic procedural generator of a realistic synthetic region.

The embedded demo of the engine and the input of the provincial benchmarks:
a hilly/mountainous, southern-China-like landscape with every input layer of
methods.md §2.1 that the demo models need, plus the vector layers a 三区三线
run reads. Nothing here reads or writes files (``evaluate.demo`` does).

The one rule: **every raster value is a pure function of the cell-centre
coordinates (metres) and the integer seed.** No global array, no
normalisation over a window, no ``np.random`` state. A cell therefore gets the
bit-identical value whatever window it is generated in, and a province of
1e9 cells can be written window by window, in any order, on any number of
workers.

Generative rules (all constants are in metres unless named otherwise)
-----------------------------------------------------------------------
Noise
    2-D gradient (Perlin) noise whose lattice gradients come from an integer
    hash of (ix, iy, seed·4096 + channel·64 + octave); fractional Brownian
    motion (fBm) sums octaves with lacunarity ≈2 and a fixed rotation per
    octave (no lattice-aligned artefacts); a ridged multifractal (Musgrave)
    gives sharp mountain crests; low-frequency domain warping bends
    everything.
Terrain (``dem``)
    ``base`` (regional level, 160 km fBm plus a 700 km "plateau" term) +
    gentle rolling plains + ridged mountains masked by a 32 km "macro" fBm
    (mountain belts vs basins) + hills on the mountain fringe. Rivers are the
    zero-level lines of two smooth noise fields (trunk rivers ≈60 km,
    tributaries ≈9 km); the distance to a river, ``|n|/|∇n|``, carves valleys:
    trunk rivers cut flat floors (0.35–1 km half-width) down to the base
    level, tributaries remove 50–95 % of the relief at their bed, and the
    valley walls widen with the relief, so flat paddy-land valleys cut
    through steep mountains. Lakes sit in flat basins where a lake noise is
    high. Slope (for land use and siting) is a forward difference of this
    same function over a fixed 15 m step, so it is a pure function too.
Climate
    Annual precipitation is a regional log-normal field (300 km) times an
    orographic factor: more with elevation and on the windward (SSW) side of
    mountain belts, less in their rain shadow. Temperature: sea-level annual
    mean falls with northing (≈0.54 °C per 100 km), minus the lapse rate
    0.6 °C/100 m; a daily sinusoidal cycle with an amplitude that grows
    northward gives ``tmean_month`` (monthly means of the daily model),
    ``tmean_annual`` (mean of the 365 daily values) and ``at0`` (sum of the
    daily values ≥ 0 °C, methods.md §2.2 item 4); ``pet`` is a temperature
    index of ``at0``.
Settlements and roads
    One candidate town per 11 km lattice cell and one candidate village per
    1.7 km cell, at a hash-jittered position; up to a few hashed positions are
    tried and the first on flat, dry, low land is kept. Cities are rare towns
    in basins. County roads join kept neighbouring towns, highways run
    through the town lattice along hash-chosen rows and columns, rural roads
    join neighbouring villages; every road is a polyline with hash-displaced
    vertices. A cell is built-up if its centre is inside a settlement's noisy
    disc, and road if within the road's half-width of a polyline, so
    settlements and roads are coordinate rules too (a window collects the
    lattice cells that can reach it).
Land use (三调 DLBM) and the rest
    Water on rivers, lakes, reservoirs (valley floors in the mountains) and
    ponds; roads; built-up land by settlement with hashed functional parcels
    (residential, industrial, commercial, public) and a street grid; cropland
    on Voronoi parcels (≈260 m) chosen by slope, elevation and wetness (水田 on
    flat wet land, 水浇地 on flat dry land near rivers, 旱地 on slopes,
    orchards, tea); forest parcels (≈600 m) on slopes; grass and shrub in dry
    or alpine land; bare rock on crags and summits. Soil texture is alluvial
    (silty) on floodplains, loessic where a regional field says so, clayey
    red soils in the warm south. NDVI and soil organic carbon follow land
    use, moisture and cold; actual ET follows Fu's Budyko curve.

Geographic grids
----------------
Projected grids are generated in their own coordinates (converted to metres).
Geographic grids (EPSG:4490, EPSG:4326) are first projected to the fixed
metric CRS :data:`GEOGRAPHIC_METRIC_CRS` (an Albers equal-area conic for
China on the CGCS2000/GRS80 ellipsoid), so a degree grid has the same
terrain scale as a metre grid; :func:`grid_metric_coords` does this and
returns 2-D coordinate arrays, which every function here accepts.
"""
from __future__ import annotations

import math
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numba
import numpy as np

if TYPE_CHECKING:
    from rasterio.crs import CRS

    from evaluate.grid import Grid

__all__ = [
    "CZCSXM_CODES",
    "DLBM_CODES",
    "GEOGRAPHIC_METRIC_CRS",
    "LayerInfo",
    "RASTER_LAYERS",
    "VECTOR_LAYERS",
    "VectorInfo",
    "grid_metric_coords",
    "lonlat_to_metric",
    "metric_to_lonlat",
    "raster_block",
    "raster_blocks",
    "vector_features",
]

GENERATOR_VERSION = "2"  # 2: the evaluation inputs of the 双评价 models (monthly rain and humidity, soil metals, hazards …)

# ----------------------------------------------------------------------------
# Code tables
# ----------------------------------------------------------------------------

def _code_tables() -> tuple[dict, dict]:
    """The 三调 DLBM and CZCSXM code lists, from their one home ``models/tables/landuse.yaml``.

    Read as a data file (the models package is not imported: the engine does
    not depend on the models).
    """
    import importlib.util

    import yaml

    folder = Path(importlib.util.find_spec("models").submodule_search_locations[0]) / "tables"
    data = yaml.safe_load((folder / "landuse.yaml").read_text(encoding="utf-8"))
    return ({int(k): tuple(v) for k, v in data["dlbm"].items()}, {int(k): tuple(v) for k, v in data["czcsxm"].items()})


#: 三调 工作分类 DLBM codes (zones_and_standards.md §3.4) as raster integers:
#: the numeric value of the 4-digit code (``"0101"`` → 101); ``"05H1"`` → 591,
#: ``"08H1"`` → 891, ``"08H2"`` → 892. Value → (DLBM string, Chinese name,
#: English name); and 城镇村属性码 (CZCSXM), 0 = not a 城镇村 construction cell.
DLBM_CODES, CZCSXM_CODES = _code_tables()

# ----------------------------------------------------------------------------
# Layer declarations
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerInfo:
    """How a synthetic raster layer is stored.

    Attributes
    ----------
    dtype : str
        numpy dtype name of the stored values.
    units : str
        Canonical units as spelled by :mod:`evaluate.units`.
    kind : str
        ``"continuous"``, ``"categorical"`` or ``"mask"``.
    nodata : float or int
        The nodata value declared in the file (the generator itself never
        produces it: the synthetic region is complete).
    bands : int
        Number of bands (12 for monthly layers).
    description : str
        What the layer is, in words.
    band_descriptions : tuple of str
        One description per band (empty for single-band layers).
    """

    dtype: str
    units: str
    kind: str
    nodata: float | int
    bands: int
    description: str
    band_descriptions: tuple[str, ...] = ()


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_F32_NODATA = -9999.0

RASTER_LAYERS: dict[str, LayerInfo] = {
    "dem": LayerInfo("float32", "m", "continuous", _F32_NODATA, 1, "elevation 高程 (eroded fractal relief, valleys carved along rivers)"),
    "precip": LayerInfo("float32", "mm/a", "continuous", _F32_NODATA, 1, "multi-year mean annual precipitation 多年平均年降水量 (regional field x orographic factor)"),
    "pet": LayerInfo("float32", "mm/a", "continuous", _F32_NODATA, 1, "potential evapotranspiration 潜在蒸散 (temperature-based)"),
    "aet": LayerInfo("float32", "mm/a", "continuous", _F32_NODATA, 1, "actual evapotranspiration 实际蒸散发 (Fu's Budyko curve)"),
    "tmean_annual": LayerInfo("float32", "degC", "continuous", _F32_NODATA, 1, "annual mean air temperature 年平均气温 (lapse rate 0.6 degC/100 m)"),
    "tmean_month": LayerInfo(
        "float32", "degC", "continuous", _F32_NODATA, 12, "monthly mean air temperature 月平均气温 (mean of the daily model per month)",
        tuple(f"tmean_{m}" for m in _MONTHS),
    ),
    "at0": LayerInfo("float32", "degC*d", "continuous", _F32_NODATA, 1, ">=0 degC accumulated temperature ≥0℃积温 (sum of daily mean temperatures >= 0 degC)"),
    "soil_sand": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "sand content 砂粒含量 (sand+silt+clay = 100)"),
    "soil_silt": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "silt content 粉粒含量 (Chinese/international system, 2-20 um)"),
    "soil_clay": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "clay content 黏粒含量"),
    "soil_oc": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "soil organic carbon 有机碳 (OM = 1.724 x OC)"),
    "ndvi": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "growing-season NDVI"),
    "landuse": LayerInfo("int16", "code", "categorical", 0, 1, "三调 land use DLBM as integer (see DLBM_CODES; 05H1=591, 08H1=891, 08H2=892)"),
    "czcsxm": LayerInfo("int16", "code", "categorical", -1, 1, "城镇村属性码 CZCSXM of construction cells (201 城市, 202 建制镇, 203 村庄, 0 none)"),
    # evaluation inputs: smooth synthetic fields tied to the terrain and climate above (plausible, not modelled)
    "precip_month": LayerInfo(
        "float32", "mm", "continuous", _F32_NODATA, 12, "monthly precipitation 月降水量 (annual precipitation x a monsoon share per month)",
        tuple(f"precip_{m}" for m in _MONTHS),
    ),
    "rh_month": LayerInfo(
        "float32", "fraction", "continuous", _F32_NODATA, 12, "monthly mean relative humidity 月平均相对湿度", tuple(f"rh_{m}" for m in _MONTHS),
    ),
    "rweq_wf": LayerInfo("float32", "kg/m", "continuous", _F32_NODATA, 1, "RWEQ weather factor WF 气象因子 (low: a humid region)"),
    "karst_pct": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "carbonate-rock outcrop share 碳酸盐岩出露面积百分比"),
    "soil_ph": LayerInfo("float32", "pH", "continuous", _F32_NODATA, 1, "soil pH 土壤pH (acid red soils)"),
    "soil_cd": LayerInfo("float32", "mg/kg", "continuous", _F32_NODATA, 1, "soil cadmium 镉 with hotspots"),
    "soil_pb": LayerInfo("float32", "mg/kg", "continuous", _F32_NODATA, 1, "soil lead 铅 with hotspots"),
    "soil_as": LayerInfo("float32", "mg/kg", "continuous", _F32_NODATA, 1, "soil arsenic 砷 with hotspots"),
    "freq_rainstorm": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "frequency of rainstorm-flood years 暴雨洪涝"),
    "freq_heat": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "frequency of heat years 高温"),
    "freq_cold": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "frequency of cold-damage years 低温冷害"),
    "freq_gale": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "frequency of gale years 大风"),
    "freq_drought": LayerInfo("float32", "fraction", "continuous", _F32_NODATA, 1, "frequency of drought years 干旱"),
    "wind_mean": LayerInfo("float32", "m/s", "continuous", _F32_NODATA, 1, "mean wind speed 平均风速"),
    "calm_share": LayerInfo("float32", "percent", "continuous", _F32_NODATA, 1, "share of calm days 静风日占比"),
    "water_env_capacity": LayerInfo("float32", "t/a", "continuous", _F32_NODATA, 1, "water environment capacity 水环境容量 (COD)"),
    "landslide": LayerInfo("uint8", "code", "categorical", 0, 1, "collapse/landslide susceptibility 崩塌滑坡易发性 1 极高 … 5 低"),
    "aridity_i10": LayerInfo("float32", "index", "continuous", _F32_NODATA, 1, "aridity index 干燥度 (0.16 ΣT≥10 / ΣP)"),
    "sand_wind_days": LayerInfo("float32", "d", "continuous", _F32_NODATA, 1, "sand-raising wind days 起沙风天数"),
    "gw_depth": LayerInfo("float32", "m", "continuous", _F32_NODATA, 1, "groundwater depth 地下水埋深"),
    "gw_tds": LayerInfo("float32", "g/L", "continuous", _F32_NODATA, 1, "groundwater mineralization 地下水矿化度"),
}

#: monthly share of the annual rain (south China monsoon), sums to 1
MONSOON_SHARE = np.array([0.03, 0.04, 0.06, 0.09, 0.13, 0.16, 0.14, 0.15, 0.09, 0.05, 0.03, 0.03])
N_EXTRA = 12


@dataclass(frozen=True)
class VectorInfo:
    """A synthetic vector layer: geometry type and attribute fields (name → dtype)."""

    geometry_type: str
    fields: dict[str, str] = field(default_factory=dict)
    description: str = ""


VECTOR_LAYERS: dict[str, VectorInfo] = {
    "rivers": VectorInfo("LineString", {"name": "str", "order": "int32"}, "river centre lines; order 1 = trunk river 干流, 2 = tributary 支流"),
    "roads": VectorInfo("LineString", {"class": "str", "name": "str"}, "roads; class 'highway' 高速/国道, 'county' 县道, 'rural' 农村道路"),
    "towns": VectorInfo("Point", {"name": "str", "level": "str", "population": "int64"}, "settlements; level 'city' 城市, 'town' 建制镇, 'village' 村庄"),
    "reserves": VectorInfo(
        "MultiPolygon", {"name": "str", "zone": "str", "level": "str"},
        "nature reserves 自然保护区; zone 'core' 核心保护区 or 'general' 一般控制区; level 国家级/省级/市县级",
    ),
    "counties": VectorInfo(
        "MultiPolygon", {"code": "int32", "name": "str", "water_quota": "float64", "pga": "float64"},
        "county-level admin units 县级行政区 (6-digit code); water_quota 用水总量控制指标模数 (m³/km²); pga 地震动峰值加速度 (g)",
    ),
    "faults": VectorInfo("LineString", {"name": "str"}, "active faults 活动断层 (NE–SW)"),
    "redline_existing": VectorInfo("MultiPolygon", {"HXMC": "str", "HXLX": "str"}, "existing ecological protection red line 生态保护红线"),
    "pbf_existing": VectorInfo("MultiPolygon", {"DLBM": "str", "DLMC": "str"}, "existing permanent basic farmland 永久基本农田 over cropland"),
}

# ----------------------------------------------------------------------------
# Geographic coordinates
# ----------------------------------------------------------------------------

#: The fixed metric CRS in which geographic (lon/lat) grids are generated: an
#: Albers equal-area conic for China (standard parallels 25°N and 47°N,
#: central meridian 105°E) on the GRS80 ellipsoid, which CGCS2000 shares to
#: 0.1 mm. Scale error is within ±3 % over mainland China.
GEOGRAPHIC_METRIC_CRS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +x_0=0 +y_0=0 +ellps=GRS80 +units=m +no_defs"


def _transformer(inverse: bool):
    from pyproj import Transformer

    if inverse:
        return Transformer.from_crs(GEOGRAPHIC_METRIC_CRS, "EPSG:4326", always_xy=True)
    return Transformer.from_crs("EPSG:4326", GEOGRAPHIC_METRIC_CRS, always_xy=True)


def lonlat_to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project longitude/latitude (degrees) to :data:`GEOGRAPHIC_METRIC_CRS` metres.

    Inputs broadcast against each other; the result has the broadcast shape.
    CGCS2000 (EPSG:4490) and WGS 84 coordinates are treated alike (they differ
    by centimetres, far below any cell size).
    """
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    x, y = _transformer(False).transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def metric_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`lonlat_to_metric`."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    lon, lat = _transformer(True).transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def grid_metric_coords(grid: "Grid", rows: slice = slice(None), cols: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates in metres of a window of ``grid``, ready for :func:`raster_block`.

    Projected grids give two 1-D arrays (column x, row y) in metres (the CRS
    unit times its metre factor). Geographic grids give two 2-D arrays of
    shape (rows, cols): the cell centres projected to
    :data:`GEOGRAPHIC_METRIC_CRS`.

    Parameters
    ----------
    grid : evaluate.grid.Grid
    rows, cols : slice
        Window of the grid (steps other than 1 are not supported).
    """
    r0, r1, _ = rows.indices(grid.height)
    c0, c1, _ = cols.indices(grid.width)
    x = grid.x_coords(c0, c1)
    y = grid.y_coords(r0, r1)
    if grid.is_geographic:
        return lonlat_to_metric(x[None, :], y[:, None])
    factor = float(grid.crs.linear_units_factor[1])
    if factor != 1.0:
        x, y = x * factor, y * factor
    return x, y


# ----------------------------------------------------------------------------
# Hash and noise kernels
# ----------------------------------------------------------------------------

_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_K3 = np.uint64(0x165667B19E3779F9)
_K4 = np.uint64(0xFF51AFD7ED558CCD)
_K5 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S11 = np.uint64(11)
_M15 = np.uint64(15)
_INV53 = 1.0 / 9007199254740992.0

_ANG = 2.0 * np.pi * (np.arange(16) + 0.5) / 16.0
_GX = np.cos(_ANG)
_GY = np.sin(_ANG)

# noise channels: one per independent field so fields are uncorrelated
CH_WARP_X, CH_WARP_Y, CH_MACRO, CH_BASE, CH_ROLL, CH_RIDGE, CH_HILL = 1, 2, 3, 4, 5, 6, 7
CH_RMAIN, CH_RTRIB, CH_FLOOR, CH_LAKE, CH_RESV, CH_PREG, CH_PLOC = 8, 9, 10, 11, 12, 13, 14
CH_TNOISE, CH_SILT, CH_ALLUV, CH_CLAY, CH_LOESS, CH_PARCEL, CH_FPARCEL = 15, 16, 17, 18, 19, 20, 21
CH_AGRI, CH_UEDGE, CH_UPARCEL, CH_POND, CH_CELL, CH_TOWN, CH_VILL = 22, 23, 24, 25, 26, 27, 28
CH_HWY_ROW, CH_HWY_COL, CH_EDGE, CH_RESERVE, CH_COUNTY, CH_PLATEAU, CH_OC = 29, 30, 31, 32, 33, 34, 35
CH_NDVI, CH_SHAPE, CH_ALPINE, CH_NAME, CH_PBF, CH_WIDTH = 36, 37, 38, 39, 40, 41
CH_FAULT, CH_EXTRA = 42, 43  # CH_EXTRA … CH_EXTRA + N_EXTRA - 1: the noise fields of the evaluation inputs


@numba.njit("uint64(int64, int64, int64)", nogil=True, cache=True)
def _hash(a, b, c):
    """64-bit integer hash of three int64 values (murmur3 finaliser on a linear mix)."""
    h = (np.uint64(a) * _K1) ^ (np.uint64(b) * _K2) ^ (np.uint64(c) * _K3)
    h ^= h >> _S33
    h *= _K4
    h ^= h >> _S33
    h *= _K5
    h ^= h >> _S33
    return h


@numba.njit("float64(int64, int64, int64)", nogil=True, cache=True)
def _u01(a, b, c):
    """A uniform number in [0, 1) from the hash of (a, b, c)."""
    return float(_hash(a, b, c) >> _S11) * _INV53


@numba.njit("int64(int64, int64, int64)", nogil=True, cache=True)
def _chan(seed, ch, octave):
    return seed * 4096 + ch * 64 + octave


@numba.njit("float64(float64)", nogil=True, cache=True)
def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


@numba.njit("float64(float64, float64, int64)", nogil=True, cache=True)
def _noise(x, y, s):
    """2-D gradient noise in about [-1, 1], zero on the integer lattice; ``s`` selects the gradients."""
    fx = math.floor(x)
    fy = math.floor(y)
    ix = np.int64(fx)
    iy = np.int64(fy)
    tx = x - fx
    ty = y - fy
    h00 = np.int64(_hash(ix, iy, s) & _M15)
    h10 = np.int64(_hash(ix + 1, iy, s) & _M15)
    h01 = np.int64(_hash(ix, iy + 1, s) & _M15)
    h11 = np.int64(_hash(ix + 1, iy + 1, s) & _M15)
    v00 = _GX[h00] * tx + _GY[h00] * ty
    v10 = _GX[h10] * (tx - 1.0) + _GY[h10] * ty
    v01 = _GX[h01] * tx + _GY[h01] * (ty - 1.0)
    v11 = _GX[h11] * (tx - 1.0) + _GY[h11] * (ty - 1.0)
    u = _fade(tx)
    v = _fade(ty)
    a = v00 + u * (v10 - v00)
    b = v01 + u * (v11 - v01)
    return 1.41421356 * (a + v * (b - a))


@numba.njit("UniTuple(float64, 3)(float64, float64, int64)", nogil=True, cache=True)
def _noise_d(x, y, s):
    """Gradient noise with its analytic derivatives: (value, d/dx, d/dy), same scale as :func:`_noise`."""
    fx = math.floor(x)
    fy = math.floor(y)
    ix = np.int64(fx)
    iy = np.int64(fy)
    tx = x - fx
    ty = y - fy
    h00 = np.int64(_hash(ix, iy, s) & _M15)
    h10 = np.int64(_hash(ix + 1, iy, s) & _M15)
    h01 = np.int64(_hash(ix, iy + 1, s) & _M15)
    h11 = np.int64(_hash(ix + 1, iy + 1, s) & _M15)
    gax, gay = _GX[h00], _GY[h00]
    gbx, gby = _GX[h10], _GY[h10]
    gcx, gcy = _GX[h01], _GY[h01]
    gdx, gdy = _GX[h11], _GY[h11]
    va = gax * tx + gay * ty
    vb = gbx * (tx - 1.0) + gby * ty
    vc = gcx * tx + gcy * (ty - 1.0)
    vd = gdx * (tx - 1.0) + gdy * (ty - 1.0)
    u = _fade(tx)
    v = _fade(ty)
    du = 30.0 * tx * tx * (tx * (tx - 2.0) + 1.0)
    dv = 30.0 * ty * ty * (ty * (ty - 2.0) + 1.0)
    k = va - vb - vc + vd
    val = va + u * (vb - va) + v * (vc - va) + u * v * k
    dx = gax + u * (gbx - gax) + v * (gcx - gax) + u * v * (gax - gbx - gcx + gdx) + du * (vb - va + v * k)
    dy = gay + u * (gby - gay) + v * (gcy - gay) + u * v * (gay - gby - gcy + gdy) + dv * (vc - va + u * k)
    return 1.41421356 * val, 1.41421356 * dx, 1.41421356 * dy


@numba.njit("UniTuple(float64, 2)(int64, int64)", nogil=True, cache=True)
def _offset(seed, ch):
    """A per-channel coordinate offset (in lattice units) so channels do not share lattice zeros."""
    return 1000.0 * _u01(seed, ch, 7001), 1000.0 * _u01(seed, ch, 7002)


@numba.njit("float64(float64, float64, float64, int64, int64, int64, float64)", nogil=True, cache=True)
def _fbm(x, y, wavelength, seed, ch, octaves, gain):
    """Normalised fBm (sum of rotated octaves divided by the sum of amplitudes), about [-1, 1]."""
    ox, oy = _offset(seed, ch)
    px = x / wavelength + ox
    py = y / wavelength + oy
    total = 0.0
    norm = 0.0
    amp = 1.0
    for o in range(octaves):
        total += amp * _noise(px, py, _chan(seed, ch, o))
        norm += amp
        amp *= gain
        # rotate by atan(3/4) and scale by ~2 so octave lattices never align
        qx = 1.6 * px - 1.2 * py + 17.3
        py = 1.2 * px + 1.6 * py - 9.1
        px = qx * 1.2375
        py = py * 1.2375
    return total / norm


@numba.njit("UniTuple(float64, 3)(float64, float64, float64, int64, int64, int64, float64)", nogil=True, cache=True)
def _fbm_d(x, y, wavelength, seed, ch, octaves, gain):
    """:func:`_fbm` with its gradient with respect to (x, y) in 1/metre."""
    ox, oy = _offset(seed, ch)
    px = x / wavelength + ox
    py = y / wavelength + oy
    # Jacobian of (px, py) with respect to (x, y)
    j11 = 1.0 / wavelength
    j12 = 0.0
    j21 = 0.0
    j22 = 1.0 / wavelength
    total = 0.0
    gx = 0.0
    gy = 0.0
    norm = 0.0
    amp = 1.0
    for o in range(octaves):
        n, nx, ny = _noise_d(px, py, _chan(seed, ch, o))
        total += amp * n
        gx += amp * (nx * j11 + ny * j21)
        gy += amp * (nx * j12 + ny * j22)
        norm += amp
        amp *= gain
        qx = (1.6 * px - 1.2 * py + 17.3) * 1.2375
        py = (1.2 * px + 1.6 * py - 9.1) * 1.2375
        px = qx
        a11 = (1.6 * j11 - 1.2 * j21) * 1.2375
        a12 = (1.6 * j12 - 1.2 * j22) * 1.2375
        a21 = (1.2 * j11 + 1.6 * j21) * 1.2375
        a22 = (1.2 * j12 + 1.6 * j22) * 1.2375
        j11, j12, j21, j22 = a11, a12, a21, a22
    return total / norm, gx / norm, gy / norm


@numba.njit("float64(float64, float64, float64, int64, int64, int64, float64)", nogil=True, cache=True)
def _ridged(x, y, wavelength, seed, ch, octaves, gain):
    """Ridged multifractal (Musgrave 1994): sharp crests whose detail is weighted by the octave above.

    Returns about [0, 1]; crests near 1, valleys near 0.
    """
    ox, oy = _offset(seed, ch)
    px = x / wavelength + ox
    py = y / wavelength + oy
    total = 0.0
    norm = 0.0
    amp = 1.0
    weight = 1.0
    for o in range(octaves):
        r = 1.0 - abs(_noise(px, py, _chan(seed, ch, o)))
        r = r * r
        r *= weight
        weight = min(1.0, max(0.0, 2.0 * r))
        total += amp * r
        norm += amp
        amp *= gain
        qx = (1.6 * px - 1.2 * py + 17.3) * 1.2375
        py = (1.2 * px + 1.6 * py - 9.1) * 1.2375
        px = qx
    return total / norm


@numba.njit("float64(float64, float64, float64)", nogil=True, cache=True)
def _smoothstep(e0, e1, v):
    t = (v - e0) / (e1 - e0)
    if t <= 0.0:
        return 0.0
    if t >= 1.0:
        return 1.0
    return t * t * (3.0 - 2.0 * t)


@numba.njit("float64(float64, float64, int64, int64)", nogil=True, cache=True)
def _cell_u(x, y, seed, ch):
    """A uniform number per point, from the hash of its coordinates at 0.25 m resolution."""
    return _u01(np.int64(math.floor(x * 4.0)), np.int64(math.floor(y * 4.0)), _chan(seed, ch, 63))


@numba.njit("UniTuple(float64, 3)(float64, float64, float64, int64, int64)", nogil=True, cache=True)
def _voronoi(x, y, spacing, seed, ch):
    """Nearest jittered lattice point (cellular noise): returns (u, d1, d2).

    ``u`` is a uniform number identifying the parcel (Voronoi cell) the point
    belongs to; ``d1``, ``d2`` are the distances to the nearest and second
    nearest parcel centres (their difference is small on parcel borders).
    """
    gx = np.int64(math.floor(x / spacing))
    gy = np.int64(math.floor(y / spacing))
    s = _chan(seed, ch, 0)
    best = 1e300
    second = 1e300
    best_id = np.int64(0)
    best_jy = np.int64(0)
    for dj in range(-1, 2):
        for di in range(-1, 2):
            i = gx + di
            j = gy + dj
            px = (i + 0.1 + 0.8 * _u01(i, j, s)) * spacing
            py = (j + 0.1 + 0.8 * _u01(i, j, s + 1)) * spacing
            d = (px - x) * (px - x) + (py - y) * (py - y)
            if d < best:
                second = best
                best = d
                best_id = i
                best_jy = j
            elif d < second:
                second = d
    return _u01(best_id, best_jy, s + 2), math.sqrt(best), math.sqrt(second)


# ----------------------------------------------------------------------------
# Terrain
# ----------------------------------------------------------------------------

# indices of the terrain field stack returned by _k_terrain
T_ELEV, T_SLOPE, T_MOUNT, T_HILL, T_DMAIN, T_DTRIB, T_LAKE, T_FLOOR, T_HWMAIN, T_HWTRIB, T_RESV, T_BASE = range(12)
N_TERRAIN = 12

_SLOPE_STEP = 15.0  # metres; forward-difference step of the internal slope estimate (a fixed length keeps it a pure function)


@numba.njit("UniTuple(float64, 3)(float64, float64, int64)", nogil=True, cache=True)
def _macro(x, y, seed):
    """Domain-warped coordinates and the macro relief field M (mountain belts where M is high)."""
    wx = x + 2500.0 * _fbm(x, y, 22000.0, seed, CH_WARP_X, 3, 0.5)
    wy = y + 2500.0 * _fbm(x, y, 22000.0, seed, CH_WARP_Y, 3, 0.5)
    big = _fbm(wx, wy, 32000.0, seed, CH_MACRO, 3, 0.5)
    return wx, wy, big


@numba.njit("float64(float64)", nogil=True, cache=True)
def _mountain_mask(big):
    return _smoothstep(-0.15, 0.20, big)


@numba.njit("UniTuple(float64, 11)(float64, float64, int64, boolean)", nogil=True, cache=True)
def _terrain_point(x, y, seed, full):
    """Elevation and the terrain fields the other layers need, at one point.

    Returns (elev, mountain mask, hill mask, distance to trunk river,
    distance to tributary, lake weight, valley-floor weight, trunk half-width,
    tributary half-width, reservoir field, base level). With ``full`` False
    only the elevation is meaningful (the slope estimate needs nothing else).
    """
    wx, wy, big = _macro(x, y, seed)
    mount = _mountain_mask(big)
    hill = _smoothstep(-0.45, -0.15, big)
    base = 20.0 + 300.0 * (0.5 + 0.5 * _fbm(wx, wy, 160000.0, seed, CH_BASE, 2, 0.5))
    base += 1100.0 * _smoothstep(0.30, 0.70, _fbm(x, y, 700000.0, seed, CH_PLATEAU, 2, 0.5))
    roll = 12.0 * _fbm(wx, wy, 5000.0, seed, CH_ROLL, 2, 0.5)
    relief = 0.0
    if mount > 0.0:
        relief += 1900.0 * mount ** 1.2 * _ridged(wx, wy, 16000.0, seed, CH_RIDGE, 8, 0.4)
    if hill > 0.0:
        hills = 0.5 + 0.5 * _fbm(wx, wy, 3500.0, seed, CH_HILL, 5, 0.5)
        relief += 300.0 * hill * hills * hills

    # rivers: zero-level lines of smooth noise; |n| / |grad n| approximates the distance to them
    n1, g1x, g1y = _fbm_d(x, y, 60000.0, seed, CH_RMAIN, 3, 0.5)
    d_main = abs(n1) / max(math.sqrt(g1x * g1x + g1y * g1y), 1e-12)
    n2, g2x, g2y = _fbm_d(x, y, 9000.0, seed, CH_RTRIB, 2, 0.45)
    d_trib = abs(n2) / max(math.sqrt(g2x * g2x + g2y * g2y), 1e-12)
    fl = 0.5 + 0.5 * _fbm(x, y, 15000.0, seed, CH_FLOOR, 1, 0.5)
    fl2 = 0.5 + 0.5 * _fbm(x, y, 11000.0, seed, CH_WIDTH, 1, 0.5)
    # trunk rivers cut flat floors down to the base level (paddy valleys); tributaries
    # remove 50-95 % of the relief at their bed; wall widths grow with the relief so
    # valley sides stay below ~40°
    floor_main = 350.0 + 650.0 * fl
    t_main = _smoothstep(floor_main, floor_main + 800.0 + 2.0 * relief, d_main)
    floor_trib = 25.0 + 80.0 * fl2
    t_trib = _smoothstep(floor_trib, floor_trib + 300.0 + 1.6 * relief, d_trib)
    carve = t_main * (1.0 - (0.5 + 0.45 * fl2) * (1.0 - t_trib))
    elev = base + roll + relief * carve
    lake = 0.0
    if mount < 0.08:
        lake = _smoothstep(0.40, 0.50, _fbm(x, y, 7000.0, seed, CH_LAKE, 2, 0.5)) * (1.0 - _smoothstep(0.0, 0.08, mount))
        if lake > 0.0:
            # lakes fill flat basins: pull the surface to one level below the rolling plain
            elev = elev * (1.0 - lake) + (base - 3.0) * lake
    if not full:
        return elev, mount, hill, d_main, d_trib, lake, 0.0, 0.0, 0.0, 0.0, base
    resv = _fbm(x, y, 6000.0, seed, CH_RESV, 1, 0.5)
    hw_main = 35.0 + 45.0 * fl
    hw_trib = 16.5 + 8.0 * fl2
    floor = 1.0 - t_main * t_trib
    return elev, mount, hill, d_main, d_trib, lake, floor, hw_main, hw_trib, resv, base


@numba.njit("UniTuple(float64, 2)(float64, float64, int64)", nogil=True, cache=True)
def _elev_slope(x, y, seed):
    """Elevation and slope (degrees, forward differences over 15 m) at one point."""
    e = _terrain_point(x, y, seed, False)[0]
    ex = _terrain_point(x + _SLOPE_STEP, y, seed, False)[0]
    ey = _terrain_point(x, y + _SLOPE_STEP, seed, False)[0]
    gx = (ex - e) / _SLOPE_STEP
    gy = (ey - e) / _SLOPE_STEP
    return e, math.degrees(math.atan(math.sqrt(gx * gx + gy * gy)))


@numba.njit(nogil=True, cache=True)
def _k_terrain(xs, ys, seed, need_slope):
    """Terrain field stack (N_TERRAIN, rows, cols) over 2-D coordinate arrays."""
    rows, cols = xs.shape
    out = np.empty((N_TERRAIN, rows, cols), dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            x = xs[i, j]
            y = ys[i, j]
            e, mount, hill, d_main, d_trib, lake, floor, hw_main, hw_trib, resv, base = _terrain_point(x, y, seed, True)
            out[T_ELEV, i, j] = e
            if need_slope:
                ex = _terrain_point(x + _SLOPE_STEP, y, seed, False)[0]
                ey = _terrain_point(x, y + _SLOPE_STEP, seed, False)[0]
                gx = (ex - e) / _SLOPE_STEP
                gy = (ey - e) / _SLOPE_STEP
                out[T_SLOPE, i, j] = math.degrees(math.atan(math.sqrt(gx * gx + gy * gy)))
            else:
                out[T_SLOPE, i, j] = np.nan
            out[T_MOUNT, i, j] = mount
            out[T_HILL, i, j] = hill
            out[T_DMAIN, i, j] = d_main
            out[T_DTRIB, i, j] = d_trib
            out[T_LAKE, i, j] = lake
            out[T_FLOOR, i, j] = floor
            out[T_HWMAIN, i, j] = hw_main
            out[T_HWTRIB, i, j] = hw_trib
            out[T_RESV, i, j] = resv
            out[T_BASE, i, j] = base
    return out


# ----------------------------------------------------------------------------
# Climate
# ----------------------------------------------------------------------------

# indices of the climate stack returned by _k_climate
C_PRECIP, C_TANN, C_AMP, C_T0 = range(4)
N_CLIMATE = 4

_REF_NORTHING = 2_540_000.0  # metres; ≈23°N, where the sea-level climate constants below hold
_LAPSE = 0.006  # °C per metre (0.6 °C/100 m, methods.md §2.2 item 4)
_WIND_U = (0.34, 0.94)  # direction the rain-bearing (SSW) monsoon blows towards
_DAYS = 365


@numba.njit("UniTuple(float64, 3)(float64, float64, int64)", nogil=True, cache=True)
def _sea_level_climate(x, y, seed):
    """(sea-level annual mean °C, half annual range °C, regional precipitation mm/a)."""
    north_km = (y - _REF_NORTHING) / 1000.0
    t0 = 22.3 - 0.0054 * north_km - 0.0055 * max(0.0, north_km - 1800.0)
    t0 += 0.6 * _fbm(x, y, 120000.0, seed, CH_TNOISE, 2, 0.5)
    amp = min(20.0, max(4.0, 7.5 + 0.0068 * north_km))
    # log-normal regional field (300 km) drying northward, with a longer dry tail than wet tail:
    # spans <200 to >2000 mm over a large region
    f = _fbm(x, y, 300000.0, seed, CH_PREG, 2, 0.5)
    p_reg = 1300.0 * math.exp((1.5 if f < 0.0 else 0.5) * f - 0.0006 * max(0.0, north_km))
    return t0, amp, p_reg


@numba.njit(nogil=True, cache=True)
def _k_climate(xs, ys, terrain, seed):
    """Climate stack (N_CLIMATE, rows, cols): precipitation, annual mean, half annual range, sea-level mean."""
    rows, cols = xs.shape
    out = np.empty((N_CLIMATE, rows, cols), dtype=np.float64)
    ux, uy = _WIND_U
    for i in range(rows):
        for j in range(cols):
            x = xs[i, j]
            y = ys[i, j]
            elev = terrain[T_ELEV, i, j]
            mount = terrain[T_MOUNT, i, j]
            t0, amp, p_reg = _sea_level_climate(x, y, seed)
            # orographic factor: wetter uphill and where the mountain belt rises along the
            # wind (windward), drier where a belt upwind is higher than here (rain shadow)
            m1 = _mountain_mask(_macro(x - 12000.0 * ux, y - 12000.0 * uy, seed)[2])
            m2 = _mountain_mask(_macro(x - 25000.0 * ux, y - 25000.0 * uy, seed)[2])
            windward = mount - m1
            shadow = max(0.0, max(m1, m2) - mount)
            oro = math.exp(0.45 * windward - 0.6 * shadow) * (1.0 + 0.3 * min(max(elev, 0.0), 3000.0) / 1000.0)
            local = 1.0 + 0.08 * _fbm(x, y, 8000.0, seed, CH_PLOC, 2, 0.5)
            out[C_PRECIP, i, j] = min(3000.0, max(60.0, p_reg * oro * local))
            out[C_TANN, i, j] = t0 - _LAPSE * elev
            out[C_AMP, i, j] = amp
            out[C_T0, i, j] = t0
    return out


@numba.njit(nogil=True, cache=True)
def _k_temperature(tann_base, amp):
    """Daily model → (monthly means (12, r, c), annual mean, ≥0 °C accumulated temperature, PET).

    Daily mean T_d = T_a − A·cos(2π(d − 15)/365), d = 0..364 (coldest on 16 January).
    ``at0`` = Σ_d T_d·[T_d ≥ 0] (methods.md §2.2 item 4, simple sum);
    monthly means average T_d over the days of each month (non-leap year);
    the annual mean is the mean of the 365 daily values. PET is a
    temperature-index estimate, 350 mm + 0.13 mm per °C·d of ``at0``.
    """
    rows, cols = tann_base.shape
    cosd = np.empty(_DAYS, dtype=np.float64)
    month_of = np.empty(_DAYS, dtype=np.int64)
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    d = 0
    for m in range(12):
        for _ in range(lengths[m]):
            month_of[d] = m
            d += 1
    for d in range(_DAYS):
        cosd[d] = math.cos(2.0 * math.pi * (d - 15.0) / _DAYS)
    months = np.empty((12, rows, cols), dtype=np.float32)
    tmean = np.empty((rows, cols), dtype=np.float32)
    at0 = np.empty((rows, cols), dtype=np.float32)
    pet = np.empty((rows, cols), dtype=np.float32)
    msum = np.empty(12, dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            ta = tann_base[i, j]
            a = amp[i, j]
            total = 0.0
            warm = 0.0
            for m in range(12):
                msum[m] = 0.0
            for d in range(_DAYS):
                td = ta - a * cosd[d]
                total += td
                msum[month_of[d]] += td
                if td >= 0.0:
                    warm += td
            for m in range(12):
                months[m, i, j] = msum[m] / lengths[m]
            tmean[i, j] = total / _DAYS
            at0[i, j] = warm
            pet[i, j] = 350.0 + 0.13 * warm
    return months, tmean, at0, pet


# ----------------------------------------------------------------------------
# Soil texture
# ----------------------------------------------------------------------------

_TEXTURE_QUANTUM = 32.0  # fractions are multiples of 1/32 %, so sand+silt+clay == 100 exactly in float32


@numba.njit(nogil=True, cache=True)
def _k_texture(xs, ys, terrain, climate, seed):
    """(sand, silt, clay) in percent (float32), exact sum 100.

    Silt (Chinese system, 2–20 µm) is mostly 15–45 %; alluvial floodplains
    of trunk rivers and regional loess deposits raise it above 60 % and, in
    their cores, above 80 % — the thresholds of the agricultural silt
    correction (methods.md §4.1). Clay is higher in the warm south (red
    soils) and lower in alluvium.
    """
    rows, cols = xs.shape
    sand = np.empty((rows, cols), dtype=np.float32)
    silt = np.empty((rows, cols), dtype=np.float32)
    clay = np.empty((rows, cols), dtype=np.float32)
    q = _TEXTURE_QUANTUM
    for i in range(rows):
        for j in range(cols):
            x = xs[i, j]
            y = ys[i, j]
            d_main = terrain[T_DMAIN, i, j]
            d_trib = terrain[T_DTRIB, i, j]
            mount = terrain[T_MOUNT, i, j]
            alluv = max(1.0 - _smoothstep(200.0, 2500.0, d_main), 0.5 * (1.0 - _smoothstep(30.0, 300.0, d_trib)))
            loess = _smoothstep(0.25, 0.60, _fbm(x, y, 150000.0, seed, CH_LOESS, 2, 0.5))
            si = 24.0 + 16.0 * _fbm(x, y, 4000.0, seed, CH_SILT, 3, 0.5)
            si += alluv * (34.0 + 40.0 * _fbm(x, y, 2500.0, seed, CH_ALLUV, 2, 0.5)) + 45.0 * loess - 8.0 * mount
            si = min(92.0, max(4.0, si))
            red = _smoothstep(15.0, 22.0, climate[C_T0, i, j])
            cl = 17.0 + 14.0 * _fbm(x, y, 5000.0, seed, CH_CLAY, 3, 0.5) + 10.0 * red - 6.0 * alluv
            cl = min(55.0, max(3.0, cl))
            si = math.floor(si * q + 0.5) / q
            cl = math.floor(cl * q + 0.5) / q
            if si + cl > 97.0:
                cl = 97.0 - si
            silt[i, j] = si
            clay[i, j] = cl
            sand[i, j] = 100.0 - si - cl
    return sand, silt, clay


# ----------------------------------------------------------------------------
# Settlements and roads (lattice rules)
# ----------------------------------------------------------------------------

TOWN_SPACING = 11000.0  # one candidate town (城市/建制镇) per 11 km lattice cell
VILLAGE_SPACING = 1700.0  # one candidate village (村庄) per 1.7 km lattice cell
CITY_RADIUS_MAX = 3200.0
ROAD_HALF_WIDTH = (0.0, 24.0, 17.0, 15.5)  # by class: 1 highway, 2 county, 3 rural (≥ half a 30 m cell, so roads stay connected)
LEVEL_CITY, LEVEL_TOWN, LEVEL_VILLAGE = 201, 202, 203
ROAD_HIGHWAY, ROAD_COUNTY, ROAD_RURAL = 1, 2, 3


@numba.njit(nogil=True, cache=True)
def _dry_site(x, y, seed, max_slope, max_elev, margin):
    """Whether a point is flat, low and dry enough to build on (returns ok, elev, slope, mountain mask)."""
    e, sl = _elev_slope(x, y, seed)
    tp = _terrain_point(x, y, seed, True)
    ok = (
        sl <= max_slope
        and e <= max_elev
        and tp[3] > tp[7] + margin
        and tp[4] > tp[8] + margin
        and tp[5] < 0.05
    )
    return ok, e, sl, tp[1]


@numba.njit(nogil=True, cache=True)
def _town_node(i, j, seed):
    """The town candidate of lattice cell (i, j).

    Up to six hashed positions in the cell are tried; the first on flat
    (≤ 6°), low (≤ 900 m), dry land is the site. Returns (x, y, kept, level,
    radius, population, through_x, through_y), where ``through`` is the site
    or, if none was found, the first position (highways still pass there).
    """
    s = _chan(seed, CH_TOWN, 0)
    fx = (i + 0.15 + 0.7 * _u01(i, j, s)) * TOWN_SPACING
    fy = (j + 0.15 + 0.7 * _u01(i, j, s + 1)) * TOWN_SPACING
    for k in range(6):
        px = (i + 0.15 + 0.7 * _u01(i, j, s + 2 * k)) * TOWN_SPACING
        py = (j + 0.15 + 0.7 * _u01(i, j, s + 2 * k + 1)) * TOWN_SPACING
        ok, e, sl, mount = _dry_site(px, py, seed, 6.0, 900.0, 60.0)
        if ok:
            if _u01(i, j, s + 20) >= 0.85:
                return px, py, False, 0, 0.0, 0, px, py
            if _u01(i, j, s + 21) < 0.25 and mount <= 0.2:
                r = 1800.0 + (CITY_RADIUS_MAX - 1800.0) * _u01(i, j, s + 22)
                pop = np.int64(150000.0 * (r / 1800.0) ** 2 * (0.8 + 0.4 * _u01(i, j, s + 23)))
                return px, py, True, LEVEL_CITY, r, pop, px, py
            r = 420.0 + 380.0 * _u01(i, j, s + 22)
            pop = np.int64(8000.0 * (r / 420.0) ** 2 * (0.8 + 0.4 * _u01(i, j, s + 23)))
            return px, py, True, LEVEL_TOWN, r, pop, px, py
    return fx, fy, False, 0, 0.0, 0, fx, fy


@numba.njit(nogil=True, cache=True)
def _village_node(i, j, seed):
    """The village candidate of lattice cell (i, j): (x, y, kept, radius, population)."""
    s = _chan(seed, CH_VILL, 0)
    for k in range(3):
        px = (i + 0.1 + 0.8 * _u01(i, j, s + 2 * k)) * VILLAGE_SPACING
        py = (j + 0.1 + 0.8 * _u01(i, j, s + 2 * k + 1)) * VILLAGE_SPACING
        ok, e, sl, mount = _dry_site(px, py, seed, 12.0, 1600.0, 40.0)
        if ok:
            # fewer villages in the mountains
            if _u01(i, j, s + 20) >= 0.8 - 0.4 * mount:
                return px, py, False, 0.0, 0
            r = 90.0 + 110.0 * _u01(i, j, s + 21)
            pop = np.int64(200.0 * (r / 90.0) ** 2 * (0.7 + 0.6 * _u01(i, j, s + 22)))
            return px, py, True, r, pop
    return 0.0, 0.0, False, 0.0, 0


@numba.njit(nogil=True, cache=True)
def _town_nodes(i0, i1, j0, j1, seed):
    """Town candidates of lattice cells i0..i1 × j0..j1 (inclusive), as a (n, 10) float64 table.

    Columns: i, j, x, y, kept, level, radius, population, through_x, through_y.
    """
    n = (i1 - i0 + 1) * (j1 - j0 + 1)
    out = np.empty((n, 10), dtype=np.float64)
    k = 0
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            x, y, kept, level, r, pop, tx, ty = _town_node(i, j, seed)
            out[k, 0] = i
            out[k, 1] = j
            out[k, 2] = x
            out[k, 3] = y
            out[k, 4] = 1.0 if kept else 0.0
            out[k, 5] = level
            out[k, 6] = r
            out[k, 7] = pop
            out[k, 8] = tx
            out[k, 9] = ty
            k += 1
    return out


@numba.njit(nogil=True, cache=True)
def _village_nodes(i0, i1, j0, j1, seed):
    """Village candidates as a (n, 7) table: i, j, x, y, kept, radius, population."""
    n = (i1 - i0 + 1) * (j1 - j0 + 1)
    out = np.empty((n, 7), dtype=np.float64)
    k = 0
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            x, y, kept, r, pop = _village_node(i, j, seed)
            out[k, 0] = i
            out[k, 1] = j
            out[k, 2] = x
            out[k, 3] = y
            out[k, 4] = 1.0 if kept else 0.0
            out[k, 5] = r
            out[k, 6] = pop
            k += 1
    return out


@numba.njit(nogil=True, cache=True)
def _polyline(x0, y0, x1, y1, amp, a, b, c, seed):
    """A road from (x0, y0) to (x1, y1): five vertices, the inner three displaced sideways by hashed amounts.

    (a, b, c) identify the edge so both ends agree on the same polyline.
    Returns (xs, ys) arrays of 5 vertices.
    """
    s = _chan(seed, CH_EDGE, 0)
    dx = x1 - x0
    dy = y1 - y0
    length = math.sqrt(dx * dx + dy * dy)
    nx = -dy / max(length, 1e-9)
    ny = dx / max(length, 1e-9)
    xs = np.empty(5, dtype=np.float64)
    ys = np.empty(5, dtype=np.float64)
    xs[0] = x0
    ys[0] = y0
    xs[4] = x1
    ys[4] = y1
    o1 = amp * length * (_u01(a, b, s + 4 * c) - 0.5)
    o3 = amp * length * (_u01(a, b, s + 4 * c + 1) - 0.5)
    o2 = 0.5 * (o1 + o3) + 0.5 * amp * length * (_u01(a, b, s + 4 * c + 2) - 0.5)
    for k, off in ((1, o1), (2, o2), (3, o3)):
        t = 0.25 * k
        xs[k] = x0 + t * dx + off * nx
        ys[k] = y0 + t * dy + off * ny
    return xs, ys


@numba.njit("float64(float64, float64, float64, float64, float64, float64)", nogil=True, cache=True)
def _seg_dist2(px, py, x0, y0, x1, y1):
    dx = x1 - x0
    dy = y1 - y0
    ll = dx * dx + dy * dy
    t = 0.0
    if ll > 0.0:
        t = min(1.0, max(0.0, ((px - x0) * dx + (py - y0) * dy) / ll))
    ex = x0 + t * dx - px
    ey = y0 + t * dy - py
    return ex * ex + ey * ey


@numba.njit(nogil=True, cache=True)
def _k_stamps(xs, ys, slope, segs, discs, seed):
    """Road class and settlement level of every point.

    ``segs`` (n, 6): x0, y0, x1, y1, half-width, class; ``discs`` (m, 4):
    centre x, centre y, radius, level. A point is road if its distance to a
    segment is within the half-width (highway wins over county over rural);
    it is built-up if it lies inside a settlement's disc whose radius is
    modulated by a 900 m noise (0.75–1.25 r), and is not on a slope > 20°
    outside the settlement core (city wins over town over village). Items
    are bucketed on a coarse grid so each point tests only nearby ones.
    """
    rows, cols = xs.shape
    road = np.zeros((rows, cols), dtype=np.int8)
    settle = np.zeros((rows, cols), dtype=np.int16)
    n_seg = segs.shape[0]
    n_items = n_seg + discs.shape[0]
    if n_items == 0 or rows == 0 or cols == 0:
        return road, settle
    xmin = xs.min()
    xmax = xs.max()
    ymin = ys.min()
    ymax = ys.max()
    bs = max(500.0, max(xmax - xmin, ymax - ymin) / 1024.0)
    nbx = np.int64((xmax - xmin) / bs) + 1
    nby = np.int64((ymax - ymin) / bs) + 1
    lo_x = np.empty(n_items, dtype=np.int64)
    hi_x = np.empty(n_items, dtype=np.int64)
    lo_y = np.empty(n_items, dtype=np.int64)
    hi_y = np.empty(n_items, dtype=np.int64)
    counts = np.zeros(nbx * nby + 1, dtype=np.int64)
    for k in range(n_items):
        if k < n_seg:
            reach = segs[k, 4]
            ax = min(segs[k, 0], segs[k, 2]) - reach
            bx = max(segs[k, 0], segs[k, 2]) + reach
            ay = min(segs[k, 1], segs[k, 3]) - reach
            by = max(segs[k, 1], segs[k, 3]) + reach
        else:
            d = k - n_seg
            reach = 1.25 * discs[d, 2]
            ax = discs[d, 0] - reach
            bx = discs[d, 0] + reach
            ay = discs[d, 1] - reach
            by = discs[d, 1] + reach
        if bx < xmin or ax > xmax or by < ymin or ay > ymax:
            lo_x[k] = 1
            hi_x[k] = 0
            continue
        lo_x[k] = max(np.int64(0), np.int64(math.floor((ax - xmin) / bs)))
        hi_x[k] = min(nbx - 1, np.int64(math.floor((bx - xmin) / bs)))
        lo_y[k] = max(np.int64(0), np.int64(math.floor((ay - ymin) / bs)))
        hi_y[k] = min(nby - 1, np.int64(math.floor((by - ymin) / bs)))
        for by_ in range(lo_y[k], hi_y[k] + 1):
            for bx_ in range(lo_x[k], hi_x[k] + 1):
                counts[by_ * nbx + bx_ + 1] += 1
    for b in range(nbx * nby):
        counts[b + 1] += counts[b]
    items = np.empty(counts[nbx * nby], dtype=np.int64)
    fill = counts[:-1].copy()
    for k in range(n_items):
        if lo_x[k] > hi_x[k]:
            continue
        for by_ in range(lo_y[k], hi_y[k] + 1):
            for bx_ in range(lo_x[k], hi_x[k] + 1):
                b = by_ * nbx + bx_
                items[fill[b]] = k
                fill[b] += 1
    for i in range(rows):
        for j in range(cols):
            px = xs[i, j]
            py = ys[i, j]
            b = np.int64((py - ymin) / bs) * nbx + np.int64((px - xmin) / bs)
            best_road = 0
            best_level = 0
            edge = -1.0
            for q in range(counts[b], counts[b + 1]):
                k = items[q]
                if k < n_seg:
                    cls = np.int64(segs[k, 5])
                    if best_road != 0 and cls >= best_road:
                        continue
                    hw = segs[k, 4]
                    if _seg_dist2(px, py, segs[k, 0], segs[k, 1], segs[k, 2], segs[k, 3]) <= hw * hw:
                        best_road = cls
                else:
                    d = k - n_seg
                    level = np.int64(discs[d, 3])
                    if best_level != 0 and level >= best_level:
                        continue
                    r = discs[d, 2]
                    dist = math.sqrt((px - discs[d, 0]) ** 2 + (py - discs[d, 1]) ** 2)
                    if dist > 1.25 * r:
                        continue
                    if edge < 0.0:
                        edge = 0.5 + 0.5 * _fbm(px, py, 900.0, seed, CH_UEDGE, 2, 0.5)
                    if dist <= r * (0.75 + 0.5 * edge) and (slope[i, j] <= 20.0 or dist <= 0.3 * r):
                        best_level = level
            road[i, j] = best_road
            settle[i, j] = best_level
    return road, settle


# ----------------------------------------------------------------------------
# Land use, NDVI, soil organic carbon, actual ET
# ----------------------------------------------------------------------------

# cover groups: NDVI range, soil organic carbon range (%), Fu's Budyko parameter w
G_WATER, G_BUILT, G_RURAL_ROAD, G_PADDY, G_DRYCROP, G_ORCHARD, G_FOREST, G_SHRUB, G_GRASS, G_BARE, G_FACILITY, G_PARK = range(12)
_GROUP_NDVI = np.array(
    [[-0.30, -0.05], [0.05, 0.25], [0.20, 0.40], [0.45, 0.72], [0.35, 0.65], [0.55, 0.78], [0.70, 0.90],
     [0.50, 0.72], [0.35, 0.62], [0.02, 0.12], [0.10, 0.30], [0.45, 0.70]]
)
_GROUP_OC = np.array(
    [[0.8, 1.6], [0.3, 0.8], [0.4, 0.9], [1.2, 2.2], [0.6, 1.4], [0.8, 1.6], [1.6, 3.2],
     [1.0, 2.2], [1.0, 2.4], [0.1, 0.4], [0.5, 1.0], [0.8, 1.6]]
)
_GROUP_W = np.array([1.0, 1.6, 1.8, 2.6, 2.3, 2.5, 2.9, 2.4, 2.1, 1.4, 1.7, 2.2])


@numba.njit("int64(int64)", nogil=True, cache=True)
def _group(code):
    if code == 1101 or code == 1102 or code == 1103 or code == 1104:
        return G_WATER
    if code == 101:
        return G_PADDY
    if code == 102 or code == 103:
        return G_DRYCROP
    if code == 201 or code == 202:
        return G_ORCHARD
    if code == 301 or code == 302:
        return G_FOREST
    if code == 305 or code == 307:
        return G_SHRUB
    if code == 401 or code == 404:
        return G_GRASS
    if code == 1207:
        return G_BARE
    if code == 1202:
        return G_FACILITY
    if code == 1006:
        return G_RURAL_ROAD
    if code == 810:
        return G_PARK
    return G_BUILT


@numba.njit(nogil=True, cache=True)
def _urban_code(x, y, level, seed):
    """DLBM of a built-up cell: a street grid plus hashed functional parcels (≈160 m Voronoi)."""
    if level == LEVEL_VILLAGE:
        u = _voronoi(x, y, 70.0, seed, CH_UPARCEL)[0]
        return 1201 if u < 0.04 else 702
    spacing = 240.0 if level == LEVEL_CITY else 320.0
    fx = x / spacing - math.floor(x / spacing)
    fy = y / spacing - math.floor(y / spacing)
    if fx < 0.07 or fy < 0.07:
        return 1004
    u = _voronoi(x, y, 160.0, seed, CH_UPARCEL)[0]
    if level == LEVEL_CITY:
        if u < 0.50:
            return 701
        if u < 0.66:
            return 601
        if u < 0.76:
            return 591
        if u < 0.80:
            return 891
        if u < 0.86:
            return 892
        if u < 0.89:
            return 809
        if u < 0.94:
            return 810
        if u < 0.97:
            return 508
        return 1005
    if u < 0.66:
        return 701
    if u < 0.78:
        return 601
    if u < 0.87:
        return 591
    if u < 0.91:
        return 891
    if u < 0.96:
        return 892
    return 810


@numba.njit(nogil=True, cache=True)
def _rural_code(x, y, elev, slope, precip, mount, d_main, d_trib, seed):
    """DLBM of a cell outside water, roads and settlements: cropland, plantation, forest, grass or rock."""
    wet = precip >= 1000.0 or d_main < 2500.0 or d_trib < 300.0
    if slope <= 2.0:
        crop_p = 0.92
    elif slope <= 6.0:
        crop_p = 0.75
    elif slope <= 10.0:
        crop_p = 0.45
    elif slope <= 15.0:
        crop_p = 0.22
    elif slope <= 20.0:
        crop_p = 0.06
    else:
        crop_p = 0.0
    if elev > 1400.0:
        crop_p *= 0.2
    elif elev > 1000.0:
        crop_p *= 0.6
    crop_p *= min(1.0, 0.55 + 0.7 * (0.5 + 0.5 * _fbm(x, y, 9000.0, seed, CH_AGRI, 2, 0.5)))
    u = _voronoi(x, y, 260.0, seed, CH_PARCEL)[0]
    if u < crop_p:
        v = u * 9973.0 - math.floor(u * 9973.0)  # a second, independent number per parcel
        if v > 0.985:
            return 1202
        if slope <= 3.0:
            if wet and elev < 1200.0:
                return 101 if v < 0.85 else 103
            if d_main < 4000.0 or d_trib < 500.0:
                return 102
            return 103
        if slope <= 15.0 and v < 0.10:
            return 201
        if slope > 5.0 and precip >= 1200.0 and v < 0.17:
            return 202
        return 103
    uf = _voronoi(x, y, 600.0, seed, CH_FPARCEL)[0]
    alpine = elev > 1750.0 + 150.0 * _fbm(x, y, 5000.0, seed, CH_ALPINE, 2, 0.5)
    if slope > 55.0 or (slope > 45.0 and uf < 0.25) or (elev > 2000.0 and uf < 0.5):
        return 1207
    if alpine:
        if uf < 0.45:
            return 404
        if uf < 0.8 or slope >= 20.0:
            return 305
        return 401
    if precip < 650.0:
        if uf < 0.55:
            return 404
        if uf < 0.85:
            return 305
        return 401 if slope < 20.0 else 404
    if uf < 0.70:
        return 301
    if uf < 0.77:
        return 302
    if uf < 0.86:
        return 305
    if uf < 0.95:
        return 307
    return 404


@numba.njit(nogil=True, cache=True)
def _k_landcover(xs, ys, terrain, climate, pet, road, settle, seed):
    """(landuse int16, czcsxm int16, ndvi, aet, soil_oc float32) for every point.

    Precedence: lake > reservoir > road (城镇村道路 inside settlements) >
    river > built-up > pond > rural cover. Reservoirs are valley floors in the
    mountains where a 6 km noise is high; ponds are 25–55 m discs on a
    450 m lattice over flat land.
    """
    rows, cols = xs.shape
    landuse = np.empty((rows, cols), dtype=np.int16)
    czcsxm = np.zeros((rows, cols), dtype=np.int16)
    ndvi = np.empty((rows, cols), dtype=np.float32)
    aet = np.empty((rows, cols), dtype=np.float32)
    oc = np.empty((rows, cols), dtype=np.float32)
    spond = _chan(seed, CH_POND, 0)
    for i in range(rows):
        for j in range(cols):
            x = xs[i, j]
            y = ys[i, j]
            elev = terrain[T_ELEV, i, j]
            slope = terrain[T_SLOPE, i, j]
            mount = terrain[T_MOUNT, i, j]
            d_main = terrain[T_DMAIN, i, j]
            d_trib = terrain[T_DTRIB, i, j]
            precip = climate[C_PRECIP, i, j]
            level = settle[i, j]
            code = 0
            if terrain[T_LAKE, i, j] > 0.5:
                code = 1102
            elif terrain[T_RESV, i, j] > 0.45 and mount > 0.3 and terrain[T_FLOOR, i, j] > 0.98:
                code = 1103
            elif road[i, j] > 0:
                if level > 0:
                    code = 1004
                    czcsxm[i, j] = level
                elif road[i, j] == ROAD_RURAL:
                    code = 1006
                else:
                    code = 1003
            elif d_main < terrain[T_HWMAIN, i, j] or d_trib < terrain[T_HWTRIB, i, j]:
                code = 1101
            elif level > 0:
                code = _urban_code(x, y, level, seed)
                czcsxm[i, j] = level
            else:
                if slope <= 3.0:
                    gi = np.int64(math.floor(x / 450.0))
                    gj = np.int64(math.floor(y / 450.0))
                    if _u01(gi, gj, spond) < 0.12:
                        r = 25.0 + 30.0 * _u01(gi, gj, spond + 1)
                        cx = gi * 450.0 + r + (450.0 - 2.0 * r) * _u01(gi, gj, spond + 2)
                        cy = gj * 450.0 + r + (450.0 - 2.0 * r) * _u01(gi, gj, spond + 3)
                        if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                            code = 1104
                if code == 0:
                    code = _rural_code(x, y, elev, slope, precip, mount, d_main, d_trib, seed)
            landuse[i, j] = code

            g = _group(code)
            u_cell = _cell_u(x, y, seed, CH_NDVI)
            u_patch = 0.5 + 0.5 * _fbm(x, y, 400.0, seed, CH_NDVI, 2, 0.5)
            lo = _GROUP_NDVI[g, 0]
            hi = _GROUP_NDVI[g, 1]
            nd = lo + (hi - lo) * (0.6 * u_patch + 0.4 * u_cell)
            if g != G_WATER and nd > 0.0:
                # dry and cold places are less green
                moist = min(1.0, max(0.45, 0.3 + precip / 1600.0))
                cold = min(1.0, max(0.55, (climate[C_TANN, i, j] + 2.0) / 14.0))
                nd *= moist * cold
            ndvi[i, j] = nd

            p = pet[i, j]
            if g == G_WATER:
                aet[i, j] = 0.9 * p
            else:
                w = _GROUP_W[g]
                phi = p / max(precip, 1.0)
                # Fu (1981) form of the Budyko curve: AET/P = 1 + φ − (1 + φ^w)^(1/w)
                aet[i, j] = precip * (1.0 + phi - (1.0 + phi ** w) ** (1.0 / w))
            lo = _GROUP_OC[g, 0]
            hi = _GROUP_OC[g, 1]
            soc = lo + (hi - lo) * (0.5 * u_patch + 0.5 * _cell_u(x, y, seed, CH_OC))
            soc *= 1.0 + 0.35 * min(max(elev, 0.0), 3000.0) / 1000.0
            soc *= min(1.2, max(0.6, precip / 1200.0))
            oc[i, j] = soc
    return landuse, czcsxm, ndvi, aet, oc


# ----------------------------------------------------------------------------
# Road network (Python assembly of the lattice rules)
# ----------------------------------------------------------------------------


@dataclass
class _Network:
    towns: np.ndarray  # (n, 10), see _town_nodes
    villages: np.ndarray  # (m, 7), see _village_nodes
    roads: list  # (class, xs, ys, name)

    def segments(self) -> np.ndarray:
        rows = []
        for cls, xs, ys, _ in self.roads:
            hw = ROAD_HALF_WIDTH[cls]
            for k in range(len(xs) - 1):
                rows.append((xs[k], ys[k], xs[k + 1], ys[k + 1], hw, cls))
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def discs(self) -> np.ndarray:
        t = self.towns[self.towns[:, 4] > 0]
        v = self.villages[self.villages[:, 4] > 0]
        out = np.empty((len(t) + len(v), 4), dtype=np.float64)
        out[: len(t), 0:2] = t[:, 2:4]
        out[: len(t), 2] = t[:, 6]
        out[: len(t), 3] = t[:, 5]
        out[len(t):, 0:2] = v[:, 2:4]
        out[len(t):, 2] = v[:, 5]
        out[len(t):, 3] = LEVEL_VILLAGE
        return out


def _lattice_range(lo: float, hi: float, spacing: float, margin: int) -> tuple[int, int]:
    return int(math.floor(lo / spacing)) - margin, int(math.floor(hi / spacing)) + margin


def _road_code(prefix: str, a: int, b: int, seed: int) -> str:
    return f"{prefix}{100 + int(_u01(a, b, _chan(seed, CH_NAME, 5)) * 900)}"


def _network(xmin: float, ymin: float, xmax: float, ymax: float, seed: int) -> _Network:
    """Settlements and roads whose footprint can reach the metric box.

    Two lattice cells of margin cover the longest reach of a road edge (a
    diagonal of two cells, displaced sideways by at most a tenth of its
    length) and of a city disc.
    """
    i0, i1 = _lattice_range(xmin, xmax, TOWN_SPACING, 2)
    j0, j1 = _lattice_range(ymin, ymax, TOWN_SPACING, 2)
    towns = _town_nodes(i0, i1, j0, j1, seed)
    vi0, vi1 = _lattice_range(xmin, xmax, VILLAGE_SPACING, 2)
    vj0, vj1 = _lattice_range(ymin, ymax, VILLAGE_SPACING, 2)
    villages = _village_nodes(vi0, vi1, vj0, vj1, seed)
    roads = []
    s_row = _chan(seed, CH_HWY_ROW, 0)
    s_col = _chan(seed, CH_HWY_COL, 0)
    s_edge = _chan(seed, CH_EDGE, 40)
    nx_t = i1 - i0 + 1
    nx_v = vi1 - vi0 + 1

    def town(i, j):
        return towns[(j - j0) * nx_t + (i - i0)]

    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            a = town(i, j)
            for di, dj, c in ((1, 0, 0), (0, 1, 1), (1, 1, 2)):
                if i + di > i1 or j + dj > j1:
                    continue
                b = town(i + di, j + dj)
                cls = 0
                if c == 0 and _u01(j, 0, s_row) < 0.3:
                    cls, name = ROAD_HIGHWAY, _road_code("G", j, 0, seed)
                elif c == 1 and _u01(i, 1, s_col) < 0.3:
                    cls, name = ROAD_HIGHWAY, _road_code("G", i, 1, seed)
                elif a[4] > 0 and b[4] > 0 and (c < 2 or _u01(i, j, s_edge) < 0.3):
                    cls, name = ROAD_COUNTY, _road_code("X", i * 3 + c, j, seed)
                if cls == 0:
                    continue
                if cls == ROAD_HIGHWAY:
                    p0, p1, amp = a[8:10], b[8:10], 0.08
                else:
                    p0, p1, amp = a[2:4], b[2:4], 0.2
                xs, ys = _polyline(p0[0], p0[1], p1[0], p1[1], amp, i, j, c, seed)
                roads.append((cls, xs, ys, name))
    for row in range(villages.shape[0]):
        a = villages[row]
        if a[4] <= 0:
            continue
        i, j = int(a[0]), int(a[1])
        for di, dj, c in ((1, 0, 3), (0, 1, 4)):
            if i + di > vi1 or j + dj > vj1:
                continue
            b = villages[(j + dj - vj0) * nx_v + (i + di - vi0)]
            if b[4] > 0 and _u01(i, j, s_edge + c) < 0.6:
                xs, ys = _polyline(a[2], a[3], b[2], b[3], 0.25, i, j, c, seed)
                roads.append((ROAD_RURAL, xs, ys, ""))
    return _Network(towns, villages, roads)


# ----------------------------------------------------------------------------
# Public raster API
# ----------------------------------------------------------------------------

_TERRAIN_ONLY = {"dem"}
_CLIMATE = {"precip", "tmean_annual", "tmean_month", "at0", "pet"}
_TEXTURE = {"soil_sand", "soil_silt", "soil_clay"}
_COVER = {"landuse", "czcsxm", "ndvi", "aet", "soil_oc"}
_EXTRA = set(list(RASTER_LAYERS)[list(RASTER_LAYERS).index("precip_month"):])


@numba.njit(nogil=True, cache=True)
def _k_extra(xs, ys, seed):
    """N_EXTRA independent fBm fields (about [-1, 1]) at 6–40 km wavelengths for the evaluation inputs."""
    rows, cols = xs.shape
    out = np.empty((N_EXTRA, rows, cols), dtype=np.float64)
    for k in range(N_EXTRA):
        wavelength = 6000.0 + 3000.0 * k
        for i in range(rows):
            for j in range(cols):
                out[k, i, j] = _fbm(xs[i, j], ys[i, j], wavelength, seed, CH_EXTRA + k, 3, 0.5)
    return out


def _extra_layers(wanted: set, n: np.ndarray, elev, slope, precip, tann, pet) -> dict[str, np.ndarray]:
    """The evaluation inputs as smooth functions of noise, terrain and climate (plausible ranges for humid south China)."""
    u = 0.5 + 0.5 * n  # about [0, 1]
    hump = lambda f, t: np.maximum(0.0, f - t) ** 2  # noqa: E731  hotspots where a field passes t
    out = {
        "precip_month": (precip[None] * MONSOON_SHARE[:, None, None]),
        "rh_month": np.clip(0.60 + 0.9 * (MONSOON_SHARE[:, None, None] - 1 / 12) + 0.08 * (precip[None] - 1500.0) / 1000.0 + 0.04 * n[0][None], 0.3, 0.98),
        "rweq_wf": 2.0 + 8.0 * u[1] + np.maximum(elev, 0.0) / 150.0,
        "karst_pct": np.clip(160.0 * (n[2] - 0.1), 0.0, 100.0),
        "soil_ph": 4.6 + 2.4 * u[3],
        "soil_cd": 0.15 + 0.25 * u[4] + 12.0 * hump(n[4], 0.3),
        "soil_pb": 25.0 + 40.0 * u[5] + 900.0 * hump(n[5], 0.5),
        "soil_as": 8.0 + 15.0 * u[6] + 400.0 * hump(n[6], 0.5),
        "freq_rainstorm": np.clip(0.1 + 0.35 * (precip - 1200.0) / 800.0 + 0.08 * n[7], 0.0, 1.0),
        "freq_heat": np.clip(0.15 + 0.12 * (tann - 19.0) + 0.08 * n[8], 0.0, 1.0),
        "freq_cold": np.clip(0.05 + np.maximum(elev, 0.0) / 1500.0 + 0.05 * n[9], 0.0, 1.0),
        "freq_gale": np.clip(0.08 + 0.2 * u[10], 0.0, 1.0),
        "freq_drought": np.clip(0.1 + 0.5 * (pet / np.maximum(precip, 1.0) - 0.5) + 0.08 * n[11], 0.0, 1.0),
        "wind_mean": np.clip(1.4 + np.maximum(elev, 0.0) / 500.0 + 0.8 * n[1], 0.3, 9.0),
        "water_env_capacity": 10.0 ** (2.2 + 1.2 * n[7] + 0.6 * (precip - 1500.0) / 1000.0),
        "landslide": (5 - (slope > 8) - (slope > 15) - (slope > 25) - (n[9] > 0.35)),
        "aridity_i10": np.clip(0.25 + 0.5 * pet / np.maximum(precip, 1.0) + 0.1 * n[10], 0.05, 30.0),
        "sand_wind_days": np.clip(2.0 + 6.0 * u[11] + np.maximum(elev, 0.0) / 300.0, 0.0, 60.0),
        "gw_depth": 1.0 + np.maximum(elev, 0.0) / 60.0 + 3.0 * u[2],
        "gw_tds": 0.3 + 1.2 * u[8],
    }
    out["calm_share"] = np.clip(32.0 - 8.0 * out["wind_mean"] + 4.0 * n[3], 0.0, 100.0)
    return {k: v.astype(RASTER_LAYERS[k].dtype) for k, v in out.items() if k in wanted}


def _points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1 and y.ndim == 1:
        shape = (y.size, x.size)
        return (np.ascontiguousarray(np.broadcast_to(x[None, :], shape)),
                np.ascontiguousarray(np.broadcast_to(y[:, None], shape)))
    if x.ndim == 2 and x.shape == y.shape:
        return np.ascontiguousarray(x), np.ascontiguousarray(y)
    raise ValueError(
        f"x and y must be 1-D (column and row coordinates) or two 2-D arrays of one shape; got shapes {x.shape} and {y.shape}"
    )


def _check_seed(seed: int) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**40:
        raise ValueError(f"seed must be in 0 .. 2**40 - 1, got {seed}")
    return seed


def raster_blocks(names: Sequence[str], x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Several synthetic raster layers at once, sharing the intermediate fields.

    Same contract as :func:`raster_block` for each name; the values are
    bit-identical to asking for each layer alone.

    Parameters
    ----------
    names : sequence of str
        Keys of :data:`RASTER_LAYERS`.
    x, y : numpy.ndarray
        1-D column and row cell-centre coordinates in metres, or two 2-D
        arrays of one shape (point-wise coordinates, e.g. from
        :func:`grid_metric_coords` on a geographic grid).
    seed : int
        0 ≤ seed < 2**40.

    Returns
    -------
    dict
        name → array of shape (rows, cols), or (bands, rows, cols) for
        multi-band layers, in the layer's dtype.
    """
    names = list(names)
    unknown = [n for n in names if n not in RASTER_LAYERS]
    if unknown:
        raise KeyError(f"unknown synthetic layer(s) {unknown}; known: {sorted(RASTER_LAYERS)}")
    seed = _check_seed(seed)
    xs, ys = _points(x, y)
    wanted = set(names)
    need_extra = bool(wanted & _EXTRA)
    need_cover = bool(wanted & _COVER)
    need_climate = need_cover or need_extra or bool(wanted & (_CLIMATE | _TEXTURE))
    need_temp = need_cover or need_extra or bool(wanted & (_CLIMATE - {"precip"}))

    out: dict[str, np.ndarray] = {}
    terrain = _k_terrain(xs, ys, seed, need_cover or need_extra)
    if "dem" in wanted:
        out["dem"] = terrain[T_ELEV].astype(np.float32)
    if need_climate:
        climate = _k_climate(xs, ys, terrain, seed)
        if "precip" in wanted:
            out["precip"] = climate[C_PRECIP].astype(np.float32)
    if need_temp:
        months, tmean, at0, pet = _k_temperature(climate[C_TANN], climate[C_AMP])
        for key, arr in (("tmean_month", months), ("tmean_annual", tmean), ("at0", at0), ("pet", pet)):
            if key in wanted:
                out[key] = arr
    if wanted & _TEXTURE:
        sand, silt, clay = _k_texture(xs, ys, terrain, climate, seed)
        for key, arr in (("soil_sand", sand), ("soil_silt", silt), ("soil_clay", clay)):
            if key in wanted:
                out[key] = arr
    if need_cover:
        if xs.size:
            net = _network(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), seed)
            segs, discs = net.segments(), net.discs()
        else:
            segs, discs = np.empty((0, 6)), np.empty((0, 4))
        road, settle = _k_stamps(xs, ys, terrain[T_SLOPE], segs, discs, seed)
        landuse, czcsxm, ndvi, aet, oc = _k_landcover(xs, ys, terrain, climate, pet, road, settle, seed)
        for key, arr in (("landuse", landuse), ("czcsxm", czcsxm), ("ndvi", ndvi), ("aet", aet), ("soil_oc", oc)):
            if key in wanted:
                out[key] = arr
    if need_extra:
        out.update(_extra_layers(wanted, _k_extra(xs, ys, seed), terrain[T_ELEV], terrain[T_SLOPE], climate[C_PRECIP], climate[C_TANN], pet))
    return {n: out[n] for n in names}


def raster_block(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """One synthetic raster layer over a block of cell centres.

    Every value is a pure function of its cell-centre coordinates and the
    seed, so any window of a grid can be generated alone and stitched
    bit-identically with its neighbours.

    Parameters
    ----------
    name : str
        A key of :data:`RASTER_LAYERS`.
    x : numpy.ndarray
        1-D column centre x coordinates in metres (a projected CRS), or a
        2-D array of point x coordinates (then ``y`` is 2-D of the same shape).
    y : numpy.ndarray
        1-D row centre y coordinates in metres, or 2-D as ``x``.
    seed : int
        Selects the synthetic world; 0 ≤ seed < 2**40.

    Returns
    -------
    numpy.ndarray
        (len(y), len(x)) — or (bands, len(y), len(x)) for ``tmean_month`` —
        in the dtype of ``RASTER_LAYERS[name]``.
    """
    return raster_blocks([name], x, y, seed)[name]


# ----------------------------------------------------------------------------
# Vector layers
# ----------------------------------------------------------------------------

_SYLLABLES = "青云石龙凤白金平安清溪东西南新马桥江山岭湖田林华阳水泉梅竹松兰乐宁丰隆兴和源茶峰沙塘坪岗"
_RESERVE_SPACING = 26000.0
_COUNTY_SPACING = 30000.0
_MAX_SAMPLES = 4_000_000  # cap on the sampling grid of contour/polygon layers (province-size bounds coarsen it)


def _name(a: int, b: int, seed: int, salt: int, suffix: str) -> str:
    s = _chan(seed, CH_NAME, salt)
    k1 = int(_u01(a, b, s) * len(_SYLLABLES))
    k2 = int(_u01(a, b, s + 1) * len(_SYLLABLES))
    if k2 == k1:
        k2 = (k2 + 7) % len(_SYLLABLES)
    return _SYLLABLES[k1] + _SYLLABLES[k2] + suffix


@dataclass(frozen=True)
class _CrsInfo:
    wkt: str
    geographic: bool
    factor: float  # metres per CRS unit (projected)


def _crs_info(crs) -> _CrsInfo:
    from pyproj import CRS as ProjCRS

    if hasattr(crs, "to_wkt"):
        crs = crs.to_wkt()
    pc = ProjCRS.from_user_input(crs)
    factor = 1.0
    if not pc.is_geographic:
        factor = float(pc.axis_info[0].unit_conversion_factor)
    return _CrsInfo(pc.to_wkt(), bool(pc.is_geographic), factor)


def _metric_bbox(bounds, info: _CrsInfo) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = map(float, bounds)
    if not info.geographic:
        f = info.factor
        return xmin * f, ymin * f, xmax * f, ymax * f
    t = np.linspace(0.0, 1.0, 33)
    lon = np.concatenate([xmin + (xmax - xmin) * t, np.full(33, xmax), xmin + (xmax - xmin) * t, np.full(33, xmin)])
    lat = np.concatenate([np.full(33, ymin), ymin + (ymax - ymin) * t, np.full(33, ymax), ymin + (ymax - ymin) * t])
    mx, my = lonlat_to_metric(lon, lat)
    return float(mx.min()), float(my.min()), float(mx.max()), float(my.max())


def _to_crs(geoms: list, info: _CrsInfo) -> list:
    """Metric geometries (see module notes) → the output CRS."""
    import shapely

    if not geoms:
        return []
    arr = np.asarray(geoms, dtype=object)
    if info.geographic:
        arr = shapely.segmentize(arr, 500.0)
        arr = shapely.transform(arr, lambda c: np.column_stack(metric_to_lonlat(c[:, 0], c[:, 1])))
    elif info.factor != 1.0:
        arr = shapely.transform(arr, lambda c: c / info.factor)
    return list(arr)


def _clip(geoms: list, attrs: dict[str, list], bounds, kind: str) -> tuple[list, dict[str, list]]:
    """Clip to the bounds; drop empty results; explode lines; make polygons MultiPolygon."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    out_g: list = []
    out_a: dict[str, list] = {k: [] for k in attrs}
    for k, g in enumerate(geoms):
        c = shapely.clip_by_rect(g, *bounds)
        if c.is_empty:
            continue
        if kind == "line":
            parts = [p for p in shapely.get_parts(shapely.line_merge(c) if c.geom_type == "MultiLineString" else c)
                     if p.geom_type == "LineString" and p.length > 0]
        elif kind == "polygon":
            polys = [p for p in shapely.get_parts(c) if isinstance(p, Polygon) and p.area > 0]
            parts = [MultiPolygon(polys)] if polys else []
        else:
            parts = [c] if c.geom_type == "Point" else []
        for p in parts:
            out_g.append(p)
            for key in attrs:
                out_a[key].append(attrs[key][k])
    return out_g, out_a


@numba.njit(nogil=True, cache=True)
def _k_river_fields(xs, ys, seed):
    """The two river noise fields (trunk, tributary) whose zero-level lines are the rivers."""
    rows, cols = xs.shape
    out = np.empty((2, rows, cols), dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            out[0, i, j] = _fbm_d(xs[i, j], ys[i, j], 60000.0, seed, CH_RMAIN, 3, 0.5)[0]
            out[1, i, j] = _fbm_d(xs[i, j], ys[i, j], 9000.0, seed, CH_RTRIB, 2, 0.45)[0]
    return out


def _sample_grid(bounds, info: _CrsInfo, step_m: float, nodes: bool):
    """A sampling grid over the bounds, in the output CRS and in metres.

    ``nodes`` True samples the corners of a lattice that includes the bounds'
    edges (for contouring); False samples cell centres (for polygonizing).
    Returns (x_crs 1-D, y_crs 1-D descending, xs_m, ys_m 2-D, affine of the cells).
    """
    from affine import Affine

    xmin, ymin, xmax, ymax = map(float, bounds)
    step = step_m / 111320.0 if info.geographic else step_m / info.factor
    n = ((xmax - xmin) / step) * ((ymax - ymin) / step)
    if n > _MAX_SAMPLES:
        step *= math.sqrt(n / _MAX_SAMPLES)
    nx = max(2, int(math.ceil((xmax - xmin) / step)))
    ny = max(2, int(math.ceil((ymax - ymin) / step)))
    dx = (xmax - xmin) / nx
    dy = (ymax - ymin) / ny
    if nodes:
        xc = xmin + np.arange(nx + 1) * dx
        yc = ymax - np.arange(ny + 1) * dy
    else:
        xc = xmin + (np.arange(nx) + 0.5) * dx
        yc = ymax - (np.arange(ny) + 0.5) * dy
    if info.geographic:
        xs_m, ys_m = lonlat_to_metric(xc[None, :], yc[:, None])
    else:
        xs_m, ys_m = _points(xc * info.factor, yc * info.factor)
    return xc, yc, np.ascontiguousarray(xs_m), np.ascontiguousarray(ys_m), Affine(dx, 0.0, xmin, 0.0, -dy, ymax)


def _rivers(bounds, info: _CrsInfo, seed: int):
    from shapely.geometry import LineString
    from skimage.measure import find_contours

    xc, yc, xs, ys, _ = _sample_grid(bounds, info, 40.0, nodes=True)
    fields = _k_river_fields(xs, ys, seed)
    dx = xc[1] - xc[0]
    dy = yc[0] - yc[1]
    geoms, names, orders = [], [], []
    for order, field_ in ((1, fields[0]), (2, fields[1])):
        for line in find_contours(field_, 0.0):
            if len(line) < 2:
                continue
            x = xc[0] + line[:, 1] * dx
            y = yc[0] - line[:, 0] * dy
            geom = LineString(np.column_stack([x, y]))
            if geom.length < 3.0 * max(dx, dy):
                continue
            mid = geom.interpolate(0.5, normalized=True)
            key_x, key_y = int(mid.x / dx) // 25, int(mid.y / dy) // 25
            geoms.append(geom)
            names.append(_name(key_x, key_y, seed, 10 + order, "江" if order == 1 else "溪"))
            orders.append(order)
    return _clip(geoms, {"name": names, "order": orders}, bounds, "line")


def _settlement_points(mbox, seed: int):
    """Kept towns/cities and villages inside the metric box: list of (x, y, level, population, name)."""
    xmin, ymin, xmax, ymax = mbox
    i0, i1 = _lattice_range(xmin, xmax, TOWN_SPACING, 1)
    j0, j1 = _lattice_range(ymin, ymax, TOWN_SPACING, 1)
    towns = _town_nodes(i0, i1, j0, j1, seed)
    towns = towns[towns[:, 4] > 0]
    vi0, vi1 = _lattice_range(xmin, xmax, VILLAGE_SPACING, 0)
    vj0, vj1 = _lattice_range(ymin, ymax, VILLAGE_SPACING, 0)
    villages = _village_nodes(vi0, vi1, vj0, vj1, seed)
    villages = villages[villages[:, 4] > 0]
    out = []
    for t in towns:
        level = "city" if int(t[5]) == LEVEL_CITY else "town"
        out.append((t[2], t[3], level, int(t[7]), _name(int(t[0]), int(t[1]), seed, 1, "市" if level == "city" else "镇")))
    for v in villages:
        # a village swallowed by a town's footprint is part of the town
        if len(towns) and np.any(np.hypot(towns[:, 2] - v[2], towns[:, 3] - v[3]) < 1.1 * towns[:, 6]):
            continue
        out.append((v[2], v[3], "village", int(v[6]), _name(int(v[0]), int(v[1]), seed, 2, "村")))
    return out


def _towns(bounds, info: _CrsInfo, seed: int):
    from shapely.geometry import Point

    pts = _settlement_points(_metric_bbox(bounds, info), seed)
    geoms = _to_crs([Point(p[0], p[1]) for p in pts], info)
    attrs = {"name": [p[4] for p in pts], "level": [p[2] for p in pts], "population": [p[3] for p in pts]}
    return _clip(geoms, attrs, bounds, "point")


def _roads(bounds, info: _CrsInfo, seed: int):
    from shapely.geometry import LineString

    net = _network(*_metric_bbox(bounds, info), seed)
    class_name = {ROAD_HIGHWAY: "highway", ROAD_COUNTY: "county", ROAD_RURAL: "rural"}
    geoms = _to_crs([LineString(np.column_stack([xs, ys])) for _, xs, ys, _ in net.roads], info)
    attrs = {"class": [class_name[r[0]] for r in net.roads], "name": [r[3] for r in net.roads]}
    return _clip(geoms, attrs, bounds, "line")


@numba.njit(nogil=True, cache=True)
def _reserve_nodes(i0, i1, j0, j1, seed):
    """Nature-reserve candidates (n, 6): i, j, x, y, kept, radius; sited on the first mountainous try."""
    n = (i1 - i0 + 1) * (j1 - j0 + 1)
    out = np.zeros((n, 6), dtype=np.float64)
    s = _chan(seed, CH_RESERVE, 0)
    k = 0
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            out[k, 0] = i
            out[k, 1] = j
            for t in range(4):
                px = (i + 0.2 + 0.6 * _u01(i, j, s + 2 * t)) * _RESERVE_SPACING
                py = (j + 0.2 + 0.6 * _u01(i, j, s + 2 * t + 1)) * _RESERVE_SPACING
                if _mountain_mask(_macro(px, py, seed)[2]) >= 0.6:
                    out[k, 2] = px
                    out[k, 3] = py
                    out[k, 4] = 1.0 if _u01(i, j, s + 20) < 0.7 else 0.0
                    out[k, 5] = 2500.0 + 4500.0 * _u01(i, j, s + 21)
                    break
            k += 1
    return out


@numba.njit(nogil=True, cache=True)
def _reserve_outline(cx, cy, radius, seed, n):
    """A star-shaped outline: radius × (0.7–1.3) modulated by noise sampled around the circle."""
    xs = np.empty(n, dtype=np.float64)
    ys = np.empty(n, dtype=np.float64)
    for k in range(n):
        a = 2.0 * math.pi * k / n
        px = cx + radius * math.cos(a)
        py = cy + radius * math.sin(a)
        r = radius * (0.7 + 0.6 * (0.5 + 0.5 * _fbm(px, py, 4000.0, seed, CH_SHAPE, 3, 0.5)))
        xs[k] = cx + r * math.cos(a)
        ys[k] = cy + r * math.sin(a)
    return xs, ys


def _reserve_polygons(mbox, seed: int):
    """Metric reserve polygons: list of (geometry, name, zone, level)."""
    from shapely.geometry import Polygon

    xmin, ymin, xmax, ymax = mbox
    i0, i1 = _lattice_range(xmin, xmax, _RESERVE_SPACING, 1)
    j0, j1 = _lattice_range(ymin, ymax, _RESERVE_SPACING, 1)
    out = []
    s = _chan(seed, CH_RESERVE, 30)
    for i, j, cx, cy, kept, radius in _reserve_nodes(i0, i1, j0, j1, seed):
        if kept <= 0:
            continue
        i, j = int(i), int(j)
        xs, ys = _reserve_outline(cx, cy, radius, seed, 72)
        outer = Polygon(np.column_stack([xs, ys]))
        core = Polygon(np.column_stack([cx + 0.45 * (xs - cx), cy + 0.45 * (ys - cy)]))
        u = _u01(i, j, s)
        level = "国家级" if u < 0.3 else ("省级" if u < 0.75 else "市县级")
        name = _name(i, j, seed, 3, "自然保护区")
        out.append((core, name, "core", level))
        out.append((outer.difference(core), name, "general", level))
    return out


def _reserves(bounds, info: _CrsInfo, seed: int):
    items = _reserve_polygons(_metric_bbox(bounds, info), seed)
    geoms = _to_crs([it[0] for it in items], info)
    attrs = {"name": [it[1] for it in items], "zone": [it[2] for it in items], "level": [it[3] for it in items]}
    return _clip(geoms, attrs, bounds, "polygon")


def _counties(bounds, info: _CrsInfo, seed: int):
    import shapely
    from shapely.geometry import MultiPoint, box

    xmin, ymin, xmax, ymax = _metric_bbox(bounds, info)
    L = _COUNTY_SPACING
    i0, i1 = _lattice_range(xmin, xmax, L, 2)
    j0, j1 = _lattice_range(ymin, ymax, L, 2)
    s = _chan(seed, CH_COUNTY, 0)
    ids, pts = [], []
    for j in range(j0, j1 + 1):
        for i in range(i0, i1 + 1):
            ids.append((i, j))
            pts.append(((i + 0.2 + 0.6 * _u01(i, j, s)) * L, (j + 0.2 + 0.6 * _u01(i, j, s + 1)) * L))
    cells = shapely.voronoi_polygons(MultiPoint(pts), extend_to=box(xmin - 4 * L, ymin - 4 * L, xmax + 4 * L, ymax + 4 * L), ordered=True)
    frame = box(xmin - 1000.0, ymin - 1000.0, xmax + 1000.0, ymax + 1000.0)
    geoms, codes, names, quota, pga = [], [], [], [], []
    for (i, j), cell in zip(ids, shapely.get_parts(cells)):
        g = cell.intersection(frame)
        if g.is_empty:
            continue
        geoms.append(g)
        codes.append(440000 + (1 + i % 98) * 100 + (1 + j % 98))
        names.append(_name(i, j, seed, 4, "区" if _u01(i, j, s + 2) < 0.25 else "县"))
        # 用水总量控制指标模数 (m³/km²), log-uniform 40 000–400 000; PGA (g) on the GB 18306 steps
        quota.append(round(40000.0 * 10.0 ** _u01(i, j, s + 3), 0))
        pga.append((0.05, 0.10, 0.15, 0.20, 0.30)[int(5 * _u01(i, j, s + 4))])
    attrs = {"code": codes, "name": names, "water_quota": quota, "pga": pga}
    return _clip(_to_crs(geoms, info), attrs, bounds, "polygon")


def _faults(bounds, info: _CrsInfo, seed: int):
    """Active faults: long, gently curved lines striking NE–SW (the South China block's trend), fixed in the metric frame.

    Fault i is x = (i + u_i)·spacing + (y − Y0)·4/3 + 1500·sin(2π(y/15 km + u'_i)): a pure function of
    coordinates, so any window of the region sees the same faults.
    """
    from shapely.geometry import LineString

    xmin, ymin, xmax, ymax = _metric_bbox(bounds, info)
    spacing, y0, run = 12000.0, 2_500_000.0, 4.0 / 3.0
    s = _chan(seed, CH_FAULT, 0)
    y = np.linspace(ymin - 2000.0, ymax + 2000.0, max(2, int((ymax - ymin) / 200.0) + 21))
    # intercepts at y0 of the lines that can cross the box
    lo = xmin - (ymax + 2000.0 - y0) * run - 2000.0
    hi = xmax - (ymin - 2000.0 - y0) * run + 2000.0
    geoms, names = [], []
    for i in range(int(math.floor(lo / spacing)) - 1, int(math.ceil(hi / spacing)) + 1):
        if _u01(i, 0, s) < 0.35:
            continue
        x = (i + _u01(i, 1, s)) * spacing + (y - y0) * run + 1500.0 * np.sin(2 * np.pi * (y / 15000.0 + _u01(i, 2, s)))
        geoms.append(LineString(np.column_stack([x, y])))
        names.append(_name(i, 0, seed, 30, "断裂"))
    return _clip(_to_crs(geoms, info), {"name": names}, bounds, "line")


def _polygonize(mask: np.ndarray, values: np.ndarray, transform) -> list:
    """(geometry, value) of the 4-connected regions of ``values`` where ``mask``."""
    from rasterio import features
    from shapely.geometry import shape

    return [(shape(g), v) for g, v in features.shapes(values, mask=mask, transform=transform, connectivity=4)]


def _redline(bounds, info: _CrsInfo, seed: int):
    import shapely

    xc, yc, xs, ys, transform = _sample_grid(bounds, info, 150.0, nodes=False)
    terrain = _k_terrain(xs, ys, seed, False)
    mask = (terrain[T_MOUNT] > 0.55) & (terrain[T_ELEV] > 400.0)
    parts = [g for g, _ in _polygonize(mask, mask.astype(np.uint8), transform)]
    parts += _to_crs([it[0] for it in _reserve_polygons(_metric_bbox(bounds, info), seed)], info)
    if not parts:
        return [], {"HXMC": [], "HXLX": []}
    merged = shapely.union_all(np.asarray(parts, dtype=object))
    cell_area = abs(transform.a * transform.e)
    polys = [p.simplify(0.5 * abs(transform.a)) for p in shapely.get_parts(merged) if p.area >= 25.0 * cell_area]
    kinds = ("水源涵养", "生物多样性维护", "水土保持")
    names, types = [], []
    for p in polys:
        c = p.representative_point()
        a, b = int(c.x / abs(transform.a)) // 50, int(c.y / abs(transform.e)) // 50
        kind = kinds[int(_u01(a, b, _chan(seed, CH_NAME, 20)) * 3)]
        types.append(kind)
        names.append(_name(a, b, seed, 21, "") + kind + "生态保护红线")
    return _clip(polys, {"HXMC": names, "HXLX": types}, bounds, "polygon")


def _pbf(bounds, info: _CrsInfo, seed: int):
    xc, yc, xs, ys, transform = _sample_grid(bounds, info, 90.0, nodes=False)
    landuse = raster_block("landuse", xs, ys, seed).astype(np.int32)
    crop = (landuse == 101) | (landuse == 102) | (landuse == 103)
    cell_area = abs(transform.a * transform.e)
    geoms, dlbm, dlmc = [], [], []
    s = _chan(seed, CH_PBF, 0)
    for g, v in _polygonize(crop, landuse, transform):
        if g.area < 4.0 * cell_area:
            continue
        c = g.representative_point()
        # about 88 % of the stable cropland is designated permanent basic farmland
        if _u01(int(c.x / abs(transform.a)), int(c.y / abs(transform.e)), s) >= 0.88:
            continue
        geoms.append(g)
        code = int(v)
        dlbm.append(DLBM_CODES[code][0])
        dlmc.append(DLBM_CODES[code][1])
    return _clip(geoms, {"DLBM": dlbm, "DLMC": dlmc}, bounds, "polygon")


_VECTOR_BUILDERS = {
    "rivers": _rivers,
    "roads": _roads,
    "towns": _towns,
    "reserves": _reserves,
    "counties": _counties,
    "faults": _faults,
    "redline_existing": _redline,
    "pbf_existing": _pbf,
}


def vector_features(
    name: str, bounds: tuple[float, float, float, float], crs: "CRS | str", seed: int
) -> tuple[list, dict[str, np.ndarray]]:
    """One synthetic vector layer over ``bounds``, consistent with the rasters of the same seed.

    Lattice features (towns, roads, reserves, counties) come from the same
    coordinate rules as the rasters, so a town point sits in the raster's
    built-up disc and a road polyline under the raster's road cells. Rivers
    are the zero-level contours of the river noise fields, traced on a 40 m
    lattice; the red line (mountain belts above 400 m, united with the nature
    reserves) and the permanent basic farmland (cropland parcels of the
    ``landuse`` rule, ≈88 % of them) are polygonized from a 150 m / 90 m
    sampling of the rasters' rules. Sampling grids are coarsened so they
    never exceed 4e6 samples (province-size bounds).

    Parameters
    ----------
    name : str
        A key of :data:`VECTOR_LAYERS`.
    bounds : tuple of float
        (xmin, ymin, xmax, ymax) in ``crs`` (lon/lat order for geographic CRSs).
    crs : rasterio CRS, pyproj CRS or str
        CRS of ``bounds`` and of the returned geometries.
    seed : int

    Returns
    -------
    geometries : list of shapely geometries
        Clipped to ``bounds``; lines are LineString, polygons MultiPolygon.
    attributes : dict of str → numpy.ndarray
        One array per field of ``VECTOR_LAYERS[name].fields``, aligned with
        the geometries (strings as object arrays).
    """
    if name not in VECTOR_LAYERS:
        raise KeyError(f"unknown synthetic vector layer {name!r}; known: {sorted(VECTOR_LAYERS)}")
    seed = _check_seed(seed)
    xmin, ymin, xmax, ymax = map(float, bounds)
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"bounds must satisfy xmin < xmax and ymin < ymax, got {bounds}")
    info = _crs_info(crs)
    geoms, attrs = _VECTOR_BUILDERS[name]((xmin, ymin, xmax, ymax), info, seed)
    fields = VECTOR_LAYERS[name].fields
    arrays = {}
    for key, dtype in fields.items():
        values = attrs[key]
        arrays[key] = np.array(values, dtype=object) if dtype == "str" else np.array(values, dtype=dtype)
    return geoms, arrays
