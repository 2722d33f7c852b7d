"""Moesaic operator console: navigation between the pages and the API connection settings.

Run from the repository root with ``streamlit run ui/app.py``. The console talks to the REST API only
(``MOESAIC_API_URL``, key from ``MOESAIC_UI_API_KEY`` or ``MOESAIC_BOOTSTRAP_API_KEY``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `ui` is a plain folder, not an installed package
    sys.path.insert(0, str(ROOT))

from ui.widgets import connection_sidebar  # noqa: E402

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="Moesaic console", page_icon="🧩", layout="wide")
navigation = st.navigation(
    [
        st.Page(PAGES / "chat.py", title="Chat", icon="💬", default=True),
        st.Page(PAGES / "knowledge.py", title="Knowledge", icon="📚"),
        st.Page(PAGES / "inbox.py", title="Operator inbox", icon="📥"),
        st.Page(PAGES / "metrics.py", title="Metrics", icon="📈"),
    ]
)
connection_sidebar()
navigation.run()
