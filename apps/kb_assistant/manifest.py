"""The manifest of the generic knowledge-base assistant (no tools: retrieval and citations only)."""

from apps.kb_assistant.commands import EVALS, commands
from apps.kb_assistant.prompts import SYSTEM_PROMPT
from moesaic import AppManifest

APP = AppManifest(
    name="kb_assistant",
    title="Knowledge-base assistant",
    description="Answers questions over uploaded documents, with citations. Searches the knowledge "
    "base 'default' unless a request names another with the field 'knowledge_base'.",
    system_prompt=SYSTEM_PROMPT,
    knowledge_base="default",
    commands=commands,
    evals=EVALS,
)
