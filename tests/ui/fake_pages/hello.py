"""A test app page: lists the apps the key may use, through ui.client only."""

import streamlit as st

from ui.client import ApiError, connect

st.title("👋 Hello page")
try:
    st.write(", ".join(a["name"] for a in connect(st.session_state).list_apps()))
except ApiError as exc:
    st.error(str(exc))
