"""三区三线 candidates (methods.md §8; zones_and_standards.md §6 rules 8–16; issue 8 tests)."""
import numpy as np
import pandas as pd
import pytest

from models.zones import candidates as Z
from tests.helpers import run_model

CELL_MU = 900.0 / (2000.0 / 3.0)  # a 30 m cell is 1.35 mu


def base(n=40):
    eco = np.full((n, n), 2, np.uint8)
    return {
        "eco_importance": eco, "landuse": np.full((n, n), 301, np.int32), "slope": np.full((n, n), 3.0),
        "agri_suit": np.where(eco == 1, 9, 1).astype(np.uint8), "urban_suit": np.where(eco == 1, 9, 1).astype(np.uint8),
        "urban_cond": np.full((n, n), 2, np.uint8), "terrain_class": np.ones((n, n), np.uint8),
    }


def with_red_line(arrays, rows, cols):
    arrays["eco_importance"][rows, cols] = 1
    arrays["agri_suit"] = np.where(arrays["eco_importance"] == 1, 9, arrays["agri_suit"]).astype(np.uint8)
    arrays["urban_suit"] = np.where(arrays["eco_importance"] == 1, 9, arrays["urban_suit"]).astype(np.uint8)
    return arrays


def test_the_5_mu_rule_in_plains_and_the_3_mu_rule_in_hills():
    a = with_red_line(base(), slice(0, 40), slice(0, 20))
    lu = a["landuse"]
    lu[2, 2:7] = 103    # 5 cells = 6.75 mu ≥ 5 → leaves the red line, becomes farmland
    lu[6, 2:5] = 103    # 3 cells = 4.05 mu < 5 → stays (retained)
    lu[20, 2:5] = 103   # 3 cells = 4.05 mu ≥ 3 in hills → leaves
    lu[25, 2:4] = 103   # 2 cells = 2.7 mu < 3 → stays
    a["terrain_class"][18:30, :20] = 2
    out = run_model("zones", a)
    three = out["three_lines"]
    assert (three[2, 2:7] == 1).all() and (three[6, 2:5] == 2).all()
    assert (three[20, 2:5] == 1).all() and (three[25, 2:4] == 2).all()
    assert out["rl_cropland"][2, 2] == 2 and out["rl_cropland"][6, 2] == 1 and out["rl_cropland"][20, 2] == 12 and out["rl_cropland"][25, 2] == 11
    assert (out["rl_conflict"][2, 2:7] == 12).all()
    assert (out["pbf_candidate"][2, 2:7] == 3).all()
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["10 red-line cropland ≥ 5/3 mu released", "result"] == "pass"
    summary = out["zone_summary"].iloc[0]
    assert summary["red_line_cropland_released_mu"] == pytest.approx(8 * CELL_MU)
    assert summary["red_line_cropland_retained_mu"] == pytest.approx(5 * CELL_MU)


def test_core_zones_keep_their_cropland_and_never_become_farmland_or_urban():
    a = with_red_line(base(), slice(0, 40), slice(0, 20))
    a["landuse"][2, 2:12] = 103                      # 13.5 mu of stable cropland
    pa = np.zeros((40, 40), np.int32)
    pa[0:5, 0:20] = 1                                 # core zone over it
    a["landuse"][30:35, 30:35] = 701                  # urban land
    pa[30:35, 30:35] = 1                              # a town inside a core zone: not UDB
    out = run_model("zones", {**a, "pa_zone": pa})
    assert (out["three_lines"][2, 2:12] == 2).all() and (out["rl_conflict"][2, 2:12] == 11).all()
    assert (out["three_lines"][30:35, 30:35] == 2).all()
    assert out["zone_rules"].set_index("rule").loc["9 core zones never PBF/UDB", "result"] == "pass"


def test_arbitration_order_and_no_overlap_with_every_claim_reported():
    a = with_red_line(base(), slice(0, 40), slice(0, 10))
    a["landuse"][0:10, 0:20] = 103                    # cropland claimed by the red line (left half) and by farmland
    pbf = np.zeros((40, 40), np.uint8)
    pbf[0:10, 0:20] = 1
    a["landuse"][20:30, 0:5] = 701                     # construction in the red line: leaves it (code 13), stays urban
    out = run_model("zones", {**a, "pbf": pbf})
    claims, three = out["zone_claims"], out["three_lines"]
    assert (claims[0:10, 0:10] == 3).all() and (three[0:10, 0:10] == 1).all()   # PBF wins over the red line
    assert (claims[20:30, 0:5] == 6).all() and (three[20:30, 0:5] == 3).all()    # red line (raw) and UDB: conflict 13 removes it
    assert (out["rl_conflict"][20:30, 0:5] == 13).all()
    for code in (1, 2, 3):  # one code per cell: the three lines cannot overlap
        assert set(np.unique(three[claims == 0])) <= {0}


def test_the_urban_boundary_respects_the_cap_and_reports_the_multiple():
    a = base(60)
    a["landuse"][25:35, 25:35] = 701                   # 100 cells of urban land, suitable land all around
    out = run_model("zones", a, params={"cap": 1.3, "udb_min_patch_km2": 0.0})
    udb = out["udb_candidate"]
    summary = out["zone_summary"].iloc[0]
    assert summary["udb_m2"] <= 1.3 * 100 * 900.0 + 1e-6
    assert summary["udb_multiple"] == pytest.approx(round((udb > 0).sum() / 100, 3))
    assert summary["udb_multiple"] == round(summary["udb_multiple"], 3)
    out = run_model("zones", a, params={"cap": 2.0, "udb_min_patch_km2": 0.0})
    summary = out["zone_summary"].iloc[0]
    assert 1.3 < summary["udb_multiple"] <= 2.0
    assert summary["udb_elastic_m2"] <= 0.15 * summary["udb_concentrated_m2"] + 1e-6
    udb = out["udb_candidate"]
    assert (udb[25:35, 25:35] == 1).all()              # the seed is 集中建设区
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["14 UDB expansion multiple", "result"] == "pass" and rules.loc["15 弹性发展区 share", "result"] == "pass"


def test_the_urban_boundary_avoids_hazards_faults_and_floods():
    a = base(60)
    a["landuse"][25:35, 25:35] = 701
    flood = np.zeros((60, 60), np.uint8)
    flood[:, 36:] = 1
    geo = np.full((60, 60), 5, np.uint8)
    geo[:24, :] = 2
    out = run_model("zones", {**a, "flood_storage": flood, "geohazard": geo}, params={"cap": 2.5, "udb_min_patch_km2": 0.0})
    udb = out["udb_candidate"]
    assert udb[:, 36:].max() == 0 and udb[:24, :].max() == 0 and (udb > 0).sum() > 100
    assert out["zone_rules"].set_index("rule").loc["16 UDB avoidance", "result"] == "pass"


def test_thresholds_take_whole_rank_bins_within_each_budget():
    growth = pd.DataFrame({"zone": [1, 1, 1, 2], "class": [5, 6, 7, 5], "area_m2": [100.0, 50.0, 80.0, 10.0]})
    assert Z._bins_selected(growth, pd.Series({1: 160.0, 2: 5.0})).to_dict() == {1: 6, 2: 0}
    seeds = pd.DataFrame({"zone": [1], "class": [1], "area_m2": [1000.0]})
    th = Z._udb_thresholds(growth[growth["zone"] == 1], seeds, 1.3, {}, 0.15).iloc[0]
    # 集中 budget 1.3·1000/1.15 − 1000 = 130.4 → bin 5 (100); 弹性 ≤ min(0.15·1100, 1300 − 1100) = 165 → bins 6–7 (130)
    assert (th["t1"], th["t2"]) == (5, 7)


@pytest.mark.parametrize("chunks", [(7, 9), (16, 5)])
def test_every_zone_output_is_chunk_invariant(chunks):
    a = with_red_line(base(48), slice(0, 48), slice(0, 20))
    rng = np.random.default_rng(5)
    a["landuse"] = np.where(rng.random((48, 48)) < 0.3, 103, 301).astype(np.int32)
    a["landuse"][20:28, 28:36] = 701
    a["terrain_class"][24:, :] = 2
    eager = run_model("zones", a, params={"cap": 1.5})
    lazy = run_model("zones", a, params={"cap": 1.5}, chunks=chunks)
    for name, value in eager.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(lazy[name], value, err_msg=name)
        else:
            pd.testing.assert_frame_equal(lazy[name], value, check_exact=False, rtol=1e-12)


# --- issue 8 remaining items: PBF up to a target (§8.3), UDB closing (§8.4 step 5), rules 13, 18, 21–23 -------------------------


def farmland_grid():
    """20 × 20 forest with three cropland patches: A (20 cells, half of it existing PBF), B (5 cells), C (3 cells, AGRI_SUIT 2)."""
    a = base(20)
    a["landuse"][0:2, 0:10] = 103
    a["landuse"][5, 0:5] = 103
    a["landuse"][10, 0:3] = 103
    a["agri_suit"][10, 0:3] = 2
    pbf = np.zeros((20, 20), np.uint8)
    pbf[0, 0:10] = 1
    return {**a, "pbf": pbf}


def cells_mu(n):
    return n * 900.0 / Z.MU_M2


def test_without_a_target_every_farmland_candidate_is_pbf():
    out = run_model("zones", farmland_grid())
    summary = out["zone_summary"].iloc[0]
    assert (out["pbf_candidate"] > 0).sum() == 28 and np.isnan(summary["pbf_target_m2"])
    assert summary["pbf_not_selected_m2"] == 0 and summary["pbf_redesignated_m2"] == 18 * 900.0
    rules = out["zone_rules"].set_index("rule")
    # no target: the task is the existing PBF of the pbf input (13.5 mu), which 28 cells exceed
    assert rules.loc["13 PBF ≥ protection task", "result"] == "pass" and "existing PBF 13.50 mu" in rules.loc["13 PBF ≥ protection task", "threshold"]


def test_a_target_is_reached_exactly_by_whole_rank_groups_existing_first():
    # existing 10 + the rest of patch A (10, the larger patch ranks first) + patch B (5) = 25 cells, exactly the target
    out = run_model("zones", farmland_grid(), params={"pbf_target_mu": {1: cells_mu(25)}})
    pbf = out["pbf_candidate"]
    assert (pbf[0, 0:10] == 1).all() and (pbf[1, 0:10] == 2).all() and (pbf[5, 0:5] == 2).all() and (pbf[10, 0:3] == 0).all()
    summary = out["zone_summary"].iloc[0]
    assert summary["pbf_m2"] == pytest.approx(summary["pbf_target_m2"]) == pytest.approx(25 * 900.0)
    assert summary["pbf_not_selected_m2"] == pytest.approx(3 * 900.0) and summary["pbf_target_mu"] == pytest.approx(cells_mu(25))
    assert out["three_lines"][10, 0] == 0 and out["three_zones"][10, 0] == 2   # unselected cropland: no line, 农业空间
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["13 PBF ≥ protection task", "result"] == "pass" and rules.loc["13 PBF ≥ protection task", "measured"] == pytest.approx(1.0)


def test_a_target_between_groups_takes_the_next_whole_group_and_existing_pbf_alone_may_meet_it():
    out = run_model("zones", farmland_grid(), params={"pbf_target_mu": {1: cells_mu(26)}})
    assert (out["pbf_candidate"] > 0).sum() == 28           # the target is a floor: patch C (3 cells) enters whole
    out = run_model("zones", farmland_grid(), params={"pbf_target_mu": {"1": cells_mu(4)}})
    assert (out["pbf_candidate"] > 0).sum() == 10 and (out["pbf_candidate"] == 1).sum() == 10   # existing PBF is always kept


def test_an_unreachable_target_selects_every_candidate_and_fails_rule_13():
    out = run_model("zones", farmland_grid(), params={"pbf_target_mu": {1: 1000.0}})
    assert (out["pbf_candidate"] > 0).sum() == 28
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["13 PBF ≥ protection task", "result"] == "fail"
    assert rules.loc["13 PBF ≥ protection task", "measured"] == pytest.approx(28 * 900.0 / (1000.0 * Z.MU_M2), rel=1e-5)


def test_agri_cond_ranks_before_patch_area():
    a = farmland_grid()
    cond = np.full((20, 20), 3, np.uint8)
    cond[10, 0:3] = 1                                         # the small patch C has the best production condition
    out = run_model("zones", {**a, "agri_cond": cond}, params={"pbf_target_mu": {1: cells_mu(13)}})
    pbf = out["pbf_candidate"]
    assert (pbf[10, 0:3] == 2).all() and pbf[1, 0] == 0 and pbf[5, 0] == 0


def test_unselected_released_cropland_leaves_the_red_line_anyway():
    a = with_red_line(base(), slice(0, 40), slice(0, 20))
    a["landuse"][2, 2:7] = 103                                 # released (6.75 mu) but outranked
    a["landuse"][30:32, 30:40] = 103                           # 20 cells of suitable cropland outside the red line
    out = run_model("zones", a, params={"pbf_target_mu": {1: cells_mu(20)}})
    assert (out["three_lines"][2, 2:7] == 0).all() and (out["rl_cropland"][2, 2:7] == 2).all()
    assert (out["three_lines"][30:32, 30:40] == 1).all()
    assert out["zone_rules"].set_index("rule").loc["10 red-line cropland ≥ 5/3 mu released", "result"] == "pass"


def test_pbf_targets_are_validated():
    with pytest.raises(ValueError, match="not an admin code"):
        Z.pbf_targets_m2({"county": 10})
    with pytest.raises(ValueError, match="≥ 0"):
        Z.pbf_targets_m2({1: -5})
    assert Z.pbf_targets_m2({"441302": 15}) == {441302: pytest.approx(10_000.0)}


def test_pbf_thresholds_take_whole_groups_until_the_target_is_reached():
    ranked = pd.DataFrame({"zone": [1, 1, 1, 2], "class": [5, 6, 7, 5], "area_m2": [100.0, 50.0, 80.0, 10.0]})
    existing = pd.DataFrame({"zone": [1], "class": [1], "area_m2": [20.0]})
    th = Z._pbf_thresholds(ranked, existing, {1: 170.0, 2: 100.0, 3: 5.0}).set_index("zone")
    assert th.loc[1, "t"] == 6          # 20 + 100 + 50 = 170: reached exactly at group 6
    assert th.loc[2, "t"] == 5          # unreachable: everything
    assert th.loc[3, "t"] == 0          # nothing to select
    assert Z._pbf_thresholds(ranked, existing, {}).set_index("zone").loc[1, "t"] == np.iinfo(np.int64).max


def gap_grid():
    """Two urban blocks with a one-column gap (column 29) on suitable land of poor 城镇建设条件 (the growth takes no ring)."""
    a = base(60)
    a["urban_cond"][:] = 4
    a["landuse"][25:35, 20:29] = 701
    a["landuse"][25:35, 30:40] = 701
    return a


def test_udb_closing_fills_a_one_cell_gap_but_never_an_avoidance_layer():
    params = {"cap": 1.3, "udb_min_patch_km2": 0.0}
    out = run_model("zones", gap_grid(), params={**params, "udb_closing_m": 0})
    assert (out["udb_candidate"][25:35, 29] == 0).all()     # the growth bin of the gap is the whole ring: over the cap
    out = run_model("zones", gap_grid(), params=params)      # default closing (60 m)
    udb = out["udb_candidate"]
    assert (udb[26:34, 29] == 1).all() and udb[25, 29] == 0 and udb[34, 29] == 0   # the gap closes as 集中建设区; its mouths stay notches
    summary = out["zone_summary"].iloc[0]
    assert summary["udb_closing_m2"] == 8 * 900.0 and summary["udb_m2"] == 198 * 900.0
    flood = np.zeros((60, 60), np.uint8)
    flood[25:30, 29] = 1
    out = run_model("zones", {**gap_grid(), "flood_storage": flood}, params=params)
    assert (out["udb_candidate"][25:30, 29] == 0).all() and (out["udb_candidate"][30:34, 29] == 1).all()
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["16 UDB avoidance", "result"] == "pass" and rules.loc["15 弹性发展区 share", "result"] == "pass"


def test_udb_closing_respects_the_cap():
    # k = 1.04: the room under the cap (7.6 cells) is smaller than the gap's rank bin among the additions (8 cells)
    out = run_model("zones", gap_grid(), params={"cap": 1.04, "udb_min_patch_km2": 0.0})
    assert (out["udb_candidate"][25:35, 29] == 0).all() and out["zone_summary"].iloc[0]["udb_closing_m2"] == 0
    assert out["zone_rules"].set_index("rule").loc["14 UDB expansion multiple", "result"] == "pass"


def red_line_grid():
    a = with_red_line(base(), slice(0, 40), slice(0, 20))
    a["landuse"][2, 2:7] = 103                               # released from the red line (a removal with reason code C12)
    a["landuse"][6, 2:5] = 103                               # retained in the red line (< 5 mu)
    return a


def baseline_rules(a, baseline):
    out = run_model("zones", {**a, "redline_existing": baseline})
    return out["zone_rules"].set_index("rule"), out["zone_summary"].iloc[0]


def test_rule_21_red_line_area_against_its_baseline():
    a = red_line_grid()
    same = np.zeros((40, 40), np.uint8)
    same[:, :20] = 1
    rules, summary = baseline_rules(a, same)
    # the only loss is released cropland, a removal with a reason: warn (to be approved), nothing unexplained
    assert rules.loc["21 red-line area not decreasing", "result"] == "warn" and rules.loc["21 baseline kept share", "result"] == "pass"
    assert summary["red_line_removed_with_reason_m2"] == 5 * 900.0 and summary["red_line_baseline_kept_share"] == pytest.approx(795 / 800)
    bigger = same.copy()
    bigger[:, 20:22] = 1                                     # the baseline also held two columns the candidate drops without a reason
    rules, summary = baseline_rules(a, bigger)
    assert rules.loc["21 red-line area not decreasing", "result"] == "fail" and rules.loc["21 baseline kept share", "result"] == "warn"
    assert summary["red_line_removed_other_m2"] == 80 * 900.0
    smaller = same.copy()
    smaller[10:12, :] = 0                                    # the candidate adds two rows: area not decreasing
    rules, summary = baseline_rules(a, smaller)
    assert rules.loc["21 red-line area not decreasing", "result"] == "pass" and summary["red_line_added_m2"] == 40 * 900.0


def test_rule_22_cropland_inside_the_red_line_never_grows():
    a = red_line_grid()
    baseline = np.zeros((40, 40), np.uint8)
    baseline[:, :20] = 1
    rules, summary = baseline_rules(a, baseline)
    assert rules.loc["22 frozen human activity", "result"] == "pass" and summary["red_line_frozen_cropland_m2"] == 3 * 900.0
    baseline[2, 2:7] = baseline[6, 2:5] = 0                   # the baseline held no cropland; the candidate keeps the retained patch
    rules, _ = baseline_rules(a, baseline)
    assert rules.loc["22 frozen human activity", "result"] == "fail"
    out = run_model("zones", a)                               # no baseline: reported only
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["22 frozen human activity", "result"] == "pass" and rules.loc["22 frozen human activity", "measured"] == 3 * 900.0
    assert rules.loc["21 red-line area not decreasing", "threshold"].startswith("no baseline")


def test_three_zones_tile_the_grid_and_rule_23_reports_what_is_left_over():
    a = red_line_grid()
    a["landuse"][30:35, 30:35] = 701                         # a town: UDB → 城镇空间
    a["landuse"][20, 25:35] = 1003                           # a road with ordinary ECO outside every line: 其他
    a["eco_importance"][20, 25:35] = 3
    a["landuse"][25, 25:28] = 103                            # cropland outside the lines: 农业空间
    out = run_model("zones", a, params={"udb_min_patch_km2": 0.0})
    zones, lines = out["three_zones"], out["three_lines"]
    assert set(np.unique(zones)) == {1, 2, 3, 4}
    assert (zones[lines == 2] == 1).all() and (zones[lines == 1] == 2).all() and (zones[lines == 3] == 3).all()
    assert (zones[20, 25:35] == 4).all() and zones[0, 30] == 1   # ECO 2 forest outside the lines: 生态空间
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["23 三区 partition", "result"] == "warn" and rules.loc["23 三区 partition", "measured"] == 10 * 900.0
    assert rules.loc["23 lines inside their space", "result"] == "pass"
    summary = out["zone_summary"].iloc[0]
    total = summary[["space_ecological_m2", "space_agricultural_m2", "space_urban_m2", "space_other_m2"]].sum()
    assert total == pytest.approx(40 * 40 * 900.0)


def test_rule_23_fails_when_a_line_leaves_its_space_and_passes_a_full_tiling():
    row = {"admin": 1, "space_ecological_m2": 10.0, "space_agricultural_m2": 5.0, "space_urban_m2": 1.0, "space_other_m2": 0.0,
           "space_line_outside_m2": 900.0}
    results = {rule: ok for rule, _, _, _, _, ok, _ in Z.partition_rules(row)}
    assert results == {"23 三区 partition": True, "23 lines inside their space": False}
    # 10 × space + line: RL in 农业 (22) and PBF in 生态 (11) are outside; UDB in 城镇 (33) is inside
    spaces = pd.DataFrame({"zone": [1, 1, 1], "class": [22, 11, 33], "area_m2": [900.0, 900.0, 900.0]})
    assert Z.ledger_columns({"spaces": spaces}, 1, {})["space_line_outside_m2"] == 1800.0


def test_rule_13_balance_warns_when_removed_pbf_is_not_redesignated():
    a = with_red_line(base(), slice(0, 40), slice(0, 20))
    a["landuse"][2, 2:12] = 103
    pbf = np.zeros((40, 40), np.uint8)
    pbf[2, 2:12] = 1                                          # existing PBF inside a core zone: it exits (conflict 11)
    pa = np.zeros((40, 40), np.int32)
    pa[0:5, 0:20] = 1
    out = run_model("zones", {**a, "pbf": pbf, "pa_zone": pa})
    rules, summary = out["zone_rules"].set_index("rule"), out["zone_summary"].iloc[0]
    assert summary["pbf_removed_m2"] == 10 * 900.0 and summary["pbf_redesignated_m2"] == 0
    assert rules.loc["13 PBF balance (re-designated − removed)", "result"] == "warn"
    assert rules.loc["13 PBF ≥ protection task", "result"] == "fail"
    a["landuse"][30:32, 30:40] = 103                          # 20 cells of suitable cropland elsewhere in the county: 补划
    out = run_model("zones", {**a, "pbf": pbf, "pa_zone": pa})
    rules = out["zone_rules"].set_index("rule")
    assert rules.loc["13 PBF balance (re-designated − removed)", "result"] == "pass" and rules.loc["13 PBF ≥ protection task", "result"] == "pass"


def test_rule_18_is_pass_by_construction_on_the_analysis_grid():
    out = run_model("zones", red_line_grid())
    row = out["zone_rules"].set_index("rule").loc["18 boundary snapping (analysis grid)"]
    assert row["result"] == "pass" and "by construction" in row["source"]


@pytest.mark.parametrize("chunks", [(7, 9), (13, 4)])
def test_target_closing_baseline_and_three_zones_are_chunk_invariant(chunks):
    a = with_red_line(base(48), slice(0, 48), slice(0, 16))
    rng = np.random.default_rng(11)
    a["landuse"] = np.where(rng.random((48, 48)) < 0.35, 103, 301).astype(np.int32)
    a["landuse"][20:28, 24:31] = 701
    a["landuse"][20:28, 32:40] = 701                           # a one-column gap for the closing
    a["landuse"][40, 30:40] = 1003
    a["eco_importance"][40, 30:40] = 3
    a["urban_cond"] = np.where(rng.random((48, 48)) < 0.5, 2, 4).astype(np.uint8)
    a["agri_cond"] = rng.integers(1, 6, (48, 48)).astype(np.uint8)
    pbf = (rng.random((48, 48)) < 0.1).astype(np.uint8)
    baseline = np.zeros((48, 48), np.uint8)
    baseline[:, :18] = 1
    admin = np.where(np.arange(48)[None, :] < 24, 441301, 441302).repeat(48, axis=0).astype(np.int32)
    arrays = {**a, "pbf": pbf, "redline_existing": baseline, "admin": admin}
    params = {"cap": 1.2, "udb_min_patch_km2": 0.0, "pbf_target_mu": {441301: 150.0, 441302: 90.0}}
    eager = run_model("zones", arrays, params=params)
    assert eager["zone_summary"]["pbf_not_selected_m2"].sum() > 0 and eager["zone_summary"]["udb_closing_m2"].sum() >= 0
    lazy = run_model("zones", arrays, params=params, chunks=chunks)
    for name, value in eager.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(lazy[name], value, err_msg=name)
        else:
            pd.testing.assert_frame_equal(lazy[name].reset_index(drop=True), value.reset_index(drop=True), check_exact=False, rtol=1e-12)
