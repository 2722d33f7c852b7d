"""Train the token classifier on the IOB corpora: one model for every corpus, deterministic given a seed.

Data: the ``train`` splits of NCBI-disease and BC5CDR; a seeded share of each (``holdout``) is kept back
to pick the best epoch; the ``devel`` splits are scored once at the end, per corpus. A word is labelled
by its first subword. A word that NCBI-disease marks ``O`` may still be a drug (that corpus does not
annotate chemicals), so the loss there is the negative log of the probability of the allowed set
{O, B-treatment, I-treatment} rather than of ``O`` alone (``partial_labels``; off = plain cross-entropy).

``python -m apps.medical_ner.train --variants lora_r16 --out DIR`` trains named variants (in parallel
processes with ``--jobs``) and writes ``DIR/<variant>.safetensors`` and ``DIR/<variant>.json``.
Only torch, transformers, peft and tokenizers are needed (it runs on a bare GPU machine).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from apps.medical_ner.evaluate import evaluate_corpora, score_spans
from apps.medical_ner.iob import CORPORA, IOBSentence, default_ner_dir, read_corpora
from apps.medical_ner.labels import CORPUS_LABELS, TAGS, allowed_tags
from apps.medical_ner.model import ClassifierConfig, TokenClassifier, add_lora, base_model_dir, load_encoder, save_classifier
from apps.medical_ner.tagger import Tagger
from apps.medical_ner.tokens import encode_words, load_tokenizer, make_windows

TRAIN_CORPORA = ("NCBI-disease-IOB", "BC5CDR-IOB")


@dataclass(frozen=True)
class TrainConfig:
    method: str = "lora"  # "lora" | "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    learning_rate: float = 1e-3
    epochs: int = 20
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    holdout: float = 0.1
    partial_labels: bool = True
    max_subwords: int = 256
    seed: int = 13
    max_minutes: float = 0.0  # > 0: fewer epochs when epoch 1 shows all would not fit (then timing-dependent)


VARIANTS: dict[str, TrainConfig] = {
    # the shipped classifier (artefact/classifier.safetensors): chosen on devel among the variants below
    "default": TrainConfig(lora_rank=32, lora_alpha=64, learning_rate=7e-4, partial_labels=False, seed=7),
    "lora_r8": TrainConfig(lora_rank=8, lora_alpha=16),
    "lora_r16": TrainConfig(),
    "lora_r16_lr2e-3": TrainConfig(learning_rate=2e-3),
    "lora_r32": TrainConfig(lora_rank=32, lora_alpha=64, learning_rate=7e-4),
    "lora_r64": TrainConfig(lora_rank=64, lora_alpha=128, learning_rate=5e-4),
    "lora_r16_plain_ce": TrainConfig(partial_labels=False),
    "lora_r32_ce": TrainConfig(lora_rank=32, lora_alpha=64, learning_rate=7e-4, partial_labels=False),
    "lora_r32_ce_seed7": TrainConfig(lora_rank=32, lora_alpha=64, learning_rate=7e-4, partial_labels=False, seed=7),
    "lora_r64_ce": TrainConfig(lora_rank=64, lora_alpha=128, learning_rate=5e-4, partial_labels=False),
    "full_lr5e-5": TrainConfig(method="full", learning_rate=5e-5, epochs=15),
    "full_lr1e-4": TrainConfig(method="full", learning_rate=1e-4, epochs=15),
}


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    positions: tuple[int, ...]  # first subword of each labelled word
    allowed: tuple[tuple[int, ...], ...]  # allowed tag indices per labelled word


def word_tags(sentence: IOBSentence, word_starts: list[int]) -> list[str]:
    """Tags of the tokenizer's words: the first word of a corpus token takes its tag, later ones continue it."""
    token_starts = [start for start, _ in sentence.token_offsets()]
    tags, previous_token = [], -1
    for start in word_starts:
        token = bisect.bisect_right(token_starts, start) - 1
        tag = sentence.tags[token]
        if token == previous_token and tag != "O":
            tag = "I-" + tag[2:]
        tags.append(tag)
        previous_token = token
    return tags


def build_examples(sentences: list[IOBSentence], corpus: str, tokenizer: Any, config: TrainConfig) -> list[Example]:
    annotated = CORPUS_LABELS[corpus] if config.partial_labels else frozenset({"problem", "treatment"})
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    examples = []
    for sentence in sentences:
        words = encode_words(tokenizer, sentence.text)
        if not words:
            continue
        tags = word_tags(sentence, [w.start for w in words])
        for window in make_windows(words, cls_id, sep_id, config.max_subwords):
            allowed = tuple(allowed_tags(tags[i], annotated) for i in range(window.first, window.last))
            examples.append(Example(window.input_ids, window.word_positions, allowed))
    return examples


def split_holdout(sentences: list[IOBSentence], fraction: float, seed: int) -> tuple[list[IOBSentence], list[IOBSentence]]:
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * fraction)
    held = set(order[:cut])
    return [s for i, s in enumerate(sentences) if i not in held], [s for i, s in enumerate(sentences) if i in held]


def collate(batch: list[Example], num_tags: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    length = max(len(e.input_ids) for e in batch)
    ids = torch.zeros(len(batch), length, dtype=torch.long)
    mask = torch.zeros(len(batch), length, dtype=torch.long)
    rows, cols, allowed_rows = [], [], []
    for row, example in enumerate(batch):
        ids[row, : len(example.input_ids)] = torch.tensor(example.input_ids)
        mask[row, : len(example.input_ids)] = 1
        for position, allowed in zip(example.positions, example.allowed):
            rows.append(row)
            cols.append(position)
            flags = torch.zeros(num_tags, dtype=torch.bool)
            flags[list(allowed)] = True
            allowed_rows.append(flags)
    return ids, mask, torch.tensor([rows, cols]), torch.stack(allowed_rows)


def partial_label_loss(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """-log P(tag in allowed) averaged over words; logits [N, K], allowed [N, K] bool."""
    return (torch.logsumexp(logits, dim=-1) - torch.logsumexp(logits.masked_fill(~allowed, float("-inf")), dim=-1)).mean()


def set_determinism(seed: int) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def train(config: TrainConfig, *, data_dir: Path, base_dir: Path, out: Path, name: str, device: str = "cpu", log: Any = print) -> dict[str, Any]:
    """Train one variant, save its artefact at ``out/<name>.safetensors``, and return its report
    (held-out F1 per epoch, devel scores per corpus for both decodings)."""
    set_determinism(config.seed)
    started = time.perf_counter()
    tokenizer = load_tokenizer(base_dir / "tokenizer.json")
    train_sets = read_corpora(data_dir, "train", TRAIN_CORPORA)
    missing = [c for c in TRAIN_CORPORA if c[: -len("-IOB")] not in train_sets]
    if missing:
        raise FileNotFoundError(f"no train.tsv for {missing} under {data_dir}")
    examples: list[Example] = []
    heldout: dict[str, list[IOBSentence]] = {}
    for corpus, sentences in train_sets.items():
        kept, held = split_holdout(sentences, config.holdout, config.seed)
        heldout[corpus] = held
        examples.extend(build_examples(kept, corpus, tokenizer, config))
    log(f"[{name}] {len(examples)} training windows; held out {sum(map(len, heldout.values()))} sentences")

    classifier_config = ClassifierConfig(
        tags=TAGS,
        method=config.method,
        lora_rank=config.lora_rank,
        lora_alpha=config.lora_alpha,
        max_subwords=config.max_subwords,
        extra={"train": asdict(config), "variant": name, "train_corpora": list(TRAIN_CORPORA)},
    )
    encoder: torch.nn.Module = load_encoder(base_dir)
    if config.method == "lora":
        encoder = add_lora(encoder, classifier_config)
    model = TokenClassifier(encoder, len(TAGS), classifier_config.dropout).to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    num_trainable = sum(p.numel() for p in parameters)
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = (len(examples) + config.batch_size - 1) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    warmup = max(1, int(total_steps * config.warmup_fraction))
    plan = {"epochs": config.epochs, "total": total_steps}  # shrunk after epoch 1 when a time budget cannot fit every epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min((step + 1) / warmup, max(0.0, (plan["total"] - step) / max(1, plan["total"] - warmup))))
    tagger = Tagger(model, classifier_config, base_dir / "tokenizer.json", device=device, batch_size=128)
    generator = torch.Generator().manual_seed(config.seed)

    history: list[dict[str, Any]] = []
    best_f1, best_state, best_epoch = -1.0, None, 0
    epoch = 0
    while epoch < plan["epochs"]:
        epoch += 1
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(len(examples), generator=generator).tolist()
        total_loss = 0.0
        for begin in range(0, len(order), config.batch_size):
            ids, mask, index, allowed = collate([examples[i] for i in order[begin : begin + config.batch_size]], len(TAGS))
            logits = model(ids.to(device), mask.to(device))  # [B, T, K]
            loss = partial_label_loss(logits[index[0].to(device), index[1].to(device)], allowed.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach())
        held_scores = {
            corpus: score_spans([s.spans() for s in held], _predict(tagger, held), CORPUS_LABELS[corpus]).f1
            for corpus, held in heldout.items()
        }
        mean_f1 = sum(held_scores.values()) / len(held_scores)
        history.append({"epoch": epoch, "loss": round(total_loss / steps_per_epoch, 4), "heldout_f1": {k: round(v, 4) for k, v in held_scores.items()}})
        log(f"[{name}] epoch {epoch} loss {total_loss / steps_per_epoch:.4f} held-out F1 {held_scores} ({time.perf_counter() - started:.0f}s)")
        if mean_f1 > best_f1:
            best_f1, best_epoch = mean_f1, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if config.max_minutes and epoch == 1:
            left = config.max_minutes * 60 - (time.perf_counter() - started)
            affordable = 1 + int(left // (time.perf_counter() - epoch_started))
            if affordable < plan["epochs"]:
                plan["epochs"] = max(1, affordable)
                plan["total"] = steps_per_epoch * plan["epochs"]
                log(f"[{name}] time budget of {config.max_minutes} min: {plan['epochs']} epochs instead of {config.epochs}")
    assert best_state is not None, "training ran no epoch"
    model.load_state_dict(best_state)
    classifier_config = replace(classifier_config, extra={**classifier_config.extra, "best_epoch": best_epoch, "heldout_mean_f1": round(best_f1, 4)})
    devel = read_corpora(data_dir, "devel", CORPORA)
    report: dict[str, Any] = {"variant": name, "config": asdict(config), "epochs_run": epoch, "num_trainable": num_trainable, "best_epoch": best_epoch, "history": history}
    for decoding in ("viterbi", "argmax"):
        scores, speed = evaluate_corpora(devel, lambda texts: _predict(tagger, texts, decoding))
        report[f"devel_{decoding}"] = {k: v.as_dict() for k, v in scores.items()}
    classifier_config = replace(classifier_config, extra={**classifier_config.extra, "devel": report["devel_viterbi"]})
    save_classifier(out / f"{name}.safetensors", model, classifier_config)
    report["seconds"] = round(time.perf_counter() - started, 1)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    log(f"[{name}] devel F1 " + json.dumps({k: v["f1"] for k, v in report["devel_viterbi"].items()}))
    return report


def _predict(tagger: Tagger, sentences: Any, decoding: str = "viterbi") -> list[list[Any]]:
    texts = [s if isinstance(s, str) else s.text for s in sentences]
    return tagger.tag(texts, decoding=decoding)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="default", help=f"comma-separated, from {sorted(VARIANTS)}")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder with the *-IOB corpora (default: MOESAIC_DATASETS_DIR/biomed_ner)")
    parser.add_argument("--base-dir", type=Path, default=None, help="MiniLM files (default: the pip package)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--jobs", type=int, default=1, help="variants trained at once (separate processes)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None)
    args = parser.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.jobs > 1 and len(names) > 1:
        return _run_parallel(names, args, argv or sys.argv[1:])
    data_dir = args.data_dir or default_ner_dir()
    base_dir = args.base_dir or base_model_dir()
    for name in names:
        config = VARIANTS[name]
        overrides = {k: v for k, v in (("seed", args.seed), ("epochs", args.epochs), ("max_minutes", args.max_minutes)) if v is not None}
        train(replace(config, **overrides), data_dir=data_dir, base_dir=base_dir, out=args.out, name=name, device=args.device)
    return 0


def _run_parallel(names: list[str], args: argparse.Namespace, argv: list[str]) -> int:
    """One process per variant (at most ``--jobs`` at once); each logs to ``out/<variant>.log``."""
    base = _drop_values(argv, ("--variants", "--jobs"))
    pending, failed = list(names), []
    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            log = open(args.out / f"{name}.log", "w")
            command = [sys.executable, "-m", "apps.medical_ner.train", "--variants", name, *base]
            running.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "2"})))
        time.sleep(2)
        for name, process in list(running):
            if process.poll() is not None:
                running.remove((name, process))
                if process.returncode:
                    failed.append(name)
    summary = {}
    for name in names:
        report_path = args.out / f"{name}.json"
        if report_path.is_file():
            report = json.loads(report_path.read_text())
            summary[name] = {corpus: s["f1"] for corpus, s in report["devel_viterbi"].items()}
    print(json.dumps({"devel_f1": summary, "failed": failed}, indent=1))
    return 1 if failed else 0


def _drop_values(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in flags:
            skip = True
            continue
        if any(item.startswith(flag + "=") for flag in flags):
            continue
        kept.append(item)
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
