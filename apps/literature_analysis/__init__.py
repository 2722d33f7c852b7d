"""The literature_analysis app: claim checks with rationale sentences, contradictions, summaries and
PubMedQA-style answers over biomedical abstracts (SciFact, PubMedQA, PubMed)."""
