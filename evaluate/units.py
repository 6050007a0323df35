"""Units of input layers: conversion between declared and required units, and cheap plausibility checks.

A wrong unit is the commonest silent error in 双评价 work (slope in percent
graded with degree thresholds, precipitation in metres graded with mm
thresholds, silt as a fraction compared with 60 %). Every input declares its
units; models declare the units they need; the stack converts lazily where a
conversion exists and refuses where it does not; and a sample of the data is
checked against the plausible range of the quantity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class UnitsError(ValueError):
    """Declared units that are unknown, inconvertible, or contradicted by the data."""


# unit → (dimension, factor to the dimension's base unit, offset)
_UNITS: dict[str, tuple[str, float, float]] = {
    "m": ("length", 1.0, 0.0),
    "cm": ("length", 0.01, 0.0),
    "mm": ("length", 0.001, 0.0),
    "km": ("length", 1000.0, 0.0),
    "mm/a": ("depth_rate", 1.0, 0.0),
    "m/a": ("depth_rate", 1000.0, 0.0),
    "cm/a": ("depth_rate", 10.0, 0.0),
    "fraction": ("ratio", 1.0, 0.0),
    "percent": ("ratio", 0.01, 0.0),
    "degC": ("temperature", 1.0, 0.0),
    "K": ("temperature", 1.0, -273.15),
    "degC*d": ("degree_days", 1.0, 0.0),
    "degrees": ("slope", 1.0, 0.0),
    "slope_percent": ("slope", math.nan, 0.0),  # non-linear: handled in convert()
    "gC/m2/a": ("productivity", 1.0, 0.0),
    "index": ("index", 1.0, 0.0),
    "class": ("class", 1.0, 0.0),
    "code": ("class", 1.0, 0.0),
    "mask": ("mask", 1.0, 0.0),
    "min": ("time", 1.0, 0.0),
    "h": ("time", 60.0, 0.0),
    "d": ("day_count", 1.0, 0.0),
    "m/s": ("speed", 1.0, 0.0),
    "km/h": ("speed", 1 / 3.6, 0.0),
    "g": ("acceleration", 1.0, 0.0),  # peak ground acceleration in units of g
    "m3/km2": ("water_modulus", 1.0, 0.0),
    "m3/a": ("water_volume_rate", 1.0, 0.0),
    "g/L": ("mass_concentration", 1.0, 0.0),
    "mg/kg": ("soil_content", 1.0, 0.0),
    "pH": ("acidity", 1.0, 0.0),
    "kg/m": ("rweq_weather", 1.0, 0.0),  # RWEQ weather factor WF
    "t/a": ("load", 1.0, 0.0),
    "MJ*mm/(ha*h*a)": ("erosivity", 1.0, 0.0),
    "t*ha*h/(ha*MJ*mm)": ("erodibility", 1.0, 0.0),
    "t/(ha*a)": ("erosion_rate", 1.0, 0.0),
    "kg/m2/a": ("sand_fixation", 1.0, 0.0),
}
_ALIASES = {
    "metre": "m", "meter": "m", "metres": "m", "meters": "m",
    "degree": "degrees", "deg": "degrees", "°": "degrees",
    "%": "percent", "pct": "percent", "°C": "degC", "celsius": "degC", "kelvin": "K",
    "mm/yr": "mm/a", "mm/year": "mm/a", "m/yr": "m/a", "m/year": "m/a",
    "1": "fraction", "ratio": "fraction", "dimensionless": "index",
    "°C·d": "degC*d", "degC.d": "degC*d",
    "days": "d", "day": "d", "m³/km²": "m3/km2",
    "MJ·mm/(hm²·h·a)": "MJ*mm/(ha*h*a)", "t/(hm²·a)": "t/(ha*a)",
}


def canonical(unit: str) -> str:
    """The engine's spelling of ``unit``; raises :class:`UnitsError` for unknown units."""
    name = _ALIASES.get(unit, unit)
    if name not in _UNITS:
        known = ", ".join(sorted(_UNITS))
        raise UnitsError(f"unknown units {unit!r}; known units: {known}")
    return name


def dimension(unit: str) -> str:
    return _UNITS[canonical(unit)][0]


def conversion(from_unit: str, to_unit: str):
    """A function converting numpy/dask values from ``from_unit`` to ``to_unit`` (identity if equal)."""
    src, dst = canonical(from_unit), canonical(to_unit)
    if src == dst:
        return lambda v: v
    if dimension(src) != dimension(dst):
        raise UnitsError(f"cannot convert {from_unit!r} ({dimension(src)}) to {to_unit!r} ({dimension(dst)})")
    if dimension(src) == "slope":
        if src == "slope_percent":
            return lambda v: np.degrees(np.arctan(v / 100.0))
        return lambda v: 100.0 * np.tan(np.radians(v))
    _, f_src, o_src = _UNITS[src]
    _, f_dst, o_dst = _UNITS[dst]
    scale = f_src / f_dst
    shift = (o_src - o_dst) / f_dst
    return lambda v: v * scale + shift


@dataclass(frozen=True)
class Plausible:
    """The plausible range of a quantity, in its canonical unit."""

    quantity: str
    unit: str
    low: float
    high: float
    # fraction of the range a real layer must span; a layer whose maximum falls
    # below ``high * min_top`` is taken as a unit error (e.g. precipitation ≤ 3)
    min_top: float = 0.0


# canonical layer ids of methods.md §2.1 → plausible values
PLAUSIBLE: dict[str, Plausible] = {
    "dem": Plausible("elevation", "m", -500.0, 9000.0),
    "slope": Plausible("slope", "degrees", 0.0, 90.0),
    "relief": Plausible("relief", "m", 0.0, 9000.0),
    "precip": Plausible("annual precipitation", "mm/a", 0.0, 12000.0, min_top=0.002),
    "pet": Plausible("potential evapotranspiration", "mm/a", 0.0, 5000.0, min_top=0.004),
    "evap": Plausible("evaporation", "mm/a", 0.0, 5000.0, min_top=0.004),
    "aet": Plausible("actual evapotranspiration", "mm/a", 0.0, 5000.0, min_top=0.002),
    "tmean_annual": Plausible("mean temperature", "degC", -60.0, 50.0),
    "tmean_month": Plausible("mean temperature", "degC", -70.0, 55.0),
    "at0": Plausible("accumulated temperature", "degC*d", 0.0, 11000.0, min_top=0.005),
    "fvc": Plausible("vegetation cover", "fraction", 0.0, 1.0),
    "ndvi": Plausible("NDVI", "fraction", -1.0, 1.0),
    "soil_sand": Plausible("sand content", "percent", 0.0, 100.0, min_top=0.015),
    "soil_silt": Plausible("silt content", "percent", 0.0, 100.0, min_top=0.015),
    "soil_clay": Plausible("clay content", "percent", 0.0, 100.0, min_top=0.015),
    "soil_om": Plausible("organic matter", "percent", 0.0, 100.0),
    "soil_oc": Plausible("organic carbon", "percent", 0.0, 60.0),
}


def check_plausible(layer_id: str, declared_unit: str, sample: np.ndarray, source: str = "") -> None:
    """Raise :class:`UnitsError` if ``sample`` (in ``declared_unit``) is implausible for ``layer_id``.

    Only decisive checks: values outside the physical range of the quantity,
    or a maximum so small that the declared unit must be wrong (a
    precipitation layer in mm whose maximum is 1.8 is in metres). Layers with
    no entry in :data:`PLAUSIBLE` pass.
    """
    where = f"{source}: " if source else ""
    rule = PLAUSIBLE.get(layer_id)
    values = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
    if rule is None or values.size == 0:
        return
    try:
        values = conversion(declared_unit, rule.unit)(values.astype(np.float64))
    except UnitsError as exc:
        raise UnitsError(f"{where}{exc} (a {rule.quantity} layer needs units convertible to {rule.unit!r})") from None
    lo, hi = float(values.min()), float(values.max())
    tol = 1e-6 * max(1.0, abs(rule.high))
    if lo < rule.low - tol or hi > rule.high + tol:
        raise UnitsError(
            f"{where}values {lo:g}..{hi:g} (converted from {declared_unit!r} to {rule.unit!r}) are outside "
            f"the plausible range {rule.low:g}..{rule.high:g} of {rule.quantity}; check the declared units"
        )
    if rule.min_top and hi > 0 and hi < rule.high * rule.min_top:
        raise UnitsError(
            f"{where}the largest value is {hi:g} {rule.unit} (declared {declared_unit!r}), far too small for "
            f"{rule.quantity}; the data are probably in a larger unit (e.g. m instead of mm, fraction instead of percent)"
        )
