"""Journal entries: one per command received, their rows, checksums, and the scan that checks them.

An entry is a command with the time it was handled (``ts``, milliseconds), its ``entry_id``
(1, 2, 3 … for every command, accepted or not) and either the sequence number and events the
exchange gave it or the refusal (code, message, field). Each row carries a SHA-256 over all its
other columns; :func:`scan_rows` walks rows in order and stops at the first one that is not
whole (checksum mismatch, a missing entry, a sequence gap), saying which and why.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from isocross.engine.events import Event
from isocross.engine.exchange import Outcome
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.store.codec import (
    TYPE_KEY,
    CodecError,
    RawCommand,
    decode_command,
    decode_events,
    encode_events,
    safe_command_text,
)
from isocross.store.schema import journal

COLUMNS = (
    "entry_id",
    "seq",
    "ts",
    "command_type",
    "command",
    "events",
    "n_events",
    "error_code",
    "error_message",
    "error_field",
    "checksum",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled command and what came of it."""

    entry_id: int
    ts: int
    command: Any
    seq: int | None = None
    events: tuple[Any, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    error_field: str | None = None
    command_text: str | None = field(default=None, compare=False, repr=False)
    """The command's journal text when already known (saves encoding it twice)."""

    @property
    def accepted(self) -> bool:
        return self.seq is not None

    @classmethod
    def of(
        cls, entry_id: int, ts: int, command: Any, outcome: Outcome, text: str | None = None
    ) -> Entry:
        error = outcome.error
        if error is None:
            return cls(entry_id, ts, command, outcome.seq, outcome.events, command_text=text)
        return cls(
            entry_id,
            ts,
            command,
            None,
            (),
            error.code,
            error.message,
            error.field,
            command_text=text,
        )

    @property
    def outcome(self) -> Outcome:
        """The exchange's answer (a refusal is rebuilt as an ``IsocrossError``)."""
        if self.seq is not None:
            return Outcome(self.seq, self.events)
        code = ErrorCode.__members__.get(self.error_code or "", ErrorCode.INVALID_INPUT)
        return Outcome(
            None, (), IsocrossError(code, self.error_message or "", field=self.error_field)
        )


def checksum(row: Mapping[str, Any]) -> str:
    """SHA-256 over every column but the checksum itself (None and "" stay distinct)."""
    return _checksum(*(row[name] for name in COLUMNS[:-1]))


def _checksum(
    entry_id: Any,
    seq: Any,
    ts: Any,
    command_type: Any,
    command: Any,
    events: Any,
    n_events: Any,
    error_code: Any,
    error_message: Any,
    error_field: Any,
) -> str:
    head = _HEAD(
        [entry_id, seq, ts, command_type, n_events, error_code, error_message, error_field]
    )
    digest = hashlib.sha256()
    data = f"{head}\n{command}\n{events}".encode()
    if len(data) < _GIL_FREE:
        digest.update(data)
    else:  # pieces small enough that hashlib keeps the interpreter lock (no thread ping-pong)
        view = memoryview(data)
        for start in range(0, len(data), _GIL_FREE - 1):
            digest.update(view[start : start + _GIL_FREE - 1])
    return digest.hexdigest()


_HEAD = json.JSONEncoder(separators=(",", ":")).encode
_GIL_FREE = 2048
"""hashlib lets go of the interpreter lock for updates this large or larger."""


def row_values(entry: Entry) -> tuple[Any, ...]:
    """The journal row of ``entry``, in :data:`COLUMNS` order (the hot path: no dict)."""
    values = (
        entry.entry_id,
        entry.seq,
        entry.ts,
        type(entry.command).__name__,
        entry.command_text or safe_command_text(entry.command),
        encode_events(entry.events),
        len(entry.events),
        entry.error_code,
        entry.error_message,
        entry.error_field,
    )
    return (*values, _checksum(*values))


def to_row(entry: Entry) -> dict[str, Any]:
    return dict(zip(COLUMNS, row_values(entry), strict=True))


def from_row(row: Mapping[str, Any], *, events: bool = True) -> Entry:
    """Decode a (checked) row; ``events=False`` skips the events (a replay needs none)."""
    seq, ts = row["seq"], row["ts"]
    decoded: tuple[Any, ...] = ()
    if events and seq is not None:
        decoded = decode_events(row["events"], seq, ts)
    try:
        command = decode_command(row["command"])
    except CodecError:
        if seq is not None:
            raise
        raw = json.loads(row["command"])
        command = RawCommand(str(raw.pop(TYPE_KEY, "?")), raw)
    return Entry(
        row["entry_id"],
        ts,
        command,
        seq,
        decoded,
        row["error_code"],
        row["error_message"],
        row["error_field"],
    )


def events_text(events: Sequence[Event]) -> str:
    """The journal's text for ``events`` (to compare a replay with what was written)."""
    return encode_events(events)


@dataclass(frozen=True, slots=True)
class Damage:
    """Where the whole journal ends: the first entry that is not whole, and why."""

    entry_id: int
    reason: str


@dataclass(slots=True)
class Scan:
    """Running check of consecutive rows: ids without gaps, sequence numbers without gaps,
    every checksum right. ``damage`` is set at the first row that fails (and stays set)."""

    last_entry: int = 0
    last_seq: int = 0
    events: int = 0
    damage: Damage | None = None

    def check(self, row: Mapping[str, Any]) -> bool:
        if self.damage is not None:
            return False
        entry_id = row["entry_id"]
        expected = self.last_entry + 1
        if entry_id != expected:
            self.damage = Damage(expected, f"entry {expected} is missing (the next is {entry_id})")
            return False
        try:
            whole = checksum(row) == row["checksum"]
        except (TypeError, ValueError, KeyError):
            whole = False
        if not whole:
            self.damage = Damage(entry_id, f"entry {entry_id} is damaged (checksum mismatch)")
            return False
        seq = row["seq"]
        if seq is not None:
            if seq != self.last_seq + 1:
                self.damage = Damage(
                    entry_id, f"entry {entry_id} has seq {seq}, expected {self.last_seq + 1}"
                )
                return False
            self.last_seq = seq
        self.last_entry = entry_id
        self.events += row["n_events"] or 0
        return True


def read_rows(conn: Connection, after: int = 0, chunk: int = 5000) -> Iterator[dict[str, Any]]:
    """Rows with ``entry_id > after`` in order, fetched in pages (keyset pagination)."""
    cols = [journal.c[name] for name in COLUMNS]
    while True:
        stmt = select(*cols).where(journal.c.entry_id > after).order_by(journal.c.entry_id)
        page = conn.execute(stmt.limit(chunk)).all()
        for values in page:
            yield dict(zip(COLUMNS, values, strict=True))
        if len(page) < chunk:
            return
        after = page[-1][0]


def scan_rows(conn: Connection, scan: Scan, *, chunk: int = 5000) -> Iterator[dict[str, Any]]:
    """The whole rows after ``scan.last_entry``, stopping at the first damaged one."""
    for row in read_rows(conn, scan.last_entry, chunk):
        if not scan.check(row):
            return
        yield row
