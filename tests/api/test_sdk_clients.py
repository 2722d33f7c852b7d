"""The official openai SDK and LangChain's ChatOpenAI against a live uvicorn, on embedded defaults.

The model here is the real offline default (``extractive``); a second live server plays a broken
OpenAI-compatible upstream to show the 502/504 path.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from moesaic.api.main import create_app
from moesaic.config import Settings
from moesaic.llm import ExtractiveModel
from moesaic.llm.openai_compat import OpenAIChatModel
from moesaic.access import create_api_key
from moesaic.services import Platform
from tests.live import serve

POLICY = (
    "Warranty policy\n\nEvery Moesaic kettle has a warranty of three years from the date of purchase.\n\n"
    "The warranty does not cover damage from dropping the kettle."
)


@pytest.fixture
def live_api(tmp_path):  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP

    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}")
    platform = Platform.create(settings, model=ExtractiveModel(), apps={APP.name: APP})
    key = create_api_key(platform.db, "sdk-tenant")
    info = platform.knowledge.add_document(_tenant(platform, key), "default", "warranty.md", POLICY.encode())
    platform.knowledge.wait([info.id], timeout=60)
    with serve(create_app(platform=platform)) as url:
        yield url + "/v1", key, info.id
    platform.close()


def _tenant(platform: Platform, key: str) -> str:
    from moesaic.access import authenticate

    return authenticate(platform.db, key).tenant_id


def test_openai_sdk_non_streaming_cites_the_document_and_continues(live_api) -> None:  # type: ignore[no-untyped-def]
    from openai import OpenAI

    base_url, key, document_id = live_api
    client = OpenAI(base_url=base_url, api_key=key)
    completion = client.chat.completions.create(
        model="kb_assistant", messages=[{"role": "user", "content": "How long is the kettle warranty?"}]
    )
    extra = completion.model_extra or {}
    assert "three years from the date of purchase" in completion.choices[0].message.content
    assert "[1]" in completion.choices[0].message.content
    assert extra["citations"][0]["document_id"] == document_id

    follow_up = client.chat.completions.create(
        model="kb_assistant",
        messages=[{"role": "user", "content": "Does it cover dropping the kettle?"}],
        extra_body={"conversation_id": extra["conversation_id"]},
    )
    assert (follow_up.model_extra or {})["conversation_id"] == extra["conversation_id"]
    assert "does not cover damage from dropping" in follow_up.choices[0].message.content
    models = [m.id for m in client.models.list()]
    assert models == ["kb_assistant"]


def test_openai_sdk_streaming(live_api) -> None:  # type: ignore[no-untyped-def]
    from openai import OpenAI

    base_url, key, document_id = live_api
    client = OpenAI(base_url=base_url, api_key=key)
    stream = client.chat.completions.create(
        model="kb_assistant", stream=True, messages=[{"role": "user", "content": "kettle warranty length?"}]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "three years" in text
    assert (chunks[-1].model_extra or {})["citations"][0]["document_id"] == document_id


def test_langchain_chat_openai_works_unchanged(live_api) -> None:  # type: ignore[no-untyped-def]
    from langchain_openai import ChatOpenAI

    base_url, key, _ = live_api
    llm = ChatOpenAI(base_url=base_url, api_key=key, model="kb_assistant", max_retries=0)
    answer = llm.invoke("How long is the kettle warranty?")
    assert "three years" in answer.content
    streamed = "".join(part.content for part in llm.stream("How long is the kettle warranty?"))
    assert "three years" in streamed


def broken_upstream() -> FastAPI:
    upstream = FastAPI()

    @upstream.post("/garbage/chat/completions")
    def garbage() -> PlainTextResponse:
        return PlainTextResponse("<html>this is not JSON</html>")

    @upstream.post("/slow/chat/completions")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(3)
        return PlainTextResponse("{}")

    return upstream


@pytest.mark.parametrize(("path", "status"), [("garbage", 502), ("slow", 504)])
def test_broken_upstream_gives_clear_error_and_keeps_the_message(tmp_path, path, status) -> None:  # type: ignore[no-untyped-def]
    from openai import APIStatusError, OpenAI

    from apps.kb_assistant.manifest import APP

    with serve(broken_upstream()) as upstream_url:
        settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}")
        model = OpenAIChatModel(f"{upstream_url}/{path}", "m", timeout_s=0.5, max_retries=0)
        platform = Platform.create(settings, model=model, apps={APP.name: APP})
        key = create_api_key(platform.db, "t")
        with serve(create_app(platform=platform)) as url:
            client = OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
            started = time.perf_counter()
            with pytest.raises(APIStatusError) as raised:
                client.chat.completions.create(model="kb_assistant", messages=[{"role": "user", "content": "still here?"}])
            assert raised.value.status_code == status
            assert time.perf_counter() - started < 10
            tenant = _tenant(platform, key)
            conversation = platform.store.conversations(tenant)[0]
            assert platform.store.messages(tenant, conversation.id)[0]["content"] == "still here?"
        platform.close()
