"""Run configs: every malformed config is refused with a precise message and nothing is written.

Each malformed case goes through ``dualeval validate`` and ``dualeval run`` in
process (``evaluate.cli.main``): both must exit 2, print a line naming the
offending key (and the config file) or input layer with a precise phrase, and
leave the folder exactly as it was (no outputs folder, inputs byte-identical).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from evaluate.cli import main
from evaluate.config import ConfigError, InputSpec, ModelRun, load_config, parse_config
from tests.helpers import dump_config, small_config, small_inputs, write_raster

# --------------------------------------------------------------------------- helpers


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (hidden files included), keyed by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def matching_line(lines: list[str], fragments: list[str]) -> str | None:
    """The first line that contains every fragment, or None."""
    for line in lines:
        if all(f in line for f in fragments):
            return line
    return None


def _set(path: str, value):
    """A mutation setting ``a.b.c`` of the config dict to ``value``."""

    def mutate(config: dict, root: Path) -> dict:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
        return config

    return mutate


def _pop(path: str):
    def mutate(config: dict, root: Path) -> dict:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        del node[last]
        return config

    return mutate


def _text(text: str):
    return lambda config, root: text


def _rename_models(config: dict, root: Path) -> dict:
    config["modles"] = config.pop("models")
    return config


def _add_categorical_bilinear(config: dict, root: Path) -> dict:
    config["inputs"]["landuse"] = {"path": str(root / "in" / "dem.tif"), "kind": "categorical", "resampling": "bilinear"}
    return config


def _output_folder_is_an_input(config: dict, root: Path) -> dict:
    config["outputs"]["folder"] = str(root / "in" / "dem.tif")
    return config


def _like_and_crs(config: dict, root: Path) -> dict:
    config["grid"]["like"] = str(root / "in" / "dem.tif")
    return config


def _silt_as_fraction(config: dict, root: Path) -> dict:
    rng = np.random.default_rng(7)
    path = write_raster(root / "in" / "silt_fraction.tif", rng.uniform(0.2, 0.9, (90, 110)).astype(np.float32), nodata=-1.0)
    config["inputs"]["soil_silt"]["path"] = str(path)
    return config


def _precip_in_metres(config: dict, root: Path) -> dict:
    rng = np.random.default_rng(8)
    path = write_raster(root / "in" / "precip_m.tif", rng.uniform(0.8, 1.8, (90, 110)).astype(np.float32), nodata=-1.0)
    config["inputs"]["precip"] = {"path": str(path), "kind": "continuous", "units": "mm/a"}
    return config


def _empty_vector(config: dict, root: Path) -> dict:
    import pyogrio.raw

    path = root / "in" / "empty.gpkg"
    pyogrio.raw.write(str(path), geometry=np.array([], dtype=object), field_data=[], fields=[], crs="EPSG:4547", geometry_type="Polygon", driver="GPKG")
    config["inputs"]["reserves"] = {"path": str(path), "kind": "mask"}
    return config


FAR_BOUNDS = [500_000.0, 2_447_300.0, 503_300.0, 2_450_000.0]  # 100 km from the inputs


@dataclass
class Case:
    id: str
    build: Callable[[dict, Path], dict | str | None]  # config dict, raw YAML text, or None (no config file)
    lines: list[list[str]]  # each: fragments that must appear together on one stderr line
    forbid: list[str] = field(default_factory=list)  # fragments that must appear on no line


C = "{config}"
CASES = [
    Case("yaml_syntax_error_has_line_and_column", _text("name: small\ndescription: a: b\n"),
         [[f"{C}:2:15: not valid YAML: mapping values are not allowed here"]]),
    Case("top_level_not_a_mapping", _text("- name: small\n- grid: {}\n"),
         [[f"{C}: the config must be a YAML mapping of keys", "got list"]]),
    Case("missing_required_grid", _pop("grid"), [[f"{C}: grid: required key is missing"]]),
    Case("unknown_top_level_key_typo", _rename_models,
         [[f"{C}: modles: unknown key (check the spelling"], [f"{C}: models: required key is missing"]]),
    Case("unknown_key_inside_input", _set("inputs.dem.nodata_value", -9999),
         [[f"{C}: inputs.dem.nodata_value: unknown key (check the spelling"]]),
    Case("bad_kind_value", _set("inputs.dem.kind", "raster"),
         [[f"{C}: inputs.dem.kind: Input should be 'continuous', 'categorical' or 'mask' (got 'raster')"]]),
    Case("continuous_input_without_units", _pop("inputs.dem.units"),
         [[f"{C}: inputs.dem.units: a continuous input must declare its units"]]),
    Case("unknown_units_string", _set("inputs.dem.units", "furlongs"),
         [[f"{C}: inputs.dem.units: unknown units 'furlongs'"]]),
    Case("bilinear_on_categorical_input", _add_categorical_bilinear,
         [[f"{C}: inputs.landuse.resampling: 'bilinear' would invent class codes"]]),
    Case("unknown_crs", _set("grid.crs", "EPSG:999999"),
         [[f"{C}: grid.crs: unknown CRS 'EPSG:999999'"]]),
    Case("bounds_xmin_greater_than_xmax", _set("grid.bounds", [403_300.0, 2_547_300.0, 400_000.0, 2_550_000.0]),
         [[f"{C}: grid.bounds: bounds must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax", "got [403300.0, 2547300.0, 400000.0, 2550000.0]"]]),
    Case("negative_resolution", _set("grid.resolution", -30),
         [[f"{C}: grid.resolution: resolution must be positive, got -30"]]),
    Case("grid_like_and_crs_together", _like_and_crs,
         [[f"{C}: grid: give either 'like' or 'crs' + 'bounds' + 'resolution', not both"]]),
    Case("unknown_model_name", _set("models", {"agri_lnd": {}}),
         [[f"{C}: models.agri_lnd: unknown model (did you mean agri_land?)"]]),
    Case("unknown_model_parameter", _set("models", {"agri_land": {"params": {"slope_threshold": [2, 6, 15, 25]}}}),
         [[f"{C}: models.agri_land.params.slope_threshold: unknown parameter"]]),
    Case("thresholds_not_increasing", _set("models", {"agri_land": {"params": {"slope_thresholds_deg": [6, 2, 15, 25]}}}),
         [[f"{C}: models.agri_land.params.slope_thresholds_deg: must be strictly increasing, got [6, 2, 15, 25]"]]),
    Case("thresholds_wrong_type", _set("models", {"agri_land": {"params": {"slope_thresholds_deg": "steep"}}}),
         [[f"{C}: models.agri_land.params.slope_thresholds_deg: must be a list of numbers like [2, 6, 15, 25], got 'steep'"]]),
    Case("thresholds_wrong_length", _set("models", {"agri_land": {"params": {"slope_thresholds_deg": [2, 6, 15]}}}),
         [[f"{C}: models.agri_land.params.slope_thresholds_deg: must have 4 values, got 3"]]),
    Case("parameter_not_a_choice", _set("models", {"agri_land": {"params": {"silt_system": "fao"}}}),
         [[f"{C}: models.agri_land.params.silt_system: must be one of 'chinese', 'usda', got 'fao'"]]),
    Case("usda_silt_with_chinese_thresholds", _set("models", {"agri_land": {"params": {"silt_system": "usda"}}}),
         [[f"{C}: models.agri_land.params.silt_system: 'usda' silt (2–50 µm) is not graded by the 60/80 % limits", "set silt_thresholds_pct"]]),
    Case("model_missing_required_input", _pop("inputs.soil_silt"),
         [[f"{C}: models.agri_land: needs input 'soil_silt'", "which is not in 'inputs'"]]),
    Case("bad_scheduler", _set("compute.scheduler", "gpu"),
         [[f"{C}: compute.scheduler: scheduler must be 'threads', 'processes', 'synchronous' or a tcp:// scheduler address, got 'gpu'"]]),
    Case("chunk_size_zero", _set("compute.chunk_size", 0),
         [[f"{C}: compute.chunk_size: chunk size must be between 16 and 32768 cells per side, got 0"]]),
    Case("tile_size_not_multiple_of_16", _set("outputs.tile_size", 100),
         [[f"{C}: outputs.tile_size: tile_size must be a multiple of 16 (GeoTIFF rule), got 100"]]),
    Case("slope_limit_beyond_90_degrees", _set("models", {"agri_land": {"params": {"slope_thresholds_deg": [2, 6, 15, 95]}}}),
         [[f"{C}: models.agri_land.params.slope_thresholds_deg: 95 is outside the physical range 0–90 degrees"]]),
    Case("silt_limit_beyond_100_percent", _set("models", {"agri_land": {"params": {"silt_thresholds_pct": [60, 180]}}}),
         [[f"{C}: models.agri_land.params.silt_thresholds_pct: 180 is outside the physical range 0–100 percent"]]),
    Case("output_folder_is_an_input_file", _output_folder_is_an_input,
         [[f"{C}: outputs.folder:", "dem.tif is a file, not a folder"]]),
    Case("resolution_in_the_wrong_unit_gives_an_absurd_grid", _set("grid.resolution", 0.003),
         [[f"{C}: grid: 900,000 × 1,100,000 = 9.9e+11 cells", "exceed compute.max_cells = 1e+11", "is grid.resolution in the CRS's units (metre)?"]]),
    Case("compress_level_for_lzw", lambda c, r: (_set("outputs.compress", "lzw")(c, r), _set("outputs.compress_level", 3)(c, r))[-1],
         [[f"{C}: outputs.compress_level: lzw takes no level (only deflate and zstd do)"]]),
    Case("deflate_level_too_high", _set("outputs.compress_level", 15),
         [[f"{C}: outputs.compress_level: deflate levels go from 1 to 12, got 15"]]),
    Case("write_inputs_names_an_unknown_input", _set("outputs.write_inputs", ["dem", "slope"]),
         [[f"{C}: outputs.write_inputs: unknown input 'slope'; the inputs are dem, soil_silt"]]),
    Case("config_file_does_not_exist", lambda config, root: None, [[f"{C}: config file not found"]]),
    # data-level problems, found by opening and sampling the inputs
    Case("input_file_not_found", _set("inputs.dem.path", "in/nope.tif"),
         [[f"{C}: inputs.dem.path: file not found ({{root}}/in/nope.tif)"]], forbid=["inputs.soil_silt"]),
    Case("raster_does_not_overlap_grid", _set("grid.bounds", FAR_BOUNDS),
         [[f"{C}: inputs.dem.path: extent", "does not overlap the run grid (500000.0, 2447300.0, 503300.0, 2450000.0) ({root}/in/dem.tif)"],
          [f"{C}: inputs.soil_silt.path: extent", "does not overlap the run grid", "({root}/in/silt.tif)"]]),
    Case("silt_fraction_declared_percent", _silt_as_fraction,
         [[f"{C}: inputs.soil_silt.units:", "(declared 'percent'), far too small for silt content", "fraction instead of percent", "({root}/in/silt_fraction.tif)"]],
         forbid=["inputs.dem"]),
    Case("precip_in_metres_declared_mm", _precip_in_metres,
         [[f"{C}: inputs.precip.units:", "(declared 'mm/a'), far too small for annual precipitation", "m instead of mm", "({root}/in/precip_m.tif)"]]),
    Case("elevation_in_inconvertible_units", _set("inputs.dem.units", "percent"),
         [[f"{C}: inputs.dem.units: cannot convert 'percent' (ratio) to 'm' (length)", "({root}/in/dem.tif)"],
          [f"{C}: inputs.dem.units: model slope needs 'm'"]]),
    Case("input_kind_contradicts_model", _set("inputs.soil_silt", {"path": "in/silt.tif", "kind": "categorical"}),
         [[f"{C}: inputs.soil_silt.kind: model agri_land needs a continuous layer, the config declares categorical"]]),
    Case("vector_with_no_features", _empty_vector,
         [[f"{C}: inputs.reserves.path: the vector layer has no features ({{root}}/in/empty.gpkg)"]]),
]


def _write_case(case: Case, root: Path) -> Path:
    inputs = small_inputs(root / "in")
    config = small_config(root, inputs)
    config_path = root / "config.yaml"
    built = case.build(copy.deepcopy(config), root)
    if isinstance(built, str):
        config_path.write_text(built, encoding="utf-8")
    elif built is not None:
        dump_config(config_path, built)
    return config_path


def _expected(case: Case, config_path: Path, root: Path) -> list[list[str]]:
    return [[f.replace("{config}", str(config_path)).replace("{root}", str(root)) for f in frags] for frags in case.lines]


def test_at_least_fourteen_distinct_malformed_cases():
    assert len({c.id for c in CASES}) == len(CASES) >= 14


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_config_gives_precise_message_and_writes_nothing(case: Case, tmp_path: Path, capsys):
    root = tmp_path.resolve()
    config_path = _write_case(case, root)
    expected = _expected(case, config_path, root)
    before = snapshot(root)
    assert any(k.startswith("in/") for k in before)  # the inputs are part of the snapshot

    rc = main(["validate", str(config_path)])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert rc == 2, err
    for fragments in expected:
        assert matching_line(lines, fragments), f"no line with {fragments!r} in:\n{err}"
    for fragment in case.forbid:
        assert not any(fragment in line for line in lines), err
    assert "valid —" not in out
    assert "Traceback" not in err
    assert snapshot(root) == before

    rc = main(["run", str(config_path)])
    out, err = capsys.readouterr()
    error_lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert rc == 2, err
    for fragments in expected:
        assert matching_line(error_lines, fragments), f"no 'error:' line with {fragments!r} in:\n{err}"
    assert "wrote" not in out
    assert "Traceback" not in err
    out_folder = root / "out"
    assert not out_folder.exists() or not any(p.is_file() for p in out_folder.rglob("*"))
    assert snapshot(root) == before  # inputs byte-identical, no file added anywhere


# --------------------------------------------------------------------------- valid configs and --json


@pytest.fixture()
def valid_config(tmp_path: Path) -> Path:
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    return dump_config(root / "config.yaml", small_config(root, inputs))


def test_valid_config_validates_with_exit_0_and_writes_nothing(valid_config: Path, capsys):
    before = snapshot(valid_config.parent)
    rc = main(["validate", str(valid_config)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"{valid_config}: valid — grid 90×110 cells in EPSG:4547, 2 inputs, models: agri_land" in out
    assert snapshot(valid_config.parent) == before
    assert not (valid_config.parent / "out").exists()


def test_validate_json_valid(valid_config: Path, capsys):
    rc = main(["validate", "--json", str(valid_config)])
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert rc == 0
    assert result["valid"] is True
    assert result["problems"] == []
    assert result["grid"]["shape"] == [90, 110]
    assert result["grid"]["crs"] == "EPSG:4547"


def test_validate_json_invalid_lists_every_problem(tmp_path: Path, capsys):
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    config = small_config(root, inputs)
    config["inputs"]["dem"]["kind"] = "raster"
    config["compute"]["scheduler"] = "gpu"
    path = dump_config(root / "config.yaml", config)
    rc = main(["validate", "--json", str(path)])
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert rc == 2
    assert result["valid"] is False
    assert result["grid"] is None
    assert matching_line(result["problems"], [f"{path}: inputs.dem.kind:", "(got 'raster')"])
    assert matching_line(result["problems"], [f"{path}: compute.scheduler:", "got 'gpu'"])


def test_validate_json_invalid_data_problem(tmp_path: Path, capsys):
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    config = small_config(root, inputs)
    config["inputs"]["dem"]["path"] = "in/missing.tif"
    path = dump_config(root / "config.yaml", config)
    rc = main(["validate", "--json", str(path)])
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert rc == 2
    assert result["valid"] is False
    assert result["problems"] == [f"{path}: inputs.dem.path: file not found ({root / 'in' / 'missing.tif'})"]
    assert result["grid"]["shape"] == [90, 110]


# --------------------------------------------------------------------------- parse_config / load_config


def _relative_config() -> dict:
    return {
        "name": "rel",
        "grid": {"crs": "EPSG:4547", "bounds": [400_000.0, 2_547_300.0, 403_300.0, 2_550_000.0], "resolution": 30},
        "inputs": {
            "dem": {"path": "../in/dem.tif", "kind": "continuous", "units": "m"},
            "soil_silt": {"path": "../in/silt.tif", "kind": "continuous", "units": "%"},
        },
        "models": ["agri_land"],
        "outputs": {"folder": "runs/rel"},
    }


def test_models_list_shorthand():
    config = parse_config(_relative_config(), base_dir=Path("/data/cfg"))
    assert list(config.models) == ["agri_land"]
    assert config.models["agri_land"] == ModelRun()
    assert config.models["agri_land"].params == {} and config.models["agri_land"].enabled is True


def test_models_null_entry_means_defaults():
    data = _relative_config()
    data["models"] = {"agri_land": None}
    assert parse_config(data).models["agri_land"] == ModelRun()


def test_models_all_disabled_is_refused():
    data = _relative_config()
    data["models"] = {"agri_land": {"enabled": False}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="x.yaml")
    assert "x.yaml: models: no model is enabled" in info.value.lines


def test_relative_paths_resolve_against_base_dir(tmp_path: Path):
    base = (tmp_path / "cfg").resolve()
    config = parse_config(_relative_config(), source=base / "run.yaml", base_dir=base)
    assert config.inputs["dem"].path == (tmp_path / "in" / "dem.tif").resolve()
    assert config.inputs["soil_silt"].path == (tmp_path / "in" / "silt.tif").resolve()
    assert config.inputs["soil_silt"].units == "percent"  # alias canonicalised
    assert config.outputs.folder == base / "runs" / "rel"
    assert config.source == base / "run.yaml"


def test_absolute_paths_are_kept(tmp_path: Path):
    data = _relative_config()
    data["inputs"]["dem"]["path"] = "/abs/dem.tif"
    config = parse_config(data, base_dir=tmp_path)
    assert config.inputs["dem"].path == Path("/abs/dem.tif")


def test_load_config_resolves_against_config_folder_not_cwd(tmp_path: Path, monkeypatch, capsys):
    root = tmp_path.resolve()
    small_inputs(root / "in")
    (root / "cfg").mkdir()
    path = dump_config(root / "cfg" / "run.yaml", _relative_config())
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "cfg" / "run.yaml")
    assert config.inputs["dem"].path == root / "in" / "dem.tif"
    assert config.outputs.folder == root / "cfg" / "runs" / "rel"
    assert config.source == path
    assert main(["validate", "../cfg/run.yaml"]) == 0, capsys.readouterr().err


def test_grid_like_resolves_relative_path(tmp_path: Path):
    data = _relative_config()
    data["grid"] = {"like": "../in/dem.tif"}
    config = parse_config(data, base_dir=(tmp_path / "cfg").resolve())
    assert config.grid.like == (tmp_path / "in" / "dem.tif").resolve()


def test_config_error_has_one_line_per_problem_each_naming_the_file():
    with pytest.raises(ConfigError) as info:
        parse_config({"name": "x"}, source="here.yaml")
    lines = info.value.lines
    assert sorted(lines) == sorted(f"here.yaml: {k}: required key is missing" for k in ("grid", "inputs", "models", "outputs"))
    assert str(info.value) == "\n".join(lines)


def test_fingerprint_depends_on_content_not_on_spelling():
    a = parse_config(_relative_config(), base_dir=Path("/data/cfg"))
    data = _relative_config()
    data["models"] = {"agri_land": {}}
    data["inputs"]["soil_silt"]["units"] = "percent"
    b = parse_config(data, base_dir=Path("/data/cfg"))
    assert a.fingerprint() == b.fingerprint()
    data["models"] = {"agri_land": {"params": {"slope_thresholds_deg": [3, 6, 15, 25]}}}
    c = parse_config(data, base_dir=Path("/data/cfg"))
    assert re.fullmatch(r"[0-9a-f]{64}", c.fingerprint()) and c.fingerprint() != a.fingerprint()


# --------------------------------------------------------------------------- messages keep their key on one line


def test_each_problem_message_stays_on_one_line(tmp_path: Path):
    data = _relative_config()
    data["modles"] = data.pop("models")
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="x.yaml")
    assert "x.yaml: modles: unknown key (check the spelling, see README 'Config reference')" in str(info.value).splitlines()


def test_unknown_model_line_lists_available_models(tmp_path: Path):
    data = _relative_config()
    data["models"] = ["agri_lnd"]
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="x.yaml")
    assert matching_line(str(info.value).splitlines(), ["x.yaml: models.agri_lnd: unknown model", "did you mean agri_land"])


def test_validate_json_prints_json_when_grid_like_is_missing(tmp_path: Path, capsys):
    root = tmp_path.resolve()
    data = _relative_config()
    data["grid"] = {"like": "nope.tif"}
    path = dump_config(root / "run.yaml", data)
    rc = main(["validate", "--json", str(path)])
    out, _ = capsys.readouterr()
    assert rc == 2
    result = json.loads(out)
    assert result["valid"] is False
    assert result["problems"] == [f"{path}: grid.like: file not found ({root / 'nope.tif'})"]


# --------------------------------------------------------------------------- resampling and write_inputs


@pytest.mark.parametrize("kind", ["categorical", "mask"])
@pytest.mark.parametrize("method", ["bilinear", "cubic", "average", "lanczos"])
def test_interpolating_class_codes_is_refused(kind, method):
    data = _relative_config()
    data["inputs"]["landuse"] = {"path": "in/landuse.tif", "kind": kind, "resampling": method}
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="x.yaml")
    assert f"x.yaml: inputs.landuse.resampling: {method!r} would invent class codes; use nearest or mode for {kind} inputs" in info.value.lines


@pytest.mark.parametrize(
    "kind, override, finer, coarser",
    [
        ("continuous", None, "bilinear", "average"),
        ("categorical", None, "nearest", "mode"),
        ("mask", None, "nearest", "mode"),
        ("continuous", "cubic", "cubic", "cubic"),  # the config's method wins either way
        ("categorical", "nearest", "nearest", "nearest"),
    ],
)
def test_resampling_defaults_by_kind_and_grid_and_the_override(kind, override, finer, coarser):
    spec = InputSpec(path=Path("layer.tif"), kind=kind, units="m" if kind == "continuous" else None, resampling=override)
    assert spec.resampling_for(coarser=False) == finer
    assert spec.resampling_for(coarser=True) == coarser


def test_write_inputs_accepts_input_names():
    data = _relative_config()
    data["outputs"]["write_inputs"] = ["soil_silt", "dem"]
    assert parse_config(data, base_dir=Path("/data/cfg")).outputs.write_inputs == ["soil_silt", "dem"]
    assert parse_config(_relative_config(), base_dir=Path("/data/cfg")).outputs.write_inputs == []


def test_a_key_given_twice_is_an_error_naming_the_line(tmp_path: Path, capsys):
    text = "name: demo\nname: other\n"
    (tmp_path / "dup.yaml").write_text(text)
    assert main(["validate", str(tmp_path / "dup.yaml")]) == 2
    assert "dup.yaml:2:1: not valid YAML: duplicate key 'name': the second would silently replace the first" in capsys.readouterr().err


def test_a_yaml_alias_bomb_gives_a_short_message_quickly(tmp_path: Path, capsys):
    import time

    levels = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"&{name} [{', '.join([f'*{prev}'] * 9)}]")
    inputs = small_inputs(tmp_path)
    config = small_config(tmp_path, inputs)
    config["models"] = {"agri_land": {"params": {"slope_thresholds_deg": "BOMB"}}}
    path = dump_config(tmp_path / "bomb.yaml", config)
    path.write_text(path.read_text().replace("BOMB", f"[{', '.join(levels)}]"))  # 9^9 ≈ 3.9e8 leaves if expanded
    start = time.perf_counter()
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 10 and len(err) < 2000
    assert "models.agri_land.params.slope_thresholds_deg: must be a list of numbers" in err


# --------------------------------------------------------------------------- fuzz
def _fuzz_values():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


def _fuzz_configs():
    from hypothesis import strategies as st

    keys = st.sampled_from(["name", "description", "grid", "inputs", "models", "outputs", "compute", "demo", "evaluation"])
    sections = {
        "grid": st.fixed_dictionaries({}, optional={"crs": st.sampled_from(["EPSG:4547", "EPSG:4490", "nonsense", ""]) | _fuzz_values(),
                                                    "bounds": st.lists(st.floats(allow_nan=True) | st.integers(), max_size=5) | _fuzz_values(),
                                                    "resolution": st.floats(allow_nan=True) | st.integers(-5, 100) | _fuzz_values(),
                                                    "like": st.text(max_size=12)}),
        "models": st.lists(st.sampled_from(["agri_land", "nope"]), max_size=2) | st.dictionaries(st.sampled_from(["agri_land", "x"]), _fuzz_values(), max_size=2),
        "outputs": st.fixed_dictionaries({}, optional={"folder": st.text(max_size=8) | _fuzz_values(), "compress": _fuzz_values(),
                                                       "compress_level": _fuzz_values(), "tile_size": _fuzz_values(), "write_inputs": _fuzz_values()}),
        "compute": st.fixed_dictionaries({}, optional={"chunk_size": _fuzz_values(), "scheduler": _fuzz_values(), "workers": _fuzz_values(), "max_cells": _fuzz_values()}),
    }
    return st.dictionaries(keys, _fuzz_values(), max_size=6).flatmap(
        lambda base: st.fixed_dictionaries({k: v for k, v in sections.items() if k in base or k in ("grid", "models")}).map(lambda extra: {**base, **extra})
    )


def test_any_yaml_config_is_accepted_or_refused_never_a_traceback(tmp_path_factory):
    """A hypothesis fuzz of the loader and validator: any YAML document gives exit 0 or 2 with messages, never exit 1."""
    import contextlib
    import io

    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    folder = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(document=_fuzz_configs() | _fuzz_values() | st.text(max_size=40))
    def check(document):
        path = folder / "fuzz.yaml"
        path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["validate", str(path)])
        assert code in (0, 2), err.getvalue()[-2000:]
        assert "Traceback" not in err.getvalue()

    check()
