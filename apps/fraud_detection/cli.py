"""Command lines of the fraud app: the leak-proof evaluation (``moesaic eval fraud_detection``) and training.

Thin: parses arguments, reads files through ``connectors.transactions``, calls ``evaluation.evaluate``
or ``training.train_artefact`` and prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from apps.fraud_detection.evaluation import evaluate
from connectors.transactions import DEFAULT_MAX_BYTES, read_transactions_file


def eval_main(argv: Sequence[str]) -> int:
    """``--train FILE --test FILE --test-from DATE [--label-delay-days 7] [--out SCORES.csv] [--peer]``."""
    parser = argparse.ArgumentParser(prog="moesaic eval fraud_detection", description=__doc__)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--test-from", type=datetime.fromisoformat, required=True)
    parser.add_argument("--label-delay-days", type=int, default=7)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--peer", action="store_true", help="also train an XGBoost on the Handbook's 15 features")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    args = parser.parse_args(list(argv))
    train = read_transactions_file(args.train, max_bytes=args.max_bytes)
    test = read_transactions_file(args.test, max_bytes=args.max_bytes)
    result = evaluate(train, test, args.test_from, label_delay_days=args.label_delay_days, out=args.out,
                      with_peer=args.peer)
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(eval_main(sys.argv[1:]))
