"""The Moesaic operator console (Streamlit). It talks to the REST API only and imports nothing of ``moesaic``.

Installed with the project so that app pages can ``from ui.client import ApiError, connect``.
"""
