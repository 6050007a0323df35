"""The public operator namespace: each takes and returns ``xarray.DataArray`` on the run grid.

Operators work eagerly on numpy-backed arrays and lazily on dask-backed ones,
never compute on their own, and give identical results whatever the chunking.
"""
from evaluate.ops.classify import downgrade, grade, lookup
from evaluate.ops.distance import cost_distance, distance, travel_time
from evaluate.ops.hydrology import flow_accumulation, flow_direction, ls_factor
from evaluate.ops.focal import focal
from evaluate.ops.patches import fill_small_holes, label, patch_area, remove_small_patches, sieve
from evaluate.ops.terrain import aspect, relief, slope
from evaluate.ops.zonal import zonal_area

__all__ = ["slope", "aspect", "relief", "focal", "grade", "downgrade", "lookup", "flow_direction", "flow_accumulation", "ls_factor", "distance", "cost_distance", "travel_time",
           "label", "patch_area", "remove_small_patches", "fill_small_holes", "sieve", "zonal_area"]
