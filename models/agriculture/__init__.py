"""农业生产适宜性评价 (methods.md §4)."""
from models.agriculture.factors import FACTORS
from models.agriculture.land import MODEL as LAND
from models.agriculture.suitability import AGRI_SUIT

MODELS = (LAND, *FACTORS, AGRI_SUIT)
