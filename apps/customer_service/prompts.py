"""The customer-service system prompt: our framing around the store's written policy.

The policy text is the tau2 retail ``policy.md`` when the dataset is present, else our own short
summary of the same rules (``seed/policy.md``). This module builds text only; it never calls a model.
"""

from __future__ import annotations

from pathlib import Path

from moesaic.config import Settings
from moesaic.identity import IdentityPolicy

DEMO_POLICY_PATH = Path(__file__).parent / "seed" / "policy.md"

PREAMBLE = """You are the customer-service agent of an online retail store. You help one customer per
conversation with their orders, returns, exchanges, payment methods and profile, using only the tools
you are given and the policy below.

How to work:
- Authenticate the customer first: find their user id by email, or by first name, last name and zip
  code, even if they tell you their user id.
- Make at most one tool call at a time, and do not answer the customer in the same turn as a tool call.
- Before any tool that changes the store (cancel, modify, return, exchange, address change), list the
  exact details of the change and ask the customer to confirm with an explicit "yes".
- Never invent order ids, item ids, prices or policies; look them up.
- If a request is outside this policy or your tools, call transfer_to_human_agents with a short summary,
  then tell the customer: YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON.
- Money amounts are in US dollars; use the calculate tool for arithmetic.
"""


def policy_text(settings: Settings | None = None) -> str:
    """The dataset's policy.md if present under the datasets dir, else our demo policy."""
    settings = settings or Settings()
    path = Path(settings.datasets_dir) / "tau2_retail" / "policy.md"
    if not path.is_file():
        path = DEMO_POLICY_PATH
    return path.read_text(encoding="utf-8").strip()


def build_system_prompt(settings: Settings | None = None) -> str:
    """The manifest's system prompt: a function of the settings, so that it quotes the same policy file
    as the app's knowledge documents (``knowledge.knowledge_documents``)."""
    return f"{PREAMBLE}\n# Store policy\n\n{policy_text(settings)}\n"


# The agent loop's refusals (``moesaic.identity``), in the policy's words: they are the tool's output, read
# by the model (any model) and shown in the tool event; the offline dialogue words them for the customer.
IDENTITY_POLICY = IdentityPolicy(
    required="Authentication required: the policy says to authenticate the user first, by locating their user "
    "id via email, or via name + zip code. Ask the customer for the email on their account, or their first "
    "name, last name and zip code.",
    not_owner="Request denied: this belongs to another user. The policy says you can only help one user per "
    "conversation and must deny any requests for tasks related to any other user.",
    other_subject="Request denied: this conversation is already authenticated as another user. The policy says "
    "you can only help one user per conversation.",
)
