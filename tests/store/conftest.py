"""Fixtures of the store's tests: ``db`` runs a test on SQLite and on PostgreSQL (see
:mod:`store_support`; an unreachable PostgreSQL fails these tests, it does not skip them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.store_support import Db, pg_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        yield Db("sqlite", f"sqlite:///{tmp_path / 'data' / 'isocross.sqlite3'}", None)
        return
    yield from pg_schema()
