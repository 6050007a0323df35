"""Classification operators (elementwise, halo 0)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from evaluate.kernels.classify import downgrade_where, grade_by_thresholds
from evaluate.ops._wrap import map_cells


def grade(
    values: xr.DataArray,
    thresholds: Sequence[float],
    better: str = "smaller",
    name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Grade a continuous layer into ``len(thresholds) + 1`` classes (1 = best), NaN → 0.

    Boundary semantics of methods.md §0.2 (consistent with ArcGIS RemapRange):
    ``better="smaller"`` takes ascending thresholds and is upper-inclusive
    (v ≤ t1 → 1); ``better="larger"`` takes descending thresholds and is
    lower-inclusive (v ≥ t1 → 1).
    """
    t = np.asarray(thresholds, dtype=np.float64)
    if better == "smaller":
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"thresholds for smaller-is-better grading must increase, got {list(thresholds)}")
    elif better == "larger":
        if np.any(np.diff(t) >= 0):
            raise ValueError(f"thresholds for larger-is-better grading must decrease, got {list(thresholds)}")
    else:
        raise ValueError(f"better must be 'smaller' or 'larger', got {better!r}")

    def block(v):
        return grade_by_thresholds(np.ascontiguousarray(v, dtype=np.float64), t, better == "larger")

    return map_cells(block, values, dtype=np.uint8, name=name, attrs=attrs)


def downgrade(grades: xr.DataArray, steps: xr.DataArray, worst: int = 5, name: str | None = None, attrs: dict | None = None) -> xr.DataArray:
    """Downgrade (降级) ``grades`` by ``steps`` per cell, clamped to ``worst``; a negative step marks nodata.

    methods.md §0.2: "Downgrade by n" means g ← min(worst, g + n); a step of
    ``worst`` or more sets the worst grade (直接取最低).
    """

    def block(g, s):
        return downgrade_where(np.ascontiguousarray(g, dtype=np.uint8), np.ascontiguousarray(s, dtype=np.int16), worst)

    return map_cells(block, grades, steps, dtype=np.uint8, name=name, attrs=attrs)


def lookup(classes: xr.DataArray, table: Sequence[int], name: str | None = None, attrs: dict | None = None) -> xr.DataArray:
    """Map class codes 0..len(table)−1 through ``table`` (a small LUT), e.g. class → downgrade steps."""
    lut = np.asarray(table)

    def block(c):
        return lut[c]

    return map_cells(block, classes, dtype=lut.dtype, name=name, attrs=attrs)
