"""三区三线 candidates (methods.md §8, zones_and_standards.md §1–3, §6–7, seed 004).

Order of delineation (§8.2 item 1 [K-med; B]): farmland → red line → urban
boundary, and the three never overlap. Cells in protected-area core zones are
red line and never farmland or urban boundary (zones_and_standards.md §6 rule 9).

Steps, each citing its clause:

* red line (§8.1): RL = ECO 1 ∪ 自然保护地 ∪ potential ∪ must-include, conflicts
  11–15, the 5/3-mu rule on stable cropland (seed 004), clean-up;
* permanent basic farmland (§8.3): existing PBF first; with a per-county
  ``pbf_target_mu`` the other candidates (released from the red line, new)
  enter by rank — AGRI_COND (AGRI_SUIT without it), then the area of their
  farmland patch — in whole rank groups until the target is met
  (:func:`_pbf_thresholds`); without a target every candidate is PBF;
* urban development boundary (§8.4): growth from the seed by rank within the
  cap, then a morphological closing (``udb_closing_m``) that adds only cells
  the growth could have taken, in rank order within the room left under the
  cap (:func:`_closing_thresholds`), then the small-patch removal;
* 三区 (§8.5): ``three_zones`` puts every valid cell in exactly one of 生态 /
  农业 / 城镇空间 or 4 其他 (:func:`space_of_land`);
* the rule report (zones_and_standards.md §6): rules 4, 7–10, 12–16, 18,
  21–23 per county (:func:`rule_report`).
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
_FARM, _SPACE = _Z["farmland"], _Z["three_zones"]
_LU = table("landuse")
SPACES = {int(k): tuple(v) for k, v in _SPACE["codes"].items()}
#: PBF rank codes: (rank class) · 2**40 + (2**40 − 1 − patch-area step), so larger patches of a class come first
_RANK_SHIFT = 1 << 40
#: "select every candidate" threshold of a county without a PBF target
_ALL_RANKS = np.iinfo(np.int64).max
# area comparisons of summed float areas (m²): far below one cell, far above the float noise of the sums
_AREA_TOL_M2 = 1e-6
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


def pbf_targets_m2(targets_mu: dict) -> dict[int, float]:
    """``pbf_target_mu`` ({admin code: mu}) as {int admin code: m²}; refuses keys that are not codes and negative or non-numbers.

    Source: methods.md §8.3 ("Select until ``PBF_target_area`` (an input from
    the higher-level plan) is met") [R]. Targets are 亩 as 保护任务 are issued;
    1 mu = 2000/3 m² exactly (zones_and_standards.md §0). Without an ``admin``
    input the whole grid is admin unit 1.
    """
    out: dict[int, float] = {}
    for key, value in targets_mu.items():
        try:
            code = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"pbf_target_mu: key {key!r} is not an admin code (an integer such as 441302; 1 without an admin layer)") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"pbf_target_mu[{key}]: the target must be a number of mu ≥ 0 (ha × 15), got {value!r}")
        out[code] = float(value) * MU_M2
    return out


def pbf_rank_code(eligible: np.ndarray, existing: np.ndarray, rank_class: np.ndarray, patch_mu: np.ndarray, step_mu: float) -> np.ndarray:
    """int64 rank code of every PBF candidate that is not existing PBF (0 elsewhere); smaller codes are selected first.

    Source: methods.md §8.3 [R]: "Prioritize existing PBF. Rank the remaining
    cells by AGRI_COND, then patch area". ``rank_class`` is AGRI_COND 1–5 (or
    the AGRI_SUIT fallback, :func:`_pbf_rank_class`); ``patch_mu`` is the
    area of the cell's 8-connected patch of eligible farmland (existing PBF
    included, so candidates joined to existing PBF blocks come first among
    equals: 集中连片), floored to steps of ``step_mu``. Cells with equal codes
    form one rank group, selected together or not at all.
    """
    steps = np.floor(np.nan_to_num(patch_mu, nan=0.0) / step_mu)
    steps = np.clip(steps, 0, _RANK_SHIFT - 1).astype(np.int64)
    code = rank_class.astype(np.int64) * _RANK_SHIFT + (_RANK_SHIFT - 1 - steps)
    return np.where((eligible > 0) & (existing == 0), code, 0)


def _pbf_rank_class(key: np.ndarray, from_cond: bool) -> np.ndarray:
    """AGRI_COND 1–5 as is (nodata last, 6); without it AGRI_SUIT 1 → 1, 2 → 2, anything else → 3.

    In ``2020trial`` cropland released from the red line has AGRI_SUIT 9 (not
    evaluated, methods.md §0.3 item 16): without AGRI_COND it ranks after the
    evaluated suitable land [R].
    """
    key = np.asarray(key).astype(np.int64)
    if from_cond:
        return np.where((key >= 1) & (key <= 5), key, 6)
    return np.where(key == 1, 1, np.where(key == 2, 2, 3))


def _pbf_thresholds(ranked: pd.DataFrame, existing: pd.DataFrame, targets_m2: dict[int, float]) -> pd.DataFrame:
    """Per admin unit: the last PBF rank group selected so that PBF reaches its target (``t``; 0 none, max: all).

    Source: methods.md §8.3 [R]: existing PBF is kept first (its area counts
    towards the target), then whole rank groups (:func:`pbf_rank_code`) in
    order until the cumulative area first reaches ``target − existing``; the
    target is a floor (a protection task, §6 rule 13), so the last group may
    overshoot it by less than its own area. A target existing PBF already
    meets selects nothing more; a target the candidates cannot reach selects
    them all (rule 13 then fails). A county without a target selects every
    candidate (the behaviour without targets). Whole groups of a table that is
    bit-identical for every chunking: the selection does not depend on it.
    """
    kept = existing[existing["class"] == 1].groupby("zone")["area_m2"].sum()
    zones = sorted(set(int(z) for z in ranked["zone"]) | set(int(z) for z in kept.index) | set(targets_m2))
    rows = []
    for z in zones:
        target = targets_m2.get(z, float("nan"))
        have = float(kept.get(z, 0.0))
        if not math.isfinite(target):
            t = _ALL_RANKS
        else:
            mine = ranked[ranked["zone"] == z].sort_values("class")
            total = mine["area_m2"].cumsum().to_numpy()
            classes = mine["class"].to_numpy(dtype=np.int64)
            budget = target - have
            if budget <= _AREA_TOL_M2 or not len(classes):
                t = 0
            else:
                hit = np.nonzero(total >= budget - _AREA_TOL_M2)[0]
                t = int(classes[hit[0]]) if hit.size else int(classes[-1])
        rows.append({"zone": z, "target_m2": target, "existing_m2": have, "t": t})
    frame = pd.DataFrame(rows, columns=["zone", "target_m2", "existing_m2", "t"])
    frame["t"] = frame["t"].astype(np.int64)
    return frame


def _closing_thresholds(additions: pd.DataFrame, grown: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Per admin unit: the last growth rank bin of the closing's additions that fits the room left under the cap (``t3``).

    Source: methods.md §8.4 step 5 [R] ("apply morphological closing, then
    drop patches < ``udb_min_patch_km2``") under the cap of step 4 (UDB ≤ k ×
    A_urban_2020, [cap B]): the cells a closing would add are ranked as the
    growth ranks them (URBAN_COND, then distance to the seed) and enter in
    whole rank bins while seed + growth + additions ≤ k × seed.
    """
    th = thresholds.set_index("zone")
    used = grown[grown["class"] > 0].groupby("zone")["area_m2"].sum()
    zones = sorted(set(int(z) for z in th.index) | set(int(z) for z in additions["zone"]))
    room = pd.Series({z: max(0.0, float(th["cap"].get(z, 0.0)) * float(th["seed_m2"].get(z, 0.0)) - float(used.get(z, 0.0))) for z in zones},
                     dtype=np.float64)
    t3 = _bins_selected(additions, room).reindex(zones, fill_value=0) if zones else pd.Series(dtype=np.int64)
    return pd.DataFrame({"zone": zones, "room_m2": room.reindex(zones).to_numpy(), "t3": t3.to_numpy(dtype=np.int64)})


def _close_udb(udb: xr.DataArray, bins: xr.DataArray, admin: xr.DataArray, thresholds, radius_m: float) -> tuple[xr.DataArray, xr.DataArray]:
    """Morphological closing of the grown UDB that adds only allowed cells, within the cap (methods.md §8.4 step 5 [R]).

    Closing = dilation (focal max) then erosion (focal min) of the UDB mask
    over a circle of ``radius_m`` (ArcGIS ``NbrCircle`` footprint,
    :func:`evaluate.ops.focal.footprint`): it fills gaps and notches narrower
    than about 2 × ``radius_m`` (集中连片、形态规整). Each focal pass declares a
    halo of its radius in cells, so the closing reads 2 × radius around every
    chunk and is exact for every chunking; beyond the grid's edge cells are
    ignored (the window is clipped), so a gap open to the edge can close too.

    A cell is added only where the growth could have put it: a growth
    candidate (``bins`` > 0: URBAN_SUIT 1–2 within the search radius, never
    the seed, an avoidance layer, a core zone, the red line or PBF, §6 rule
    16), and only in whole growth-rank bins within the room the cap leaves
    (:func:`_closing_thresholds`), so §6 rule 14 holds after the closing.
    Added cells are 集中建设区 (code 1): a closed gap belongs to the compact
    built-up form, and 弹性发展区 ≤ 15 % of 集中 (§6 rule 15) keeps holding.

    Returns the closed UDB code raster and the mask of the added cells.
    """
    present = ops.map_cells(lambda u: (u > 0).astype(np.uint8), udb, dtype=np.uint8)
    closed = ops.focal(ops.focal(present, "max", "circle", radius_m=radius_m), "min", "circle", radius_m=radius_m)
    additions = ops.map_cells(lambda c, u, b: np.where((c > 0) & (u == 0) & (b > 0), b, 0).astype(np.int32), closed, udb, bins, dtype=np.int32)
    room = dask.delayed(_closing_thresholds, pure=True)(_unit_table(admin, additions), _unit_table(admin, udb), thresholds)

    def add(zone, u, a, table_):
        t3 = _lookup_zone(table_, "t3")(zone)
        return np.where((a > 0) & (a <= t3), 1, u).astype(np.uint8)

    closed_udb = ops.map_cells_with(add, admin, udb, additions, small=[room], dtype=np.uint8)
    added = ops.map_cells(lambda c, u: ((c > 0) & (u == 0)).astype(np.uint8), closed_udb, udb, dtype=np.uint8)
    return closed_udb, added


def space_of_land(three: np.ndarray, landuse: np.ndarray, eco: np.ndarray, seed: np.ndarray, czcsxm: np.ndarray | None,
                  groups: dict) -> np.ndarray:
    """三区 code per cell: 1 生态空间, 2 农业空间, 3 城镇空间, 4 其他; 0 nodata (no ECO or land use).

    Source: methods.md §8.5 [R]: 城镇空间 ⊇ UDB; 农业空间 ⊇ PBF ∪ other
    farmland / villages outside UDB and RL; 生态空间 ⊇ RL ∪ other ECO 2 /
    natural land; codes as KJLX 01/02/03 (zones_and_standards.md §7). The
    lines decide first (UDB → 城镇, RL → 生态, PBF → 农业), so each line lies
    in its space by construction; outside them the first match of
    models/tables/zones.yaml ``three_zones`` wins: current urban construction
    land → 城镇; farmland, villages and farm infrastructure → 农业; natural
    land → 生态; remaining ECO 1–2 → 生态; anything else (e.g. roads, mines,
    special land with ordinary ECO outside the lines) → 4 其他, which §6 rule
    23 reports because it breaks the tiling.
    """
    lu = np.asarray(landuse, dtype=np.int64)
    eco = np.asarray(eco)

    def codes_of(names, extra):
        members = [int(c) for n in names for c in (groups.get(n) or [])] + [int(c) for c in extra]
        return np.isin(lu, np.asarray(members or [-1], dtype=np.int64))

    farm = codes_of(_SPACE["agricultural_groups"], _SPACE["agricultural_codes"])
    if czcsxm is not None:
        farm |= codes_of(("construction",), ()) & np.isin(czcsxm, np.asarray(_SPACE["village_czcsxm"], dtype=np.int64))
    natural = codes_of(_SPACE["ecological_groups"], _SPACE["ecological_codes"])
    important = np.isin(eco, np.asarray(_SPACE["ecological_eco"], dtype=np.int64))
    # first match wins: written from the last rule to the first
    space = np.full(lu.shape, 4, dtype=np.uint8)
    for condition, code in ((important, 1), (natural, 1), (farm, 2), (seed > 0, 3), (three == 1, 2), (three == 2, 1), (three == 3, 3)):
        space = np.where(condition, np.uint8(code), space)
    valid = (eco > 0) & (lu > 0)
    return np.where(valid, space, 0).astype(np.uint8)


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
        eligible = ((pbf_raw > 0) & (rl_raw == 0) | released) & (core == 0)
        # released cropland leaves the red line whether or not a PBF target selects it (§6 rule 10)
        rl = (rl_raw > 0) & ~eligible & ~(np.isin(conflict, removed_codes) & (core == 0))
        return np.stack([eligible, rl]).astype(np.uint8)

    decided = packed(lambda *b: tuple(arbitrate(*b)), raw["rl_raw"], raw["core"], raw["pbf_raw"], raw["conflict"], rl_cropland,
                     names=("pbf_eligible", "rl_final"))
    pbf_eligible, rl_final = decided["pbf_eligible"], decided["rl_final"]
    existing_pbf = ops.map_cells(lambda p: (p > 0).astype(np.uint8), masks["pbf"], dtype=np.uint8) if "pbf" in masks else pbf_eligible * 0
    targets = pbf_targets_m2(params["pbf_target_mu"])
    if targets:
        # §8.3: rank the candidates and select whole rank groups up to each county's target (existing PBF always kept)
        from_cond = "agri_cond" in inputs
        step_mu = params["pbf_rank_step_mu"]
        patch_mu = ops.patch_area(ops.label(pbf_eligible > 0, connectivity=8), unit="mu")
        rank = ops.map_cells(lambda e, x, k, a: pbf_rank_code(e, x, _pbf_rank_class(k, from_cond), a, step_mu), pbf_eligible, existing_pbf,
                             inputs["agri_cond"] if from_cond else inputs["agri_suit"], patch_mu, dtype=np.int64)
        existing_kept = ops.map_cells(lambda e, x: ((e > 0) & (x > 0)).astype(np.uint8), pbf_eligible, existing_pbf, dtype=np.uint8)
        pbf_th = dask.delayed(_pbf_thresholds, pure=True)(_unit_table(admin, rank), _unit_table(admin, existing_kept), targets)

        def select(zone, eligible, existing, r, table_):
            t = _lookup_zone(table_, "t")(zone)
            return ((eligible > 0) & ((existing > 0) | ((r > 0) & (r <= t)))).astype(np.uint8)

        pbf_final = ops.map_cells_with(select, admin, pbf_eligible, existing_pbf, rank, small=[pbf_th], dtype=np.uint8)
    else:
        pbf_final = pbf_eligible
    if params["min_patch_km2"] > 0:
        rl_final = ops.map_cells(lambda k, c: (k | c).astype(np.uint8),
                                 ops.remove_small_patches(rl_final > 0, params["min_patch_km2"], unit="km2"), raw["core"], dtype=np.uint8)
    if params["min_hole_km2"] > 0:
        filled = ops.fill_small_holes(rl_final > 0, params["min_hole_km2"], unit="km2")
        # a filled hole never takes farmland candidates, selected or not, nor released cropland (§8.2 item 1, §6 rule 10)
        rl_final = ops.map_cells(lambda f, p: (f & (p == 0)).astype(np.uint8), filled, pbf_eligible, dtype=np.uint8)

    # --- urban development boundary: seed, ranked growth within k × seed per admin unit
    step = params["distance_step_m"]
    max_d = params["max_distance_m"]
    dist = ops.distance(raw["seed"] > 0, max_d)
    cond = inputs["urban_cond"]
    n_bins = int(math.ceil(max_d / step)) + 1

    def rank_bin(seed, avoid, pbf, rl, suit, c, d):
        # PBF is excluded, not cropland a PBF target left unselected: §8.2 item 3 asks the UDB to occupy no or little *PBF*
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
    closing_added = None
    if params["udb_closing_m"] > 0:
        udb, closing_added = _close_udb(udb, bins, admin, thresholds, params["udb_closing_m"])
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
    czcsxm = [inputs["czcsxm"]] if "czcsxm" in inputs else []
    three_zones = ops.map_cells(lambda t, lu, e, sd, *cz: space_of_land(t, lu, e, sd, cz[0] if cz else None, groups), three, inputs["landuse"],
                                inputs["eco_importance"], raw["seed"], *czcsxm, dtype=np.uint8, name="three_zones")
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
        "three_zones": three_zones,
    }
    # polygons of the three lines, one per county × line × origin (PBF existing/new/released, UDB sub-zone)
    def polygon_code(zone, three, pbf, udb):
        sub = np.where(three == 1, pbf, np.where(three == 3, udb, np.where(three == 2, 1, 0)))
        return np.where(three > 0, zone.astype(np.int64) * 100 + three * 10 + sub, 0)

    polygons = ops.polygonize(ops.map_cells(polygon_code, admin, three, pbf_code, udb, dtype=np.int64))
    # ledgers for the rule report: PBF (existing, final, eligible), red line against its baseline, UDB closing
    pbf_ledger = ops.map_cells(lambda x, p, e: ((x > 0) * 1 + (p > 0) * 2 + (e > 0) * 4).astype(np.uint8), existing_pbf, pbf_final, pbf_eligible,
                               dtype=np.uint8)
    cropland_codes = np.asarray(groups["cropland"] or [-1], dtype=np.int64)
    construction_codes = np.asarray(groups["construction"] or [-1], dtype=np.int64)

    def rl_ledger(new, rl_raw, core, conflict, rc, pbf, lu, eco, *base):
        # a baseline cell left with a reason: farmland priority or a conflict treatment of §8.1 (CZLY reason codes)
        reason = (pbf > 0) | ((rc % 10) == 2) | (np.isin(conflict, removed_codes) & (core == 0) & (rl_raw > 0))
        b = (base[0] > 0) if base else np.zeros(new.shape, dtype=bool)
        code = b * 1 + (new > 0) * 2 + reason * 4 + np.isin(lu, cropland_codes) * 8 + np.isin(lu, construction_codes) * 16
        return np.where((eco > 0) & (lu > 0), code, 0).astype(np.uint8)

    baseline = [inputs["redline_existing"]] if "redline_existing" in inputs else []
    rl_book = ops.map_cells(rl_ledger, outputs["rl_candidate"], raw["rl_raw"], raw["core"], raw["conflict"], rl_cropland, pbf_final,
                            inputs["landuse"], inputs["eco_importance"], *baseline, dtype=np.uint8)
    closing_book = (ops.map_cells(lambda a, u: ((a > 0) & (u > 0)).astype(np.uint8), closing_added, udb, dtype=np.uint8)
                    if closing_added is not None else None)
    ledgers = {"pbf_ledger": pbf_ledger, "rl_ledger": rl_book, "closing": closing_book,
               "spaces": ops.map_cells(lambda sp, t: np.where(sp > 0, 10 * sp + t, 0).astype(np.uint8), three_zones, three, dtype=np.uint8)}
    flags = {"has_baseline": bool(baseline), "has_existing_pbf": "pbf" in masks, "targets_m2": targets}
    tables = _tables(admin, outputs, raw, thresholds, params, ev, polygons, ledgers, flags)
    outputs.update(tables)
    outputs["zones"] = dask.delayed(zone_features, pure=True)(polygons, tables["zone_rules"])
    return outputs


def _tables(admin, outputs, raw, thresholds, params, ev, polygons, ledgers: dict, flags: dict):
    """Per-county summary and the rule report (zones_and_standards.md §6 rules 4, 7–16, 18, 21–23; §7 companion tables)."""
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
    parts.update({name: _unit_table(admin, raster) for name, raster in ledgers.items() if raster is not None})
    summary = dask.delayed(county_summary, pure=True)(parts, thresholds, flags)
    rules = dask.delayed(rule_report, pure=True)(summary, parts, params, ev.province_type, polygons)
    return {"zone_summary": summary, "zone_rules": rules}


def _area(frame: pd.DataFrame, zone, codes) -> float:
    rows = frame[(frame["zone"] == zone) & frame["class"].isin(list(codes))]
    return float(rows["area_m2"].sum())


def _area_if(frame: pd.DataFrame | None, zone, keep) -> float:
    """Area (m²) of the rows of ``zone`` whose class code satisfies ``keep(codes) -> bool array`` (0 for a missing table)."""
    if frame is None:
        return 0.0
    rows = frame[frame["zone"] == zone]
    return float(rows["area_m2"][keep(rows["class"].to_numpy(dtype=np.int64))].sum())


def _bits(frame: pd.DataFrame | None, zone, on: int = 0, off: int = 0) -> float:
    """Area (m²) of the cells of ``zone`` whose ledger code has every bit of ``on`` set and every bit of ``off`` clear."""
    return _area_if(frame, zone, lambda c: ((c & on) == on) & ((c & off) == 0))


def ledger_columns(parts: dict, z, flags: dict) -> dict:
    """The PBF, red-line-baseline, UDB-closing and 三区 columns of one county's summary row (m²; NaN where not measurable).

    Source: zones_and_standards.md §7 companion table ("red-line ledger
    (baseline, removed by reason, added, new)"); §6 rules 13 (PBF removed vs
    re-designated, target), 21–22 (baseline, removals with/without a reason,
    cropland and construction inside the red line) and 23 (三区 areas).
    Ledger codes (see ``_zones``): PBF 1 existing, 2 final, 4 eligible;
    red line 1 baseline, 2 candidate, 4 left with a reason, 8 cropland,
    16 construction land; 三区 10 × space + line.
    """
    pbf, rl, spaces = parts.get("pbf_ledger"), parts.get("rl_ledger"), parts.get("spaces")
    nan = float("nan")
    base = flags.get("has_baseline", False)
    baseline = _bits(rl, z, 1) if base else nan
    kept = _bits(rl, z, 3) if base else nan
    row = {
        "pbf_target_m2": flags.get("targets_m2", {}).get(int(z), nan),
        "pbf_eligible_m2": _bits(pbf, z, 4),
        "pbf_not_selected_m2": _bits(pbf, z, 4, 2),
        "pbf_existing_input_m2": _bits(pbf, z, 1) if flags.get("has_existing_pbf") else nan,
        "pbf_removed_m2": _bits(pbf, z, 1, 2),
        "pbf_redesignated_m2": _bits(pbf, z, 2, 1),
        "udb_closing_m2": _bits(parts.get("closing"), z, 1),
        "red_line_baseline_m2": baseline,
        "red_line_baseline_kept_m2": kept,
        "red_line_baseline_kept_share": round(kept / baseline, 6) if base and baseline > 0 else nan,
        "red_line_removed_with_reason_m2": _bits(rl, z, 1 | 4, 2) if base else nan,
        "red_line_removed_other_m2": _bits(rl, z, 1, 2 | 4) if base else nan,
        "red_line_added_m2": _bits(rl, z, 2, 1) if base else nan,
        "red_line_frozen_cropland_m2": _bits(rl, z, 2 | 8),
        "red_line_frozen_construction_m2": _bits(rl, z, 2 | 16),
        "red_line_baseline_frozen_cropland_m2": _bits(rl, z, 1 | 8) if base else nan,
        "red_line_baseline_frozen_construction_m2": _bits(rl, z, 1 | 16) if base else nan,
    }
    for code, key in ((1, "ecological"), (2, "agricultural"), (3, "urban"), (4, "other")):
        row[f"space_{key}_m2"] = _area_if(spaces, z, lambda c, k=code: c // 10 == k)
    # a line outside its own space (STBHHX ⊆ 生态, YJJBNT ⊆ 农业, CZKFBJ ⊆ 城镇, §6 rule 23)
    row["space_line_outside_m2"] = _area_if(spaces, z, lambda c: ((c % 10) > 0) & (c // 10 != np.array([0, 2, 1, 3])[c % 10]))
    return row


def county_summary(parts: dict, thresholds: pd.DataFrame, flags: dict | None = None) -> pd.DataFrame:
    """Areas per admin unit in m², ha and mu: the three lines, PBF by origin and against its target, UDB parts, expansion
    multiple and closing, red-line ledger against the baseline, 三区 areas (zones_and_standards.md §7 companion table)."""
    flags = flags or {}
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
            **ledger_columns(parts, z, flags),
        }
        rows.append(row)
    return with_ha_and_mu(pd.DataFrame(rows))


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(x)


def pbf_balance_rules(r: dict) -> list[tuple]:
    """§6 rule 13 [R] for one summary row: (rule, scope, measured, threshold, source, ok, warn) tuples.

    * "13 PBF ≥ protection task": PBF area against the county's task — the
      ``pbf_target_mu`` target when given (methods.md §8.3 ``PBF_target_area``),
      else the existing PBF of the ``pbf`` input (数量不减少, §8.2 item 3);
      measured as PBF / task, pass when ≥ 1. Without either nothing is
      measurable: reported as pass with "no task".
    * "13 PBF balance (re-designated − removed)": existing PBF that is not PBF
      any more (core zones, red-line patches below 5/3 mu, not cropland) must
      be re-designated (补划) in the same county: new and released PBF minus
      removed PBF ≥ 0 (§8.2 item 3 "Withdrawn PBF is compensated within the
      county, or else within the city"; a shortfall is a warn, as the city may
      still balance it).
    """
    z = r["admin"]
    target, existing, pbf = r.get("pbf_target_m2"), r.get("pbf_existing_input_m2"), r["pbf_m2"]
    source = "§6 rule 13 [R]; methods.md §8.3"
    if _finite(target):
        task, what = target, f"target {target / MU_M2:.2f} mu"
    elif _finite(existing) and existing > 0:
        task, what = existing, f"existing PBF {existing / MU_M2:.2f} mu"
    else:
        task, what = None, None
    rows = []
    if task is None:
        rows.append(("13 PBF ≥ protection task", z, None, "no task (no pbf_target_mu, no pbf input)", source, True, False))
    else:
        ratio = pbf / task if task > 0 else float("inf")
        rows.append(("13 PBF ≥ protection task", z, round(ratio, 6) if math.isfinite(ratio) else None, f"≥ 1 × {what}", source,
                     pbf >= task - _AREA_TOL_M2, False))
    balance = r.get("pbf_redesignated_m2", 0.0) - r.get("pbf_removed_m2", 0.0)
    rows.append(("13 PBF balance (re-designated − removed)", z, round(balance, 2), "≥ 0 m² in the county (else the city balances it)",
                 "§6 rule 13 [R]; methods.md §8.2 item 3", balance >= -_AREA_TOL_M2, True))
    return rows


def red_line_baseline_rules(r: dict) -> list[tuple]:
    """§6 rules 21–22 for one summary row, against the ``redline_existing`` baseline (rows as :func:`pbf_balance_rules`).

    * "21 red-line area not decreasing" [C principle 面积不减少]: A(new) ≥
      A(baseline) passes; A(new) ≥ A(baseline) − removals with a reason (the
      §8.1 conflict treatments and farmland priority, each with a CZLY reason
      code, still to be approved) warns; less fails. Measured: A(new) /
      A(baseline).
    * "21 baseline kept share": A(baseline ∩ new) / A(baseline); a warn when
      baseline cells left the red line with no reason code (e.g. no longer
      极重要 and no protected area: §6 rule 21 "every removed polygon carries a
      CZLY reason code").
    * "22 frozen human activity" [C]: cropland and construction land inside the
      candidate ≤ inside the baseline (the 10 allowed activities do not expand
      them); both areas are in the summary. Without a baseline the areas are
      reported and the rows pass with "no baseline".
    """
    z = r["admin"]
    baseline = r.get("red_line_baseline_m2")
    human = r["red_line_frozen_cropland_m2"] + r["red_line_frozen_construction_m2"]
    if not _finite(baseline):
        text = "no baseline (redline_existing not given)"
        return [("21 red-line area not decreasing", z, None, text, "§6 rule 21 [C principle]", True, False),
                ("22 frozen human activity", z, round(human, 2), f"reported; {text}", "§6 rule 22 [C]", True, False)]
    new = r["red_line_m2"]
    reasoned = r["red_line_removed_with_reason_m2"]
    ratio = new / baseline if baseline > 0 else None
    rows = [("21 red-line area not decreasing", z, round(ratio, 6) if ratio is not None else None,
             f"≥ 1 (warn down to {(baseline - reasoned) / baseline:.6f} with reasoned removals)" if baseline > 0 else "baseline empty",
             "§6 rule 21 [C principle 面积不减少]", new >= baseline - _AREA_TOL_M2, new >= baseline - reasoned - _AREA_TOL_M2)]
    other = r["red_line_removed_other_m2"]
    share = r.get("red_line_baseline_kept_share")
    rows.append(("21 baseline kept share", z, share if _finite(share) else None,
                 f"reported; removals without a reason code {other:.2f} m² (with one {reasoned:.2f} m²)",
                 "§6 rule 21 [C principle]", other <= _AREA_TOL_M2, True))
    before = r["red_line_baseline_frozen_cropland_m2"] + r["red_line_baseline_frozen_construction_m2"]
    rows.append(("22 frozen human activity", z, round(human, 2), f"≤ {before:.2f} m² (cropland + construction land in the baseline)",
                 "§6 rule 22 [C]", human <= before + _AREA_TOL_M2, False))
    return rows


def partition_rules(r: dict) -> list[tuple]:
    """§6 rule 23 [engine] for one summary row (rows as :func:`pbf_balance_rules`).

    ``three_zones`` holds one code per cell, so the spaces never overlap.
    * "23 三区 partition": the three spaces tile the county — area left in 4
      其他 (no rule of models/tables/zones.yaml ``three_zones`` assigns it) is
      measured; 0 passes, more warns (the tiling is incomplete, the cells are
      listed in ``three_zones``).
    * "23 lines inside their space": STBHHX ⊆ 生态空间, YJJBNT ⊆ 农业空间,
      CZKFBJ ⊆ 城镇空间; the area outside fails.
    """
    z = r["admin"]
    other, outside = r["space_other_m2"], r["space_line_outside_m2"]
    spaces = r["space_ecological_m2"] + r["space_agricultural_m2"] + r["space_urban_m2"]
    return [("23 三区 partition", z, round(other, 2), f"0 m² outside 生态/农业/城镇空间 (Σ spaces {spaces:.2f} m²)",
             "§6 rule 23 [engine]; methods.md §8.5", other <= _AREA_TOL_M2, True),
            ("23 lines inside their space", z, round(outside, 2), "0 m²", "§6 rule 23 [engine]", outside <= _AREA_TOL_M2, False)]


def rule_report(summary: pd.DataFrame, parts: dict, params: dict, province_type, polygons: pd.DataFrame | None = None) -> pd.DataFrame:
    """zones_and_standards.md §6: one row per checkable rule and admin unit (measured, threshold, source, pass/warn/fail).

    Rules 4 (valid polygons), 7 (raster/vector area), 8 (no overlap), 9
    (priority, core zones), 10 (red-line cropland ≥ 5/3 mu released), 12 (PBF
    on stable cropland), 13 (PBF task and balance, :func:`pbf_balance_rules`),
    14 (UDB cap), 15 (弹性 share), 16 (UDB avoidance), 18 (boundary snapping:
    pass by construction on the analysis grid, reference lines are not an
    input), 21–22 (red line against its baseline,
    :func:`red_line_baseline_rules`) and 23 (三区 partition,
    :func:`partition_rules`).
    """
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
        for row in pbf_balance_rules(r._asdict()):
            add(*row)
        multiple = r.udb_multiple
        add("14 UDB expansion multiple", z, multiple if multiple == multiple else None, f"≤ {r.udb_cap:.3f}", "§6 rule 14 [cap C; B]",
            (multiple <= r.udb_cap + 1e-9) if multiple == multiple else True)
        add("15 弹性发展区 share", z, round(r.udb_elastic_m2 / r.udb_concentrated_m2, 4) if r.udb_concentrated_m2 > 0 else None,
            f"≤ {params['elastic_share']}", "§6 rule 15 [P/R]",
            (r.udb_elastic_m2 <= params["elastic_share"] * r.udb_concentrated_m2 + 1e-6))
        avoid = _area(parts["udb_avoid"], z, (1,))
        add("16 UDB avoidance", z, avoid, "0 m² outside current urban land", "§6 rule 16 [C/B]", avoid == 0)
        # polygons are unions of grid cells: every edge lies on the analysis grid, the raster form of the 三调 base
        add("18 boundary snapping (analysis grid)", z, 1.0, "snap ratio 1 to the grid's cell edges; reference lines not supplied",
            "§6 rule 18 [C principle; engine]: pass by construction for raster-derived polygons; snapping to 三调 parcel edges, roads "
            "and rivers is vector work after delivery", True)
        for row in red_line_baseline_rules(r._asdict()):
            add(*row)
        for row in partition_rules(r._asdict()):
            add(*row)
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
            "agri_cond": InputDecl("class", "categorical", "农业生产条件 (ranks PBF candidates under pbf_target_mu; AGRI_SUIT without it)",
                                   required=False, producer="agri_suit"),
            "redline_existing": InputDecl("mask", "mask", "current (baseline) ecological red line: §6 rules 21–22", required=False),
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
            "pbf_target_mu": Parameter(dict(_FARM["target_mu"]), "per admin code: PBF_target_area (保护任务, mu); PBF selection stops there "
                                       "(existing PBF first); {} = every candidate", _FARM["source"], open_keys=True),
            "pbf_rank_step_mu": Parameter(_FARM["rank_patch_resolution_mu"], "PBF ranking: patch areas in steps of this size (equal steps rank together)",
                                          _FARM["source"], domain=(1e-6, 1e6, "mu")),
            "cap": Parameter(_UDB["cap"], "UDB ≤ cap × current urban construction land", _UDB["source"], domain=(1, 3, "ratio")),
            "cap_by_admin": Parameter({}, "per admin code: its own cap (1.1 for shrinking cities)", _UDB["source"], open_keys=True),
            "elastic_share": Parameter(_UDB["elastic_share"], "弹性发展区 ≤ this share of 集中建设区", _UDB["source"], domain=(0, 1, "fraction")),
            "max_distance_m": Parameter(_UDB["max_distance_m"], "growth search radius from the seed (m)", _UDB["source"], domain=(30, 1e5, "m")),
            "distance_step_m": Parameter(_UDB["distance_step_m"], "distance resolution of the growth ranking (m)", _UDB["source"], domain=(1, 1e4, "m")),
            "udb_closing_m": Parameter(_UDB["closing_radius_m"], "UDB compactness: closing radius (circle, m) before the small-patch removal; "
                                       "adds only growth candidates within the cap; 0 off", _UDB["source"], domain=(0, 5000, "m")),
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
            "three_zones": OutputDecl("uint8", "三区 (KJLX): 1 生态空间, 2 农业空间, 3 城镇空间, 4 其他 (§8.5, §6 rule 23)", nodata=0, classes=_class_decls(
                [(1, SPACES[1][0], SPACES[1][1], (120, 190, 80)), (2, SPACES[2][0], SPACES[2][1], (250, 220, 120)),
                 (3, SPACES[3][0], SPACES[3][1], (230, 90, 80)), (4, SPACES[4][0], SPACES[4][1], (190, 190, 190))])),
            "zone_summary": OutputDecl("table", "三线 areas per county (m², ha, mu), PBF by origin and target vs selected, UDB parts, expansion multiple and "
                                       "closing, red-line ledger against its baseline, 三区 areas",
                                       kind="table"),
            "zone_rules": OutputDecl("table", "rule report (§6 rules 4, 7–10, 12–16, 18, 21–23): rule, scope, measured, threshold, source, "
                                     "pass/warn/fail", kind="table"),
            "zones": OutputDecl("vector", "三条控制线候选 polygons: layers STBHHX, YJJBNT, CZKFBJ (CGCS2000, MJ ellipsoidal m²)", kind="vector"),
        },
    ),
    _zones,
)

MODELS = (ZONES,)
