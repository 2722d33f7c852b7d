"""Train the app's cross-encoders (LoRA on MiniLM), pick the claim-check settings, report held-out numbers.

Data: SciFact's training claims minus the fixed held-out 20% (``data.split_claims``); of what is left,
a seeded 10% ("inner dev") picks the pipeline settings and the shipped variants, the rest ("fit") trains.
PubMedQA: the 400 training questions not held out train the yes/no/maybe classifier. Held-out claims and
questions are only scored, once, at the end.

``python -m apps.literature_analysis.train --out DIR [--device cuda] [--variants a,b] [--jobs N]`` trains
each variant (in ``--jobs`` parallel processes), writes ``DIR/<variant>.safetensors`` + ``.json``, then
evaluates the selector x labeler x reranker combinations and writes ``DIR/report.json``. Deterministic
given the seeds on one device type. Needs only torch, transformers, peft, tokenizers, numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from apps.literature_analysis.data import (
    LABELS,
    PUBMEDQA_LABELS,
    Abstract,
    Claim,
    datasets_dir,
    heldout_ids,
    load_claims,
    load_corpus,
    Question,
    load_pubmedqa,
    split_claims,
    split_questions,
)
from apps.literature_analysis.encoder import (
    CrossEncoder,
    ModelConfig,
    PairScorer,
    add_lora,
    collate,
    encode_pairs,
    load_encoder,
    load_tokenizer,
    save_cross_encoder,
)
from apps.literature_analysis.examples import Pair, label_pairs, pubmedqa_pairs, rationale_pairs, rerank_pairs

INNER_DEV_FRACTION = 0.1
INNER_DEV_SEED = 7


@dataclass(frozen=True)
class TrainConfig:
    task: str  # rationale | label | rerank | pubmedqa
    label_input: str = "rationale"  # label task only
    lora_rank: int = 16
    lora_alpha: int = 32
    learning_rate: float = 5e-4
    epochs: int = 4
    batch_size: int = 32
    max_tokens: int = 256
    seed: int = 13
    negative_docs: int = 3
    class_weights: bool = True  # balanced class weights in the loss
    joint_pubmedqa: bool = False  # label task: add PubMedQA's training questions (yes/no/maybe as SUPPORT/CONTRADICT/NEI)


VARIANTS: dict[str, TrainConfig] = {
    "rationale_r16": TrainConfig("rationale", max_tokens=160),
    "rationale_r32": TrainConfig("rationale", lora_rank=32, lora_alpha=64, max_tokens=160, epochs=6),
    "label_rationale_r16": TrainConfig("label", max_tokens=256, epochs=6, negative_docs=2),
    "label_rationale_r32": TrainConfig("label", lora_rank=32, lora_alpha=64, max_tokens=256, epochs=8, negative_docs=2),
    "label_abstract_r16": TrainConfig("label", label_input="abstract", max_tokens=384, epochs=6, negative_docs=2),
    "label_abstract_r32": TrainConfig("label", label_input="abstract", lora_rank=32, lora_alpha=64, max_tokens=384, epochs=8, negative_docs=2),
    "rerank_r16": TrainConfig("rerank", max_tokens=256, epochs=3, negative_docs=10),
    "rerank_r32": TrainConfig("rerank", lora_rank=32, lora_alpha=64, max_tokens=256, epochs=4, negative_docs=15),
    "pubmedqa_r16": TrainConfig("pubmedqa", max_tokens=512, epochs=8, batch_size=16, learning_rate=5e-4),
    "pubmedqa_r16_lr1e-3": TrainConfig("pubmedqa", max_tokens=512, epochs=10, batch_size=16, learning_rate=1e-3),
    # second round (after the first round's held-out numbers: the labeler and PubMedQA were the weak parts)
    "rationale_r64": TrainConfig("rationale", lora_rank=64, lora_alpha=128, max_tokens=160, epochs=6, learning_rate=4e-4),
    "label_rationale_r64": TrainConfig("label", lora_rank=64, lora_alpha=128, max_tokens=256, epochs=8, negative_docs=2, learning_rate=4e-4),
    "label_joint_r32": TrainConfig("label", lora_rank=32, lora_alpha=64, max_tokens=384, epochs=8, negative_docs=2, joint_pubmedqa=True),
    "pubmedqa_plain_r16": TrainConfig("pubmedqa", max_tokens=512, epochs=5, batch_size=16, learning_rate=3e-4, class_weights=False),
    "pubmedqa_plain_r32": TrainConfig("pubmedqa", lora_rank=32, lora_alpha=64, max_tokens=512, epochs=4, batch_size=16, class_weights=False),
    "dense_r16": TrainConfig("dense", max_tokens=256, epochs=8, learning_rate=5e-4),
    "dense_r32": TrainConfig("dense", lora_rank=32, lora_alpha=64, max_tokens=256, epochs=10, learning_rate=3e-4),
}
ROUND_2 = "rationale_r32,label_rationale_r32,rerank_r32,pubmedqa_r16,rationale_r64,label_rationale_r64,label_joint_r32,pubmedqa_plain_r16,pubmedqa_plain_r32,dense_r16,dense_r32"
CLASSES = {"rationale": ("no", "yes"), "label": LABELS, "rerank": ("no", "yes"), "pubmedqa": PUBMEDQA_LABELS, "dense": ()}
PUBMEDQA_AS_LABEL = {"yes": "SUPPORT", "no": "CONTRADICT", "maybe": "NOT_ENOUGH_INFO"}


def pubmedqa_splits(path: Path) -> tuple[list[Question], list[Question], list[Question]]:
    """(fit, inner dev, held-out) of PubMedQA's 500 training questions."""
    train, held = split_questions(load_pubmedqa(path))
    inner = heldout_ids([q.id for q in train], INNER_DEV_FRACTION, INNER_DEV_SEED)
    return [q for q in train if q.id not in inner], [q for q in train if q.id in inner], held


def seed_everything(seed: int) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def claim_splits(scifact_dir: Path) -> tuple[list[Claim], list[Claim], list[Claim]]:
    """(fit, inner dev, held-out) of SciFact's training claims (``$LITERATURE_SMOKE=N``: N of each, for a smoke run)."""
    train, held = split_claims(load_claims(scifact_dir, "train"))
    inner = heldout_ids([c.id for c in train], INNER_DEV_FRACTION, INNER_DEV_SEED)
    parts = [c for c in train if c.id not in inner], [c for c in train if c.id in inner], held
    smoke = int(os.environ.get("LITERATURE_SMOKE", "0"))
    return (parts[0][:smoke], parts[1][:smoke], parts[2][:smoke]) if smoke else parts


def uncited_candidates(claims: Sequence[Claim], corpus: dict[str, Abstract], device: str, base_dir: Path | None, cache_dir: Path | None) -> dict[int, list[str]]:
    """The hybrid retriever's top 30 uncited abstracts per claim: the hard negatives."""
    from apps.literature_analysis.retrieve import DenseEncoder, LocalRetriever

    retriever = LocalRetriever(list(corpus.values()), DenseEncoder(base_dir, device), cache_dir=cache_dir)
    return {c.id: [h.doc_id for h in retriever.fused(c.text)[:40] if h.doc_id not in c.cited_doc_ids][:30] for c in claims}


def build_pairs(config: TrainConfig, fit: list[Claim], corpus: dict[str, Abstract], negatives: dict[int, list[str]], pubmedqa: Path) -> list[Pair]:
    def neg(claim: Claim) -> list[str]:
        return negatives.get(claim.id, [])

    if config.task == "rationale":
        return rationale_pairs(fit, corpus, neg, config.seed, config.negative_docs)
    if config.task == "label":
        pairs: list[Pair] = label_pairs(fit, corpus, neg, config.seed, config.label_input, config.negative_docs)
        if config.joint_pubmedqa:
            questions = pubmedqa_pairs(pubmedqa_splits(pubmedqa)[0])
            pairs += [(a, b, LABELS.index(PUBMEDQA_AS_LABEL[PUBMEDQA_LABELS[y]])) for a, b, y in questions]
        return pairs
    if config.task == "rerank":
        return rerank_pairs(fit, corpus, neg, config.negative_docs)
    return pubmedqa_pairs(pubmedqa_splits(pubmedqa)[0])


def fit_model(pairs: list[Pair], config: TrainConfig, device: str, base_dir: Path | None) -> tuple[CrossEncoder, ModelConfig]:
    seed_everything(config.seed)
    classes = CLASSES[config.task]
    model_config = ModelConfig(
        task=config.task, classes=classes, lora_rank=config.lora_rank, lora_alpha=config.lora_alpha,
        max_tokens=config.max_tokens, extra={"train": asdict(config), "pairs": len(pairs)},
    )
    tokenizer = load_tokenizer(base_dir)
    encoded = encode_pairs(tokenizer, [(a, b) for a, b, _ in pairs], config.max_tokens)
    targets = [label for _, _, label in pairs]
    model = CrossEncoder(add_lora(load_encoder(base_dir), model_config), len(classes), model_config.dropout).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    steps = config.epochs * ((len(encoded) + config.batch_size - 1) // config.batch_size)
    warmup = max(1, int(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    counts = torch.bincount(torch.tensor(targets), minlength=len(classes)).float()
    weights = (counts.sum() / (len(classes) * counts.clamp(min=1))).clamp(max=5.0).to(device)  # balanced classes
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights if config.class_weights else None)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    for epoch in range(config.epochs):
        order = torch.randperm(len(encoded), generator=generator).tolist()
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            inputs = collate([encoded[i] for i in batch], device)
            logits = model(**inputs)
            loss = loss_fn(logits, torch.tensor([targets[i] for i in batch], device=device))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        print(f"[{config.task}] epoch {epoch + 1}/{config.epochs} loss {total / len(order):.4f}", flush=True)
    model.eval()
    return model, model_config


def train_variant(name: str, out: Path, device: str, scifact: Path, pubmedqa: Path, base_dir: Path | None, cache_dir: Path | None) -> dict[str, Any]:
    config = VARIANTS[name]
    if os.environ.get("LITERATURE_SMOKE"):
        config = replace(config, epochs=1)
    started = time.time()
    fit, _, _ = claim_splits(scifact)
    corpus = load_corpus(scifact)
    negatives: dict[int, list[str]] = {}
    if config.task != "pubmedqa":
        negatives = uncited_candidates(fit, corpus, device, base_dir, cache_dir)
    if config.task == "dense":
        from apps.literature_analysis.dense_train import train_dense

        seed_everything(config.seed)
        encoder, model_config = train_dense(fit, corpus, negatives, config, device, base_dir)
        save_cross_encoder(out / f"{name}.safetensors", encoder, model_config)
        pairs: list[Pair] = []
    else:
        pairs = build_pairs(config, fit, corpus, negatives, pubmedqa)
        model, model_config = fit_model(pairs, config, device, base_dir)
        save_cross_encoder(out / f"{name}.safetensors", model, model_config)
    info = {"variant": name, "config": asdict(config), "pairs": len(pairs), "seconds": round(time.time() - started, 1), "device": device}
    (out / f"{name}.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def evaluate_variants(out: Path, device: str, scifact: Path, pubmedqa: Path, base_dir: Path | None, cache_dir: Path | None) -> dict[str, Any]:
    """Pick the retriever (dense model x reranker), selector, labeler, settings and PubMedQA classifier on
    the inner dev claims/questions; score the chosen ones on the held-out parts."""
    from apps.literature_analysis.evaluate import CachedScorer, pubmedqa_scores, retrieve_claims, retrieval_ndcg, scifact_open, settings_grid
    from apps.literature_analysis.retrieve import DenseEncoder, LocalRetriever

    _, inner, held = claim_splits(scifact)
    corpus = load_corpus(scifact)
    trained = sorted(p.stem for p in out.glob("*.safetensors"))
    scorers = {name: PairScorer.load(out / f"{name}.safetensors", base_dir, device) for name in trained if not name.startswith("dense")}
    report: dict[str, Any] = {"claims": {"inner_dev": len(inner), "heldout": len(held)}, "retrieval": {}, "pipeline": {}}
    hits: dict[str, dict[str, Any]] = {}
    for dense_name in [None, *[n for n in trained if n.startswith("dense")]]:
        dense = DenseEncoder(base_dir, device, adapter=out / f"{dense_name}.safetensors" if dense_name else None)
        for reranker in [None, *[n for n in trained if n.startswith("rerank")]]:
            retriever = LocalRetriever(list(corpus.values()), dense, scorers[reranker] if reranker else None, cache_dir=cache_dir)
            key = f"{dense_name or 'minilm'}+{reranker or 'none'}"
            hits[key] = {"inner": retrieve_claims(retriever, inner), "held": retrieve_claims(retriever, held)}
            report["retrieval"][key] = {split: retrieval_ndcg(claims, hits[key][split]) for split, claims in (("inner", inner), ("held", held))}
            print("retrieval", key, report["retrieval"][key], flush=True)
    best_retrieval = max(hits, key=lambda k: report["retrieval"][k]["inner"])
    cached = {name: CachedScorer(scorer) for name, scorer in scorers.items()}
    best: tuple[float, str, str, Any] | None = None
    for selector in [n for n in trained if n.startswith("rationale")]:
        for labeler in [n for n in trained if n.startswith("label")]:
            label_input = "abstract" if "abstract" in labeler else "rationale"
            scored = []
            for settings in settings_grid(label_input):
                metrics = scifact_open(inner, corpus, hits[best_retrieval]["inner"], cached[selector], cached[labeler], settings)
                goal = metrics["abstract_label_only_f1"] + metrics["sentence_selection_label_f1"]
                scored.append((goal, settings, metrics))
            goal, settings, metrics = max(scored, key=lambda s: s[0])
            key = f"{selector}+{labeler}"
            held_here = scifact_open(held, corpus, hits[best_retrieval]["held"], scorers[selector], scorers[labeler], settings)
            report["pipeline"][key] = {"inner": metrics, "settings": settings.to_dict(), "heldout": held_here}
            print("pipeline", key, round(goal, 4), settings, "held label_only", round(held_here["abstract_label_only_f1"], 4),
                  "sel+label", round(held_here["sentence_selection_label_f1"], 4), flush=True)
            if best is None or goal > best[0]:
                best = (goal, selector, labeler, settings)
    assert best is not None
    _, selector, labeler, settings = best
    dense_name, reranker = best_retrieval.split("+")
    report["chosen"] = {
        "selector": selector, "labeler": labeler, "dense": None if dense_name == "minilm" else dense_name,
        "reranker": None if reranker == "none" else reranker, "settings": settings.to_dict(),
        "heldout": report["pipeline"][f"{selector}+{labeler}"]["heldout"],
    }
    print("HELDOUT", json.dumps(report["chosen"]), flush=True)
    _, inner_questions, held_questions = pubmedqa_splits(pubmedqa)
    classifiers = [n for n in trained if n.startswith("pubmedqa") or n.startswith("label_joint")]
    report["pubmedqa"] = {n: {"inner": pubmedqa_scores(inner_questions, scorers[n]), "held": pubmedqa_scores(held_questions, scorers[n])} for n in classifiers}
    report["chosen"]["pubmedqa"] = max(classifiers, key=lambda n: report["pubmedqa"][n]["inner"]["accuracy"]) if classifiers else None
    print("PUBMEDQA", json.dumps(report["pubmedqa"]), "chosen", report["chosen"]["pubmedqa"], flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return report


def ship(out: Path, report: dict[str, Any], folder: Path, pubmedqa: Path) -> None:
    """Copy the chosen models into ``folder`` as the app's artefact (names the app loads) + settings.json."""
    import shutil

    chosen = report["chosen"]
    folder.mkdir(parents=True, exist_ok=True)
    for role, name in (("selector", chosen["selector"]), ("labeler", chosen["labeler"]), ("reranker", chosen["reranker"]),
                       ("pubmedqa", chosen["pubmedqa"]), ("retriever", chosen["dense"])):
        target = folder / f"{role}.safetensors"
        if name:
            shutil.copyfile(out / f"{name}.safetensors", target)
        elif target.exists():
            target.unlink()
    settings = dict(chosen["settings"])
    settings["trained_from"] = {k: chosen[k] for k in ("selector", "labeler", "reranker", "pubmedqa", "dense")}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (folder / "training_report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    fit, inner, _ = pubmedqa_splits(pubmedqa)  # questions used to train or choose: the evaluation skips them
    (folder / "pubmedqa_train_ids.json").write_text(json.dumps(sorted(q.id for q in fit + inner)), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the literature_analysis cross-encoders.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--scifact", type=Path, default=None)
    parser.add_argument("--pubmedqa", type=Path, default=None)
    parser.add_argument("--base", type=Path, default=None, help="MiniLM folder (default: the pip package)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the corpus' dense vectors")
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--ship", type=Path, default=None, help="copy the chosen models here as the app's artefact")
    args = parser.parse_args(argv)
    scifact = args.scifact or datasets_dir() / "scifact"
    pubmedqa = args.pubmedqa or datasets_dir() / "pubmedqa" / "pqal_trainval_500.json"
    args.out.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    if not args.eval_only:
        if args.cache and args.jobs > 1:  # the dense vectors once, before the processes share them
            uncited_candidates([], load_corpus(scifact), args.device, args.base, args.cache)
        if args.jobs > 1 and len(names) > 1:
            common = ["--out", str(args.out), "--device", args.device, "--scifact", str(scifact), "--pubmedqa", str(pubmedqa), "--no-eval"]
            common += ["--base", str(args.base)] if args.base else []
            common += ["--cache", str(args.cache)] if args.cache else []
            running: list[subprocess.Popen[bytes]] = []
            for name in names:
                while len(running) >= args.jobs:
                    running[0].wait()
                    running = [p for p in running if p.poll() is None]
                running.append(subprocess.Popen([sys.executable, "-m", "apps.literature_analysis.train", "--variants", name, *common]))
            codes = [p.wait() for p in running]
            if any(codes):
                print(f"a variant failed: {codes}", file=sys.stderr)
        else:
            for name in names:
                print(json.dumps(train_variant(name, args.out, args.device, scifact, pubmedqa, args.base, args.cache)), flush=True)
    if not args.no_eval:
        report = evaluate_variants(args.out, args.device, scifact, pubmedqa, args.base, args.cache)
        if args.ship:
            ship(args.out, report, args.ship, pubmedqa)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
