"""Agricultural single factors (methods.md §4.2, §4.3, §4.7, §4.8): water, heat, soil environment, meteorological hazard."""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import FIVE_GRADES, InputDecl, Model, ModelSpec, Parameter
from models._common import RISK_CLASSES, SOIL_ENV_CLASSES, grades, isin, values
from models._tables import table

_T = table("agriculture")
_GB = table("soil_gb15618")
_LU = table("landuse")


# --------------------------------------------------------------------------- §4.2 water
def _water(inputs, params, ev):
    method = params["method"]
    attrs = {"long_name": f"农业水资源等级 ({method})", "method": method}
    if method == "precip":
        g = ops.grade(inputs["precip"], params["precip_thresholds_mm"], better="larger", name="agri_water", attrs=attrs)
    elif method == "aridity":
        aridity = ops.map_cells(lambda e, p: np.where(p > 0, e / p, np.inf).astype(np.float32), inputs["pet"], inputs["precip"], dtype=np.float32)
        g = ops.grade(aridity, params["aridity_thresholds"], better="smaller", name="agri_water", attrs=attrs)
    else:
        g = ops.grade(inputs["water_quota_modulus"], params["modulus_thresholds"], better="larger", name="agri_water", attrs=attrs)
    return {"agri_water": g}


WATER = Model(
    ModelSpec(
        name="agri_water",
        title_zh="农业生产适宜性 · 水资源", title_en="Agricultural water resource",
        source="methods.md §4.2 three indicators [C-spj AgricultureWater.py, exact]",
        inputs={
            "precip": InputDecl("mm/a", "continuous", "annual precipitation", required=False),
            "pet": InputDecl("mm/a", "continuous", "evaporation / potential ET (aridity = evaporation / precipitation)", required=False),
            "water_quota_modulus": InputDecl("m3/km2", "continuous", "用水总量控制指标模数 per admin unit (控制指标/行政区面积), rasterized", required=False),
        },
        parameters={
            "method": Parameter("precip", "precip, aridity or quota_modulus", "methods.md §4.2", choices=("precip", "aridity", "quota_modulus")),
            "precip_thresholds_mm": Parameter(_T["water_precip_grade"]["thresholds_mm"], "P limits (lower-inclusive), mm", _T["water_precip_grade"]["source"],
                                              ascending=False, length=4, domain=(0, 20000, "mm")),
            "aridity_thresholds": Parameter(_T["water_aridity_grade"]["thresholds"], "aridity limits (upper-inclusive)", _T["water_aridity_grade"]["source"],
                                            ascending=True, length=4, domain=(0, 1000, "ratio")),
            "modulus_thresholds": Parameter(_T["water_quota_modulus_grade"]["thresholds_m3_per_km2"], "modulus limits (lower-inclusive), m³/km²",
                                            _T["water_quota_modulus_grade"]["source"], ascending=False, length=4, domain=(0, 1e9, "m3/km2")),
        },
        required_when={"method": {"precip": ("precip",), "aridity": ("pet", "precip"), "quota_modulus": ("water_quota_modulus",)}},
        outputs={"agri_water": grades("农业水资源等级 agricultural water-resource grade", FIVE_GRADES)},
    ),
    _water,
)


# --------------------------------------------------------------------------- §4.3 heat
def _heat(inputs, params, ev):
    return {"agri_heat": ops.grade(inputs["at0"], params["at0_thresholds"], better="larger", name="agri_heat",
                                   attrs={"long_name": "农业光热等级 (≥0 °C accumulated temperature)"})}


HEAT = Model(
    ModelSpec(
        name="agri_heat",
        title_zh="农业生产适宜性 · 光热", title_en="Agricultural heat",
        source="methods.md §4.3 ≥0 °C 积温 [C-spj AgricultureClimate.py, exact]; a lapse-rate correction belongs to daily temperatures before "
        "accumulating (§2.2 item 4), never to the annual sum (spj's bug, §12.3 item 3)",
        inputs={"at0": InputDecl("degC*d", "continuous", "≥0 °C accumulated temperature (≥0℃积温); derived from monthly or daily "
                                 "temperatures when not given", producer="at0")},
        parameters={"at0_thresholds": Parameter(_T["heat_at0_grade"]["thresholds_degc_d"], "AT0 limits (lower-inclusive), °C·d",
                                                _T["heat_at0_grade"]["source"], ascending=False, length=4, domain=(0, 12000, "degC*d"))},
        outputs={"agri_heat": grades("农业光热等级 agricultural heat grade", FIVE_GRADES)},
    ),
    _heat,
)


# --------------------------------------------------------------------------- §4.7 soil environment (GB 15618)
POLLUTANTS = ("cd", "hg", "as", "pb", "cr", "cu", "ni", "zn")


def soil_pollution_class(content: np.ndarray, ph: np.ndarray, column: np.ndarray, pollutant: str, screening: dict, intervention: dict,
                         ph_breaks=tuple(_GB["ph_breaks"])) -> np.ndarray:
    """GB 15618-2018 class of one pollutant: 1 ≤ 筛选值, 3 筛选值 < C ≤ 管制值 (or > 筛选值 without one), 5 > 管制值; 0 nodata.

    ``column`` per cell: 0 其他, 1 水田, 2 水旱轮作 (the stricter of both,
    §0.3 item 12), 3 果园 (Cu only: the 果园 screening value). pH classes
    ≤ 5.5 | (5.5, 6.5] | (6.5, 7.5] | > 7.5. Source: methods.md §4.7 [K-high].
    """
    k = np.searchsorted(np.asarray(ph_breaks, dtype=np.float64), ph, side="left")
    k = np.clip(k, 0, 3)
    paddy = np.asarray(screening["paddy"][pollutant], dtype=np.float64)[k]
    other = np.asarray(screening["other"][pollutant], dtype=np.float64)[k]
    s = np.where(column == 1, paddy, np.where(column == 2, np.minimum(paddy, other), other))
    if pollutant == "cu":
        s = np.where(column == 3, np.asarray(screening["orchard_cu"], dtype=np.float64)[k], s)
    cls = np.where(content <= s, 1, 3)
    if pollutant in intervention:
        cls = np.where(content > np.asarray(intervention[pollutant], dtype=np.float64)[k], 5, cls)
    return np.where(np.isnan(content) | np.isnan(ph), 0, cls).astype(np.uint8)


def _soil_env(inputs, params, ev):
    given = [p for p in POLLUTANTS if f"soil_{p}" in inputs]
    groups = params["landuse_groups"]
    paddy = isin(inputs["landuse"], groups["paddy"]) if "landuse" in inputs else None
    orchard = isin(inputs["landuse"], groups["orchard"]) if "landuse" in inputs else None
    rotation = inputs.get("paddy_dry_rotation")
    screening, intervention = params["screening"], params["intervention"]
    extra = [a for a in (paddy, orchard, rotation) if a is not None]
    flags = (paddy is not None, rotation is not None)

    def block(ph, *blocks):
        contents, rest = blocks[: len(given)], list(blocks[len(given):])
        column = np.zeros(ph.shape, dtype=np.int64)
        if flags[0]:
            is_paddy, is_orchard = rest.pop(0), rest.pop(0)
            column = np.where(is_paddy, 1, np.where(is_orchard, 3, 0))
        if flags[1]:
            column = np.where(rest.pop(0) > 0, 2, column)
        worst = np.zeros(ph.shape, dtype=np.uint8)
        nodata = np.isnan(ph)
        for p, c in zip(given, contents):
            cls = soil_pollution_class(c.astype(np.float64), ph.astype(np.float64), column, p, screening, intervention)
            nodata |= cls == 0
            worst = np.maximum(worst, cls)
        return np.where(nodata, 0, worst).astype(np.uint8)

    layers = [inputs[f"soil_{p}"] for p in given]
    return {"soil_env": ops.map_cells(block, inputs["soil_ph"], *layers, *extra, dtype=np.uint8, name="soil_env",
                                      attrs={"long_name": "土壤环境容量 (GB 15618: 1 高, 3 中, 5 低)", "pollutants": given})}


SOIL_ENV = Model(
    ModelSpec(
        name="soil_env",
        title_zh="土壤环境容量", title_en="Soil environment capacity",
        source="methods.md §4.7 GB 15618-2018 screening/intervention values by pH and land use [K-high; C-spj Ambient.py/ShuiTian.py]; "
        "SOILENV = worst pollutant; §0.3 item 12 for 水旱轮作",
        inputs={
            "soil_ph": InputDecl("pH", "continuous", "soil pH"),
            **{f"soil_{p}": InputDecl("mg/kg", "continuous", f"soil {p.capitalize()} content", required=False) for p in POLLUTANTS},
            "landuse": InputDecl("class", "categorical", "三调 land use: 水田 (paddy column) and 果园 (Cu)", required=False),
            "paddy_dry_rotation": InputDecl("mask", "mask", "水旱轮作 land (the stricter of the paddy and other values)", required=False),
        },
        parameters={
            "screening": Parameter({k: v for k, v in _GB["screening"].items()}, "筛选值 tables (mg/kg by pH class)", _GB["source"]),
            "intervention": Parameter(dict(_GB["intervention"]), "管制值 tables (mg/kg by pH class)", _GB["source"]),
            "landuse_groups": Parameter({"paddy": _LU["groups"]["paddy"], "orchard": _LU["groups"]["orchard"]}, "三调 codes of 水田 and 果园",
                                        _LU["source"]),
        },
        needs_one_of=tuple(f"soil_{p}" for p in POLLUTANTS),
        outputs={"soil_env": grades("土壤环境容量 soil environment capacity (GB 15618)", SOIL_ENV_CLASSES)},
    ),
    _soil_env,
)


# --------------------------------------------------------------------------- §4.8 meteorological hazard
HAZARDS = ("rainstorm", "heat", "cold", "gale", "drought")


def hazard_grade(frequency: np.ndarray, thresholds=tuple(_T["met_hazard_frequency_grade"]["thresholds"])) -> np.ndarray:
    """Frequency of disaster years → 5 低 (f ≤ 0.2) … 1 高 (f > 0.8), upper-inclusive. Source: methods.md §4.8 item 2."""
    k = np.searchsorted(np.asarray(thresholds, dtype=np.float64), frequency, side="left")
    return np.where(np.isnan(frequency), 0, 5 - k).astype(np.uint8)


def composite_class(value: np.ndarray, thresholds=tuple(_T["met_hazard_composite_classes"]["thresholds"])) -> np.ndarray:
    """Weighted composite grade → class: [1, 1.8) → 1 高 … [4.2, 5] → 5 低. Source: methods.md §4.8 item 3."""
    k = np.searchsorted(np.asarray(thresholds, dtype=np.float64), value, side="right")
    return np.where(np.isnan(value), 0, 1 + k).astype(np.uint8)


def _met(inputs, params, ev):
    given = [h for h in HAZARDS if f"freq_{h}" in inputs]
    weights = np.array([params["weights"][h] for h in given], dtype=np.float64)
    if weights.sum() <= 0:
        raise ValueError(f"met_hazard: the weights of the given hazards ({', '.join(given)}) sum to 0")
    weights = weights / weights.sum()  # missing hazards weigh 0; renormalised [R]

    def block(*freqs):
        gs = [hazard_grade(f.astype(np.float64)).astype(np.float64) for f in freqs]
        nodata = np.any([g == 0 for g in gs], axis=0)
        value = np.sum([w * g for w, g in zip(weights, gs)], axis=0)
        return np.where(nodata, 0, composite_class(value)).astype(np.uint8)

    return {"met_hazard": ops.map_cells(block, *[inputs[f"freq_{h}"] for h in given], dtype=np.uint8, name="met_hazard",
                                        attrs={"long_name": "气象灾害风险 (1 高 … 5 低)", "hazards": given, "weights": weights.tolist()})}


MET = Model(
    ModelSpec(
        name="met_hazard",
        title_zh="气象灾害风险", title_en="Meteorological disaster risk",
        source="methods.md §4.8: disaster-year frequency per hazard → grade; weighted composite (暴雨 0.2, 高温 0.1, 低温 0.25, 大风 0.15, 干旱 0.3; "
        "missing hazards weight 0, renormalised) → class [C-spj parameters; R]",
        inputs={f"freq_{h}": InputDecl("fraction", "continuous", f"frequency of {h} disaster years (0–1)", required=False) for h in HAZARDS},
        parameters={"weights": Parameter(dict(_T["met_hazard_weights"]["weights"]), "weights by hazard", _T["met_hazard_weights"]["source"])},
        needs_one_of=tuple(f"freq_{h}" for h in HAZARDS),
        outputs={"met_hazard": grades("气象灾害风险 meteorological disaster risk", RISK_CLASSES)},
    ),
    _met,
)

FACTORS = (WATER, HEAT, SOIL_ENV, MET)
