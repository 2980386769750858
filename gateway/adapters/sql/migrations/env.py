"""Alembic's environment for the gateway database; run only through ``gateway.adapters.sql.migrate``.

The caller hands over an open connection (in ``config.attributes``) with its transaction begun and
its lock taken; the migrations run inside that transaction and the caller commits.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from gateway.adapters.sql.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the gateway's migrations run through `gateway db upgrade`, not the alembic command")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
