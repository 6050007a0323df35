"""Combination operators: judgement matrices, chained corrections and factor overlays (elementwise, halo 0).

Nodata (methods.md §0.2, §0.3 item 1, §10): integer layers are class rasters
whose 0 is nodata; float layers use NaN. A cell with a nodata input is nodata
in the output (0 for class outputs, NaN for float outputs). Every operator
works eagerly on numpy-backed and lazily on dask-backed DataArrays with
bit-identical results for any chunking (ARCHITECTURE.md class 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import dask.array as da
import numpy as np
import xarray as xr

from evaluate.kernels import combine as _k
from evaluate.ops._wrap import _is_dask, _like, map_cells
from evaluate.ops.classify import grade

HALO = 0


def _aligned(layers: Sequence[xr.DataArray]) -> list[xr.DataArray]:
    layers = list(layers)
    if not layers:
        raise ValueError("need at least one layer")
    first = layers[0]
    for other in layers[1:]:
        if other.shape != first.shape or other.dims != first.dims:
            raise ValueError(f"layers are not aligned: {first.dims}{first.shape} vs {other.dims}{other.shape}")
    return layers


def _zero_nodata(layers: Sequence[xr.DataArray]) -> np.ndarray:
    return np.array([not np.issubdtype(a.dtype, np.floating) for a in layers], dtype=np.bool_)


def _flat(blocks) -> tuple[np.ndarray, ...]:
    """Blocks as a tuple of flat arrays of their common dtype: views, copied only where a dtype or layout differs."""
    common = np.result_type(*[b.dtype for b in blocks])
    return tuple(np.ascontiguousarray(b, dtype=common).ravel() for b in blocks)


def _map_cells_stacked(func: Callable[..., np.ndarray], layers: Sequence[xr.DataArray], k: int, dtype) -> list:
    """Run a block function that returns k outputs stacked as (k, *block.shape); hand back the k arrays (lazy for dask)."""
    first = layers[0]
    if not any(_is_dask(a) for a in layers):
        data = func(*[np.asarray(a.data) for a in layers])
        return [data[i] for i in range(k)]
    chunks = next(a.data.chunks for a in layers if _is_dask(a))
    blocks = [a.data.rechunk(chunks) if _is_dask(a) else da.from_array(np.asarray(a.data), chunks=chunks) for a in layers]
    data = da.map_blocks(func, *blocks, new_axis=0, chunks=((k,), *chunks), dtype=dtype, meta=np.empty((0,) * (first.ndim + 1), dtype=dtype))
    return [data[i] for i in range(k)]


# ---------------------------------------------------------------- judgement matrices
def matrix_lookup(
    matrix: Sequence | np.ndarray,
    *grades: xr.DataArray,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Combine graded layers through an n-dimensional judgement matrix (判别矩阵).

    Source: methods.md §4.4 (农业耕作条件 = LAND × WATER), §4.5 (生产条件 =
    FARMING × HEAT), §5.3 (城镇建设条件) [C-spj, exact matrices], and the LUT of
    §10.1. ``matrix[g1 − 1, g2 − 1, …]`` for 1-based grades (row = first grade).

    Nodata: any grade that is 0, NaN, not an integer or larger than the
    matrix's extent along its axis gives 0 — never an error at compute time
    and never a wrapped index (§0.3 item 1: a 0 code used as an index would
    silently select the last row). Output dtype: the matrix's (uint8 for
    grade matrices).
    """
    table = np.asarray(matrix)
    if table.ndim != len(grades):
        raise ValueError(f"a {table.ndim}-D matrix needs {table.ndim} grade layers, got {len(grades)}")
    if not np.issubdtype(table.dtype, np.integer):
        raise ValueError(f"matrix entries must be integer class codes, got dtype {table.dtype}")
    if table.min() >= 0 and table.max() <= 255:
        table = table.astype(np.uint8)  # grade matrices given as nested lists become uint8 class rasters
    flat = np.ascontiguousarray(table).ravel()
    shape = np.array(table.shape, dtype=np.int64)
    layers = _aligned(grades)

    def block(*blocks):
        return _k.matrix_lookup(_flat(blocks), flat, shape).reshape(blocks[0].shape)

    out_attrs = {"long_name": "judgement-matrix class", "nodata": 0, "method": "judgement matrix, methods.md §4.4/§4.5/§5.3"}
    out_attrs.update(attrs or {})
    return map_cells(block, *layers, dtype=table.dtype, name=name, attrs=out_attrs)


# ---------------------------------------------------------------- chained correction rules
_ACTIONS = {"downgrade": _k.DOWNGRADE, "upgrade": _k.UPGRADE, "force": _k.FORCE}


@dataclass(frozen=True)
class Rule:
    """One correction (修正) rule: where ``condition`` holds, downgrade / upgrade by ``amount`` or force ``amount``.

    ``grades=(lo, hi)`` restricts the rule to cells whose current, already
    corrected grade is within [lo, hi] — e.g. §5.8 rule 5 "location 好 and
    2 ≤ URB ≤ 4 → upgrade 1". ``name`` labels the rule in the limiting-factor
    raster's attributes.
    """

    condition: xr.DataArray
    action: str
    amount: int
    grades: tuple[int, int] | None = None
    name: str | None = None

    def __post_init__(self):
        if self.action not in _ACTIONS:
            raise ValueError(f"rule action must be one of {sorted(_ACTIONS)}, got {self.action!r}")
        if int(self.amount) != self.amount or not 0 <= self.amount <= 255:
            raise ValueError(f"rule amount must be an integer in 0..255, got {self.amount!r}")
        if self.action == "force" and self.amount == 0:
            raise ValueError("forcing grade 0 would mark data as nodata; mask nodata in the input grade instead")


def _as_rule(rule) -> Rule:
    if isinstance(rule, Rule):
        return rule
    rule = tuple(rule)
    if len(rule) >= 2 and isinstance(rule[1], (tuple, list)):
        rule = (rule[0], *rule[1], *rule[2:])
    if len(rule) not in (3, 4):
        raise ValueError(f"a rule is Rule(...), (condition, action, amount[, (lo, hi)]) or (condition, (action, amount)[, (lo, hi)]), got {rule!r}")
    return Rule(*rule)


def apply_rules(
    grade: xr.DataArray,
    rules: Sequence[Rule | tuple],
    *,
    best: int = 1,
    worst: int = 5,
    limiting_factor: bool = False,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray | tuple[xr.DataArray, xr.DataArray]:
    """Apply limiting-factor corrections (修正) in order, chained: each rule sees the previous rules' result.

    Source: methods.md §4.6 and §5.8 [C-spj rules; chaining R]; §0.2
    "Downgrade by n" g ← min(worst, g + n), "Upgrade by n" g ← max(best, g − n);
    "force" sets the grade (e.g. 土壤环境容量 低 → 5, GEOHAZ 极高 → 5).
    [C-spj] applied each rule to the uncorrected grade and kept the last
    (§12.3 item 1) — not replicated. T9: 2 → 3 → 4 → 4.

    Parameters
    ----------
    grade : xarray.DataArray
        Grades 1..worst; 0 (or NaN) is nodata and stays 0.
    rules : sequence
        :class:`Rule` objects or tuples ``(condition, action, amount[, (lo, hi)])``
        or ``(condition, (action, amount)[, (lo, hi)])`` with action
        ``"downgrade" | "upgrade" | "force"``. A condition is a boolean (or
        numeric: non-zero) raster; NaN counts as false, so a missing optional
        factor is neutral (§0.2 NoData). Mask the grade beforehand where a
        required factor is nodata.
    limiting_factor : bool
        Also return the limiting-factor raster (uint8): the 1-based index of
        the last rule that changed the cell's grade, 0 where none did or the
        grade is nodata — the evidence (举证) of which rule set the final class.

    Returns
    -------
    grade (uint8), or (grade, limiting_factor) when ``limiting_factor``.
    """
    rules = [_as_rule(r) for r in rules]
    conditions = _aligned([grade] + [r.condition for r in rules])[1:]
    actions = np.array([_ACTIONS[r.action] for r in rules], dtype=np.int64)
    amounts = np.array([int(r.amount) for r in rules], dtype=np.int64)
    lo = np.array([r.grades[0] if r.grades else 0 for r in rules], dtype=np.int64)
    hi = np.array([r.grades[1] if r.grades else 255 for r in rules], dtype=np.int64)
    if len(rules) > 255:
        raise ValueError("at most 255 rules (the limiting-factor raster is uint8)")
    if not rules:  # the kernel needs one condition to type its tuple: a rule that never fires
        actions, amounts, lo, hi = (np.zeros(1, dtype=np.int64) for _ in range(4))

    def run(g, conds):
        shape = g.shape
        # boolean conditions are read in place as bytes; others become 0/1 (NaN → 0)
        flags = tuple(
            np.ascontiguousarray(c).view(np.uint8).ravel() if c.dtype == np.bool_ else _k.truthy(np.ascontiguousarray(c)).ravel()
            for c in conds
        ) or (np.zeros(g.size, dtype=np.uint8),)
        out, factor = _k.apply_rules(np.ascontiguousarray(g).ravel(), flags, actions, amounts, lo, hi, best, worst)
        return out.reshape(shape), factor.reshape(shape)

    out_attrs = {"long_name": "corrected grade", "nodata": 0, "method": "chained corrections, methods.md §4.6/§5.8"}
    out_attrs.update(attrs or {})
    labels = [r.name or f"rule {i + 1}: {r.action} {r.amount}" for i, r in enumerate(rules)]
    factor_attrs = {
        "long_name": "limiting factor (限制因子): last rule that changed the grade",
        "flag_values": list(range(len(rules) + 1)),
        "flag_meanings": ["none"] + labels,
    }
    if not limiting_factor:
        return map_cells(lambda g, *c: run(g, c)[0], grade, *conditions, dtype=np.uint8, name=name, attrs=out_attrs)
    corrected, factor = _map_cells_stacked(lambda g, *c: np.stack(run(g, c)), [grade, *conditions], 2, np.uint8)
    return (
        _like(grade, corrected, name, out_attrs),
        _like(grade, factor, f"{name or grade.name or 'grade'}_limiting_factor", factor_attrs),
    )


# ---------------------------------------------------------------- overlays
def weighted_sum(
    layers: Sequence[xr.DataArray],
    weights: Sequence[float],
    *,
    dtype: type = np.float32,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Weighted linear overlay Σ wᵢ·xᵢ, accumulated in float64 (e.g. §3.7.5 coastal erosion 0.2/0.4/0.4).

    Source: methods.md §3.7.5 [C-spj CoastalErosion.py], §5.7 (equal-weight
    composite, R). Weights are used as given (not normalised). NaN (float
    layers) or 0 (integer class layers) in any layer → NaN.
    """
    layers = _aligned(layers)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(layers),):
        raise ValueError(f"need one weight per layer ({len(layers)}), got {list(weights)}")
    zero = _zero_nodata(layers)

    def block(*blocks):
        return _k.weighted_sum(_flat(blocks), w, zero, np.empty(blocks[0].size, dtype=dtype)).reshape(blocks[0].shape)

    out_attrs = {"long_name": "weighted sum", "weights": w.tolist(), "method": "weighted linear overlay"}
    out_attrs.update(attrs or {})
    return map_cells(block, *layers, dtype=dtype, name=name, attrs=out_attrs)


def geometric_mean(
    layers: Sequence[xr.DataArray],
    *,
    dtype: type = np.float32,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Geometric mean (Π xᵢ)^(1/n) of factor scores: the ecological sensitivity index of methods.md §3.7.

    Source: §3.7 [K-high 2017; C-spj]: e.g. SS = (R·K·LS·C)^¼ (§3.7.1),
    S = (D·P·C)^⅓ (§3.7.3). T15: (5·3·3·3)^¼ = 3.409; T30: (5·5·5)^⅓ = 5.
    Computed in float64 (roots of 2–4 factors correctly rounded), returned as
    ``dtype``. NaN / 0-in-an-integer-layer (nodata) or a negative value → NaN.
    """
    layers = _aligned(layers)
    zero = _zero_nodata(layers)

    def block(*blocks):
        return _k.geometric_mean(_flat(blocks), zero).reshape(blocks[0].shape).astype(dtype)

    out_attrs = {"long_name": "geometric-mean index", "units": "1", "method": "geometric mean, methods.md §3.7"}
    out_attrs.update(attrs or {})
    return map_cells(block, *layers, dtype=dtype, name=name, attrs=out_attrs)


def sensitivity_class(
    index: xr.DataArray,
    breaks: Sequence[float],
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Sensitivity / fragility class SEN from a geometric-mean index: 1 一般, 2 敏感, 3 极敏感 (uint8, 0 nodata).

    Source: methods.md §3.7. ``breaks="2017"`` (default): index ≤ 2.0 → 1;
    2.0 < index ≤ 4.0 → 2; index > 4.0 → 3 [K-med 2017 table "1.0–2.0 /
    2.1–4.0 / >4.0"; the gap (2.0, 2.1) goes to 敏感, R] — upper-inclusive as
    §0.2; [C-spj] used the equal intervals 2.33 / 3.66. The breaks are two
    ascending numbers (models/tables/ecology.yaml ``sensitivity_breaks``).
    T15b: 2.236 → 2, 2.080 → 2, 5.0 → 3.
    """
    t = tuple(float(b) for b in breaks)
    if len(t) != 2 or not t[0] < t[1]:
        raise ValueError(f"breaks must be two ascending numbers, got {breaks!r}")
    out_attrs = {
        "long_name": "sensitivity class (1 一般敏感, 2 敏感, 3 极敏感)",
        "nodata": 0,
        "breaks": list(t),
        "method": "methods.md §3.7",
    }
    out_attrs.update(attrs or {})
    return grade(index, t, better="smaller", name=name, attrs=out_attrs)


def integrate(
    layers: Sequence[xr.DataArray],
    how: str = "min",
    *,
    limiting_factor: bool = False,
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray | tuple[xr.DataArray, xr.DataArray]:
    """Per-cell minimum or maximum of graded layers (取最高/最低等级), optionally with the deciding layer.

    Source: methods.md §3.8.1 (ECO_service = min over services, ECO_fragile
    from the max over processes), §5.4 item 5 (GEOHAZ = min: the most
    dangerous wins) and §5.5 (AIR = max: the worse one) [C-spj exact].

    Nodata in any layer → nodata (0 for an integer result, NaN for float).
    With ``limiting_factor=True`` also returns a uint8 raster with the 1-based
    index of the layer that gave the extreme (the first such layer on ties;
    0 where nodata) — the argmin/argmax, for evidence (举证).
    """
    if how not in ("min", "max"):
        raise ValueError(f"how must be 'min' or 'max', got {how!r}")
    layers = _aligned(layers)
    if len(layers) > 255:
        raise ValueError("at most 255 layers (the limiting-factor raster is uint8)")
    zero = _zero_nodata(layers)
    dtype = np.result_type(*[a.dtype for a in layers])
    nodata = np.nan if np.issubdtype(dtype, np.floating) else 0.0

    def run(*blocks):
        values, which = _k.integrate(_flat(blocks), zero, how == "max", nodata)
        shape = blocks[0].shape
        return values.reshape(shape).astype(dtype), which.reshape(shape)

    out_attrs = {"long_name": f"{how} of {len(layers)} layers", "method": f"per-cell {how}, methods.md §3.8.1/§5.4/§5.5"}
    if not np.issubdtype(dtype, np.floating):
        out_attrs["nodata"] = 0
    out_attrs.update(attrs or {})
    if not limiting_factor:
        return map_cells(lambda *b: run(*b)[0], *layers, dtype=dtype, name=name, attrs=out_attrs)
    # the layer index (≤ 255) is exact in any numeric dtype, so both outputs share one stacked block
    values, which = _map_cells_stacked(lambda *b: np.stack([x.astype(dtype) for x in run(*b)]), layers, 2, dtype)
    which_attrs = {
        "long_name": f"layer giving the {how} (1-based, 0 nodata)",
        "flag_values": list(range(len(layers) + 1)),
        "flag_meanings": ["nodata"] + [str(a.name or f"layer {i + 1}") for i, a in enumerate(layers)],
    }
    return (
        _like(layers[0], values, name, out_attrs),
        _like(layers[0], which.astype(np.uint8), f"{name or 'integrated'}_limiting_factor", which_attrs),
    )
