"""Alembic environment: migrations run on the connection :class:`Store` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from voxgate.storage.tables import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `voxgate db upgrade` (Store.upgrade)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
