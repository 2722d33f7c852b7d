"""The platform reaches Moesaic's own engine with the same OpenAI client it uses for vLLM or DeepSeek:
a live engine server (tiny random-weight V3, CPU) behind a live platform API, driven by the openai SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from moesaic.engine import LLM
from moesaic.engine.async_engine import AsyncEngine
from moesaic.engine.server import build_app


@pytest.fixture(scope="module")
def engine_url(checkpoints):  # type: ignore[no-untyped-def]
    from tests.live import serve

    llm = LLM(checkpoints["v3"], device="cpu", dtype="float32", block_size=8, max_model_len=1024)
    engine = AsyncEngine(llm)
    with serve(build_app(engine, model_name="tiny-v3")) as url:
        yield url + "/v1"
    engine.shutdown()


def test_chat_through_the_platform_runs_on_the_engine(engine_url: str, tmp_path: Path) -> None:
    from openai import OpenAI

    from apps.kb_assistant.manifest import APP
    from moesaic.api.main import create_app
    from moesaic.config import Settings
    from moesaic.llm.openai_compat import OpenAIChatModel
    from moesaic.access import create_api_key
    from moesaic.services import Platform
    from tests.live import serve

    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}")
    model = OpenAIChatModel(engine_url, "tiny-v3", max_retries=0, tool_mode="native")
    platform = Platform.create(settings, model=model, apps={APP.name: APP})
    key = create_api_key(platform.db, "engine-tenant")
    direct = OpenAI(base_url=engine_url, api_key="x").chat.completions.create(
        model="tiny-v3", messages=[{"role": "user", "content": "hello"}], max_tokens=6, temperature=0)
    with serve(create_app(platform=platform)) as url:
        client = OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(
            model="kb_assistant", messages=[{"role": "user", "content": "hello"}], max_tokens=6, temperature=0)
        streamed = client.chat.completions.create(
            model="kb_assistant", messages=[{"role": "user", "content": "hello"}], max_tokens=6, temperature=0, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    platform.close()
    assert direct.usage is not None and direct.usage.completion_tokens == 6
    assert reply.usage is not None and reply.usage.completion_tokens == 6  # the engine's count, through the platform
    assert reply.choices[0].message.content  # random weights: some text, decided by the engine
    assert text == reply.choices[0].message.content  # greedy: streaming and not streaming agree
