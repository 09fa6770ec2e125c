"""Alembic migrations of the store's schema, run programmatically by :mod:`isocross.store.db`."""
