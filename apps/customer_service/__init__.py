"""customer_service: retail support over the tau2 retail store (users, orders, products in SQL).

The manifest (``apps.customer_service.manifest:APP``) is what the platform loads; the rest is
importable from its modules for tests and tools: ``RetailStore`` (``store``, the tables), ``replay``
(``replay``, gold-action replay), ``ScopeRouter`` (``scope``, the clinc150 classifier),
``scope_check`` (``gate``, the out-of-scope gate the agent loop runs for any model) and
``Evaluation`` (``eval``, the tau2-style agent evaluation with a simulated customer). ``pages`` is
the app's console contribution (order and user cards, the case review page).

This package module imports nothing, so the console can load ``apps.customer_service.pages``
without the platform.
"""
