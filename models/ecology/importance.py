"""生态保护重要性集成 (methods.md §3.8): min rule, the 2019 patch-concentration matrix, corrections."""
from __future__ import annotations

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import InputDecl, Model, ModelSpec, Parameter
from models._common import ECO_CLASSES, grades, limits
from models._tables import table

_ECO = table("ecology")
_PATCH = _ECO["patch_concentration_2019"]
_CORR = _ECO["corrections"]
SERVICES = ("wc", "sc", "ws", "bio", "coast")
PROCESSES = ("erosion", "desert", "rocky", "salin", "coast")
SERVICE_INPUTS = tuple(f"eco_service_{s}" for s in SERVICES)
SENSITIVITY_INPUTS = tuple(f"eco_sens_{p}" for p in PROCESSES)
#: the eco_importance_source code of each layer: coastal erosion (added later) after the rule codes, so stored codes keep their meaning
LAYER_CODES = {**{f"eco_service_{s}": i + 1 for i, s in enumerate(SERVICES)},
               **{f"eco_sens_{p}": len(SERVICES) + i + 1 for i, p in enumerate(PROCESSES[:4])}, "eco_sens_coast": len(SERVICES) + 4 + 4 + 1}
MASKS = ("nature_reserve_core", "must_include")
#: codes of eco_importance_source: which layer or rule set the final class
SOURCE_MEANINGS = (
    [(f"服务 {s}", f"service {s}") for s in SERVICES]
    + [(f"敏感性 {p}", f"sensitivity {p}") for p in PROCESSES[:4]]
    + [("斑块集中度矩阵 (2019)", "patch-concentration matrix (2019)"), ("小斑块降级", "small patch downgraded"),
       ("孔洞填充", "hole filled"), ("必须纳入", "must-include mask"), ("敏感性 coast", "sensitivity coast")]
)


def sens_to_eco(sen: np.ndarray) -> np.ndarray:
    """SEN 3 (极敏感) → ECO 1, 2 → 2, 1 → 3; 0 (nodata) stays 0. Source: methods.md §3.8.1 (the only polarity converter)."""
    return np.where(sen > 0, 4 - sen, 0).astype(np.uint8)


def initial_importance(service_classes: list[np.ndarray], sensitivity_classes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """ECO_init = min(min over services, sens_to_eco(max over processes)), with the 1-based index of the deciding layer.

    Source: methods.md §3.8.1 ("取较高等级": 1 = 极重要 is the highest) [C-fe,
    C-web:4]; spj's max of codes (§12.3 item 2) keeps the least important and
    is not used. Layers: services first, then sensitivities; nodata (0) in any → 0.
    """
    layers = [np.asarray(s, dtype=np.uint8) for s in service_classes] + [sens_to_eco(np.asarray(s)) for s in sensitivity_classes]
    stack = np.stack(layers)
    nodata = (stack == 0).any(axis=0)
    which = np.argmin(np.where(stack == 0, 255, stack), axis=0)  # first layer on ties
    eco = np.take_along_axis(stack, which[None], axis=0)[0]
    return np.where(nodata, 0, eco).astype(np.uint8), np.where(nodata, 0, which + 1).astype(np.uint8)


def concentration_class(area_km2: np.ndarray, thresholds=tuple(_PATCH["area_km2"])) -> np.ndarray:
    """生态斑块集中度 1 高 … 5 低 by patch area (km², lower-inclusive ≥ 2, 1, 0.5, 0.25). Source: methods.md §3.8.2 [C-fe exact]."""
    t = np.asarray(thresholds, dtype=np.float64)
    return (1 + np.sum(np.asarray(area_km2)[..., None] < t, axis=-1)).astype(np.uint8)


def _importance(inputs, params, ev):
    services = [inputs[n] for n in SERVICE_INPUTS if n in inputs]
    sens = [inputs[n] for n in SENSITIVITY_INPUTS if n in inputs]
    codes = [LAYER_CODES[n] for n in SERVICE_INPUTS + SENSITIVITY_INPUTS if n in inputs]
    code_lut = np.array([0] + codes, dtype=np.uint8)
    n_services = len(services)

    def initial(*blocks):
        eco, which = initial_importance(list(blocks[:n_services]), list(blocks[n_services:]))
        return np.stack([eco, code_lut[which]])

    eco = ops.map_cells(lambda *b: initial(*b)[0], *services, *sens, dtype=np.uint8, name="eco_init")
    source = ops.map_cells(lambda *b: initial(*b)[1], *services, *sens, dtype=np.uint8, name="eco_importance_source")
    n_base = len(SERVICES) + 4
    must = [inputs[m] for m in MASKS if m in inputs]

    if ev.guideline == "2019draft" and params["patch_matrix_2019"]:
        # §3.8.2: 生态保护等级 高/中等/低 from ECO 1/2/3, patches of every level but 低, area → 集中度, matrix → ECO
        level_lut = np.array([0] + list(_PATCH["level_from_eco"]), dtype=np.uint8)
        matrix = np.asarray(params["concentration_matrix"], dtype=np.uint8)
        area = ops.patch_area(ops.label(ops.map_cells(lambda e: (e == 1) | (e == 2), eco, dtype=bool)), unit="km2")
        thresholds = tuple(params["concentration_area_km2"])

        def by_matrix(e, a, s):
            level = level_lut[e]
            conc = concentration_class(np.nan_to_num(a, nan=0.0), thresholds)
            out = np.where(e == 0, 0, matrix[np.clip(level, 1, 5) - 1, conc - 1]).astype(np.uint8)
            return out, np.where(out != e, n_base + 1, s).astype(np.uint8)

        new_eco = ops.map_cells(lambda e, a, s: by_matrix(e, a, s)[0], eco, area, source, dtype=np.uint8)
        source = ops.map_cells(lambda e, a, s: by_matrix(e, a, s)[1], eco, area, source, dtype=np.uint8)
        eco = new_eco
    else:
        # §3.8.3 item 3: 极重要 patches smaller than min_patch_km2 (outside the must-include masks) become 重要
        very = ops.map_cells(lambda e, *m: (e == 1) & ~np.any([x > 0 for x in m], axis=0) if m else e == 1, eco, *must, dtype=bool)
        kept = ops.remove_small_patches(very, params["min_patch_km2"], unit="km2")
        eco, source = _apply(eco, source, very, kept, lambda e, v, k: v & ~k, 2, n_base + 2)
    # §3.8.3 item 3: holes smaller than min_hole_km2 enclosed by 极重要 become 极重要
    very = ops.map_cells(lambda e: e == 1, eco, dtype=bool)
    filled = ops.fill_small_holes(very, params["min_hole_km2"], unit="km2")
    eco, source = _apply(eco, source, very, filled, lambda e, v, f: f & ~v & (e > 0), 1, n_base + 3)
    # §3.8.3 item 1: must-include masks are 极重要, imposed last
    if must:
        def impose(e, s, *m):
            inside = np.any([x > 0 for x in m], axis=0) & (e > 0)
            return np.where(inside, 1, e).astype(np.uint8), np.where(inside & (e != 1), n_base + 4, s).astype(np.uint8)

        new_eco = ops.map_cells(lambda e, s, *m: impose(e, s, *m)[0], eco, source, *must, dtype=np.uint8)
        source = ops.map_cells(lambda e, s, *m: impose(e, s, *m)[1], eco, source, *must, dtype=np.uint8)
        eco = new_eco
    attrs = {"long_name": "生态保护重要性 ecological-protection importance (1 极重要, 2 重要, 3 一般重要)", "guideline": ev.guideline}
    return {"eco_importance": eco.rename("eco_importance").assign_attrs(attrs), "eco_importance_source": source.rename("eco_importance_source")}


def _apply(eco, source, before, after, changed, new_class, code):
    """Set ``new_class`` where ``changed(eco, before, after)`` and record ``code`` as the deciding rule."""
    def block(e, s, b, a):
        c = changed(e, b, a)
        return np.where(c, new_class, e).astype(np.uint8), np.where(c, code, s).astype(np.uint8)

    return (ops.map_cells(lambda *x: block(*x)[0], eco, source, before, after, dtype=np.uint8),
            ops.map_cells(lambda *x: block(*x)[1], eco, source, before, after, dtype=np.uint8))


IMPORTANCE = Model(
    ModelSpec(
        name="eco_importance",
        title_zh="生态保护重要性", title_en="Ecological-protection importance",
        source="methods.md §3.8: ECO = min(services, sens_to_eco(max sensitivities)) [C-fe, C-spj ecology.py, C-web:4]; 2019draft: "
        "patch-concentration matrix §3.8.2 [C-fe exact]; 2020trial: small 极重要 patches → 重要 §3.8.3 [R]; holes filled; must-include masks "
        "→ 极重要 (§0.3 item 13)",
        inputs={
            **{f"eco_service_{s}": InputDecl("class", "categorical", f"service class {s}", required=False, producer=f"eco_{model}")
               for s, model in zip(SERVICES, ("water", "soil", "wind", "bio", "coast"))},
            **{n: InputDecl("class", "categorical", f"sensitivity class {n[9:]}", required=False, producer=n) for n in SENSITIVITY_INPUTS},
            "nature_reserve_core": InputDecl("mask", "mask", "core zones of nature reserves and national parks (核心保护区)", required=False),
            "must_include": InputDecl("mask", "mask", "other areas to force into 极重要 (饮用水源一级保护区, important wetlands …)", required=False),
        },
        parameters={
            "patch_matrix_2019": Parameter(True, "2019draft: apply the patch-concentration matrix (§3.8.2)", "methods.md §1.2, §3.8.2"),
            "concentration_area_km2": Parameter(list(_PATCH["area_km2"]), "patch-area limits of 集中度 高/较高/一般/较低 (km², lower-inclusive)",
                                                _PATCH["source"], ascending=False, length=4, domain=(0, 1e6, "km2")),
            "concentration_matrix": Parameter(_PATCH["matrix"], "生态保护等级 × 集中度 → ECO", _PATCH["source"], shape=(5, 5), codes=(1, 2, 3)),
            "min_patch_km2": Parameter(_CORR["min_patch_km2"], "2020trial: 极重要 patches smaller than this become 重要 (km²)", _CORR["source"], domain=(0, 1e6, "km2")),
            "min_hole_km2": Parameter(_CORR["min_hole_km2"], "holes enclosed by 极重要 smaller than this become 极重要 (km²)", _CORR["source"], domain=(0, 1e6, "km2")),
        },
        needs_one_of=SERVICE_INPUTS + SENSITIVITY_INPUTS,
        outputs={
            "eco_importance": grades("生态保护重要性 ecological-protection importance", ECO_CLASSES),
            "eco_importance_source": limits("layer or rule that set the ecological-protection class (举证)", SOURCE_MEANINGS),
        },
    ),
    _importance,
)
