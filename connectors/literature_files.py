"""Local loaders into ``Article``s: the SciFact corpus, PubMedQA contexts and PubMed XML files.

Each loader returns every article of its input or raises ``LiteratureSourceError`` naming the file,
the line or record, and the field; nothing is returned half-read.

* SciFact ``corpus.jsonl``: ``{"doc_id", "title", "abstract": [sentences], "structured"}`` per line;
  the sentence list is kept (``Article.sentences``) so rationale indices keep pointing at sentences.
* PubMedQA (``pqal_*.json``): ``{pmid: {"QUESTION", "CONTEXTS", "LABELS", "MESHES", "YEAR", ...}}``;
  only the contexts and their labels, MeSH terms and year are read. The question, the long answer,
  the decision and the ``*_pred`` fields are not part of the paper's text and are never read.
* PubMed XML: ``.xml`` or ``.xml.gz`` files of ``<PubmedArticleSet>`` (as efetch returns them).

Not here: writing the articles anywhere (``article_sinks``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.articles import AbstractSection, Article
from connectors.pubmed_xml import PubMedParseError, parse_articles
from moesaic.errors import UserError

DEFAULT_MAX_BYTES = 1 << 30


class LiteratureSourceError(UserError):
    """A file cannot be read as the format asked for; the message names the file, record and field."""


class _SciFactDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    doc_id: int = Field(ge=0)
    title: str
    abstract: list[str] = Field(min_length=1)
    structured: bool = False


class _PubMedQAEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")  # QUESTION, LONG_ANSWER, final_decision... are not read

    CONTEXTS: list[str] = Field(min_length=1)
    LABELS: list[str] = Field(default_factory=list)
    MESHES: list[str] = Field(default_factory=list)
    YEAR: str | None = None


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}" for e in exc.errors())


def _checked(path: Path, max_bytes: int) -> Path:
    if not path.is_file():
        raise LiteratureSourceError(f"{path}: no such file", field="path")
    size = path.stat().st_size
    if size > max_bytes:
        raise LiteratureSourceError(f"{path.name} is {size:,} bytes, over the limit of {max_bytes:,}", field="path")
    return path


def load_scifact_corpus(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """Every abstract of a SciFact ``corpus.jsonl``."""
    path = _checked(Path(path), max_bytes)
    articles = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                doc = _SciFactDoc.model_validate_json(line)
                sentences = tuple(" ".join(s.split()) for s in doc.abstract)
                articles.append(Article(
                    source="scifact", source_id=str(doc.doc_id), title=" ".join(doc.title.split()),
                    sentences=tuple(s for s in sentences if s),
                    abstract=(AbstractSection(text=" ".join(s for s in sentences if s)),)))
            except ValidationError as exc:
                raise LiteratureSourceError(f"{path.name} line {number}: {_problems(exc)}", field="path") from exc
    return articles


def load_pubmedqa_contexts(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """The contexts of every question of a PubMedQA file, one article per PMID (title left empty:
    PubMedQA keeps no titles, and its question is not the paper's text)."""
    path = _checked(Path(path), max_bytes)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LiteratureSourceError(f"{path.name}: not JSON: {exc}", field="path") from exc
    if not isinstance(records, dict):
        raise LiteratureSourceError(f"{path.name}: expected an object of PMID -> entry", field="path")
    articles = []
    for pmid, raw in records.items():
        try:
            entry = _PubMedQAEntry.model_validate(raw)
            labels = entry.LABELS if len(entry.LABELS) == len(entry.CONTEXTS) else [None] * len(entry.CONTEXTS)
            year = entry.YEAR.strip() if entry.YEAR else ""
            articles.append(Article(
                source="pubmedqa", source_id=str(pmid), pmid=str(pmid),
                abstract=tuple(AbstractSection(label=label or None, text=" ".join(text.split()))
                               for label, text in zip(labels, entry.CONTEXTS) if text.strip()),
                mesh_terms=tuple(entry.MESHES), year=int(year) if year.isdigit() else None))
        except ValidationError as exc:
            raise LiteratureSourceError(f"{path.name} PMID {pmid}: {_problems(exc)}", field="path") from exc
    return articles


def load_pubmed_xml_files(paths: Iterable[str | Path] | str | Path, *,
                          max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """The articles of PubMed XML files (a directory means its ``*.xml`` and ``*.xml.gz``, sorted).
    The same PMID in several files: the last one read wins."""
    if isinstance(paths, (str, Path)):
        root = Path(paths)
        paths = sorted([*root.glob("*.xml"), *root.glob("*.xml.gz")]) if root.is_dir() else [root]
    articles: dict[str, Article] = {}
    for path in map(Path, paths):
        _checked(path, max_bytes)
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise LiteratureSourceError(f"{path.name}: not a readable gzip file: {exc}", field="path") from exc
        try:
            for article in parse_articles(data, origin=path.name):
                articles[article.key] = article
        except PubMedParseError as exc:
            raise LiteratureSourceError(str(exc), field="path") from exc
    return list(articles.values())
