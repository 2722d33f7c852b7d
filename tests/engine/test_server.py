"""The OpenAI-compatible server, live: uvicorn in a thread on a free port, driven with httpx."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from moesaic.engine.async_engine import AsyncEngine
from moesaic.engine.llm_engine import LLM
from moesaic.engine.server import build_app, parse_args
from moesaic.engine.tool_calls import CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, SEP, parse_tool_calls

NEW_TOKENS = 64
MAX_MODEL_LEN = 512


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(checkpoints):
    import uvicorn

    llm = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=8, max_model_len=MAX_MODEL_LEN)
    engine = AsyncEngine(llm)
    app = build_app(engine, model_name="tiny-v3")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", llm
    srv.should_exit = True
    thread.join(timeout=10)
    engine.shutdown()


def test_concurrent_completions_match_transformers(server, hf_reference):
    base, _ = server
    prompts, reference = hf_reference
    expected = reference["v3"]

    def ask(prompt: list[int]) -> dict:
        body = {"prompt": prompt, "max_tokens": NEW_TOKENS, "temperature": 0, "ignore_eos": True}
        return httpx.post(f"{base}/v1/completions", json=body, timeout=120).json()

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(ask, prompts))
    assert [r["choices"][0]["token_ids"] for r in replies] == expected
    assert all(r["usage"]["completion_tokens"] == NEW_TOKENS for r in replies)


def test_text_completion_stream_equals_non_stream(server):
    base, llm = server
    body = {"prompt": "the quick brown fox", "max_tokens": 12, "temperature": 0, "ignore_eos": True}
    whole = httpx.post(f"{base}/v1/completions", json=body, timeout=60).json()["choices"][0]
    pieces, reasons = [], []
    with httpx.stream("POST", f"{base}/v1/completions", json={**body, "stream": True}, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choice = json.loads(line[6:])["choices"][0]
                pieces.append(choice["text"])
                reasons.append(choice["finish_reason"])
    assert "".join(pieces) == whole["text"] == llm.tokenizer.decode(whole["token_ids"])
    assert reasons[-1] == "length" and reasons.count("length") == 1


def test_chat_applies_template_and_streams(server):
    base, llm = server
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
    body = {"messages": messages, "max_tokens": 10, "temperature": 0, "ignore_eos": True}
    reply = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60).json()
    prompt_ids = llm.tokenizer.encode(llm.tokenizer.apply_chat_template(messages))
    assert reply["usage"]["prompt_tokens"] == len(prompt_ids)
    offline = llm.generate([prompt_ids], llm_params(10))[0]
    assert reply["choices"][0]["message"]["content"] == offline.text
    with httpx.stream("POST", f"{base}/v1/chat/completions", json={**body, "stream": True}, timeout=60) as r:
        chunks = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: ") and x != "data: [DONE]"]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == offline.text
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def llm_params(max_tokens: int):
    from moesaic.engine import SamplingParams

    return SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)


def test_too_long_prompt_is_http_400_with_limit(server):
    base, _ = server
    reply = httpx.post(f"{base}/v1/completions", json={"prompt": list(range(2, 2 + MAX_MODEL_LEN))}, timeout=30)
    assert reply.status_code == 400
    assert str(MAX_MODEL_LEN) in reply.json()["error"]["message"]


def test_models_health_and_metrics(server):
    base, _ = server
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    assert httpx.get(f"{base}/v1/models").json()["data"][0]["id"] == "tiny-v3"
    httpx.post(f"{base}/v1/completions", json={"prompt": [5, 6, 7], "max_tokens": 3, "temperature": 0}, timeout=30)
    text = httpx.get(f"{base}/metrics").text
    values = {ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines() if not ln.startswith("#")}
    for name in ("moesaic_queue_depth", "moesaic_running_sequences", "moesaic_kv_blocks_used",
                 "moesaic_prefix_cache_hit_rate", "moesaic_generation_tokens_per_second"):
        assert name in values
    assert values["moesaic_generation_tokens_total"] >= 3


def test_deepseek_tool_calls_parse_both_formats():
    v3 = (
        f"Let me check.{CALLS_BEGIN}{CALL_BEGIN}function{SEP}get_weather\n```json\n"
        f'{{"city": "Tokyo"}}\n```{CALL_END}{CALL_BEGIN}function{SEP}get_time\n```json\n{{}}\n```{CALL_END}{CALLS_END}'
    )
    content, calls = parse_tool_calls(v3)
    assert content == "Let me check."
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Tokyo"}
    v31 = f'{CALLS_BEGIN}{CALL_BEGIN}get_weather{SEP}{{"city": "Paris"}}{CALL_END}{CALLS_END}'
    content, calls = parse_tool_calls(v31)
    assert content == "" and json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert parse_tool_calls("no tools here") == ("no tools here", [])


def test_chat_renders_tools_in_deepseek_format(server):
    _, llm = server
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    prompt = llm.tokenizer.apply_chat_template([{"role": "user", "content": "weather?"}], tools=tools)
    assert "### get_weather" in prompt and "Weather for a city" in prompt and CALLS_BEGIN in prompt
    assert prompt.endswith("<｜User｜>weather?<｜Assistant｜>")


def test_serve_cli_arguments():
    args = parse_args(["serve", "--model", "/m", "--port", "9001", "--device", "cpu", "--dtype", "float32"])
    assert (args.command, args.model, args.port, args.dtype) == ("serve", "/m", 9001, "float32")
    assert args.decode_steps == 8
    assert parse_args(["serve", "--model", "/m", "--decode-steps", "1"]).decode_steps == 1
    with pytest.raises(SystemExit):
        parse_args(["serve", "--model", "/m", "--device", "tpu"])


def test_streamable_holds_back_a_possible_stop_string():
    from moesaic.engine.server import streamable

    assert streamable("hello wor", ["world"]) == "hello "  # "wor" may become "world"
    assert streamable("hello wox", ["world"]) == "hello wox"
    assert streamable("say STOP now", ["STOP"]) == "say "  # a whole stop string is never streamed
    assert streamable("abc", None) == "abc" and streamable("abc", ["", "zz"]) == "abc"
    assert streamable("a-b", ["b!", "-b?"]) == "a"  # the earliest possible start wins
    # what is streamable never shrinks as text grows
    text, stops, last = "xx the end of it", ["end.", "the e"], ""
    for i in range(len(text) + 1):
        now = streamable(text[:i], stops)
        assert now.startswith(last)
        last = now


def _stream_texts(base: str, body: dict) -> list[str]:
    with httpx.stream("POST", f"{base}/v1/completions", json={**body, "stream": True}, timeout=60) as r:
        return [json.loads(line[6:])["choices"][0]["text"] for line in r.iter_lines()
                if line.startswith("data: ") and line != "data: [DONE]"]


def test_stream_never_sends_text_a_stop_string_cuts(server):
    base, _ = server
    # this prompt's greedy output on the tiny model is mostly printable (most are byte soup)
    body = {"prompt": "tell me a story", "max_tokens": 24, "temperature": 0, "ignore_eos": True}
    pieces = _stream_texts(base, body)
    whole = "".join(pieces)
    # a two-character stop string across the boundary of two streamed updates: without holding text back,
    # its first character would already have been sent when the second one arrives
    ends = [len("".join(pieces[: i + 1])) for i in range(len(pieces) - 1)]
    usable = [b - 1 for b in ends if 1 < b < len(whole) and whole[b - 1 : b + 1].isprintable()
              and whole.find(whole[b - 1 : b + 1]) == b - 1]
    assert usable and whole[:2].isprintable(), f"no printable update boundary in {pieces!r}"
    for middle in (usable[0], 0):  # 0: the stop string starts the output, which must come back empty
        stop = whole[middle : middle + 2]
        cut = httpx.post(f"{base}/v1/completions", json={**body, "stop": [stop]}, timeout=60).json()["choices"][0]
        assert cut["text"] == whole[:middle] and cut["finish_reason"] == "stop"
        assert "".join(_stream_texts(base, {**body, "stop": [stop]})) == whole[:middle]
