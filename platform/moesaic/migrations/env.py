"""Alembic environment: runs on the connection that ``moesaic.db.migrate`` hands over."""

from alembic import context

import moesaic.access.tables  # noqa: F401  (register tables on Base.metadata)
import moesaic.memory.tables  # noqa: F401
import moesaic.models.tables  # noqa: F401
import moesaic.retrieval.tables  # noqa: F401
import moesaic.jobs.tables  # noqa: F401
import moesaic.lifecycle.tables  # noqa: F401
import moesaic.answers.tables  # noqa: F401
from moesaic.db import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI: build an engine from the settings
    from moesaic.config import get_settings
    from moesaic.db import make_engine

    connection = make_engine(get_settings().resolved_database_url).connect()

context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
