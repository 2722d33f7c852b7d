"""The persisted keyword index: SQLite FTS5 or PostgreSQL full-text, queried with OR'd terms.

The index itself is kept in sync by the database (triggers on SQLite, a generated column on
PostgreSQL; see migration ``0002_retrieval``), so inserting or deleting ``retrieval_chunks`` rows in a
transaction updates it in that same transaction. This module only builds and runs queries; it
never rebuilds anything in memory.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MAX_QUERY_TERMS = 32
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Distinct lower-cased words of ``query`` without stopwords, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()) and word not in seen:
            seen[word] = None
    return list(seen)[:MAX_QUERY_TERMS]


class KeywordIndex:
    """Ranked keyword search over live chunks of one knowledge base."""

    def __init__(self, dialect: str, *, title_weight: float = 1.0) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no keyword index for dialect {dialect!r}; valid: sqlite, postgresql")
        self.dialect = dialect
        self.title_weight = title_weight

    def search(
        self, session: Session, kb_id: str, query: str, n: int, document_ids: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """``(chunk_id, score)`` best first; higher score is better."""
        terms = query_terms(query)
        if not terms or (document_ids is not None and not document_ids):
            return []
        params: dict[str, object] = {"kb": kb_id, "n": n}
        doc_clause = ""
        if document_ids is not None:
            doc_clause = " AND c.document_id IN :doc_ids"
            params["doc_ids"] = list(document_ids)
        if self.dialect == "sqlite":
            params["q"] = " OR ".join(f'"{term}"' for term in terms)
            params["tw"] = self.title_weight
            sql = (
                "SELECT c.chunk_id, -bm25(retrieval_chunks_fts, :tw, 1.0) AS score "
                "FROM retrieval_chunks_fts JOIN retrieval_chunks c ON c.id = retrieval_chunks_fts.rowid "
                "WHERE retrieval_chunks_fts MATCH :q AND c.knowledge_base_id = :kb" + doc_clause +
                " ORDER BY score DESC LIMIT :n"
            )
        else:
            params["q"] = " | ".join(terms)
            sql = (
                "SELECT c.chunk_id, ts_rank(c.tsv, q, 1) AS score "
                "FROM retrieval_chunks c, to_tsquery('english', :q) q "
                "WHERE c.knowledge_base_id = :kb AND c.tsv @@ q" + doc_clause +
                " ORDER BY score DESC LIMIT :n"
            )
        statement = text(sql)
        if document_ids is not None:
            statement = statement.bindparams(bindparam("doc_ids", expanding=True))
        rows = session.execute(statement, params).all()
        return [(row[0], float(row[1])) for row in rows]
