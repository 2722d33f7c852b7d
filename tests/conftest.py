"""Shared fixtures: real SQLite (and PostgreSQL when MOESAIC_TEST_DATABASE_URL is set), real Chroma,
real MiniLM, the shipped fake model, an API client with a tenant's key, and a real Redis queue (when
MOESAIC_TEST_REDIS_URL is set)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from moesaic.config import Settings  # noqa: E402
from moesaic.llm import FakeChatModel  # noqa: E402

POSTGRES_URL = os.environ.get("MOESAIC_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MOESAIC_TEST_REDIS_URL")
DATASETS_DIR = Path(os.environ.get("MOESAIC_DATASETS_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    if not POSTGRES_URL:
        pytest.skip("MOESAIC_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"moesaic_test_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real Redis plus a queue name of this test's own: ``<url>#<queue>``; its keys are deleted after.

    Runs against MOESAIC_TEST_REDIS_URL (CI sets it to the local Redis); skipped when it is unset,
    failed when it is set and Redis does not answer."""
    if not REDIS_URL:
        pytest.skip("MOESAIC_TEST_REDIS_URL is not set (CI sets it; e.g. redis://127.0.0.1:6379/0)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"MOESAIC_TEST_REDIS_URL={REDIS_URL} is set but Redis does not answer: {exc}")
    name = f"moesaic_test_{secrets.token_hex(6)}"
    yield f"{REDIS_URL}#{name}"
    for key in client.scan_iter(match=f"huey.*{name}*"):
        client.delete(key)
    client.close()


def schema_database_url(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[str]:
    """A database of one test's own: a SQLite file, or a fresh schema in the test PostgreSQL (dropped
    afterwards), for tests whose background work (ingestion, the job reaper) must not see other tests' rows.
    Use it from a fixture parametrised over ``DATABASES``."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'moesaic.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MOESAIC_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=DATABASES)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or a new PostgreSQL database (dropped afterwards).

    Migration tests need one each: the session's shared PostgreSQL database is already at head, and may
    carry apps' Alembic branches that processes without those apps could then no longer upgrade.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MOESAIC_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"moesaic_fresh_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'moesaic.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, datasets_dir=DATASETS_DIR)


@pytest.fixture
def fake_model() -> FakeChatModel:
    return FakeChatModel()


@pytest.fixture
def platform(settings: Settings, fake_model: FakeChatModel):  # type: ignore[no-untyped-def]
    from apps.kb_assistant.manifest import APP
    from moesaic.services import Platform

    built = Platform.create(settings, model=fake_model, apps={APP.name: APP})
    yield built
    built.close()


@pytest.fixture
def api_key(platform) -> str:  # type: ignore[no-untyped-def]
    """A key for a tenant of its own, so tests never see each other's data."""
    from moesaic.access import create_api_key

    return create_api_key(platform.db, f"tenant-{secrets.token_hex(4)}")


@pytest.fixture
def client(platform, api_key):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from moesaic.api.main import create_app

    writes: list[str] = []

    def remember_writes(response) -> None:  # type: ignore[no-untyped-def]
        if response.request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400:
            writes.append(f"{response.request.method} {response.request.url.path}")

    with TestClient(create_app(platform=platform)) as test_client:
        test_client.event_hooks["response"].append(remember_writes)
        test_client.headers["Authorization"] = f"Bearer {api_key}"
        yield test_client
    # every state-changing request that succeeded left an audit row
    from sqlalchemy import func, select

    from moesaic.access.tables import AuditRecord

    with platform.db.session() as session:
        audited = session.scalar(select(func.count()).select_from(AuditRecord))
    assert audited >= len(writes), f"{len(writes)} successful writes but {audited} audit rows: {writes}"
