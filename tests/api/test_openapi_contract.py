"""The OpenAPI schema is the API's contract: every operation has a typed 2xx body, bearer security
unless public, and the error statuses it can return in OpenAI's error shape; chat documents
Moesaic's extensions and its stream events. Walks every operation, so a route added later is checked
without editing this file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi import FastAPI

from moesaic.access.declaration import EXTENSION, parse
from moesaic.api.app_routes import mount_app_router
from moesaic.api.main import create_app
from moesaic.api.openapi import BEARER, document_contract, generic_error_statuses
from moesaic.api.schemas import ConversationState, FinishReason
from moesaic.api.schemas.knowledge import DocumentCounts, DocumentStatus
from moesaic.memory.store import CONVERSATION_STATES
from moesaic.retrieval.tables import DOCUMENT_STATES
from tests.api.gate_world import OTHER_APP

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@pytest.fixture(scope="module")
def app() -> FastAPI:
    api = create_app()
    mount_app_router(api, OTHER_APP)  # an app's routes must get the same contract as core routes
    return api


@pytest.fixture(scope="module")
def schema(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items() if method in METHODS]
    assert len(found) > 30, "too few operations: did the routes stop being included?"
    return found


def component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[1]
    assert name in schema["components"]["schemas"], f"dangling $ref {ref}"
    return schema["components"]["schemas"][name]  # type: ignore[no-any-return]


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in all_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in all_refs(value)]
    return []


def test_every_operation_has_a_typed_success_body(schema) -> None:  # type: ignore[no-untyped-def]
    for method, path, op in operations(schema):
        success = {status: body for status, body in op["responses"].items() if status.startswith("2")}
        assert len(success) == 1, f"{method} {path}: success responses {sorted(success)}"
        status, body = next(iter(success.items()))
        if status == "204":
            assert not body.get("content"), f"{method} {path}: a 204 has no body"
            continue
        content = body.get("content") or {}
        assert content, f"{method} {path}: {status} declares no content"
        for media_type, media in content.items():
            body_schema = media.get("schema") or {}
            assert body_schema, f"{method} {path}: {status} {media_type} has an empty schema"
            if media_type == "application/json" and path.startswith("/v1/") and "/v1/apps/other_app/" not in path:
                assert "$ref" in body_schema, f"{method} {path}: a core JSON body must be a named model, got {body_schema}"


def test_security_is_declared_on_every_non_public_operation_only(schema) -> None:  # type: ignore[no-untyped-def]
    assert schema["components"]["securitySchemes"][BEARER] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"][BEARER]["description"],
    }
    assert "security" not in schema, "public routes must stay public: no global security requirement"
    public = set()
    for method, path, op in operations(schema):
        if op[EXTENSION]["public"]:
            public.add(path)
            assert "security" not in op, f"{method} {path} is public but declares security"
        else:
            assert op.get("security") == [{BEARER: []}], f"{method} {path} needs the bearer key"
    assert {"/healthz", "/readyz", "/metrics", "/v1/sessions"} <= public


def test_error_statuses_follow_the_access_declaration(schema) -> None:  # type: ignore[no-untyped-def]
    for method, path, op in operations(schema):
        rule = parse(op[EXTENSION])
        responses = op["responses"]
        expected = set(generic_error_statuses(rule, method))
        declared = {int(s) for s in responses if s[0] in "45"}
        assert expected <= declared, f"{method} {path}: missing {sorted(expected - declared)}"
        if rule.public:
            assert 403 not in declared, f"{method} {path}: the gate refuses nothing on a public route"
        for status, response in responses.items():
            if status[0] not in "45" or (path, status) == ("/readyz", "503"):  # not ready: the readiness body
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            error = component(schema, ref)["properties"]["error"]
            detail = component(schema, error["$ref"])
            assert set(detail["properties"]) == {"message", "type", "param", "code"}, f"{method} {path} {status}"
            if status == "422":
                assert ref.endswith("/ValidationErrorResponse"), f"{method} {path}: FastAPI's 422 shape is not what we send"


def test_generic_errors_are_derived_from_the_declaration() -> None:
    rule = parse({"public": False, "role": None, "resources": {}})
    assert generic_error_statuses(rule, "get") == (401, 429)  # every key has at least the viewer role
    assert generic_error_statuses(rule, "post") == (401, 429, 403)  # a viewer may not write
    conversation = parse({"public": False, "role": None, "resources": {"conversation": "path:conversation_id"}})
    assert generic_error_statuses(conversation, "get") == (401, 429, 404)  # another app's conversation is a 404
    app = parse({"public": False, "role": None, "resources": {"app": "query:app"}})
    assert generic_error_statuses(app, "get") == (401, 429, 403, 404)
    app_route = parse({"public": False, "role": None, "resources": {"app": "const:shop"}})
    assert generic_error_statuses(app_route, "get") == (401, 429, 403)
    assert generic_error_statuses(parse({"public": True, "role": None, "resources": {}}), "get") == ()


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/v1/chat/completions", {400, 401, 403, 404, 409, 422, 429, 502, 504}),
        ("post", "/v1/conversations/{conversation_id}/handoff", {400, 401, 403, 404, 409, 422, 429}),  # a body: 400 too
        ("post", "/v1/conversations/{conversation_id}/claim", {401, 403, 404, 409, 422, 429}),
        ("post", "/v1/conversations/{conversation_id}/operator-messages", {400, 401, 403, 404, 409, 422, 429}),
        ("post", "/v1/conversations/{conversation_id}/handback", {401, 403, 404, 409, 422, 429}),
        ("post", "/v1/knowledge-bases/{kb}/documents", {400, 401, 403, 404, 409, 413, 415, 422, 429}),
        ("get", "/v1/conversations/{conversation_id}/messages", {401, 404, 422, 429}),
        ("post", "/v1/data-subjects/erase", {400, 401, 403, 409, 422, 429}),  # 409: an app's job still writes
        ("get", "/v1/models", {401, 429}),
        ("get", "/v1/keys", {401, 403, 429}),
        ("post", "/v1/sessions", {400, 401, 422}),
        ("get", "/readyz", {503}),
        ("post", "/v1/apps/other_app/things/{thing_id}/touch", {401, 403, 422, 429}),
    ],
)
def test_route_errors(schema, method: str, path: str, statuses: set[int]) -> None:  # type: ignore[no-untyped-def]
    declared = {int(s) for s in schema["paths"][path][method]["responses"] if s[0] in "45"}
    assert declared == statuses


def test_every_reference_resolves_and_fastapi_422_models_are_gone(schema) -> None:  # type: ignore[no-untyped-def]
    for ref in all_refs(schema):
        component(schema, ref)
    assert not {"HTTPValidationError", "ValidationError"} & set(schema["components"]["schemas"])


def test_chat_documents_moesaic_extensions(schema) -> None:  # type: ignore[no-untyped-def]
    components = schema["components"]["schemas"]
    request = components["ChatCompletionRequest"]["properties"]
    assert {"conversation_id", "knowledge_base"} <= set(request)
    assert all("Moesaic" in request[name]["description"] for name in ("conversation_id", "knowledge_base"))
    ok = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    completion = component(schema, ok["application/json"]["schema"]["$ref"])
    assert {"conversation_id", "conversation_state", "citations", "tool_events"} <= set(completion["required"])
    assert completion["properties"]["citations"]["items"]["$ref"].endswith("/Citation")
    finish = component(schema, completion["properties"]["choices"]["items"]["$ref"])["properties"]["finish_reason"]
    assert {"handed_off", "out_of_scope", "stop", "length"} <= set(finish["enum"])
    assert "handed_off" in finish["description"]

    events = ok["text/event-stream"]["itemSchema"]["properties"]["data"]["contentSchema"]["oneOf"]
    chunk, error = (component(schema, e["$ref"]) for e in events)
    assert {"moesaic_event", "citations", "conversation_state", "conversation_id"} <= set(chunk["properties"])
    tool_event = chunk["properties"]["moesaic_event"]["anyOf"][0]["$ref"]
    assert component(schema, tool_event)["properties"]["type"]["const"] == "tool_call"
    assert component(schema, error["properties"]["error"]["$ref"])["required"] == ["message", "type"]
    assert "[DONE]" in ok["text/event-stream"]["itemSchema"]["properties"]["data"]["description"]


def test_every_finish_reason_of_the_agent_loop_is_documented() -> None:
    source = (ROOT / "platform/moesaic/agent/loop.py").read_text()
    produced = set(re.findall(r'finish_reason\s*=\s*"(\w+)"', source)) - {"tool_calls"}  # the loop maps tool_calls to stop
    assert produced >= {"handed_off", "out_of_scope", "length"}, "the loop changed: update this test's pattern"
    assert produced <= set(get_args(FinishReason))


def test_documented_states_match_the_stores() -> None:
    assert set(get_args(ConversationState)) == set(CONVERSATION_STATES)
    assert set(get_args(DocumentStatus)) == set(DOCUMENT_STATES)
    assert list(DocumentCounts.model_fields) == list(DOCUMENT_STATES)


def test_contract_is_idempotent_and_refuses_an_undeclared_operation(schema) -> None:  # type: ignore[no-untyped-def]
    import copy

    again = document_contract(copy.deepcopy(schema))
    assert again == schema
    bare = {"paths": {"/x": {"get": {"operationId": "x", "responses": {"200": {"description": "ok"}}}}}}
    with pytest.raises(Exception, match="declares no access"):
        document_contract(bare)


def test_the_schema_is_regenerated_when_an_app_is_mounted() -> None:
    api = create_app()
    assert "/v1/apps/other_app/things" not in api.openapi()["paths"]
    mount_app_router(api, OTHER_APP)
    op = api.openapi()["paths"]["/v1/apps/other_app/things"]["get"]
    assert op["security"] == [{BEARER: []}] and {"401", "403"} <= set(op["responses"])


def test_framework_errors_have_the_openai_shape_and_a_true_allow_header(client) -> None:  # type: ignore[no-untyped-def]
    # issue 16, finding 9: a method the path lacks, an unparsable body and an unknown path
    refused = client.request("OPTIONS", "/v1/keys")
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, POST"
    assert refused.json()["error"]["message"].startswith("OPTIONS is not allowed on /v1/keys")
    garbage = client.post("/v1/chat/completions", content=b"\xff\xfe[", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 422 and garbage.json()["error"]["param"] == "body", garbage.text
    assert client.get("/v1/nowhere").json()["error"]["type"] == "not_found_error"
    too_far = client.get("/v1/audit", params={"before_id": 10**21})
    assert too_far.status_code in (403, 422), too_far.text  # was a 500 (an integer the database cannot hold)
