"""medical_ner's console contribution: one page, ``entities.py`` (plain data, no imports, so loading it
loads nothing of the core). Registered under the ``moesaic.pages`` entry points in pyproject.toml."""

PAGES = [{"path": "entities.py", "title": "Medical entities", "icon": "🩺"}]
