"""Evaluations an app registers, and the floors that make the quick ones a gate.

An ``Evaluation`` has a full command line (``moesaic eval <app> [<name>] ARGS``) and/or a ``quick``
run on a small development slice that returns ``{metric: value}``. The floors live in the repository
(``evals/floors.json``: ``{"<app>.<eval>": {"<metric>": floor}}``); ``check_floors`` compares.
Floors are raised as apps improve, never lowered. This module runs nothing itself: the CLI does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from moesaic.apps.context import AppContext
from moesaic.errors import ConfigError, MoesaicError

EVAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
Floors = dict[str, dict[str, float]]


class MissingData(MoesaicError):
    """A quick evaluation cannot run here because its data is absent; the message says what and where.

    ``moesaic eval --all --quick`` counts this as a failure unless ``--allow-missing-data`` is given,
    so a gate never passes silently on a machine without the data."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of an app.

    ``main(argv) -> exit code`` is the full run behind ``moesaic eval <app> [<name>] ARGS`` (it parses its
    own arguments). ``quick(ctx) -> {metric: value}`` runs on a small slice in seconds and is gated by
    the floors; raise ``MissingData`` when the slice's data is absent.
    """

    name: str
    description: str = ""
    main: Callable[[Sequence[str]], int] | None = None
    quick: Callable[[AppContext], Mapping[str, float]] | None = None

    def __post_init__(self) -> None:
        if not EVAL_NAME.match(self.name):
            raise ConfigError(f"evaluation name {self.name!r} must match {EVAL_NAME.pattern}")
        if self.main is None and self.quick is None:
            raise ConfigError(f"evaluation {self.name!r} needs a main (full run), a quick run, or both")


def load_floors(path: Path) -> Floors:
    """Read a floors file; a bad shape fails naming the file and the entry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"floors file {path} not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"floors file {path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"floors file {path} must hold an object of '<app>.<eval>': {{metric: floor}}")
    floors: Floors = {}
    for key, metrics in raw.items():
        if key.startswith("_"):  # comments
            continue
        if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
            raise ConfigError(f"floors file {path}: {key!r} must map metric names to numbers")
        floors[key] = {metric: float(value) for metric, value in metrics.items()}
    return floors


@dataclass(frozen=True)
class FloorCheck:
    key: str  # "<app>.<eval>"
    metric: str
    value: float | None
    floor: float | None

    @property
    def passed(self) -> bool:
        if self.floor is None:
            return True  # reported, not gated
        return self.value is not None and not math.isnan(self.value) and self.value >= self.floor


def check_floors(key: str, metrics: Mapping[str, float], floors: Floors) -> list[FloorCheck]:
    """One check per metric returned or floored. A floored metric the run did not return fails;
    an evaluation with no floor at all fails too (record one before it can gate)."""
    recorded = floors.get(key)
    if not recorded:
        reported = [FloorCheck(key, name, _number(value), None) for name, value in metrics.items()]
        return [*reported, FloorCheck(key, "(no floor recorded)", None, math.inf)]
    names = list(dict.fromkeys([*metrics, *recorded]))
    return [FloorCheck(key, name, _number(metrics.get(name)), recorded.get(name)) for name in names]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
