"""What the fraud pages share: the app's name, calling its routes, and showing the API's refusals.

An API error is shown with ``st.error`` and stops the page; a 404 of the app's own routes (an API that
does not serve fraud_detection) is a warning saying so.
"""

from __future__ import annotations

from typing import Any, NoReturn

import streamlit as st

from ui.client import ApiError

APP = "fraud_detection"
CASE_KEY = "fraud_case_id"


def stop_with(exc: ApiError) -> NoReturn:
    if exc.status == 404:
        st.warning(f"This API does not serve {APP} here ({exc}).")
    else:
        st.error(str(exc))
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises


def call(api: Any, method: str, path: str, **kwargs: Any) -> Any:
    """The app's route, or the page stops with the API's answer."""
    try:
        return api.call_app(APP, method, path, **kwargs)
    except ApiError as exc:
        stop_with(exc)
