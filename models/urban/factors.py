"""Urban single factors (methods.md §5.1–5.7): land, water, geological hazard, environment, comfort, location."""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.grid import grid_of
from evaluate.modelspec import FIVE_GRADES, InputDecl, Model, ModelSpec, Parameter
from models._common import DANGER_CLASSES, grades, isin
from models._tables import table

_U = table("urban")
MONTHS = tuple(f"{m:02d}" for m in range(1, 13))


# --------------------------------------------------------------------------- §5.1 land
def urban_land_grade(slope, dem, relief, slope_t, elev_t, relief_t, relief_steps) -> np.ndarray:
    """Slope grade + elevation and relief corrections, clamped; > 5000 m forces 5. Source: methods.md §5.1 [C-spj Urban.py exact]; T11."""
    slope, dem, relief = (np.asarray(a, dtype=np.float64) for a in (slope, dem, relief))
    g = 1 + np.searchsorted(np.asarray(slope_t, dtype=np.float64), slope, side="left")
    g = g + ((dem > elev_t[0]) & (dem <= elev_t[1]))
    r = np.searchsorted(np.asarray(relief_t, dtype=np.float64), relief, side="left")  # ≤100 → 0, (100,200] → 1, > 200 → 2
    g = g + np.asarray(relief_steps)[r]
    g = np.where(dem > elev_t[1], 5, np.minimum(g, 5))
    return np.where(np.isnan(slope) | np.isnan(dem) | np.isnan(relief), 0, g).astype(np.uint8)


def _land(inputs, params, ev):
    st, et, rt, rs = params["slope_thresholds_deg"], params["elevation_thresholds_m"], params["relief_thresholds_m"], _U["land_relief_correction"]["steps"]
    return {"urban_land": ops.map_cells(lambda s, d, r: urban_land_grade(s, d, r, st, et, rt, rs), inputs["slope"], inputs["dem"], inputs["relief"],
                                        dtype=np.uint8, name="urban_land")}


LAND = Model(
    ModelSpec(
        name="urban_land",
        title_zh="城镇建设适宜性 · 土地资源", title_en="Urban land resource",
        source="methods.md §5.1 slope grade, elevation and relief corrections [C-spj Urban.py, exact]",
        inputs={
            "slope": InputDecl("degrees", "continuous", "slope", producer="slope"),
            "dem": InputDecl("m", "continuous", "elevation"),
            "relief": InputDecl("m", "continuous", "terrain relief", producer="relief"),
        },
        parameters={
            "slope_thresholds_deg": Parameter(_U["land_slope_grade"]["thresholds_deg"], "slope limits (upper-inclusive)", _U["land_slope_grade"]["source"],
                                              ascending=True, length=4, domain=(0, 90, "degrees")),
            "elevation_thresholds_m": Parameter(_U["land_elevation_correction"]["thresholds_m"], "(h1, h2]: down 1; > h2: 5", _U["land_elevation_correction"]["source"],
                                                ascending=True, length=2, domain=(-500, 9000, "m")),
            "relief_thresholds_m": Parameter(_U["land_relief_correction"]["thresholds_m"], "(r1, r2]: down 1; > r2: down 2", _U["land_relief_correction"]["source"],
                                             ascending=True, length=2, domain=(0, 9000, "m")),
        },
        outputs={"urban_land": grades("城镇土地资源等级 urban land-resource grade", FIVE_GRADES)},
    ),
    _land,
)


# --------------------------------------------------------------------------- §5.2 water
def _water(inputs, params, ev):
    t = params["modulus_thresholds"] or _U["water_modulus_grade"][ev.level]
    return {"urban_water": ops.grade(inputs["water_modulus"], t, better="larger", name="urban_water",
                                     attrs={"long_name": f"城镇水资源等级 ({ev.level} thresholds)"})}


WATER = Model(
    ModelSpec(
        name="urban_water",
        title_zh="城镇建设适宜性 · 水资源", title_en="Urban water resource",
        source="methods.md §5.2: 水资源总量模数 (province) or 用水总量控制指标模数 (city/county) per admin unit [C-spj UrbanWaterResources.py, exact]",
        inputs={"water_modulus": InputDecl("m3/km2", "continuous", "water modulus per admin unit (rasterized); the kind follows evaluation.level")},
        parameters={"modulus_thresholds": Parameter(None, "override of the 4 limits (lower-inclusive, m³/km²); default by evaluation.level",
                                                    _U["water_modulus_grade"]["source"])},
        outputs={"urban_water": grades("城镇水资源等级 urban water-resource grade", FIVE_GRADES)},
    ),
    _water,
)


# --------------------------------------------------------------------------- §5.4 geological hazard
def subsidence_grade(value, thresholds) -> np.ndarray:
    """5 if v < t1; 4 if t1 ≤ v < t2; 3 if t2 ≤ v < t3; 2 if t3 ≤ v ≤ t4; 1 if v > t4. Source: methods.md §0.3 item 2 (stated inequalities)."""
    v = np.asarray(value, dtype=np.float64)
    t1, t2, t3, t4 = thresholds
    g = np.select([v < t1, v < t2, v < t3, v <= t4], [5, 4, 3, 2], 1)
    return np.where(np.isnan(v), 0, g).astype(np.uint8)


def fault_grade(distance_m, thresholds) -> np.ndarray:
    """d ≤ 100 → 1 … d > 1000 → 5 (upper-inclusive). Source: methods.md §0.3 item 3."""
    d = np.asarray(distance_m, dtype=np.float64)
    return np.where(np.isnan(d), 0, 1 + np.searchsorted(np.asarray(thresholds, dtype=np.float64), d, side="left")).astype(np.uint8)


def pga_upgrade(pga_g, thresholds, upgrade_by_class) -> np.ndarray:
    """Danger upgrade from PGA (g): class 1 (> 0.35) → 2, class 2 → 1, classes 3–4 → 0. Source: methods.md §5.4 item 1 [C-spj]."""
    v = np.asarray(pga_g, dtype=np.float64)
    klass = 4 - np.searchsorted(np.asarray(thresholds, dtype=np.float64), v, side="left")  # ≤ t1 → 4 … > t3 → 1
    return np.where(np.isnan(v), 0, np.asarray(upgrade_by_class)[np.clip(klass, 1, 4) - 1]).astype(np.int64)


GEO_INPUTS = ("fault_distance", "faults", "pga", "landslide", "collapse", "subsidence_cum", "subsidence_rate")


def _geohazard(inputs, params, ev):
    layers, kinds = [], []
    if "fault_distance" in inputs or "faults" in inputs:
        distance = inputs["fault_distance"] if "fault_distance" in inputs else ops.distance(
            inputs["faults"], max_distance_m=params["fault_thresholds_m"][-1] * 1.5)
        layers.append(distance)
        kinds.append("fault")
    for name in GEO_INPUTS[2:]:
        if name in inputs:
            layers.append(inputs[name])
            kinds.append(name)
    ft, pt, pu = params["fault_thresholds_m"], _U["pga_correction"]["thresholds_g"], _U["pga_correction"]["upgrade_by_class"]
    st, rt = params["subsidence_cum_mm"], params["subsidence_rate_mm_a"]

    def block(*blocks):
        got = dict(zip(kinds, blocks))
        shape = blocks[0].shape
        grades_ = []
        if "fault" in got or "pga" in got:
            seis = fault_grade(np.minimum(got["fault"], 1e12), ft).astype(np.int64) if "fault" in got else np.full(shape, 5, np.int64)
            if "pga" in got:
                seis = np.where(seis > 0, np.clip(seis - pga_upgrade(got["pga"], pt, pu), 1, 5), 0)
            grades_.append(seis)
        for name in ("landslide", "collapse"):
            if name in got:
                g = np.nan_to_num(np.asarray(got[name], dtype=np.float64), nan=0.0).astype(np.int64)
                grades_.append(np.where((g >= 1) & (g <= 5), g, 0))
        if "subsidence_cum" in got:
            grades_.append(subsidence_grade(got["subsidence_cum"], st).astype(np.int64))
        if "subsidence_rate" in got:
            grades_.append(subsidence_grade(got["subsidence_rate"], rt).astype(np.int64))
        stack = np.stack(grades_)
        out = np.min(np.where(stack == 0, 9, stack), axis=0)
        return np.where((stack == 0).any(axis=0), 0, out).astype(np.uint8)

    return {"geohazard": ops.map_cells(block, *layers, dtype=np.uint8, name="geohazard",
                                       attrs={"long_name": "地质灾害危险性 (1 极高 … 5 低)", "factors": kinds})}


GEOHAZARD = Model(
    ModelSpec(
        name="geohazard",
        title_zh="地质灾害危险性", title_en="Geological hazard danger",
        source="methods.md §5.4: SEIS = fault-distance grade (§0.3 item 3) raised by the PGA class [C-spj]; landslide and collapse grades; "
        "subsidence by §0.3 item 2; GEOHAZ = min (the most dangerous wins) [C-spj UrbanGeologicalDisaster.py exact]",
        inputs={
            "fault_distance": InputDecl("m", "continuous", "distance to the nearest active fault", required=False),
            "faults": InputDecl("mask", "mask", "active fault lines (rasterized with all_touched; distance computed)", required=False),
            "pga": InputDecl("g", "continuous", "peak ground acceleration (地震动峰值加速度, GB 18306)", required=False),
            "landslide": InputDecl("class", "categorical", "collapse/landslide/debris-flow susceptibility grade 1 极高 … 5 低", required=False),
            "collapse": InputDecl("class", "categorical", "ground-collapse susceptibility grade 1 … 5", required=False),
            "subsidence_cum": InputDecl("mm", "continuous", "cumulative land subsidence", required=False),
            "subsidence_rate": InputDecl("mm/a", "continuous", "land subsidence rate", required=False),
        },
        parameters={
            "fault_thresholds_m": Parameter(_U["fault_distance_grade"]["thresholds_m"], "fault distance limits (upper-inclusive), m",
                                            _U["fault_distance_grade"]["source"], ascending=True, length=4, domain=(0, 1e5, "m")),
            "subsidence_cum_mm": Parameter(_U["subsidence_cumulative_mm"]["thresholds"], "cumulative subsidence limits, mm",
                                           _U["subsidence_cumulative_mm"]["source"], ascending=True, length=4, domain=(0, 1e5, "mm")),
            "subsidence_rate_mm_a": Parameter(_U["subsidence_rate_mm_a"]["thresholds"], "subsidence rate limits, mm/a",
                                              _U["subsidence_rate_mm_a"]["source"], ascending=True, length=4, domain=(0, 1e4, "mm/a")),
        },
        needs_one_of=GEO_INPUTS,
        outputs={"geohazard": grades("地质灾害危险性 geological hazard danger", DANGER_CLASSES)},
    ),
    _geohazard,
)


# --------------------------------------------------------------------------- §5.5 environment
def _env(inputs, params, ev):
    out = {}
    if "calm_share" in inputs or "wind_mean" in inputs:
        parts = []
        if "calm_share" in inputs:
            parts.append(ops.grade(inputs["calm_share"], _U["air_calm_share_pct"]["thresholds"], better="smaller"))
        if "wind_mean" in inputs:
            parts.append(ops.grade(inputs["wind_mean"], _U["air_mean_wind_m_s"]["thresholds"], better="larger"))
        out["air_env"] = ops.integrate(parts, "max", name="air_env", attrs={"long_name": "大气环境容量 (AIR = the worse grade)"})
    if "water_env_capacity" in inputs:
        out["water_env"] = ops.grade(inputs["water_env_capacity"], _U["water_env_capacity"]["thresholds"], better="larger", name="water_env")
    return out


AIR = Model(
    ModelSpec(
        name="air_env",
        title_zh="大气环境容量", title_en="Atmospheric environment capacity",
        source="methods.md §5.5: static-wind-day share (upper-inclusive) and mean wind (lower-inclusive); AIR = max [C-spj UrbanEnvironment.py]",
        inputs={
            "calm_share": InputDecl("percent", "continuous", "share of days with daily max wind below the calm threshold (静风日占比)", required=False),
            "wind_mean": InputDecl("m/s", "continuous", "mean wind speed", required=False),
        },
        parameters={},
        needs_one_of=("calm_share", "wind_mean"),
        outputs={"air_env": grades("大气环境容量 atmospheric environment capacity", FIVE_GRADES)},
    ),
    _env,
)
WATER_ENV = Model(
    ModelSpec(
        name="water_env",
        title_zh="水环境容量", title_en="Water environment capacity",
        source="methods.md §5.5 [C-spj UrbanWaterEnvironment.py]: [0,20) → 5 … ≥ 5000 → 1; unit undocumented in the source",
        inputs={"water_env_capacity": InputDecl("t/a", "continuous", "water environment capacity (水环境容量)")},
        parameters={},
        outputs={"water_env": grades("水环境容量 water environment capacity", FIVE_GRADES)},
    ),
    _env,
)


# --------------------------------------------------------------------------- §5.6 comfort
def thi(t_c, rh):
    """THI = (1.8t + 32) − 0.55(1 − RH)(1.8t − 26). Source: methods.md §5.6 [C-spj TownClimate.py exact; K-high]. T14: (25, 0.7) → 73.865."""
    t_c, rh = np.asarray(t_c, dtype=np.float64), np.asarray(rh, dtype=np.float64)
    return (1.8 * t_c + 32.0) - 0.55 * (1.0 - rh) * (1.8 * t_c - 26.0)


def thi_class(value, bands=tuple(tuple(b) for b in _U["comfort_thi"]["bands"])) -> np.ndarray:
    """[50, 70] → 1; [45, 50) ∪ (70, 75] → 2; [40, 45) ∪ (75, 80] → 3; [35, 40) ∪ (80, 85] → 4; else 5. Source: methods.md §5.6 [C-fe exact]."""
    v = np.asarray(value, dtype=np.float64)
    g = np.full(v.shape, 5, dtype=np.int64)
    for k in range(len(bands) - 1, -1, -1):
        lo, hi = bands[k]
        g = np.where((v >= lo) & (v <= hi), k + 1, g)
    return np.where(np.isnan(v), 0, g).astype(np.uint8)


def annual_comfort(monthly_classes: np.ndarray, how: str = "mode", monthly_thi: np.ndarray | None = None) -> np.ndarray:
    """Annual class: the mode of the 12 monthly classes, ties to the worse class [C-spj mode; R ties]; or the class of the mean THI."""
    if how == "mean":
        return thi_class(np.mean(monthly_thi, axis=0))
    c = np.asarray(monthly_classes)
    counts = np.stack([(c == k).sum(axis=0) for k in range(1, 6)])
    # the last maximum along the class axis = the worse class on ties
    best = 4 - np.argmax(counts[::-1], axis=0)
    return np.where((c == 0).any(axis=0), 0, best + 1).astype(np.uint8)


def _comfort(inputs, params, ev):
    how = params["aggregation"]
    layers = [inputs[f"tmean_m{m}"] for m in MONTHS] + [inputs[f"rh_m{m}"] for m in MONTHS]

    def block(*blocks):
        t, rh = np.stack(blocks[:12]), np.stack(blocks[12:])
        values = thi(t, rh)
        return annual_comfort(thi_class(values), how, values)

    return {"comfort": ops.map_cells(block, *layers, dtype=np.uint8, name="comfort", attrs={"long_name": f"气候舒适度 (THI, {how} of months)"})}


COMFORT = Model(
    ModelSpec(
        name="comfort",
        title_zh="气候舒适度", title_en="Climate comfort",
        source="methods.md §5.6: monthly THI [C-spj TownClimate.py exact] classed by the 2019-draft table [C-fe]; annual = mode of the months "
        "(ties → worse) or the class of the mean THI",
        inputs={**{f"tmean_m{m}": InputDecl("degC", "continuous", f"mean temperature of month {m} (tmean: {{bands: 12}})") for m in MONTHS},
                **{f"rh_m{m}": InputDecl("fraction", "continuous", f"mean relative humidity of month {m}") for m in MONTHS}},
        parameters={"aggregation": Parameter("mode", "mode of monthly classes or class of the mean THI", "methods.md §5.6", choices=("mode", "mean"))},
        outputs={"comfort": grades("气候舒适度 climate comfort", FIVE_GRADES)},
    ),
    _comfort,
)


# --------------------------------------------------------------------------- §5.7 location
_COMPOSITE = _U["location_composite_2020"]


def composite_location(density_grade, trunk_grade, access_grade) -> np.ndarray:
    """Equal-weight mean of the three 2020 location grades, halves rounded to the worse class; 0 where any is nodata.

    Source: methods.md §5.7 2020 composite [K-med; R combination].
    """
    grades_ = np.stack([np.asarray(g, dtype=np.float64) for g in (density_grade, trunk_grade, access_grade)])
    mean = grades_.mean(axis=0)
    return np.where((grades_ > 0).all(axis=0), np.clip(np.floor(mean + 0.5), 1, 5), 0).astype(np.uint8)


def _location(inputs, params, ev):
    thresholds = _U["location_travel_min"][ev.level]
    method = params["method"]
    if method == "auto":
        method = "composite" if ev.guideline == "2020trial" and "road_class" in inputs else "travel_time"
    if method == "composite" and "road_class" not in inputs:
        raise ValueError("location.method composite needs road_class (the road network density and the trunk lines)")
    speeds = {int(k): v for k, v in params["road_speed_km_h"].items()}
    off_road = params["off_road_km_h"]
    if "travel_time" in inputs:
        minutes = inputs["travel_time"]
    else:
        lut = np.full(max(speeds) + 1, off_road, dtype=np.float64)
        for k, v in speeds.items():
            lut[k] = v

        def speed(code):
            c = np.nan_to_num(np.asarray(code, dtype=np.float64), nan=0).astype(np.int64)
            kmh = np.where((c > 0) & (c < lut.size), lut[np.clip(c, 0, lut.size - 1)], off_road)
            return kmh * 1000.0 / 60.0

        pace = ops.map_cells(speed, inputs["road_class"], dtype=np.float64)
        centres = inputs["centres"] if "centres" in inputs else isin(inputs["czcsxm"], params["centre_czcsxm"])
        # beyond the last limit every cell is class 5: the search stops there (it sets the halo)
        minutes = ops.travel_time(centres, pace, max_minutes=thresholds[-1], max_speed_m_per_min=max(lut.max(), off_road) * 1000.0 / 60.0,
                                  beyond=np.inf, analysis_resolution_m=params["analysis_resolution_m"])
    access = ops.grade(minutes, thresholds, better="smaller", name="location" if method == "travel_time" else "location_access",
                       attrs={"long_name": f"区位优势度 (travel time, {ev.level} thresholds)"})
    if method == "travel_time":
        return {"location": access}
    # 2020 composite: 交通网络密度 (km of road per km² in a square window), 交通干线影响度 (distance to trunk lines), 中心城市可达性
    roads = inputs["road_class"]
    dx, dy = grid_of(roads).cell_size_m()
    cell_m = 0.5 * (float(np.mean(dx)) + float(np.mean(dy)))  # a road cell ≈ one cell side of road
    on_road = ops.map_cells(lambda c: np.where(np.isnan(c), np.nan, (c > 0).astype(np.float32)), roads.astype(np.float32), dtype=np.float32)
    km_per_km2 = ops.map_cells(lambda f: f * (1000.0 / cell_m), ops.focal(on_road, "mean", "square", radius_m=params["density_window_m"]), dtype=np.float32)
    density = ops.grade(km_per_km2, params["density_km_per_km2"], better="larger", name="location_density")
    trunk_km = params["trunk_distance_km"]
    trunk = ops.distance(isin(roads, params["trunk_codes"]), trunk_km[-1] * 1000.0)
    trunk_grade = ops.grade(trunk, [1000.0 * k for k in trunk_km], better="smaller", name="location_trunk")
    location = ops.map_cells(composite_location, density, trunk_grade, access, dtype=np.uint8, name="location",
                             attrs={"long_name": f"区位优势度 (2020 composite: road density, trunk lines, travel time with {ev.level} thresholds)"})
    return {"location": location}


LOCATION = Model(
    ModelSpec(
        name="location",
        title_zh="区位优势度", title_en="Location advantage",
        source="methods.md §5.7 travel time to the centre, upper-inclusive [C-spj EvaluationOfUrbanLocationAdvantage.py exact; C-fe provincial]; "
        "travel time = cost distance over road speeds [R]; 2020 composite of road density, trunk-line distance and travel time [K-med; R limits]",
        inputs={
            "travel_time": InputDecl("min", "continuous", "travel time to the centre (when given, used as is)", required=False),
            "road_class": InputDecl("class", "categorical", "road class codes (speeds by road_speed_km_h)", required=False),
            "centres": InputDecl("mask", "mask", "centres (county/city seats)", required=False),
            "czcsxm": InputDecl("class", "categorical", "城镇村属性码: centres are the centre_czcsxm cells when no centres mask", required=False),
        },
        parameters={
            "method": Parameter("auto", "travel_time (§5.7 table), composite (2020: road density, trunk lines, travel time) or auto "
                                "(composite in 2020trial when road_class is given)", "methods.md §5.7", choices=("auto", "travel_time", "composite")),
            "density_window_m": Parameter(_COMPOSITE["density_window_m"], "composite: half-side of the road-density window (m)", _COMPOSITE["source"],
                                          domain=(30, 50_000, "m")),
            "density_km_per_km2": Parameter(_COMPOSITE["density_km_per_km2"], "composite: road density limits of grades 1–4 (km/km², lower-inclusive)",
                                            _COMPOSITE["source"], ascending=False, length=4, domain=(0, 100, "km/km2")),
            "trunk_codes": Parameter(_COMPOSITE["trunk_codes"], "composite: road_class codes of the trunk lines", _COMPOSITE["source"]),
            "trunk_distance_km": Parameter(_COMPOSITE["trunk_distance_km"], "composite: distance limits to a trunk line of grades 1–4 (km, upper-inclusive)",
                                           _COMPOSITE["source"], ascending=True, length=4, domain=(0, 500, "km")),
            "road_speed_km_h": Parameter({1: 80.0, 2: 40.0, 3: 20.0}, "speed by road class code, km/h", "[R] (JTG B01 design speeds, rounded down)", open_keys=True),
            "off_road_km_h": Parameter(5.0, "speed off roads, km/h", "[R]", domain=(0.1, 200, "km/h")),
            "centre_czcsxm": Parameter([201], "CZCSXM codes taken as centres", "methods.md §5.7 [R]"),
            "analysis_resolution_m": Parameter(None, "travel time on a coarser grid (block-mean pace; roads are diluted) when the exact "
                                               "search's reach (last limit × top speed) exceeds the halo a task may hold", "ops.travel_time [R]"),
        },
        needs_one_of=("travel_time", "road_class"),
        outputs={"location": grades("区位优势度 location advantage", FIVE_GRADES)},
    ),
    _location,
)

def _advantage(inputs, params, ev):
    return {"urban_advantage": ops.matrix_lookup(params["matrix"], inputs["comfort"], inputs["location"], name="urban_advantage",
                                                 attrs={"long_name": "城镇综合优势度 (comfort × location)"})}


ADVANTAGE = Model(
    ModelSpec(
        name="urban_advantage",
        title_zh="城镇综合优势度", title_en="Urban composite advantage (2019 draft, provincial)",
        source="methods.md §5.7 2019-draft 城镇综合优势度（省级层面）参考判别矩阵 [C-fe exact]; how it enters the urban class is not "
        "confirmed, so it is an output only (the §5.8 chain does not read it)",
        inputs={"comfort": InputDecl("class", "categorical", "climate comfort", producer="comfort"),
                "location": InputDecl("class", "categorical", "location advantage", producer="location")},
        parameters={"matrix": Parameter(_U["composite_advantage_matrix"]["matrix"], "舒适度 (rows 好…差) × 区位优势度 (columns) → 1 高 … 5 低",
                                        _U["composite_advantage_matrix"]["source"], shape=(5, 5), codes=(1, 2, 3, 4, 5))},
        outputs={"urban_advantage": grades("城镇综合优势度 urban composite advantage (1 高 … 5 低)", FIVE_GRADES)},
    ),
    _advantage,
)

FACTORS = (LAND, WATER, GEOHAZARD, AIR, WATER_ENV, COMFORT, LOCATION, ADVANTAGE)
