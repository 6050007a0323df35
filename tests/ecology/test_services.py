"""Ecosystem services (methods.md §3.1–3.6; §11 T16–T21) and the spj bugs of §12.3 items 4 and 7."""
import numpy as np
import pytest

from models import MODELS
from models.ecology import services as S
from models.derived import rainfall_erosivity_daily, rainfall_erosivity_monthly
from tests.helpers import run_model


def test_t17_water_balance_depth_and_volume_per_cell():
    # P 1200 mm, 常绿阔叶林 α 0.0267, ET 700 mm → R 32.04 mm, WR 467.96 mm → 421.164 m³ per 30 m cell
    wr = S.water_balance(np.array([1200.0]), np.array([700.0]), np.array([0.0267]))
    assert wr[0] == pytest.approx(467.96, abs=1e-9)
    assert wr[0] * 1e-3 * 900 == pytest.approx(421.164, abs=1e-6)
    assert wr[0] * 1e-3 * 1e6 == pytest.approx(467960.0, abs=1e-3)  # m³/km²


def test_water_model_uses_the_alpha_table_and_leaves_cropland_and_negative_balance_at_zero():
    out = run_model("eco_water", {
        "precip": np.array([1200.0, 1200.0, 600.0, 1200.0]),
        "aet": np.array([700.0, 700.0, 700.0, np.nan]),
        "ecosys": np.array([1, 18, 1, 1], dtype=np.int16),  # forest, 旱地 (not evaluated), forest with P < ET, nodata ET
    })
    value = out["eco_service_value_wc"].ravel()
    assert value[0] == pytest.approx(467.96, rel=1e-6)
    assert value[1] == 0.0 and value[2] == 0.0 and np.isnan(value[3])
    assert out["eco_service_wc"].ravel().tolist()[:3] == [1, 3, 3] and out["eco_service_wc"].ravel()[3] == 0


def test_t18_rusle_terms():
    potential, actual, conserved = S.soil_conservation(4000.0, 0.03, 2.0, 0.02)
    assert (potential, actual, conserved) == pytest.approx((240.0, 4.8, 235.2))


def test_t20_k_epic_with_zhang_correction():
    # sand 40, silt 40, clay 20 %, OC 1.0 % → K_EPIC 0.29538, K 0.01824
    k = S.k_epic(np.array([40.0]), np.array([40.0]), np.array([20.0]), np.array([1.0]))[0]
    assert (k / 0.1317 + 0.01383) / 0.51575 == pytest.approx(0.29538, abs=5e-6)
    assert k == pytest.approx(0.01824, abs=5e-6)


def test_t21_rweq_soil_factors():
    assert S.erodible_fraction(60.0, 25.0, 15.0, 1.5, 0.0) == pytest.approx(0.4938, abs=5e-5)
    assert S.soil_crust_factor(15.0, 1.5) == pytest.approx(0.3949, abs=5e-5)
    # the full form keeps /100 and the CaCO3 term (spj omits both)
    assert S.erodible_fraction(60.0, 25.0, 15.0, 1.5, 2.0) == pytest.approx(0.4938 - 0.019, abs=5e-5)


def test_rweq_uses_150_71_and_2z_and_a_negative_vegetation_exponent():
    """§12.3 item 4: spj's +a exponent and (2 − z); the web code's 105.71."""
    x = 0.5
    qmax, s = 109.8 * x, 150.71 * x ** -0.3711
    z = 50.0
    assert S.sand_loss(x, z) == pytest.approx(2 * z / s**2 * qmax * np.exp(-((z / s) ** 2)), rel=1e-12)
    assert S.sand_loss(x, z) != pytest.approx(S.sand_loss(x, z, s_coef=105.71), rel=1e-3)
    assert S.vegetation_factor(0.1535, 50.0) == pytest.approx(np.exp(-7.675))
    assert S.vegetation_factor(0.1535, 50.0) < 1.0  # more cover, less erosion
    # sand fixed = potential − actual ≥ 0, larger under more cover
    base = np.array([0.5, 0.5])
    fixed = S.sand_loss(base, z) - S.sand_loss(base * S.vegetation_factor(0.1535, np.array([10.0, 60.0])), z)
    assert np.all(fixed > 0) and fixed[1] > fixed[0]


def test_roughness_factor_stays_at_most_one_and_never_overflows():
    dh = np.array([0.0, 1.0, 5.0, 30.0, 300.0])
    k = S.roughness_factor(dh, 100.0)
    assert k[0] == 1.0 and np.all(np.isfinite(k)) and np.all(k <= 1.0)
    assert np.all(np.diff(k) <= 0)  # rougher never erodes more


def test_c_factor_by_ecosystem_and_fvc_class_with_the_dryland_formula():
    rows = np.array(list(S._ECO["c_factor"]["by_group"].values()) + [[np.nan] * 6])
    groups = S._C_GROUPS
    forest, dry = groups.index("forest"), groups.index("dryland")
    fvc = np.array([0.05, 0.1, 0.29999, 0.3, 0.95, 1.0])
    c = S.c_factor(np.full(6, forest), fvc, rows, dry, S._ECO["c_factor"]["fvc_breaks"])
    assert c.tolist() == [0.10, 0.08, 0.08, 0.06, 0.001, 0.001]  # lower-inclusive classes (§0.3 item 9)
    assert S.c_factor(np.array([dry]), np.array([0.5]), rows, dry, (0.1,))[0] == pytest.approx(0.221 - 0.595 * np.log10(0.5))


def test_rainfall_erosivity_monthly_and_daily_forms():
    p = np.array([10.0, 20, 40, 80, 150, 250, 200, 220, 120, 60, 30, 20])
    annual = p.sum()
    expected = sum(1.735 * 10 ** (1.5 * np.log10(pi**2 / annual) - 0.08188) for pi in p) * 17.02
    assert rainfall_erosivity_monthly(p[:, None])[0] == pytest.approx(expected, rel=1e-12)
    # daily: erosive days only (≥ 12 mm), α by season, mean over the years
    days = np.array([5.0, 12.0, 30.0, 30.0])
    warm = np.array([True, True, True, False])
    r = rainfall_erosivity_daily(days[:, None], warm, years=2.0)[0]
    assert r == pytest.approx((0.3937 * (12**1.7265 + 30**1.7265) + 0.3101 * 30**1.7265) / 2)


def test_2020_screening_rule_for_soil_conservation():
    out = run_model("eco_soil", {
        "slope": np.array([26.0, 26.0, 16.0, 10.0, 30.0]),
        "fvc": np.array([0.85, 0.5, 0.65, 0.9, 0.9]),
        "ecosys": np.array([1, 1, 11, 1, 18], dtype=np.int16),  # forest, forest, meadow, forest, 旱地
    }, params={"method": "screening_2020"})
    assert out["eco_service_sc"].ravel().tolist() == [1, 3, 2, 3, 3]


def test_biodiversity_rules():
    out = run_model("eco_bio", {
        "species_i": np.array([1, 0, 0, 0], dtype=np.uint8),
        "species_ii": np.array([0, 1, 0, 0], dtype=np.uint8),
        "ecosys": np.array([18, 18, 3, 21], dtype=np.int16),
    })
    assert out["eco_service_bio"].ravel().tolist() == [1, 2, 2, 3]


def test_fvc_is_the_dimidiate_pixel_model_not_ndvi():
    """§12.3 item 7: spj used NDVI as cover; FVC rescales NDVI between bare soil and full cover."""
    out = run_model("fvc", {"ndvi": np.array([0.05, 0.3, 0.55, 0.8])}, params={"ndvi_soil": 0.05, "ndvi_veg": 0.55})
    assert out["fvc"].ravel().tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_soil_conservation_model_chains_r_k_ls_c():
    rng = np.random.default_rng(1)
    shape = (6, 7)
    inputs = {
        "r_factor": np.full(shape, 4000.0), "soil_sand": np.full(shape, 40.0), "soil_silt": np.full(shape, 40.0),
        "soil_clay": np.full(shape, 20.0), "soil_oc": np.full(shape, 1.0), "ls": rng.uniform(0.5, 5, shape),
        "ecosys": np.full(shape, 1, np.int16), "fvc": np.full(shape, 0.8),
    }
    out = run_model("eco_soil", inputs)
    k = S.k_epic(40.0, 40.0, 20.0, 1.0)
    np.testing.assert_allclose(out["eco_service_value_sc"], (4000.0 * k * inputs["ls"] * (1 - 0.004)).astype(np.float32), rtol=2e-6)
    np.testing.assert_allclose(out["soil_loss"], (4000.0 * k * inputs["ls"] * 0.004).astype(np.float32), rtol=2e-6)
    assert set(np.unique(out["eco_service_sc"])) <= {1, 2, 3}


def test_service_models_declare_their_sources():
    for name in ("eco_water", "eco_soil", "eco_wind", "eco_bio", "eco_coast"):
        assert "methods.md §3" in MODELS[name].SPEC.source


def test_npp_index_for_soil_conservation():
    """§3.2.2: S_pro = NPP × (1 − K) × (1 − F_slo), factors min–max normalised over the study area."""
    sand = np.array([40.0, 10.0, 70.0])
    inputs = {"npp": np.array([500.0, 500.0, 800.0]), "soil_sand": sand, "soil_silt": np.array([40.0, 60.0, 20.0]),
              "soil_clay": np.array([20.0, 30.0, 10.0]), "soil_oc": np.array([1.0, 1.0, 1.0]), "slope": np.array([5.0, 25.0, 15.0]),
              "ecosys": np.array([1, 1, 1], np.int16), "fvc": np.array([0.5, 0.5, 0.5])}
    out = run_model("eco_soil", inputs, params={"method": "npp_index"})
    k = S.k_epic(sand, inputs["soil_silt"], inputs["soil_clay"], inputs["soil_oc"]).astype(np.float32).astype(np.float64)
    fk = (k - k.min()) / (k.max() - k.min())
    fs = (inputs["slope"] - 5.0) / 20.0
    np.testing.assert_allclose(out["eco_service_value_sc"].ravel(), inputs["npp"] * (1 - fk) * (1 - fs), rtol=1e-5, atol=1e-4)


def test_wind_climate_factor_by_hand():
    # one month only windy and dry: u 4 m/s, P 10 mm, T 10 °C, RH 0.5 → ETP = 0.19·900·0.5 = 85.5 mm; (85.5 − 10)/85.5 · 64 · 31 / 100
    u = np.zeros((12, 1)); p = np.full((12, 1), 500.0); t = np.full((12, 1), 10.0); r = np.full((12, 1), 0.5)
    u[0], p[0] = 4.0, 10.0
    u[1] = 3.0  # windy but wet (P > ETP): no negative contribution
    expected = (85.5 - 10.0) / 85.5 * 64.0 * 31.0 / 100.0
    assert S.wind_climate_factor(u, p, t, r)[0] == pytest.approx(expected, rel=1e-12)


def test_wind_npp_index_method():
    n = 4
    months = {f"{v}_m{m:02d}": np.full((1, n), val) for v, val in (("wind", 3.0), ("precip", 20.0), ("tmean", 12.0), ("rh", 0.4))
              for m in range(1, 13)}
    months["wind_m01"] = np.array([[3.0, 4.0, 5.0, 6.0]])  # F_q grows along the row; everything else equal
    arrays = {**months, "npp": np.full((1, n), 500.0), "slope": np.array([[0.0, 0.0, 60.0, 0.0]]),
              "soil_sand": np.full((1, n), 40.0), "soil_silt": np.full((1, n), 40.0), "soil_clay": np.array([[10.0, 10.0, 10.0, 30.0]]),
              "soil_oc": np.full((1, n), 1.0)}
    out = run_model("eco_wind", arrays, params={"method": "npp_index"})
    v = out["eco_service_value_ws"].ravel()
    # K and F_q are min–max normalised: the first three cells share the largest K (1), F_q rises 0 → 1 along them;
    # the last cell has the smallest K (clay 30 %: normalised 0), so no service however windy and steep
    f = S.wind_climate_factor(np.array([[3.0, 4.0, 5.0, 6.0]] + [[3.0] * 4] * 11), np.full((12, 4), 20.0), np.full((12, 4), 12.0),
                              np.full((12, 4), 0.4))
    f_norm = (f - f.min()) / (f.max() - f.min())
    assert v[:3] == pytest.approx(500.0 * f_norm[:3] * [1.0, 1.0, 2.0], rel=1e-6)  # D = 1/cos 60° = 2
    assert v[3] == 0.0


def test_daily_r_factor_through_the_model_uses_the_calendar_of_the_bands():
    rng = np.random.default_rng(3)
    rain = rng.gamma(0.6, 12.0, (365, 1, 3))
    arrays = {f"precip_d{d:02d}": rain[d - 1] for d in range(1, 366)}
    out = run_model("r_factor", arrays, params={"method": "daily", "first_day": "2021-01-01", "years": 1.0})["r_factor"]
    warm = (np.arange(365) >= 120) & (np.arange(365) < 273)  # 1 May … 30 Sep 2021 (day-of-year 121–273)
    assert out.ravel() == pytest.approx(rainfall_erosivity_daily(rain[:, 0, :], warm, 1.0), rel=1e-6)
    # the same series starting on 1 July puts other days in the warm season
    shifted = run_model("r_factor", arrays, params={"method": "daily", "first_day": "2021-07-01"})["r_factor"]
    assert not np.allclose(shifted, out)


def test_accumulated_temperature_lapse_correction_is_on_days_not_the_sum():
    from models.derived import accumulated_temperature

    temps = np.array([-1.0, 0.5, 2.0, 8.0])[:, None]
    assert accumulated_temperature(temps, np.ones(4))[0] == pytest.approx(10.5)  # 0.5 + 2 + 8
    # 500 m above the stations: −3 °C on every day → only 8 − 3 = 5 remains (spj's annual-sum correction would give 10.5 − 3·4)
    assert accumulated_temperature(temps, np.ones(4), np.array([1000.0]), np.array([500.0]))[0] == pytest.approx(5.0)
    # monthly means × days
    monthly = np.array([-2.0, 1.0] + [10.0] * 10)[:, None]
    assert accumulated_temperature(monthly, np.array([31, 28.25] + [30.0] * 10))[0] == pytest.approx(28.25 + 3000.0)


def test_at0_is_derived_when_not_given_and_feeds_the_heat_grade():
    months = {f"tmean_m{m:02d}": np.array([[15.0, 4.0]]) for m in range(1, 13)}  # 15 °C all year → 365.25·15 = 5479 °C·d
    out = run_model("at0", months)["at0"].ravel()
    assert out == pytest.approx([365.25 * 15.0, 365.25 * 4.0], rel=1e-6)
    lapse = run_model("at0", {**months, "dem": np.array([[1500.0, 1500.0]]), "temp_ref_elev": np.array([[500.0, 500.0]])})["at0"].ravel()
    assert lapse == pytest.approx([365.25 * 9.0, 0.0], rel=1e-6)  # 4 − 6 < 0: no day counts
