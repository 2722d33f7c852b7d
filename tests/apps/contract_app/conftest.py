"""Fixtures for contract_app: a database of its own (its migration must not leak into the session's
shared PostgreSQL database, where platforms without the app would find a revision they do not know)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATABASES, POSTGRES_URL


@pytest.fixture(params=DATABASES)
def own_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'contract.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MOESAIC_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"moesaic_contract_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
