"""The knowledge-base assistant's command (``moesaic apps kb_assistant seed``, also run by ``moesaic seed``)
and its quick evaluation (``retrieval``: labelled questions over its own seed documents).

The quick evaluation ingests ``seed/`` into a knowledge base of a throwaway tenant, asks each question
in ``QUESTIONS`` and scores ``hit@3`` (the right document among the first three passages) and ``mrr``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import typer

from moesaic.apps import AppContext, Evaluation, command_context
from moesaic.access import ensure_tenant

SEED_DIR = Path(__file__).parent / "seed"
EVAL_KB = "kb-assistant-eval"
# question -> the seed document that answers it (written by us for these documents)
QUESTIONS = {
    "How many days do I have to return an item for a full refund?": "returns-policy.txt",
    "Is there a restocking fee for opened electronics?": "returns-policy.txt",
    "Can gift cards be exchanged for cash?": "returns-policy.txt",
    "Where do I write to start a return?": "returns-policy.txt",
    "How long until a refund reaches my original payment method?": "returns-policy.txt",
    "Does Moesaic run on a laptop without a GPU?": "moesaic-handbook.md",
    "Which environment variable points Moesaic at an OpenAI-compatible endpoint?": "moesaic-handbook.md",
    "How are API keys stored?": "moesaic-handbook.md",
    "Which file types can I upload to a knowledge base?": "moesaic-handbook.md",
    "What is the extractive answerer?": "moesaic-handbook.md",
}

commands = typer.Typer(help="Knowledge-base assistant: demo data.", no_args_is_help=True)


@commands.callback()
def _group() -> None:
    """Knowledge-base assistant commands."""


@commands.command()
def seed(ctx: typer.Context, kb: str = "default", tenant: str = "default") -> None:
    """Ingest the demo documents (written by us) into a knowledge base and wait until they are indexed."""
    app = command_context(ctx)
    tenant_id = ensure_tenant(app.db, tenant)
    ids = [app.knowledge.add_document(tenant_id, kb, path.name, path.read_bytes()).id for path in sorted(SEED_DIR.iterdir())]
    done = app.knowledge.wait(ids, timeout=300)
    typer.echo(", ".join(f"{info.filename}: {info.status}" for info in done))


def quick_retrieval(ctx: AppContext) -> Mapping[str, float]:
    tenant_id = ensure_tenant(ctx.db, f"eval-{secrets.token_hex(4)}")
    ids = [ctx.knowledge.add_document(tenant_id, EVAL_KB, path.name, path.read_bytes()).id
           for path in sorted(SEED_DIR.iterdir())]
    names = {info.id: info.filename for info in ctx.knowledge.wait(ids, timeout=300)}
    hits, reciprocal = 0.0, 0.0
    for question, expected in QUESTIONS.items():
        ranked = [names.get(chunk.document_id) for chunk in ctx.knowledge.search(tenant_id, EVAL_KB, question, top_k=5)]
        hits += expected in ranked[:3]
        reciprocal += 1 / (ranked.index(expected) + 1) if expected in ranked else 0.0
    return {"hit@3": hits / len(QUESTIONS), "mrr": reciprocal / len(QUESTIONS)}


EVALS = (Evaluation("retrieval", "seed documents, labelled questions: hit@3 and MRR", quick=quick_retrieval),)
