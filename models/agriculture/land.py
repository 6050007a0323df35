"""农业生产适宜性 — 土地资源 (agricultural land-resource factor), methods.md §4.1.

Step 1 grades slope into five classes (1 高 … 5 低); step 2 corrects by silt
content (粉砂含量): 60–80 % downgrades one class, ≥ 80 % sets class 5
(直接取最低). Source: [C-spj] ``AgriculturalLandResources.py``, exact; the
slope classes are the standard 耕地坡度分级 [K-high]. Slope is derived from the
DEM by Horn's method (methods.md §2.2 item 1).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import FIVE_GRADES, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._tables import table

_T = table("agriculture")
_SLOPE = _T["land_slope_grade"]
_SILT = _T["land_silt_correction"]

SPEC = ModelSpec(
    name="agri_land",
    title_zh="农业生产适宜性 · 土地资源",
    title_en="Agricultural production suitability: land resource factor",
    source="methods.md §4.1 [C-spj AgriculturalLandResources.py, exact]",
    inputs={
        "slope": InputDecl("degrees", "continuous", "slope (坡度), Horn 3x3 from the DEM", producer="slope"),
        "soil_silt": InputDecl("percent", "continuous", "silt content (粉粒含量), percent of the fine earth"),
    },
    parameters={
        "slope_thresholds_deg": Parameter(
            _SLOPE["thresholds_deg"], "slope class limits (upper-inclusive), degrees", _SLOPE["source"], ascending=True, length=4,
            domain=(0, 90, "degrees"),
        ),
        "silt_thresholds_pct": Parameter(
            _SILT["thresholds_pct"], "silt limits for 降1级 and 取最低 (lower-inclusive), percent", _SILT["source"], ascending=True, length=2,
            domain=(0, 100, "percent"),
        ),
        "silt_system": Parameter(
            "chinese",
            "particle-size system of the silt input, recorded with the outputs: chinese/international (silt 2–20 µm) or usda "
            "(2–50 µm); the default 60/80 % limits are for the chinese system, so usda needs silt_thresholds_pct set explicitly",
            "methods.md §0.3 item 11 [R]",
            choices=("chinese", "usda"),
        ),
    },
    consistency=lambda p: (
        ["silt_system: 'usda' silt (2–50 µm) is not graded by the 60/80 % limits of the chinese system (2–20 µm); "
         "set silt_thresholds_pct for USDA silt explicitly"]
        if p["silt_system"] == "usda" and list(p["silt_thresholds_pct"]) == list(_SILT["thresholds_pct"])
        else []
    ),
    outputs={
        "agri_land": OutputDecl("uint8", "农业土地资源等级 land-resource grade for agriculture (1 best)", nodata=0, classes=FIVE_GRADES),
    },
)


def land_grade(slope_deg: xr.DataArray, silt_pct: xr.DataArray, params: dict) -> xr.DataArray:
    """Slope grade (step 1) with the silt correction (step 2) applied; 0 where either input is nodata."""
    slope_grade = ops.grade(slope_deg, params["slope_thresholds_deg"], better="smaller")
    # larger-is-better on [80, 60]: 1 = s ≥ 80 %, 2 = 60 ≤ s < 80 %, 3 = s < 60 %, 0 = nodata
    silt_class = ops.grade(silt_pct, params["silt_thresholds_pct"][::-1], better="larger")
    below, between, above = _SILT["downgrade_steps"]
    steps = ops.lookup(silt_class, np.array([-1, above, between, below], dtype=np.int16))
    return ops.downgrade(slope_grade, steps, worst=5, name="agri_land", attrs={"long_name": SPEC.outputs["agri_land"].description})


def run(inputs: dict, params: dict, evaluation=None) -> dict:
    """:func:`land_grade` of the derived slope and the silt layer."""
    return {"agri_land": land_grade(inputs["slope"], inputs["soil_silt"], params)}


MODEL = Model(SPEC, run)
