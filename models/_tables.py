"""Guideline tables shipped as data files beside the models."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

TABLES = Path(__file__).parent / "tables"


@lru_cache(maxsize=None)
def table(name: str) -> dict:
    """The parsed ``models/tables/<name>.yaml``."""
    return yaml.safe_load((TABLES / f"{name}.yaml").read_text(encoding="utf-8"))
