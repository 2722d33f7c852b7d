"""The persisted keyword index: SQLite FTS5 or PostgreSQL full-text, queried with OR'd terms.

The index itself is kept in sync by the database (triggers on SQLite, a generated column on
PostgreSQL; see migration ``0002_retrieval``), so inserting or deleting ``retrieval_chunks`` rows in a
transaction updates it in that same transaction. This module only builds and runs queries; it
never rebuilds anything in memory.

Cost control: ranking has to score every chunk that matches any query term, so very common terms
(low IDF, little ranking value) are dropped, most common first, while the query's summed posting
counts exceed ``max_postings``; the rarest term is always kept. SQLite counts postings in FTS5
(capped); PostgreSQL estimates them from the planner's statistics of the ``tsv`` column, because
counting through the GIN index costs as much as ranking.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MAX_QUERY_TERMS = 32
# PostgreSQL reads each matched row's tsvector to rank it, so it gets a smaller budget
DEFAULT_MAX_POSTINGS = {"sqlite": 8000, "postgresql": 3000}
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
        if dialect not in DEFAULT_MAX_POSTINGS:
            raise ValueError(f"no keyword index for dialect {dialect!r}; valid: {', '.join(DEFAULT_MAX_POSTINGS)}")
        self.dialect = dialect
        self.title_weight = title_weight
        self.max_postings = max_postings or DEFAULT_MAX_POSTINGS[dialect]

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
        counts = {term: float(count) for term, count in zip(terms, row) if count > 0}
        return _rarest_within(counts, self.max_postings)

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
        lexemes = self._prune_postgres(session, " ".join(terms))
        if not lexemes:
            return []
        query = " | ".join("'" + lexeme.replace("'", "''") + "'" for lexeme in lexemes)
        params: dict[str, object] = {"kb": kb_id, "n": n, "q": query}
        doc_clause = ""
        if document_ids is not None:
            doc_clause = " AND c.document_id IN :doc_ids"
            params["doc_ids"] = list(document_ids)
        sql = (
            "SELECT c.chunk_id, ts_rank(c.tsv, q, 1) AS score "
            "FROM retrieval_chunks c, to_tsquery('simple', :q) q "
            "WHERE c.knowledge_base_id = :kb AND c.tsv @@ q" + doc_clause + " ORDER BY score DESC LIMIT :n"
        )
        statement = text(sql)
        if document_ids is not None:
            statement = statement.bindparams(bindparam("doc_ids", expanding=True))
        return [(row[0], float(row[1])) for row in session.execute(statement, params)]

    def _prune_postgres(self, session: Session, query: str) -> list[str]:
        """The query's lexemes, dropping the most common while their estimated postings exceed the
        budget. Frequencies come from the planner's statistics of the ``tsv`` column (kept by
        ANALYZE/autovacuum), so this costs one catalog lookup; without statistics nothing is dropped."""
        rows = session.execute(
            text(
                "WITH q AS (SELECT unnest(tsvector_to_array(to_tsvector('english', :q))) AS lexeme), "
                "s AS (SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs "
                "      FROM pg_stats WHERE tablename = 'retrieval_chunks' AND attname = 'tsv' "
                "      AND schemaname = current_schema()), "
                "t AS (SELECT reltuples FROM pg_class WHERE oid = to_regclass('retrieval_chunks')) "
                "SELECT q.lexeme, coalesce(s.freqs[array_position(s.elems, q.lexeme)] * "
                "(SELECT greatest(reltuples, 0) FROM t), 0) AS postings FROM q LEFT JOIN s ON true"
            ),
            {"q": query},
        ).all()
        return _rarest_within({row[0]: float(row[1] or 0.0) for row in rows}, self.max_postings)


def _rarest_within(counts: dict[str, float], budget: int) -> list[str]:
    """Terms rarest first, dropping the most common while their summed postings exceed the budget (the
    rarest term is always kept)."""
    kept = sorted(counts, key=lambda term: counts[term])
    while len(kept) > 1 and sum(counts[term] for term in kept) > budget:
        kept.pop()
    return kept
