"""Alembic migrations of the service's own tables (API accounts and keys)."""
