"""Snapshots: the whole exchange object graph, pickled and compressed, with a format version.

A snapshot is taken after a journal entry (``entry_id``) and records the state hash it had; a
load is trusted only if the format is this code's, the payload's checksum holds, it unpickles,
and the unpickled exchange hashes to the recorded value. Anything else is a
:class:`SnapshotError` and recovery falls back to an older snapshot or a full replay.

Pickle is the format because the exchange (and what the risk layer attaches: bound-method
hooks, registered handlers) is a plain object graph. Dicts whose default factory is a lambda
(the ledger's balances) are written with an equivalent picklable factory. Only load snapshots
from a database you trust: unpickling runs code.
"""

from __future__ import annotations

import copyreg
import functools
import hashlib
import io
import pickle
import sys
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from isocross.engine.exchange import Exchange, zero_clock

SNAPSHOT_FORMAT = 1
"""Bump when the payload's layout changes (not for engine changes: the hash check catches
those); older formats are then skipped on load."""

_IMMUTABLE = (Decimal, int, float, str, bytes, bool, tuple, frozenset, type(None))


class SnapshotError(Exception):
    """A snapshot that cannot be used (and why)."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot's metadata (its payload stays in the database until loaded)."""

    snapshot_id: int
    entry_id: int
    seq: int
    ts: int
    events: int
    format: int
    producer: str
    state_hash: str
    size: int


def producer() -> str:
    """Who wrote a snapshot: the isocross and Python versions."""
    try:
        own = version("isocross")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        own = "unknown"
    return f"isocross {own}; python {'.'.join(map(str, sys.version_info[:3]))}"


def _constant(value: Any) -> Any:
    return value


def _reduce_defaultdict(d: defaultdict[Any, Any]) -> Any:
    """Pickle a defaultdict even when its factory is a lambda: a factory returning the same
    immutable value (or a fresh empty list/dict/set) is replaced by an equivalent one."""
    factory: Callable[[], Any] | None = d.default_factory
    if factory is not None and "<" in getattr(factory, "__qualname__", ""):
        value = factory()
        if isinstance(value, _IMMUTABLE):
            factory = functools.partial(_constant, value)
        elif type(value) in (list, dict, set) and not value:
            factory = type(value)
        else:
            raise pickle.PicklingError(f"a defaultdict's factory {factory!r} cannot be pickled")
    return (defaultdict, (factory,), None, None, iter(d.items()))


def dumps_state(exchange: Exchange) -> bytes:
    """The exchange as a compressed pickle, without its clock (the journal stamps every
    command with an explicit time, so the clock plays no part in a replay)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    table = copyreg.dispatch_table.copy()
    table[defaultdict] = _reduce_defaultdict
    pickler.dispatch_table = table
    clock, exchange.clock = exchange.clock, zero_clock
    try:
        pickler.dump(exchange)
    finally:
        exchange.clock = clock
    return zlib.compress(buffer.getvalue(), 1)


def payload_checksum(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def loads_state(
    payload: bytes,
    *,
    fmt: int,
    checksum: str,
    state_hash: str,
    seq: int,
    clock: Callable[[], int] = zero_clock,
) -> Exchange:
    """The exchange a snapshot holds, given ``clock``, or :class:`SnapshotError` saying why
    it cannot be used."""
    if fmt != SNAPSHOT_FORMAT:
        raise SnapshotError(f"format {fmt}, this code reads format {SNAPSHOT_FORMAT}")
    if payload_checksum(payload) != checksum:
        raise SnapshotError("payload checksum mismatch")
    try:
        exchange = pickle.loads(zlib.decompress(payload))
    except Exception as exc:  # any failure to rebuild the graph means: do not use it
        raise SnapshotError(f"cannot unpickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(exchange, Exchange):
        raise SnapshotError(f"holds a {type(exchange).__name__}, not an Exchange")
    if exchange.seq != seq:
        raise SnapshotError(f"holds seq {exchange.seq}, recorded {seq}")
    if exchange.state_hash() != state_hash:
        raise SnapshotError("its state hashes differently now (the engine's state changed)")
    exchange.clock = clock
    return exchange
