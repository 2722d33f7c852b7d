"""Moesaic operator console: navigation between the core pages and the apps' pages, and the API connection.

Run with ``moesaic ui`` (or ``streamlit run ui/app.py``). The console talks to the REST API only
(``MOESAIC_API_URL``, key from ``MOESAIC_UI_API_KEY`` or ``MOESAIC_BOOTSTRAP_API_KEY``). Apps add
pages through the ``moesaic.pages`` entry points (``ui/contributions.py``); an app's pages are listed
only while ``GET /v1/apps`` lists the app for the key in the sidebar. This module decides nothing
else: what a page shows is the page's business, and the API enforces access again on every call.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.client import ApiError, connect
from ui.contributions import installed
from ui.widgets import connection_defaults, connection_sidebar

# Not "pages/": until some session has run st.navigation, Streamlit serves a deep link such as /metrics
# straight from a pages/ folder beside the main script, without running this file (no app pages, no sidebar).
PAGES = Path(__file__).resolve().parent / "core_pages"
APPS_TTL_S = 15.0


@st.cache_data(ttl=APPS_TTL_S, show_spinner=False)
def usable_apps(url: str, key: str) -> dict[str, str]:
    """Name -> title of the apps this key may use (errors are raised, so they are not cached)."""
    return {a["name"]: a.get("title") or a["name"] for a in connect({"api_url": url, "api_key": key}).list_apps()}


def app_sections() -> dict[str, list[st.Page]]:
    """One navigation section per installed app with pages that the API lets this key use."""
    found = installed()
    for problem in found.problems:
        st.sidebar.error(problem)
    if not any(c.pages for c in found.apps.values()):
        return {}
    try:
        apps = usable_apps(str(st.session_state["api_url"]).strip(), str(st.session_state["api_key"]).strip())
    except ApiError:  # no pages of any app until the API says which; the chat page shows the error
        return {}
    sections: dict[str, list[st.Page]] = {}
    for name, contribution in sorted(found.apps.items()):
        if contribution.pages and name in apps:
            label = apps[name] if apps[name] not in sections else f"{apps[name]} ({name})"
            sections[label] = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path)
                               for p in contribution.pages]
    return sections


st.set_page_config(page_title="Moesaic console", page_icon="🧩", layout="wide")
connection_defaults()
core = [
    st.Page(PAGES / "chat.py", title="Chat", icon="💬", default=True),
    st.Page(PAGES / "knowledge.py", title="Knowledge", icon="📚"),
    st.Page(PAGES / "inbox.py", title="Operator inbox", icon="📥"),
    st.Page(PAGES / "answers.py", title="Answers", icon="📌"),
    st.Page(PAGES / "metrics.py", title="Metrics", icon="📈"),
]
navigation = st.navigation({"Console": core, **app_sections()}, expanded=True)  # every page listed, not "View N more"
connection_sidebar()
navigation.run()
