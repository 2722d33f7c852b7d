"""The app's commands (``moesaic apps literature_analysis ...``) and evaluations (``moesaic eval literature_analysis``).

- ``sync-due``: queue the PubMed sync of every due saved query (``sync.enqueue_due``), for cron.
- ``train``: reproduce the shipped cross-encoders (``train.main``): trains the variants, picks the
  claim-check settings on the inner development claims and prints the held-out numbers.
  ``--device cuda`` on a GPU machine; deterministic given the seeds on one device type.
- evaluation ``claims`` (the default): SciFact open setting, PubMedQA or BEIR (``eval_cli.main``); quick:
  ``QUICK_CLAIMS`` held-out claims against their cited abstracts plus ``QUICK_DISTRACTORS`` others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer

from moesaic.apps import AppContext, Evaluation, MissingData

QUICK_CLAIMS = 40
QUICK_DISTRACTORS = 300

commands = typer.Typer(help="Literature analysis: sync saved PubMed queries, train the offline claim-check models.", no_args_is_help=True)

SHIPPED = "rationale_r32,label_joint_r32,pubmedqa_plain_r16,dense_r32"  # what artefact/settings.json was picked from


@commands.command()
def train(
    out: Annotated[Path, typer.Option(help="Folder for <variant>.safetensors, <variant>.json and report.json.")] = Path("literature_analysis_runs"),
    variant: Annotated[str, typer.Option(help="Comma-separated variants (train.VARIANTS); default: the shipped ones.")] = SHIPPED,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    scifact: Annotated[Optional[Path], typer.Option(help="SciFact folder (default: MOESAIC_DATASETS_DIR/scifact).")] = None,
    pubmedqa: Annotated[Optional[Path], typer.Option(help="pqal_trainval_500.json (default: MOESAIC_DATASETS_DIR/pubmedqa/...).")] = None,
    jobs: Annotated[int, typer.Option(help="Variants trained at once (separate processes).")] = 1,
    ship: Annotated[Optional[Path], typer.Option(help="Copy the chosen models here as the app's artefact (e.g. apps/literature_analysis/artefact).")] = None,
) -> None:
    """Train the claim-check cross-encoders (LoRA on MiniLM) and print the held-out numbers."""
    from apps.literature_analysis.train import main

    argv = ["--variants", variant, "--out", str(out), "--device", device, "--jobs", str(jobs), "--cache", str(out / "cache")]
    for flag, value in (("--scifact", scifact), ("--pubmedqa", pubmedqa), ("--ship", ship)):
        if value is not None:
            argv += [flag, str(value)]
    raise typer.Exit(main(argv))


@commands.command("sync-due")
def sync_due(
    ctx: typer.Context,
    tenant: Annotated[Optional[str], typer.Option(help="Only this tenant's saved queries (default: every tenant's).")] = None,
) -> None:
    """Queue the PubMed sync of every saved query that is due (never run, or its interval has passed);
    at most one per query and schedule slot however often it runs (cron may call it every few minutes)."""
    import json

    from moesaic.apps import command_context

    from apps.literature_analysis.sync import enqueue_due

    app = command_context(ctx)
    tenant_id = None
    if tenant is not None:
        from moesaic.access import find_tenant

        found = find_tenant(app.db, tenant)
        if found is None:
            raise typer.BadParameter(f"no tenant named {tenant!r}", param_hint="--tenant")
        tenant_id = found
    for info in enqueue_due(app, tenant_id=tenant_id):
        typer.echo(json.dumps({"job_id": info.id, "tenant_id": info.tenant_id, "query": info.payload.get("query"),
                               "state": info.state}))


def quick_claims(ctx: AppContext) -> Mapping[str, float]:
    """Held-out claims checked against their cited abstracts among distractors (BM25 only: seconds)."""
    from apps.literature_analysis.data import load_claims, load_corpus, split_claims
    from apps.literature_analysis.evaluate import retrieve_claims, scifact_open
    from apps.literature_analysis.models import get_models
    from apps.literature_analysis.retrieve import LocalRetriever

    folder = Path(ctx.settings.datasets_dir) / "scifact"
    if not (folder / "corpus.jsonl").exists():
        raise MissingData(f"corpus.jsonl not found under {folder}; set MOESAIC_DATASETS_DIR to the public data")
    claims = split_claims(load_claims(folder, "train"))[1][:QUICK_CLAIMS]
    corpus = load_corpus(folder)
    cited = {d for c in claims for d in c.cited_doc_ids}
    docs = [corpus[d] for d in sorted(cited)] + [corpus[d] for d in sorted(corpus) if d not in cited][:QUICK_DISTRACTORS]
    models = get_models(ctx.services)
    hits = retrieve_claims(LocalRetriever(docs, None, models.reranker), claims)
    metrics = scifact_open(claims, {d.doc_id: d for d in docs}, hits, models.selector, models.labeler, models.settings)
    keep = ("abstract_label_only_f1", "sentence_selection_label_f1", "retrieval_ndcg@10")
    return {k: round(metrics[k], 4) for k in keep}


def _claims_main(argv: Sequence[str]) -> int:
    from apps.literature_analysis.eval_cli import main

    return main(argv)


EVALS = (
    Evaluation(
        "claims",
        "SciFact open setting (`--scifact DIR --split NAME`: official metrics + retrieval_ndcg@10), PubMedQA "
        "(`--pubmedqa FILE`: accuracy, macro_f1) or BEIR (`--beir DIR --split NAME`: ndcg@10); quick: "
        f"{QUICK_CLAIMS} held-out SciFact claims among {QUICK_DISTRACTORS} distractor abstracts.",
        main=_claims_main,
        quick=quick_claims,
    ),
)
