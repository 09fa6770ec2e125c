"""Bulk writes straight through the DBAPI: ``executemany`` of tuples, per dialect.

The journal's hot path writes thousands of rows per commit; SQLAlchemy's per-value type
processing and statement compilation cost more than the database does. These statements are
built once per table from the :mod:`~isocross.store.schema` definitions, with the dialect's
placeholder, and the rows are converted to what the driver takes (Decimal text on SQLite). The
``ON CONFLICT … DO UPDATE`` upsert reads the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from isocross.store.schema import Money

Convert = Callable[[Any], Any]


def _text_or_none(value: Any) -> Any:
    return None if value is None else str(value)


class BulkWriter:
    """Prepared bulk INSERT and UPSERT statements for one dialect."""

    def __init__(self, dialect: str, paramstyle: str) -> None:
        self.dialect = dialect
        self.mark = "?" if paramstyle == "qmark" else "%s"
        self._statements: dict[tuple[str, str, tuple[str, ...] | None], str] = {}
        self._converters: dict[str, list[tuple[int, Convert]]] = {}

    @classmethod
    def of(cls, conn: Connection) -> BulkWriter:
        return cls(conn.dialect.name, conn.dialect.paramstyle)

    def _statement(self, table: Table, update: tuple[str, ...] | None, upsert: bool) -> str:
        key = (table.name, "upsert" if upsert else "insert", update)
        sql = self._statements.get(key)
        if sql is None:
            names = [col.name for col in table.columns]
            cols = ", ".join(f'"{n}"' for n in names)
            marks = ", ".join([self.mark] * len(names))
            sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({marks})'
            if upsert:
                keys = ", ".join(f'"{col.name}"' for col in table.primary_key.columns)
                changed = update or tuple(c.name for c in table.columns if not c.primary_key)
                sets = ", ".join(f'"{n}" = excluded."{n}"' for n in changed)
                sql += f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
            self._statements[key] = sql
        return sql

    def _tuples(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        names = [col.name for col in table.columns]
        converters = self._converters.get(table.name)
        if converters is None:
            converters = self._converters[table.name] = (
                []
                if self.dialect == "postgresql"
                else [
                    (i, _text_or_none)
                    for i, col in enumerate(table.columns)
                    if isinstance(col.type, Money)
                ]
            )
        out: list[tuple[Any, ...]] = []
        for row in rows:
            values = [row[n] for n in names]
            for i, convert in converters:
                values[i] = convert(values[i])
            out.append(tuple(values))
        return out

    def insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            conn.exec_driver_sql(self._statement(table, None, False), self._tuples(table, rows))

    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        update: Sequence[str] | None = None,
    ) -> None:
        """Insert ``rows``; where the key exists, update ``update`` (default: every non-key
        column). No two rows may share a key."""
        if rows:
            sql = self._statement(table, tuple(update) if update else None, True)
            conn.exec_driver_sql(sql, self._tuples(table, rows))
