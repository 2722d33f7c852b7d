"""Finding apps: the ``moesaic.apps`` entry-point group, and the registry of the apps one process runs.

Built-in apps take the same road as third-party ones (they are registered in pyproject.toml). Every
failure names the app and the problem, so a broken app stops start-up with a message an operator can
act on. This module loads manifests only; it does not set apps up (``moesaic.services`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

from moesaic.apps.manifest import AppManifest
from moesaic.errors import ConfigError, NotFound

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "moesaic.apps"


def load_apps() -> dict[str, AppManifest]:
    """Load every registered app; a broken entry point fails loudly with its name."""
    apps: dict[str, AppManifest] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            manifest = ep.load()
        except Exception as exc:
            raise ConfigError(f"app {ep.name!r}: entry point {ep.value} failed to import: "
                              f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(manifest, AppManifest):
            raise ConfigError(f"app {ep.name!r}: entry point {ep.value} must be an AppManifest, "
                              f"got {type(manifest).__name__}")
        if manifest.name != ep.name:
            raise ConfigError(f"app {ep.name!r}: entry point {ep.value} names its manifest {manifest.name!r}")
        apps[manifest.name] = manifest
    return apps


def check_app(app: AppManifest) -> AppManifest:
    """Raise ``ConfigError`` naming the app and each problem (manifests copied with ``model_copy``
    skip pydantic's validation, so the registry checks again)."""
    problems = app.problems()
    if problems:
        raise ConfigError("; ".join(problems))
    return app


def migration_folders(apps: Iterable[AppManifest]) -> list[Path]:
    """The Alembic folders of ``apps``: what ``Database.migrate`` needs besides the core revisions.

    Every process that migrates a database must pass the folders of every app that has ever migrated
    it: Alembic refuses to upgrade a database whose version table names a revision it cannot find.
    """
    return [Path(app.migrations) for app in apps if app.migrations is not None]


class AppRegistry:
    """The apps this process runs, by name."""

    def __init__(self, apps: dict[str, AppManifest]) -> None:
        for name, app in apps.items():
            if app.name != name:
                raise ConfigError(f"app {name!r} is registered under another manifest name {app.name!r}")
            check_app(app)
        owners: dict[str, str] = {}
        for name, app in sorted(apps.items()):
            if app.knowledge_base and owners.setdefault(app.knowledge_base, name) != name:
                raise ConfigError(f"app {name!r}: knowledge base {app.knowledge_base!r} already belongs to app "
                                  f"{owners[app.knowledge_base]!r} (an app owns its knowledge base; name another)")
        self._apps = dict(sorted(apps.items()))

    def get(self, name: str, *, field: str = "model") -> AppManifest:
        try:
            return self._apps[name]
        except KeyError:
            valid = ", ".join(self._apps) or "none installed"
            raise NotFound(f"unknown app {name!r}; valid apps: {valid}", field=field) from None

    def register(self, app: AppManifest) -> None:
        """Add an app at run time (tests, notebooks); entry points are the normal road. Only apps without
        tables or migrations can join a running platform (those need ``Platform.create``)."""
        check_app(app)
        if app.knowledge_base and any(other.knowledge_base == app.knowledge_base for other in self._apps.values()
                                      if other.name != app.name):
            raise ConfigError(f"app {app.name!r}: knowledge base {app.knowledge_base!r} already belongs to another app")
        if app.tables or app.migrations:
            raise ConfigError(f"app {app.name!r}: apps with tables or migrations must be passed to Platform.create")
        self._apps[app.name] = app

    @property
    def chat_apps(self) -> list[AppManifest]:
        return [app for app in self._apps.values() if app.is_chat]

    def migration_folders(self) -> list[Path]:
        return migration_folders(self._apps.values())

    def __iter__(self) -> Iterator[AppManifest]:
        return iter(self._apps.values())

    def __contains__(self, name: object) -> bool:
        return name in self._apps

    def __len__(self) -> int:
        return len(self._apps)
