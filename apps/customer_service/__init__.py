"""customer_service: retail support over the tau2 retail store (users, orders, products in SQL).

The manifest (``apps.customer_service.manifest:APP``) is what the platform loads; the rest is
importable for tests and tools: ``RetailStore`` (the tables), ``replay`` (gold-action replay), and
from their modules ``ScopeRouter`` (``scope``, the clinc150 classifier), ``scope_check`` (``gate``,
the out-of-scope gate the agent loop runs for any model) and ``Evaluation`` (``eval``, the tau2-style
agent evaluation with a simulated customer).
"""

from apps.customer_service.replay import replay
from apps.customer_service.store import RetailStore

__all__ = ["RetailStore", "replay"]
