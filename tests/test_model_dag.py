"""The model layer as a DAG (ARCHITECTURE.md "The model layer as it grows"): ordering, one computation of a shared
intermediate in the real runner, prerequisites pulled in, intermediates not written, and the registry's checks."""
import threading

import numpy as np
import pytest
import rasterio

import models
from evaluate.config import parse_config
from evaluate.modelspec import InputDecl, Model, ModelSpec, OutputDecl, Parameter, PlanError, Registry
from evaluate import ops
from evaluate.runner import run
from tests.helpers import ORIGIN, RES, CRS, write_raster

CALLS = {"a": 0}
LOCK = threading.Lock()


def _out(desc):
    return OutputDecl("float32", desc, units="1", nodata=float("nan"))


def _model(name, inputs, outputs, func, **kw):
    return Model(ModelSpec(name=name, title_zh=name, title_en=name, source="test", inputs=inputs, parameters=kw.pop("parameters", {}),
                           outputs={o: _out(o) for o in outputs}, **kw), func)


def _a(inputs, params, ev):
    def block(x):
        with LOCK:
            CALLS["a"] += 1
        return (x + 1).astype(np.float32)

    return {"a": ops.map_cells(block, inputs["x"], dtype=np.float32, name="a")}


TOY = [
    _model("toy_c", {"a": InputDecl("1", "continuous", "a", producer="toy_a"), "b": InputDecl("1", "continuous", "b", producer="toy_b")}, ["c"],
           lambda i, p, e: {"c": ops.map_cells(lambda a, b: a * b, i["a"], i["b"], dtype=np.float32, name="c")}),
    _model("toy_b", {"a": InputDecl("1", "continuous", "a", producer="toy_a"),
                     "w": InputDecl("1", "continuous", "optional weight", required=False)}, ["b"],
           lambda i, p, e: {"b": ops.map_cells(lambda a, *w: a * 2 + (w[0] if w else 0), i["a"], *([i["w"]] if "w" in i else []),
                                               dtype=np.float32, name="b")}),
    _model("toy_a", {"x": InputDecl("1", "continuous", "x")}, ["a"], _a),
]


def test_plan_orders_prerequisites_and_names_missing_inputs():
    registry = Registry(TOY)
    plan = registry.plan(["toy_c"], {"x"})
    assert plan.order == ("toy_a", "toy_b", "toy_c")
    assert plan.sources["toy_c"] == {"a": "model:toy_a", "b": "model:toy_b"}
    assert plan.missing_optional() == {"toy_b": ["w"]}
    with pytest.raises(PlanError, match=r"models.toy_c → toy_b → toy_a: needs input 'x'"):
        registry.plan(["toy_c"], set())
    # a config layer of the same name replaces the producer
    assert registry.plan(["toy_c"], {"a", "x"}).order == ("toy_b", "toy_c")


def test_registry_refuses_a_cycle_duplicate_outputs_and_unknown_producers():
    loop = [_model("p", {"q": InputDecl("1", "continuous", "q", producer="q")}, ["p"], None),
            _model("q", {"p": InputDecl("1", "continuous", "p", producer="p")}, ["q"], None)]
    with pytest.raises(PlanError, match="cycle: p → q → p"):
        Registry(loop)
    with pytest.raises(PlanError, match="output a is produced by both toy_a and dup"):
        Registry(TOY + [_model("dup", {}, ["a"], None)])
    with pytest.raises(PlanError, match="names producer nowhere, which is not a model"):
        Registry([_model("z", {"a": InputDecl("1", "continuous", "a", producer="nowhere")}, ["z"], None)])


def test_the_shipped_registry_is_valid_and_every_output_has_a_declaration():
    assert len(models.MODELS.models) > 20
    for name, model in models.MODELS.items():
        for inp, decl in model.SPEC.inputs.items():
            if decl.producer:
                assert inp in models.MODELS[decl.producer].SPEC.outputs


def test_runner_computes_a_shared_intermediate_once_and_writes_only_what_was_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "MODELS", Registry(TOY))
    rows, cols = 40, 48
    x = write_raster(tmp_path / "x.tif", np.arange(rows * cols, dtype=np.float32).reshape(rows, cols))
    config = {
        "name": "toy",
        "grid": {"crs": CRS, "bounds": [ORIGIN[0], ORIGIN[1] - rows * RES, ORIGIN[0] + cols * RES, ORIGIN[1]], "resolution": RES},
        "inputs": {"x": {"path": str(x), "kind": "continuous", "units": "1"}},
        "models": {"toy_c": {}},
        "outputs": {"folder": str(tmp_path / "out"), "write": ["b"]},
        "compute": {"chunk_size": 16},
    }
    CALLS["a"] = 0
    result = run(parse_config(config, source=tmp_path / "toy.yaml", base_dir=tmp_path))
    assert set(result.outputs) == {"c", "b"}  # a is an intermediate; b was asked for
    assert CALLS["a"] == 3 * 3  # one call per chunk: a feeds b and c in one graph
    with rasterio.open(result.outputs["c"]) as src:
        a = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) + 1
        np.testing.assert_array_equal(src.read(1), a * (a * 2))
