"""Run the token classifier over texts: batched windows in, character spans with scores out.

``Tagger.tag(texts)`` treats each text as one unit (a sentence, or any text: windows cover what is
longer than the encoder's limit) and returns spans whose offsets index that text. It does not split
notes into sentences or decide assertions (``extract`` does both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from apps.medical_ner.decoding import decode
from apps.medical_ner.iob import spans_from_tags
from apps.medical_ner.model import ClassifierConfig, TokenClassifier, base_model_dir, load_classifier
from apps.medical_ner.tokens import Window, Word, encode_words, load_tokenizer, make_windows, owner_of_words

DEFAULT_ARTEFACT = Path(__file__).resolve().parent / "artefact" / "classifier.safetensors"
PRECISIONS = ("fp32", "bf16", "int8")


def default_precision(device: str = "cpu") -> str:
    """``bf16`` where the CPU computes it natively (AVX512-BF16 or AMX; devel F1 within 0.001 of fp32 and
    about 4x faster, docs/BENCHMARKS.md), else ``fp32``. Dynamic int8 lost 0.010-0.016 F1, so it is never
    the default."""
    if device != "cpu":
        return "fp32"
    cpu = torch.cpu
    native = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16" if native else "fp32"


@dataclass(frozen=True)
class ScoredSpan:
    start: int
    end: int
    label: str
    score: float  # mean probability of the decoded tags over the entity's words


class Tagger:
    """A loaded classifier and its tokenizer. Not thread-safe to mutate; ``tag`` itself only reads."""

    def __init__(self, model: TokenClassifier, config: ClassifierConfig, tokenizer_path: Path, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.model = model.to(device)
        self.config = config
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.device = device
        self.batch_size = batch_size
        self.precision = "fp32"
        cls_id, sep_id = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        assert cls_id is not None and sep_id is not None, "the tokenizer has no [CLS]/[SEP]"
        self.cls_id: int = cls_id
        self.sep_id: int = sep_id

    @classmethod
    def load(cls, artefact: Path | None = None, base_dir: Path | None = None, *, device: str = "cpu", precision: str = "fp32") -> "Tagger":
        """The shipped (or given) classifier on the base encoder. ``precision``: ``fp32``, ``bf16`` (weights and
        activations), ``int8`` (dynamic quantization of the linear layers, CPU only) or ``auto``
        (``default_precision``)."""
        if precision == "auto":
            precision = default_precision(device)
        base_dir = Path(base_dir or base_model_dir())
        model, config = load_classifier(Path(artefact or DEFAULT_ARTEFACT), base_dir)
        if precision == "int8":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision == "bf16":
            model = model.to(torch.bfloat16)
        elif precision != "fp32":
            raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
        tagger = cls(model, config, base_dir / "tokenizer.json", device=device)
        tagger.precision = precision
        return tagger

    def word_scores(self, texts: Sequence[str]) -> list[tuple[list[Word], torch.Tensor]]:
        """For each text: its words and their tag log-probabilities [W, K] (on the CPU)."""
        encoded = [encode_words(self.tokenizer, text) for text in texts]
        windows: list[tuple[int, int, Window]] = []  # (text index, window index within text, window)
        per_text: list[list[Window]] = []
        for index, words in enumerate(encoded):
            text_windows = make_windows(words, self.cls_id, self.sep_id, self.config.max_subwords) if words else []
            per_text.append(text_windows)
            windows.extend((index, w, window) for w, window in enumerate(text_windows))
        rows: dict[tuple[int, int], torch.Tensor] = {}
        order = sorted(range(len(windows)), key=lambda i: len(windows[i][2].input_ids))
        self.model.eval()
        with torch.inference_mode():
            for begin in range(0, len(order), self.batch_size):
                batch = [windows[i] for i in order[begin : begin + self.batch_size]]
                length = max(len(w.input_ids) for _, _, w in batch)
                ids = torch.zeros(len(batch), length, dtype=torch.long)
                mask = torch.zeros(len(batch), length, dtype=torch.long)
                for row, (_, _, window) in enumerate(batch):
                    ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
                    mask[row, : len(window.input_ids)] = 1
                log_probs = torch.log_softmax(self.model(ids.to(self.device), mask.to(self.device)).float(), dim=-1).cpu()  # [B, T, K]
                for row, (text_index, window_index, window) in enumerate(batch):
                    rows[(text_index, window_index)] = log_probs[row, list(window.word_positions)]  # [words in window, K]
        results = []
        num_tags = len(self.config.tags)
        for index, words in enumerate(encoded):
            if not words:
                results.append((words, torch.zeros(0, num_tags)))
                continue
            owners = owner_of_words(per_text[index], len(words))
            scores = torch.stack([rows[(index, window)][position] for window, position in owners])  # [W, K]
            results.append((words, scores))
        return results

    def tag(self, texts: Sequence[str], *, decoding: str = "viterbi") -> list[list[ScoredSpan]]:
        """Entities of each text as character spans of that text."""
        tags = self.config.tags
        found: list[list[ScoredSpan]] = []
        for words, log_probs in self.word_scores(texts):
            decoded = decode(log_probs, tags, decoding)
            offsets = [(w.start, w.end) for w in words]
            probs = log_probs.exp()
            chosen = [float(probs[i, tags.index(t)]) for i, t in enumerate(decoded)]
            spans = []
            for span in spans_from_tags(decoded, offsets):
                inside = [chosen[i] for i, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]
                spans.append(ScoredSpan(span.start, span.end, span.label, round(sum(inside) / len(inside), 4)))
            found.append(spans)
        return found
