"""Knowledge bases: upload documents, watch their indexing status, delete them."""

from __future__ import annotations


import streamlit as st

from ui.client import ApiError
from ui.widgets import get_client, show_error

TERMINAL = ("indexed", "failed")
STATUS_ICONS = {"queued": "⏳", "parsing": "📄", "parsed": "📄", "chunking": "✂️", "chunked": "✂️",
                "embedding": "🧮", "embedded": "🧮", "indexed": "✅", "failed": "❌"}
FILE_TYPES = ["txt", "md", "html", "htm", "pdf", "docx", "csv", "json", "jsonl"]
REFRESH_S = 2.0

client = get_client()
st.title("📚 Knowledge")

names: list[str] = []
try:
    names = [kb["name"] for kb in client.list_knowledge_bases()]
    names += [a["knowledge_base"] for a in client.list_apps() if a.get("knowledge_base")]
except ApiError as exc:
    show_error(exc, "list knowledge bases")
if st.session_state.get("kb_name"):  # a name typed earlier stays listed until it has documents
    names.append(st.session_state["kb_name"])
names = list(dict.fromkeys(names))  # unique, in order
kb = st.selectbox("Knowledge base", names, key="kb_name", accept_new_options=True,
                  placeholder="Pick one or type a new name", index=0 if names else None)
if not kb:
    st.info("Pick a knowledge base, or type a name to create one with its first upload.")
    st.stop()

with st.form("upload", clear_on_submit=True, border=True):
    files = st.file_uploader("Add documents", type=FILE_TYPES, accept_multiple_files=True)
    if st.form_submit_button("Upload", type="primary") and files:
        for file in files:
            try:
                doc = client.upload_document(kb, file.name, file.getvalue(), file.type)
                st.toast(f"{file.name}: {doc.get('status', 'queued')}")
            except ApiError as exc:
                show_error(exc, f"upload {file.name}")
        st.session_state["kb_pending"] = True  # start polling at once


@st.fragment(run_every=REFRESH_S if st.session_state.get("kb_pending") else None)
def documents_panel(kb: str) -> None:
    try:
        listing = client.list_documents(kb)
    except ApiError as exc:
        if exc.status == 404:  # a knowledge base exists once its first document is uploaded
            listing = {"data": [], "counts": {}}
        else:
            show_error(exc, f"list the documents of {kb}")
            return
    docs, counts = listing.get("data", []), dict(listing.get("counts") or {})
    for doc in docs:  # counts from the rows when the API leaves them out
        if not listing.get("counts"):
            counts[doc["status"]] = counts.get(doc["status"], 0) + 1
    pending = any(doc.get("status") not in TERMINAL for doc in docs)

    if not docs:
        st.info(f"No documents in `{kb}` yet: upload the first one above.")
    else:
        num_done = sum(counts.get(s, 0) for s in TERMINAL)
        st.progress(num_done / max(len(docs), 1),
                    text=f"{counts.get('indexed', 0)} of {len(docs)} indexed, {counts.get('failed', 0)} failed"
                    + (" · refreshing…" if pending else ""))
        shown = [s for s in STATUS_ICONS if counts.get(s)] + [s for s in counts if s not in STATUS_ICONS and counts[s]]
        for column, status in zip(st.columns(max(len(shown), 1)), shown):
            column.metric(f"{STATUS_ICONS.get(status, '')} {status}", counts[status])
        rows = [
            {"file": d.get("filename"), "status": f"{STATUS_ICONS.get(d.get('status'), '')} {d.get('status')}",
             "chunks": d.get("num_chunks"), "attempts": d.get("attempts"), "error": d.get("error") or "",
             "updated": d.get("updated_at"), "id": d.get("id")}
            for d in docs
        ]
        st.dataframe(rows, hide_index=True)

        by_id = {d["id"]: d for d in docs}
        col_pick, col_delete = st.columns([4, 1], vertical_alignment="bottom")
        target = col_pick.selectbox("Document", list(by_id), key="kb_delete_target",
                                    format_func=lambda i: f"{by_id[i].get('filename')} ({i[:8]})")
        if col_delete.button("🗑 Delete", disabled=target is None):
            try:
                client.delete_document(kb, target)
                st.toast(f"Deleted {by_id[target].get('filename')}")
                st.rerun()
            except ApiError as exc:
                show_error(exc, "delete the document")

    if pending != bool(st.session_state.get("kb_pending")):
        st.session_state["kb_pending"] = pending  # turn polling on or off
        st.rerun()


documents_panel(kb)
