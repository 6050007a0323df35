"""Class schemes, output declarations and small elementwise helpers shared by the models."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import xarray as xr

from evaluate import ops
from evaluate.modelspec import FIVE_GRADES, ClassDecl, OutputDecl

ECO_CLASSES = (
    ClassDecl(1, "极重要", "extremely important", (0, 97, 0)),
    ClassDecl(2, "重要", "important", (120, 190, 80)),
    ClassDecl(3, "一般重要", "generally important", (235, 240, 200)),
)
SEN_CLASSES = (
    ClassDecl(1, "一般敏感", "generally sensitive", (235, 240, 200)),
    ClassDecl(2, "敏感", "sensitive", (250, 170, 80)),
    ClassDecl(3, "极敏感", "extremely sensitive", (200, 30, 30)),
)
SUIT_CLASSES = (
    ClassDecl(1, "适宜", "suitable", (26, 152, 80)),
    ClassDecl(2, "一般适宜", "generally suitable", (254, 224, 139)),
    ClassDecl(3, "不适宜", "unsuitable", (215, 48, 39)),
    ClassDecl(9, "未评价（生态保护极重要区）", "not evaluated (extremely important for ecology)", (150, 150, 150)),
)
DANGER_CLASSES = (
    ClassDecl(1, "极高", "extremely high", (200, 0, 0)),
    ClassDecl(2, "高", "high", (240, 100, 40)),
    ClassDecl(3, "较高", "fairly high", (250, 180, 60)),
    ClassDecl(4, "中", "medium", (250, 230, 140)),
    ClassDecl(5, "低", "low", (200, 230, 200)),
)
RISK_CLASSES = (
    ClassDecl(1, "高", "high risk", (200, 0, 0)),
    ClassDecl(2, "较高", "fairly high risk", (240, 100, 40)),
    ClassDecl(3, "中等", "medium risk", (250, 180, 60)),
    ClassDecl(4, "较低", "fairly low risk", (250, 230, 140)),
    ClassDecl(5, "低", "low risk", (200, 230, 200)),
)
SOIL_ENV_CLASSES = (
    ClassDecl(1, "高（≤筛选值）", "high (≤ screening value)", (26, 152, 80)),
    ClassDecl(3, "中（筛选值–管制值）", "medium (screening–intervention)", (254, 224, 139)),
    ClassDecl(5, "低（>管制值）", "low (> intervention value)", (215, 48, 39)),
)


def grades(description: str, classes=FIVE_GRADES) -> OutputDecl:
    """A uint8 class raster, 0 nodata."""
    return OutputDecl("uint8", description, nodata=0, classes=classes)


def values(description: str, units: str) -> OutputDecl:
    """A float32 value raster, NaN nodata."""
    return OutputDecl("float32", description, units=units, nodata=float("nan"))


def limits(description: str, meanings: Iterable[tuple[str, str]]) -> OutputDecl:
    """A limiting-factor raster: code k names the factor or rule that set the final class (0 nodata)."""
    palette = [(200, 200, 200), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
               (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (57, 59, 121), (99, 121, 57), (140, 109, 49),
               (132, 60, 57), (123, 65, 115), (82, 84, 163), (181, 207, 107), (231, 186, 82), (214, 97, 107)]
    classes = tuple(ClassDecl(k, zh, en, palette[k % len(palette)]) for k, (zh, en) in enumerate(meanings, start=1))
    return OutputDecl("uint8", description, nodata=0, classes=classes)


def isin(codes: xr.DataArray, members: Iterable[int], name: str | None = None) -> xr.DataArray:
    """Boolean raster: the cell's code is one of ``members`` (nodata → False)."""
    table = np.array(sorted(set(int(m) for m in members)) or [-(2**31)], dtype=np.int64)
    return ops.map_cells(lambda c: np.isin(c, table), codes, dtype=bool, name=name)


def where(condition: xr.DataArray, value: xr.DataArray | float, other: xr.DataArray | float, dtype, name: str | None = None) -> xr.DataArray:
    """Elementwise ``condition ? value : other`` on aligned rasters (scalars allowed)."""
    arrays = [a for a in (condition, value, other) if isinstance(a, xr.DataArray)]
    kinds = [isinstance(a, xr.DataArray) for a in (condition, value, other)]

    def block(*blocks):
        it = iter(blocks)
        c, v, o = (next(it) if k else a for k, a in zip(kinds, (condition, value, other)))
        return np.where(c, v, o).astype(dtype)

    return ops.map_cells(block, *arrays, dtype=dtype, name=name)


def first_present(inputs: dict, *names: str) -> xr.DataArray:
    """The first available input of ``names`` (a template for shapes and coordinates)."""
    for n in names:
        if n in inputs:
            return inputs[n]
    raise KeyError(names)


MU_M2 = 2000.0 / 3.0  # 1 mu


def with_ha_and_mu(frame, skip: tuple[str, ...] = ()):
    """Add ``<x>_ha`` and ``<x>_mu`` beside every ``<x>_m2`` column of an area table (1 mu = 2000/3 m²)."""
    for column in [c for c in frame.columns if c.endswith("_m2") and c not in skip]:
        frame[column.replace("_m2", "_ha")] = frame[column] / 1e4
        frame[column.replace("_m2", "_mu")] = frame[column] / MU_M2
    return frame


def packed(func, *arrays: xr.DataArray, names: tuple[str, ...]) -> dict[str, xr.DataArray]:
    """Run an elementwise ``func`` returning several uint8 rasters once, and split them.

    ``func(*blocks) -> tuple of uint8 arrays``; the results travel packed in
    one uint32/uint64 block, so the chain is computed once per block however
    many of its outputs are written (once per group of 8 outputs beyond 8).
    """
    if len(names) > 8:
        out = {}
        for start in range(0, len(names), 8):
            group = names[start: start + 8]
            out.update(packed(lambda *b, s=start, n=len(group): tuple(func(*b))[s: s + n], *arrays, names=group))
        return out
    n = len(names)
    dtype = np.uint32 if n <= 4 else np.uint64

    def pack(*blocks):
        out = np.zeros(blocks[0].shape, dtype=dtype)
        parts = tuple(func(*blocks))
        if len(parts) != n:
            raise ValueError(f"packed: the function returned {len(parts)} layers for {n} names")
        for i, part in enumerate(parts):
            out |= part.astype(dtype) << dtype(8 * i)
        return out

    both = ops.map_cells(pack, *arrays, dtype=dtype)
    return {name: ops.map_cells(lambda b, i=i: ((b >> dtype(8 * i)) & dtype(255)).astype(np.uint8), both, dtype=np.uint8, name=name)
            for i, name in enumerate(names)}


def chain_corrections(grade: np.ndarray, limit: np.ndarray, steps) -> tuple[np.ndarray, np.ndarray]:
    """Apply (condition, amount, code) corrections in order, each to the previous result (methods.md §4.6, §5.8: chained).

    ``amount`` is "force" (grade 5), +n (降 n 级) or −n (升 n 级), clamped to 1..5;
    ``limit`` takes the code of every rule that changed the grade, so the last
    one to change it names the limiting factor. ([C-spj] applied each rule to
    the uncorrected grade and kept the last, §12.3 item 1.)
    """
    for condition, amount, code in steps:
        new = np.where(condition, 5 if amount == "force" else np.clip(grade + amount, 1, 5), grade)
        limit = np.where(new != grade, code, limit)
        grade = new
    return grade, limit
