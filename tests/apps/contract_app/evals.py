"""The app's evaluation ``notes``: a full run (``moesaic eval contract_app``) and a quick one (the gate)."""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Mapping, Sequence

from moesaic.apps import AppContext, Evaluation
from moesaic.access import ensure_tenant
from tests.apps.contract_app.notes import add_note, count_notes, list_notes


def quick_notes(ctx: AppContext) -> Mapping[str, float]:
    """A note written for one tenant reads back for it (roundtrip) and not for another (isolation)."""
    mine = ensure_tenant(ctx.db, f"eval-{secrets.token_hex(4)}")
    other = ensure_tenant(ctx.db, f"eval-{secrets.token_hex(4)}")
    add_note(ctx.db, mine, "hello")
    return {
        "roundtrip": float([n["text"] for n in list_notes(ctx.db, mine)] == ["hello"]),
        "isolation": float(count_notes(ctx.db, other) == 0),
    }


def notes_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="moesaic eval contract_app")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps({"evaluation": "notes", "repeat": args.repeat}))
    return 0


EVALS = (Evaluation("notes", "notes round trip and tenant isolation", main=notes_main, quick=quick_notes),)
