"""The persisted keyword index: SQLite FTS5 or PostgreSQL full-text, queried with OR'd terms.

The index itself is kept in sync by the database (triggers on SQLite, a generated column on
PostgreSQL; see migration ``0002_retrieval``), so inserting or deleting ``retrieval_chunks`` rows in a
transaction updates it in that same transaction. This module only builds and runs queries; it
never rebuilds anything in memory.

Both rank with BM25. SQLite: FTS5's ``bm25()``. PostgreSQL (``ts_rank`` has no IDF and reads every match):
each query lexeme's matches come from the GIN index alone, which gives its exact document frequency; a
bounded pool of candidates (the largest summed IDF of the lexemes they hold, a few times the hits asked
for) is then scored with BM25 from the pool rows' ``tsv`` (``_bm25``), so the cost grows with the pool,
not with the number of matches. On SciFact this ranks within 0.01 nDCG@10 of FTS5 (docs/BENCHMARKS.md).

Cost control: every chunk that matches any query term is still looked at, so very common terms
(low IDF, little ranking value) are dropped, most common first, while the query's summed posting
counts exceed ``max_postings``; the rarest term is always kept. SQLite counts postings in FTS5
(capped); PostgreSQL estimates them from the planner's statistics of the ``tsv`` column, because
counting through the GIN index costs as much as matching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

MAX_QUERY_TERMS = 32
# PostgreSQL visits each match's heap row (its knowledge base) in the GIN bitmap scan: a smaller budget
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
# PostgreSQL: BM25 over the POOL chunks whose matched lexemes have the largest summed IDF
BM25_K1, BM25_B = 1.2, 0.75
POOL_MIN, POOL_FACTOR = 100, 2


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
        """BM25 over a bounded candidate set. Each kept lexeme's matches come from the GIN index (no row's
        ``tsv`` is read for them), which also gives each lexeme's exact document frequency, hence its IDF;
        the ``pool`` chunks with the largest summed IDF of the lexemes they contain are then scored with
        BM25 (term frequency from their ``tsv``, title positions weighted ``title_weight``, length
        normalised by the pool's mean)."""
        lexemes, total = self._prune_postgres(session, " ".join(terms))
        if not lexemes:
            return []
        params: dict[str, object] = {"kb": kb_id, "pool": max(POOL_MIN, POOL_FACTOR * n), "total": total}
        doc_clause = ""
        if document_ids is not None:
            doc_clause = " AND c.document_id IN :doc_ids"
            params["doc_ids"] = list(document_ids)
        matches = []
        for i, lexeme in enumerate(lexemes):
            params[f"t{i}"] = "'" + lexeme.replace("'", "''") + "'"
            matches.append(f"SELECT c.id, {i} AS t FROM retrieval_chunks c WHERE c.knowledge_base_id = :kb "
                           f"AND c.tsv @@ to_tsquery('simple', :t{i}){doc_clause}")
        sql = (
            "WITH m AS MATERIALIZED (" + " UNION ALL ".join(matches) + "), "
            "df AS (SELECT t, count(*) AS n FROM m GROUP BY t), "
            "idf AS (SELECT t, ln(1 + (greatest(:total, (SELECT max(n) FROM df)) - n + 0.5) / (n + 0.5)) AS w FROM df), "
            "pool AS (SELECT m.id, sum(idf.w) AS cheap FROM m JOIN idf USING (t) GROUP BY m.id "
            "         ORDER BY cheap DESC LIMIT :pool) "
            "SELECT c.chunk_id, c.tsv::text, length(c.tsv), (SELECT array_agg(ARRAY[t, w]) FROM idf) "
            "FROM pool JOIN retrieval_chunks c ON c.id = pool.id"
        )
        statement = text(sql)
        if document_ids is not None:
            statement = statement.bindparams(bindparam("doc_ids", expanding=True))
        rows = session.execute(statement, params).all()
        if not rows:
            return []
        weights = {lexemes[int(t)]: float(w) for t, w in rows[0][3]}
        return _bm25(rows, weights, self.title_weight, n)

    def _prune_postgres(self, session: Session, query: str) -> tuple[list[str], float]:
        """The query's lexemes, dropping the most common while their estimated postings exceed the
        budget, and the table's estimated row count (for IDF). Frequencies come from the planner's
        statistics of the ``tsv`` column (kept by ANALYZE/autovacuum), so this costs one catalog lookup;
        without statistics nothing is dropped."""
        rows = session.execute(
            text(
                "WITH q AS (SELECT unnest(tsvector_to_array(to_tsvector('english', :q))) AS lexeme), "
                "s AS (SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs "
                "      FROM pg_stats WHERE tablename = 'retrieval_chunks' AND attname = 'tsv' "
                "      AND schemaname = current_schema()), "
                # and, for this transaction: the matches are a few thousand index entries, parallel workers
                # cost more to start than they save
                "t AS (SELECT greatest(reltuples, 0) AS rows, "
                "      set_config('max_parallel_workers_per_gather', '0', true) AS serial "
                "      FROM pg_class WHERE oid = to_regclass('retrieval_chunks')) "
                "SELECT q.lexeme, coalesce(s.freqs[array_position(s.elems, q.lexeme)] * "
                "(SELECT rows FROM t), 0) AS postings, (SELECT rows FROM t) FROM q LEFT JOIN s ON true"
            ),
            {"q": query},
        ).all()
        total = max((float(row[2] or 0.0) for row in rows), default=0.0)
        return _rarest_within({row[0]: float(row[1] or 0.0) for row in rows}, self.max_postings), total


def _bm25(rows: Sequence[Any], idf: dict[str, float], title_weight: float, n: int) -> list[tuple[str, float]]:
    """``(chunk_id, tsvector text, distinct lexemes, _)`` rows scored with BM25 over ``idf``'s lexemes (a title
    position, weight A, counts ``title_weight``; lengths normalised by the rows' mean); the best ``n``."""
    needles = {lexeme: "'" + lexeme.replace("'", "''") + "':" for lexeme in idf}
    mean_length = max(sum(int(row[2]) for row in rows) / len(rows), 1.0)
    scored = []
    for chunk_id, vector, length, _ in rows:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * int(length) / mean_length)
        score = 0.0
        for lexeme, weight in idf.items():
            positions = _positions(vector, needles[lexeme])
            if positions is None:
                continue
            tf = sum(title_weight if p.endswith("A") else 1.0 for p in positions.split(","))
            score += weight * tf * (BM25_K1 + 1) / (tf + norm)
        scored.append((str(chunk_id), score))
    scored.sort(key=lambda hit: (-hit[1], hit[0]))
    return scored[:n]


def _positions(vector: str, needle: str) -> str | None:
    """The positions text (``1A,5,9``) of the lexeme ``needle`` (``'lexeme':``) in a tsvector's text, or None."""
    at = vector.find(needle)
    while at > 0 and vector[at - 1] != " ":  # the end of another lexeme ('nonrefund':), look further
        at = vector.find(needle, at + 1)
    if at < 0:
        return None
    start = at + len(needle)
    end = vector.find(" ", start)
    return vector[start:] if end < 0 else vector[start:end]


def _rarest_within(counts: dict[str, float], budget: int) -> list[str]:
    """Terms rarest first, dropping the most common while their summed postings exceed the budget (the
    rarest term is always kept)."""
    kept = sorted(counts, key=lambda term: counts[term])
    while len(kept) > 1 and sum(counts[term] for term in kept) > budget:
        kept.pop()
    return kept
