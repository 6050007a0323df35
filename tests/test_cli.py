"""The ``dualeval`` command line, run as a real process (``python -m evaluate`` and the console script)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from evaluate.config import load_config
from tests.helpers import dump_config, small_config, small_inputs

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("dualeval")
ENTRY_POINTS = {"module": [sys.executable, "-m", "evaluate"], "script": [str(SCRIPT)]}
OUTPUT_FILES = {"agri_land.tif", "slope.tif", "agri_land.qml", "manifest.json"}


def dualeval(*args: str, entry: str = "script", cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUTF8": "1", "COLUMNS": "100"}
    env.pop("CI", None)
    return subprocess.run(
        [*ENTRY_POINTS[entry], *args], capture_output=True, text=True, encoding="utf-8", cwd=cwd or REPO, env=env, timeout=timeout
    )


def squash(text: str) -> str:
    """Whitespace-normalised text (argparse wraps help at the terminal width)."""
    return " ".join(text.split())


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def test_console_script_is_installed_next_to_the_interpreter():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK), f"{SCRIPT} missing: is the package installed (pip install -e .)?"


# --------------------------------------------------------------------------- help
HELP = {
    None: ["usage: dualeval", "双评价 engine", "Exit codes: 0 success, 2 bad input or config, 1 internal error",
           "run the models of a config and write the outputs", "check a config and its inputs without computing",
           "write the synthetic demo inputs", "list models: inputs, parameters, outputs"],
    "run": ["usage: dualeval run", "Run a config: align inputs, run the models, write rasters and manifest.json atomically.",
            "--chunk-size", "--scheduler", "--workers", "-o OUTPUT, --output OUTPUT"],
    "validate": ["usage: dualeval validate", "Check the config, that every input exists and opens", "computes no model", "--json"],
    "demo": ["usage: dualeval demo", "Write the deterministic synthetic demo region", "--size", "--resolution", "--crs", "--seed"],
    "models": ["usage: dualeval models", "List every model with its inputs, parameters (defaults and sources) and outputs (class codes)", "--json"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c or "top")
def test_help(command, entry):
    result = dualeval(*([command] if command else []), "--help", entry=entry)
    assert result.returncode == 0, result.stderr
    text = squash(result.stdout)
    for phrase in HELP[command]:
        assert phrase in text, f"{phrase!r} not in {command or 'top-level'} help:\n{result.stdout}"


def test_no_command_is_a_usage_error():
    result = dualeval()
    assert result.returncode == 2
    assert "usage: dualeval" in result.stderr and "COMMAND" in result.stderr


# --------------------------------------------------------------------------- models
def test_models_lists_agri_land_with_parameters_and_classes():
    result = dualeval("models")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    block = out[out.index("agri_land — 农业生产适宜性 · 土地资源 / Agricultural production suitability"):]
    block = block[: block.index("\nagri_water — ")]
    assert "source: methods.md §4.1" in block
    assert re.search(r"^\s+slope \[continuous, degrees\] ← slope unless given as an input: ", block, re.M)
    assert re.search(r"^\s+soil_silt \[continuous, percent\]: ", block, re.M)
    assert re.search(r"^\s+slope_thresholds_deg = \[2, 6, 15, 25\]: .*\(methods\.md §4\.1", block, re.M)
    assert re.search(r"^\s+silt_thresholds_pct = \[60, 80\]: ", block, re.M)
    assert "classes 1 高/high, 2 较高/fairly high, 3 中等/medium, 4 较低/fairly low, 5 低/low" in block
    assert re.search(r"^slope — 坡度 / Slope \(shared derived layer", out, re.M)
    assert out.index("agri_land — ") < out.index("\nslope — ")


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_models_json(entry):
    result = dualeval("models", "--json", entry=entry)
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)["agri_land"]
    assert spec["name"] == "agri_land"
    assert spec["source"].startswith("methods.md §4.1")
    assert set(spec["inputs"]) == {"slope", "soil_silt"}
    assert spec["inputs"]["slope"]["units"] == "degrees" and spec["inputs"]["slope"]["producer"] == "slope"
    assert spec["inputs"]["soil_silt"]["units"] == "percent" and spec["inputs"]["soil_silt"]["required"] is True
    slope = spec["parameters"]["slope_thresholds_deg"]
    assert slope["default"] == [2, 6, 15, 25]
    assert slope["source"] and "§4.1" in slope["source"]
    assert all(p["source"] for p in spec["parameters"].values())
    classes = spec["outputs"]["agri_land"]["classes"]
    assert [c["code"] for c in classes] == [1, 2, 3, 4, 5]
    assert [(c["zh"], c["en"]) for c in classes] == [("高", "high"), ("较高", "fairly high"), ("中等", "medium"), ("较低", "fairly low"), ("低", "low")]
    assert spec["outputs"]["agri_land"]["dtype"] == "uint8" and spec["outputs"]["agri_land"]["nodata"] == 0
    assert set(spec["outputs"]) == {"agri_land"}
    assert json.loads(result.stdout)["slope"]["derived"] is True


# --------------------------------------------------------------------------- run
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One `dualeval run` of the small config through the console script."""
    root = tmp_path_factory.mktemp("cli-run").resolve()
    inputs = small_inputs(root / "in")
    config = dump_config(root / "config.yaml", small_config(root, inputs))
    hashes = {name: sha256(p) for name, p in inputs.items()}
    result = dualeval("run", str(config), cwd=root)
    return {"root": root, "config": config, "inputs": inputs, "hashes": hashes, "result": result, "out": root / "out"}


def test_run_exits_0_and_writes_the_outputs(small_run):
    result, out = small_run["result"], small_run["out"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(f"wrote 2 rasters and manifest.json to {out} in ")
    assert f"agri_land: {out / 'agri_land.tif'}" in result.stdout
    names = set(os.listdir(out))  # hidden files included
    assert OUTPUT_FILES <= names
    assert not [n for n in names if n.endswith(".partial") or ".partial" in n]
    assert not [p for p in small_run["root"].rglob("*") if ".partial" in p.name]


def test_run_leaves_inputs_untouched(small_run):
    assert {name: sha256(p) for name, p in small_run["inputs"].items()} == small_run["hashes"]


def test_run_rasters(small_run):
    out = small_run["out"]
    with rasterio.open(out / "agri_land.tif") as src:
        grade = src.read(1)
        assert (src.height, src.width) == (90, 110)
        assert src.crs.to_epsg() == 4547
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert src.colormap(1)[1][:3] == (26, 152, 80)
    assert set(np.unique(grade)) <= {0, 1, 2, 3, 4, 5}
    assert len(set(np.unique(grade)) - {0}) >= 3
    assert (grade[40:43, 50:53] == 0).all()  # the DEM's nodata hole
    assert (grade[10:80, 10:100] > 0).mean() > 0.95
    slope = read_band(out / "slope.tif")
    assert slope.dtype == np.float32
    assert np.nanmin(slope) >= 0 and np.nanmax(slope) <= 90 and np.nanmax(slope) > 25
    qml = (out / "agri_land.qml").read_text(encoding="utf-8")
    assert "1 高 high" in qml and "5 低 low" in qml


def test_run_manifest(small_run):
    manifest = json.loads((small_run["out"] / "manifest.json").read_text(encoding="utf-8"))
    run = manifest["run"]
    assert re.fullmatch(r"[0-9a-f]{64}", run["config_sha256"])
    assert run["config_sha256"] == load_config(small_run["config"]).fingerprint()
    assert run["config_file"] == str(small_run["config"]) and run["status"] == "complete"
    agri = manifest["models"]["agri_land"]
    assert agri["source"].startswith("methods.md §4.1")
    params = agri["parameters"]
    assert params["slope_thresholds_deg"]["value"] == [2, 6, 15, 25]
    assert set(params) == {"slope_thresholds_deg", "silt_thresholds_pct", "silt_system"}
    for p in params.values():
        assert p["from"] == "default" and p["default_source"]
    for name, path in small_run["inputs"].items():
        entry = manifest["inputs"][name]
        assert entry["hash"] == small_run["hashes"][name] and entry["hash_method"] == "sha256"
        assert entry["path"] == str(path) and entry["bytes"] == path.stat().st_size
    versions = manifest["versions"]
    for key in ("python", "numpy", "dask", "xarray", "rasterio", "gdal", "pydantic"):
        assert versions.get(key), f"versions.{key} missing"
    steps = manifest["steps"]
    assert [s["step"] for s in steps] == ["check inputs", "build graph", "compute and write rasters"]
    for s in steps:
        assert isinstance(s["wall_s"], (int, float)) and s["wall_s"] >= 0
        assert isinstance(s["peak_rss_mib"], (int, float)) and s["peak_rss_mib"] > 10
    assert manifest["peak_rss_mib"] == max(s["peak_rss_mib"] for s in steps)
    assert manifest["compute"]["chunk_size"] == 32
    assert manifest["grid"]["shape"] == [90, 110] and manifest["grid"]["cells"] == 9900
    assert manifest["outputs"]["agri_land"]["classes"]["1"] == {"zh": "高", "en": "high"}


def test_run_bad_config_exits_2_with_error_line(tmp_path):
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    config = small_config(root, inputs)
    config["inputs"]["dem"]["kind"] = "raster"
    path = dump_config(root / "bad.yaml", config)
    result = dualeval("run", str(path), entry="module", cwd=root)
    assert result.returncode == 2
    assert f"error: {path}: inputs.dem.kind: Input should be 'continuous', 'categorical' or 'mask' (got 'raster')" in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (root / "out").exists()


def test_validate_bad_input_file_exits_2(tmp_path):
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    config = small_config(root, inputs)
    config["inputs"]["soil_silt"]["path"] = "in/gone.tif"
    path = dump_config(root / "bad.yaml", config)
    result = dualeval("validate", str(path), cwd=root)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{path}: inputs.soil_silt.path: file not found ({root / 'in' / 'gone.tif'})" in lines
    assert not [line for line in lines if "inputs.dem" in line]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_run_output_and_chunk_size_overrides(tmp_path, small_run):
    root = tmp_path.resolve()
    inputs = small_inputs(root / "in")
    config = dump_config(root / "config.yaml", small_config(root, inputs))
    r16 = dualeval("run", str(config), "--chunk-size", "16", "--output", str(root / "out16"), cwd=root)
    assert r16.returncode == 0, r16.stderr
    r64 = dualeval("run", str(config), "--chunk-size", "64", "-o", "out64", entry="module", cwd=root)
    assert r64.returncode == 0, r64.stderr
    assert not (root / "out").exists()  # the config's outputs.folder was overridden
    for folder, chunk in ((root / "out16", 16), (root / "out64", 64)):
        assert OUTPUT_FILES <= set(os.listdir(folder))
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["compute"]["chunk_size"] == chunk
    for name in ("agri_land.tif", "slope.tif"):
        a, b = read_band(root / "out16" / name), read_band(root / "out64" / name)
        reference = read_band(small_run["out"] / name)  # chunk_size 32 from the config
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, reference)


# --------------------------------------------------------------------------- demo
def test_demo_writes_the_demo_inputs(tmp_path):
    folder = tmp_path.resolve() / "demo"
    result = dualeval("demo", str(folder), "--size", "64", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"to {folder}" in result.stdout
    demo_config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    expected = {Path(spec["path"]).name for spec in demo_config["inputs"].values()}
    present = set(os.listdir(folder))
    assert expected <= present, f"missing {sorted(expected - present)}"
    assert not [n for n in present if ".partial" in n]
    for name in expected:
        if name.endswith(".tif"):
            with rasterio.open(folder / name) as src:
                assert (src.height, src.width) == (64, 64), name
                assert src.crs.to_epsg() == 4547, name
                assert src.res == (30.0, 30.0), name


# --------------------------------------------------------------------------- bad overrides
def test_run_invalid_chunk_size_override_exits_2(small_run, tmp_path):
    result = dualeval("run", str(small_run["config"]), "--chunk-size", "8", "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "error: --chunk-size: chunk size must be between 16 and 32768 cells per side, got 8 (2048 suits most machines)" in result.stderr.splitlines()
    assert not (tmp_path / "o").exists()


def test_run_zero_chunk_size_override_is_refused(small_run, tmp_path):
    result = dualeval("run", str(small_run["config"]), "--chunk-size", "0", "-o", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout


def test_the_embedded_demo_runs_end_to_end(tmp_path):
    """configs/demo.yaml as shipped, generated on 950² cells and run on the 400² window of the model tests, with its data
    and output folders moved into tmp_path.

    CI runs the whole 1500² demo verbatim; this test checks the generation, the rerun and the result on a window
    that holds a nature reserve, a fault, roads and towns.
    """
    from tests.demo_window import WINDOW

    config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    config["demo"]["size"] = 950  # the demo grid's origin is fixed: 950 cells reach past the window
    config["grid"]["bounds"] = list(WINDOW)
    data = tmp_path / "demo-data"
    for spec in config["inputs"].values():
        spec["path"] = str(data / Path(spec["path"]).name)
    config["demo"]["folder"] = str(data)
    config["outputs"]["folder"] = str(tmp_path / "run")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    result = dualeval("run", str(path), cwd=tmp_path, timeout=900)  # every model of the demo: a few minutes on 2 cores
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert [s["step"] for s in manifest["steps"]][0] == "generate demo inputs"
    assert len(set(manifest["generated_demo_inputs"])) >= len({spec["path"] for spec in config["inputs"].values()})  # several inputs may share a file
    with rasterio.open(tmp_path / "run" / "agri_land.tif") as src:
        assert (src.height, src.width) == (400, 400)
        grades = src.read(1)
    shares = np.bincount(grades.ravel(), minlength=6) / grades.size
    assert shares[0] == 0 and (shares[1:] > 0.01).all(), shares  # every grade occurs in the window
    again = dualeval("run", str(path), cwd=tmp_path, timeout=900)  # inputs exist now: no regeneration, same result
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["steps"][0]["step"] == "check inputs"
    with rasterio.open(tmp_path / "run" / "agri_land.tif") as src:
        np.testing.assert_array_equal(src.read(1), grades)


def test_an_internal_error_is_one_line_on_screen_and_a_traceback_in_the_output_folder(tmp_path, monkeypatch, capsys):
    import evaluate.runner
    from evaluate.cli import main
    from tests.helpers import dump_config, small_config, small_inputs

    def broken_run(config, progress=None, force=False):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(evaluate.runner, "run", broken_run)
    config = small_config(tmp_path, small_inputs(tmp_path), outputs={"folder": str(tmp_path / "out")})
    assert main(["run", str(dump_config(tmp_path / "run.yaml", config))]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("internal error: RuntimeError: a bug of ours (traceback in ") and "Traceback" not in err[0]
    logs = list((tmp_path / "out").glob("dualeval-error-*.log"))
    assert len(logs) == 1 and "Traceback (most recent call last)" in logs[0].read_text() and "a bug of ours" in logs[0].read_text()
