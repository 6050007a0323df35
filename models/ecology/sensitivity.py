"""Ecological sensitivity / fragility (生态敏感性 / 脆弱性), methods.md §3.7.

Every factor is scored 1 / 3 / 5 by its table (inequalities as stated), the
index is the geometric mean of the scores (``eco_sens_index_<p>``), and the
class (``eco_sens_<p>``: 1 一般, 2 敏感, 3 极敏感) follows the 2.0 / 4.0
breaks (or spj's 2.33 / 3.66).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import SEN_CLASSES, grades, values
from models._tables import table

_ECO = table("ecology")
_FACTORS = _ECO["sensitivity_factors"]
_TEXTURES = {int(k): v for k, v in _ECO["soil_texture"]["codes"].items()}
_BREAKS = {k: v for k, v in _ECO["sensitivity_breaks"].items() if k != "source"}
TEXTURE_COLUMN = {"erosion": 2, "desert": 3, "salin": 4}


def factor_rows(key: str) -> list[tuple]:
    """The reclass rows (low, high, score, closed) of a factor table in models/tables/ecology.yaml."""
    return [(lo, hi, score, closed) for lo, hi, score, closed in _FACTORS[key]]


def score(layer: xr.DataArray, key: str) -> xr.DataArray:
    """1 / 3 / 5 factor score by the table ``key`` (0 where nodata)."""
    return ops.reclass(layer, factor_rows(key), name=f"score_{key}")


def texture_score(texture: xr.DataArray, process: str) -> xr.DataArray:
    """Score of the soil-texture factor of ``process`` by texture code (0 for an unknown code: nodata)."""
    column = TEXTURE_COLUMN[process]
    return ops.reclass(texture, {code: row[column] for code, row in _TEXTURES.items()}, name=f"score_texture_{process}")


def _breaks_parameter() -> Parameter:
    return Parameter("2017", "class breaks of the index: 2017 (2.0/4.0) or spj (2.33/3.66)", _ECO["sensitivity_breaks"]["source"],
                     choices=tuple(_BREAKS))


def _classify(scores: list[xr.DataArray], process: str, params) -> dict:
    index = ops.geometric_mean(scores, name=f"eco_sens_index_{process}")
    return {
        f"eco_sens_index_{process}": index,
        f"eco_sens_{process}": ops.sensitivity_class(index, _BREAKS[params["breaks"]], name=f"eco_sens_{process}"),
    }


def _spec(process: str, zh: str, en: str, source: str, inputs: dict, extra: dict | None = None) -> ModelSpec:
    return ModelSpec(
        name=f"eco_sens_{process}",
        title_zh=zh, title_en=en,
        source=source,
        inputs=inputs,
        parameters={"breaks": _breaks_parameter(), **(extra or {})},
        outputs={
            f"eco_sens_index_{process}": values(f"{zh} index (geometric mean of 1/3/5 scores)", "1"),
            f"eco_sens_{process}": grades(f"{zh} {en}", SEN_CLASSES),
        },
    )


_TEXTURE_IN = InputDecl("class", "categorical", "soil texture class (土壤质地, codes of models/tables/ecology.yaml)", producer="soil_texture")
_FVC_IN = InputDecl("fraction", "continuous", "vegetation cover", producer="fvc")


def _erosion(inputs, params, ev):
    scores = [score(inputs["r_factor"], "erosion_r"), texture_score(inputs["soil_texture"], "erosion"),
              score(inputs["relief"], "erosion_relief_m"), score(inputs["fvc"], "fvc")]
    return _classify(scores, "erosion", params)


EROSION = Model(_spec(
    "erosion", "水土流失敏感性", "soil-erosion sensitivity",
    "methods.md §3.7.1 SS = (R·K·LS·C)^¼ with K by texture, LS by relief, C by FVC [K-high 2017; C-spj SoilErosion.py thresholds]",
    {"r_factor": InputDecl("MJ*mm/(ha*h*a)", "continuous", "rainfall erosivity", producer="r_factor"),
     "soil_texture": _TEXTURE_IN,
     "relief": InputDecl("m", "continuous", "terrain relief", producer="relief"),
     "fvc": _FVC_IN},
), _erosion)


def _desert(inputs, params, ev):
    scores = [score(inputs["aridity_i10"], "desert_aridity"), score(inputs["sand_wind_days"], "desert_wind_days"),
              texture_score(inputs["soil_texture"], "desert"), score(inputs["fvc"], "fvc")]
    return _classify(scores, "desert", params)


DESERT = Model(_spec(
    "desert", "土地沙化敏感性", "desertification sensitivity",
    "methods.md §3.7.2 D = (I·W·K·C)^¼ [K-high 2017; C-spj LandDesertification.py thresholds]; I = 0.16·Σ(T ≥ 10 °C)/Σ P over those days "
    "(not spj's P ≥ 10 mm days, §12.3 item 5), W = days with wind > 6 m/s in winter–spring",
    {"aridity_i10": InputDecl("index", "continuous", "aridity index I = 0.16·ΣT(≥10 °C)/ΣP of the same days (干燥度)"),
     "sand_wind_days": InputDecl("d", "continuous", "sand-raising wind days (起沙风天数, wind > 6 m/s, Nov–May)"),
     "soil_texture": _TEXTURE_IN,
     "fvc": _FVC_IN},
), _desert)


def _rocky(inputs, params, ev):
    scores = [score(inputs["karst_pct"], "rocky_carbonate_pct"), score(inputs["slope"], "rocky_slope_deg"), score(inputs["fvc"], "fvc")]
    out = _classify(scores, "rocky", params)
    # only karst (carbonate rock present) can be rocky-desertified; elsewhere class 1 (§3.7.3 [K-high])
    karst = inputs["karst_pct"]
    out["eco_sens_rocky"] = ops.map_cells(lambda c, k: np.where(k > 0, c, np.where(np.isnan(k), 0, 1)).astype(np.uint8),
                                          out["eco_sens_rocky"], karst, dtype=np.uint8, name="eco_sens_rocky")
    return out


ROCKY = Model(_spec(
    "rocky", "石漠化敏感性", "rocky-desertification sensitivity",
    "methods.md §3.7.3 S = (D·P·C)^⅓, karst only [K-high; C-spj RockDesertification.py thresholds]",
    {"karst_pct": InputDecl("percent", "continuous", "carbonate-rock outcrop share (碳酸盐岩出露面积百分比)"),
     "slope": InputDecl("degrees", "continuous", "slope", producer="slope"),
     "fvc": _FVC_IN},
), _rocky)


def _salin(inputs, params, ev):
    scores = [score(inputs["evap_ratio"], "salin_evap_ratio"), score(inputs["gw_tds"], "salin_tds_g_l"),
              score(inputs["gw_depth"], "salin_gw_depth_m"), texture_score(inputs["soil_texture"], "salin")]
    return _classify(scores, "salin", params)


SALIN = Model(_spec(
    "salin", "盐渍化敏感性", "salinization sensitivity",
    "methods.md §3.7.4 S = (I·M·D·K)^¼ [K-high 2017; C-spj AgroEcology.py thresholds]",
    {"evap_ratio": InputDecl("index", "continuous", "evaporation / precipitation ratio (蒸降比)", producer="evap_ratio"),
     "gw_tds": InputDecl("g/L", "continuous", "groundwater mineralization (地下水矿化度)"),
     "gw_depth": InputDecl("m", "continuous", "groundwater depth (地下水埋深)"),
     "soil_texture": _TEXTURE_IN},
), _salin)

_COAST = _ECO["coastal_erosion"]
_LANDFORMS = {int(k): v for k, v in _COAST["landform"].items()}


def _coast(inputs, params, ev):
    w = _COAST["weights"]
    landform = inputs["coast_landform"]
    landform_score = ops.reclass(landform, {k: v[2] for k, v in _LANDFORMS.items()}, name="score_coast_landform")
    setup = ops.reclass(inputs["storm_setup"], _COAST["setup_m"], name="score_coast_setup")
    wave = ops.reclass(inputs["wave_height"], _COAST["wave_m"], name="score_coast_wave")
    index = ops.map_cells(
        lambda lf, su, wv: np.where((lf > 0) & (su > 0) & (wv > 0), w["landform"] * lf + w["setup"] * su + w["wave"] * wv, np.nan).astype(np.float32),
        landform_score, setup, wave, dtype=np.float32, name="eco_sens_index_coast")
    classes = ops.sensitivity_class(index, _BREAKS[params["breaks"]], name="eco_sens_coast")
    if "coast_erosion_rate" in inputs:
        # [R] a measured shoreline retreat rate also classes the coast (by the table of its coast type); the worse class wins
        by_type = {kind: ops.reclass(inputs["coast_erosion_rate"], rows, name=f"score_coast_rate_{kind}") for kind, rows in _COAST["erosion_rate_m_a"].items()}
        muddy = np.array(sorted(k for k, v in _LANDFORMS.items() if v[3] == "muddy"))

        def worse(c, lf, rate_muddy, rate_sandy):
            rate_score = np.where(np.isin(lf, muddy), rate_muddy, rate_sandy)
            rate_class = np.select([rate_score == 5, rate_score == 3, rate_score == 1], [3, 2, 1], 0)
            return np.where(c > 0, np.maximum(c, rate_class), c).astype(np.uint8)

        classes = ops.map_cells(worse, classes, landform, by_type["muddy"], by_type["sandy"], dtype=np.uint8, name="eco_sens_coast")
    return {"eco_sens_index_coast": index, "eco_sens_coast": classes}


COAST = Model(_spec(
    "coast", "海岸侵蚀敏感性", "coastal-erosion sensitivity",
    "methods.md §3.7.5 (2020: 海岸侵蚀及沙源流失) [C-spj CoastalErosion.py parameters; low priority]: weighted sum 0.2·landform + "
    "0.4·storm-surge set-up + 0.4·wave height of 1/3/5 scores, classed by the sensitivity breaks; an optional erosion rate (m/a) by the "
    "silty-muddy or sandy table, the worse class winning [R]",
    {"coast_landform": InputDecl("class", "categorical", "coastal landform type (海岸类型, codes of models/tables/ecology.yaml coastal_erosion)"),
     "storm_setup": InputDecl("m", "continuous", "maximum storm-surge set-up (最大风暴增水)"),
     "wave_height": InputDecl("m", "continuous", "mean wave height (平均波高)"),
     "coast_erosion_rate": InputDecl("m/a", "continuous", "shoreline erosion rate (岸线侵蚀速率)", required=False)},
), _coast)

SENSITIVITIES = (EROSION, DESERT, ROCKY, SALIN, COAST)


# --------------------------------------------------------------------------- soil texture from particle sizes
USDA_CLASSES = ("sand", "loamy_sand", "sandy_loam", "loam", "silt_loam", "silt", "sandy_clay_loam", "clay_loam",
                "silty_clay_loam", "sandy_clay", "silty_clay", "clay")


def usda_texture(sand: np.ndarray, silt: np.ndarray, clay: np.ndarray) -> np.ndarray:
    """USDA texture-triangle class index into :data:`USDA_CLASSES` (−1 for nodata), from sand/silt/clay %.

    Source: USDA NRCS Soil Survey Manual (2017) texture-class definitions; the
    first matching rule wins, in the order of the triangle's boundaries.
    """
    sa, si, cl = (np.asarray(a, dtype=np.float64) for a in (sand, silt, clay))
    rules = [
        si + 1.5 * cl < 15,                                                       # sand
        (si + 1.5 * cl >= 15) & (si + 2 * cl < 30),                               # loamy sand
        ((cl >= 7) & (cl < 20) & (sa > 52) & (si + 2 * cl >= 30)) | ((cl < 7) & (si < 50) & (si + 2 * cl >= 30)),  # sandy loam
        (cl >= 7) & (cl < 27) & (si >= 28) & (si < 50) & (sa <= 52),              # loam
        ((si >= 50) & (cl >= 12) & (cl < 27)) | ((si >= 50) & (si < 80) & (cl < 12)),  # silt loam
        (si >= 80) & (cl < 12),                                                   # silt
        (cl >= 20) & (cl < 35) & (si < 28) & (sa > 45),                           # sandy clay loam
        (cl >= 27) & (cl < 40) & (sa > 20) & (sa <= 45),                          # clay loam
        (cl >= 27) & (cl < 40) & (sa <= 20),                                      # silty clay loam
        (cl >= 35) & (sa > 45),                                                   # sandy clay
        (cl >= 40) & (si >= 40),                                                  # silty clay
        (cl >= 40) & (sa <= 45) & (si < 40),                                      # clay
    ]
    out = np.select(rules, np.arange(len(rules)), default=3)  # boundary slivers of float inputs fall to loam
    return np.where(np.isnan(sa + si + cl), -1, out)


def _texture(inputs, params, ev):
    mapping = {**_ECO["usda_texture_to_code"]["map"], **params["usda_to_code"]}
    lut = np.array([mapping[c] for c in USDA_CLASSES], dtype=np.int16)

    def block(sa, si, cl):
        k = usda_texture(sa, si, cl)
        return np.where(k < 0, 0, lut[np.clip(k, 0, lut.size - 1)]).astype(np.int16)

    return {"soil_texture": ops.map_cells(block, inputs["soil_sand"], inputs["soil_silt"], inputs["soil_clay"], dtype=np.int16, name="soil_texture")}


TEXTURE = Model(
    ModelSpec(
        name="soil_texture",
        title_zh="土壤质地", title_en="Soil texture class",
        source="methods.md §3.7.1 (take a texture raster, or classify with a texture triangle [R]); USDA triangle → the codes of "
        "models/tables/ecology.yaml by usda_texture_to_code (spj's swapped sand/clay windows, §12.3 item 6, are not used)",
        inputs={
            "soil_sand": InputDecl("percent", "continuous", "sand content"),
            "soil_silt": InputDecl("percent", "continuous", "silt content (USDA 2–50 µm for the triangle)"),
            "soil_clay": InputDecl("percent", "continuous", "clay content"),
        },
        parameters={"usda_to_code": Parameter({}, "override of the USDA class → texture code map", _ECO["usda_texture_to_code"]["source"], open_keys=True)},
        outputs={"soil_texture": OutputDecl("int16", "soil texture class (土壤质地)", nodata=0, classes=tuple(
            ClassDecl(k, v[0], v[1], (160 + 6 * k, 120 + 8 * k, 80)) for k, v in _TEXTURES.items()))},
    ),
    _texture,
    derived=True,
)
