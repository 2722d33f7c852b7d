"""contract_app's console contribution: one page, ``notes.py`` (plain data; no imports, so loading it
loads nothing of the core). A real app registers this module under ``moesaic.pages``; the tests load it
with ``ui.contributions.load_contribution``."""

PAGES = [{"path": "notes.py", "title": "Notes", "icon": "🗒️"}]
