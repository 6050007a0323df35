"""Ecosystem-service importance (生态系统服务功能重要性), methods.md §3.1–3.6.

Each service gives a value raster (``eco_service_value_<s>``) and its three
classes (``eco_service_<s>``: 1 极重要, 2 重要, 3 一般重要) by the cumulative
50 %/80 % rule of §3.6 (service quantity = value × cell area), or, for the
2020 simplified methods, by rules.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import InputDecl, Model, ModelSpec, Parameter
from models._common import ECO_CLASSES, grades, isin, values
from models._tables import table

_ECO = table("ecology")
_TYPES = {int(k): v for k, v in _ECO["ecosystem_types"]["codes"].items()}
_SHARES = tuple(_ECO["cumulative_share"]["fractions"])


def _shares_parameter() -> Parameter:
    return Parameter(list(_SHARES), "cumulative shares of the total service closing 极重要 and 重要", _ECO["cumulative_share"]["source"],
                     ascending=True, length=2, domain=(0, 1, "fraction"))


def classify_service(value: xr.DataArray, shares, name: str, rate: bool = True) -> xr.DataArray:
    """§3.6: ECO 1/2/3 by the cumulative share of value × cell area (``rate``) or of the value itself."""
    return ops.cumulative_share(value, cell_area="grid" if rate else None, shares=shares, name=name,
                                attrs={"long_name": f"{name} (1 极重要, 2 重要, 3 一般重要)"})


# --------------------------------------------------------------------------- §3.1 water conservation
def water_balance(precip_mm: np.ndarray, aet_mm: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """WR = P − P·α − ET (mm/a), clamped at 0; NaN α (ecosystem not evaluated) → 0. Source: methods.md §3.1.1 [K-high 2017]."""
    wr = precip_mm - precip_mm * alpha - aet_mm
    out = np.where(np.isnan(alpha), 0.0, np.maximum(wr, 0.0))
    return np.where(np.isnan(precip_mm) | np.isnan(aet_mm), np.nan, out)


def _alpha_lut(overrides: dict) -> np.ndarray:
    lut = np.full(max(_TYPES) + 1, np.nan)
    for code, row in _TYPES.items():
        alpha = overrides.get(code, row[2])
        lut[code] = np.nan if alpha is None else alpha
    return lut


def _water(inputs, params, ev):
    if params["method"] == "npp_index":
        value = npp_index(inputs, ("precip", False), ("slope", True), name="eco_service_value_wc")
    else:
        lut = _alpha_lut({int(k): v for k, v in params["alpha"].items()})

        def block(p, et, eco):
            codes = eco.astype(np.int64)
            alpha = np.where((codes > 0) & (codes < lut.size), lut[np.clip(codes, 0, lut.size - 1)], np.nan)
            wr = water_balance(p.astype(np.float64), et.astype(np.float64), alpha)
            return np.where(codes <= 0, np.nan, wr).astype(np.float32)

        value = ops.map_cells(block, inputs["precip"], inputs["aet"], inputs["ecosys"], dtype=np.float32, name="eco_service_value_wc",
                              attrs={"long_name": "water conservation depth WR (水源涵养量)", "units": "mm/a"})
    return {"eco_service_value_wc": value, "eco_service_wc": classify_service(value, params["shares"], "eco_service_wc")}


def npp_index(inputs: dict, *factors: tuple[str, bool], name: str) -> xr.DataArray:
    """服务能力指数: NPP_mean × Π F (or 1 − F for inverted factors), each F min–max normalised. Source: methods.md §3.1.2/§3.2.2/§3.4."""
    terms = [ops.rescale(inputs[f]) for f, _ in factors]
    inverted = [inv for _, inv in factors]

    def block(npp, *fs):
        out = npp.astype(np.float64)
        for f, inv in zip(fs, inverted):
            out = out * ((1.0 - f) if inv else f)
        return out.astype(np.float32)

    return ops.map_cells(block, inputs["npp"], *terms, dtype=np.float32, name=name, attrs={"long_name": "service capacity index", "units": "gC/m2/a"})


WATER = Model(
    ModelSpec(
        name="eco_water",
        title_zh="水源涵养功能重要性", title_en="Water conservation importance",
        source="methods.md §3.1.1 water balance with the α table [K-high 2017; C-spj WaterConservation.py exact α]; §3.1.2 NPP index; §3.6 classes",
        inputs={
            "precip": InputDecl("mm/a", "continuous", "multi-year mean annual precipitation (多年平均年降水量)"),
            "aet": InputDecl("mm/a", "continuous", "actual evapotranspiration (实际蒸散发)", required=False),
            "ecosys": InputDecl("class", "categorical", "ecosystem type (生态系统类型, codes of models/tables/ecology.yaml)", required=False, producer="ecosys"),
            "npp": InputDecl("gC/m2/a", "continuous", "multi-year mean NPP (NPP index method)", required=False),
            "slope": InputDecl("degrees", "continuous", "slope (NPP index method)", required=False, producer="slope"),
        },
        parameters={
            "method": Parameter("water_balance", "water_balance (模型法, 2020 recommended) or npp_index", "methods.md §3.1, §1.1 [C-web:5]",
                                choices=("water_balance", "npp_index")),
            "alpha": Parameter({k: v[2] for k, v in _TYPES.items()}, "surface-runoff coefficient α by ecosystem code (null: not evaluated)",
                               _ECO["ecosystem_types"]["source"]),
            "shares": _shares_parameter(),
        },
        required_when={"method": {"water_balance": ("aet", "ecosys"), "npp_index": ("npp", "slope")}},
        outputs={
            "eco_service_value_wc": values("water conservation depth WR (水源涵养量)", "mm/a"),
            "eco_service_wc": grades("水源涵养功能重要性 water conservation importance", ECO_CLASSES),
        },
    ),
    _water,
)


# --------------------------------------------------------------------------- §3.2 soil conservation (RUSLE)
def k_epic(sand: np.ndarray, silt: np.ndarray, clay: np.ndarray, oc: np.ndarray) -> np.ndarray:
    """Soil erodibility K (t·hm²·h/(hm²·MJ·mm)): EPIC (Williams) with Zhang Keli's correction.

    Source: methods.md §3.2.1 [C-spj exact]; C_org is organic carbon (%).
    T20: sand 40, silt 40, clay 20, OC 1.0 → K_EPIC 0.29538, K 0.01824.
    """
    sand, silt, clay, oc = (np.asarray(a, dtype=np.float64) for a in (sand, silt, clay, oc))
    sn1 = 1.0 - sand / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        epic = (
            (0.2 + 0.3 * np.exp(-0.0256 * sand * (1.0 - silt / 100.0)))
            * (silt / (clay + silt)) ** 0.3
            * (1.0 - 0.25 * oc / (oc + np.exp(3.72 - 2.95 * oc)))
            * (1.0 - 0.7 * sn1 / (sn1 + np.exp(-5.51 + 22.9 * sn1)))
        )
    epic = np.where(clay + silt > 0, epic, 0.0)  # pure sand: the (SIL/(CLA+SIL))^0.3 term is 0
    return np.maximum((-0.01383 + 0.51575 * epic) * 0.1317, 0.0)


def c_factor(groups: np.ndarray, fvc: np.ndarray, table_rows: np.ndarray, dryland_group: int, breaks) -> np.ndarray:
    """C by ecosystem group × FVC class ([0,.1) [.1,.3) … [.9,1]); dryland by 0.221 − 0.595·log10(FVC). Source: methods.md §3.2.1, §0.3 item 9."""
    klass = np.searchsorted(np.asarray(breaks, dtype=np.float64), fvc, side="right")
    klass = np.clip(klass, 0, table_rows.shape[1] - 1)
    g = np.clip(groups, 0, table_rows.shape[0] - 1)
    c = table_rows[g, klass]
    with np.errstate(divide="ignore"):
        dry = np.clip(0.221 - 0.595 * np.log10(fvc), 0.0, 1.0)
    c = np.where(groups == dryland_group, dry, c)
    return np.where(np.isnan(fvc) | (groups < 0), np.nan, c)


_C_GROUPS = list(_ECO["c_factor"]["by_group"]) + ["dryland"]


def _group_lut(column: int, names: list[str]) -> np.ndarray:
    lut = np.full(max(_TYPES) + 1, -1, dtype=np.int64)
    for code, row in _TYPES.items():
        lut[code] = names.index(row[column]) if row[column] in names else -1
    return lut


def _codes_to(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    c = codes.astype(np.int64)
    return np.where((c > 0) & (c < lut.size), lut[np.clip(c, 0, lut.size - 1)], -1)


def soil_conservation(r, k, ls, c):
    """A_p = R·K·LS, A_r = A_p·C, A_c = A_p − A_r (t/(hm²·a)). Source: methods.md §3.2.1. T18: 4000·0.03·2·(1 − 0.02) = 235.2."""
    potential = r * k * ls
    actual = potential * c
    return potential, actual, potential - actual


def _soil(inputs, params, ev):
    out = {}
    if params["method"] == "screening_2020":
        s = _ECO["screening_2020"]
        natural = isin(inputs["ecosys"], [k for k, v in _TYPES.items() if v[3] in ("forest", "shrub", "grass")])
        vi, im = params["screening_very_important"], params["screening_important"]

        def block(slope, fvc, nat):
            eco = np.where(nat & (slope >= vi["slope_deg"]) & (fvc >= vi["fvc"]), 1,
                           np.where(nat & (slope >= im["slope_deg"]) & (fvc >= im["fvc"]), 2, 3))
            return np.where(np.isnan(slope) | np.isnan(fvc), 0, eco).astype(np.uint8)

        classes = ops.map_cells(block, inputs["slope"], inputs["fvc"], natural, dtype=np.uint8, name="eco_service_sc")
        value = ops.map_cells(lambda c: np.where(c == 0, np.nan, 4.0 - c).astype(np.float32), classes, dtype=np.float32,
                              name="eco_service_value_sc", attrs={"long_name": f"screening score (3 极重要 … 1 一般), {s['source']}"})
        nan = ops.map_cells(lambda v: np.full(v.shape, np.nan, np.float32), value, dtype=np.float32)
        return {"eco_service_sc": classes, "eco_service_value_sc": value, "soil_k": nan, "soil_c": nan, "soil_loss": nan}

    k = ops.map_cells(lambda sa, si, cl, oc: k_epic(sa, si, cl, oc).astype(np.float32), inputs["soil_sand"], inputs["soil_silt"],
                      inputs["soil_clay"], inputs["soil_oc"], dtype=np.float32, name="soil_k")
    if params["method"] == "npp_index":
        # §3.2.2: S_pro = NPP × (1 − K) × (1 − F_slo), K and slope min–max normalised
        value = npp_index({**inputs, "soil_k": k}, ("soil_k", True), ("slope", True), name="eco_service_value_sc")
        nan = ops.map_cells(lambda v: np.full(v.shape, np.nan, np.float32), value, dtype=np.float32)
        return {"eco_service_value_sc": value, "eco_service_sc": classify_service(value, params["shares"], "eco_service_sc"),
                "soil_k": k, "soil_c": nan, "soil_loss": nan}
    rows = np.array([v for v in _ECO["c_factor"]["by_group"].values()] + [[np.nan] * 6], dtype=np.float64)
    lut = _group_lut(3, _C_GROUPS)
    breaks = tuple(_ECO["c_factor"]["fvc_breaks"])
    dry = _C_GROUPS.index("dryland")
    c = ops.map_cells(lambda eco, fvc: c_factor(_codes_to(lut, eco), fvc.astype(np.float64), rows, dry, breaks).astype(np.float32),
                      inputs["ecosys"], inputs["fvc"], dtype=np.float32, name="soil_c")

    def rusle(r, kk, ls, cc):
        _, actual, conserved = soil_conservation(r.astype(np.float64), kk, ls, cc)
        return np.stack([actual, conserved]).astype(np.float32)

    actual = ops.map_cells(lambda r, kk, ls, cc: rusle(r, kk, ls, cc)[0], inputs["r_factor"], k, inputs["ls"], c, dtype=np.float32,
                           name="soil_loss", attrs={"long_name": "actual soil loss A_r = R·K·LS·C", "units": "t/(ha*a)"})
    value = ops.map_cells(lambda r, kk, ls, cc: rusle(r, kk, ls, cc)[1], inputs["r_factor"], k, inputs["ls"], c, dtype=np.float32,
                          name="eco_service_value_sc", attrs={"long_name": "soil conservation A_c = R·K·LS·(1 − C)", "units": "t/(ha*a)"})
    out.update(soil_k=k, soil_c=c, soil_loss=actual, eco_service_value_sc=value,
               eco_service_sc=classify_service(value, params["shares"], "eco_service_sc"))
    return out


SOIL = Model(
    ModelSpec(
        name="eco_soil",
        title_zh="水土保持功能重要性", title_en="Soil conservation importance",
        source="methods.md §3.2.1 RUSLE (R monthly/daily, K EPIC + Zhang, LS §0.3 item 8, C ecosystem × FVC) [K-high 2017; C-spj]; "
        "§3.2.3 2020 screening rule [C-web:5]; §3.6 classes",
        inputs={
            "r_factor": InputDecl("MJ*mm/(ha*h*a)", "continuous", "rainfall erosivity R", producer="r_factor", required=False),
            "soil_sand": InputDecl("percent", "continuous", "sand content (砂粒)", required=False),
            "soil_silt": InputDecl("percent", "continuous", "silt content (粉粒)", required=False),
            "soil_clay": InputDecl("percent", "continuous", "clay content (黏粒)", required=False),
            "soil_oc": InputDecl("percent", "continuous", "soil organic carbon (有机碳; OM/1.724)", required=False),
            "ls": InputDecl("1", "continuous", "RUSLE LS factor", producer="ls", required=False),
            "ecosys": InputDecl("class", "categorical", "ecosystem type", producer="ecosys"),
            "fvc": InputDecl("fraction", "continuous", "fractional vegetation cover", producer="fvc"),
            "slope": InputDecl("degrees", "continuous", "slope (2020 screening rule, NPP index)", producer="slope", required=False),
            "npp": InputDecl("gC/m2/a", "continuous", "multi-year mean NPP (NPP index method)", required=False),
        },
        parameters={
            "method": Parameter("rusle", "rusle (模型法), npp_index (服务能力指数法) or screening_2020 (简化: slope and FVC rule)",
                                "methods.md §3.2, §1.1 [C-web:5]", choices=("rusle", "npp_index", "screening_2020")),
            "screening_very_important": Parameter(dict(_ECO["screening_2020"]["very_important"]), "极重要 rule: slope ≥ and FVC ≥", _ECO["screening_2020"]["source"]),
            "screening_important": Parameter(dict(_ECO["screening_2020"]["important"]), "重要 rule: slope ≥ and FVC ≥", _ECO["screening_2020"]["source"]),
            "shares": _shares_parameter(),
        },
        required_when={"method": {"rusle": ("r_factor", "soil_sand", "soil_silt", "soil_clay", "soil_oc", "ls"), "screening_2020": ("slope",),
                                  "npp_index": ("npp", "soil_sand", "soil_silt", "soil_clay", "soil_oc", "slope")}},
        outputs={
            "eco_service_value_sc": values("soil conservation A_c (水土保持量)", "t/(ha*a)"),
            "eco_service_sc": grades("水土保持功能重要性 soil conservation importance", ECO_CLASSES),
            "soil_k": values("soil erodibility K (土壤可蚀性), EPIC + Zhang", "t*ha*h/(ha*MJ*mm)"),
            "soil_c": values("cover-management factor C", "1"),
            "soil_loss": values("actual soil loss A_r = R·K·LS·C", "t/(ha*a)"),
        },
    ),
    _soil,
)


# --------------------------------------------------------------------------- §3.3 wind-break and sand fixation (RWEQ)
_RWEQ = _ECO["rweq_constants"]
_RWEQ_GROUPS = list(_ECO["rweq_vegetation"]["a"])


def erodible_fraction(sand, silt, clay, om, caco3):
    """EF = (29.09 + 0.31·Sa + 0.17·Si + 0.33·Sa/Cl − 2.59·OM − 0.95·CaCO3)/100 (all %). Source: methods.md §3.3.1 [C-spj, C-web exact; full form]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (29.09 + 0.31 * sand + 0.17 * silt + 0.33 * sand / clay - 2.59 * om - 0.95 * caco3) / 100.0


def soil_crust_factor(clay, om):
    """SCF = 1/(1 + 0.0066·Cl² + 0.021·OM²). Source: methods.md §3.3.1 [C-spj, C-web exact]. T21: 0.3949."""
    return 1.0 / (1.0 + 0.0066 * clay**2 + 0.021 * om**2)


#: Kr (cm) where exp(1.86·Kr − 2.41·Kr^0.934) is least: d/dKr = 0 at Kr = (1.86/(2.41·0.934))^(−1/0.066)
KR_AT_MINIMUM_CM = (1.86 / (2.41 * 0.934)) ** (-1.0 / 0.066)


def roughness_factor(delta_h_m, length_m, crr=0.0):
    """K' = exp(1.86·Kr − 2.41·Kr^0.934 − 0.127·Crr), Kr = 100·0.2·ΔH²/L in cm (§0.3 item 10).

    Source: methods.md §3.3.1 [C-spj exact]. The fit is a ridge-roughness
    curve: it falls to its minimum at Kr ≈ 18 cm and then grows without
    bound (exp overflows for a terrain ΔH of tens of metres), so Kr is held
    at that minimum beyond it and K' ≤ 1 [R].
    """
    kr = np.minimum(100.0 * 0.2 * np.square(np.asarray(delta_h_m, dtype=np.float64)) / length_m, KR_AT_MINIMUM_CM)
    return np.minimum(np.exp(1.86 * kr - 2.41 * kr**0.934 - 0.127 * crr), 1.0)


def sand_loss(x, z_m: float, qmax_coef: float = _RWEQ["qmax_coef"], s_coef: float = _RWEQ["s_coef"], s_exp: float = _RWEQ["s_exp"]):
    """SL = (2z/s²)·Q_max·exp(−(z/s)²), Q_max = 109.8·X, s = 150.71·X^−0.3711 (X = WF·EF·SCF·K'·C); kg/m².

    Source: methods.md §3.3.1 [K-high]: 150.71 (not the web code's 105.71) and
    2z (not spj's 2 − z, §12.3 item 4). X ≤ 0 gives no loss.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q_max = qmax_coef * x
        s = s_coef * np.power(x, s_exp)
        sl = (2.0 * z_m / s**2) * q_max * np.exp(-((z_m / s) ** 2))
    return np.where(x > 0, sl, np.where(np.isnan(x), np.nan, 0.0))


def vegetation_factor(a, cover_pct):
    """C = exp(−a·SC), SC cover in %; the exponent is negative (spj's + is a bug, §12.3 item 4). Source: methods.md §3.3.1."""
    return np.exp(-a * cover_pct)


MONTHS = tuple(f"{m:02d}" for m in range(1, 13))
DAYS_IN_MONTH = (31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def wind_climate_factor(wind_2m: np.ndarray, precip: np.ndarray, tmean: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """F_q = (1/100) Σ u³ · (ETP − P)/ETP · d over the 12 months, ETP = 0.19·(20 + T)²·(1 − r) (axis 0 = months).

    Source: methods.md §3.3.2 [K-high 2015/2017]. A month wetter than its
    potential evaporation (P ≥ ETP, or ETP = 0) adds no wind erosion
    climate, not a negative one [R]. Leap years: February counts 28.25 days.
    """
    u, p, t, r = (np.asarray(a, dtype=np.float64) for a in (wind_2m, precip, tmean, rh))
    etp = 0.19 * (20.0 + t) ** 2 * (1.0 - r)
    days = np.asarray(DAYS_IN_MONTH).reshape((12,) + (1,) * (u.ndim - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        dryness = np.where(etp > 0, np.maximum(etp - p, 0.0) / etp, 0.0)
    return (u**3 * dryness * days).sum(axis=0) / 100.0


def _wind_npp_index(inputs, params):
    height = params["wind_height_m"]
    months = [inputs[f"{v}_m{m}"] for v in ("wind", "precip", "tmean", "rh") for m in MONTHS]

    def climate(*blocks):
        u, p, t, r = (np.stack(blocks[12 * i: 12 * (i + 1)]) for i in range(4))
        return wind_climate_factor(u * (2.0 / height) ** (1.0 / 7.0), p, t, r).astype(np.float32)

    f_q = ops.map_cells(climate, *months, dtype=np.float32, name="wind_climate_factor")
    k = ops.map_cells(lambda sa, si, cl, oc: k_epic(sa, si, cl, oc).astype(np.float32), inputs["soil_sand"], inputs["soil_silt"],
                      inputs["soil_clay"], inputs["soil_oc"], dtype=np.float32)
    k_norm, f_norm = ops.rescale(k), ops.rescale(f_q)

    def block(npp, kk, fq, slope):
        d = 1.0 / np.cos(np.radians(slope.astype(np.float64)))
        return (npp * kk * fq * d).astype(np.float32)

    value = ops.map_cells(block, inputs["npp"], k_norm, f_norm, inputs["slope"], dtype=np.float32, name="eco_service_value_ws",
                          attrs={"long_name": "wind-break service index S_ws = NPP·K·F_q·D (K, F_q min–max normalised)", "units": "gC/m2/a"})
    return {"eco_service_value_ws": value, "eco_service_ws": classify_service(value, params["shares"], "eco_service_ws")}


def _wind(inputs, params, ev):
    if params["method"] == "npp_index":
        return _wind_npp_index(inputs, params)
    a_lut = np.full(max(_TYPES) + 1, np.nan)
    a_values = {**_ECO["rweq_vegetation"]["a"], **params["vegetation_a"]}
    for code, row in _TYPES.items():
        if row[4] in a_values:
            a_lut[code] = a_values[row[4]]
    delta_h = ops.relief(inputs["dem"], window_m=params["roughness_length_m"])
    layers = [inputs[n] for n in ("rweq_wf", "soil_sand", "soil_silt", "soil_clay", "soil_oc", "fvc", "ecosys")] + [delta_h]
    extra = [inputs[n] for n in ("soil_caco3", "wind_zone") if n in inputs]
    has_caco3, has_zone = "soil_caco3" in inputs, "wind_zone" in inputs
    z, length = params["downwind_m"], params["roughness_length_m"]

    def block(wf, sa, si, cl, oc, fvc, eco, dh, *more):
        more = list(more)
        caco3 = more.pop(0) if has_caco3 else 0.0
        zone = more.pop(0) if has_zone else None
        om = oc.astype(np.float64) * 1.724
        base = wf * erodible_fraction(sa, si, cl, om, caco3) * soil_crust_factor(cl, om) * roughness_factor(dh, length)
        codes = eco.astype(np.int64)
        a = np.where((codes > 0) & (codes < a_lut.size), a_lut[np.clip(codes, 0, a_lut.size - 1)], np.nan)
        c = np.where(np.isnan(a), 1.0, vegetation_factor(np.nan_to_num(a), 100.0 * fvc))
        fixed = np.maximum(sand_loss(np.maximum(base, 0), z) - sand_loss(np.maximum(base * c, 0), z), 0.0)
        if zone is not None:
            fixed = np.where(zone > 0, fixed, 0.0)
        return np.where(codes <= 0, np.nan, fixed).astype(np.float32)

    value = ops.map_cells(block, *layers, *extra, dtype=np.float32, name="eco_service_value_ws",
                          attrs={"long_name": "sand fixed SR = SL_p − SL (防风固沙量)", "units": "kg/m2/a", "kr_unit": "cm"})
    return {"eco_service_value_ws": value, "eco_service_ws": classify_service(value, params["shares"], "eco_service_ws")}


WIND = Model(
    ModelSpec(
        name="eco_wind",
        title_zh="防风固沙功能重要性", title_en="Wind-break and sand-fixation importance",
        source="methods.md §3.3.1 RWEQ (150.71, 2z, negative vegetation exponent, FAO-56 pressure in WF) [K-high 2017; C-spj FangFeng.py]; "
        "§3.3.2 NPP index S_ws = NPP·K·F_q·D; §3.6 classes",
        inputs={
            "rweq_wf": InputDecl("kg/m", "continuous", "RWEQ weather factor WF = Σ u(u−5)²·ρ/g·SW·SD over the erosion season", required=False),
            "soil_sand": InputDecl("percent", "continuous", "sand content"),
            "soil_silt": InputDecl("percent", "continuous", "silt content"),
            "soil_clay": InputDecl("percent", "continuous", "clay content"),
            "soil_oc": InputDecl("percent", "continuous", "soil organic carbon (OM = 1.724·OC)"),
            "soil_caco3": InputDecl("percent", "continuous", "calcium carbonate (0 when missing)", required=False),
            "dem": InputDecl("m", "continuous", "elevation, for the roughness ΔH over L", required=False),
            "fvc": InputDecl("fraction", "continuous", "vegetation cover", producer="fvc", required=False),
            "ecosys": InputDecl("class", "categorical", "ecosystem type", producer="ecosys", required=False),
            "wind_zone": InputDecl("mask", "mask", "arid/semi-arid and wind-erosion zone (风蚀区); 0 outside; everywhere when missing", required=False),
            "npp": InputDecl("gC/m2/a", "continuous", "multi-year mean NPP (NPP index method)", required=False),
            "slope": InputDecl("degrees", "continuous", "slope, D = 1/cos θ (NPP index method)", required=False, producer="slope"),
            **{f"{v}_m{m}": InputDecl(unit, "continuous", f"{what} of month {m} (NPP index method; {v}: {{bands: 12}})", required=False)
               for v, unit, what in (("wind", "m/s", "mean wind speed"), ("precip", "mm", "precipitation"), ("tmean", "degC", "mean temperature"),
                                     ("rh", "fraction", "mean relative humidity")) for m in MONTHS},
        },
        required_when={"method": {"rweq": ("rweq_wf", "dem", "fvc", "ecosys"),
                                  "npp_index": ("npp", "slope", *(f"{v}_m{m}" for v in ("wind", "precip", "tmean", "rh") for m in MONTHS))}},
        parameters={
            "method": Parameter("rweq", "rweq (模型法) or npp_index (服务能力指数法)", "methods.md §3.3, §1.1 [C-web:5]", choices=("rweq", "npp_index")),
            "wind_height_m": Parameter(2.0, "NPP index: height of the wind measurements (u2 = u_z·(2/z)^(1/7))", "methods.md §3.3.2",
                                       domain=(0.5, 100, "m")),
            "downwind_m": Parameter(float(_RWEQ["z_m"]), "downwind distance z, metres", _RWEQ["source"], domain=(1, 10000, "m")),
            "roughness_length_m": Parameter(100.0, "distance L over which ΔH is taken for Kr (Smith–Carson), metres", "methods.md §3.3.1, §0.3 item 10 [R]",
                                            domain=(1, 10000, "m")),
            "vegetation_a": Parameter({}, "override of the a_i of C = exp(−a·SC) by vegetation group", _ECO["rweq_vegetation"]["source"], open_keys=True),
            "shares": _shares_parameter(),
        },
        outputs={
            "eco_service_value_ws": values("sand fixation SR (防风固沙量)", "kg/m2/a"),
            "eco_service_ws": grades("防风固沙功能重要性 wind-break and sand-fixation importance", ECO_CLASSES),
        },
    ),
    _wind,
)


# --------------------------------------------------------------------------- §3.4 biodiversity, §3.5 coast
def _bio(inputs, params, ev):
    if params["method"] == "npp_index":
        value = npp_index(inputs, ("precip", False), ("tmean_annual", False), ("dem", True), name="eco_service_value_bio")
        return {"eco_service_value_bio": value, "eco_service_bio": classify_service(value, params["shares"], "eco_service_bio")}
    natural = [k for k, v in _TYPES.items() if v[3] in ("forest", "shrub", "grass", "paddy_wetland") and k not in (17,)]
    first_rule = [inputs[n] for n in ("species_i", "priority_area", "natural_core") if n in inputs]
    second_rule = [inputs[n] for n in ("species_ii",) if n in inputs] + ([isin(inputs["ecosys"], natural)] if "ecosys" in inputs else [])
    n1 = len(first_rule)

    def block(*masks):
        very = np.zeros(masks[0].shape, dtype=bool)
        important = np.zeros(masks[0].shape, dtype=bool)
        for i, m in enumerate(masks):
            if i < n1:
                very |= m > 0
            else:
                important |= m > 0
        return np.where(very, 1, np.where(important, 2, 3)).astype(np.uint8)

    classes = ops.map_cells(block, *first_rule, *second_rule, dtype=np.uint8, name="eco_service_bio")
    value = ops.map_cells(lambda c: (4.0 - c).astype(np.float32), classes, dtype=np.float32, name="eco_service_value_bio",
                          attrs={"long_name": "rule score (3 极重要, 2 重要, 1 一般)"})
    return {"eco_service_bio": classes, "eco_service_value_bio": value}


BIO = Model(
    ModelSpec(
        name="eco_bio",
        title_zh="生物多样性维护功能重要性", title_en="Biodiversity maintenance importance",
        source="methods.md §3.4 rule table over masks [K-med 2017/2020; R masks]: 极重要 class-I/CR/EN habitat, priority-area core, "
        "natural forest and wetland; 重要 class-II/VU habitat and other natural ecosystems; NPP index option [K-high 2015/2017]",
        inputs={
            "species_i": InputDecl("mask", "mask", "habitat of national class-I or CR/EN species (国家一级/极危/濒危)", required=False),
            "priority_area": InputDecl("mask", "mask", "biodiversity priority-area core (生物多样性保护优先区域)", required=False),
            "natural_core": InputDecl("mask", "mask", "natural forest and natural wetland (天然林、天然湿地)", required=False),
            "species_ii": InputDecl("mask", "mask", "habitat of class-II or VU species", required=False),
            "ecosys": InputDecl("class", "categorical", "ecosystem type: natural ecosystems are 重要", required=False, producer="ecosys"),
            "npp": InputDecl("gC/m2/a", "continuous", "NPP (index method)", required=False),
            "precip": InputDecl("mm/a", "continuous", "precipitation (index method)", required=False),
            "tmean_annual": InputDecl("degC", "continuous", "annual mean temperature (index method)", required=False),
            "dem": InputDecl("m", "continuous", "elevation (index method)", required=False),
        },
        parameters={
            "method": Parameter("rules", "rules (masks) or npp_index", "methods.md §3.4", choices=("rules", "npp_index")),
            "shares": _shares_parameter(),
        },
        required_when={"method": {"npp_index": ("npp", "precip", "tmean_annual", "dem")}},
        needs_one_of=("species_i", "priority_area", "natural_core", "species_ii", "ecosys", "npp"),
        outputs={
            "eco_service_value_bio": values("biodiversity service score or index", "1"),
            "eco_service_bio": grades("生物多样性维护功能重要性 biodiversity maintenance importance", ECO_CLASSES),
        },
    ),
    _bio,
)


def _coast(inputs, params, ev):
    classes = ops.map_cells(lambda m: np.where(m > 0, 1, 3).astype(np.uint8), inputs["coast_protection"], dtype=np.uint8, name="eco_service_coast")
    return {"eco_service_coast": classes}


COAST = Model(
    ModelSpec(
        name="eco_coast",
        title_zh="海岸防护功能重要性", title_en="Coastal protection importance",
        source="methods.md §3.5 [K-med]: mangroves, reefs, seagrass, salt marsh, natural coastline and coastal forest are 极重要 (a mask)",
        inputs={"coast_protection": InputDecl("mask", "mask", "coastal protection ecosystems (红树林、珊瑚礁、海草床、盐沼、自然岸线、海防林)")},
        parameters={},
        outputs={"eco_service_coast": grades("海岸防护功能重要性 coastal protection importance", ECO_CLASSES)},
    ),
    _coast,
)

SERVICES = (WATER, SOIL, WIND, BIO, COAST)
