"""城镇建设适宜性评价 (methods.md §5)."""
from models.urban.factors import FACTORS
from models.urban.suitability import URBAN_SUIT

MODELS = (*FACTORS, URBAN_SUIT)
