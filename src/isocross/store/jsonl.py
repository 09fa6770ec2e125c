"""Journals as JSON lines: a portable, diffable form (the golden journal of the tests is one).

The first line is a header ``{"format": "isocross-journal", "version": 1}``; every other line
is one command with its time, ``{"entry": 1, "ts": 1700000000000, "command": {"@": …}}``.
:func:`read_jsonl` stops at the first line that is not a whole entry (a truncated last line,
a damaged one, a gap in the numbering) and says so: it never skips a line to go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isocross.engine.exchange import Exchange
from isocross.store.codec import COMMANDS, CodecError, decode_command, dumps
from isocross.store.store import Factory, Store

FORMAT = "isocross-journal"
VERSION = 1


@dataclass(slots=True)
class JsonlJournal:
    """The commands read from a file, and where and why reading stopped early (if it did)."""

    commands: list[tuple[Any, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_jsonl(path: Path, commands: Iterable[tuple[Any, int]]) -> int:
    """Write ``(command, ts)`` pairs; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(dumps({"format": FORMAT, "version": VERSION}) + "\n")
        for count, (command, ts) in enumerate(commands, start=1):
            line = {"entry": count, "ts": ts, "command": COMMANDS.encode(command)}
            out.write(dumps(line) + "\n")
    return count


def dump_store(store: Store, path: Path) -> int:
    """Every whole entry of ``store``'s journal (refused commands too) as JSON lines."""
    return write_jsonl(path, ((e.command, e.ts) for e in store.entries()))


def read_jsonl(path: Path) -> JsonlJournal:
    """The whole entries of a JSON-lines journal (see the module docstring)."""
    result = JsonlJournal()
    with path.open("rb") as source:
        lines = source.read().split(b"\n")
    whole_last = lines[-1] == b""
    if whole_last:
        lines.pop()
    if not lines:
        raise ValueError(f"{path} is empty")
    header = json.loads(lines[0])
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{path} is not an {FORMAT} version {VERSION} file: {header}")
    for number, raw in enumerate(lines[1:], start=1):
        last = number == len(lines) - 1
        if last and not whole_last:
            result.warnings.append(
                f"{path}: line {number + 1} (entry {number}) is cut short; read up to entry "
                f"{number - 1}"
            )
            break
        try:
            entry = json.loads(raw)
            if entry.get("entry") != number:
                raise ValueError(f"it is entry {entry.get('entry')}, expected {number}")
            if not isinstance(entry.get("ts"), int):
                raise ValueError("it has no integer ts")
            command = decode_command(entry["command"])
        except (ValueError, KeyError, TypeError, AttributeError, CodecError) as exc:
            result.warnings.append(
                f"{path}: line {number + 1} is not a whole entry ({exc}); read up to entry "
                f"{number - 1}"
            )
            break
        result.commands.append((command, entry["ts"]))
    return result


def replay_jsonl(path: Path, factory: Factory = Exchange) -> tuple[Exchange, JsonlJournal]:
    """A fresh exchange with every command of the file handled at its time."""
    journal = read_jsonl(path)
    exchange = factory()
    for command, ts in journal.commands:
        exchange.handle(command, ts=ts)
    return exchange, journal
