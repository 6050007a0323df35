"""三区三线 candidates (methods.md §8, zones_and_standards.md §1–3, §6–7, seed 004).

Order of delineation (§8.2 item 1 [K-med; B]): farmland → red line → urban
boundary, and the three never overlap. Cells in protected-area core zones are
red line and never farmland or urban boundary (zones_and_standards.md §6 rule 9).
"""
from __future__ import annotations

import math

import dask
import numpy as np
import pandas as pd
import shapely
import xarray as xr

from evaluate import ops
from evaluate.grid import grid_of
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import MU_M2, packed, with_ha_and_mu
from models._tables import table

_Z = table("zones")
_RL, _SC, _UDB, _CHK = _Z["red_line"], _Z["stable_cropland"], _Z["urban_boundary"], _Z["checks"]
_LU = table("landuse")
CONFLICTS = {int(k): v for k, v in _RL["conflict_codes"].items()}
THREE_LINES = {1: ("永久基本农田", "YJJBNT"), 2: ("生态保护红线", "STBHHX"), 3: ("城镇开发边界", "CZKFBJ")}
OPTIONAL_MASKS = ("pbf", "nature_reserve_core", "potential_value", "must_include", "unstable_cropland", "commercial_forest",
                  "mining_rights", "flood_storage", "water_source_1", "relics_core", "special_use", "faults")

# packed per-cell codes of the first stage (one elementwise pass)
_STAGE = ("rl_raw", "core", "stable", "rl_crop", "pbf_raw", "conflict", "seed", "avoid")


def first_stage(eco, landuse, slope, agri_suit, urban_suit, masks: dict, groups: dict, params: dict, czcsxm=None,
                soil_env=None, geohazard=None, pa_zone=None, fault_near=None):
    """Per-cell raw claims and conflicts (uint8 each), in :data:`_STAGE` order.

    Source: methods.md §8.1 (RL = ECO 1 ∪ 自然保护地 ∪ potential ∪ must-include;
    conflicts 11–15), §8.3 (stable cropland: 耕地, slope ≤ 25°, not unstable,
    SOILENV ≠ 5; PBF = stable ∧ AGRI_SUIT ∈ {1, 2}, existing PBF first), §8.4
    (seed = urban construction land; avoidance list).
    """
    lu = np.asarray(landuse, dtype=np.int64)
    has = lambda key: np.isin(lu, np.asarray(groups[key] or [-1]))  # noqa: E731
    m = {k: (np.asarray(v) > 0) for k, v in masks.items()}
    none = np.zeros(lu.shape, dtype=bool)
    get = lambda k: m.get(k, none)  # noqa: E731
    pa = (np.asarray(pa_zone) > 0) if pa_zone is not None else none
    core = get("nature_reserve_core") | ((np.asarray(pa_zone) == 1) if pa_zone is not None else none)
    rl_raw = (eco == 1) | pa | core | get("potential_value") | get("must_include")
    cropland = has("cropland")
    existing = get("pbf")
    stable = cropland & (slope <= params["slope_max_deg"]) & ~get("unstable_cropland")
    if soil_env is not None:
        stable &= soil_env != 5
    rl_crop = (stable | (existing & cropland)) & rl_raw & ~core
    pbf_raw = (existing & cropland) | (stable & np.isin(agri_suit, (1, 2)))
    construction = has("construction")
    if czcsxm is not None:
        seed = construction & np.isin(czcsxm, params["seed_czcsxm"])
    else:
        seed = has("urban")
    conflict = np.zeros(lu.shape, dtype=np.uint8)
    for code, condition in ((15, get("mining_rights")), (14, get("commercial_forest") | has("commercial_forest")), (13, construction),
                            (12, rl_crop), (11, (cropland | existing) & core)):
        conflict = np.where(rl_raw & condition, code, conflict)  # the lowest code wins: written last
    avoid = core | get("flood_storage") | get("water_source_1") | get("relics_core") | np.isin(urban_suit, (0, 3, 9))
    if geohazard is not None:
        avoid |= (geohazard >= 1) & (geohazard <= params["geohazard_exclude_max"])
    if fault_near is not None:
        avoid |= fault_near
    valid = (eco > 0) & (lu > 0)
    return tuple(np.where(valid, o, 0).astype(np.uint8) for o in (rl_raw, core, stable, rl_crop, pbf_raw, conflict, seed, avoid))


def _unit_table(zones: xr.DataArray, codes: xr.DataArray):
    """Area (m²) per (zone, code) as a lazy table (or a DataFrame for eager inputs)."""
    return ops.zonal_area(zones, codes, unit="m2")


def _bins_selected(table_: pd.DataFrame, budget: pd.Series) -> pd.Series:
    """Per zone, the largest bin whose cumulative area (bins in rank order) stays within the zone's budget (0: none)."""
    out = {}
    for zone, rows in table_.groupby("zone"):
        rows = rows.sort_values("class")
        total = rows["area_m2"].cumsum().to_numpy()
        room = float(budget.get(zone, 0.0))
        ok = np.nonzero(total <= room + 1e-6)[0]
        out[int(zone)] = int(rows["class"].to_numpy()[ok[-1]]) if ok.size else 0
    return pd.Series(out, dtype=np.int64)


def _udb_thresholds(growth_table: pd.DataFrame, seed_table: pd.DataFrame, cap: float, cap_by_admin: dict, elastic: float) -> pd.DataFrame:
    """Per admin unit: the last rank bin of 集中建设区 growth and of 弹性发展区, within k × seed area.

    Source: methods.md §8.4 [K-med; cap B]: UDB ≤ k·A_urban_2020, 弹性 ≤ 15 %
    of 集中; whole rank bins only, so the cap is never exceeded.
    """
    seed = seed_table[seed_table["class"] == 1].set_index("zone")["area_m2"]
    zones = sorted(set(seed.index) | set(growth_table["zone"]))
    k = pd.Series({z: float(cap_by_admin.get(z, cap_by_admin.get(str(z), cap))) for z in zones})
    seed = seed.reindex(zones, fill_value=0.0)
    core_budget = k * seed / (1.0 + elastic) - seed
    t1 = _bins_selected(growth_table, core_budget.clip(lower=0.0)).reindex(zones, fill_value=0)
    core_area = pd.Series({z: float(growth_table[(growth_table["zone"] == z) & (growth_table["class"] <= t1[z])]["area_m2"].sum()) for z in zones})
    concentrated = seed + core_area
    elastic_budget = np.minimum(elastic * concentrated, k * seed - concentrated).clip(lower=0.0)
    rest = growth_table.merge(t1.rename("t1"), left_on="zone", right_index=True)
    rest = rest[rest["class"] > rest["t1"]][["zone", "class", "area_m2"]]
    t2 = _bins_selected(rest, elastic_budget).reindex(zones, fill_value=0)
    t2 = np.maximum(t2, t1)
    return pd.DataFrame({"zone": zones, "cap": k.to_numpy(), "seed_m2": seed.to_numpy(), "t1": t1.to_numpy(), "t2": t2.to_numpy()})


def _lookup_zone(thresholds: pd.DataFrame, column: str):
    def lookup(zone_codes: np.ndarray) -> np.ndarray:
        codes = thresholds["zone"].to_numpy()
        values = thresholds[column].to_numpy()
        index = np.clip(np.searchsorted(codes, zone_codes), 0, max(len(codes) - 1, 0))
        found = (codes[index] == zone_codes) if len(codes) else np.zeros(zone_codes.shape, bool)
        return np.where(found, values[index] if len(codes) else 0, 0)
    return lookup


def _zones(inputs, params, ev):
    grid = grid_of(inputs["eco_importance"])
    groups = {k: list(v) for k, v in _LU["groups"].items()}
    masks = {k: inputs[k] for k in OPTIONAL_MASKS if k in inputs and k != "faults"}
    optional = [n for n in ("czcsxm", "soil_env", "geohazard", "pa_zone") if n in inputs]
    fault_near = None
    if "faults" in inputs and params["fault_buffer_m"] > 0:
        fault_near = ops.map_cells(lambda d: d <= params["fault_buffer_m"], ops.distance(inputs["faults"] > 0, params["fault_buffer_m"]), dtype=bool)
    mask_names = list(masks)
    extra = [inputs[n] for n in optional] + ([fault_near] if fault_near is not None else [])

    def stage(eco, lu, slope, agri, urban, *rest):
        got_masks = dict(zip(mask_names, rest[: len(mask_names)]))
        more = dict(zip(optional, rest[len(mask_names): len(mask_names) + len(optional)]))
        near = rest[-1] if fault_near is not None else None
        return first_stage(eco, lu, slope, agri, urban, got_masks, groups, params, more.get("czcsxm"), more.get("soil_env"),
                           more.get("geohazard"), more.get("pa_zone"), near)

    raw = packed(stage, *[inputs[n] for n in ("eco_importance", "landuse", "slope", "agri_suit", "urban_suit")],
                 *[masks[n] for n in mask_names], *extra, names=_STAGE)
    admin = inputs["admin"] if "admin" in inputs else ops.map_cells(lambda e: np.ones(e.shape, np.int32), inputs["eco_importance"], dtype=np.int32)

    # --- the 5/3 mu rule (§8.1 code 12, seed 004): stable-cropland patches of the red line outside core zones
    crop_ids = ops.label(raw["rl_crop"] > 0, connectivity=8)
    crop_mu = ops.patch_area(crop_ids, unit="mu")
    hilly_area = _unit_table(crop_ids, ops.map_cells(lambda t, c: np.where(c > 0, (t == 2) + 1, 0).astype(np.uint8), inputs["terrain_class"],
                                                     crop_ids, dtype=np.uint8))
    hilly_share, plain_mu, hill_mu = params["hilly_share"], params["plain_min_mu"], params["hilly_min_mu"]

    def release(ids, mu, table_):
        shares = table_.pivot_table(index="zone", columns="class", values="area_m2", aggfunc="sum", fill_value=0.0)
        hilly = shares.get(2, pd.Series(0.0, index=shares.index)) / shares.sum(axis=1)
        codes = hilly.index.to_numpy(dtype=np.int64)
        index = np.clip(np.searchsorted(codes, ids), 0, max(len(codes) - 1, 0))
        is_hilly = (codes[index] == ids) & (hilly.to_numpy()[index] >= hilly_share) if len(codes) else np.zeros(ids.shape, bool)
        limit = np.where(is_hilly, hill_mu, plain_mu)
        big = (ids > 0) & (np.nan_to_num(mu) >= limit - 1e-9)
        # 1 retained in the red line (below the limit), 2 released to farmland; 10 + the same for hilly patches (DXLX)
        return np.where(ids > 0, np.where(big, 2, 1) + np.where(is_hilly, 10, 0), 0).astype(np.uint8)

    rl_cropland = ops.map_cells_with(release, crop_ids, crop_mu, small=[hilly_area], dtype=np.uint8, name="rl_cropland")

    # --- arbitration farmland → red line (core zones stay red line)
    remove = {13: params["remove_construction"], 14: params["remove_commercial_forest"], 15: params["remove_mining"]}
    removed_codes = np.array([c for c, on in remove.items() if on] or [-1])

    def arbitrate(rl_raw, core, pbf_raw, conflict, rc):
        released = (rc % 10) == 2
        pbf = ((pbf_raw > 0) & (rl_raw == 0) | released) & (core == 0)
        rl = (rl_raw > 0) & ~pbf & ~(np.isin(conflict, removed_codes) & (core == 0))
        return np.stack([pbf, rl]).astype(np.uint8)

    decided = packed(lambda *b: tuple(arbitrate(*b)), raw["rl_raw"], raw["core"], raw["pbf_raw"], raw["conflict"], rl_cropland,
                     names=("pbf_final", "rl_final"))
    pbf_final, rl_final = decided["pbf_final"], decided["rl_final"]
    if params["min_patch_km2"] > 0:
        rl_final = ops.map_cells(lambda k, c: (k | c).astype(np.uint8),
                                 ops.remove_small_patches(rl_final > 0, params["min_patch_km2"], unit="km2"), raw["core"], dtype=np.uint8)
    if params["min_hole_km2"] > 0:
        filled = ops.fill_small_holes(rl_final > 0, params["min_hole_km2"], unit="km2")
        rl_final = ops.map_cells(lambda f, p: (f & (p == 0)).astype(np.uint8), filled, pbf_final, dtype=np.uint8)

    # --- urban development boundary: seed, ranked growth within k × seed per admin unit
    step = params["distance_step_m"]
    max_d = params["max_distance_m"]
    dist = ops.distance(raw["seed"] > 0, max_d)
    cond = inputs["urban_cond"]
    n_bins = int(math.ceil(max_d / step)) + 1

    def rank_bin(seed, avoid, pbf, rl, suit, c, d):
        candidate = (seed == 0) & (avoid == 0) & (pbf == 0) & (rl == 0) & np.isin(suit, (1, 2)) & (d <= max_d)
        b = np.clip(np.nan_to_num(c, nan=5).astype(np.int64), 1, 5) * n_bins + np.floor(np.nan_to_num(d, nan=max_d, posinf=max_d) / step).astype(np.int64) + 1
        return np.where(candidate, b, 0).astype(np.int32)

    bins = ops.map_cells(rank_bin, raw["seed"], raw["avoid"], pbf_final, rl_final, inputs["urban_suit"], cond, dist, dtype=np.int32)
    seed_ok = ops.map_cells(lambda s, core: ((s > 0) & (core == 0)).astype(np.uint8), raw["seed"], raw["core"], dtype=np.uint8)
    thresholds = dask.delayed(_udb_thresholds, pure=True)(_unit_table(admin, bins), _unit_table(admin, seed_ok), params["cap"],
                                                         params["cap_by_admin"], params["elastic_share"])

    def grow(zone, b, seed, table_):
        t1, t2 = _lookup_zone(table_, "t1")(zone), _lookup_zone(table_, "t2")(zone)
        code = np.where(seed > 0, 1, np.where((b > 0) & (b <= t1), 1, np.where((b > 0) & (b <= t2), 2, 0)))
        return code.astype(np.uint8)

    udb = ops.map_cells_with(grow, admin, bins, seed_ok, small=[thresholds], dtype=np.uint8)
    kept = ops.remove_small_patches(udb > 0, params["udb_min_patch_km2"], unit="km2")
    special = [masks["special_use"]] if "special_use" in masks else []

    def finish_udb(u, k, seed, *sp):
        code = np.where(k | (seed > 0), u, 0)
        if sp:
            code = np.where((code > 0) & (sp[0] > 0), 3, code)
        return code.astype(np.uint8)

    udb = ops.map_cells(finish_udb, udb, kept, seed_ok, *special, dtype=np.uint8, name="udb_candidate")

    def lines(p, r, u):
        return np.where(p > 0, 1, np.where(r > 0, 2, np.where(u > 0, 3, 0))).astype(np.uint8)

    three = ops.map_cells(lines, pbf_final, rl_final, udb, dtype=np.uint8, name="three_lines")
    claims = ops.map_cells(lambda pr, rc, rr, s, u: (((pr > 0) | ((rc % 10) == 2)) * 1 + (rr > 0) * 2 + ((s > 0) | (u > 0)) * 4).astype(np.uint8),
                           raw["pbf_raw"], rl_cropland, raw["rl_raw"], raw["seed"], udb, dtype=np.uint8, name="zone_claims")
    pbf_code = ops.map_cells(lambda p, pr, rc, existing: np.where(p > 0, np.where((rc % 10) == 2, 3, np.where(existing > 0, 1, 2)), 0).astype(np.uint8),
                             pbf_final, raw["pbf_raw"], rl_cropland, masks["pbf"] if "pbf" in masks else pbf_final * 0, dtype=np.uint8,
                             name="pbf_candidate")
    rl_conflict = ops.map_cells(lambda c, r: np.where(r > 0, c, 0).astype(np.uint8), raw["conflict"], raw["rl_raw"], dtype=np.uint8, name="rl_conflict")
    outputs = {
        "rl_candidate": ops.map_cells(lambda r: (r > 0).astype(np.uint8), rl_final, dtype=np.uint8, name="rl_candidate"),
        "rl_conflict": rl_conflict,
        "rl_cropland": rl_cropland,
        "pbf_candidate": pbf_code,
        "udb_candidate": udb,
        "three_lines": three,
        "zone_claims": claims,
    }
    # polygons of the three lines, one per county × line × origin (PBF existing/new/released, UDB sub-zone)
    def polygon_code(zone, three, pbf, udb):
        sub = np.where(three == 1, pbf, np.where(three == 3, udb, np.where(three == 2, 1, 0)))
        return np.where(three > 0, zone.astype(np.int64) * 100 + three * 10 + sub, 0)

    polygons = ops.polygonize(ops.map_cells(polygon_code, admin, three, pbf_code, udb, dtype=np.int64))
    tables = _tables(admin, outputs, raw, thresholds, params, ev, polygons)
    outputs.update(tables)
    outputs["zones"] = dask.delayed(zone_features, pure=True)(polygons, tables["zone_rules"])
    return outputs


def _tables(admin, outputs, raw, thresholds, params, ev, polygons):
    """Per-county summary and the rule report (zones_and_standards.md §6 rules 8–16, §7 companion tables)."""
    parts = {
        "three_lines": _unit_table(admin, outputs["three_lines"]),
        "pbf": _unit_table(admin, outputs["pbf_candidate"]),
        "udb": _unit_table(admin, outputs["udb_candidate"]),
        "claims": _unit_table(admin, outputs["zone_claims"]),
        "conflict": _unit_table(admin, outputs["rl_conflict"]),
        "cropland": _unit_table(admin, outputs["rl_cropland"]),
        "rl_raw": _unit_table(admin, raw["rl_raw"]),
        "stable": _unit_table(admin, ops.map_cells(lambda s, p: (s > 0) * 1 + (p > 0) * 2, raw["stable"], outputs["pbf_candidate"], dtype=np.uint8)),
        "overlap": _unit_table(admin, ops.map_cells(lambda c, t: np.where((c & (c - 1)) > 0, 10 * c + t, 0).astype(np.uint8), outputs["zone_claims"],
                                                    outputs["three_lines"], dtype=np.uint8)),
        "core_violation": _unit_table(admin, ops.map_cells(lambda core, t: ((core > 0) & np.isin(t, (1, 3))).astype(np.uint8), raw["core"],
                                                           outputs["three_lines"], dtype=np.uint8)),
        "udb_avoid": _unit_table(admin, ops.map_cells(lambda a, u, s: ((a > 0) & (u > 0) & (s == 0)).astype(np.uint8), raw["avoid"],
                                                      outputs["udb_candidate"], raw["seed"], dtype=np.uint8)),
        "big_crop_left": _unit_table(admin, ops.map_cells(lambda rc, rl: (((rc % 10) == 2) & (rl > 0)).astype(np.uint8), outputs["rl_cropland"],
                                                          outputs["rl_candidate"], dtype=np.uint8)),
    }
    summary = dask.delayed(county_summary, pure=True)(parts, thresholds)
    rules = dask.delayed(rule_report, pure=True)(summary, parts, params, ev.province_type, polygons)
    return {"zone_summary": summary, "zone_rules": rules}


def _area(frame: pd.DataFrame, zone, codes) -> float:
    rows = frame[(frame["zone"] == zone) & frame["class"].isin(list(codes))]
    return float(rows["area_m2"].sum())


def county_summary(parts: dict, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Areas per admin unit in m², ha and mu: the three lines, PBF by origin, UDB parts and expansion multiple, red-line ledger."""
    zones = sorted(set(parts["three_lines"]["zone"]) | set(thresholds["zone"]))
    rows = []
    th = thresholds.set_index("zone")
    for z in zones:
        t = parts["three_lines"]
        seed = float(th["seed_m2"].get(z, 0.0))
        udb = _area(parts["udb"], z, (1, 2, 3))
        row = {
            "admin": int(z),
            "pbf_m2": _area(t, z, (1,)), "red_line_m2": _area(t, z, (2,)), "udb_m2": _area(t, z, (3,)),
            "pbf_existing_m2": _area(parts["pbf"], z, (1,)), "pbf_new_m2": _area(parts["pbf"], z, (2,)), "pbf_from_red_line_m2": _area(parts["pbf"], z, (3,)),
            "udb_concentrated_m2": _area(parts["udb"], z, (1,)), "udb_elastic_m2": _area(parts["udb"], z, (2,)), "udb_special_m2": _area(parts["udb"], z, (3,)),
            "urban_2020_m2": seed, "udb_cap": float(th["cap"].get(z, float("nan"))),
            "udb_multiple": round(udb / seed, 3) if seed > 0 else float("nan"),
            "red_line_before_m2": _area(parts["rl_raw"], z, (1,)),
            **{f"red_line_conflict_{c}_m2": _area(parts["conflict"], z, (c,)) for c in CONFLICTS},
            "red_line_cropland_retained_m2": _area(parts["cropland"], z, (1, 11)),
            "red_line_cropland_released_m2": _area(parts["cropland"], z, (2, 12)),
            "stable_cropland_m2": _area(parts["stable"], z, (1, 3)),
            "pbf_on_stable_m2": _area(parts["stable"], z, (3,)),
            "contested_m2": _area(parts["claims"], z, (3, 5, 6, 7)),
        }
        rows.append(row)
    return with_ha_and_mu(pd.DataFrame(rows))


def rule_report(summary: pd.DataFrame, parts: dict, params: dict, province_type, polygons: pd.DataFrame | None = None) -> pd.DataFrame:
    """zones_and_standards.md §6: one row per checkable rule and admin unit (measured, threshold, source, pass/warn/fail)."""
    rows = []

    def add(rule, scope, measured, threshold, source, ok, warn=False):
        rows.append({"rule": rule, "scope": scope, "measured": measured, "threshold": threshold, "source": source,
                     "result": "pass" if ok else ("warn" if warn else "fail")})

    for r in summary.itertuples():
        z = r.admin
        overlap = parts["overlap"]
        add("8 no overlap", z, 0.0, "0 m²", "§6 rule 8 [R]", True)  # one code per cell in three_lines: overlap is impossible by construction
        add("9 priority (contested cells)", z, round(float(overlap[overlap["zone"] == z]["area_m2"].sum()), 2), "reported; winner PBF > RL > UDB",
            "§6 rule 9 [C/R]", True)
        add("9 core zones never PBF/UDB", z, _area(parts["core_violation"], z, (1,)), "0 m²", "§6 rule 9 [C/R]", _area(parts["core_violation"], z, (1,)) == 0)
        left = _area(parts["big_crop_left"], z, (1,))
        add("10 red-line cropland ≥ 5/3 mu released", z, left, "0 m²", "§6 rule 10 [B]", left == 0)
        share = r.pbf_on_stable_m2 / r.pbf_m2 if r.pbf_m2 > 0 else float("nan")
        add("12 PBF on stable cropland share", z, round(share, 4) if share == share else None, f"≥ {params['pbf_stable_share_min']}",
            f"§6 rule 12 [B] (province type {province_type or 'unset'})", share >= params["pbf_stable_share_min"] if share == share else True, warn=True)
        multiple = r.udb_multiple
        add("14 UDB expansion multiple", z, multiple if multiple == multiple else None, f"≤ {r.udb_cap:.3f}", "§6 rule 14 [cap C; B]",
            (multiple <= r.udb_cap + 1e-9) if multiple == multiple else True)
        add("15 弹性发展区 share", z, round(r.udb_elastic_m2 / r.udb_concentrated_m2, 4) if r.udb_concentrated_m2 > 0 else None,
            f"≤ {params['elastic_share']}", "§6 rule 15 [P/R]",
            (r.udb_elastic_m2 <= params["elastic_share"] * r.udb_concentrated_m2 + 1e-6))
        avoid = _area(parts["udb_avoid"], z, (1,))
        add("16 UDB avoidance", z, avoid, "0 m² outside current urban land", "§6 rule 16 [C/B]", avoid == 0)
        if polygons is not None:
            for line, (zh, code) in THREE_LINES.items():
                mine = polygons[(polygons["value"] // 100 == z) & ((polygons["value"] // 10) % 10 == line)]
                raster = _area(parts["three_lines"], z, (line,))
                vector = float(mine["area_m2"].sum())
                diff = abs(raster - vector) / vector if vector > 0 else (0.0 if raster == 0 else 1.0)
                add(f"7 raster/vector area {code}", z, round(diff, 6), f"≤ {params['raster_vector_tol']}", "§6 rule 7 [engine]",
                    diff <= params["raster_vector_tol"])
                invalid = int((~shapely.is_valid(mine["geometry"].to_numpy())).sum()) if len(mine) else 0
                add(f"4 valid single-part polygons {code}", z, invalid, "0 invalid", "§6 rule 4 [engine]", invalid == 0)
    return pd.DataFrame(rows, columns=["rule", "scope", "measured", "threshold", "source", "result"])


LINE_CODES = {1: "01", 2: "02", 3: "03"}
#: CZJG 处置结果 and CZLY 处置理由 per (line, origin), and PJDJ per line (models/tables/zones.yaml)
DISPOSAL = {tuple(int(x) for x in k.split(".")): tuple(v) for k, v in _Z["disposal"].items() if k not in ("source", "evaluation_class")}
PJDJ = {int(k): v for k, v in _Z["disposal"]["evaluation_class"].items()}


def zone_features(polygons: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """The features of zones.gpkg: one layer per line (STBHHX, YJJBNT, CZKFBJ) with the fields of zones_and_standards.md §7."""
    value = polygons["value"].to_numpy(dtype=np.int64)
    admin, line, sub = value // 100, (value // 10) % 10, value % 10
    failed = rules[rules["result"] != "pass"].groupby("scope")["rule"].apply(lambda r: ";".join(x.split(" ")[0] for x in r)).to_dict()
    mj = np.round(polygons["area_m2"].to_numpy(), 2)
    order = np.lexsort((polygons["region"].to_numpy(), line, admin))
    rows = []
    seq = {}
    for i in order:
        key = (int(admin[i]), int(line[i]))
        seq[key] = seq.get(key, 0) + 1
        czjg, czly, reason = DISPOSAL.get((int(line[i]), int(sub[i])), ("04", "", ""))
        rows.append({
            "layer": THREE_LINES[int(line[i])][1],
            "BSM": f"{int(admin[i]) % 10**6:06d}{LINE_CODES[int(line[i])]}{seq[key]:010d}",
            "XZQDM": f"{int(admin[i])}",
            "KZXLX": THREE_LINES[int(line[i])][1],
            "GHFQMC": reason if int(line[i]) == 3 else "",
            "MJ": mj[i], "MJ_HA": round(mj[i] / 1e4, 4), "MJ_MU": round(mj[i] * 15 / 1e4, 2),
            "PJDJ": PJDJ[int(line[i])], "CZJG": czjg, "CZLY": czly, "BZ": reason,
            "JCBS": failed.get(int(admin[i]), ""),
            "geometry": polygons["geometry"].iloc[i],
        })
    columns = ["layer", "BSM", "XZQDM", "KZXLX", "GHFQMC", "MJ", "MJ_HA", "MJ_MU", "PJDJ", "CZJG", "CZLY", "BZ", "JCBS", "geometry"]
    return pd.DataFrame(rows, columns=columns)


def _class_decls(pairs):
    return tuple(ClassDecl(k, zh, en, color) for k, zh, en, color in pairs)


ZONES = Model(
    ModelSpec(
        name="zones",
        title_zh="三区三线候选", title_en="三区三线 candidates",
        source="methods.md §8 [K-high 2019 指导意见; K-med 2019 城镇开发边界划定指南; B seed 004 2022 划定规则]; zones_and_standards.md §6 checks",
        inputs={
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance", producer="eco_importance"),
            "agri_suit": InputDecl("class", "categorical", "agricultural suitability", producer="agri_suit"),
            "urban_suit": InputDecl("class", "categorical", "urban suitability", producer="urban_suit"),
            "urban_cond": InputDecl("class", "categorical", "城镇建设条件 (growth ranking)", producer="urban_suit"),
            "landuse": InputDecl("class", "categorical", "三调 land use (DLBM as integer)"),
            "slope": InputDecl("degrees", "continuous", "slope (stable cropland ≤ 25°)", producer="slope"),
            "terrain_class": InputDecl("class", "categorical", "1 平原 / 2 山地丘陵 (5/3 mu rule)", producer="terrain_class"),
            "soil_env": InputDecl("class", "categorical", "soil environment (SOILENV 5 is not stable cropland)", required=False, producer="soil_env"),
            "geohazard": InputDecl("class", "categorical", "geological hazard danger (UDB avoidance)", required=False, producer="geohazard"),
            "admin": InputDecl("class", "categorical", "county codes (caps, summary, XZQDM)", required=False),
            "czcsxm": InputDecl("class", "categorical", "城镇村属性码 (seed: 201/202 construction land)", required=False),
            "pa_zone": InputDecl("class", "categorical", "protected areas 自然保护地: 1 核心保护区, 2 一般控制区", required=False),
            "pbf": InputDecl("mask", "mask", "existing permanent basic farmland", required=False),
            "nature_reserve_core": InputDecl("mask", "mask", "protected-area core zones (when not in pa_zone)", required=False),
            "potential_value": InputDecl("mask", "mask", "potentially important ecological value (潜在重要生态价值)", required=False),
            "must_include": InputDecl("mask", "mask", "other areas the red line must include", required=False),
            "unstable_cropland": InputDecl("mask", "mask", "unstable cropland (河湖管理范围, 林区/牧区 不稳定耕地)", required=False),
            "commercial_forest": InputDecl("mask", "mask", "人工商品林 (conflict 14)", required=False),
            "mining_rights": InputDecl("mask", "mask", "矿业权 (conflict 15)", required=False),
            "flood_storage": InputDecl("mask", "mask", "蓄滞洪区 / 行洪通道 (UDB avoidance)", required=False),
            "water_source_1": InputDecl("mask", "mask", "饮用水水源一级保护区 (UDB avoidance)", required=False),
            "relics_core": InputDecl("mask", "mask", "文物保护核心范围 (UDB avoidance)", required=False),
            "faults": InputDecl("mask", "mask", "active faults (UDB avoidance buffer)", required=False),
            "special_use": InputDecl("mask", "mask", "特别用途区 within the UDB", required=False),
        },
        parameters={
            "slope_max_deg": Parameter(_SC["slope_max_deg"], "stable cropland: slope limit (°)", _SC["source"], domain=(0, 90, "degrees")),
            "plain_min_mu": Parameter(_SC["plain_min_mu"], "stable-cropland patches of at least this many mu leave the red line (plain)", _SC["source"],
                                      domain=(0, 1e6, "mu")),
            "hilly_min_mu": Parameter(_SC["hilly_min_mu"], "the same in mountainous/hilly terrain", _SC["source"], domain=(0, 1e6, "mu")),
            "hilly_share": Parameter(_SC["hilly_share"], "a patch is hilly when this share of its area is terrain class 2", _SC["source"],
                                     domain=(0, 1, "fraction")),
            "remove_construction": Parameter(_RL["remove_construction"], "conflict 13: construction land leaves the red line (outside cores)", _RL["source"]),
            "remove_commercial_forest": Parameter(_RL["remove_commercial_forest"], "conflict 14: 人工商品林 leaves the red line", _RL["source"]),
            "remove_mining": Parameter(_RL["remove_mining"], "conflict 15: mining rights leave the red line (outside cores)", _RL["source"]),
            "min_patch_km2": Parameter(_RL["min_patch_km2"], "red-line clean-up: drop patches smaller than this (km²; 0 off)", _RL["source"],
                                       domain=(0, 1e6, "km2")),
            "min_hole_km2": Parameter(_RL["min_hole_km2"], "red-line clean-up: fill holes smaller than this (km²; 0 off)", _RL["source"],
                                      domain=(0, 1e6, "km2")),
            "cap": Parameter(_UDB["cap"], "UDB ≤ cap × current urban construction land", _UDB["source"], domain=(1, 3, "ratio")),
            "cap_by_admin": Parameter({}, "per admin code: its own cap (1.1 for shrinking cities)", _UDB["source"], open_keys=True),
            "elastic_share": Parameter(_UDB["elastic_share"], "弹性发展区 ≤ this share of 集中建设区", _UDB["source"], domain=(0, 1, "fraction")),
            "max_distance_m": Parameter(_UDB["max_distance_m"], "growth search radius from the seed (m)", _UDB["source"], domain=(30, 1e5, "m")),
            "distance_step_m": Parameter(_UDB["distance_step_m"], "distance resolution of the growth ranking (m)", _UDB["source"], domain=(1, 1e4, "m")),
            "udb_min_patch_km2": Parameter(_UDB["min_patch_km2"], "UDB patches smaller than this are dropped (km²)", _UDB["source"], domain=(0, 1e4, "km2")),
            "geohazard_exclude_max": Parameter(_UDB["geohazard_exclude_max"], "UDB avoids GEOHAZ ≤ this", _UDB["source"], choices=(0, 1, 2, 3)),
            "fault_buffer_m": Parameter(_UDB["fault_buffer_m"], "UDB avoids this distance around active faults (m)", _UDB["source"], domain=(0, 5000, "m")),
            "seed_czcsxm": Parameter(_UDB["seed_czcsxm"], "CZCSXM codes of current urban construction land", _UDB["source"]),
            "raster_vector_tol": Parameter(_CHK["raster_vector_tol"], "check: |raster − polygon area| / polygon area", _CHK["source"], domain=(0, 1, "fraction")),
            "pbf_stable_share_min": Parameter(_CHK["pbf_stable_share_min"], "check: PBF share on stable cropland", _CHK["source"], domain=(0, 1, "fraction")),
        },
        outputs={
            "rl_candidate": OutputDecl("uint8", "生态保护红线候选 ecological red-line candidate", nodata=255, classes=_class_decls(
                [(1, "生态保护红线", "ecological red line", (0, 120, 0))])),
            "rl_conflict": OutputDecl("uint8", "红线冲突类型 red-line conflicts (§8.1 codes 11–15)", nodata=0, classes=_class_decls(
                [(k, v[0], v[1][:60], (200, 40 * (k - 10), 40)) for k, v in CONFLICTS.items()])),
            "rl_cropland": OutputDecl("uint8", "红线内稳定耕地 5/3 亩规则 (1 retained, 2 released; +10 hilly)", nodata=0, classes=_class_decls([
                (1, "保留在红线内（平原，<5亩）", "retained in the red line (plain, < 5 mu)", (200, 220, 120)),
                (2, "调出红线作为耕地（平原，≥5亩）", "released to farmland (plain, ≥ 5 mu)", (240, 200, 60)),
                (11, "保留在红线内（山地丘陵，<3亩）", "retained in the red line (hilly, < 3 mu)", (180, 200, 100)),
                (12, "调出红线作为耕地（山地丘陵，≥3亩）", "released to farmland (hilly, ≥ 3 mu)", (220, 180, 40))])),
            "pbf_candidate": OutputDecl("uint8", "永久基本农田候选 PBF candidate (1 existing, 2 new, 3 released from the red line)", nodata=0,
                                        classes=_class_decls([(1, "现状永久基本农田", "existing PBF", (255, 230, 0)),
                                                              (2, "新增永久基本农田候选", "new PBF candidate", (255, 200, 80)),
                                                              (3, "红线调出耕地", "cropland released from the red line", (230, 160, 40))])),
            "udb_candidate": OutputDecl("uint8", "城镇开发边界候选 UDB candidate", nodata=0, classes=_class_decls(
                [(1, "城镇集中建设区", "concentrated construction zone", (230, 60, 60)), (2, "城镇弹性发展区", "elastic development zone", (250, 150, 120)),
                 (3, "特别用途区", "special-use zone", (200, 120, 200))])),
            "three_lines": OutputDecl("uint8", "三条控制线 (1 永久基本农田, 2 生态保护红线, 3 城镇开发边界)", nodata=255, classes=_class_decls(
                [(0, "无", "none", (255, 255, 255)), (1, "永久基本农田", "permanent basic farmland", (255, 220, 0)),
                 (2, "生态保护红线", "ecological red line", (0, 130, 0)), (3, "城镇开发边界", "urban development boundary", (230, 60, 60))])),
            "zone_claims": OutputDecl("uint8", "候选竞合 claimants bitmask (1 PBF, 2 red line, 4 UDB); the winner is three_lines", nodata=0, classes=_class_decls(
                [(k, "+".join(n for b, n in ((1, "农田"), (2, "红线"), (4, "城镇")) if k & b), "+".join(n for b, n in ((1, "PBF"), (2, "RL"), (4, "UDB")) if k & b),
                  (35 * k, 120, 200 - 20 * k)) for k in range(1, 8)])),
            "zone_summary": OutputDecl("table", "三线 areas per county (m², ha, mu), PBF by origin, UDB parts and expansion multiple, red-line ledger",
                                       kind="table"),
            "zone_rules": OutputDecl("table", "rule report: rule, scope, measured, threshold, source, pass/warn/fail", kind="table"),
            "zones": OutputDecl("vector", "三条控制线候选 polygons: layers STBHHX, YJJBNT, CZKFBJ (CGCS2000, MJ ellipsoidal m²)", kind="vector"),
        },
    ),
    _zones,
)

MODELS = (ZONES,)
