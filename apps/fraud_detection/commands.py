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


@commands.command()
def bins(
    data: Annotated[Path, typer.Option(help="the transactions file the artefact was trained on")],
    artefact: Annotated[Path, typer.Option(help="artefact folder")] = Path(__file__).parent / "artefact",
) -> None:
    """Store the training distribution of every feature (decile bins) in an artefact's model.json, for drift (PSI).

    Recomputes the features of the artefact's training rows (labels visible at ``labels_visible_at``);
    the model's version does not change (it hashes the boosters and calibrations only)."""
    import pandas as pd

    from apps.fraud_detection.features.batch import compute_features, sort_history
    from apps.fraud_detection.features.definition import FeatureConfig
    from apps.fraud_detection.model import FraudModel
    from apps.fraud_detection.monitoring import feature_bins
    from connectors.transactions import read_transactions_file

    model = FraudModel.load(artefact)
    delay = int(model.info["label_delay_days"])
    history = sort_history(read_transactions_file(data))
    features = compute_features(history, FeatureConfig(label_delay_days=delay))
    end = pd.Timestamp(model.info["labels_visible_at"]) - pd.Timedelta(days=delay)
    rows = ((history["TX_DATETIME"] < end) & (history["TX_FRAUD"] >= 0)).to_numpy()
    model.info["feature_bins"] = feature_bins(features[rows], model.features)
    model.save(artefact)
    typer.echo(json.dumps({"version": model.version, "num_rows": int(rows.sum()), "features": len(model.features)}))
