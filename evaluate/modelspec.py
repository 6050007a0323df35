"""How a model declares itself once: inputs, parameters, outputs (InVEST ``MODEL_SPEC`` style).

Validation, ``dualeval models --json``, output naming, colour tables, the
manifest and raster metadata all read this one declaration.
"""
from __future__ import annotations

import reprlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

#: repr of a user's value for messages: bounded in depth and length, never built whole (a YAML alias bomb stays short)
brief = reprlib.Repr(maxlevel=3, maxlist=8, maxtuple=8, maxdict=8, maxstring=120, maxother=120).repr


@dataclass(frozen=True)
class InputDecl:
    """An input a model reads, in the units it needs, and where it comes from.

    ``producer`` names the model (a shared derived layer such as ``slope``, or
    an evaluation model such as ``eco_importance``) whose output of the same
    name this input is; ``None`` means a layer of the run config. A config
    layer of the same name always wins over the producer (a user may supply
    their own slope). ``required`` is True, False (optional: missing means
    neutral, no downgrade), or a guideline version in which it is required
    (``"2020trial"``: the ECO masking of §4.9/§5.9).
    """

    units: str
    kind: str
    description: str
    required: bool | str = True
    producer: str | None = None

    def required_in(self, guideline: str) -> bool:
        return self.required is True or self.required == guideline


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
    #: a judgement matrix: its shape, and the class codes its cells may hold
    shape: tuple[int, ...] | None = None
    codes: tuple[int, ...] | None = None
    #: a lookup whose override may add keys (e.g. per admin unit), not only replace the default's
    open_keys: bool = False

    def check(self, value: Any) -> Any:
        value = self._check_type(value)
        if self.domain is not None:
            low, high, unit = self.domain
            outside = [v for v in (value if isinstance(value, list) else [value]) if not (low <= v <= high)]
            if outside:
                raise ValueError(f"{brief(outside[0])} is outside the physical range {low:g}–{high:g} {unit}")
        return value

    def _check_type(self, value: Any) -> Any:
        if self.shape is not None:
            return self._check_matrix(value)
        if isinstance(self.default, dict):
            return self._check_lookup(value)
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


    def _check_matrix(self, value: Any) -> list:
        array = np.asarray(value, dtype=object)
        if array.shape != self.shape:
            raise ValueError(f"must be a {' × '.join(map(str, self.shape))} matrix (nested lists), got {brief(value)}")
        bad = [v for v in array.ravel() if isinstance(v, bool) or not isinstance(v, int) or (self.codes is not None and v not in self.codes)]
        if bad:
            allowed = f" in {list(self.codes)}" if self.codes is not None else ""
            raise ValueError(f"matrix cells must be integer class codes{allowed}, got {brief(bad[0])}")
        return array.astype(int).tolist()

    def _check_lookup(self, value: Any) -> dict:
        """A table keyed by code or name; a config override replaces the entries it names and keeps the rest."""
        if not isinstance(value, dict):
            raise ValueError(f"must be a mapping like {brief(self.default)}, got {brief(value)}")
        unknown = [k for k in value if k not in self.default and str(k) not in map(str, self.default)]
        if unknown and not self.open_keys:
            raise ValueError(f"unknown key {brief(unknown[0])}; known: {brief(list(self.default))}")
        merged = dict(self.default)
        for key, v in value.items():
            template = self.default.get(key)
            if isinstance(template, (int, float)) and not isinstance(template, bool):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"{key}: must be a number, got {brief(v)}")
            elif isinstance(template, list) and (not isinstance(v, list) or len(v) != len(template)):
                raise ValueError(f"{key}: must be a list of {len(template)} values like {brief(template)}, got {brief(v)}")
            merged[key] = v
        return merged


@dataclass(frozen=True)
class ClassDecl:
    code: int
    zh: str
    en: str
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class OutputDecl:
    """An output: a raster (dtype, units, and for class rasters the code table) or a table (CSV per admin unit)."""

    dtype: str
    description: str
    units: str = ""
    nodata: float | int | None = None
    classes: tuple[ClassDecl, ...] = ()
    kind: str = "raster"  # or "table"

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
    #: optional inputs of which at least one must be available (e.g. the services and sensitivities of eco_importance)
    needs_one_of: tuple[str, ...] = ()
    #: inputs required by a parameter's value: {"method": {"rusle": ("r_factor", …)}}
    required_when: Mapping[str, Mapping[Any, tuple[str, ...]]] = field(default_factory=dict)

    def required_inputs(self, params: Mapping[str, Any], guideline: str) -> set[str]:
        """The inputs this model cannot run without, for these parameter values and guideline."""
        needed = {n for n, d in self.inputs.items() if d.required_in(guideline)}
        for key, by_value in self.required_when.items():
            value = params.get(key, self.parameters[key].default)
            needed |= set(by_value.get(value, ()))
        return needed

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
class Evaluation:
    """The run-level ``evaluation:`` section every model sees (methods.md §1.2 mode switch)."""

    guideline: str = "2020trial"  # or "2019draft"
    province_type: int | None = None  # 1, 2 or 3 (zone rules, seed 004)
    region: str = ""
    level: str = "county"  # or "province": which threshold row of §4.2/§5.2/§5.7 applies


@dataclass(frozen=True)
class Model:
    """A registered model: its spec and its pure ``run(inputs, params, evaluation) -> {name: DataArray | table}``.

    ``inputs`` holds the declared inputs that are available (config layers in
    the declared units, or other models' outputs); an optional input that is
    missing is simply absent. ``derived`` marks a shared derived layer
    (slope, relief, FVC …): computed once per run and written only on request.
    """

    SPEC: ModelSpec
    run: Callable = field(repr=False)
    derived: bool = False


# --------------------------------------------------------------------------- the model DAG
class PlanError(ValueError):
    """A requested model cannot run with the layers the config supplies (one line per problem)."""


@dataclass(frozen=True)
class Plan:
    """The models to run, in dependency order, and how each input is satisfied."""

    order: tuple[str, ...]
    requested: tuple[str, ...]
    #: model → input → "layer", "model:<producer>" or "missing" (optional inputs only)
    sources: Mapping[str, Mapping[str, str]]

    def missing_optional(self) -> dict[str, list[str]]:
        return {m: [i for i, how in s.items() if how == "missing"] for m, s in self.sources.items() if "missing" in s.values()}


class Registry:
    """The models as a DAG, checked when built: unique output names, every producer known and producing the input, no cycle.

    Source: ARCHITECTURE.md "The model layer as it grows". A model input
    with a ``producer`` is that model's output of the same name; every other
    input is a config layer. :meth:`plan` orders the models a run asks for
    together with their prerequisites.
    """

    def __init__(self, models: Sequence[Model]):
        self.models: dict[str, Model] = {}
        self.producer_of: dict[str, str] = {}
        problems = []
        for model in models:
            name = model.SPEC.name
            if name in self.models:
                problems.append(f"model {name} is registered twice")
            self.models[name] = model
            for out in model.SPEC.outputs:
                if out in self.producer_of:
                    problems.append(f"output {out} is produced by both {self.producer_of[out]} and {name}")
                self.producer_of[out] = name
        for name, model in self.models.items():
            for inp, decl in model.SPEC.inputs.items():
                if decl.producer is None:
                    continue
                if decl.producer not in self.models:
                    problems.append(f"model {name}: input {inp} names producer {decl.producer}, which is not a model")
                elif self.producer_of.get(inp) != decl.producer:
                    problems.append(f"model {name}: input {inp} names producer {decl.producer}, which has no output {inp}")
        if not problems:
            cycle = self._cycle()
            if cycle:
                problems.append("models depend on each other in a cycle: " + " → ".join(cycle))
        if problems:
            raise PlanError("\n".join(problems))

    def unknown(self, name: str) -> str:
        """The message for a model name that is not registered, with the closest names."""
        import difflib

        close = difflib.get_close_matches(name, list(self.models), n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"models.{name}: unknown model{hint}; `dualeval models` lists them all"

    def __getitem__(self, name: str) -> Model:
        return self.models[name]

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __iter__(self):
        return iter(self.models)

    def items(self):
        return self.models.items()

    def _cycle(self) -> list[str]:
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(name: str) -> list[str]:
            state[name] = 1
            path.append(name)
            for decl in self.models[name].SPEC.inputs.values():
                nxt = decl.producer
                if nxt is None:
                    continue
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in state:
                    found = visit(nxt)
                    if found:
                        return found
            state[name] = 2
            path.pop()
            return []

        for name in self.models:
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return []

    def plan(self, requested: Sequence[str], layers: set[str], guideline: str = "2020trial", params: Mapping[str, Mapping] | None = None) -> Plan:
        """Order ``requested`` and their prerequisites; raise :class:`PlanError` naming every unmet required input.

        A required input is a config layer, else its producer (pulled in,
        recursively). An optional input with a producer is pulled in when
        the producer itself can run; otherwise it is missing (neutral).
        """
        order: list[str] = []
        sources: dict[str, dict[str, str]] = {}
        problems: list[str] = []
        viable: dict[str, bool] = {}
        params = params or {}

        def visit(name: str, chain: tuple[str, ...]) -> bool:
            if name in sources:
                return True
            ok, how = True, {}
            needed = self.models[name].SPEC.required_inputs(params.get(name, {}), guideline)
            for inp, decl in self.models[name].SPEC.inputs.items():
                if inp in layers:
                    how[inp] = "layer"
                    continue
                required = inp in needed
                if decl.producer is not None and (required or self._viable(decl.producer, layers, guideline, viable, params)):
                    if visit(decl.producer, chain + (name,)):
                        how[inp] = f"model:{decl.producer}"
                        continue
                    ok = False
                elif required:
                    via = "".join(f"{m} → " for m in chain)
                    problems.append(f"models.{via}{name}: needs input '{inp}' ({decl.description}), which is not in 'inputs'")
                    ok = False
                else:
                    how[inp] = "missing"
            wanted = self.models[name].SPEC.needs_one_of
            if ok and wanted and all(how.get(i) == "missing" for i in wanted):
                problems.append(f"models.{''.join(f'{m} → ' for m in chain)}{name}: needs at least one of {', '.join(wanted)}; none can be made from 'inputs'")
                ok = False
            if ok:
                sources[name] = how
                order.append(name)
            return ok

        for name in requested:
            if name not in self.models:
                problems.append(self.unknown(name))
            else:
                visit(name, ())
        if problems:
            raise PlanError("\n".join(dict.fromkeys(problems)))
        return Plan(tuple(order), tuple(requested), sources)

    def _viable(self, name: str, layers: set[str], guideline: str, memo: dict[str, bool], params: Mapping[str, Mapping]) -> bool:
        if name not in memo:
            memo[name] = False  # a cycle is refused at build; this only guards the recursion
            spec = self.models[name].SPEC
            needed = spec.required_inputs(params.get(name, {}), guideline)
            available = {
                inp: inp in layers or (decl.producer is not None and self._viable(decl.producer, layers, guideline, memo, params))
                for inp, decl in spec.inputs.items()
            }
            memo[name] = all(ok or i not in needed for i, ok in available.items()) and (
                not spec.needs_one_of or any(available[i] for i in spec.needs_one_of)
            )
        return memo[name]
