"""The persisted keyword index: SQLite FTS5 or PostgreSQL full-text, queried with OR'd terms.

The index itself is kept in sync by the database (triggers on SQLite, a generated column on
PostgreSQL; see migration ``0002_retrieval``), so inserting or deleting ``retrieval_chunks`` rows in a
transaction updates it in that same transaction. This module only builds and runs queries; it
never rebuilds anything in memory.

Cost control on SQLite: BM25 has to score every chunk that matches any query term, so very common
terms (low IDF, little ranking value) are dropped, most common first, while the query's summed
posting counts exceed ``max_postings``; the rarest term is always kept. PostgreSQL has no cheap
per-term document count (counting through the GIN index costs as much as ranking), so it ranks
every match with ``ts_rank``; see docs/RETRIEVAL_NOTES.md for what that costs at scale.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MAX_QUERY_TERMS = 32
DEFAULT_MAX_POSTINGS = 8000
DIALECTS = ("sqlite", "postgresql")
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

    def __init__(
        self, dialect: str, *, title_weight: float = 1.0, max_postings: int | None = None
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"no keyword index for dialect {dialect!r}; valid: {', '.join(DIALECTS)}")
        self.dialect = dialect
        self.title_weight = title_weight
        self.max_postings = max_postings or DEFAULT_MAX_POSTINGS

    def search(
        self, session: Session, kb_id: str, query: str, n: int, document_ids: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """``(chunk_id, score)`` best first; higher score is better."""
        terms = query_terms(query)
        if not terms or (document_ids is not None and not document_ids):
            return []
        if self.dialect == "postgresql":
            return self._search_postgres(session, kb_id, terms, n, document_ids)
        return self._search_sqlite(session, kb_id, terms, n, document_ids)

    def _prune(self, session: Session, terms: list[str]) -> list[str]:
        """SQLite: drop the most common terms while the summed posting counts exceed the budget."""
        cap = self.max_postings + 1
        # one round trip: a capped match count per term (capped, so common terms stay cheap)
        columns = ", ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM retrieval_chunks_fts "
            f"WHERE retrieval_chunks_fts MATCH :q{i} LIMIT :cap))"
            for i in range(len(terms))
        )
        params: dict[str, object] = {f"q{i}": f'"{term}"' for i, term in enumerate(terms)}
        params["cap"] = cap
        row = session.execute(text(f"SELECT {columns}"), params).one()
        counts = {term: int(count) for term, count in zip(terms, row)}
        kept = [t for t in sorted(terms, key=lambda t: counts[t]) if counts[t] > 0]
        while len(kept) > 1 and sum(counts[t] for t in kept) > self.max_postings:
            kept.pop()
        return kept

    def _search_sqlite(
        self, session: Session, kb_id: str, terms: list[str], n: int, document_ids: list[str] | None
    ) -> list[tuple[str, float]]:
        terms = self._prune(session, terms)
        if not terms:
            return []
        match = f'knowledge_base_id : "{kb_id}" AND (' + " OR ".join(f'"{t}"' for t in terms) + ")"
        params: dict[str, object] = {"q": match, "n": n, "tw": self.title_weight, "kb": kb_id}
        if document_ids is None:
            # rank inside the FTS module, join only the top n rows
            sql = (
                "SELECT c.chunk_id, f.score FROM (SELECT rowid AS rid, "
                "-bm25(retrieval_chunks_fts, :tw, 1.0, 0.0) AS score FROM retrieval_chunks_fts "
                "WHERE retrieval_chunks_fts MATCH :q ORDER BY score DESC LIMIT :n) f "
                "JOIN retrieval_chunks c ON c.id = f.rid WHERE c.knowledge_base_id = :kb ORDER BY f.score DESC"
            )
            return [(row[0], float(row[1])) for row in session.execute(text(sql), params)]
        params["doc_ids"] = list(document_ids)
        sql = (
            "SELECT c.chunk_id, -bm25(retrieval_chunks_fts, :tw, 1.0, 0.0) AS score "
            "FROM retrieval_chunks_fts JOIN retrieval_chunks c ON c.id = retrieval_chunks_fts.rowid "
            "WHERE retrieval_chunks_fts MATCH :q AND c.knowledge_base_id = :kb AND c.document_id IN :doc_ids "
            "ORDER BY score DESC LIMIT :n"
        )
        statement = text(sql).bindparams(bindparam("doc_ids", expanding=True))
        return [(row[0], float(row[1])) for row in session.execute(statement, params)]

    def _search_postgres(
        self, session: Session, kb_id: str, terms: list[str], n: int, document_ids: list[str] | None
    ) -> list[tuple[str, float]]:
        params: dict[str, object] = {"kb": kb_id, "n": n, "q": " | ".join(terms)}
        doc_clause = ""
        if document_ids is not None:
            doc_clause = " AND c.document_id IN :doc_ids"
            params["doc_ids"] = list(document_ids)
        sql = (
            "SELECT c.chunk_id, ts_rank(c.tsv, q, 1) AS score "
            "FROM retrieval_chunks c, to_tsquery('english', :q) q "
            "WHERE c.knowledge_base_id = :kb AND c.tsv @@ q" + doc_clause + " ORDER BY score DESC LIMIT :n"
        )
        statement = text(sql)
        if document_ids is not None:
            statement = statement.bindparams(bindparam("doc_ids", expanding=True))
        return [(row[0], float(row[1])) for row in session.execute(statement, params)]
