"""Helpers shared by literature_analysis's console pages: verdict badges, rationale sentences highlighted in
their abstract, the scope fields of a request, paper metadata, and a job followed with its progress bar.
Streamlit, ``ui.client`` and the standard library only."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from ui.client import ApiClient, ApiError

APP = "literature_analysis"
BADGES = {"SUPPORT": "🟢 SUPPORT", "CONTRADICT": "🔴 CONTRADICT", "NOT_ENOUGH_INFO": "⚪ NOT ENOUGH INFO", "MIXED": "🟠 MIXED"}
TERMINAL = ("succeeded", "failed", "cancelled")
POLL_S, MAX_POLLS = 0.5, 240


def highlighted(text: str, spans: list[dict[str, Any]]) -> str:
    """The abstract as Markdown with each rationale sentence (by its offsets) highlighted."""
    out, cut = [], 0
    for span in sorted(spans, key=lambda s: s["start_char"]):
        start, end = int(span["start_char"]), int(span["end_char"])
        if start < cut or text[start:end] != span["text"]:
            continue  # offsets that do not slice the sentence are never drawn
        out.append(text[cut:start].replace("#", "").strip())
        out.append(f":orange-background[{text[start:end]}]")
        cut = end
    out.append(text[cut:].replace("#", "").strip())
    return " ".join(part for part in out if part)


def scope_fields(prefix: str) -> dict[str, Any]:
    """The request's scope: a knowledge base or a saved PubMed query, optionally PMIDs in it."""
    kb = st.text_input("Knowledge base", value=st.session_state.get("lit_kb", "literature"), key=f"{prefix}_kb")
    raw = st.text_input("PMIDs (optional, comma-separated)", key=f"{prefix}_pmids")
    saved = st.text_input("Saved PubMed query (optional: instead of the knowledge base)", key=f"{prefix}_query").strip()
    pmids = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()] or None
    return {"saved_query": saved, "pmids": pmids} if saved else {"knowledge_base": kb, "pmids": pmids}


def show_abstract(item: dict[str, Any]) -> None:
    """One checked abstract: its badge, title, PMID and confidence, then the abstract with its rationale highlighted."""
    st.markdown(f"**{BADGES.get(item['label'], item['label'])}** · {item['title']} · PMID {item.get('pmid') or '—'} · "
                f"confidence {item['confidence']:.2f}")
    st.markdown(highlighted(item.get("text", ""), item["rationale"]))


def paper_line(paper: dict[str, Any]) -> str:
    """A paper's metadata on one Markdown line: authors, journal, year, PMID, DOI."""
    authors = paper.get("authors") or []
    names = ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")
    parts = [names, f"*{paper['journal']}*" if paper.get("journal") else "", str(paper.get("year") or ""),
             f"PMID {paper['pmid']}" if paper.get("pmid") else "", f"DOI {paper['doi']}" if paper.get("doi") else ""]
    return " · ".join(p for p in parts if p)


def show_paper(paper: dict[str, Any]) -> None:
    """A search result: title (retracted ones flagged), metadata, MeSH terms, the first sentences."""
    flag = "🚫 RETRACTED · " if paper.get("retracted") else ""
    score = f" · score {paper['score']:.3f}" if paper.get("score") is not None else ""
    st.markdown(f"**{flag}{paper['title']}**{score}")
    st.caption(paper_line(paper) or "no metadata")
    if paper.get("mesh_terms"):
        st.caption("MeSH: " + "; ".join(paper["mesh_terms"][:12]))
    if paper.get("snippet"):
        st.markdown(paper["snippet"])


def job_progress(job: dict[str, Any], unit: str) -> tuple[float, str]:
    """(fraction, label) of a job as ``GET /v1/jobs/{id}`` answers it (``progress``: done and total)."""
    progress = job.get("progress") or {}
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    return (min(done / total, 1.0) if total else 0.0), f"{job['state']} · {done} of {total or '?'} {unit}"


def follow_job(api: ApiClient, job_id: str, unit: str) -> dict[str, Any]:
    """Poll a job with a progress bar until it ends (or the polls run out); its last record."""
    bar = st.progress(0.0, text="queued")
    job: dict[str, Any] = {"state": "queued"}
    for _ in range(MAX_POLLS):
        try:
            job = api.get_job(job_id)
        except ApiError as exc:
            st.error(f"Job {job_id}: {exc}")
            return job
        fraction, label = job_progress(job, unit)
        bar.progress(fraction, text=label)
        if job["state"] in TERMINAL:
            break
        time.sleep(POLL_S)
    return job
