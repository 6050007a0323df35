"""Ecological-problem severity (methods.md §9.1) and restoration priority (§9.2)."""
from __future__ import annotations


import dask
import numpy as np
import pandas as pd
import xarray as xr

from evaluate import ops
from evaluate.kernels import trend
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import isin, limits, packed, values
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
PROBLEMS = ("erosion", "desert", "rocky", "salin", "vegetation", "mining", "conflict", "fragmentation")
LAYERED = tuple(p for p in PROBLEMS if p != "conflict")  # problems written as their own layer (conflicts are the conflict_flags raster already)


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

    extra, extra_names = [], []
    if years:
        extra.append(_vegetation_severity(inputs, years, params))
        extra_names.append("vegetation")
    if "landuse" in inputs and params["fragmentation_window_m"] > 0:
        extra.append(_fragmentation_severity(inputs["landuse"], params))
        extra_names.append("fragmentation")

    def block(fvc, *blocks):
        got = dict(zip(present, blocks[: len(present)]))
        degraded = (fvc <= fvc_max) | (np.isin(got["landuse"], bare) if "landuse" in got else False)
        layers = {p: np.zeros(fvc.shape, np.uint8) for p in PROBLEMS}
        if "soil_loss" in got:
            layers["erosion"] = erosion_severity(got["soil_loss"], tolerance)
        for p in ("desert", "rocky", "salin"):
            if f"eco_sens_{p}" in got:
                layers[p] = degraded_severity(got[f"eco_sens_{p}"], degraded)
        if extra:
            for name, layer in zip(extra_names, blocks[len(present):]):
                layers[name] = np.asarray(layer, dtype=np.uint8)
        if "mining" in got:
            layers["mining"] = np.where(got["mining"] > 0, 3, 0).astype(np.uint8)
        if "conflict_flags" in got:
            layers["conflict"] = np.where(got["conflict_flags"] & 1, 2, 0).astype(np.uint8)
        stack = np.stack([layers[p] for p in PROBLEMS])
        worst = stack.max(axis=0)
        which = np.where(worst > 0, np.argmax(stack, axis=0) + 1, 0).astype(np.uint8)  # the first problem on ties
        return (worst, which, *[layers[p] for p in LAYERED])

    names = ("severity", "severity_source") + tuple(f"severity_{p}" for p in LAYERED)
    out = packed(block, inputs["fvc"], *[inputs[n] for n in present], *extra, names=names)
    return out


def _vegetation_severity(inputs, years, params):
    """Significant decline (Mann–Kendall p < α) → 2, and 3 below the P10 of the significant declines' Theil–Sen slopes
    (or below ``severe_decline_slope`` when ``severe_decline`` is "threshold"); a non-significant decline → 1 (§9.1 [R])."""
    alpha = params["alpha"]

    def trend(*series):
        slope, pval = theil_sen_mann_kendall(np.nan_to_num(np.stack(series).astype(np.float64)))
        # significant declines carry their slope (< 0); a non-significant decline is +1; no decline NaN
        return np.where(slope < 0, np.where(pval < alpha, slope, 1.0), np.nan).astype(np.float64)

    coded = ops.map_cells(trend, *[inputs[n] for n in years], dtype=np.float64)
    if params["severe_decline"] == "p10":
        declines = ops.map_cells(lambda v: np.where(v < 0, v, np.nan), coded, dtype=np.float64)
        severe = ops.quantile_breaks(declines, 10)  # the first of the 9 breaks is the P10
    else:
        severe = np.array([params["severe_decline_slope"]])

    def classify(v, b):
        p10 = np.asarray(b, dtype=np.float64).ravel()[0]
        return np.where(v < 0, np.where(v < p10, 3, 2), np.where(v == 1.0, 1, 0)).astype(np.uint8)

    return ops.map_cells_with(classify, coded, small=[severe], dtype=np.uint8)


def _fragmentation_severity(landuse, params):
    """Habitat fragmentation (§9.1 [R]): edge density of natural land (m of natural/other boundary per ha) in a square window,
    natural cells only, in classes 0–3 by natural breaks of the edge density (the lowest class 0)."""
    from evaluate.grid import grid_of

    natural_codes = np.array(sorted(params["natural_landuse"]) or [-1])
    dx, dy = grid_of(landuse).cell_size_m()
    cell = 0.5 * (float(np.mean(dx)) + float(np.mean(dy)))

    natural = ops.map_cells(lambda lu: np.where(lu > 0, np.isin(lu, natural_codes), np.nan).astype(np.float32), landuse, dtype=np.float32)
    # an edge cell: natural, with a non-natural cell among its 8 neighbours (the 3 × 3 minimum is 0)
    edge = ops.map_cells(lambda n, m: np.where(np.isnan(n), np.nan, (n == 1) & (m == 0)).astype(np.float32), natural,
                         ops.focal(natural, "min", "square", radius_m=cell), dtype=np.float32)
    density = ops.map_cells(lambda e: e * cell / (cell * cell / 1e4), ops.focal(edge, "mean", radius_m=params["fragmentation_window_m"]),
                            dtype=np.float32)  # edge cells × cell length per hectare
    on_natural = ops.map_cells(lambda n, d: np.where(n == 1, d, np.nan).astype(np.float32), natural, density, dtype=np.float32)
    classes = ops.apply_breaks(on_natural, ops.natural_breaks(on_natural, 4))  # 1 … 4, 0 outside natural land
    return ops.map_cells(lambda c: np.where(c > 0, c - 1, 0).astype(np.uint8), classes, dtype=np.uint8)


SEVERITY = Model(
    ModelSpec(
        name="restoration_severity",
        title_zh="生态问题严重程度", title_en="Ecological-problem severity",
        source="methods.md §9.1: water erosion by SL 190-2007 on A_r; desertification, rocky desertification, salinization on degraded cover; "
        "vegetation decline (Theil–Sen + Mann–Kendall, severe below the P10); habitat fragmentation (edge density of natural land, natural "
        "breaks); mining; conflicts C1; SEVERITY = max [R]",
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
            "severe_decline": Parameter("p10", "a significant decline is severe below the P10 of the significant declines' slopes (p10) "
                                        "or below severe_decline_slope (threshold)", "methods.md §9.1 [R]", choices=("p10", "threshold")),
            "severe_decline_slope": Parameter(-0.01, "Theil–Sen slope (per year) of a severe decline when severe_decline is threshold",
                                              _R["trend"]["source"]),
            "fragmentation_window_m": Parameter(500.0, "half-side of the window of the natural-land edge density (habitat fragmentation; 0 off)",
                                                "methods.md §9.1 [R]", domain=(0, 1e5, "m")),
            "natural_landuse": Parameter(_R["fragmentation"]["natural_landuse"], "三调 codes of natural habitat (林地, 草地, 湿地) for the "
                                         "fragmentation layer", _R["fragmentation"]["source"]),
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


def priority_index(eco, severity) -> np.ndarray:
    """P = norm(importance score) × norm(severity): (4 − ECO)/3 × SEVERITY/3, NaN where ECO is nodata. Source: methods.md §9.2 continuous [R]."""
    eco = np.asarray(eco, dtype=np.float64)
    p = (4.0 - np.clip(eco, 1, 3)) / 3.0 * np.clip(np.asarray(severity, dtype=np.float64), 0, 3) / 3.0
    return np.where((eco < 1) | (eco > 3), np.nan, p).astype(np.float32)


def _priority(inputs, params, ev):
    matrix = params["matrix"]
    eco, severity = inputs["eco_importance"], inputs["severity"]
    index = ops.map_cells(priority_index, eco, severity, dtype=np.float32, name="restoration_priority_index")
    if params["method"] == "matrix":
        priority = ops.map_cells(lambda e, s: priority_class(e, s, matrix), eco, severity, dtype=np.uint8, name="restoration_priority")
    else:
        # the continuous alternative: P > 0 in 3 classes (1 优先 … 3 一般) by natural breaks or the cumulative 50/80 rule; P = 0 → 4 (极重要) or 5
        positive = ops.map_cells(lambda p: np.where(p > 0, p, np.nan).astype(np.float32), index, dtype=np.float32)
        if params["method"] == "continuous_natural_breaks":
            classes = ops.apply_breaks(positive, ops.natural_breaks(positive, 3), better="larger")
        else:
            classes = ops.cumulative_share(positive, shares=(0.5, 0.8))

        def combine(c, e, p):
            return np.where(np.isnan(p), 0, np.where(p > 0, c, np.where(e == 1, 4, 5))).astype(np.uint8)

        priority = ops.map_cells(combine, classes, eco, index, dtype=np.uint8, name="restoration_priority")
    # polygons of the classes to restore (1–3), one per county × class
    admin = inputs["admin"] if "admin" in inputs else ops.map_cells(lambda p: np.ones(p.shape, np.int32), priority, dtype=np.int32)
    code = ops.map_cells(lambda z, p: np.where((p >= 1) & (p <= params["vector_max_class"]), z.astype(np.int64) * 10 + p, 0), admin, priority,
                         dtype=np.int64)
    polygons = ops.polygonize(code, min_cells=params["vector_min_cells"])
    return {"restoration_priority": priority, "restoration_priority_index": index,
            "restoration_areas": dask.delayed(priority_features, pure=True)(polygons)}


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
                    "method": Parameter("matrix", "matrix (§9.2 table) or the continuous index P classed by natural breaks or the cumulative "
                                        "50/80 rule", "methods.md §9.2 [R]", choices=("matrix", "continuous_natural_breaks", "continuous_cumulative")),
                    "vector_max_class": Parameter(3, "priority classes 1..this become polygons (1–3: the areas to restore)", "methods.md §9.2 [R]",
                                                  choices=(1, 2, 3, 4, 5)),
                    "vector_min_cells": Parameter(1, "polygons of fewer cells are left out of restoration_areas", "[R]", domain=(1, 1e9, "cells"))},
        outputs={"restoration_priority": OutputDecl("uint8", "生态修复优先级 restoration priority", nodata=0, classes=PRIORITY_CLASSES),
                 "restoration_priority_index": values("continuous priority index P = norm(importance) × norm(severity)", "1"),
                 "restoration_areas": OutputDecl("vector", "生态修复分区 polygons (classes 1–3), CGCS2000, MJ ellipsoidal", kind="vector")},
    ),
    _priority,
)
