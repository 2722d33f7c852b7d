"""PII around a model call: hide it from the request, restore it in the reply and in streamed text.

The placeholders come from ``moesaic.privacy.PiiVault``; tool-call arguments are restored too, so a
tool receives the real email the user typed while the model only ever saw ``<EMAIL_1>``.
"""

from __future__ import annotations

from dataclasses import replace

from moesaic.llm.base import ModelReply, ModelRequest
from moesaic.privacy import PiiVault


def hide_pii(request: ModelRequest, vault: PiiVault) -> ModelRequest:
    messages = [
        replace(
            m,
            content=vault.hide(m.content),
            tool_calls=tuple(replace(c, arguments=vault.hide(c.arguments)) for c in m.tool_calls),
        )
        for m in request.messages
    ]
    passages = [replace(p, text=vault.hide(p.text)) for p in request.passages]
    return replace(request, messages=messages, passages=passages)


def reveal_pii(reply: ModelReply, vault: PiiVault) -> ModelReply:
    calls = tuple(replace(c, arguments=vault.reveal(c.arguments)) for c in reply.tool_calls)
    return replace(reply, content=vault.reveal(reply.content), tool_calls=calls)


class StreamRevealer:
    """Restores placeholders in streamed text, holding back a placeholder cut between two deltas."""

    def __init__(self, vault: PiiVault | None) -> None:
        self.vault = vault
        self.pending = ""

    def push(self, text: str) -> str:
        if self.vault is None:
            return text
        self.pending += text
        cut = self.pending.rfind("<")
        if cut >= 0 and ">" not in self.pending[cut:] and len(self.pending) - cut <= 12:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        else:
            ready, self.pending = self.pending, ""
        return self.vault.reveal(ready)

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return self.vault.reveal(ready) if self.vault is not None else ready
