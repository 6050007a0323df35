"""Sensitivities (methods.md §3.7; §11 T15, T15b, T30), integration (§3.8; T22) and spj bugs §12.3 items 2, 5, 6."""
import numpy as np
import pytest

from models.ecology import importance as I
from models.ecology import sensitivity as Sen
from tests.helpers import run_model

LOAM, CLAY, SILT, SANDY_LOAM, SAND = 9, 12, 7, 8, 2


def test_t15_erosion_sensitivity():
    # R 700 (5), 壤土 (3), relief 100 m (3), FVC 0.5 (3) → (5·3·3·3)^¼ = 3.409 → SEN 2
    out = run_model("eco_sens_erosion", {"r_factor": np.array([700.0]), "soil_texture": np.array([LOAM], np.int16),
                                         "relief": np.array([100.0]), "fvc": np.array([0.5])})
    assert out["eco_sens_index_erosion"][0, 0] == pytest.approx(3.409, abs=5e-4)
    assert out["eco_sens_erosion"][0, 0] == 2


@pytest.mark.parametrize("r, relief, fvc, scores", [
    (99.99, 50.0, 0.6, (1, 1, 1)), (100.0, 50.01, 0.5999, (3, 3, 3)), (600.0, 300.0, 0.2001, (3, 3, 3)), (600.01, 300.01, 0.2, (5, 5, 5)),
])
def test_sensitivity_factor_boundaries_as_the_tables_state_them(r, relief, fvc, scores):
    got = tuple(int(run_model_score(key, v)) for key, v in (("erosion_r", r), ("erosion_relief_m", relief), ("fvc", fvc)))
    assert got == scores


def run_model_score(key, value):
    from tests.helpers import raster_of
    return Sen.score(raster_of(np.array([value])), key).values[0, 0]


def test_t15b_index_boundaries_and_spj_breaks():
    out = run_model("eco_sens_rocky", {"karst_pct": np.array([20.0, 50.0, 75.0]), "slope": np.array([5.0, 10.0, 30.0]),
                                       "fvc": np.array([0.7, 0.5, 0.1])})
    # scores (1,1,1) → 1; (3,3,3) → 3 → 2; T30 (5,5,5) → 5 → 3
    assert out["eco_sens_rocky"].ravel().tolist() == [1, 2, 3]
    assert out["eco_sens_index_rocky"].ravel().tolist() == pytest.approx([1.0, 3.0, 5.0])
    # 3-factor (1,3,3): 2.080 → 敏感 under 2017 breaks (the (2.0, 2.1) gap), 一般 under spj's 2.33
    two = run_model("eco_sens_rocky", {"karst_pct": np.array([20.0]), "slope": np.array([10.0]), "fvc": np.array([0.5])})
    spj = run_model("eco_sens_rocky", {"karst_pct": np.array([20.0]), "slope": np.array([10.0]), "fvc": np.array([0.5])}, params={"breaks": "spj"})
    assert two["eco_sens_index_rocky"][0, 0] == pytest.approx(2.080, abs=5e-4)
    assert two["eco_sens_rocky"][0, 0] == 2 and spj["eco_sens_rocky"][0, 0] == 1


def test_t30_rocky_desertification_and_non_karst_is_class_1():
    out = run_model("eco_sens_rocky", {"karst_pct": np.array([75.0, 0.0]), "slope": np.array([30.0, 30.0]), "fvc": np.array([0.1, 0.1])})
    assert out["eco_sens_rocky"].ravel().tolist() == [3, 1]


def test_desertification_uses_the_aridity_of_the_warm_period_not_rain_days():
    """§12.3 item 5: the factor is the aridity index I (a layer computed from T ≥ 10 °C days), graded 1.5 / 16."""
    out = run_model("eco_sens_desert", {"aridity_i10": np.array([1.5, 1.51, 16.0]), "sand_wind_days": np.array([5.0, 5.0, 5.0]),
                                        "soil_texture": np.array([CLAY, CLAY, CLAY], np.int16), "fvc": np.array([0.9, 0.9, 0.9])})
    # scores I = 1, 3, 5 with three 1s → (I)^¼
    assert out["eco_sens_index_desert"].ravel() == pytest.approx([1.0, 3 ** 0.25, 5 ** 0.25], abs=1e-6)


def test_salinization_groundwater_depth_is_inverted():
    out = run_model("eco_sens_salin", {"evap_ratio": np.array([20.0, 20.0]), "gw_tds": np.array([30.0, 30.0]), "gw_depth": np.array([0.5, 6.0]),
                                       "soil_texture": np.array([SANDY_LOAM, SANDY_LOAM], np.int16)})
    assert out["eco_sens_index_salin"].ravel() == pytest.approx([5.0, 5 ** 0.75], abs=1e-6)


@pytest.mark.parametrize("sand, silt, clay, usda", [
    (92, 5, 3, "sand"), (82, 12, 6, "loamy_sand"), (65, 25, 10, "sandy_loam"), (40, 40, 20, "loam"), (20, 65, 15, "silt_loam"),
    (5, 88, 7, "silt"), (60, 12, 28, "sandy_clay_loam"), (33, 34, 33, "clay_loam"), (10, 55, 35, "silty_clay_loam"),
    (50, 5, 45, "sandy_clay"), (5, 45, 50, "silty_clay"), (20, 20, 60, "clay"),
])
def test_usda_texture_triangle_classes(sand, silt, clay, usda):
    """The USDA triangle's class centres (not spj's swapped sand/clay windows, §12.3 item 6)."""
    assert Sen.USDA_CLASSES[int(Sen.usda_texture(np.array([sand]), np.array([silt]), np.array([clay]))[0])] == usda


def test_integration_is_the_min_rule_not_spj_max_of_codes():
    """§3.8.1 and §12.3 item 2: the most important class wins; 极敏感 makes 极重要."""
    eco, which = I.initial_importance([np.array([3, 2, 3, 0])], [np.array([1, 1, 3, 1])])
    assert eco.tolist() == [3, 2, 1, 0] and which.tolist() == [1, 1, 2, 0]
    eco, _ = I.initial_importance([np.array([1, 3]), np.array([3, 2])], [])
    assert eco.tolist() == [1, 2]  # spj's max of codes would give 3, 3
    assert I.sens_to_eco(np.array([3, 2, 1, 0])).tolist() == [1, 2, 3, 0]


def test_t22_patch_concentration_classes_and_matrix():
    assert I.concentration_class(np.array([0.3, 0.25, 0.2499, 2.0, 1.99])).tolist() == [4, 4, 5, 1, 2]
    matrix = np.array(I._PATCH["matrix"])
    assert matrix[0, 4 - 1] == 2  # 高 × 较低 → 重要


def _importance(eco_wc, guideline, **extra):
    rows, cols = eco_wc.shape
    arrays = {"eco_service_wc": eco_wc.astype(np.uint8), **extra}
    return run_model("eco_importance", arrays, guideline=guideline)


def test_2019_patch_matrix_on_a_grid():
    # 30 m cells: 0.3 km² ≈ 333 cells; a 18×18 patch = 0.2916 km² (较低) of 极重要 → 重要 (T22); a 40×40 (1.44 km², 较高) stays 极重要
    eco = np.full((60, 110), 3, np.uint8)
    eco[5:23, 5:23] = 1
    eco[5:45, 50:90] = 1
    out = _importance(eco, "2019draft")["eco_importance"]
    assert out[10, 10] == 2 and out[20, 60] == 1 and out[55, 100] == 3


def test_2020_small_patches_become_important_unless_must_include_and_holes_are_filled():
    eco = np.full((60, 110), 3, np.uint8)
    eco[5:9, 5:9] = 1                 # 16 cells = 0.0144 km² < 0.1
    eco[5:9, 20:24] = 1               # same, but inside a must-include mask
    eco[20:50, 40:90] = 1             # 1.35 km² with a 2×2 hole
    eco[30:32, 60:62] = 2
    must = np.zeros_like(eco)
    must[5:9, 20:24] = 1
    out = _importance(eco, "2020trial", must_include=must)
    assert out["eco_importance"][6, 6] == 2 and out["eco_importance"][6, 21] == 1
    assert out["eco_importance"][30, 60] == 1 and out["eco_importance"][25, 60] == 1
    source = out["eco_importance_source"]
    assert I.SOURCE_MEANINGS[source[6, 6] - 1][1] == "small patch downgraded"
    assert I.SOURCE_MEANINGS[source[30, 60] - 1][1] == "hole filled"


def test_coastal_erosion_weighted_sum_and_erosion_rate_by_coast_type():
    # landform codes: 1 bedrock (1), 3 sandy (5), 4 silty-muddy (5); set-up 1.5/3.0 m and wave 0.4/1.0 m, lower-inclusive
    landform = np.array([[1, 3, 3, 4, 4, 0]], np.int16)
    setup = np.array([[1.49, 1.5, 3.0, 1.0, 1.0, 2.0]])
    wave = np.array([[0.39, 0.4, 1.0, 0.1, 0.1, 0.5]])
    out = run_model("eco_sens_coast", {"coast_landform": landform, "storm_setup": setup, "wave_height": wave})
    # 0.2·1 + 0.4·1 + 0.4·1 = 1 ; 0.2·5 + 0.4·3 + 0.4·3 = 3.4 ; 0.2·5 + 0.4·5 + 0.4·5 = 5 ; 0.2·5 + 0.8 = 1.8 ; no coast type → nodata
    assert out["eco_sens_index_coast"][0, :5] == pytest.approx([1.0, 3.4, 5.0, 1.8, 1.8])
    assert np.isnan(out["eco_sens_index_coast"][0, 5])
    assert out["eco_sens_coast"].ravel().tolist() == [1, 2, 3, 1, 1, 0]
    # a retreat of 1.5 m/a is 极敏感 on a sandy coast (≥ 2.0? no: [0.5, 2) → 3 → 敏感) and 敏感 on a muddy one ([1, 10) → 3)
    rate = np.array([[0.1, 0.1, 0.1, 1.5, 12.0, 1.0]])
    out = run_model("eco_sens_coast", {"coast_landform": landform, "storm_setup": setup, "wave_height": wave, "coast_erosion_rate": rate})
    assert out["eco_sens_coast"].ravel().tolist() == [1, 2, 3, 2, 3, 0]


def test_coastal_sensitivity_enters_the_integration_with_its_own_source_code():
    out = run_model("eco_importance", {"eco_service_wc": np.array([[3, 3]], np.uint8), "eco_sens_coast": np.array([[3, 1]], np.uint8)},
                    params={"min_patch_km2": 0.0})
    assert out["eco_importance"].ravel().tolist() == [1, 3]
    assert [I.SOURCE_MEANINGS[c - 1][1] for c in out["eco_importance_source"].ravel()] == ["sensitivity coast", "service wc"]
