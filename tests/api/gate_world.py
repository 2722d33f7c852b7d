"""A small world for authorisation tests: two tenants, two apps, resources of each, and the caller.

The caller is an admin key of tenant A limited to ``kb_assistant``. Everything it must never reach
is recorded in ``foreign``: resources of tenant B, and resources of tenant A that belong to
``other_app`` (an app with its own knowledge base and its own routes, defined here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from moesaic.access import access, create_account, create_api_key, ensure_tenant, issue_key
from moesaic.apps import AppManifest
from moesaic.types import Message

SECRET_A_OTHER_APP = "OTHER-APP-SECRET-7f3a"
SECRET_B = "TENANT-B-SECRET-91c2"


def other_app_router() -> APIRouter:
    router = APIRouter()

    @router.get("/things")
    def list_things() -> dict[str, Any]:
        return {"data": [SECRET_A_OTHER_APP]}

    @router.post("/things/{thing_id}/touch", openapi_extra=access(role="operator"))
    def touch(thing_id: str) -> dict[str, Any]:
        return {"touched": thing_id, "secret": SECRET_A_OTHER_APP}

    return router


OTHER_APP = AppManifest(
    name="other_app",
    title="Another app",
    system_prompt="You are another app.",
    knowledge_base="other_kb",
    router=other_app_router(),
)


@dataclass
class World:
    caller: str  # an admin key of tenant A limited to kb_assistant
    tenant_a: str
    tenant_b: str
    # resource kind -> scenario ("other_app" | "other_tenant") -> a value the caller must not reach
    foreign: dict[str, dict[str, str]] = field(default_factory=dict)
    # every id of a foreign resource (for undeclared path parameters and the leak check)
    foreign_ids: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = (SECRET_A_OTHER_APP, SECRET_B)


def build_world(platform: Any, suffix: str) -> World:
    tenant_a = ensure_tenant(platform.db, f"gate-a-{suffix}")
    tenant_b = ensure_tenant(platform.db, f"gate-b-{suffix}")
    caller = issue_key(platform.db, tenant_a, name="scoped admin", role="admin", apps=["kb_assistant"])[0]
    store = platform.store

    other_app_conversation = store.create(tenant_a, "other_app")
    store.append(tenant_a, other_app_conversation.id, Message(role="user", content=f"card 4111 {SECRET_A_OTHER_APP}"))
    store.update(tenant_a, other_app_conversation.id, state="handed_off", summary=SECRET_A_OTHER_APP)
    b_conversation = store.create(tenant_b, "kb_assistant")
    store.append(tenant_b, b_conversation.id, Message(role="user", content=f"hello {SECRET_B}"))
    store.update(tenant_b, b_conversation.id, state="handed_off", summary=SECRET_B)

    knowledge = platform.knowledge
    other_kb_doc = knowledge.add_document(tenant_a, "other_kb", "policy.md", f"# Policy\n{SECRET_A_OTHER_APP}\n".encode())
    b_doc = knowledge.add_document(tenant_b, "default", "b.md", f"# B\n{SECRET_B}\n".encode())
    knowledge.add_document(tenant_b, "b_only_kb", "b2.md", f"# B2\n{SECRET_B}\n".encode())

    other_app_job = platform.jobs.enqueue(tenant_a, "other_app", "reindex", {"secret": SECRET_A_OTHER_APP})
    b_job = platform.jobs.enqueue(tenant_b, "kb_assistant", "reindex", {"secret": SECRET_B})

    _, b_key = issue_key(platform.db, tenant_b, name="b admin", role="admin")
    b_account = create_account(platform.db, tenant_b, "b-operator", "a long password 1")
    create_api_key(platform.db, f"gate-b-{suffix}", name="b operator key")

    world = World(caller=caller, tenant_a=tenant_a, tenant_b=tenant_b)
    world.foreign = {
        "app": {"other_app": "other_app"},
        "conversation": {"other_app": other_app_conversation.id, "other_tenant": b_conversation.id},
        "knowledge_base": {"other_app": "other_kb"},
        "job": {"other_app": other_app_job.id, "other_tenant": b_job.id},
    }
    world.foreign_ids = [other_app_conversation.id, b_conversation.id, other_kb_doc.id, b_doc.id, b_key.id, b_account.id,
                         other_app_job.id, b_job.id, *(job for job in (other_kb_doc.job_id, b_doc.job_id) if job)]
    return world
