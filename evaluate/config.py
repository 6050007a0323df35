"""Run configuration: a YAML file validated by pydantic into a run plan.

Paths are relative to the config file. Only a safe YAML loader is used (``yaml.SafeLoader``, refusing duplicate keys). Every
error names the offending key and the file, one line each, in words a planner
understands (``dualeval validate`` prints them and exits 2).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from evaluate import units as units_mod
from evaluate.modelspec import brief

DEFAULT_CHUNK = 2048
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "min", "max", "med")
# GDAL resampling by kind where the grid is as fine as the source or finer, and where it is coarser
DEFAULT_RESAMPLING = {"continuous": "bilinear", "categorical": "nearest", "mask": "nearest"}
COARSENING_RESAMPLING = {"continuous": "average", "categorical": "mode", "mask": "mode"}
# the grid is "coarser" when its cell is more than this fraction larger than the source's along either axis
COARSER_TOLERANCE = 0.01
CLASS_RESAMPLING = ("nearest", "mode", "min", "max", "med")  # methods that return one of the source's codes
INPUT_PREFIX = "input_"  # outputs.write_inputs: <folder>/input_<name>.tif
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml"}


class ConfigError(ValueError):
    """A config that cannot be run; ``lines`` holds one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    try:
        path = Path(path).expanduser()
    except RuntimeError as exc:  # "~user" of an unknown user
        raise ValueError(f"cannot expand {str(path)[:120]!r}: {exc}") from None
    return (Path(base) / path).resolve() if base is not None and not path.is_absolute() else path


# a path in the config, relative to the config file's folder
ConfigPath = Annotated[Path, AfterValidator(_resolve)]


class GridSpec(_Strict):
    """The run grid: either ``like`` (a raster whose grid is taken) or ``crs`` + ``bounds`` + ``resolution``."""

    crs: str | None = None
    bounds: tuple[float, float, float, float] | None = None
    resolution: float | tuple[float, float] | None = None
    like: ConfigPath | None = None

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from rasterio.crs import CRS

        try:
            CRS.from_user_input(v)
        except Exception:
            raise ValueError(f"unknown CRS {v!r} (use e.g. 'EPSG:4547' or 'EPSG:4490')") from None
        return v

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, v):
        if v is not None and not (v[2] > v[0] and v[3] > v[1]):
            raise ValueError(f"bounds must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax, got {list(v)}")
        return v

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v):
        if v is not None and any(r <= 0 for r in ((v,) if isinstance(v, (int, float)) else v)):
            raise ValueError(f"resolution must be positive, got {v}")
        return v

    @model_validator(mode="after")
    def _one_way(self) -> "GridSpec":
        explicit = [self.crs, self.bounds, self.resolution]
        if self.like is not None and any(x is not None for x in explicit):
            raise ValueError("give either 'like' or 'crs' + 'bounds' + 'resolution', not both")
        if self.like is None and any(x is None for x in explicit):
            missing = [k for k, x in zip(("crs", "bounds", "resolution"), explicit) if x is None]
            raise ValueError(f"missing {', '.join(missing)} (or give 'like: <raster>')")
        return self


class InputSpec(_Strict):
    """One input layer: a raster band or a vector layer, with its kind, units and nodata."""

    path: ConfigPath
    kind: Literal["continuous", "categorical", "mask"]
    units: str | None = None
    nodata: float | None = None
    resampling: Literal[RESAMPLING] | None = None  # type: ignore[valid-type]
    band: int = Field(1, ge=1)
    #: a series in one file: input ``precip_m`` with ``bands: 12`` stands for the inputs precip_m01 … precip_m12 (bands 1–12)
    bands: int | None = Field(None, ge=2, le=366)
    layer: str | None = None
    burn: float | None = None
    attribute: str | None = None
    codes: dict[str, int] | None = None
    all_touched: bool = False

    @field_validator("units")
    @classmethod
    def _units(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return units_mod.canonical(v)
        except units_mod.UnitsError as exc:
            raise ValueError(str(exc)) from None

    @property
    def is_vector(self) -> bool:
        return self.path.suffix.lower() in VECTOR_SUFFIXES

    @model_validator(mode="after")
    def _consistent(self) -> "InputSpec":
        if self.kind == "continuous" and self.units is None:
            raise ValueError("@units: a continuous input must declare its units (e.g. units: mm/a)")
        if self.kind != "continuous" and self.resampling not in (None, *CLASS_RESAMPLING):
            raise ValueError(f"@resampling: {self.resampling!r} would invent class codes; use nearest or mode for {self.kind} inputs")
        if self.is_vector:
            if self.burn is not None and self.attribute is not None:
                raise ValueError("@burn: give either 'burn' (a constant) or 'attribute' (a field), not both")
            if self.kind == "categorical" and self.attribute is None and self.burn is None:
                raise ValueError("@attribute: a categorical vector input needs 'attribute' (the field to burn) or 'burn'")
        else:
            for key in ("layer", "burn", "attribute", "codes"):
                if getattr(self, key) is not None:
                    raise ValueError(f"@{key}: applies to vector inputs only ({self.path.name} is a raster)")
        return self

    @property
    def effective_units(self) -> str:
        return self.units or ("mask" if self.kind == "mask" else "class")

    def resampling_for(self, coarser: bool) -> str:
        """The GDAL resampling method for this input: the config's ``resampling``, else the kind's default.

        Parameters
        ----------
        coarser : bool
            Whether the run grid is coarser than the source raster
            (``layers.is_coarser``). Defaults: ``bilinear`` (continuous) and
            ``nearest`` (categorical, mask) otherwise; ``average`` (GDAL's
            coverage-weighted mean) and ``mode`` (GDAL's most common code,
            weighted by coverage since GDAL 3.11) when coarser.
        """
        if self.resampling is not None:
            return self.resampling
        return (COARSENING_RESAMPLING if coarser else DEFAULT_RESAMPLING)[self.kind]


class ModelRun(_Strict):
    """A model to run, with parameter overrides (see ``dualeval models``)."""

    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class OutputSpec(_Strict):
    """Where and how outputs are written.

    ``write_inputs`` names inputs to write as they were aligned onto the run
    grid, ``input_<name>.tif`` beside the model outputs (checked against
    ``inputs`` by :class:`RunConfig`).
    """

    folder: ConfigPath
    formats: list[Literal["gtiff"]] = Field(default_factory=lambda: ["gtiff"])
    compress: Literal["deflate", "zstd", "lzw", "none"] = "deflate"
    # GDAL's ZLEVEL (deflate, 1-9; 12 with libdeflate) or ZSTD_LEVEL (zstd, 1-22); None keeps GDAL's default (6 / 9)
    compress_level: int | None = Field(None, ge=1, le=22)
    tile_size: int = Field(512, ge=16, le=4096)
    write_inputs: list[str] = Field(default_factory=list)
    #: intermediate outputs to write too (a derived layer such as slope, or an output of a prerequisite model)
    write: list[str] = Field(default_factory=list)
    #: vector outputs (zones.gpkg …): GeoPackage by default; Shapefile (a folder of .shp with .cpg) and FileGDB on request
    vector_formats: list[Literal["gpkg", "shp", "filegdb"]] = Field(default_factory=lambda: ["gpkg"], min_length=1)
    #: "auto": the CGCS2000 3° Gauss–Krüger zone of the grid centre's longitude (EPSG:4534–4554); or EPSG:4490, or any of 4513–4554
    vector_crs: str = "auto"
    shp_encoding: Literal["UTF-8", "GBK"] = "UTF-8"

    @model_validator(mode="after")
    def _level_fits(self) -> "OutputSpec":
        limits = {"deflate": 12, "zstd": 22}
        if self.compress_level is not None and self.compress not in limits:
            raise ValueError(f"@compress_level: {self.compress} takes no level (only deflate and zstd do)")
        if self.compress_level is not None and self.compress_level > limits[self.compress]:
            raise ValueError(f"@compress_level: {self.compress} levels go from 1 to {limits[self.compress]}, got {self.compress_level}")
        return self

    @field_validator("vector_crs")
    @classmethod
    def _cgcs2000_crs(cls, v: str) -> str:
        if v == "auto":
            return v
        code = v.upper().removeprefix("EPSG:")
        if not code.isdigit() or not (int(code) == 4490 or 4513 <= int(code) <= 4554):
            raise ValueError(f"vector_crs must be auto, EPSG:4490 or a CGCS2000 3° Gauss–Krüger zone EPSG:4513–4554 (zones_and_standards.md §3.1), got {v!r}")
        return f"EPSG:{int(code)}"

    @field_validator("tile_size")
    @classmethod
    def _tile_multiple_16(cls, v: int) -> int:
        if v % 16:
            raise ValueError(f"tile_size must be a multiple of 16 (GeoTIFF rule), got {v}")
        return v


class EvaluationSpec(_Strict):
    """The run-level evaluation settings every model sees (methods.md §1.2)."""

    guideline: Literal["2019draft", "2020trial"] = "2020trial"
    # province type of the 2022 三区三线 rules (seed 004): 1 and 2 keep PBF ≥ 90 % of stable cropland, 3 in principle ≤ 90 %
    province_type: Literal[1, 2, 3] | None = None
    region: str = ""
    # which threshold row of §4.2/§5.2/§5.7 applies: city/county (default) or provincial
    level: Literal["county", "province"] = "county"


class ComputeSpec(_Strict):
    chunk_size: int = DEFAULT_CHUNK
    scheduler: str = "threads"
    workers: int | None = None
    threads_per_worker: int | None = None
    # a run larger than this is refused before anything is read: 1e11 is a 10 m grid of all China; Tibet at 30 m is 2.3e9
    max_cells: float = Field(1e11, gt=0)
    # how often each output's finished blocks are made durable for a resumed run (0: never, nothing to resume)
    checkpoint_s: float = Field(60.0, ge=0)

    @field_validator("chunk_size")
    @classmethod
    def _chunk(cls, v: int) -> int:
        if not 16 <= v <= 32768:
            raise ValueError(f"chunk size must be between 16 and 32768 cells per side, got {v} (2048 suits most machines)")
        return v

    @field_validator("workers", "threads_per_worker")
    @classmethod
    def _positive(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        if v in ("threads", "processes", "synchronous") or v.startswith(("tcp://", "tls://", "ucx://", "ws://", "wss://", "inproc://")):
            return v
        raise ValueError(f"scheduler must be 'threads', 'processes', 'synchronous' or a tcp:// scheduler address, got {v!r}")


class DemoSpec(_Strict):
    """Generate the synthetic demo inputs into ``folder`` when they are missing."""

    folder: ConfigPath
    size: int = Field(1500, ge=16, le=200_000)
    resolution: float = Field(30.0, gt=0)
    crs: str = "EPSG:4547"
    seed: int = 2026


class RunConfig(_Strict):
    """A validated run plan."""

    name: str
    description: str = ""
    grid: GridSpec
    inputs: dict[str, InputSpec]
    models: dict[str, ModelRun]
    outputs: OutputSpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    compute: ComputeSpec = Field(default_factory=ComputeSpec)
    demo: DemoSpec | None = None
    source: Path | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", v):
            raise ValueError(f"the run name may contain only letters, digits, _ . and - (it names files), got {v!r}")
        return v

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, v: dict[str, InputSpec]) -> dict[str, InputSpec]:
        if not v:
            raise ValueError("no inputs given")
        expanded = {}
        for name, spec in v.items():
            if not name.isidentifier():
                raise ValueError(f"input name {name!r} must be a simple identifier (letters, digits, _)")
            if spec.bands is None:
                expanded[name] = spec
                continue
            for k in range(1, spec.bands + 1):
                member = f"{name}{k:02d}"
                if member in v:
                    raise ValueError(f"input {member!r} is given twice: by itself and through {name}.bands")
                expanded[member] = spec.model_copy(update={"band": k, "bands": None})
        return expanded

    @field_validator("models", mode="before")
    @classmethod
    def _models_list(cls, v: Any) -> Any:
        # `models: [agri_land]` is shorthand for `models: {agri_land: {}}`
        if isinstance(v, list):
            return {name: {} for name in v}
        return {k: ({} if m is None else m) for k, m in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _models_known(self) -> "RunConfig":
        from evaluate.modelspec import PlanError
        from models import MODELS

        problems = []
        for name, run in self.models.items():
            if name not in MODELS:
                problems.append(MODELS.unknown(name))
                continue
            spec = MODELS[name].SPEC
            for key, value in run.params.items():
                param = spec.parameters.get(key)
                if param is None:
                    problems.append(f"models.{name}.params.{key}: unknown parameter; known: {', '.join(spec.parameters)}")
                    continue
                try:
                    param.check(value)
                except ValueError as exc:
                    problems.append(f"models.{name}.params.{key}: {exc}")
            if not problems:
                try:
                    spec.resolve(run.params)
                except ValueError as exc:
                    problems.extend(f"models.{name}.params.{line}" for line in str(exc).splitlines())
        if not any(run.enabled for run in self.models.values()):
            problems.append("models: no model is enabled")
        if not problems:
            try:
                plan = self.plan()
            except PlanError as exc:
                problems.extend(str(exc).splitlines())
            else:
                known = {o for m in plan.order for o in MODELS[m].SPEC.outputs}
                for out in self.outputs.write:
                    if out not in known:
                        problems.append(f"outputs.write: {out!r} is not an output of this run's models; they make {', '.join(sorted(known))}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def plan(self):
        """The models to run (enabled ones and their prerequisites) in dependency order (:meth:`Registry.plan`)."""
        from models import MODELS

        requested = [n for n, r in self.models.items() if r.enabled]
        params = {n: r.params for n, r in self.models.items()}
        return MODELS.plan(requested, set(self.inputs), self.evaluation.guideline, params)

    @model_validator(mode="after")
    def _write_inputs_known(self) -> "RunConfig":
        unknown = [n for n in self.outputs.write_inputs if n not in self.inputs]
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            raise ValueError(f"@outputs.write_inputs: unknown input{'s' if len(unknown) > 1 else ''} {names}; the inputs are {', '.join(self.inputs)}")
        return self

    def fingerprint(self) -> str:
        """sha256 of the resolved config (paths absolute, defaults filled)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def _format_error(err: dict, where: str) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling, see README 'Config reference')"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {brief(err.get('input'))})"
    lines = []
    for part in _short(msg, 600).split("\n"):
        key = loc
        sub = re.match(r"^@([\w.]+): (.*)$", part, re.S)
        if sub:  # a model-level check that names its own sub-key
            key, part = (f"{loc}.{sub[1]}" if loc else sub[1]), sub[2]
        lines.append(f"{where}: {key + ': ' if key and not part.startswith(key) else ''}{part}")
    return "\n".join(lines)


def parse_config(data: Any, source: Path | str = "<config>", base_dir: Path | None = None) -> RunConfig:
    """Validate an already-loaded mapping; raise :class:`ConfigError` with one line per problem."""
    where = str(source)
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: the config must be a YAML mapping of keys (name, grid, inputs, models, outputs), got {type(data).__name__}"])
    try:
        config = RunConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError([line for e in exc.errors() for line in _format_error(e, where).split("\n")]) from None
    return config.model_copy(update={"source": Path(source) if source != "<config>" else None})


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {brief(key)}: the second would silently replace the first", key_node.start_mark)
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _short(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters: messages never quote a whole (possibly huge) value."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config; paths inside are relative to its folder.

    Duplicate keys are errors; every message names the file, the line or the key path, and
    quotes at most a few hundred characters of any value (a YAML alias bomb gives a short message).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: config file not found"])
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: not valid YAML: {problem}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    return parse_config(data, source=path.resolve(), base_dir=path.resolve().parent)
