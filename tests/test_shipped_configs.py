"""The configs shipped in configs/ parse, and their model plans resolve (the template a modeler copies must stay valid)."""
from pathlib import Path

import pytest

from evaluate.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["demo.yaml", "county_template.yaml"])
def test_shipped_config_is_valid_and_plans(name):
    config = load_config(CONFIGS / name)
    plan = config.plan()
    assert {"eco_importance", "agri_suit", "urban_suit", "carrying_scale", "conflicts"} <= set(plan.order)
    assert plan.order.index("eco_importance") < plan.order.index("agri_suit")
