"""生态保护重要性评价 (methods.md §3): services, sensitivities, integration."""
from models.ecology.importance import IMPORTANCE
from models.ecology.sensitivity import SENSITIVITIES, TEXTURE
from models.ecology.services import SERVICES

MODELS = (*SERVICES, TEXTURE, *SENSITIVITIES, IMPORTANCE)
