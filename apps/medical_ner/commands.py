"""The app's commands (``moesaic apps medical_ner ...``) and evaluations (``moesaic eval medical_ner ...``).

- ``train``: reproduce the shipped classifier from the IOB folders (``train.main``); prints devel F1 per
  corpus. ``--device cuda`` on a GPU machine; deterministic given ``--seed``.
- evaluation ``ner`` (the default): entity-level P/R/F1 per corpus (``eval_cli.main``); quick: the first
  ``QUICK_SENTENCES`` devel sentences of NCBI-disease and BC5CDR (``MissingData`` without them).
- evaluation ``assertion``: accuracy of the assertion rules on our labelled sentences (no data needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer

from moesaic.apps import AppContext, Evaluation, MissingData

QUICK_SENTENCES = 100

commands = typer.Typer(help="Medical NER: train the offline model.", no_args_is_help=True)


@commands.command()
def train(
    out: Annotated[Path, typer.Option(help="Folder for <variant>.safetensors and <variant>.json.")] = Path("medical_ner_runs"),
    variant: Annotated[str, typer.Option(help="Comma-separated training variants (train.VARIANTS).")] = "default",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of the *-IOB corpora (default: MOESAIC_DATASETS_DIR/biomed_ner).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the variant's seed.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the variant's epochs.")] = None,
    jobs: Annotated[int, typer.Option(help="Variants trained at once (separate processes).")] = 1,
) -> None:
    """Train the token classifier (LoRA on MiniLM) and print its devel F1 per corpus."""
    from apps.medical_ner.train import main

    argv = ["--variants", variant, "--out", str(out), "--device", device, "--jobs", str(jobs)]
    for flag, value in (("--data-dir", data_dir), ("--seed", seed), ("--epochs", epochs)):
        if value is not None:
            argv += [flag, str(value)]
    raise typer.Exit(main(argv))


def quick_ner(ctx: AppContext) -> Mapping[str, float]:
    from apps.medical_ner.evaluate import evaluate_corpora
    from apps.medical_ner.iob import read_corpora
    from apps.medical_ner.tagger import Tagger

    folder = Path(ctx.settings.datasets_dir) / "biomed_ner"
    corpora = read_corpora(folder, "devel", ("NCBI-disease-IOB", "BC5CDR-IOB"))
    if len(corpora) < 2:
        raise MissingData(f"NCBI-disease-IOB/devel.tsv and BC5CDR-IOB/devel.tsv not found under {folder}; set MOESAIC_DATASETS_DIR to the public data")
    tagger = ctx.services.get("tagger") or Tagger.load(precision="auto")
    sample = {name: sentences[:QUICK_SENTENCES] for name, sentences in corpora.items()}
    scores, _ = evaluate_corpora(sample, tagger.tag)
    return {f"f1_{name}": round(score.f1, 4) for name, score in scores.items()}


def quick_assertion(ctx: AppContext) -> Mapping[str, float]:
    from apps.medical_ner.assertion_eval import accuracy

    return {name: round(value, 4) for name, value in accuracy().items()}


def _ner_main(argv: Sequence[str]) -> int:
    from apps.medical_ner.eval_cli import main

    return main(argv)


def _assertion_main(argv: Sequence[str]) -> int:
    from apps.medical_ner.assertion_eval import main

    return main(argv)


EVALS = (
    Evaluation("ner", "entity-level exact P/R/F1 per corpus (`--data DIR --split NAME`); quick: the first "
               f"{QUICK_SENTENCES} devel sentences of NCBI-disease and BC5CDR.", main=_ner_main, quick=quick_ner),
    Evaluation("assertion", "assertion-rule accuracy on our labelled sentences (development and held-out sets).",
               main=_assertion_main, quick=quick_assertion),
)
