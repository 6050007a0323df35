"""三区三线 candidate zones (methods.md §8)."""
from models.zones.candidates import MODELS

__all__ = ["MODELS"]
