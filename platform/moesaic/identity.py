"""Conversation-scoped identity: who the person in a conversation has proven to be.

A conversation can hold one authenticated *subject* (a customer id, a patient id: whatever the app's
tools key their records on). A tool that finds the person (by email, by name and zip code) calls
``ctx.authenticate(subject, method)``; the agent loop stores the identity in the conversation's
metadata (``metadata["identity"]``), so it survives a restart and every later turn sees it.

Tools declare what they need (``@tool(requires_identity=True, owner=...)``): the agent loop refuses a
call that needs an identity the conversation does not have, and a call whose ``owner`` (a function of
the tool's arguments) names another subject, before the tool runs, whatever model asked for it. The
refusal texts come from the app's ``IdentityPolicy`` (its policy's wording). This module only decides;
the agent loop (``moesaic.agent``) enforces and stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

METADATA_KEY = "identity"


@dataclass(frozen=True)
class Identity:
    """The authenticated subject of one conversation and how it was established."""

    subject: str
    method: str  # "email", "name_zip", ...: the tool's word for how the person was found
    verified_at: str

    @classmethod
    def now(cls, subject: str, method: str) -> "Identity":
        return cls(subject, method, datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "Identity | None":
        value = metadata.get(METADATA_KEY)
        if not isinstance(value, dict) or not value.get("subject"):
            return None
        return cls(str(value["subject"]), str(value.get("method", "")), str(value.get("verified_at", "")))


@dataclass(frozen=True)
class IdentityPolicy:
    """What the agent loop says (as the tool's output, to the model and in the tool event) when it refuses.

    Apps override the wording with their policy's; the defaults are generic.
    """

    required: str = "Authentication required: identify the person first, then retry."
    not_owner: str = "This belongs to someone else: only the authenticated person's own records can be used."
    other_subject: str = "This conversation is already authenticated as someone else: one person per conversation."


# owner(ctx, arguments) -> the subject that owns what the arguments name; None when nothing is found
# (the tool then runs and reports "not found" in its own words).
OwnerFunction = Callable[[Any, dict[str, Any]], "str | None"]


def identity_refusal(spec: Any, arguments: dict[str, Any], ctx: Any, policy: IdentityPolicy) -> str | None:
    """The refusal for running ``spec`` with ``arguments`` in ``ctx``'s conversation, or None to go on.

    ``spec`` is a ``moesaic.tools.ToolSpec``; ``ctx`` a ``ToolContext`` whose ``identity`` is the
    conversation's. Tools that need no identity always pass.
    """
    if not getattr(spec, "requires_identity", False):
        return None
    identity: Identity | None = getattr(ctx, "identity", None)
    if identity is None:
        return policy.required
    owner_of = getattr(spec, "owner", None)
    if owner_of is None:
        return None
    owner = owner_of(ctx, arguments)
    if owner is not None and owner != identity.subject:
        return policy.not_owner
    return None
