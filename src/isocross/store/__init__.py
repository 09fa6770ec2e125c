"""Durable state: the command journal, snapshots, recovery, read models (SQLite, PostgreSQL).

:class:`DurableExchange` is the entry point for a service: every command is journaled (group
commit) before its outcome is returned; opening it recovers the exchange from the newest usable
snapshot plus the journal after it. :class:`Store` is the database alone (replay, verify,
rebuild the read models, export).
"""

from isocross.store.codec import register_commands, register_events
from isocross.store.db import StoreError
from isocross.store.durable import DurableExchange, JournalWriter, wall_clock_ms
from isocross.store.journal import Damage, Entry
from isocross.store.snapshot import SnapshotInfo
from isocross.store.store import RecoveryReport, ReplayDivergenceError, Store

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
    "register_commands",
    "register_events",
    "wall_clock_ms",
]
