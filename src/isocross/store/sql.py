"""Bulk writes straight through the driver, per dialect.

The journal's hot path writes thousands of rows per commit; SQLAlchemy's per-value type
processing and statement compilation cost more than the database does. Statements are built
once per table from the :mod:`~isocross.store.schema` definitions.

* SQLite: ``executemany`` of tuples (the sqlite3 module loops in C), Decimals as text.
* PostgreSQL: ``COPY … FROM STDIN`` (psycopg writes the rows in C); an upsert copies into a
  temporary table (emptied at commit) and merges it with one ``INSERT … SELECT … ON CONFLICT``.
  psycopg's ``executemany`` would cost tens of microseconds of Python per row.
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
        if not rows:
            return
        if self.dialect == "postgresql":
            self._copy(conn, f'"{table.name}"', table, rows)
        else:
            conn.exec_driver_sql(self._statement(table, None, False), self._tuples(table, rows))

    def insert_values(
        self, conn: Connection, table: Table, values: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert rows given as tuples in column order, already in driver form (no Money
        column to convert: the journal's rows)."""
        if not values:
            return
        if self.dialect == "postgresql":
            self._copy_values(conn, f'"{table.name}"', table, values)
        else:
            conn.exec_driver_sql(self._statement(table, None, False), values)

    def _copy(
        self, conn: Connection, target: str, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        self._copy_values(conn, target, table, self._tuples(table, rows))

    def _copy_values(
        self, conn: Connection, target: str, table: Table, values: Sequence[tuple[Any, ...]]
    ) -> None:
        cols = ", ".join(f'"{col.name}"' for col in table.columns)
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
            write = copy.write_row
            for row in values:
                write(row)

    def _merge(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        update: tuple[str, ...] | None,
    ) -> None:
        """PostgreSQL upsert: COPY into a session's temporary twin, then one merge."""
        temp = f"pg_temp._isocross_{table.name}"
        made: set[str] = conn.connection.info.setdefault("isocross_temp", set())
        if table.name not in made:
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS _isocross_{table.name} "
                f'(LIKE "{table.name}") '
                "ON COMMIT DELETE ROWS"
            )
            made.add(table.name)
        self._copy(conn, temp, table, rows)
        names = ", ".join(f'"{col.name}"' for col in table.columns)
        keys = ", ".join(f'"{col.name}"' for col in table.primary_key.columns)
        changed = update or tuple(c.name for c in table.columns if not c.primary_key)
        sets = ", ".join(f'"{n}" = excluded."{n}"' for n in changed)
        conn.exec_driver_sql(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {temp} '
            f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        )

    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        update: Sequence[str] | None = None,
    ) -> None:
        """Insert ``rows``; where the key exists, update ``update`` (default: every non-key
        column). No two rows may share a key."""
        if not rows:
            return
        cols = tuple(update) if update else None
        if self.dialect == "postgresql":
            self._merge(conn, table, rows, cols)
        else:
            conn.exec_driver_sql(self._statement(table, cols, True), self._tuples(table, rows))
