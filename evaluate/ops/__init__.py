"""The public operator namespace: each takes and returns ``xarray.DataArray`` on the run grid.

Operators work eagerly on numpy-backed arrays and lazily on dask-backed ones,
never compute on their own, and give identical results whatever the chunking.
"""
from evaluate.ops._wrap import map_cells
from evaluate.ops.classify import (
    apply_breaks,
    cumulative_share,
    cumulative_share_breaks,
    downgrade,
    equal_interval_breaks,
    grade,
    lookup,
    map_cells_with,
    natural_breaks,
    quantile_breaks,
    reclass,
    rescale,
    value_range,
)
from evaluate.ops.combine import Rule, apply_rules, geometric_mean, integrate, matrix_lookup, sensitivity_class, weighted_sum
from evaluate.ops.distance import cost_distance, distance, travel_time
from evaluate.ops.focal import focal
from evaluate.ops.hydrology import flow_accumulation, flow_direction, ls_factor
from evaluate.ops.patches import fill_small_holes, label, patch_area, remove_small_patches, sieve
from evaluate.ops.terrain import aspect, relief, slope
from evaluate.ops.vector import ellipsoidal_area_m2, gk_zone_epsg, polygonize
from evaluate.ops.zonal import zonal_area

__all__ = [
    # terrain and focal
    "slope", "aspect", "relief", "focal",
    # hydrology (RUSLE)
    "flow_direction", "flow_accumulation", "ls_factor",
    # distance
    "distance", "cost_distance", "travel_time",
    # classification
    "grade", "reclass", "apply_breaks", "quantile_breaks", "equal_interval_breaks", "natural_breaks",
    "cumulative_share", "cumulative_share_breaks", "downgrade", "lookup", "rescale", "value_range",
    # elementwise plumbing for model formulas
    "map_cells", "map_cells_with",
    # combination
    "matrix_lookup", "Rule", "apply_rules", "weighted_sum", "geometric_mean", "sensitivity_class", "integrate",
    # patches and zones
    "label", "patch_area", "remove_small_patches", "fill_small_holes", "sieve", "zonal_area",
    # vectors
    "polygonize", "ellipsoidal_area_m2", "gk_zone_epsg",
]  # fmt: skip
