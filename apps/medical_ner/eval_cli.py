"""``moesaic eval medical_ner --data DIR --split NAME``: score the shipped model on every IOB corpus in DIR.

Reads ``DIR/<corpus>/<split>.tsv`` for each corpus folder present (NCBI-disease-IOB, BC5CDR-IOB,
BC5CDR-chem-IOB, BC5CDR-disease-IOB; other folders are skipped with a note on stderr), runs ONE model
on the sentences' text, drops the labels a corpus does not annotate, and prints one JSON object as the
last line: ``{"split", "corpora": {name: {precision, recall, f1, num_gold, num_pred}}, "sentences_per_s", "precision"}``
(``precision`` is the inference precision that ran: ``auto`` picks what the app serves).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from apps.medical_ner.iob import CORPORA, default_ner_dir, read_corpora


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="moesaic eval medical_ner", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder of <corpus>-IOB folders (default: MOESAIC_DATASETS_DIR/biomed_ner)")
    parser.add_argument("--split", default="devel", help="file name without .tsv (default: devel)")
    parser.add_argument("--artefact", type=Path, default=None, help="a classifier .safetensors (default: the shipped one)")
    parser.add_argument("--decoding", choices=("viterbi", "argmax"), default="viterbi")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "int8"), default="auto",
                        help="inference precision; auto (default) is what the app serves: bf16 where the CPU has it natively, else fp32")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N sentences of each corpus (0: all)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    data = args.data or default_ner_dir()
    if not data.is_dir():
        print(f"error: --data {data} is not a folder (set MOESAIC_DATASETS_DIR or pass --data)", file=sys.stderr)
        return 2
    for folder in sorted(p.name for p in data.iterdir() if p.is_dir()):
        if folder not in CORPORA:
            print(f"note: skipping {folder}: not a corpus this model is scored on ({', '.join(CORPORA)})", file=sys.stderr)
    corpora = read_corpora(data, args.split)
    if not corpora:
        print(f"error: no {args.split}.tsv in any of {', '.join(CORPORA)} under {data}", file=sys.stderr)
        return 2
    if args.limit:
        corpora = {name: sentences[: args.limit] for name, sentences in corpora.items()}

    from apps.medical_ner.evaluate import evaluate_corpora
    from apps.medical_ner.tagger import Tagger

    tagger = Tagger.load(args.artefact, precision=args.precision)
    scores, speed = evaluate_corpora(corpora, lambda texts: tagger.tag(texts, decoding=args.decoding))  # type: ignore[arg-type, return-value]
    for name, score in scores.items():
        print(f"{name:16s} P {score.precision:.4f}  R {score.recall:.4f}  F1 {score.f1:.4f}  gold {score.num_gold}  pred {score.num_pred}", file=sys.stderr)
    report = {"split": args.split, "corpora": {k: v.as_dict() for k, v in scores.items()}, "sentences_per_s": round(speed, 1), "precision": tagger.precision}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
