"""literature_analysis's console contribution (the ``moesaic.pages`` entry point; see ui/contributions.py):
search (the knowledge base and PubMed, with metadata), the claim checker (verdict badges, highlighted
rationale sentences), contradictions side by side, a cited summary builder, saved PubMed queries with their
sync jobs' progress. Streamlit, ``ui.client`` and the standard library only, never ``moesaic``."""

PAGES = [{"path": "search.py", "title": "Literature search", "icon": "🔎"},
         {"path": "claims.py", "title": "Claim checker", "icon": "🔬"},
         {"path": "contradictions.py", "title": "Contradictions", "icon": "⚖️"},
         {"path": "summaries.py", "title": "Summary builder", "icon": "🧾"},
         {"path": "queries.py", "title": "PubMed queries", "icon": "📚"}]
