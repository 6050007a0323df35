"""农业生产适宜性 integration (methods.md §4.4–4.6, §4.9): matrices, chained corrections, suitability, limiting factor."""
from __future__ import annotations

import numpy as np

from evaluate import ops
from evaluate.modelspec import FIVE_GRADES, InputDecl, Model, ModelSpec, Parameter
from models._common import SUIT_CLASSES, chain_corrections, grades, limits, packed
from models._tables import table

_T = table("agriculture")
_CONT = _T["contiguity_mu"]

#: agri_limit codes: the factor or rule that set the final class
LIMIT_MEANINGS = (
    ("土地资源", "land resource"), ("水资源", "water resource"), ("光热", "heat"),
    ("土壤环境 低 (取最低)", "soil environment low (set to 5)"), ("土壤环境 中 (降1级)", "soil environment medium (down 1)"),
    ("盐渍化 极敏感 (降1级)", "salinization extreme (down 1)"), ("气象灾害 高 (降1级)", "meteorological hazard high (down 1)"),
    ("连片度", "plot contiguity"), ("坡度 > 25° (2020)", "slope > 25° (2020)"), ("水资源 5 (2020)", "water grade 5 (2020)"),
    ("光热 5 (2020)", "heat grade 5 (2020)"), ("土壤污染 > 管制值 (2020)", "soil above intervention (2020)"),
    ("盐渍化 极敏感 (2020)", "salinization extreme (2020)"), ("生态保护极重要区", "ecological protection extremely important"),
)
L_LAND, L_WATER, L_HEAT, L_SOIL5, L_SOIL3, L_SALIN, L_MET, L_CONT, S_SLOPE, S_WATER, S_HEAT, S_SOIL, S_SALIN, L_ECO = range(1, 15)


def production_condition(land, water, heat, soil_env, salin, met, farming_matrix, production_matrix, met_spj_compat=False):
    """农业耕作条件, 农业生产条件 (承载等级) and the limiting factor, corrections chained in the documented order.

    Source: methods.md §4.4 (LAND × WATER), §4.5 (× HEAT) [C-spj exact
    matrices], §4.6 corrections chained — soil environment 低 → 5, 中 → +1;
    salinization 极敏感 → +1; meteorological hazard 高 → +1 (``spj_compat``:
    only grade 1 → 2) — each on the previous result ([C-spj] kept only the
    last, §12.3 item 1). Missing optional factors are None (neutral). 0 =
    nodata in any required grade. T7–T9.
    """
    land, water, heat = (np.asarray(a, dtype=np.int64) for a in (land, water, heat))
    nodata = (land == 0) | (water == 0) | (heat == 0)
    fm, pm = np.asarray(farming_matrix), np.asarray(production_matrix)
    li, wi, hi = (np.clip(a, 1, 5) - 1 for a in (land, water, heat))
    farm = fm[li, wi]
    cond = pm[farm - 1, hi].astype(np.int64)
    worst = np.max(np.stack([land, water, heat]), axis=0)
    limit = np.where(land == worst, L_LAND, np.where(water == worst, L_WATER, L_HEAT))
    steps = []
    if soil_env is not None:
        steps += [(soil_env == 5, "force", L_SOIL5), (soil_env == 3, 1, L_SOIL3)]
    if salin is not None:
        steps.append((salin == 3, 1, L_SALIN))
    if met is not None:
        steps.append(((met == 1) & (cond == 1) if met_spj_compat else met == 1, 1, L_MET))
    cond, limit = chain_corrections(cond, limit, steps)
    farm, cond, limit = (np.where(nodata, 0, a).astype(np.uint8) for a in (farm, cond, limit))
    return farm, cond, limit


def contiguity_class(area_mu, hilly, plain_limits=tuple(_CONT["plain"]), hilly_limits=tuple(_CONT["hilly"])):
    """地块连片度 1 高 … 5 低 by patch area in mu, plain or hilly limits (lower-inclusive). Source: methods.md §4.9 Option A [C-fe exact]."""
    a = np.nan_to_num(np.asarray(area_mu, dtype=np.float64), nan=0.0)
    k_plain = np.sum(a[..., None] < np.asarray(plain_limits, dtype=np.float64), axis=-1)
    k_hilly = np.sum(a[..., None] < np.asarray(hilly_limits, dtype=np.float64), axis=-1)
    return (1 + np.where(hilly, k_hilly, k_plain)).astype(np.uint8)


def suitability(cond, limit, conc, eco, slope, water, heat, soil_env, salin, irrigated, *, matrix, mapping, binary, screening, strict_salinity,
                slope_max, mask_eco):
    """适宜性分区 with the 2020 screening and ECO masking; returns (suit, limit). Source: methods.md §4.9, §0.3 items 4–5; T9, T13, T24."""
    cond = np.asarray(cond, dtype=np.int64)
    ci = np.clip(cond, 1, 5) - 1
    if conc is not None:
        suit = np.asarray(matrix)[ci, np.clip(conc, 1, 5) - 1].astype(np.int64)
        limit = np.where((suit > np.asarray(mapping)[ci]), L_CONT, limit)
    else:
        suit = np.asarray(mapping)[ci].astype(np.int64)
    if binary:
        suit = np.where(suit == 2, 1, suit)
    if screening:
        for condition, code in (
            (slope > slope_max, S_SLOPE),
            ((water == 5) & ~(irrigated > 0) if irrigated is not None else water == 5, S_WATER),
            (heat == 5, S_HEAT),
            (soil_env == 5 if soil_env is not None else None, S_SOIL),
            (salin == 3 if (salin is not None and strict_salinity) else None, S_SALIN),
        ):
            if condition is None:
                continue
            limit = np.where(condition & (suit != 3), code, limit)
            suit = np.where(condition, 3, suit)
    if mask_eco:
        limit = np.where(eco == 1, L_ECO, limit)
        suit = np.where(eco == 1, 9, suit)
    nodata = cond == 0
    if mask_eco:
        nodata |= eco == 0
    return np.where(nodata, 0, suit).astype(np.uint8), np.where(nodata, 0, limit).astype(np.uint8)


OPTIONAL = ("soil_env", "eco_sens_salin", "met_hazard")


def _run(inputs, params, ev):
    present = [n for n in OPTIONAL if n in inputs]
    fm, pm = params["farming_matrix"], params["production_matrix"]
    compat = params["met_hazard_spj_compat"]

    def stage1(land, water, heat, *opt):
        got = dict(zip(present, opt))
        return production_condition(land, water, heat, got.get("soil_env"), got.get("eco_sens_salin"), got.get("met_hazard"), fm, pm, compat)

    first = packed(stage1, inputs["agri_land"], inputs["agri_water"], inputs["agri_heat"], *[inputs[n] for n in present],
                   names=("agri_farm", "agri_cond", "limit1"))
    cond = first["agri_cond"]
    extra, keys = [], []
    if params["method"] == "contiguity":
        patches = ops.label(ops.map_cells(lambda c: (c > 0) & (c <= params["patch_max_grade"]), cond, dtype=bool))
        extra += [ops.patch_area(patches, unit="mu"), inputs["terrain_class"]]
        keys += ["area", "terrain"]
    screening = ev.guideline == "2020trial"
    mask_eco = screening
    for name in ("eco_importance", "slope", "irrigated"):
        if name in inputs:
            extra.append(inputs[name])
            keys.append(name)
    for name in present:
        extra.append(inputs[name])
        keys.append(name)

    def stage2(c, limit, water, heat, *more):
        got = dict(zip(keys, more))
        conc = contiguity_class(got["area"], got["terrain"] == 2) if "area" in got else None
        suit, lim = suitability(
            c, limit, conc, got.get("eco_importance"), got.get("slope", np.zeros(c.shape)), water, heat, got.get("soil_env"), got.get("eco_sens_salin"),
            got.get("irrigated"), matrix=params["suitability_matrix"], mapping=params["condition_to_suitability"], binary=params["binary"],
            screening=screening, strict_salinity=params["strict_salinity"], slope_max=params["slope_max_deg"], mask_eco=mask_eco)
        return suit, lim

    second = packed(stage2, cond, first["limit1"], inputs["agri_water"], inputs["agri_heat"], *extra, names=("agri_suit", "agri_limit"))
    return {"agri_farm": first["agri_farm"], "agri_cond": cond, "agri_suit": second["agri_suit"], "agri_limit": second["agri_limit"]}


AGRI_SUIT = Model(
    ModelSpec(
        name="agri_suit",
        title_zh="农业生产适宜性", title_en="Agricultural production suitability",
        source="methods.md §4.4–4.6 (matrices [C-spj exact], corrections chained), §4.9 (Option C default, Option A contiguity [C-fe], "
        "2020 negative screening and ECO==1 → 9 in 2020trial, §0.3 items 4–5)",
        inputs={
            "agri_land": InputDecl("class", "categorical", "land-resource grade", producer="agri_land"),
            "agri_water": InputDecl("class", "categorical", "water-resource grade", producer="agri_water"),
            "agri_heat": InputDecl("class", "categorical", "heat grade", producer="agri_heat"),
            "soil_env": InputDecl("class", "categorical", "soil environment capacity (1/3/5)", required=False, producer="soil_env"),
            "eco_sens_salin": InputDecl("class", "categorical", "salinization sensitivity", required=False, producer="eco_sens_salin"),
            "met_hazard": InputDecl("class", "categorical", "meteorological hazard risk", required=False, producer="met_hazard"),
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance (2020 masking)", required="2020trial",
                                        producer="eco_importance"),
            "slope": InputDecl("degrees", "continuous", "slope (2020 screening)", required="2020trial", producer="slope"),
            "terrain_class": InputDecl("class", "categorical", "1 plain, 2 mountainous/hilly (contiguity limits)", required=False, producer="terrain_class"),
            "irrigated": InputDecl("mask", "mask", "irrigated land: exempt from the 2020 water-grade-5 screening", required=False),
        },
        parameters={
            "method": Parameter("direct", "direct (Option C: 1–2 适宜, 3–4 一般适宜, 5 不适宜) or contiguity (Option A matrix)", "methods.md §4.9, §0.3 item 4",
                                choices=("direct", "contiguity")),
            "farming_matrix": Parameter(_T["farming_matrix"]["matrix"], "农业耕作条件 LAND × WATER", _T["farming_matrix"]["source"], shape=(5, 5), codes=(1, 2, 3, 4, 5)),
            "production_matrix": Parameter(_T["production_matrix"]["matrix"], "农业生产条件 FARMING × HEAT", _T["production_matrix"]["source"], shape=(5, 5),
                                           codes=(1, 2, 3, 4, 5)),
            "suitability_matrix": Parameter(_T["suitability_matrix"]["matrix"], "承载等级 × 连片度 → 适宜性", _T["suitability_matrix"]["source"], shape=(5, 5), codes=(1, 2, 3)),
            "condition_to_suitability": Parameter(_T["condition_to_suitability"]["map"], "承载等级 1..5 → 适宜性 (Option C)", _T["condition_to_suitability"]["source"]),
            "patch_max_grade": Parameter(4, "highest 承载等级 joining contiguity patches", "methods.md §4.9 [R]", choices=(1, 2, 3, 4)),
            "binary": Parameter(False, "merge 一般适宜 into 适宜 (2020 适宜/不适宜 only)", "methods.md §4.9 Option C"),
            "strict_salinity": Parameter(False, "2020 screening also on 盐渍化 极敏感", "methods.md §0.3 item 5"),
            "slope_max_deg": Parameter(_T["negative_screening_2020"]["slope_max_deg"], "2020 screening slope limit", _T["negative_screening_2020"]["source"],
                                       domain=(0, 90, "degrees")),
            "met_hazard_spj_compat": Parameter(False, "spj's met-hazard rule (only grade 1 → 2)", "methods.md §4.6 #3"),
        },
        required_when={"method": {"contiguity": ("terrain_class",)}},
        outputs={
            "agri_farm": grades("农业耕作条件 farming condition", FIVE_GRADES),
            "agri_cond": grades("农业生产条件 / 农业承载等级 production condition", FIVE_GRADES),
            "agri_suit": grades("农业生产适宜性 agricultural production suitability", SUIT_CLASSES),
            "agri_limit": limits("农业限制因子: the factor or rule that set agri_suit", LIMIT_MEANINGS),
        },
    ),
    _run,
)
