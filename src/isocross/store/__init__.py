"""Durable state: the command journal, snapshots, recovery, read models (SQLite, PostgreSQL).

:class:`DurableExchange` is the entry point for a service: every command is journaled (group
commit) before its outcome is returned; opening it recovers the exchange from the newest usable
snapshot plus the journal after it. :class:`Store` is the database alone (replay, verify,
rebuild the read models, export).

The names below load on first use, so ``isocross.store.cli`` (imported by the ``isocross``
command) does not pull in SQLAlchemy until a journal command runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isocross.store.codec import register_commands, register_events
    from isocross.store.db import StoreError
    from isocross.store.durable import DurableExchange, JournalWriter, wall_clock_ms
    from isocross.store.journal import Damage, Entry
    from isocross.store.snapshot import SnapshotInfo
    from isocross.store.store import RecoveryReport, ReplayDivergenceError, Store, Verification

_WHERE = {
    "register_commands": "codec",
    "register_events": "codec",
    "StoreError": "db",
    "DurableExchange": "durable",
    "JournalWriter": "durable",
    "wall_clock_ms": "durable",
    "Damage": "journal",
    "Entry": "journal",
    "SnapshotInfo": "snapshot",
    "RecoveryReport": "store",
    "ReplayDivergenceError": "store",
    "Store": "store",
    "Verification": "store",
}

__all__ = [
    "Damage",
    "DurableExchange",
    "Entry",
    "JournalWriter",
    "RecoveryReport",
    "ReplayDivergenceError",
    "SnapshotInfo",
    "Store",
    "StoreError",
    "Verification",
    "register_commands",
    "register_events",
    "wall_clock_ms",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"isocross.store.{module}"), name)
