"""Tiny random-weight DeepSeek checkpoints (V3 with groups and bias + YaRN, V2-Lite style, Moonlight style),
written with transformers' save_pretrained, plus a tiny byte-level BPE tokenizer and a DeepSeek-style
chat template. Everything is built offline in temporary directories, once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
SPECIAL_TOKENS = [
    BOS,
    EOS,
    "<｜User｜>",
    "<｜Assistant｜>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁sep｜>",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] or '' }}<｜end▁of▁sentence｜>"
    "{% elif m['role'] == 'tool' %}<｜User｜>tool result: {{ m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜>{% endif %}"
)
SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "mixture of experts models route each token to a few experts",
    "multi head latent attention caches a compressed latent per token",
    "hello world, this is a tiny tokenizer for engine tests",
    "what is the weather in tokyo today? it is sunny and warm",
]
VOCAB_SIZE = 384

COMMON = dict(
    vocab_size=VOCAB_SIZE,
    hidden_size=64,
    intermediate_size=96,
    moe_intermediate_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=4,
    kv_lora_rank=32,
    qk_nope_head_dim=16,
    qk_rope_head_dim=8,
    v_head_dim=16,
    first_k_dense_replace=1,
    max_position_embeddings=1024,
    bos_token_id=0,
    eos_token_id=1,
    tie_word_embeddings=False,
)

VARIANTS = {
    # DeepSeek-V3: q low-rank, sigmoid scoring, 4 groups pick 2, correction bias, YaRN with mscale.
    "v3": dict(
        model_type="deepseek_v3",
        q_lora_rank=48,
        n_routed_experts=16,
        n_shared_experts=1,
        num_experts_per_tok=4,
        n_group=4,
        topk_group=2,
        norm_topk_prob=True,
        routed_scaling_factor=2.5,
        rope_parameters=dict(
            rope_type="yarn",
            rope_theta=10000.0,
            factor=4.0,
            original_max_position_embeddings=256,
            beta_fast=32,
            beta_slow=1,
            mscale=1.0,
            mscale_all_dim=0.8,
        ),
    ),
    # DeepSeek-V2-Lite: no q compression, softmax scoring, greedy top-k, no renormalisation.
    "v2lite": dict(
        model_type="deepseek_v2",
        q_lora_rank=None,
        n_routed_experts=8,
        n_shared_experts=2,
        num_experts_per_tok=2,
        topk_method="greedy",
        norm_topk_prob=False,
        routed_scaling_factor=1.0,
    ),
    # Moonlight-16B-A3B: deepseek_v3, one group, no q compression, sigmoid with bias.
    "moonlight": dict(
        model_type="deepseek_v3",
        q_lora_rank=None,
        n_routed_experts=8,
        n_shared_experts=2,
        num_experts_per_tok=3,
        n_group=1,
        topk_group=1,
        norm_topk_prob=True,
        routed_scaling_factor=2.446,
    ),
}


def build_tokenizer(model_dir: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 16,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    assert tok.get_vocab_size() <= VOCAB_SIZE, "tokenizer vocab must fit the model"
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "add_bos_token": True,
                "bos_token": {"content": BOS},
                "eos_token": {"content": EOS},
                "chat_template": CHAT_TEMPLATE,
            }
        )
    )


def build_checkpoint(model_dir: Path, variant: str, seed: int = 0) -> None:
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

    spec = {**COMMON, **VARIANTS[variant]}
    model_type = spec.pop("model_type")
    torch.manual_seed(seed)
    if model_type == "deepseek_v3":
        model = DeepseekV3ForCausalLM(DeepseekV3Config(**spec))
    else:
        model = DeepseekV2ForCausalLM(DeepseekV2Config(**spec))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.uniform_(0.8, 1.2)
            elif name.endswith("mlp.gate.weight"):
                p.normal_(0.0, 0.5)  # well separated router scores
            else:
                p.normal_(0.0, 0.08)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn_like(b) * 0.05)
    model.save_pretrained(model_dir)
    build_tokenizer(model_dir)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for i, variant in enumerate(VARIANTS):
        path = root / variant
        path.mkdir()
        build_checkpoint(path, variant, seed=i)
        out[variant] = path
    return out


@pytest.fixture(scope="session")
def hf_models(checkpoints: dict[str, Path]) -> dict[str, torch.nn.Module]:
    from transformers import AutoModelForCausalLM

    return {
        name: AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        for name, path in checkpoints.items()
    }


def _hf_greedy(model: torch.nn.Module, prompt: list[int], max_new_tokens: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return out[0, len(prompt) :].tolist()


@pytest.fixture(scope="session")
def hf_greedy():  # type: ignore[no-untyped-def]
    """transformers' greedy continuation of one prompt (ignoring EOS)."""
    return _hf_greedy


@pytest.fixture(scope="session")
def hf_reference(hf_models):  # type: ignore[no-untyped-def]
    """8 prompts of lengths 1..55 and transformers' 64 greedy tokens for each, per variant."""
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(2, 300, (n,), generator=gen).tolist() for n in (1, 3, 5, 8, 13, 21, 34, 55)]
    return prompts, {name: [_hf_greedy(m, p, 64) for p in prompts] for name, m in hf_models.items()}
