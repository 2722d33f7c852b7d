"""``/v1/jobs``: a job's record, the filtered list and cancel, always inside the caller's tenant."""

from __future__ import annotations

import time

from moesaic.access import authenticate, create_api_key


def wait_for(client, job_id: str, state: str, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("state") == state or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_an_upload_is_an_ingest_job_with_a_visible_record(client) -> None:  # type: ignore[no-untyped-def]
    upload = client.post("/v1/knowledge-bases/notes/documents", files={"file": ("a.txt", b"Walruses sing at dawn.", "text/plain")})
    assert upload.status_code == 201, upload.text
    job = wait_for(client, upload.json()["job_id"], "succeeded")
    assert job["state"] == "succeeded", job
    assert job["app"] == "platform" and job["kind"] == "ingest" and job["attempts"] == 1
    assert job["payload"] == {"document_id": upload.json()["id"], "version": 1, "knowledge_base": "notes"}
    assert job["result"]["status"] == "indexed" and job["result"]["num_chunks"] == 1
    listed = client.get("/v1/jobs", params={"app": "platform", "state": "succeeded"}).json()["data"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert client.get("/v1/jobs", params={"state": "queued"}).json()["data"] == []


def test_another_tenants_job_is_not_found(client, platform) -> None:  # type: ignore[no-untyped-def]
    other_key = create_api_key(platform.db, "someone-else")
    other = authenticate(platform.db, other_key)
    theirs = platform.jobs.enqueue(other.tenant_id, "jobs_test", "effect", {"n": 1})  # no handler here: stays queued
    assert client.get(f"/v1/jobs/{theirs.id}").status_code == 404
    assert client.post(f"/v1/jobs/{theirs.id}/cancel").status_code == 404
    assert client.get("/v1/jobs").json()["data"] == []
    assert platform.jobs.get(other.tenant_id, theirs.id).state == "queued"  # the probe changed nothing
    seen = client.get(f"/v1/jobs/{theirs.id}", headers={"Authorization": f"Bearer {other_key}"})
    assert seen.status_code == 200 and seen.json()["state"] == "queued"


def test_cancel_and_its_conflicts(client, platform, api_key) -> None:  # type: ignore[no-untyped-def]
    tenant_id = authenticate(platform.db, api_key).tenant_id
    job = platform.jobs.enqueue(tenant_id, "jobs_test", "effect", {"n": 1})
    cancelled = client.post(f"/v1/jobs/{job.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.post(f"/v1/jobs/{job.id}/cancel").json()["state"] == "cancelled"  # again: same answer
    upload = client.post("/v1/knowledge-bases/notes/documents", files={"file": ("b.txt", b"Otters hold hands.", "text/plain")})
    wait_for(client, upload.json()["job_id"], "succeeded")
    refused = client.post(f"/v1/jobs/{upload.json()['job_id']}/cancel")
    assert refused.status_code == 409 and "already succeeded" in refused.json()["error"]["message"]
    assert client.get("/v1/jobs", params={"state": "paused"}).status_code == 422


def test_a_key_limited_to_other_apps_sees_only_their_jobs(client, platform, api_key) -> None:  # type: ignore[no-untyped-def]
    principal = authenticate(platform.db, api_key)
    tenant_name = "limited-tenant"
    limited_key = create_api_key(platform.db, tenant_name, apps=["kb_assistant"])
    tenant_id = authenticate(platform.db, limited_key).tenant_id
    hidden = platform.jobs.enqueue(tenant_id, "jobs_test", "effect", {"n": 1})
    core = platform.jobs.enqueue(tenant_id, "platform", "noop", {})
    headers = {"Authorization": f"Bearer {limited_key}"}
    assert client.get(f"/v1/jobs/{hidden.id}", headers=headers).status_code == 404
    assert client.post(f"/v1/jobs/{hidden.id}/cancel", headers=headers).status_code == 404
    refused = client.get("/v1/jobs", params={"app": "jobs_test"}, headers=headers)
    assert refused.status_code == 404 and "unknown app 'jobs_test'" in refused.json()["error"]["message"]  # not installed
    assert [j["id"] for j in client.get("/v1/jobs", headers=headers).json()["data"]] == [core.id]
    assert principal.tenant_id != tenant_id


def test_cancelling_an_ingest_job_fails_its_document_with_the_reason(client, platform) -> None:  # type: ignore[no-untyped-def]
    platform.jobs.stop()  # no consumer: the upload's job stays queued
    upload = client.post("/v1/knowledge-bases/notes/documents", files={"file": ("c.txt", b"Seals nap on rocks.", "text/plain")})
    job = client.post(f"/v1/jobs/{upload.json()['job_id']}/cancel").json()
    assert job["state"] == "cancelled"
    document = client.get(f"/v1/knowledge-bases/notes/documents/{upload.json()['id']}").json()
    assert document["status"] == "failed" and document["error"] == "ingestion was cancelled"
    again = client.post("/v1/knowledge-bases/notes/documents", files={"file": ("c.txt", b"Seals nap on rocks.", "text/plain")})
    assert again.json()["version"] == 2 and again.json()["job_id"] != job["id"]  # an upload retries it
