"""Bad apps stop start-up with a message that names the app and the problem."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.apps import AppManifest, load_apps
from moesaic.config import Settings
from moesaic.db import Base, TenantScoped
from moesaic.errors import ConfigError
from moesaic.llm import FakeChatModel
from tests.apps.contract_app.manifest import APP, MIGRATIONS


class Untenanted(Base):
    __tablename__ = "contract_bad_untenanted"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)


class NeverMigrated(TenantScoped, Base):
    __tablename__ = "contract_bad_never_migrated"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)


def create_platform(tmp_path: Path, *apps: AppManifest):  # type: ignore[no-untyped-def]
    from moesaic.services import Platform

    settings = Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False)
    return Platform.create(settings, model=FakeChatModel(), apps={app.name: app for app in apps}, start_worker=False)


def test_a_table_without_tenant_id_is_refused_naming_app_and_table(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="app 'bad_tables': table 'contract_bad_untenanted' has no tenant_id"):
        AppManifest(name="bad_tables", title="Bad", tables=(Untenanted,), migrations=MIGRATIONS)
    sneaky = APP.model_copy(update={"name": "bad_tables", "tables": (Untenanted,)})  # skips pydantic
    with pytest.raises(ConfigError, match="app 'bad_tables': table 'contract_bad_untenanted' has no tenant_id"):
        create_platform(tmp_path, sneaky)


def test_a_declared_table_its_migrations_do_not_create_stops_start_up(tmp_path: Path) -> None:
    empty = tmp_path / "migrations"
    empty.mkdir()
    app = AppManifest(name="unmigrated", title="Unmigrated", tables=(NeverMigrated,), migrations=empty)
    with pytest.raises(ConfigError, match="app 'unmigrated': table 'contract_bad_never_migrated' is declared but"):
        create_platform(tmp_path, app)


def test_tables_without_a_migrations_folder_are_refused() -> None:
    with pytest.raises(ValidationError, match="app 'no_folder': declares tables but no migrations folder"):
        AppManifest(name="no_folder", title="x", tables=(NeverMigrated,))


@pytest.mark.parametrize(
    ("path", "core"),
    [("/conversations", "/v1/apps/{app}/conversations"), ("/{kind}", "/v1/apps/{app}/conversations")],
)
def test_a_route_over_a_core_route_stops_start_up(tmp_path: Path, path: str, core: str) -> None:
    from moesaic.api.main import create_app

    router = APIRouter()
    router.add_api_route(path, lambda: {}, methods=["GET"])
    app = AppManifest(name="shadow", title="Shadow", router=router)
    platform = create_platform(tmp_path, app)
    try:
        with pytest.raises(ConfigError, match=f"app 'shadow': route GET /v1/apps/shadow{path} collides with the core route {core}"):
            create_app(platform=platform)
    finally:
        platform.close()


def test_an_entry_point_that_fails_to_import_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moesaic.api.main import create_app

    broken = EntryPoint(name="broken", value="tests.apps.contract_app.broken:APP", group="moesaic.apps")
    monkeypatch.setattr("moesaic.apps.registry.entry_points", lambda group: [broken])
    expected = "app 'broken': entry point tests.apps.contract_app.broken:APP failed to import: ModuleNotFoundError"
    with pytest.raises(ConfigError, match=expected):
        load_apps()
    api = create_app(Settings(home=tmp_path / "home", datasets_dir=tmp_path / "none", ingest_worker=False))
    with pytest.raises(ConfigError, match=expected):
        with TestClient(api):
            pass


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"jobs": {"Bad-Name": lambda job: None}}, "job name 'Bad-Name' must match"),
        ({"commands": object()}, "commands must be a typer.Typer"),
        ({"router": object()}, "router must be a fastapi.APIRouter"),
        ({"migrations": Path("/no/such/folder")}, "migrations folder /no/such/folder does not exist"),
    ],
)
def test_bad_extension_points_are_named(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=f"app 'odd': {problem}"):
        AppManifest(name="odd", title="Odd", **fields)  # type: ignore[arg-type]


def test_two_apps_cannot_own_one_knowledge_base_and_platform_is_reserved() -> None:
    from moesaic.apps import AppManifest, AppRegistry
    from moesaic.errors import ConfigError

    first = AppManifest(name="alpha", title="A", system_prompt="a", knowledge_base="shared")
    second = AppManifest(name="beta", title="B", system_prompt="b", knowledge_base="shared")
    with pytest.raises(ConfigError, match="app 'beta': knowledge base 'shared' already belongs to app 'alpha'"):
        AppRegistry({"alpha": first, "beta": second})
    with pytest.raises(ValueError, match="'platform' is reserved"):
        AppManifest(name="platform", title="P")


def test_nested_app_routes_are_owned_by_the_app_and_raw_routes_are_refused(settings, fake_model) -> None:  # type: ignore[no-untyped-def]
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from apps.kb_assistant.manifest import APP as KB_APP
    from moesaic.access import create_api_key
    from moesaic.api.main import create_app
    from moesaic.apps import AppManifest
    from moesaic.errors import ConfigError
    from moesaic.services import Platform

    inner, outer = APIRouter(), APIRouter()

    @inner.get("/secret")
    def secret() -> dict[str, str]:
        return {"secret": "nested"}

    outer.include_router(inner, prefix="/sub")
    nested = AppManifest(name="nested_app", title="Nested", router=outer)
    platform = Platform.create(settings, model=fake_model, apps={nested.name: nested, KB_APP.name: KB_APP})
    try:
        with TestClient(create_app(platform=platform)) as client:
            limited = {"Authorization": f"Bearer {create_api_key(platform.db, 'nest', role='viewer', apps=['kb_assistant'])}"}
            assert client.get("/v1/apps/nested_app/sub/secret", headers=limited).status_code == 403
            allowed = {"Authorization": f"Bearer {create_api_key(platform.db, 'nest', role='viewer')}"}
            assert client.get("/v1/apps/nested_app/sub/secret", headers=allowed).json() == {"secret": "nested"}
    finally:
        platform.close()
    raw = APIRouter()
    raw.add_route("/raw", lambda request: None)
    raw_platform = Platform.create(settings, model=fake_model, apps={"raw_app": AppManifest(name="raw_app", title="Raw", router=raw)})
    try:
        with pytest.raises(ConfigError, match="app 'raw_app': route '/raw' is not an API route"):
            create_app(platform=raw_platform)
    finally:
        raw_platform.close()
