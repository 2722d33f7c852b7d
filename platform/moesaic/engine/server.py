"""OpenAI-compatible HTTP server over the engine: /v1/completions, /v1/chat/completions (SSE streaming,
DeepSeek tool calls), /v1/models, /health and Prometheus /metrics.

`main(argv)` implements `serve --model DIR ...`. FastAPI and uvicorn are imported inside the functions
that need them, so `moesaic.engine` imports without them. GPU work happens only in the engine thread.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moesaic.engine.async_engine import AsyncEngine, Delta
from moesaic.engine.llm_engine import LLM
from moesaic.engine.protocol import ChatCompletionRequest, CompletionRequest
from moesaic.engine.tool_calls import CALLS_BEGIN, parse_tool_calls

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_MAX_TOKENS = 256


def _error(status: int, message: str, code: str) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        status_code=status, content={"error": {"message": message, "type": "invalid_request_error", "code": code}}
    )


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def streamable(text: str, stops: Sequence[str] | None, sent: str = "") -> str:
    """The part of a running generation's text that may be streamed now. Waiting for the next tokens: text
    that could still turn out to be the start of a stop string (which is cut from the output), and text
    that ends in an incomplete UTF-8 sequence. Never less than what was already `sent`."""
    cut = len(text)
    for stop in stops or ():
        if not stop:
            continue
        found = text.find(stop)
        if found >= 0:
            cut = min(cut, found)
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                cut = min(cut, len(text) - size)
                break
    text = text[:cut]
    return sent if text.endswith("\ufffd") or len(text) < len(sent) else text


def build_app(engine: AsyncEngine, model_name: str) -> FastAPI:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse, StreamingResponse

    llm: LLM = engine.llm
    app = FastAPI(title="moesaic engine")

    def check_length(token_ids: list[int]) -> Any:
        if len(token_ids) >= llm.max_model_len:
            return _error(
                400,
                f"This model's maximum context length is {llm.max_model_len} tokens; the prompt has "
                f"{len(token_ids)} tokens.",
                "context_length_exceeded",
            )
        return None

    def usage(prompt_tokens: int, completion_tokens: int, cached: int) -> dict[str, Any]:
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    async def collect(request: Any) -> tuple[list[int], Delta]:
        token_ids: list[int] = []
        while True:
            delta: Delta = await request.out.get()
            token_ids.extend(delta.token_ids)
            if delta.finished:
                return token_ids, delta

    def decode(ids: list[int], skip_special: bool = True) -> str:
        return llm.tokenizer.decode(ids, skip_special_tokens=skip_special) if llm.tokenizer else ""

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        card = {"id": model_name, "object": "model", "owned_by": "moesaic", "max_model_len": llm.max_model_len}
        return {"object": "list", "data": [card]}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        sched, blocks = llm.scheduler, llm.block_manager
        lines = [
            ("moesaic_queue_depth", "gauge", "Requests waiting for admission", len(sched.waiting)),
            ("moesaic_running_sequences", "gauge", "Sequences in the running batch", len(sched.running)),
            ("moesaic_kv_blocks_used", "gauge", "Paged latent-cache blocks in use", blocks.num_used_blocks),
            ("moesaic_kv_blocks_total", "gauge", "Paged latent-cache blocks", len(blocks.blocks)),
            ("moesaic_prefix_cache_hit_rate", "gauge", "Prompt blocks served from the prefix cache", blocks.prefix_hit_rate),
            ("moesaic_generation_tokens_per_second", "gauge", "Output tokens/s over the last 10 s", engine.tokens_per_second()),
            ("moesaic_generation_tokens_total", "counter", "Output tokens generated", llm.stats.num_generated_tokens),
            ("moesaic_prompt_tokens_total", "counter", "Prompt tokens received", llm.stats.num_prompt_tokens),
            ("moesaic_preemptions_total", "counter", "Sequences preempted for cache space", sched.num_preemptions),
        ]
        text = "".join(f"# HELP {n} {h}\n# TYPE {n} {t}\n{n} {float(v)}\n" for n, t, h, v in lines)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> Any:
        try:
            token_ids = llm.encode_prompt(body.prompt)
        except ValueError as exc:
            return _error(400, str(exc), "invalid_prompt")
        if (refusal := check_length(token_ids)) is not None:
            return refusal
        try:
            params = body.sampling_params(DEFAULT_MAX_TOKENS)
        except ValueError as exc:
            return _error(400, str(exc), "invalid_parameter")
        request = engine.submit(token_ids, params)
        rid, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

        if body.stream:
            async def events() -> AsyncIterator[str]:
                out: list[int] = []
                sent = ""
                try:
                    while True:
                        delta: Delta = await request.out.get()
                        out.extend(delta.token_ids)
                        text = delta.text if delta.finished and delta.text is not None else decode(out)
                        if not delta.finished:
                            text = streamable(text, params.stop, sent)
                        choice = {
                            "index": 0,
                            "text": text[len(sent) :],
                            "token_ids": delta.token_ids,
                            "finish_reason": delta.finish_reason if delta.finished else None,
                        }
                        sent = text
                        yield _sse({"id": rid, "object": "text_completion", "created": created, "model": model_name,
                                    "choices": [choice]})
                        if delta.finished:
                            break
                finally:
                    engine.cancel(request)
                yield _sse("[DONE]")

            return StreamingResponse(events(), media_type="text/event-stream")

        out, last = await collect(request)
        if last.error:
            return _error(400, last.error, "engine_error")
        return {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": model_name,
            "choices": [
                {"index": 0, "text": last.text or "", "token_ids": out, "finish_reason": last.finish_reason,
                 "logprobs": None}
            ],
            "usage": usage(len(token_ids), len(out), last.num_cached_tokens),
        }

    @app.post("/v1/chat/completions")
    async def chat(body: ChatCompletionRequest) -> Any:
        if llm.tokenizer is None:
            return _error(400, "this model has no tokenizer.json; use /v1/completions with token ids", "no_tokenizer")
        try:
            prompt = llm.tokenizer.apply_chat_template(
                [m.model_dump(exclude_none=True) for m in body.messages], tools=body.tools
            )
            params = body.sampling_params(DEFAULT_MAX_TOKENS)
        except ValueError as exc:
            return _error(400, str(exc), "invalid_request")
        token_ids = llm.tokenizer.encode(prompt, add_special_tokens=False)
        if (refusal := check_length(token_ids)) is not None:
            return refusal
        request = engine.submit(token_ids, params)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        eos_text = llm.tokenizer.eos_token or ""

        def final_text(ids: list[int], last: Delta) -> str:
            raw = decode(ids, skip_special=False)
            if eos_text:
                raw = raw.split(eos_text)[0]
            if last.finish_reason == "stop" and params.stop and last.text is not None and CALLS_BEGIN not in raw:
                return last.text
            return raw

        if body.stream:
            async def events() -> AsyncIterator[str]:
                out: list[int] = []
                sent = ""
                head = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model_name}
                yield _sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
                try:
                    while True:
                        delta: Delta = await request.out.get()
                        out.extend(delta.token_ids)
                        text = final_text(out, delta) if delta.finished else streamable(decode(out), params.stop, sent)
                        if CALLS_BEGIN in decode(out, skip_special=False):
                            text = sent  # hold tool-call markup back; it is sent parsed at the end
                        if text[len(sent) :]:
                            yield _sse({**head, "choices": [{"index": 0, "delta": {"content": text[len(sent) :]},
                                                             "finish_reason": None}]})
                            sent = text
                        if delta.finished:
                            _, calls = parse_tool_calls(final_text(out, delta))
                            final: dict[str, Any] = {}
                            reason = delta.finish_reason
                            if calls:
                                final["tool_calls"] = [{**c, "index": i} for i, c in enumerate(calls)]
                                reason = "tool_calls"
                            yield _sse({**head, "choices": [{"index": 0, "delta": final, "finish_reason": reason}]})
                            break
                finally:
                    engine.cancel(request)
                yield _sse("[DONE]")

            return StreamingResponse(events(), media_type="text/event-stream")

        out, last = await collect(request)
        if last.error:
            return _error(400, last.error, "engine_error")
        content, calls = parse_tool_calls(final_text(out, last))
        message: dict[str, Any] = {"role": "assistant", "content": content if (content or not calls) else None}
        reason = last.finish_reason
        if calls:
            message["tool_calls"] = calls
            reason = "tool_calls"
        return {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model_name,
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": usage(len(token_ids), len(out), last.num_cached_tokens),
        }

    app.state.engine = engine
    return app


def create_server_app(
    model_dir: str | Path, device: str = "cpu", dtype: str | None = None, **engine_kwargs: Any
) -> FastAPI:
    llm = LLM(model_dir, device=device, dtype=dtype, **engine_kwargs)
    return build_app(AsyncEngine(llm), model_name=Path(model_dir).name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="moesaic engine", description="Moesaic DeepSeek-family inference engine")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    serve.add_argument("--model", required=True, help="directory with config.json, safetensors and tokenizer")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    serve.add_argument("--dtype", choices=("float32", "bfloat16"), default=None)
    serve.add_argument("--max-model-len", type=int, default=None)
    serve.add_argument("--max-num-seqs", type=int, default=256)
    serve.add_argument("--block-size", type=int, default=16)
    serve.add_argument("--gpu-memory-utilization", type=float, default=0.90)
    serve.add_argument(
        "--decode-steps", type=int, default=8,
        help="decode steps run back to back when nobody waits (fewer: new requests start sooner)",
    )
    serve.add_argument("--served-model-name", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse_args(argv)
    llm = LLM(
        args.model,
        device=args.device,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs,
        block_size=args.block_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        decode_steps=args.decode_steps,
    )
    app = build_app(AsyncEngine(llm), model_name=args.served_model_name or Path(args.model).name)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
