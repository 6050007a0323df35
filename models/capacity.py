"""承载规模 (methods.md §6) per admin unit, and the 综合分析 overlays (methods.md §7): conflicts and potential."""
from __future__ import annotations

import dask
import numpy as np
import pandas as pd

from evaluate import ops
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import MU_M2, isin, packed, with_ha_and_mu
from models._tables import table

_CAP = table("capacity")["carrying_defaults"]
_LU = table("landuse")
EXCLUDED = 100  # class code of 极重要 cells in the zonal table
UNIT_KEYS = ("w_total_m3", "r_ag", "q_irr_m3_per_mu", "a_rainfed_ha", "w_unreasonable_m3", "r_li", "q_pc_m3", "a_pc_m2")


# --------------------------------------------------------------------------- §6 carrying scale
def carrying_scale(land_agri_m2: float, land_urban_m2: float, unit: dict) -> dict:
    """Every term of §6 for one admin unit (areas in m²), the minimum and the binding constraint.

    Source: methods.md §6.1 A_ag_water = r_ag·W/q_irr + A_rainfed and
    A_unreasonable = W_unreasonable/q_irr [C-spj ChengZai.py exact]; §6.2
    P = r_li·W/q_pc, A_ur_water = P·a_pc [C-spj WaterTower.py exact];
    A = min(land, water) (短板, K-med). q_irr in m³/亩 × 15 = m³/ha. With no
    W (``w_total_m3`` null) the water terms are NaN and land binds.
    T27: 45 000 ha (land binds); T28: 150 km² (water binds).
    """
    w = unit.get("w_total_m3")
    w = np.nan if w is None else float(w)
    q_irr_ha = float(unit["q_irr_m3_per_mu"]) * 15.0
    ag_water_m2 = (float(unit["r_ag"]) * w / q_irr_ha + float(unit["a_rainfed_ha"])) * 1e4
    unreasonable_m2 = float(unit["w_unreasonable_m3"]) / q_irr_ha * 1e4
    persons = float(unit["r_li"]) * w / float(unit["q_pc_m3"])
    ur_water_m2 = persons * float(unit["a_pc_m2"])

    def least(land, water):
        if np.isnan(water) or land <= water:
            return land, "land"
        return water, "water"

    ag, ag_binding = least(land_agri_m2, ag_water_m2)
    ur, ur_binding = least(land_urban_m2, ur_water_m2)
    return {
        "agri_land_m2": land_agri_m2, "agri_water_m2": ag_water_m2, "agri_scale_m2": ag, "agri_binding": ag_binding,
        "agri_unreasonable_irrigated_m2": unreasonable_m2, "urban_land_m2": land_urban_m2, "urban_water_persons": persons,
        "urban_water_m2": ur_water_m2, "urban_scale_m2": ur, "urban_binding": ur_binding,
    }


def _scale_table(agri: pd.DataFrame, urban: pd.DataFrame, units: dict, defaults: dict, include_general: bool) -> pd.DataFrame:
    wanted = [1, 2] if include_general else [1]
    a = agri[agri["class"].isin(wanted)].groupby("zone")["area_m2"].sum()
    u = urban[urban["class"].isin(wanted)].groupby("zone")["area_m2"].sum()
    zones = sorted(set(agri["zone"]) | set(urban["zone"]))
    rows = []
    for z in zones:
        unit = {**defaults, **units.get(int(z), units.get(str(int(z)), {}))}
        row = {"admin": int(z), **{k: unit.get(k) for k in UNIT_KEYS}}
        row.update(carrying_scale(float(a.get(z, 0.0)), float(u.get(z, 0.0)), unit))
        rows.append(row)
    return with_ha_and_mu(pd.DataFrame(rows), skip=("a_pc_m2",))


def _carrying(inputs, params, ev):
    admin = inputs["admin"]
    eco = inputs.get("eco_importance")

    def outside_eco(suit, *e):
        # 极重要 cells (9 in 2020 mode, or ECO 1) stay in the table as class 100, so a unit without suitable land still has a row
        s = suit.astype(np.int64)
        excluded = (s == 9) | ((e[0] == 1) if e else False)
        return np.where(excluded & (s > 0), EXCLUDED, s).astype(np.int16)

    tables = []
    for name in ("agri_suit", "urban_suit"):
        classes = ops.map_cells(outside_eco, inputs[name], *([eco] if eco is not None else []), dtype=np.int16)
        tables.append(ops.zonal_area(admin, classes, unit="m2"))
    defaults = {k: params[k] for k in UNIT_KEYS}
    table_ = dask.delayed(_scale_table, pure=True)(tables[0], tables[1], params["units"], defaults, params["include_general"])
    return {"carrying_scale": table_}


CARRYING = Model(
    ModelSpec(
        name="carrying_scale",
        title_zh="承载规模", title_en="Carrying scale",
        source="methods.md §6: land-based scale = area of 适宜 (+ 一般适宜) outside 极重要; water-based scales [C-spj ChengZai.py, WaterTower.py "
        "exact]; the minimum and the binding constraint (短板, K-med)",
        inputs={
            "admin": InputDecl("class", "categorical", "admin units (行政区 code)"),
            "agri_suit": InputDecl("class", "categorical", "agricultural suitability", producer="agri_suit"),
            "urban_suit": InputDecl("class", "categorical", "urban suitability", producer="urban_suit"),
            "eco_importance": InputDecl("class", "categorical", "ecological importance (cells of 极重要 are left out)", required=False, producer="eco_importance"),
        },
        parameters={
            **{k: Parameter(_CAP[k], k, _CAP["source"]) for k in UNIT_KEYS},
            "include_general": Parameter(_CAP["include_general"], "count 一般适宜 with 适宜 in the land-based scale", _CAP["source"]),
            "units": Parameter({}, "per admin code: overrides of w_total_m3, r_ag, q_irr_m3_per_mu, a_rainfed_ha, w_unreasonable_m3, r_li, q_pc_m3, a_pc_m2",
                               "methods.md §6", open_keys=True),
        },
        outputs={"carrying_scale": OutputDecl("table", "承载规模 per admin unit: every term, the minimum and the binding constraint (m², ha, mu)", kind="table")},
    ),
    _carrying,
)


# --------------------------------------------------------------------------- §7 conflicts and potential
FLAG_NAMES = {1: "C1 生态保护冲突", 2: "C2 耕地位于农业不适宜区", 4: "C3 城镇用地位于城镇不适宜区", 8: "C4 农村居民点位于地质灾害高危险区",
              16: "C2e 农业不适宜区耕地位于生态保护极重要区", 32: "C3e 城镇不适宜区城镇用地位于生态保护极重要区"}
POTENTIAL_NAMES = {1: "P1 农业生产潜力", 2: "P2 城镇建设潜力"}


def conflict_bits(eco, landuse, agri, urban, geo, czcsxm, pbf, groups: dict, geohazard_max: int):
    """(conflict_flags, potential) per §7: C1–C4 as bits 1/2/4/8, the sub-flags of C2 and C3 also in 极重要 (ECO==1) as 16/32; potential 1 P1, 2 P2, 3 both.

    Source: methods.md §7 [C-spj 1.py–6.py; K-med 2020 wording]; class
    sets from models/tables/landuse.yaml (overridable). Optional layers are
    None: their flags are never set.
    """
    lu = np.asarray(landuse, dtype=np.int64)
    has = lambda key: np.isin(lu, np.asarray(groups[key] or [-1]))  # noqa: E731
    construction = has("construction")
    if czcsxm is not None:
        urban_land = construction & np.isin(czcsxm, [201, 202])
        rural = construction & (czcsxm == 203)
    else:
        urban_land, rural = has("urban"), has("rural_settlement")
    cropland = has("cropland") | (pbf > 0 if pbf is not None else False)
    flags = np.zeros(lu.shape, dtype=np.uint8)
    flags |= np.where((eco == 1) & (has("cropland") | has("garden") | has("commercial_forest") | construction), 1, 0).astype(np.uint8)
    if agri is not None:
        c2 = cropland & (agri == 3)
        flags |= np.where(c2, 2, 0).astype(np.uint8) | np.where(c2 & (eco == 1), 16, 0).astype(np.uint8)
    if urban is not None:
        c3 = urban_land & (urban == 3)
        flags |= np.where(c3, 4, 0).astype(np.uint8) | np.where(c3 & (eco == 1), 32, 0).astype(np.uint8)
    if geo is not None:
        flags |= np.where(rural & (geo >= 1) & (geo <= geohazard_max), 8, 0).astype(np.uint8)
    potential = np.zeros(lu.shape, dtype=np.uint8)
    if agri is not None:
        potential |= np.where((eco != 1) & np.isin(agri, [1, 2]) & has("reclaimable"), 1, 0).astype(np.uint8)
    if urban is not None:
        protected_cropland = (pbf > 0) if pbf is not None else has("cropland")
        blocked = construction | protected_cropland | has("water") | has("public_forest")
        potential |= np.where((eco != 1) & np.isin(urban, [1, 2]) & ~blocked, 2, 0).astype(np.uint8)
    nodata = (eco == 0) | (lu <= 0)
    return np.where(nodata, 0, flags).astype(np.uint8), np.where(nodata, 0, potential).astype(np.uint8)


def _indicator_table(parts: pd.DataFrame, names: dict) -> pd.DataFrame:
    rows = []
    dlbm = {int(k): v for k, v in _LU["dlbm"].items()}
    for zone, code, area in zip(parts["zone"], parts["class"], parts["area_m2"]):
        landuse, bits = divmod(int(code), 256)
        for bit, label in names.items():
            if bits & bit:
                rows.append({"admin": int(zone), "indicator": label, "landuse": landuse,
                             "dlbm": dlbm.get(landuse, ("", "", ""))[0], "dlmc": dlbm.get(landuse, ("", "", ""))[1], "area_m2": area})
    frame = pd.DataFrame(rows, columns=["admin", "indicator", "landuse", "dlbm", "dlmc", "area_m2"])
    frame = frame.groupby(["admin", "indicator", "landuse", "dlbm", "dlmc"], as_index=False)["area_m2"].sum()
    frame["area_ha"] = frame["area_m2"] / 1e4
    frame["area_mu"] = frame["area_m2"] / MU_M2
    return frame


def _conflicts(inputs, params, ev):
    optional = [n for n in ("agri_suit", "urban_suit", "geohazard", "czcsxm", "pbf") if n in inputs]
    groups = params["landuse_groups"]

    def block(eco, lu, *more):
        got = dict(zip(optional, more))
        return conflict_bits(eco, lu, got.get("agri_suit"), got.get("urban_suit"), got.get("geohazard"), got.get("czcsxm"), got.get("pbf"),
                             groups, params["c4_geohazard_max"])

    out = packed(block, inputs["eco_importance"], inputs["landuse"], *[inputs[n] for n in optional], names=("conflict_flags", "potential"))
    zones = inputs["admin"] if "admin" in inputs else ops.map_cells(lambda lu: np.ones(lu.shape, np.int16), inputs["landuse"], dtype=np.int16)
    parts = []
    for name, names in (("conflict_flags", FLAG_NAMES), ("potential", POTENTIAL_NAMES)):
        code = ops.map_cells(lambda lu, f: np.where(f > 0, lu.astype(np.int64) * 256 + f, 0), inputs["landuse"], out[name], dtype=np.int64)
        parts.append(dask.delayed(_indicator_table, pure=True)(ops.zonal_area(zones, code, unit="m2"), names))
    out["conflict_areas"] = dask.delayed(lambda a, b: pd.concat([a, b], ignore_index=True), pure=True)(*parts)
    return out


CONFLICTS = Model(
    ModelSpec(
        name="conflicts",
        title_zh="综合分析 · 冲突与潜力", title_en="Conflicts and potential",
        source="methods.md §7 C1–C4 and P1–P2 [C-spj 1.py–6.py; K-med]; land-use sets in models/tables/landuse.yaml [R where noted]",
        inputs={
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance", producer="eco_importance"),
            "landuse": InputDecl("class", "categorical", "三调 land use (DLBM as integer)"),
            "agri_suit": InputDecl("class", "categorical", "agricultural suitability (C2, P1)", required=False, producer="agri_suit"),
            "urban_suit": InputDecl("class", "categorical", "urban suitability (C3, P2)", required=False, producer="urban_suit"),
            "geohazard": InputDecl("class", "categorical", "geological hazard danger (C4)", required=False, producer="geohazard"),
            "czcsxm": InputDecl("class", "categorical", "城镇村属性码 (urban vs village construction)", required=False),
            "pbf": InputDecl("mask", "mask", "permanent basic farmland (永久基本农田)", required=False),
            "admin": InputDecl("class", "categorical", "admin units for the area table", required=False),
        },
        parameters={
            "landuse_groups": Parameter({k: list(v) for k, v in _LU["groups"].items()}, "三调 code sets of the rules", _LU["source"]),
            "c4_geohazard_max": Parameter(1, "C4: villages at geohazard grade ≤ this (1 极高; 2 adds 高)", "methods.md §7 C4", choices=(1, 2)),
        },
        outputs={
            "conflict_flags": OutputDecl("uint8", "冲突 bitmask: 1 C1, 2 C2, 4 C3, 8 C4, 16 C2 in 极重要, 32 C3 in 极重要", nodata=0, classes=tuple(
                ClassDecl(k, " + ".join(v.split(" ", 1)[1] for b, v in FLAG_NAMES.items() if k & b),
                          " + ".join(v.split(" ", 1)[0] for b, v in FLAG_NAMES.items() if k & b), ((37 * k) % 255, (91 * k) % 255, 120))
                for k in range(1, 64) if not (k & 16 and not k & 2) and not (k & 32 and not k & 4))),
            "potential": OutputDecl("uint8", "潜力: 1 P1 农业, 2 P2 城镇, 3 both", nodata=0, classes=(
                ClassDecl(1, "农业生产潜力", "agricultural potential", (150, 200, 80)),
                ClassDecl(2, "城镇建设潜力", "urban potential", (230, 120, 80)),
                ClassDecl(3, "农业与城镇潜力", "both", (200, 160, 60)))),
            "conflict_areas": OutputDecl("table", "conflict and potential areas per admin unit and 三调 class (m², ha, mu)", kind="table"),
        },
    ),
    _conflicts,
)

MODELS = (CARRYING, CONFLICTS)
