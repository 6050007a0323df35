"""How a model declares itself once: inputs, parameters, outputs (InVEST ``MODEL_SPEC`` style).

Validation, ``dualeval models --json``, output naming, colour tables, the
manifest and raster metadata all read this one declaration.
"""
from __future__ import annotations

import reprlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

#: repr of a user's value for messages: bounded in depth and length, never built whole (a YAML alias bomb stays short)
brief = reprlib.Repr(maxlevel=3, maxlist=8, maxtuple=8, maxdict=8, maxstring=120, maxother=120).repr


@dataclass(frozen=True)
class InputDecl:
    """An input layer a model reads, in the units it needs."""

    units: str
    kind: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class Parameter:
    """A parameter with its default, its evidence and a validity check.

    ``source`` cites the guideline section and the evidence tag of the
    default (methods.md §0.1), written into every manifest.
    """

    default: Any
    description: str
    source: str
    choices: tuple | None = None
    ascending: bool | None = None  # for threshold lists: required order
    length: int | None = None
    #: the physical domain of the value (or of every value of a list), inclusive, with its unit, e.g. (0, 90, "degrees")
    domain: tuple[float, float, str] | None = None

    def check(self, value: Any) -> Any:
        value = self._check_type(value)
        if self.domain is not None:
            low, high, unit = self.domain
            outside = [v for v in (value if isinstance(value, list) else [value]) if not (low <= v <= high)]
            if outside:
                raise ValueError(f"{brief(outside[0])} is outside the physical range {low:g}–{high:g} {unit}")
        return value

    def _check_type(self, value: Any) -> Any:
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(map(repr, self.choices))}, got {brief(value)}")
            return value
        if isinstance(self.default, (list, tuple)):
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise ValueError(f"must be a list of numbers like {list(self.default)}, got {brief(value)}")
            if self.length is not None and len(value) != self.length:
                raise ValueError(f"must have {self.length} values, got {len(value)}")
            if self.ascending is not None:
                pairs = list(zip(value, value[1:]))
                ok = all(a < b for a, b in pairs) if self.ascending else all(a > b for a, b in pairs)
                if not ok:
                    raise ValueError(f"must be strictly {'increasing' if self.ascending else 'decreasing'}, got {list(value)}")
            return list(value)
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, got {brief(value)}")
            return value
        if isinstance(self.default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, got {brief(value)}")
            return value
        return value


@dataclass(frozen=True)
class ClassDecl:
    code: int
    zh: str
    en: str
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class OutputDecl:
    """An output raster: dtype, units, and for class rasters the code table."""

    dtype: str
    description: str
    units: str = ""
    nodata: float | int | None = None
    classes: tuple[ClassDecl, ...] = ()

    @property
    def is_class(self) -> bool:
        return bool(self.classes)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title_zh: str
    title_en: str
    source: str
    inputs: Mapping[str, InputDecl]
    parameters: Mapping[str, Parameter]
    outputs: Mapping[str, OutputDecl]
    # checks across parameters: values → one message per problem, each starting with the parameter's name
    consistency: Callable[[Mapping[str, Any]], list[str]] | None = None

    def resolve(self, overrides: Mapping[str, Any]) -> dict[str, dict]:
        """Parameters with values and where each value came from (default or config)."""
        resolved = {}
        for key, param in self.parameters.items():
            if key in overrides:
                resolved[key] = {"value": param.check(overrides[key]), "from": "config", "default_source": param.source}
            else:
                resolved[key] = {"value": param.default, "from": "default", "default_source": param.source}
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise ValueError(f"model {self.name}: unknown parameters {sorted(unknown)}")
        problems = self.consistency({k: v["value"] for k, v in resolved.items()}) if self.consistency else []
        if problems:
            raise ValueError("\n".join(problems))
        return resolved

    def describe(self) -> dict:
        """A JSON-serialisable description (``dualeval models --json``)."""
        return {
            "name": self.name,
            "title": {"zh": self.title_zh, "en": self.title_en},
            "source": self.source,
            "inputs": {k: asdict(v) for k, v in self.inputs.items()},
            "parameters": {k: {**asdict(v), "default": v.default} for k, v in self.parameters.items()},
            "outputs": {k: {**asdict(v), "classes": [asdict(c) for c in v.classes]} for k, v in self.outputs.items()},
        }


FIVE_GRADES = (
    ClassDecl(1, "高", "high", (26, 152, 80)),
    ClassDecl(2, "较高", "fairly high", (145, 207, 96)),
    ClassDecl(3, "中等", "medium", (254, 224, 139)),
    ClassDecl(4, "较低", "fairly low", (252, 141, 89)),
    ClassDecl(5, "低", "low", (215, 48, 39)),
)


@dataclass(frozen=True)
class Model:
    """A registered model: its spec and its pure ``run(stack, params) -> Dataset``."""

    SPEC: ModelSpec
    run: Callable = field(repr=False)
