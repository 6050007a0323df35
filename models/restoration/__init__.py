"""国土空间生态修复: severity, priority and the ecological network (methods.md §9)."""
from models.restoration.network import NETWORK
from models.restoration.priority import PRIORITY, SEVERITY

MODELS = (SEVERITY, PRIORITY, NETWORK)
