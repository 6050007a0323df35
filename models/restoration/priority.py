"""Ecological-problem severity (methods.md §9.1) and restoration priority (§9.2)."""
from __future__ import annotations


import dask
import numpy as np
import pandas as pd
import xarray as xr

from evaluate import ops
from evaluate.kernels import trend
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import isin, limits, packed
from models._tables import table

_R = table("restoration")
SEVERITY_CLASSES = (
    ClassDecl(0, "无", "none", (235, 240, 200)), ClassDecl(1, "轻度", "light", (250, 220, 120)),
    ClassDecl(2, "中度", "moderate", (240, 140, 60)), ClassDecl(3, "严重", "severe", (200, 30, 30)),
)
PRIORITY_CLASSES = (
    ClassDecl(1, "优先修复区", "first-priority restoration", (200, 30, 30)), ClassDecl(2, "重点修复区", "key restoration", (240, 140, 60)),
    ClassDecl(3, "一般修复区", "general restoration", (250, 220, 120)), ClassDecl(4, "保护保育区", "protection and conservation", (40, 140, 60)),
    ClassDecl(5, "其他", "other", (220, 220, 220)),
)
PROBLEMS = ("erosion", "desert", "rocky", "salin", "vegetation", "mining", "conflict")
LAYERED = PROBLEMS[:-1]  # problems written as their own layer (conflicts are the conflict_flags raster already)


def erosion_severity(soil_loss_t_ha_a, tolerance_t_km2_a, breaks=tuple(_R["erosion_intensity"]["breaks_t_km2_a"])) -> np.ndarray:
    """SL 190-2007 intensity of actual erosion: < T → 0; [T, 2500) → 1; [2500, 5000) → 2; ≥ 5000 → 3 (t/(km²·a) = 100 × t/(hm²·a)).

    Source: methods.md §9.1 [K-high SL 190-2007]. NaN → 0 (no evidence of a problem is no problem: severity is a max).
    """
    a = 100.0 * np.asarray(soil_loss_t_ha_a, dtype=np.float64)
    s = np.select([a < tolerance_t_km2_a, a < breaks[0], a < breaks[1]], [0, 1, 2], 3)
    return np.where(np.isnan(a), 0, s).astype(np.uint8)


def degraded_severity(sen, degraded) -> np.ndarray:
    """SEN 3 ∧ degraded → 3; SEN 2 ∧ degraded → 2; SEN ≥ 2 not degraded → 1; else 0. Source: methods.md §9.1 [R]."""
    sen = np.asarray(sen)
    return np.where(degraded & (sen == 3), 3, np.where(degraded & (sen == 2), 2, np.where(sen >= 2, 1, 0))).astype(np.uint8)


def theil_sen_mann_kendall(series: np.ndarray, continuity: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Theil–Sen slope (per step) and the two-sided Mann–Kendall p-value along axis 0 (years), NaN-free series.

    Source: methods.md §9.1 [R]; Sen (1968), Mann (1945)/Kendall (1975), as
    the kernel :func:`evaluate.kernels.trend.theil_sen_mann_kendall` (ties
    corrected, continuity correction by default).
    """
    y = np.ascontiguousarray(series, dtype=np.float64)
    slope, p = trend.theil_sen_mann_kendall(y.reshape(y.shape[0], -1), continuity)
    return slope.reshape(y.shape[1:]), p.reshape(y.shape[1:])


def _severity(inputs, params, ev):
    present = [n for n in ("soil_loss", "eco_sens_desert", "eco_sens_rocky", "eco_sens_salin", "mining", "conflict_flags", "landuse") if n in inputs]
    years = sorted(n for n in inputs if n.startswith("ndvi_y"))
    tolerance, fvc_max = params["tolerance_t_km2_a"], params["degraded_fvc_max"]
    bare = params["bare_landuse"]
    severe_slope = params["severe_decline_slope"]

    def block(fvc, *blocks):
        got = dict(zip(present, blocks[: len(present)]))
        series = blocks[len(present):]
        degraded = (fvc <= fvc_max) | (np.isin(got["landuse"], bare) if "landuse" in got else False)
        layers = {p: np.zeros(fvc.shape, np.uint8) for p in PROBLEMS}
        if "soil_loss" in got:
            layers["erosion"] = erosion_severity(got["soil_loss"], tolerance)
        for p in ("desert", "rocky", "salin"):
            if f"eco_sens_{p}" in got:
                layers[p] = degraded_severity(got[f"eco_sens_{p}"], degraded)
        if series:
            stack = np.stack(series).astype(np.float64)
            slope, pval = theil_sen_mann_kendall(np.nan_to_num(stack))
            decline = slope < 0
            layers["vegetation"] = np.where(decline & (pval < params["alpha"]), np.where(slope < severe_slope, 3, 2),
                                            np.where(decline, 1, 0)).astype(np.uint8)
        if "mining" in got:
            layers["mining"] = np.where(got["mining"] > 0, 3, 0).astype(np.uint8)
        if "conflict_flags" in got:
            layers["conflict"] = np.where(got["conflict_flags"] & 1, 2, 0).astype(np.uint8)
        stack = np.stack([layers[p] for p in PROBLEMS])
        worst = stack.max(axis=0)
        which = np.where(worst > 0, np.argmax(stack, axis=0) + 1, 0).astype(np.uint8)  # the first problem on ties
        return (worst, which, *[layers[p] for p in LAYERED])

    names = ("severity", "severity_source") + tuple(f"severity_{p}" for p in LAYERED)
    out = packed(block, inputs["fvc"], *[inputs[n] for n in present], *[inputs[n] for n in years], names=names)
    return out


SEVERITY = Model(
    ModelSpec(
        name="restoration_severity",
        title_zh="生态问题严重程度", title_en="Ecological-problem severity",
        source="methods.md §9.1: water erosion by SL 190-2007 on A_r; desertification, rocky desertification, salinization on degraded cover; "
        "vegetation decline (Theil–Sen + Mann–Kendall); mining; conflicts C1; SEVERITY = max [R]",
        inputs={
            "fvc": InputDecl("fraction", "continuous", "vegetation cover (degraded ≤ 0.2)", producer="fvc"),
            "soil_loss": InputDecl("t/(ha*a)", "continuous", "actual erosion A_r = R·K·LS·C", required=False, producer="eco_soil"),
            "eco_sens_desert": InputDecl("class", "categorical", "desertification sensitivity", required=False, producer="eco_sens_desert"),
            "eco_sens_rocky": InputDecl("class", "categorical", "rocky-desertification sensitivity", required=False, producer="eco_sens_rocky"),
            "eco_sens_salin": InputDecl("class", "categorical", "salinization sensitivity", required=False, producer="eco_sens_salin"),
            "mining": InputDecl("mask", "mask", "mining / damaged land (矿山损毁土地)", required=False),
            "conflict_flags": InputDecl("class", "categorical", "conflict bitmask (C1 → 2)", required=False, producer="conflicts"),
            "landuse": InputDecl("class", "categorical", "三调 land use (bare land is degraded)", required=False),
            **{f"ndvi_y{k:02d}": InputDecl("fraction", "continuous", f"NDVI or NPP of year {k} (ndvi_y: {{bands: N}}, N ≥ 10)", required=False)
               for k in range(1, 41)},
        },
        parameters={
            "tolerance_t_km2_a": Parameter(_R["erosion_intensity"]["tolerance_t_km2_a"], "SL 190 tolerance T (t/(km²·a)) of the region",
                                           _R["erosion_intensity"]["source"], choices=(200, 500, 1000)),
            "degraded_fvc_max": Parameter(_R["degraded_cover"]["fvc_max"], "FVC at or below which cover is degraded", _R["degraded_cover"]["source"],
                                          domain=(0, 1, "fraction")),
            "bare_landuse": Parameter(_R["degraded_cover"]["bare_landuse"], "三调 codes of bare land", _R["degraded_cover"]["source"]),
            "alpha": Parameter(_R["trend"]["alpha"], "significance of the Mann–Kendall test", _R["trend"]["source"], domain=(0, 1, "probability")),
            "severe_decline_slope": Parameter(-0.01, "Theil–Sen slope (per year) below which a significant decline is severe "
                                              "(stands for the P10 of the declines)", _R["trend"]["source"]),
        },
        outputs={
            "severity": OutputDecl("uint8", "生态问题严重程度 severity (max over problems)", nodata=255, classes=SEVERITY_CLASSES),
            "severity_source": limits("problem that set the severity", [(p, p) for p in PROBLEMS]),
            **{f"severity_{p}": OutputDecl("uint8", f"severity of {p}", nodata=255, classes=SEVERITY_CLASSES) for p in LAYERED},
        },
    ),
    _severity,
)


def priority_class(eco, severity, matrix) -> np.ndarray:
    """restoration_priority = matrix[ECO − 1, SEVERITY] (1 优先修复 … 5 其他); 0 where ECO is nodata. Source: methods.md §9.2 [R]."""
    eco = np.asarray(eco, dtype=np.int64)
    out = np.asarray(matrix)[np.clip(eco, 1, 3) - 1, np.clip(np.asarray(severity, dtype=np.int64), 0, 3)]
    return np.where((eco < 1) | (eco > 3), 0, out).astype(np.uint8)


def _priority(inputs, params, ev):
    matrix = params["matrix"]
    priority = ops.map_cells(lambda e, s: priority_class(e, s, matrix), inputs["eco_importance"], inputs["severity"], dtype=np.uint8,
                             name="restoration_priority")
    # polygons of the classes to restore (1–3), one per county × class
    admin = inputs["admin"] if "admin" in inputs else ops.map_cells(lambda p: np.ones(p.shape, np.int32), priority, dtype=np.int32)
    code = ops.map_cells(lambda z, p: np.where((p >= 1) & (p <= params["vector_max_class"]), z.astype(np.int64) * 10 + p, 0), admin, priority,
                         dtype=np.int64)
    polygons = ops.polygonize(code, min_cells=params["vector_min_cells"])
    return {"restoration_priority": priority, "restoration_areas": dask.delayed(priority_features, pure=True)(polygons)}


def priority_features(polygons: pd.DataFrame) -> pd.DataFrame:
    """Layer XFQY (生态修复分区): one polygon per county × priority class, ellipsoidal MJ in m², ha and mu."""
    value = polygons["value"].to_numpy(dtype=np.int64)
    names = {c.code: c.zh for c in PRIORITY_CLASSES}
    mj = np.round(polygons["area_m2"].to_numpy(), 2)
    return pd.DataFrame({
        "layer": "XFQY", "XZQDM": [str(v // 10) for v in value], "YXJDJ": [names[int(v % 10)] for v in value],
        "YXJBM": (value % 10).astype(np.int32), "MJ": mj, "MJ_HA": np.round(mj / 1e4, 4), "MJ_MU": np.round(mj * 15 / 1e4, 2),
        "geometry": polygons["geometry"].to_numpy(),
    })


PRIORITY = Model(
    ModelSpec(
        name="restoration_priority",
        title_zh="生态修复优先级", title_en="Restoration priority",
        source="methods.md §9.2 importance × severity matrix [R engineering default], the ECO of §3.8.3 (§0.3 item 13)",
        inputs={
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance", producer="eco_importance"),
            "severity": InputDecl("class", "categorical", "problem severity", producer="restoration_severity"),
            "admin": InputDecl("class", "categorical", "county codes (XZQDM of the polygons)", required=False),
        },
        parameters={"matrix": Parameter(_R["priority_matrix"]["matrix"], "ECO (rows 1–3) × SEVERITY (columns 0–3) → priority",
                                        _R["priority_matrix"]["source"], shape=(3, 4), codes=(1, 2, 3, 4, 5)),
                    "vector_max_class": Parameter(3, "priority classes 1..this become polygons (1–3: the areas to restore)", "methods.md §9.2 [R]",
                                                  choices=(1, 2, 3, 4, 5)),
                    "vector_min_cells": Parameter(1, "polygons of fewer cells are left out of restoration_areas", "[R]", domain=(1, 1e9, "cells"))},
        outputs={"restoration_priority": OutputDecl("uint8", "生态修复优先级 restoration priority", nodata=0, classes=PRIORITY_CLASSES),
                 "restoration_areas": OutputDecl("vector", "生态修复分区 polygons (classes 1–3), CGCS2000, MJ ellipsoidal", kind="vector")},
    ),
    _priority,
)
