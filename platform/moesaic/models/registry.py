"""``ModelRegistry``: versioned app models per tenant; promotion is explicit and can be undone.

An app declares the models it ships (``AppManifest.models``: name, version, path of the committed
artefact); the shipped version is a tenant's active one until something else is promoted. A release that
ships another version replaces the old shipped one where that is active (its files are gone with the old
release) and it can no longer be promoted or rolled back to; a tenant that promoted a model of its own keeps
it, with the new shipped version retired. Retraining
registers a ``candidate``; ``promote`` makes a version active (the one before it becomes ``retired``
and is remembered), ``rollback`` returns to the version the last promotion replaced. Every result an
app stores records ``active(...).version``. This module keeps records; it never loads an artefact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moesaic.db import Database, utcnow
from moesaic.errors import Conflict, NotFound
from moesaic.models.tables import ModelVersionRecord

STATUSES = ("candidate", "active", "retired")
SHIPPED_NOTE = "shipped with the app"


def _is_shipped(row: ModelVersionRecord) -> bool:
    """A version recorded from an app's manifest (its artefact lies in the app's package, replaced by each release)."""
    return row.note.startswith(SHIPPED_NOTE)


@dataclass(frozen=True)
class ShippedModel:
    """A model an app ships: its name, the committed artefact's version and where it lies."""

    name: str
    version: str
    uri: str
    metrics: dict[str, float] | None = None


@dataclass(frozen=True)
class ModelVersion:
    app: str
    name: str
    version: str
    uri: str
    status: str
    metrics: dict[str, Any]
    note: str
    created_at: datetime
    promoted_at: datetime | None
    promoted_by: str
    previous_active: str | None

    @classmethod
    def of(cls, row: ModelVersionRecord) -> "ModelVersion":
        return cls(row.app, row.name, row.version, row.uri, row.status, dict(row.metrics or {}), row.note,
                   row.created_at, row.promoted_at, row.promoted_by, row.previous_active)

    def to_dict(self) -> dict[str, Any]:
        stamp = lambda value: value.isoformat() if value else None  # noqa: E731
        return {"app": self.app, "name": self.name, "version": self.version, "uri": self.uri, "status": self.status,
                "metrics": self.metrics, "note": self.note, "created_at": stamp(self.created_at),
                "promoted_at": stamp(self.promoted_at), "promoted_by": self.promoted_by,
                "previous_active": self.previous_active}


class ModelRegistry:
    def __init__(self, db: Database, shipped: dict[str, Iterable[ShippedModel]]) -> None:
        """``shipped``: app name -> the models it ships (from the manifests)."""
        self.db = db
        self.shipped = {app: {m.name: m for m in models} for app, models in shipped.items()}

    def _shipped(self, app: str, name: str) -> ShippedModel:
        try:
            return self.shipped.get(app, {})[name]
        except KeyError:
            valid = ", ".join(self.shipped.get(app, {})) or "none"
            raise NotFound(f"app {app!r} has no model {name!r}; its models: {valid}", field="name") from None

    def _ensure_shipped(self, session: Session, tenant_id: str, app: str, name: str) -> None:
        """The shipped version exists for the tenant, at the shipped path, and is active when nothing else is or
        when the active one is an earlier (or later) release's shipped version, whose files this release replaced."""
        shipped = self._shipped(app, name)
        rows = session.scalars(self._rows(tenant_id, app, name)).all()
        current = next((row for row in rows if row.version == shipped.version), None)
        active = next((row for row in rows if row.status == "active"), None)
        take_over = active is None or (active is not current and _is_shipped(active))
        if current is not None and current.uri == shipped.uri and not take_over:
            return
        if current is None:
            current = ModelVersionRecord(tenant_id=tenant_id, app=app, name=name, version=shipped.version, uri=shipped.uri,
                                         status="retired", metrics=dict(shipped.metrics or {}), note=SHIPPED_NOTE,
                                         promoted_by="shipped")
            session.add(current)
        current.uri = shipped.uri  # the install may have moved
        if take_over:
            if active is not None:
                active.status = "retired"
                active.note = f"{SHIPPED_NOTE}; its artefact was replaced by shipped version {shipped.version}"
            current.status, current.promoted_at, current.promoted_by = "active", utcnow(), "shipped"
            current.previous_active = None  # an earlier shipped version's files are gone: nothing to roll back to
        session.flush()

    @staticmethod
    def _rows(tenant_id: str, app: str, name: str):  # type: ignore[no-untyped-def]
        return select(ModelVersionRecord).where(ModelVersionRecord.tenant_id == tenant_id, ModelVersionRecord.app == app,
                                                ModelVersionRecord.name == name)

    def _session_with_shipped(self, tenant_id: str, app: str, name: str):  # type: ignore[no-untyped-def]
        for _ in range(3):  # two processes may add the shipped row at once: read it back
            try:
                with self.db.session() as session:
                    self._ensure_shipped(session, tenant_id, app, name)
                return
            except IntegrityError:
                continue

    def versions(self, tenant_id: str, app: str, name: str) -> list[ModelVersion]:
        self._session_with_shipped(tenant_id, app, name)
        with self.db.session() as session:
            rows = session.scalars(self._rows(tenant_id, app, name).order_by(ModelVersionRecord.id)).all()
            return [ModelVersion.of(row) for row in rows]

    def active(self, tenant_id: str, app: str, name: str) -> ModelVersion:
        """The version a tenant's results are made with now."""
        active = [v for v in self.versions(tenant_id, app, name) if v.status == "active"]
        assert len(active) == 1, f"{app}/{name} has {len(active)} active versions for tenant {tenant_id}"
        return active[0]

    def register(self, tenant_id: str, app: str, name: str, version: str, uri: str, *, metrics: dict[str, Any] | None = None,
                 note: str = "") -> ModelVersion:
        """Record a new candidate (a retrained model); it does nothing until promoted."""
        self._session_with_shipped(tenant_id, app, name)
        try:
            with self.db.session() as session:
                row = ModelVersionRecord(tenant_id=tenant_id, app=app, name=name, version=version, uri=uri,
                                         status="candidate", metrics=metrics or {}, note=note)
                session.add(row)
                session.flush()
                return ModelVersion.of(row)
        except IntegrityError:
            raise Conflict(f"{app}/{name} already has a version {version!r}", field="version") from None

    def promote(self, tenant_id: str, app: str, name: str, version: str, *, by: str = "") -> ModelVersion:
        """Make ``version`` the active one; the active one before it is retired and remembered for rollback."""
        self._session_with_shipped(tenant_id, app, name)
        with self.db.session() as session:
            rows = {row.version: row for row in session.scalars(self._rows(tenant_id, app, name).with_for_update()).all()}
            target = rows.get(version)
            if target is None:
                raise NotFound(f"{app}/{name} has no version {version!r}; versions: {', '.join(rows)}", field="version")
            if target.status == "active":
                raise Conflict(f"{app}/{name} version {version!r} is already active", field="version")
            shipped = self._shipped(app, name)
            if _is_shipped(target) and target.version != shipped.version:
                raise Conflict(f"{app}/{name} version {version!r} was shipped with an earlier release of the app and its "
                               f"artefact is no longer installed (the installed one is {shipped.version!r})", field="version")
            current = next(row for row in rows.values() if row.status == "active")
            current.status = "retired"
            target.status, target.promoted_at, target.promoted_by = "active", utcnow(), by
            target.previous_active = current.version
            session.flush()
            return ModelVersion.of(target)

    def rollback(self, tenant_id: str, app: str, name: str, *, by: str = "") -> ModelVersion:
        """Undo the last promotion: the version it replaced becomes active again."""
        current = self.active(tenant_id, app, name)
        if current.previous_active is None:
            raise Conflict(f"{app}/{name} version {current.version!r} replaced nothing; there is nothing to roll back to",
                           field="name")
        return self.promote(tenant_id, app, name, current.previous_active, by=by)
