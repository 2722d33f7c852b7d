"""The app's one table: notes, scoped to a tenant by ``TenantScoped``."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from moesaic.db import Base, TenantScoped, TimestampMixin, new_id


class Note(TenantScoped, TimestampMixin, Base):
    __tablename__ = "contract_app_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    text: Mapped[str] = mapped_column(String(500), nullable=False)
