"""The evaluation models, written against ``evaluate``'s API; guideline tables live in ``models/tables``.

``MODELS`` is the registry: a DAG of models (shared derived layers, the
ecology, agriculture and urban evaluations, capacity and conflicts), checked
when it is built (unique outputs, every producer known, no cycle).
"""
from __future__ import annotations

from evaluate.modelspec import Registry
from models import agriculture, capacity, derived, ecology, restoration, urban, zones

MODELS = Registry([*derived.DERIVED, *ecology.MODELS, *agriculture.MODELS, *urban.MODELS, *capacity.MODELS, *restoration.MODELS, *zones.MODELS])
