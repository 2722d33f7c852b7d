"""A console contribution for tests: one page and tool views for the fake API's kb_assistant app.

``broken_view`` raises, to show that an app's failing view does not break the chat.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def order_total(output: Any) -> bool:
    if not isinstance(output, dict) or "items" not in output:
        return False
    st.markdown(f"FAKE VIEW total {sum(i['price'] for i in output['items']):.2f}")
    return True


def broken_view(output: Any) -> bool:
    raise KeyError("not_there")


PAGES = [{"path": "hello.py", "title": "Hello", "icon": "👋"}]
TOOL_VIEWS = {"get_order_details": order_total}
