"""Claim check with the configured chat model, as structured output grounded in numbered sentences.

The prompt lists each abstract's sentences as ``A<k>.S<n>``; the reply must be JSON
``{"abstracts": [{"abstract": k, "label": "SUPPORT|CONTRADICT|NOT_ENOUGH_INFO", "rationale": [n, ...],
"confidence": 0..1}]}`` (a code fence is tolerated). Sentence numbers outside the abstract are dropped;
an abstract the reply leaves out, or labels SUPPORT/CONTRADICT without a valid rationale sentence, is
NOT_ENOUGH_INFO: the model's verdicts rest only on sentences it was shown. An unreadable reply is a
502 (``UpstreamError``) quoting its start.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from moesaic.errors import UpstreamError
from moesaic.llm import ChatModel, ModelRequest
from moesaic.types import Message

from apps.literature_analysis.claimcheck import AbstractVerdict
from apps.literature_analysis.data import LABELS
from apps.literature_analysis.scope import ScopedAbstract

SYSTEM_PROMPT = """You check a scientific claim against abstracts. For each abstract decide whether it
SUPPORTs the claim, CONTRADICTs it, or gives NOT_ENOUGH_INFO, and name the sentences (their numbers)
that decide it. Use only the sentences shown. Answer with JSON only:
{"abstracts": [{"abstract": 1, "label": "SUPPORT", "rationale": [2, 3], "confidence": 0.9}]}"""


def render_prompt(claim: str, abstracts: Sequence[ScopedAbstract]) -> str:
    lines = [f"Claim: {claim}", ""]
    for k, abstract in enumerate(abstracts, 1):
        lines.append(f"Abstract A{k}: {abstract.title}")
        lines.extend(f"  S{n}. {span.text}" for n, span in enumerate(abstract.spans, 1))
        lines.append("")
    return "\n".join(lines)


def parse_json_reply(content: str, key: str) -> list[dict[str, Any]]:
    body = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fence:
        body = fence.group(1).strip()
    brace = body.find("{")
    body = body[brace:] if brace > 0 else body
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise UpstreamError(f"the model did not answer with the JSON asked for: {content[:120]!r}") from None
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UpstreamError(f"the model's JSON has no {key!r} list")
    return [item for item in items if isinstance(item, dict)]


def _number(value: Any) -> int | None:
    text = str(value).strip().upper().lstrip("AS")
    return int(text) if text.isdigit() else None


def check_with_model(model: ChatModel, claim: str, abstracts: Sequence[ScopedAbstract]) -> list[AbstractVerdict]:
    if not abstracts:
        return []
    messages = [Message(role="system", content=SYSTEM_PROMPT), Message(role="user", content=render_prompt(claim, abstracts))]
    reply = model.generate(ModelRequest(messages=messages, temperature=0.0))
    answers: dict[int, dict[str, Any]] = {}
    for item in parse_json_reply(reply.content, "abstracts"):
        number = _number(item.get("abstract"))
        if number is not None and 1 <= number <= len(abstracts):
            answers.setdefault(number, item)
    verdicts = []
    for k, abstract in enumerate(abstracts, 1):
        item = answers.get(k, {})
        label = str(item.get("label", "NOT_ENOUGH_INFO")).upper()
        label = label if label in LABELS else "NOT_ENOUGH_INFO"
        raw = item.get("rationale") or []
        numbers = [_number(n) for n in (raw if isinstance(raw, list) else [raw])]
        rationale = tuple(sorted({n - 1 for n in numbers if n is not None and 1 <= n <= len(abstract.spans)}))
        if label != "NOT_ENOUGH_INFO" and not rationale:
            label = "NOT_ENOUGH_INFO"
        try:
            confidence = min(1.0, max(0.0, float(item.get("confidence", 0.5))))
        except (TypeError, ValueError):
            confidence = 0.5
        if label == "NOT_ENOUGH_INFO":
            rationale = ()
        scores = tuple(1.0 if i in rationale else 0.0 for i in range(len(abstract.spans)))
        probabilities = {name: (confidence if name == label else (1 - confidence) / 2) for name in LABELS}
        verdicts.append(AbstractVerdict(abstract.document_id, label, confidence, rationale, scores, probabilities))
    return verdicts
