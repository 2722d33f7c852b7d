"""fraud_detection's console contribution (the ``moesaic.pages`` entry point; see ui/contributions.py).

Three pages: the monitoring dashboard, the case queue and a case page. Like every module of this
package they import Streamlit, ``ui.client``, the standard library and this folder only, never
``moesaic``: the console loads them without the platform.
"""

PAGES = [
    {"path": "dashboard.py", "title": "Fraud dashboard", "icon": "📈"},
    {"path": "queue.py", "title": "Fraud cases", "icon": "🗂️"},
    {"path": "case.py", "title": "Fraud case", "icon": "🕵️"},
]
