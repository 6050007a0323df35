"""城镇建设适宜性 integration (methods.md §5.3, §5.8, §5.9): matrix, chained corrections, suitability, limiting factor."""
from __future__ import annotations

import numpy as np

from evaluate import ops
from evaluate.modelspec import FIVE_GRADES, InputDecl, Model, ModelSpec, Parameter
from models._common import SUIT_CLASSES, chain_corrections, grades, limits, packed
from models._tables import table

_U = table("urban")

LIMIT_MEANINGS = (
    ("土地资源", "land resource"), ("水资源", "water resource"), ("地质灾害 极高 (取最低)", "geohazard extremely high (set to 5)"),
    ("地质灾害 高 (降2级)", "geohazard high (down 2)"), ("地质灾害 较高 (降1级)", "geohazard fairly high (down 1)"),
    ("风暴潮 高 (降1级)", "storm surge high (down 1)"), ("大气与水环境均差 (降2级)", "air and water environment both poor (down 2)"),
    ("大气或水环境差 (降1级)", "air or water environment poor (down 1)"), ("舒适度 差 (降1级)", "comfort poor (down 1)"),
    ("区位 差 (降2级)", "location poor (down 2)"), ("区位 较差 (降1级)", "location fairly poor (down 1)"), ("区位 好 (升1级)", "location good (up 1)"),
    ("集中度", "concentration"), ("水资源 5 (2020)", "water grade 5 (2020)"), ("坡度 > 25° (2020)", "slope > 25° (2020)"),
    ("海拔过高 (2020)", "elevation above the limit (2020)"), ("地质灾害 极高 (2020)", "geohazard extremely high (2020)"),
    ("风暴潮 高 (2020)", "storm surge high (2020)"), ("生态保护极重要区", "ecological protection extremely important"),
)
(L_LAND, L_WATER, L_GEO1, L_GEO2, L_GEO3, L_SURGE, L_ENV2, L_ENV1, L_COMFORT, L_LOC5, L_LOC4, L_LOC1, L_CONC,
 S_WATER, S_SLOPE, S_ELEV, S_GEO, S_SURGE, L_ECO) = range(1, 20)


def storm_surge_grade(index, thresholds=tuple(_U["storm_surge_grade"]["thresholds"])) -> np.ndarray:
    """Hazard index ≥ 7 → 1 高; [3.5, 7) → 2; [2, 3.5) → 3; < 2 → 4. Source: methods.md §5.4 storm surge [C-spj FenChao.py]."""
    v = np.asarray(index, dtype=np.float64)
    g = 1 + np.sum(v[..., None] < np.asarray(thresholds, dtype=np.float64), axis=-1)
    return np.where(np.isnan(v), 0, g).astype(np.uint8)


def construction_condition(land, water, geohazard, surge, air, water_env, comfort, location, matrix):
    """城镇建设条件 (承载等级) and the limiting factor, corrections chained in the §5.8 order.

    Source: methods.md §5.3 matrix, §5.8 rules [C-spj UrbanIntegration.py
    exact rules; chaining R]: GEOHAZ 1 → 5, 2 → +2, 3 → +1; storm surge 1 →
    +1; AIR and WATER-ENV both 5 → +2, one → +1; comfort 5 → +1; location
    5 → +2, 4 → +1, 1 and 2 ≤ URB ≤ 4 → −1. Missing factors are None
    (neutral). T12, T13, T29.
    """
    land, water = np.asarray(land, dtype=np.int64), np.asarray(water, dtype=np.int64)
    nodata = (land == 0) | (water == 0)
    cond = np.asarray(matrix)[np.clip(land, 1, 5) - 1, np.clip(water, 1, 5) - 1].astype(np.int64)
    limit = np.where(land >= water, L_LAND, L_WATER)
    steps = []
    if geohazard is not None:
        steps += [(geohazard == 1, "force", L_GEO1), (geohazard == 2, 2, L_GEO2), (geohazard == 3, 1, L_GEO3)]
    if surge is not None:
        steps.append((surge == 1, 1, L_SURGE))
    if air is not None or water_env is not None:
        bad = [(a == 5) for a in (air, water_env) if a is not None]
        both = bad[0] & bad[1] if len(bad) == 2 else np.zeros(cond.shape, dtype=bool)
        one = (np.sum(bad, axis=0) == 1)
        steps += [(both, 2, L_ENV2), (one, 1, L_ENV1)]
    if comfort is not None:
        steps.append((comfort == 5, 1, L_COMFORT))
    cond, limit = chain_corrections(cond, limit, steps)
    if location is not None:
        # the upgrade looks at the grade after the downgrades of rule 5 (none apply to a cell with location 1)
        cond, limit = chain_corrections(cond, limit, [(location == 5, 2, L_LOC5), (location == 4, 1, L_LOC4),
                                                      ((location == 1) & (cond >= 2) & (cond <= 4), -1, L_LOC1)])
    return np.where(nodata, 0, cond).astype(np.uint8), np.where(nodata, 0, limit).astype(np.uint8)


OPTIONAL = ("geohazard", "storm_surge_index", "air_env", "water_env", "comfort", "location")


def _run(inputs, params, ev):
    present = [n for n in OPTIONAL if n in inputs]
    matrix = params["construction_matrix"]

    def stage1(land, water, *opt):
        got = dict(zip(present, opt))
        surge = storm_surge_grade(got["storm_surge_index"]) if "storm_surge_index" in got else None
        return construction_condition(land, water, got.get("geohazard"), surge, got.get("air_env"), got.get("water_env"), got.get("comfort"),
                                      got.get("location"), matrix)

    first = packed(stage1, inputs["urban_land"], inputs["urban_water"], *[inputs[n] for n in present], names=("urban_cond", "limit1"))
    cond, limit1 = first["urban_cond"], first["limit1"]
    if params["method"] == "concentration":
        good = ops.map_cells(lambda c: (c >= 1) & (c <= 2), cond, dtype=bool)
        kept = ops.remove_small_patches(good, params["min_urban_patch_km2"], unit="km2")

        def concentrate(c, lim, g, k):
            small = g & ~k
            return np.where(small, np.minimum(c.astype(np.int64) + 1, 5), c).astype(np.uint8), np.where(small, L_CONC, lim).astype(np.uint8)

        both = packed(concentrate, cond, limit1, good, kept, names=("c", "l"))
        cond_for_suit, limit1 = both["c"], both["l"]
    else:
        cond_for_suit = cond
    screening = ev.guideline == "2020trial"
    keys = [n for n in ("eco_importance", "slope", "dem", "geohazard", "storm_surge_index") if n in inputs]
    mapping = np.asarray(params["condition_to_suitability"])

    def stage2(c, lim, water, *more):
        got = dict(zip(keys, more))
        c = c.astype(np.int64)
        suit = mapping[np.clip(c, 1, 5) - 1].astype(np.int64)
        if params["binary"]:
            suit = np.where(suit == 2, 1, suit)
        if screening:
            checks = [(water == 5, S_WATER), (got["slope"] > params["slope_max_deg"], S_SLOPE), (got["dem"] > params["elev_limit_m"], S_ELEV)]
            if "geohazard" in got:
                checks.append((got["geohazard"] == 1, S_GEO))
            if "storm_surge_index" in got:
                checks.append((storm_surge_grade(got["storm_surge_index"]) == 1, S_SURGE))
            for condition, code in checks:
                lim = np.where(condition & (suit != 3), code, lim)
                suit = np.where(condition, 3, suit)
            lim = np.where(got["eco_importance"] == 1, L_ECO, lim)
            suit = np.where(got["eco_importance"] == 1, 9, suit)
        nodata = (c == 0) | ((got["eco_importance"] == 0) if screening else False)
        return np.where(nodata, 0, suit).astype(np.uint8), np.where(nodata, 0, lim).astype(np.uint8)

    second = packed(stage2, cond_for_suit, limit1, inputs["urban_water"], *[inputs[k] for k in keys], names=("urban_suit", "urban_limit"))
    return {"urban_cond": cond, "urban_suit": second["urban_suit"], "urban_limit": second["urban_limit"]}


URBAN_SUIT = Model(
    ModelSpec(
        name="urban_suit",
        title_zh="城镇建设适宜性", title_en="Urban construction suitability",
        source="methods.md §5.3 matrix [C-spj exact], §5.8 corrections chained, §5.9 (direct mapping default, Option B concentration [R], "
        "2020 negative screening and ECO==1 → 9 in 2020trial, §0.3 item 4)",
        inputs={
            "urban_land": InputDecl("class", "categorical", "urban land grade", producer="urban_land"),
            "urban_water": InputDecl("class", "categorical", "urban water grade", producer="urban_water"),
            "geohazard": InputDecl("class", "categorical", "geological hazard danger", required=False, producer="geohazard"),
            "storm_surge_index": InputDecl("index", "continuous", "storm-surge hazard index (风暴潮)", required=False),
            "air_env": InputDecl("class", "categorical", "atmospheric environment capacity", required=False, producer="air_env"),
            "water_env": InputDecl("class", "categorical", "water environment capacity", required=False, producer="water_env"),
            "comfort": InputDecl("class", "categorical", "climate comfort", required=False, producer="comfort"),
            "location": InputDecl("class", "categorical", "location advantage", required=False, producer="location"),
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance (2020 masking)", required="2020trial",
                                        producer="eco_importance"),
            "slope": InputDecl("degrees", "continuous", "slope (2020 screening)", required="2020trial", producer="slope"),
            "dem": InputDecl("m", "continuous", "elevation (2020 screening)", required="2020trial"),
        },
        parameters={
            "method": Parameter("direct", "direct (1–2 适宜, 3–4 一般适宜, 5 不适宜) or concentration (Option B)", "methods.md §5.9, §0.3 item 4",
                                choices=("direct", "concentration")),
            "construction_matrix": Parameter(_U["construction_matrix"]["matrix"], "城镇建设条件 LAND × WATER", _U["construction_matrix"]["source"],
                                             shape=(5, 5), codes=(1, 2, 3, 4, 5)),
            "condition_to_suitability": Parameter(_U["condition_to_suitability"]["map"], "承载等级 → 适宜性", _U["condition_to_suitability"]["source"]),
            "min_urban_patch_km2": Parameter(_U["concentration"]["min_urban_patch_km2"], "Option B: patches of grade ≤ 2 smaller than this go down 1",
                                             _U["concentration"]["source"], domain=(0, 1e5, "km2")),
            "binary": Parameter(False, "merge 一般适宜 into 适宜", "methods.md §5.9"),
            "slope_max_deg": Parameter(_U["negative_screening_2020"]["slope_max_deg"], "2020 screening slope limit", _U["negative_screening_2020"]["source"],
                                       domain=(0, 90, "degrees")),
            "elev_limit_m": Parameter(_U["negative_screening_2020"]["elev_limit_m"], "2020 screening elevation limit", _U["negative_screening_2020"]["source"],
                                      domain=(-500, 9000, "m")),
        },
        outputs={
            "urban_cond": grades("城镇建设条件 / 城镇承载等级 construction condition", FIVE_GRADES),
            "urban_suit": grades("城镇建设适宜性 urban construction suitability", SUIT_CLASSES),
            "urban_limit": limits("城镇限制因子: the factor or rule that set urban_suit", LIMIT_MEANINGS),
        },
    ),
    _run,
)
