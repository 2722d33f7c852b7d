"""literature_analysis's console contribution (the ``moesaic.pages`` entry point; see ui/contributions.py):
the claim checker (verdict badges, highlighted rationale sentences), contradictions side by side and a
cited summary builder; saved PubMed queries with their sync jobs. Streamlit, ``ui.client`` and the standard library only, never ``moesaic``."""

PAGES = [{"path": "claims.py", "title": "Claim checker", "icon": "🔬"},
         {"path": "queries.py", "title": "PubMed queries", "icon": "📚"}]
