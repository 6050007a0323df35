"""Urban construction suitability (methods.md §5; §11 T11–T14, T29; §0.3 items 2–3) and spj bug §12.3 item 8."""
import numpy as np
import pytest

from models.urban import factors as F
from models.urban import suitability as U
from models._tables import table
from tests.helpers import run_model

M = table("urban")["construction_matrix"]["matrix"]


def test_t11_urban_land():
    out = run_model("urban_land", {"slope": np.array([10.0, 2.0, 2.0]), "dem": np.array([3600.0, 100.0, 5200.0]), "relief": np.array([150.0, 50.0, 10.0])})
    assert out["urban_land"].ravel().tolist() == [5, 1, 5]  # 3 + 1 + 1; T11b


def test_t12_matrix():
    cond, _ = U.construction_condition(np.array([1, 3]), np.array([5, 4]), None, None, None, None, None, None, M)
    assert cond.tolist() == [3, 3]


def test_t13_full_chain():
    # slope 5°, dem 200, relief 80 → land 2; modulus 100 000 → water 3; faults grade 5 + PGA 0.30 g (class 2) → SEIS 4;
    # landslide 3; subsidence 900 mm (2) and 7 mm/a (4) → GEOHAZ 2; calm 12 % (3), wind 2.5 (3) → AIR 3; water-env 3;
    # THI(25 °C, 0.7) → 2; travel 15 min → 1
    land = run_model("urban_land", {"slope": np.array([5.0]), "dem": np.array([200.0]), "relief": np.array([80.0])})["urban_land"]
    water = run_model("urban_water", {"water_modulus": np.array([100000.0])})["urban_water"]
    geo = run_model("geohazard", {"fault_distance": np.array([5000.0]), "pga": np.array([0.30]), "landslide": np.array([3], np.uint8),
                                  "subsidence_cum": np.array([900.0]), "subsidence_rate": np.array([7.0])})["geohazard"]
    air = run_model("air_env", {"calm_share": np.array([12.0]), "wind_mean": np.array([2.5])})["air_env"]
    location = run_model("location", {"travel_time": np.array([15.0])})["location"]
    assert (land[0, 0], water[0, 0], geo[0, 0], air[0, 0], location[0, 0]) == (2, 3, 2, 3, 1)
    assert F.thi_class(F.thi(25.0, 0.7)) == 2
    out = run_model("urban_suit", {"urban_land": land, "urban_water": water, "geohazard": geo, "air_env": air, "water_env": np.array([[3]], np.uint8),
                                   "comfort": np.array([[2]], np.uint8), "location": location}, guideline="2019draft")
    assert out["urban_cond"][0, 0] == 3 and out["urban_suit"][0, 0] == 2
    assert U.LIMIT_MEANINGS[out["urban_limit"][0, 0] - 1][1] == "location good (up 1)"


def test_t14_thi():
    values = F.thi(np.array([25.0, 20.0, 30.0, 0.0]), np.array([0.7, 0.6, 0.8, 0.5]))
    assert values == pytest.approx([73.865, 65.8, 82.92, 39.15], abs=1e-3)
    assert F.thi_class(values).tolist() == [2, 1, 4, 4]
    assert F.thi_class(np.array([50.0, 70.0, 70.01, 45.0, 44.99, 85.0, 85.01, 34.99])).tolist() == [1, 1, 2, 2, 3, 4, 5, 5]


def test_comfort_mode_ties_go_to_the_worse_class():
    classes = np.array([1] * 6 + [3] * 6)[:, None]
    assert F.annual_comfort(classes).tolist() == [3]
    assert F.annual_comfort(np.array([1] * 7 + [3] * 5)[:, None]).tolist() == [1]


def test_t29_geohazard_extreme_forces_5_and_spj_label_bug():
    cond, limit = U.construction_condition(np.array([1]), np.array([1]), np.array([1]), None, None, None, None, None, M)
    assert cond[0] == 5 and U.LIMIT_MEANINGS[limit[0] - 1][1] == "geohazard extremely high (set to 5)"
    # §12.3 item 8: code 5 maps to 不适宜 (3), not 一般适宜
    assert table("urban")["condition_to_suitability"]["map"][4] == 3


def test_subsidence_and_fault_inequalities_of_the_clarifications():
    t_cum, t_rate = table("urban")["subsidence_cumulative_mm"]["thresholds"], table("urban")["subsidence_rate_mm_a"]["thresholds"]
    assert F.subsidence_grade(np.array([99.9, 100, 199.9, 200, 799.9, 800, 1600, 1600.1]), t_cum).tolist() == [5, 4, 4, 3, 3, 2, 2, 1]
    assert F.subsidence_grade(np.array([4.9, 5, 10, 30, 50, 50.1]), t_rate).tolist() == [5, 4, 3, 2, 2, 1]
    t_fault = table("urban")["fault_distance_grade"]["thresholds_m"]
    assert F.fault_grade(np.array([100, 100.1, 200, 400, 1000, 1000.1]), t_fault).tolist() == [1, 2, 2, 3, 4, 5]


def test_environment_penalties_and_location_rules_chain():
    cond, _ = U.construction_condition(np.array([1, 1, 1]), np.array([1, 1, 1]), None, None, np.array([5, 5, 1]), np.array([5, 1, 1]),
                                       np.array([5, 1, 1]), np.array([5, 4, 1]), M)
    # both env 5 (+2) + comfort 5 (+1) + location 5 (+2) → 5; one env (+1) + location 4 (+1) → 3; location 1 with URB 1 → stays 1
    assert cond.tolist() == [5, 3, 1]


def test_2020_screening_and_masking():
    base = {"urban_land": np.array([1, 1, 1, 1], np.uint8), "urban_water": np.array([1, 1, 1, 5], np.uint8),
            "eco_importance": np.array([1, 2, 2, 2], np.uint8), "slope": np.array([5.0, 26.0, 5.0, 5.0]), "dem": np.array([10.0, 10.0, 5100.0, 10.0])}
    out = run_model("urban_suit", base)
    assert out["urban_suit"].ravel().tolist() == [9, 3, 3, 3]


def test_location_from_road_speeds():
    # a centre at the west end of a highway row: 80 km/h over 30 m cells
    road = np.zeros((3, 40), np.int16)
    road[1, :] = 1
    centres = np.zeros((3, 40), np.uint8)
    centres[1, 0] = 1
    out = run_model("location", {"road_class": road, "centres": centres})
    assert out["location"][1, 39] == 1 and out["location"][0, 0] == 1
