"""End-to-end generation through the engine: batching, paged cache, prefix caching, preemption, chunked
prefill and sampling, checked against transformers' greedy tokens."""

from __future__ import annotations

import pytest
import torch

from moesaic.engine import LLM, SamplingParams

NEW_TOKENS = 64
GREEDY = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS, ignore_eos=True)


def make_prompts(seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(2, 300, (n,), generator=gen).tolist() for n in (1, 3, 5, 8, 13, 21, 34, 55)]


@pytest.mark.parametrize("variant", ["v3", "v2lite", "moonlight"])
def test_batched_greedy_matches_transformers(variant, checkpoints, hf_reference):
    prompts, reference = hf_reference
    llm = LLM(checkpoints[variant], device="cpu", dtype="float32", block_size=8)
    outputs = llm.generate(prompts, GREEDY)
    assert [o.token_ids for o in outputs] == reference[variant]
    assert all(o.finish_reason == "length" for o in outputs)


def test_prefix_cache_and_preemption_keep_outputs_identical(checkpoints, hf_reference):
    prompts, reference = hf_reference
    shared = prompts[-1][:40]  # a common 40-token system prefix
    extended = [shared + p for p in prompts]
    roomy = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=4, enable_prefix_caching=False)
    expected = [o.token_ids for o in roomy.generate(extended, GREEDY)]

    # 60 blocks of 4 tokens cannot hold 8 sequences of up to ~160 tokens: the scheduler must preempt.
    tight = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=4, num_kv_blocks=60)
    outputs = tight.generate(extended, GREEDY)
    assert [o.token_ids for o in outputs] == expected
    assert tight.scheduler.num_preemptions > 0
    assert tight.block_manager.num_prefix_hits > 0
    # a second turn over the same prompt reuses its cached blocks and gives the same tokens
    again = tight.generate([extended[3]], GREEDY)[0]
    assert again.num_cached_tokens >= 40
    assert again.token_ids == expected[3]
    # and the unshared original prompts still match transformers
    assert [o.token_ids for o in tight.generate(prompts[:4], GREEDY)] == reference["v3"][:4]


def test_chunked_prefill_matches_whole_prefill(checkpoints, hf_reference):
    prompts, reference = hf_reference
    llm = LLM(checkpoints["moonlight"], device="cpu", dtype="float32", block_size=4, max_num_batched_tokens=16)
    outputs = llm.generate(prompts, GREEDY)
    assert [o.token_ids for o in outputs] == reference["moonlight"]


def test_sampling_seed_top_k_and_stop_token(checkpoints):
    llm = LLM(checkpoints["v2lite"], device="cpu", dtype="float32")
    prompt = make_prompts(seed=3)[4]
    seeded = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=24, seed=7, ignore_eos=True)
    first = llm.generate([prompt, prompt[:5]], [seeded, GREEDY])[0].token_ids
    second = llm.generate([prompt], seeded)[0].token_ids
    assert first == second  # the seed fixes the tokens whatever the batch
    other = llm.generate([prompt], SamplingParams(temperature=1.0, max_tokens=24, seed=8, ignore_eos=True))[0]
    assert other.token_ids != first
    greedy = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=24, ignore_eos=True))[0].token_ids
    top1 = llm.generate([prompt], SamplingParams(temperature=1.5, top_k=1, max_tokens=24, ignore_eos=True))[0]
    assert top1.token_ids == greedy
    stop_at = greedy[5]
    stopped = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=24, stop_token_ids=(stop_at,)))[0]
    assert stopped.token_ids == greedy[: greedy.index(stop_at) + 1]
    assert stopped.finish_reason == "stop"


def test_repetition_penalty_changes_greedy_path(checkpoints):
    llm = LLM(checkpoints["v3"], device="cpu", dtype="float32")
    prompt = make_prompts(seed=4)[3]
    plain = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=32, ignore_eos=True))[0].token_ids
    penalised = llm.generate(
        [prompt], SamplingParams(temperature=0.0, max_tokens=32, ignore_eos=True, repetition_penalty=5.0)
    )[0].token_ids
    assert penalised != plain
    assert len(set(penalised)) >= len(set(plain))


def test_text_prompt_and_stop_string(checkpoints):
    llm = LLM(checkpoints["v3"], device="cpu", dtype="float32")
    out = llm.generate("the quick brown fox", SamplingParams(temperature=0.0, max_tokens=16, ignore_eos=True))[0]
    assert out.prompt_token_ids[0] == llm.tokenizer.bos_token_id
    assert out.text == llm.tokenizer.decode(out.token_ids)
    assert len(out.text) > 0
    stop = out.text[3:6]
    stopped = llm.generate(
        "the quick brown fox", SamplingParams(temperature=0.0, max_tokens=16, ignore_eos=True, stop=(stop,))
    )[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == out.text[: out.text.find(stop)]


def test_prompt_longer_than_context_is_refused(checkpoints):
    from moesaic.engine import ContextLengthError

    llm = LLM(checkpoints["v3"], device="cpu", dtype="float32", max_model_len=64)
    with pytest.raises(ContextLengthError, match="64"):
        llm.generate([list(range(2, 80))], GREEDY)


def test_multi_step_decode_equals_single_steps(checkpoints):
    """Decode runs of several steps (tokens fed back on the device) give the tokens of one step at a time,
    for greedy and seeded sampling, ragged max_tokens, stop ids hit mid-run and the context limit."""
    prompts = make_prompts(seed=6)
    one = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=4, decode_steps=1, max_model_len=72)
    many = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=4, decode_steps=7, max_model_len=72)
    runs: list[int] = []
    run_steps = many.runner.run_decode_steps
    many.runner.run_decode_steps = lambda batch, steps: runs.append(steps) or run_steps(batch, steps)

    ragged = [SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True) for n in (1, 5, 9, 17, 30, 3, 8, 40)]
    expected = one.generate(prompts, ragged)
    got = many.generate(prompts, ragged)
    assert [o.token_ids for o in got] == [o.token_ids for o in expected]
    assert [o.finish_reason for o in got] == [o.finish_reason for o in expected]
    assert len(expected[-1].token_ids) == 72 - len(prompts[-1])  # the 55-token prompt hits max_model_len
    assert runs and max(runs) == 7

    seeded = [SamplingParams(temperature=0.9, top_k=40, max_tokens=20, seed=s, ignore_eos=True) for s in range(8)]
    assert [o.token_ids for o in many.generate(prompts, seeded)] == [o.token_ids for o in one.generate(prompts, seeded)]

    stop_at = expected[4].token_ids[10]
    stopping = SamplingParams(temperature=0.0, max_tokens=30, stop_token_ids=(stop_at,))
    first = one.generate([prompts[4]], stopping)[0]
    again = many.generate([prompts[4]], stopping)[0]
    assert again.token_ids == first.token_ids and again.finish_reason == first.finish_reason == "stop"
    assert len(again.token_ids) <= 11
    assert many.block_manager.num_free_blocks == many.runner.num_blocks  # nothing leaked by early stops
