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
