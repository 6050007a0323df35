"""Agricultural production suitability (methods.md §4; §11 T5–T10b, T23, T24) and spj bug §12.3 item 1."""
import numpy as np
import pytest

from models import MODELS
from models.agriculture import factors as F
from models.agriculture import suitability as A
from models._tables import table
from tests.helpers import run_model

T = table("agriculture")
FM, PM = T["farming_matrix"]["matrix"], T["production_matrix"]["matrix"]


def test_t5_water_by_precipitation():
    out = run_model("agri_water", {"precip": np.array([900.0, 1200.0, 199.9])})
    assert out["agri_water"].ravel().tolist() == [2, 1, 5]


def test_water_by_aridity_and_quota_modulus():
    aridity = run_model("agri_water", {"pet": np.array([500.0, 510.0, 3000.0, 8000.0]), "precip": np.array([1000.0] * 4)}, params={"method": "aridity"})
    assert aridity["agri_water"].ravel().tolist() == [1, 2, 3, 5]  # 0.5 → 1 (upper-inclusive), 0.51 → 2, 3.0 → 3, 8 → 5
    modulus = run_model("agri_water", {"water_quota_modulus": np.array([250000.0, 249999.0, 30000.0, 29999.0])}, params={"method": "quota_modulus"})
    assert modulus["agri_water"].ravel().tolist() == [1, 2, 4, 5]


def test_t6_heat_and_no_lapse_rate_on_the_annual_sum():
    out = run_model("agri_heat", {"at0": np.array([4500.0, 7600.0, 1499.0])})
    assert out["agri_heat"].ravel().tolist() == [3, 1, 5]
    # §12.3 item 3: no elevation correction of the annual sum — the model does not even read a DEM
    assert set(MODELS["agri_heat"].SPEC.inputs) == {"at0"}


@pytest.mark.parametrize("land, water, heat, farm, cond", [(2, 3, 3, 2, 2), (3, 4, 2, 4, 4)])
def test_t7_t8_matrices(land, water, heat, farm, cond):
    f, c, _ = A.production_condition(np.array([land]), np.array([water]), np.array([heat]), None, None, None, FM, PM)
    assert (f[0], c[0]) == (farm, cond)


def test_t9_corrections_are_chained():
    """T7 + soil_env 中 + 盐渍化 极敏感 + met-hazard 4: 2 → 3 → 4 → 4 (spj kept only the last correction: §12.3 item 1)."""
    _, cond, limit = A.production_condition(np.array([2]), np.array([3]), np.array([3]), np.array([3]), np.array([3]), np.array([4]), FM, PM)
    assert cond[0] == 4
    assert A.LIMIT_MEANINGS[limit[0] - 1][1] == "salinization extreme (down 1)"
    suit, _ = A.suitability(cond, limit, None, None, np.array([5.0]), np.array([3]), np.array([3]), None, None, None,
                            matrix=T["suitability_matrix"]["matrix"], mapping=T["condition_to_suitability"]["map"], binary=False,
                            screening=False, strict_salinity=False, slope_max=25, mask_eco=False)
    assert suit[0] == 2  # Option C: 一般适宜


def test_soil_environment_low_forces_grade_5_and_met_hazard_high_downgrades():
    _, cond, limit = A.production_condition(np.array([1, 1]), np.array([1, 1]), np.array([1, 1]), np.array([5, 1]), None, np.array([3, 1]), FM, PM)
    assert cond.tolist() == [5, 2]
    assert [A.LIMIT_MEANINGS[k - 1][1] for k in limit] == ["soil environment low (set to 5)", "meteorological hazard high (down 1)"]


def test_t10_gb15618():
    ph, paddy = np.array([6.0, 6.0, 6.0]), np.array([1, 1, 0])
    gb = table("soil_gb15618")
    cls = F.soil_pollution_class(np.array([0.5, 2.5, 0.35]), ph, paddy, "cd", gb["screening"], gb["intervention"])
    assert cls.tolist() == [3, 5, 3]  # T10, T10b; 其他 land at pH 6: screening 0.3
    # 水旱轮作 (column 2): the stricter of 水田 and 其他 (§0.3 item 12); pH boundaries upper-inclusive
    assert F.soil_pollution_class(np.array([0.35]), np.array([6.0]), np.array([2]), "cd", gb["screening"], gb["intervention"]).tolist() == [3]
    assert F.soil_pollution_class(np.array([0.3, 0.35]), np.array([5.5, 5.51]), np.array([1, 1]), "cd", gb["screening"], gb["intervention"]).tolist() == [1, 1]
    # Cu has no intervention value: above screening is 3 at most; orchards use the 果园 column
    assert F.soil_pollution_class(np.array([500.0, 120.0]), np.array([7.0, 7.0]), np.array([0, 3]), "cu", gb["screening"], gb["intervention"]).tolist() == [3, 1]


def test_soil_env_model_takes_the_worst_pollutant():
    out = run_model("soil_env", {"soil_ph": np.array([6.0, 6.0]), "soil_cd": np.array([0.2, 0.2]), "soil_pb": np.array([50.0, 600.0]),
                                 "landuse": np.array([101, 103], np.int32)})
    assert out["soil_env"].ravel().tolist() == [1, 5]


def test_met_hazard_frequency_grades_and_composite():
    assert F.hazard_grade(np.array([0.2, 0.21, 0.8, 0.81])).tolist() == [5, 4, 2, 1]
    assert F.composite_class(np.array([1.0, 1.79, 1.8, 4.2, 5.0])).tolist() == [1, 1, 2, 5, 5]
    # missing hazards weigh 0 and the rest are renormalised
    out = run_model("met_hazard", {"freq_rainstorm": np.array([0.9]), "freq_cold": np.array([0.1])})
    w = np.array([0.2, 0.25]) / 0.45
    assert out["met_hazard"][0, 0] == F.composite_class(np.array([w[0] * 1 + w[1] * 5]))[0]


def test_t23_contiguity_matrix():
    conc = A.contiguity_class(np.array([500.0, 450.0]), np.array([False, True]))
    assert conc.tolist() == [3, 1]
    suit, _ = A.suitability(np.array([2, 1]), np.array([1, 1]), conc, None, np.zeros(2), np.array([1, 1]), np.array([1, 1]), None, None, None,
                            matrix=T["suitability_matrix"]["matrix"], mapping=T["condition_to_suitability"]["map"], binary=False,
                            screening=False, strict_salinity=False, slope_max=25, mask_eco=False)
    assert suit.tolist() == [2, 1]  # 一般适宜 / 适宜


def _agri_suit(guideline, eco, slope=5.0, water=1):
    n = len(eco)
    arrays = {"agri_land": np.full(n, 1, np.uint8), "agri_water": np.full(n, water, np.uint8), "agri_heat": np.full(n, 1, np.uint8),
              "eco_importance": np.array(eco, np.uint8), "slope": np.full(n, slope)}
    return run_model("agri_suit", arrays, guideline=guideline)


def test_t24_2020_masking_and_2019_evaluates_everywhere():
    assert _agri_suit("2020trial", [1, 2, 3])["agri_suit"].ravel().tolist() == [9, 1, 1]
    assert _agri_suit("2019draft", [1, 2, 3])["agri_suit"].ravel().tolist() == [1, 1, 1]


def test_2020_negative_screening_with_the_rule_named():
    out = _agri_suit("2020trial", [2], slope=26.0)
    assert out["agri_suit"][0, 0] == 3 and A.LIMIT_MEANINGS[out["agri_limit"][0, 0] - 1][1] == "slope > 25° (2020)"
    out = _agri_suit("2020trial", [2], water=5)
    assert out["agri_suit"][0, 0] == 3


def test_the_2020_mode_needs_eco_importance():
    from evaluate.modelspec import PlanError

    with pytest.raises(PlanError, match="eco_importance"):
        MODELS.plan(["agri_suit"], {"dem", "soil_silt", "precip", "at0"}, "2020trial")
    plan = MODELS.plan(["agri_suit"], {"dem", "soil_silt", "precip", "at0"}, "2019draft")
    assert "eco_importance" not in plan.order
