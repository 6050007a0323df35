"""Shared derived layers (methods.md §2.2), each a node of the model DAG computed once per run.

A config layer of the same name replaces the derived one (a user's own slope,
FVC or ecosystem map). They are written only when ``outputs.write`` names them.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import values
from models._tables import table

_ECO = table("ecology")


def _slope(inputs, params, ev):
    return {"slope": ops.slope(inputs["dem"], units="degrees").rename("slope")}


SLOPE = Model(
    ModelSpec(
        name="slope",
        title_zh="坡度", title_en="Slope",
        source="methods.md §2.2 item 1: Horn 3×3 (ArcGIS Slope DEGREE, gdaldem), metric cell sizes per row on geographic grids",
        inputs={"dem": InputDecl("m", "continuous", "elevation (高程)")},
        parameters={},
        outputs={"slope": values("slope (坡度), Horn 3x3", "degrees")},
    ),
    _slope,
    derived=True,
)


def _relief(inputs, params, ev):
    return {"relief": ops.relief(inputs["dem"], window_m=params["window_m"], mode=params["mode"]).rename("relief")}


RELIEF = Model(
    ModelSpec(
        name="relief",
        title_zh="地形起伏度", title_en="Terrain relief",
        source="methods.md §2.2 item 2: focal max − focal min in a ≈1 km window [R]; mode=block is [C-spj] BlockStatistics",
        inputs={"dem": InputDecl("m", "continuous", "elevation (高程)")},
        parameters={
            "window_m": Parameter(1000.0, "side of the square window, metres", "methods.md §2.2 item 2 [R]", domain=(1, 1e5, "m")),
            "mode": Parameter("moving", "moving window or [C-spj] non-overlapping blocks", "methods.md §2.2 item 2", choices=("moving", "block")),
        },
        outputs={"relief": values("terrain relief (地形起伏度)", "m")},
    ),
    _relief,
    derived=True,
)


def _fvc(inputs, params, ev):
    ndvi = inputs["ndvi"]
    if params["ndvi_soil"] is not None and params["ndvi_veg"] is not None:
        bounds = [params["ndvi_soil"], params["ndvi_veg"]]
    else:
        breaks = ops.quantile_breaks(ndvi, 20)  # 5 %, 10 %, … 95 %
        bounds = breaks[[0, -1]]
    return {"fvc": ops.rescale(ndvi, bounds, name="fvc", attrs={"long_name": "fractional vegetation cover (植被覆盖度)"})}


def _pair_given(p):
    if (p["ndvi_soil"] is None) != (p["ndvi_veg"] is None):
        return ["ndvi_soil: give both ndvi_soil and ndvi_veg, or neither (then the 5th/95th NDVI percentiles are used)"]
    return []


FVC = Model(
    ModelSpec(
        name="fvc",
        title_zh="植被覆盖度", title_en="Fractional vegetation cover",
        source="methods.md §2.2 item 3: dimidiate pixel model fvc = clip((NDVI − NDVI_soil)/(NDVI_veg − NDVI_soil), 0, 1), "
        "bounds the 5th/95th NDVI percentiles of the study area [R]; spj's NDVI-as-cover (§12.3 item 7) is not used",
        inputs={"ndvi": InputDecl("fraction", "continuous", "NDVI (−1..1)")},
        parameters={
            "ndvi_soil": Parameter(None, "NDVI of bare soil; default: the 5th percentile", "methods.md §2.2 item 3 [R]"),
            "ndvi_veg": Parameter(None, "NDVI of full cover; default: the 95th percentile", "methods.md §2.2 item 3 [R]"),
        },
        consistency=_pair_given,
        outputs={"fvc": values("fractional vegetation cover (植被覆盖度)", "fraction")},
    ),
    _fvc,
    derived=True,
)


def _ls(inputs, params, ev):
    return {"ls": ops.ls_factor(inputs["dem"], max_slope_length_m=params["max_slope_length_m"]).rename("ls")}


LS = Model(
    ModelSpec(
        name="ls",
        title_zh="坡长坡度因子", title_en="RUSLE slope length and steepness factor",
        source="methods.md §3.2.1 LS and §0.3 item 8 (D8 λ capped at λmax, McCool m, Liu Baoyuan S)",
        inputs={"dem": InputDecl("m", "continuous", "elevation (高程)")},
        parameters={"max_slope_length_m": Parameter(300.0, "λmax, metres", "methods.md §0.3 item 8 [R]", domain=(1, 10000, "m"))},
        outputs={"ls": values("RUSLE LS factor", "1")},
    ),
    _ls,
    derived=True,
)


def _ecosys(inputs, params, ev):
    mapping = {int(k): int(v) for k, v in params["crosswalk"].items()}
    codes = np.arange(max(mapping) + 1, dtype=np.int64)
    lut = np.array([mapping.get(int(c), params["default"]) for c in codes], dtype=np.int16)

    def block(landuse):
        lu = landuse.astype(np.int64)
        inside = (lu >= 0) & (lu < lut.size)
        out = np.where(inside, lut[np.clip(lu, 0, lut.size - 1)], params["default"]).astype(np.int16)
        return np.where(lu <= 0, 0, out)

    return {"ecosys": ops.map_cells(block, inputs["landuse"], dtype=np.int16, name="ecosys")}


ECOSYS = Model(
    ModelSpec(
        name="ecosys",
        title_zh="生态系统类型", title_en="Ecosystem type",
        source=f"models/tables/ecology.yaml ecosystem_from_landuse: {_ECO['ecosystem_from_landuse']['source']}",
        inputs={"landuse": InputDecl("class", "categorical", "三调 land use (DLBM as integer)")},
        parameters={
            "crosswalk": Parameter({int(k): v for k, v in _ECO["ecosystem_from_landuse"]["map"].items()},
                                   "三调 code → ecosystem code", _ECO["ecosystem_from_landuse"]["source"], open_keys=True),
            "default": Parameter(_ECO["ecosystem_from_landuse"]["default"], "ecosystem code of every other land-use code", "[R]"),
        },
        outputs={"ecosys": OutputDecl("int16", "ecosystem type (生态系统类型)", nodata=0, classes=tuple(
            ClassDecl(int(k), v[0], v[1], (40 + 8 * int(k), 150, 200 - 6 * int(k))) for k, v in _ECO["ecosystem_types"]["codes"].items()))},
    ),
    _ecosys,
    derived=True,
)


def rainfall_erosivity_monthly(monthly_mm: np.ndarray) -> np.ndarray:
    """R (MJ·mm/(hm²·h·a)) from monthly precipitation (axis 0 = the 12 months, mm): Wischmeier's monthly form.

    Source: methods.md §3.2.1 alternative and §0.3 item 17:
    ``R = Σ 1.735·10^(1.5·lg(P_i²/P) − 0.08188) × 17.02`` (P annual, mm;
    × 17.02 to SI). A dry month (P_i = 0) adds nothing; NaN in any month → NaN.
    """
    p = np.asarray(monthly_mm, dtype=np.float64)
    annual = p.sum(axis=0)
    # 10^(1.5·lg(P_i²/P)) = P_i³ / P^1.5 for P_i ≥ 0: one cube per month instead of a log and a power
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1.735 * 17.02 * 10.0**-0.08188) * (p * p * p).sum(axis=0) / (annual * np.sqrt(annual))
    return np.where(annual > 0, r, np.where(np.isnan(annual), np.nan, 0.0))


def rainfall_erosivity_daily(daily_mm: np.ndarray, warm: np.ndarray, years: float, threshold_mm: float = 12.0) -> np.ndarray:
    """R (MJ·mm/(hm²·h·a)) from daily rainfall (axis 0 = days): the half-month model of the first national water census.

    Source: methods.md §3.2.1 and §0.3 item 17: erosive days (P_d ≥ 12 mm)
    contribute α·P_d^1.7265 with α = 0.3937 in the warm season (May–Sep),
    0.3101 otherwise; summed over the record and divided by the number of
    years (the 24 half-month sums add up to this annual mean). ``warm`` is a
    boolean per day.
    """
    p = np.asarray(daily_mm, dtype=np.float64)
    alpha = np.where(np.asarray(warm, dtype=bool), 0.3937, 0.3101).reshape((-1,) + (1,) * (p.ndim - 1))
    erosive = np.where(p >= threshold_mm, alpha * p**1.7265, 0.0)
    return erosive.sum(axis=0) / years


MONTHS = tuple(f"{m:02d}" for m in range(1, 13))
DAYS = tuple(f"{d:02d}" for d in range(1, 367))  # a daily series of one year as one file: `precip_d: {bands: 365}`
MONTH_DAYS = (31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def day_months(first_day: str, count: int) -> np.ndarray:
    """Calendar month (1–12) of each of ``count`` consecutive days starting at ``first_day`` (ISO date)."""
    start = np.datetime64(first_day, "D")
    days = start + np.arange(count)
    return (days.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64)


def _series(inputs: dict, prefix: str, names: tuple[str, ...]) -> list:
    return [inputs[f"{prefix}{n}"] for n in names if f"{prefix}{n}" in inputs]


def _r_factor(inputs, params, ev):
    if params["method"] == "daily":
        days = _series(inputs, "precip_d", DAYS)
        warm = np.isin(day_months(params["first_day"], len(days)), params["warm_months"])
        years = params["years"]

        def daily(*blocks):
            return rainfall_erosivity_daily(np.stack(blocks), warm, years).astype(np.float32)

        return {"r_factor": ops.map_cells(daily, *days, dtype=np.float32, name="r_factor",
                                          attrs={"long_name": "R from daily rainfall (half-month model)"})}
    months = [inputs[f"precip_m{m}"] for m in MONTHS]

    def block(*blocks):
        return rainfall_erosivity_monthly(np.stack(blocks)).astype(np.float32)

    return {"r_factor": ops.map_cells(block, *months, dtype=np.float32, name="r_factor")}


_DAILY_PARAMETERS = {
    "first_day": Parameter("2020-01-01", "date of the first band of a daily series (ISO)", "[R]"),
    "years": Parameter(1.0, "years the daily series covers (sums are divided by it)", "methods.md §3.2.1 (1/n Σ_years)", domain=(1, 100, "a")),
}

R_FACTOR = Model(
    ModelSpec(
        name="r_factor",
        title_zh="降雨侵蚀力", title_en="Rainfall erosivity",
        source="methods.md §3.2.1: the half-month daily model of the first national water census (α 0.3937 May–Sep, 0.3101 otherwise, "
        "P_d ≥ 12 mm, exponent 1.7265) or the monthly Wischmeier form (−0.08188, §0.3 item 17) [K-med]",
        inputs={**{f"precip_m{m}": InputDecl("mm", "continuous", f"mean precipitation of month {m} (one band of a 12-band file: bands: 12)",
                                             required=False) for m in MONTHS},
                **{f"precip_d{d}": InputDecl("mm", "continuous", f"precipitation of day {d} (one band of a daily file: bands: 365)",
                                             required=False) for d in DAYS}},
        parameters={
            "method": Parameter("monthly", "monthly (12 mean months) or daily (a daily series)", "methods.md §3.2.1", choices=("monthly", "daily")),
            "warm_months": Parameter([5, 6, 7, 8, 9], "months of the warm-season α", "methods.md §3.2.1 [K-med]"),
            **_DAILY_PARAMETERS,
        },
        required_when={"method": {"monthly": tuple(f"precip_m{m}" for m in MONTHS), "daily": tuple(f"precip_d{d}" for d in DAYS[:365])}},
        outputs={"r_factor": values("rainfall erosivity R (降雨侵蚀力)", "MJ*mm/(ha*h*a)")},
    ),
    _r_factor,
    derived=True,
)


def accumulated_temperature(temps: np.ndarray, weights: np.ndarray, dem=None, ref_elev=None, lapse_c_per_m: float = 0.006,
                            base_c: float = 0.0) -> np.ndarray:
    """Σ T·w over the periods whose (lapse-corrected) mean temperature is ≥ ``base_c`` (°C·d); axis 0 = days or months.

    Source: methods.md §2.2 item 4: AT0 = Σ_days T_d·[T_d ≥ 0]; the lapse
    correction T − 0.006·(dem − reference elevation) is applied to every
    day (month) before accumulating, never to the annual sum (§12.3, spj's
    dimensional error). ``weights`` are 1 per day, or days per month when
    monthly means stand in for days [R]. NaN in any period → NaN.
    """
    t = np.asarray(temps, dtype=np.float64)
    if dem is not None and ref_elev is not None:
        t = t - lapse_c_per_m * (np.asarray(dem, dtype=np.float64) - np.asarray(ref_elev, dtype=np.float64))[None]
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (t.ndim - 1))
    return np.where(t >= base_c, t * w, np.where(np.isnan(t), np.nan, 0.0)).sum(axis=0)


def _at0(inputs, params, ev):
    daily = params["method"] == "daily"
    series = _series(inputs, "tmean_d", DAYS) if daily else [inputs[f"tmean_m{m}"] for m in MONTHS]
    weights = np.full(len(series), 1.0 / params["years"]) if daily else np.asarray(MONTH_DAYS)
    corrected = "temp_ref_elev" in inputs and "dem" in inputs
    extra = [inputs["dem"], inputs["temp_ref_elev"]] if corrected else []
    lapse = params["lapse_rate_c_per_m"]

    def block(*blocks):
        n = len(series)
        dem, ref = (blocks[n], blocks[n + 1]) if corrected else (None, None)
        return accumulated_temperature(np.stack(blocks[:n]), weights, dem, ref, lapse).astype(np.float32)

    how = ("daily" if daily else "monthly means × days") + (", lapse-corrected to the DEM" if corrected else "")
    return {"at0": ops.map_cells(block, *series, *extra, dtype=np.float32, name="at0", attrs={"long_name": f"≥0 °C accumulated temperature ({how})"})}


AT0 = Model(
    ModelSpec(
        name="at0",
        title_zh="≥0℃积温", title_en="Accumulated temperature ≥ 0 °C",
        source="methods.md §2.2 item 4: AT0 = Σ T_d·[T_d ≥ 0] averaged over years, lapse-rate correction on daily (monthly) temperatures "
        "before accumulating [C-spj 0.6 °C/100 m; §12.3: never on the annual sum]; monthly means × days stand in for days [R]",
        inputs={**{f"tmean_m{m}": InputDecl("degC", "continuous", f"mean temperature of month {m}", required=False) for m in MONTHS},
                **{f"tmean_d{d}": InputDecl("degC", "continuous", f"mean temperature of day {d} (tmean_d: {{bands: 365}})", required=False)
                   for d in DAYS},
                "dem": InputDecl("m", "continuous", "elevation (lapse-rate correction)", required=False),
                "temp_ref_elev": InputDecl("m", "continuous", "elevation the temperatures refer to (station or climate-grid elevation); "
                                           "without it no lapse correction", required=False)},
        parameters={
            "method": Parameter("monthly", "monthly (12 mean months × days) or daily", "methods.md §2.2 item 4", choices=("monthly", "daily")),
            "lapse_rate_c_per_m": Parameter(0.006, "temperature lapse rate, °C per m", "methods.md §2.2 item 4 [C-spj]", domain=(0, 0.02, "degC/m")),
            **_DAILY_PARAMETERS,
        },
        required_when={"method": {"monthly": tuple(f"tmean_m{m}" for m in MONTHS), "daily": tuple(f"tmean_d{d}" for d in DAYS[:365])}},
        outputs={"at0": values("≥0 °C accumulated temperature (≥0℃积温)", "degC*d")},
    ),
    _at0,
    derived=True,
)

DERIVED = (SLOPE, RELIEF, FVC, LS, ECOSYS, R_FACTOR, AT0)


def _terrain(inputs, params, ev):
    limit = params["plain_max_relief_m"]
    return {"terrain_class": ops.map_cells(lambda r: np.where(np.isnan(r), 0, np.where(r <= limit, 1, 2)).astype(np.uint8), inputs["relief"],
                                           dtype=np.uint8, name="terrain_class")}


TERRAIN = Model(
    ModelSpec(
        name="terrain_class",
        title_zh="地形类型", title_en="Terrain class",
        source="1 平原 (plain) where relief ≤ 30 m in the relief window, else 2 山地丘陵 (the 平原 limit of the Chinese 1:1M geomorphology "
        "relief classes) [R]; methods.md §4.9 (contiguity), §8.1 (5/3 mu)",
        inputs={"relief": InputDecl("m", "continuous", "terrain relief", producer="relief")},
        parameters={"plain_max_relief_m": Parameter(30.0, "largest relief of a plain, m", "[R]", domain=(0, 1000, "m"))},
        outputs={"terrain_class": OutputDecl("uint8", "terrain class: 1 平原 plain, 2 山地丘陵 mountainous/hilly", nodata=0, classes=(
            ClassDecl(1, "平原", "plain", (240, 230, 180)), ClassDecl(2, "山地丘陵", "mountainous or hilly", (170, 130, 90))))},
    ),
    _terrain,
    derived=True,
)

DERIVED = DERIVED + (TERRAIN,)


def _evap_ratio(inputs, params, ev):
    def block(e, p):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, e / p, np.nan).astype(np.float32)

    return {"evap_ratio": ops.map_cells(block, inputs["pet"], inputs["precip"], dtype=np.float32, name="evap_ratio")}


EVAP_RATIO = Model(
    ModelSpec(
        name="evap_ratio",
        title_zh="蒸降比", title_en="Evaporation / precipitation ratio",
        source="methods.md §3.7.4 factor I (蒸降比) = evaporation / precipitation, both annual (mm/a)",
        inputs={"pet": InputDecl("mm/a", "continuous", "evaporation or potential ET"), "precip": InputDecl("mm/a", "continuous", "annual precipitation")},
        parameters={},
        outputs={"evap_ratio": values("evaporation / precipitation (蒸降比)", "index")},
    ),
    _evap_ratio,
    derived=True,
)

DERIVED = DERIVED + (EVAP_RATIO,)
