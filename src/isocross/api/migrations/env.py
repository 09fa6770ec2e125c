"""Alembic environment of the service's tables: its own version table, so the store's
migrations and these never see each other's revisions."""

from __future__ import annotations

from alembic import context

from isocross.api.keys import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
