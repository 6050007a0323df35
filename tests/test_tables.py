"""Every guideline table in models/tables/*.yaml against the numbers of methods.md §3–5 (a corrupted table fails here)."""
import pytest

from models import MODELS
from models._tables import TABLES, table

A, U, E, G = table("agriculture"), table("urban"), table("ecology"), table("soil_gb15618")


def test_every_table_entry_cites_its_source():
    for path in TABLES.glob("*.yaml"):
        data = table(path.stem)
        entries = [data] if "source" in data else [v for v in data.values() if isinstance(v, dict)]
        for entry in entries:
            assert entry.get("source"), f"{path.name}: an entry without a source"


def test_agriculture_tables():
    assert A["land_slope_grade"]["thresholds_deg"] == [2, 6, 15, 25]
    assert A["land_silt_correction"]["thresholds_pct"] == [60, 80] and A["land_silt_correction"]["downgrade_steps"] == [0, 1, 4]
    assert A["water_precip_grade"]["thresholds_mm"] == [1200, 800, 400, 200]
    assert A["water_aridity_grade"]["thresholds"] == [0.5, 1.0, 3.0, 7.0]
    assert A["water_quota_modulus_grade"]["thresholds_m3_per_km2"] == [250000, 130000, 80000, 30000]
    assert A["heat_at0_grade"]["thresholds_degc_d"] == [7600, 5800, 4000, 1500]
    assert A["farming_matrix"]["matrix"] == [[1, 1, 1, 2, 5], [1, 1, 2, 3, 5], [2, 2, 3, 4, 5], [3, 4, 4, 5, 5], [5, 5, 5, 5, 5]]
    assert A["production_matrix"]["matrix"] == [[1, 1, 1, 2, 5], [1, 2, 2, 3, 5], [2, 2, 3, 4, 5], [3, 4, 4, 5, 5], [5, 5, 5, 5, 5]]
    assert A["suitability_matrix"]["matrix"] == [[1, 1, 1, 2, 3], [1, 1, 2, 2, 3], [2, 2, 2, 2, 3], [2, 2, 2, 2, 3], [3, 3, 3, 3, 3]]
    assert A["contiguity_mu"]["plain"] == [900, 600, 400, 150] and A["contiguity_mu"]["hilly"] == [400, 250, 150, 80]
    assert A["met_hazard_weights"]["weights"] == {"rainstorm": 0.2, "heat": 0.1, "cold": 0.25, "gale": 0.15, "drought": 0.3}
    assert A["met_hazard_frequency_grade"]["thresholds"] == [0.2, 0.4, 0.6, 0.8]
    assert A["met_hazard_composite_classes"]["thresholds"] == [1.8, 2.6, 3.4, 4.2]
    assert A["condition_to_suitability"]["map"] == [1, 1, 2, 2, 3]


def test_urban_tables():
    assert U["land_slope_grade"]["thresholds_deg"] == [3, 8, 15, 25]
    assert U["land_elevation_correction"]["thresholds_m"] == [3500, 5000]
    assert U["land_relief_correction"]["thresholds_m"] == [100, 200] and U["land_relief_correction"]["steps"] == [0, 1, 2]
    assert U["water_modulus_grade"]["county"] == [250000, 130000, 80000, 30000]
    assert U["water_modulus_grade"]["province"] == [500000, 200000, 100000, 50000]
    assert U["construction_matrix"]["matrix"] == [[1, 1, 1, 2, 3], [1, 1, 2, 2, 3], [2, 2, 3, 3, 4], [3, 4, 4, 5, 5], [5, 5, 5, 5, 5]]
    assert U["fault_distance_grade"]["thresholds_m"] == [100, 200, 400, 1000]
    assert U["subsidence_cumulative_mm"]["thresholds"] == [100, 200, 800, 1600]
    assert U["subsidence_rate_mm_a"]["thresholds"] == [5, 10, 30, 50]
    assert U["storm_surge_grade"]["thresholds"] == [7.0, 3.5, 2.0]
    assert U["air_calm_share_pct"]["thresholds"] == [5, 10, 20, 30] and U["air_mean_wind_m_s"]["thresholds"] == [5, 3, 2, 1]
    assert U["water_env_capacity"]["thresholds"] == [5000, 3000, 200, 20]
    assert U["comfort_thi"]["bands"] == [[50, 70], [45, 75], [40, 80], [35, 85]]
    assert U["location_travel_min"]["county"] == [20, 40, 60, 90] and U["location_travel_min"]["province"] == [60, 120, 210, 300]
    assert U["composite_advantage_matrix"]["matrix"] == [[1, 1, 2, 3, 3], [1, 1, 2, 3, 4], [2, 2, 3, 3, 5], [2, 3, 4, 4, 5], [3, 3, 4, 5, 5]]
    assert U["pga_correction"]["upgrade_by_class"] == [2, 1, 0, 0]
    assert U["negative_screening_2020"] == {**U["negative_screening_2020"], "slope_max_deg": 25, "elev_limit_m": 5000}


def test_ecology_tables():
    alpha = {v[0]: v[2] for v in E["ecosystem_types"]["codes"].values()}
    assert alpha == {**alpha, "常绿阔叶林": 0.0267, "常绿针叶林": 0.0302, "针阔混交林": 0.0229, "落叶阔叶林": 0.0133, "落叶针叶林": 0.0088,
                     "稀疏林": 0.1920, "常绿阔叶灌丛": 0.0426, "落叶阔叶灌丛": 0.0417, "针叶灌丛": 0.0417, "稀疏灌丛": 0.1920, "草甸": 0.0820,
                     "草原": 0.0478, "草丛": 0.0937, "稀疏草地": 0.1827}
    c = E["c_factor"]["by_group"]
    assert c["forest"] == [0.10, 0.08, 0.06, 0.02, 0.004, 0.001]
    assert c["shrub"] == [0.40, 0.22, 0.14, 0.085, 0.040, 0.011]
    assert c["grass"] == [0.45, 0.24, 0.15, 0.09, 0.043, 0.011]
    assert c["tree_orchard"] == [0.42, 0.23, 0.14, 0.089, 0.042, 0.011]
    assert c["shrub_orchard"] == [0.40, 0.22, 0.14, 0.087, 0.042, 0.011]
    assert E["c_factor"]["fvc_breaks"] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert E["rweq_vegetation"]["a"] == {"forest": 0.1535, "grass": 0.1151, "shrub": 0.0921, "bare": 0.0768, "sand": 0.0658, "cropland": 0.0438}
    assert (E["rweq_constants"]["qmax_coef"], E["rweq_constants"]["s_coef"], E["rweq_constants"]["s_exp"], E["rweq_constants"]["z_m"]) == (109.8, 150.71, -0.3711, 50)
    assert E["sensitivity_breaks"]["2017"] == [2.0, 4.0] and E["sensitivity_breaks"]["spj"] == [2.33, 3.66]
    f = E["sensitivity_factors"]
    assert f["erosion_r"] == [[None, 100, 1, "neither"], [100, 600, 3, "both"], [600, None, 5, "neither"]]
    assert [row[:3] for row in f["fvc"]] == [[None, 0.2, 5], [0.2, 0.6, 3], [0.6, None, 1]]
    assert [r[1] for r in f["desert_aridity"][:2]] == [1.5, 16] and [r[1] for r in f["desert_wind_days"][:2]] == [10, 30]
    assert [r[1] for r in f["rocky_carbonate_pct"][:2]] == [30, 70] and [r[1] for r in f["rocky_slope_deg"][:2]] == [8, 25]
    assert [r[1] for r in f["salin_evap_ratio"][:2]] == [3, 15] and [r[1] for r in f["salin_tds_g_l"][:2]] == [5, 25]
    assert [r[1:3] for r in f["salin_gw_depth_m"]] == [[1, 5], [5, 3], [None, 1]]
    assert E["patch_concentration_2019"]["area_km2"] == [2.0, 1.0, 0.5, 0.25]
    assert E["patch_concentration_2019"]["matrix"] == [[1, 1, 1, 2, 3], [1, 1, 1, 2, 3], [2, 2, 2, 2, 3], [2, 2, 2, 3, 3], [3, 3, 3, 3, 3]]
    assert E["screening_2020"]["very_important"] == {"slope_deg": 25, "fvc": 0.8}
    assert E["cumulative_share"]["fractions"] == [0.5, 0.8]


def test_gb15618_tables():
    s, i = G["screening"], G["intervention"]
    assert G["ph_breaks"] == [5.5, 6.5, 7.5]
    assert s["paddy"]["cd"] == [0.3, 0.4, 0.6, 0.8] and s["other"]["cd"] == [0.3, 0.3, 0.3, 0.6]
    assert s["paddy"]["hg"] == [0.5, 0.5, 0.6, 1.0] and s["other"]["hg"] == [1.3, 1.8, 2.4, 3.4]
    assert s["paddy"]["as"] == [30, 30, 25, 20] and s["other"]["as"] == [40, 40, 30, 25]
    assert s["paddy"]["pb"] == [80, 100, 140, 240] and s["other"]["pb"] == [70, 90, 120, 170]
    assert s["paddy"]["cr"] == [250, 250, 300, 350] and s["other"]["cr"] == [150, 150, 200, 250]
    assert s["other"]["cu"] == [50, 50, 100, 100] and s["orchard_cu"] == [150, 150, 200, 200]
    assert s["other"]["ni"] == [60, 70, 100, 190] and s["other"]["zn"] == [200, 200, 250, 300]
    assert i == {"cd": [1.5, 2.0, 3.0, 4.0], "hg": [2.0, 2.5, 4.0, 6.0], "as": [200, 150, 120, 100], "pb": [400, 500, 700, 1000],
                 "cr": [800, 850, 1000, 1300]}


def test_model_defaults_come_from_the_tables():
    """The parameters models use are the table values, not copies."""
    p = {k: v["value"] for k, v in MODELS["agri_suit"].SPEC.resolve({}).items()}
    assert p["farming_matrix"] == A["farming_matrix"]["matrix"] and p["production_matrix"] == A["production_matrix"]["matrix"]
    p = {k: v["value"] for k, v in MODELS["urban_suit"].SPEC.resolve({}).items()}
    assert p["construction_matrix"] == U["construction_matrix"]["matrix"]


def test_a_matrix_override_per_region_is_checked():
    override = [[1, 1, 1, 2, 5], [1, 1, 1, 3, 5], [2, 2, 3, 4, 5], [3, 4, 4, 5, 5], [5, 5, 5, 5, 5]]
    resolved = MODELS["agri_suit"].SPEC.resolve({"farming_matrix": override})
    assert resolved["farming_matrix"] == {"value": override, "from": "config", "default_source": A["farming_matrix"]["source"]}
    with pytest.raises(ValueError, match="5 × 5 matrix"):
        MODELS["agri_suit"].SPEC.resolve({"farming_matrix": override[:4]})
    with pytest.raises(ValueError, match=r"integer class codes in \[1, 2, 3, 4, 5\], got 7"):
        MODELS["agri_suit"].SPEC.resolve({"farming_matrix": [row[:4] + [7] for row in override]})
