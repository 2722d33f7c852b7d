"""Metrics: the API's Prometheus ``/metrics`` as tables (totals per app, histogram means)."""

from __future__ import annotations

import re

import streamlit as st

from ui.client import ApiError
from ui.widgets import get_client, show_error

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
HEADLINES = [("moesaic_chat_requests_total", "Chat requests"), ("moesaic_model_errors_total", "Model errors"),
             ("moesaic_tool_calls_total", "Tool calls"), ("moesaic_tokens_total", "Tokens"),
             ("moesaic_ingestion_queue_depth", "Ingestion queue")]


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition -> (name, labels, value); comments and bad lines are skipped."""
    samples = []
    for line in text.splitlines():
        match = SAMPLE.match(line.strip())
        if not match or line.startswith("#"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        samples.append((match.group(1), dict(LABEL.findall(match.group(2) or "")), value))
    return samples


def series_rows(samples: list[tuple[str, dict[str, str], float]]) -> list[dict[str, object]]:
    """One row per series; histograms and summaries folded into count and mean."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for name, labels, value in samples:
        if name.endswith("_bucket") or name.endswith("_created"):
            continue
        base, part = name, "value"
        for suffix in ("_sum", "_count"):
            if name.endswith(suffix):
                base, part = name[: -len(suffix)], suffix[1:]
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "app")
        row = rows.setdefault((base, labels.get("app", "") + "|" + shown),
                              {"series": base, "app": labels.get("app", ""), "labels": shown})
        row[part] = value
    for row in rows.values():
        if "count" in row:
            row["mean"] = round(float(row.get("sum", 0.0)) / float(row["count"]), 4) if row["count"] else None
    return sorted(rows.values(), key=lambda r: (not r["app"], r["series"]))  # per-app series first


client = get_client()
st.title("📈 Metrics")
col_filter, col_all, col_refresh = st.columns([3, 1, 1], vertical_alignment="bottom")
needle = col_filter.text_input("Filter series", placeholder="e.g. latency, customer_service")
show_all = col_all.toggle("Process series too")
col_refresh.button("↻ Refresh")

try:
    text = client.metrics_text()
except ApiError as exc:
    show_error(exc, "read /metrics")
    st.stop()

rows = series_rows(parse_samples(text))
ours = [r for r in rows if str(r["series"]).startswith("moesaic_")]
chat = [r for r in ours if r["series"] == "moesaic_chat_latency_seconds" and r.get("count")]
if not ours:
    st.info("The API exposes no moesaic_* series yet: send a chat message or upload a document.")

*cards, latency_card, hit_card, saved_card = st.columns(len(HEADLINES) + 3)
num_chats = sum(float(r["count"]) for r in chat)
latency_card.metric("Mean chat latency", f"{sum(float(r.get('sum', 0)) for r in chat) / num_chats:.2f} s" if num_chats else "—")
lookups = [r for r in ours if r["series"] == "moesaic_answer_cache_lookups_total"]
num_lookups = sum(float(r.get("value", 0) or 0) for r in lookups)
num_hits = sum(float(r.get("value", 0) or 0) for r in lookups if "outcome=miss" not in str(r["labels"]))
hit_card.metric("Answer cache hit rate", f"{num_hits / num_lookups:.0%}" if num_lookups else "—")
saved = [r for r in ours if r["series"] == "moesaic_answer_cache_saved_model_seconds_total"]
saved_card.metric("Model time saved", f"{sum(float(r.get('value', 0) or 0) for r in saved):.1f} s" if saved else "—")
for card, (key, title) in zip(cards, HEADLINES):
    matching = [r for r in ours if r["series"] == key]
    total = sum(float(r.get("value", r.get("count", 0)) or 0) for r in matching)
    card.metric(title, f"{total:g}" if matching else "—")

table = rows if show_all else ours
if needle:
    table = [r for r in table if needle.lower() in " ".join(str(v) for v in r.values()).lower()]
st.dataframe(table, hide_index=True, column_order=["series", "app", "labels", "value", "count", "mean", "sum"])
with st.expander("Raw /metrics"):
    st.code(text, language=None)
