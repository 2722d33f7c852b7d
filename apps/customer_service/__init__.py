"""customer_service: retail support over the tau2 retail store (users, orders, products in SQL).

The manifest (``apps.customer_service.manifest:APP``) is what the platform loads; the rest is
importable for tests and tools: ``RetailStore`` (the tables), ``replay`` (gold-action replay) and
and, from ``apps.customer_service.scope``, ``ScopeRouter`` (the out-of-scope classifier).
"""

from apps.customer_service.replay import replay
from apps.customer_service.store import RetailStore

__all__ = ["RetailStore", "replay"]
