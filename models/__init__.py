"""The evaluation models, written against ``evaluate``'s API; guideline tables live in ``models/tables``."""
from __future__ import annotations

from evaluate.modelspec import Model
from models import agri_land

MODELS: dict[str, Model] = {m.SPEC.name: m for m in (agri_land.MODEL,)}
