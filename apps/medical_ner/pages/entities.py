"""medical_ner's console page: extract entities from a pasted note, run a file of notes as a job, read the model card.

Three tabs, all through the app's own routes with ``ui.client`` (Streamlit, ``ui.client``, the standard
library and this folder only: the console runs without the core):

- **Note**: ``POST /v1/apps/medical_ner/extract``; the note with its entities highlighted (colour per
  label, assertion in a badge), a legend, and a table. A mode switch (model, llm, hybrid) says that the
  offline model does not find ``test`` entities and the LLM does.
- **File of notes**: ``POST .../jobs`` with a .txt, .csv or .jsonl file; the job's progress bar (the
  panel polls ``GET /v1/jobs/{id}`` every second while the job runs); when it has succeeded, a preview
  and downloads of the results as JSONL and as BRAT standoff (``GET .../jobs/{id}/results``).
- **Model card**: ``GET .../model``: what the offline model was trained on, its devel scores, its limits.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from apps.medical_ner.pages.render import entity_rows, highlighted_html, legend_html, result_rows
from ui.client import ApiError, connect

APP = "medical_ner"
MODES = ("model", "llm", "hybrid")
LABELS = ("problem", "treatment", "test")
MIME = {"txt": "text/plain", "csv": "text/csv", "jsonl": "application/jsonl"}
TERMINAL = ("succeeded", "failed", "cancelled")
PREVIEW_NOTES = 20
EXAMPLE = ("72 y/o woman with type 2 diabetes on metformin, admitted with chest pain.\n"
           "Denies shortness of breath. No evidence of pneumonia on chest X-ray.\n"
           "Mother had breast cancer. If the pain returns, start aspirin.")
MODE_HELP = {
    "model": "The offline model trained by this project (MiniLM + LoRA on NCBI-disease and BC5CDR): problems and "
             "treatments. It does **not** find `test` entities: no public training set annotates tests.",
    "llm": "The API's configured chat model, prompted for problems, treatments **and tests**; its spans are aligned "
           "back to the note (those that cannot be are dropped and counted).",
    "hybrid": "Every entity of the offline model, plus the chat model's entities where the model found nothing "
              "(so tests come from the LLM).",
}
NOTE_KEY, JOB_KEY, DOWNLOADS_KEY = "medical_ner_result", "medical_ner_job", "medical_ner_downloads"

st.title("🩺 Medical entities")
api = connect(st.session_state)
try:
    card: dict[str, Any] = api.call_app(APP, "GET", "/model")
except ApiError as exc:
    st.error(f"Could not reach the medical_ner app: {exc}")
    st.stop()
st.caption(f"Model `{card['model_version']}` · the offline model finds "
           f"{' and '.join(card['model_labels'])}; the LLM mode finds {', '.join(card['llm_labels'])}.")


def mode_caption(mode: str) -> None:
    st.caption(MODE_HELP[mode])
    if mode != "model" and not card.get("llm_available"):
        st.caption("⚠️ This API has no chat model configured, so the llm and hybrid modes answer an error.")


def show_extraction(text: str, result: dict[str, Any], mode: str) -> None:
    entities = result["entities"]
    st.html(legend_html())
    marked, overlapping = highlighted_html(text, entities)
    st.html(marked)
    counts = {label: sum(e["label"] == label for e in entities) for label in LABELS}
    summary = ", ".join(f"{n} {label}" for label, n in counts.items() if n) or "no entities"
    st.caption(f"{len(entities)} entities ({summary}) · mode {mode}"
               + (f" · {overlapping} overlapping an earlier one are in the table only" if overlapping else ""))
    for note in result.get("notes") or []:
        st.caption(f"ℹ️ {note}")
    if entities:
        st.dataframe(entity_rows(entities), hide_index=True)


def note_tab() -> None:
    text = st.text_area("Clinical note", value=EXAMPLE, height=150, key="medical_ner_note")
    left, right = st.columns(2)
    with left:
        mode = st.radio("Mode", MODES, horizontal=True, key="medical_ner_mode")
        mode_caption(mode)
    with right:
        labels = st.multiselect("Labels to keep", LABELS, default=list(LABELS), key="medical_ner_labels")
        if mode == "model" and "test" in labels:
            st.caption("`test` is kept for the llm and hybrid modes; the offline model never returns it.")
    if st.button("Extract entities", type="primary", key="medical_ner_extract"):
        body: dict[str, Any] = {"text": text, "mode": mode}
        if set(labels) != set(LABELS):
            body["labels"] = labels
        try:
            answer = api.call_app(APP, "POST", "/extract", json=body)
            st.session_state[NOTE_KEY] = {"text": text, "mode": mode, "result": answer["results"][0]}
        except ApiError as exc:
            st.session_state.pop(NOTE_KEY, None)
            st.error(f"Extraction failed: {exc.message if exc.status else exc}")
    shown = st.session_state.get(NOTE_KEY)
    if shown:
        show_extraction(shown["text"], shown["result"], shown["mode"])


def start_job(upload: Any, mode: str) -> None:
    suffix = upload.name.rsplit(".", 1)[-1].lower()
    files = {"file": (upload.name, upload.getvalue(), MIME.get(suffix, "application/octet-stream"))}
    try:
        accepted = api.call_app(APP, "POST", "/jobs", files=files, data={"mode": mode})
    except ApiError as exc:
        st.error(f"The file was not accepted: {exc.message if exc.status else exc}")
        return
    st.session_state[JOB_KEY] = accepted["job_id"]
    st.session_state.pop(DOWNLOADS_KEY, None)


def downloads(job_id: str) -> None:
    """Preview and download buttons of a succeeded job (the files are fetched once per job)."""
    saved = st.session_state.get(DOWNLOADS_KEY)
    if not saved or saved["job_id"] != job_id:
        path = f"/jobs/{job_id}/results"
        saved = {"job_id": job_id, "jsonl": api.download_app(APP, path, params={"format": "jsonl"}),
                 "brat": api.download_app(APP, path, params={"format": "brat"})}
        st.session_state[DOWNLOADS_KEY] = saved
    left, right = st.columns(2)
    left.download_button("Download JSONL", saved["jsonl"], file_name=f"{job_id}.jsonl",
                         mime="application/jsonl", key="medical_ner_jsonl", on_click="ignore")
    right.download_button("Download BRAT (zip)", saved["brat"], file_name=f"{job_id}-brat.zip",
                          mime="application/zip", key="medical_ner_brat", on_click="ignore")
    st.dataframe(result_rows(saved["jsonl"], PREVIEW_NOTES), hide_index=True)
    st.caption(f"The first {PREVIEW_NOTES} notes; the downloads hold them all.")


def job_panel(job_id: str, was_done: bool) -> None:
    try:
        job = api.get_job(job_id)
    except ApiError as exc:
        st.error(f"Job {job_id}: {exc}")
        return
    state = str(job.get("state"))
    progress = job.get("progress") or {}
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    st.progress(min(done / total, 1.0) if total else 0.0, text=f"Job {job_id}: {state} · {done} of {total or '?'} notes")
    if state in TERMINAL and not was_done:
        st.rerun()  # the whole page again: polling stops, the downloads appear
    if state == "succeeded":
        result = job.get("result") or {}
        st.caption(f"{result.get('num_notes', done)} notes, {result.get('num_entities', '?')} entities"
                   + (f", {result['num_llm_dropped']} LLM entities dropped" if result.get("num_llm_dropped") else ""))
        try:
            downloads(job_id)
        except ApiError as exc:
            st.error(f"Could not fetch the results: {exc}")
    elif state in ("failed", "cancelled"):
        st.error(f"Job {job_id} {state}: {job.get('error') or 'no reason given'}")


def file_tab() -> None:
    st.caption("A file of notes runs as a background job: `.txt` (one note per line), `.csv` or `.jsonl` with `id` "
               "and `text`; UTF-8, up to 50 MB and 20,000 notes.")
    upload = st.file_uploader("File of notes", type=["txt", "csv", "jsonl"], key="medical_ner_file")
    mode = st.radio("Mode for the file", MODES, horizontal=True, key="medical_ner_job_mode")
    mode_caption(mode)
    if st.button("Start extraction job", disabled=upload is None, key="medical_ner_start"):
        start_job(upload, mode)
    job_id = st.session_state.get(JOB_KEY)
    if not job_id:
        return
    try:
        was_done = str(api.get_job(job_id).get("state")) in TERMINAL
    except ApiError:
        was_done = True
    st.fragment(job_panel, run_every=None if was_done else 1.0)(job_id, was_done)


def model_card_tab() -> None:
    devel = card.get("devel") or {}
    st.subheader("Offline model")
    st.markdown(f"**{card['base_model']}**, fine-tuned with {card['method'].upper()}"
                + (f" (rank {card['lora_rank']})" if card.get("lora_rank") else "")
                + f"; trained on {', '.join(card.get('train_corpora') or ['?'])} (PubMed abstracts, not clinical notes). "
                f"Labels: {', '.join(card['model_labels'])}, **no `test`** (no public corpus annotates tests).")
    if devel:
        st.caption("Devel F1 (entity-level exact match; the test sets are held back)")
        columns = st.columns(len(devel))
        for column, (corpus, scores) in zip(columns, devel.items()):
            column.metric(corpus, f"{float(scores['f1']):.3f}",
                          help=f"precision {float(scores['precision']):.3f}, recall {float(scores['recall']):.3f}, "
                               f"{scores.get('num_gold')} gold entities")
    with st.expander("Full model card: data, method, what was tried, limits", expanded=False):
        st.markdown(card.get("card_markdown") or "_(no model card)_")


note, batch, about = st.tabs(["Note", "File of notes", "Model card"])
with note:
    note_tab()
with batch:
    file_tab()
with about:
    model_card_tab()
