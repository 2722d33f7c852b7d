"""``moesaic apps fraud_detection train``: fit the committed model from a transactions file."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

commands = typer.Typer(help="fraud_detection: training.", no_args_is_help=True)


@commands.command()
def train(
    data: Annotated[Path, typer.Option(help="transactions file (CSV, CSV.gz, Parquet) with TX_FRAUD")],
    until: Annotated[Optional[datetime], typer.Option(help="labels visible at this time (default: the data's end)")] = None,
    label_delay_days: int = 7,
    out: Annotated[Path, typer.Option(help="artefact folder")] = Path(__file__).parent / "artefact",
    evaluation: Annotated[Optional[Path], typer.Option(help="summary JSON of an evaluation of this recipe, for the card")] = None,
) -> None:
    """Train the model on the labels visible at UNTIL and write it with its model card."""
    from apps.fraud_detection.training import train_from_frame, write_artefact
    from connectors.transactions import read_transactions_file

    model = train_from_frame(read_transactions_file(data), until=until, label_delay_days=label_delay_days)
    summary = json.loads(evaluation.read_text()) if evaluation else None
    card = write_artefact(model, out, summary)
    typer.echo(json.dumps({"version": model.version, "num_trees": model.info["num_trees"], "card": str(card)}))
