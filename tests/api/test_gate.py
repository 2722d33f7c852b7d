"""The authorisation gate, walked over every route of the OpenAPI schema.

Each route declares what it owns (``x-moesaic-access``). For every declared resource the walk sends
the resource of another app and of another tenant; every undeclared path parameter gets each id of
the other tenant's and the other app's resources. Any 2xx is a failure, and no 2xx anywhere in the walk
may carry the foreign resources' secrets or ids. A route added later is walked without editing this.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apps.kb_assistant.manifest import APP as KB_APP
from moesaic.api.main import create_app
from moesaic.services import Platform
from tests.api.gate_world import OTHER_APP, World, build_world

READS = ("get", "head")


@pytest.fixture
def gate(settings, fake_model):  # type: ignore[no-untyped-def]
    platform = Platform.create(settings, model=fake_model, apps={KB_APP.name: KB_APP, OTHER_APP.name: OTHER_APP})
    world = build_world(platform, secrets.token_hex(3))
    with TestClient(create_app(platform=platform)) as client:
        client.headers["Authorization"] = f"Bearer {world.caller}"
        yield client, world
    platform.close()


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in node:  # Optional[X]: take the first non-null branch
        node = next(n for n in node["anyOf"] if n.get("type") != "null")
        return resolve(schema, node)
    return node


def example(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """A small valid value for a JSON schema node (required fields only)."""
    node = resolve(schema, node)
    if "enum" in node:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {name: example(schema, node["properties"][name]) for name in node.get("required", [])}
    if kind == "array":
        return [example(schema, node.get("items", {"type": "string"}))] * max(1, node.get("minItems", 1))
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return "x" * max(1, node.get("minLength", 1)) if not node.get("pattern") else "user1"


def base_body(schema: dict[str, Any], operation: dict[str, Any]) -> tuple[Any, bool]:
    """(body, is_multipart) for an operation, or (None, False) when it takes no body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = example(schema, content["application/json"]["schema"])
        if isinstance(body, dict) and "messages" in body:  # chat: a real last user message
            body["messages"] = [{"role": "user", "content": "hello"}]
        return body, False
    if "multipart/form-data" in content:
        return None, True
    return None, False


def requests_for(schema: dict[str, Any], path: str, method: str, operation: dict[str, Any], world: World):  # type: ignore[no-untyped-def]
    """Every (description, url, body, multipart) that points the route at something foreign."""
    rule = operation["x-moesaic-access"]
    declared = {where.split(":", 1)[1]: (kind, where.split(":", 1)[0]) for kind, where in rule["resources"].items()}
    params = re.findall(r"\{(\w+)\}", path)
    body, multipart = base_body(schema, operation)
    own = {"app": "kb_assistant", "knowledge_base": "default"}

    def url_with(values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)

    def fill_own() -> dict[str, str]:
        return {p: own.get(declared[p][0], "own") if p in declared else "own" for p in params}

    # 1. each declared resource, set to a foreign value while the rest stay the caller's own
    for name, (kind, source) in declared.items():
        for scenario, value in world.foreign.get(kind, {}).items():
            values, query, payload = fill_own(), {}, dict(body) if isinstance(body, dict) else body
            if source == "path":
                values[name] = value
            elif source == "query":
                query[name] = value
            elif source == "body":
                payload = {**(payload or {}), name: value}
            elif source == "const":
                continue  # an app route: the app itself is the resource (covered by the caller's scope below)
            yield f"{kind}={scenario}", url_with(values), query, payload, multipart
    # 2. undeclared path parameters: every foreign id
    for name in params:
        if name in declared:
            continue
        for foreign_id in world.foreign_ids:
            values = fill_own()
            values[name] = foreign_id
            yield f"{name}={foreign_id}", url_with(values), {}, body, multipart
    # 3. app routes (declared const app) the caller may not use, with its own values
    const_app = next((w.split(":", 1)[1] for k, w in rule["resources"].items() if k == "app" and w.startswith("const:")), None)
    if const_app is not None and const_app != "kb_assistant":
        yield f"app route of {const_app}", url_with({p: "own" for p in params}), {}, body, multipart


def send(client: TestClient, method: str, url: str, query: dict[str, str], body: Any, multipart: bool):  # type: ignore[no-untyped-def]
    if multipart:
        return client.request(method.upper(), url, params=query, files={"file": ("probe.txt", b"probe text")})
    return client.request(method.upper(), url, params=query, json=body)


def test_no_route_reaches_another_apps_or_tenants_resources(gate) -> None:  # type: ignore[no-untyped-def]
    client, world = gate
    schema = client.get("/openapi.json").json()
    reached, walked, probes = [], 0, 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            rule = operation.get("x-moesaic-access")
            assert rule is not None, f"{method.upper()} {path} has no access declaration"
            if rule["public"]:
                continue
            walked += 1
            for label, url, query, body, multipart in requests_for(schema, path, method, operation, world):
                probes += 1
                response = send(client, method, url, query, body, multipart)
                if 200 <= response.status_code < 300:
                    reached.append(f"{method.upper()} {url} ({label}) -> {response.status_code}")
            # tenant-wide reads with the caller's own values must not show foreign data either
            if method in READS and "{" not in path:
                response = client.get(path)
                text = response.text
                leaked = [s for s in (*world.secrets, *world.foreign_ids) if s in text]
                if 200 <= response.status_code < 300 and leaked:
                    reached.append(f"GET {path} shows {leaked}")
    assert walked >= 30 and probes >= 60, f"walked only {walked} routes with {probes} probes"
    print(f"walked {walked} routes with {probes} probes")
    assert not reached, "the gate let these through:\n" + "\n".join(reached)


def test_every_route_declares_its_access(gate) -> None:  # type: ignore[no-untyped-def]
    client, _ = gate
    schema = client.get("/openapi.json").json()
    undeclared = [f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m, op in ops.items() if "x-moesaic-access" not in op]
    assert undeclared == []
    assert schema["paths"]["/v1/apps/other_app/things"]["get"]["x-moesaic-access"]["resources"] == {"app": "const:other_app"}
