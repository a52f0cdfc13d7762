"""Alembic environment: always run online, on the connection `store` hands over in config.attributes."""

from __future__ import annotations

from alembic import context

from reconciler.register.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
