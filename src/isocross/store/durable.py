"""A durable exchange: commands are journaled (group commit) before they are acknowledged.

One thread, the **sequencer**, owns the exchange and the journal. It takes every command queued
since its last commit (up to ``max_batch``; while traffic is heavy it lingers
``batch_window_ms`` for more), stamps each with a time (``ts``) and hands it to the exchange,
then journals the whole batch — entries and read-model rows — in one transaction, commits (one
fsync for the batch) and only then resolves each command's future. Commands that arrive during
a commit form the next batch, so an fsync is shared by every command that waited for it.

A single thread, rather than an engine thread feeding a writer thread, because both are Python
and share one interpreter lock: a writer that drops the lock for each SQLite row or each large
hash waits for the busy engine thread to hand it back, and throughput collapses. Here the
database work simply follows the engine work of its batch.

A caller learns an outcome only once it is durable. The exchange may be up to one batch ahead
of the disk: read it through :meth:`DurableExchange.query` (serialized with the commands). If a
commit fails the store stops (every later call raises :class:`StoreError`); reopen it to
recover. Snapshots are taken between batches, every ``snapshot_every`` events and on close.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from isocross.engine.exchange import Exchange, Outcome
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.store.codec import journal_form
from isocross.store.db import StoreError
from isocross.store.journal import Entry
from isocross.store.projection import Projector
from isocross.store.snapshot import SnapshotInfo, dumps_state
from isocross.store.store import Factory, RecoveryReport, Store, factory_spec

log = logging.getLogger("isocross.store")
T = TypeVar("T")


def wall_clock_ms() -> int:
    """Milliseconds since the epoch (the default time stamped on commands)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    """A snapshot taken by the sequencer, on its way to the writer."""

    entry_id: int
    seq: int
    ts: int
    events: int
    state_hash: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Write:
    entry: Entry
    future: Future[Entry] | None


@dataclass(frozen=True, slots=True)
class _SaveSnapshot:
    snapshot: PendingSnapshot
    future: Future[SnapshotInfo | None] | None


class _Stop:
    pass


_STOP = _Stop()


class Journal:
    """Group commit, called synchronously: :meth:`commit` journals a batch of entries (and
    their read-model rows) in one transaction, then resolves each entry's future."""

    def __init__(
        self, store: Store, projector: Projector | None, *, keep_snapshots: int = 3
    ) -> None:
        self.store = store
        self.projector = projector
        self.keep_snapshots = keep_snapshots
        self.failed: StoreError | None = None
        self.batches = 0
        self.committed = 0
        self.queued = 0
        self.durable_entry_id = 0
        self.pending: Callable[[], int] = lambda: 0
        """Work not yet handed to :meth:`commit` (the owner's queue)."""

    @property
    def backlog(self) -> int:
        """Commands received and not yet durable."""
        return self.pending() + self.queued - self.committed

    def commit(self, batch: list[_Write]) -> None:
        if self.failed is None and batch:
            entries = [w.entry for w in batch]
            try:
                self.store.append(entries, self.projector)
            except Exception as exc:
                self.failed = StoreError(
                    f"journal write failed, the store has stopped (reopen it to recover): "
                    f"{type(exc).__name__}: {exc}"
                )
                log.error("%s", self.failed)
            else:
                self.batches += 1
                self.durable_entry_id = entries[-1].entry_id
        self.committed += len(batch)
        for write in batch:
            if write.future is None:
                continue
            if self.failed is None:
                write.future.set_result(write.entry)
            else:
                write.future.set_exception(self.failed)

    def save(self, snapshot: PendingSnapshot, future: Future[SnapshotInfo | None] | None) -> None:
        """Save a snapshot (after every entry it covers is committed); a failure costs replay
        time later, never data."""
        if self.failed is not None:
            if future is not None:
                future.set_exception(self.failed)
            return
        s = snapshot
        try:
            info = self.store.save_snapshot(
                entry_id=s.entry_id,
                seq=s.seq,
                ts=s.ts,
                events=s.events,
                state_hash=s.state_hash,
                payload=s.payload,
            )
            if self.keep_snapshots:
                self.store.prune_snapshots(self.keep_snapshots)
        except Exception as exc:
            log.warning("snapshot at entry %d not saved: %s", s.entry_id, exc)
            if future is not None:
                future.set_exception(StoreError(f"snapshot not saved: {exc}"))
            return
        if future is not None:
            future.set_result(info)


def _drain(
    get: Callable[..., Any], first: Any, kind: type, limit: int, deadline: float
) -> tuple[list[Any], Any]:
    """``first`` and what follows it of type ``kind`` (up to ``limit``, waiting until
    ``deadline`` for more); returns them and the item that ended the run (or None)."""
    batch = [first]
    while len(batch) < limit:
        try:
            item = get(block=False)
        except queue.Empty:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return batch, None
            try:
                item = get(timeout=wait)
            except queue.Empty:
                return batch, None
        if not isinstance(item, kind):
            return batch, item
        batch.append(item)
    return batch, None


class JournalWriter(Journal):
    """:class:`Journal` on a thread of its own, for producers of ready-made entries (a
    benchmark, an import): :meth:`put` queues an entry, its future resolves once committed."""

    def __init__(
        self,
        store: Store,
        projector: Projector | None,
        *,
        max_batch: int = 2000,
        batch_window_ms: float = 2.0,
        keep_snapshots: int = 3,
    ) -> None:
        super().__init__(store, projector, keep_snapshots=keep_snapshots)
        self.max_batch = max_batch
        self.window = batch_window_ms / 1000
        self._queue: queue.SimpleQueue[_Write | _SaveSnapshot | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="isocross-journal", daemon=True)
        self._thread.start()

    def put(self, entry: Entry, future: Future[Entry] | None = None) -> None:
        self.queued += 1
        self._queue.put(_Write(entry, future))

    def put_snapshot(
        self, snapshot: PendingSnapshot, future: Future[SnapshotInfo | None] | None = None
    ) -> None:
        self._queue.put(_SaveSnapshot(snapshot, future))

    def stop(self) -> None:
        """Write everything queued, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        linger = False
        while True:
            item = self._queue.get()
            if isinstance(item, _Write):
                deadline = time.monotonic() + self.window if linger else 0.0
                batch, item = _drain(self._queue.get, item, _Write, self.max_batch, deadline)
                self.commit(batch)
                linger = len(batch) > 1
            if isinstance(item, _SaveSnapshot):
                self.save(item.snapshot, item.future)
            elif isinstance(item, _Stop):
                return


@dataclass(frozen=True, slots=True)
class _Submit:
    command: Any
    ts: int | None
    future: Future[Entry]


@dataclass(frozen=True, slots=True)
class _Query:
    fn: Callable[[Exchange], Any]
    future: Future[Any]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    future: Future[SnapshotInfo | None]


class DurableExchange:
    """An exchange whose every command is journaled before it is answered. Open with
    :meth:`open`; use as a context manager or call :meth:`close`.

    ``max_batch`` bounds latency under load (a batch's commands all wait for its engine work
    and one commit); ``batch_window_ms`` is how long a batch waits for company once traffic
    is heavy (a lone command never waits); ``clock`` stamps commands given no ``ts``."""

    def __init__(
        self,
        store: Store,
        exchange: Exchange,
        recovery: RecoveryReport,
        *,
        snapshot_every: int = 100_000,
        snapshot_on_close: bool = True,
        keep_snapshots: int = 3,
        clock: Callable[[], int] = wall_clock_ms,
        max_batch: int = 500,
        batch_window_ms: float = 2.0,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.recovery = recovery
        self.snapshot_every = snapshot_every
        self.snapshot_on_close = snapshot_on_close
        self.max_batch = max_batch
        self.window = batch_window_ms / 1000
        self._clock = clock
        self._entry_id = recovery.entries
        self._events = recovery.events
        self._since_snapshot = recovery.replayed_events
        self._last_ts = 0
        self._closed = False
        self.snapshot_failures: list[str] = []
        self._inbox: queue.SimpleQueue[_Submit | _Query | _Snapshot | _Stop] = queue.SimpleQueue()
        self.writer = Journal(
            store, store.projector(exchange.catalogue), keep_snapshots=keep_snapshots
        )
        """The journal (``batches``, ``backlog``, ``failed``, ``durable_entry_id``)."""
        self.writer.durable_entry_id = self._entry_id
        self.writer.pending = self._inbox.qsize
        self._thread = threading.Thread(target=self._run, name="isocross-sequencer", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        factory: Factory = Exchange,
        *,
        schema: str | None = None,
        lock_timeout: float = 10.0,
        **options: Any,
    ) -> DurableExchange:
        """Open the store at ``db`` (URL, SQLite file or data directory; created and migrated
        as needed), recover the exchange ``factory`` builds, and start accepting commands.
        ``options`` go to the constructor (``snapshot_every``, ``clock``, ``max_batch`` …)."""
        store = Store.open(db, schema=schema, lock_timeout=lock_timeout)
        try:
            exchange, report = store.recover(factory)
            spec = factory_spec(factory)
            before = store.get_meta("factory")
            if spec is not None and spec != before:
                if before is not None:
                    report.warn(f"the exchange factory changed from {before} to {spec}")
                store.set_meta("factory", spec)
        except BaseException:
            store.close()
            raise
        return cls(store, exchange, report, **options)

    # ------------------------------------------------------------------ commands
    def enqueue(self, command: Any, *, ts: int | None = None) -> Future[Entry]:
        """Queue ``command``; the future resolves to its journal entry once it is durable."""
        if self._closed:
            raise StoreError("the store is closed")
        failed = self.writer.failed
        if failed is not None:
            raise failed
        future: Future[Entry] = Future()
        self._inbox.put(_Submit(command, ts, future))
        return future

    def submit_entry(
        self, command: Any, *, ts: int | None = None, timeout: float | None = None
    ) -> Entry:
        return self.enqueue(command, ts=ts).result(timeout)

    def submit(
        self, command: Any, *, ts: int | None = None, timeout: float | None = None
    ) -> Outcome:
        """Apply ``command`` and return its outcome once it is durable."""
        return self.enqueue(command, ts=ts).result(timeout).outcome

    def submit_many(
        self, commands: Iterable[Any], *, ts: int | None = None, timeout: float | None = None
    ) -> list[Outcome]:
        """Queue every command, then wait for all (they share commits)."""
        futures = [self.enqueue(command, ts=ts) for command in commands]
        return [f.result(timeout).outcome for f in futures]

    async def asubmit(self, command: Any, *, ts: int | None = None) -> Outcome:
        """:meth:`submit` for asyncio callers (the event loop is not blocked)."""
        entry = await asyncio.wrap_future(self.enqueue(command, ts=ts))
        return entry.outcome

    def query(self, fn: Callable[[Exchange], T], timeout: float | None = None) -> T:
        """``fn(exchange)`` on the sequencer thread, after every command queued before it."""
        if self._closed:
            raise StoreError("the store is closed")
        future: Future[T] = Future()
        self._inbox.put(_Query(fn, future))
        return future.result(timeout)

    def snapshot(self, timeout: float | None = None) -> SnapshotInfo | None:
        """Snapshot now (after every command queued so far); None if nothing is journaled."""
        if self._closed:
            raise StoreError("the store is closed")
        future: Future[SnapshotInfo | None] = Future()
        self._inbox.put(_Snapshot(future))
        return future.result(timeout)

    @property
    def durable_entry_id(self) -> int:
        """The last entry known to be on disk."""
        return self.writer.durable_entry_id

    def close(self) -> None:
        """Finish every queued command, snapshot (``snapshot_on_close``), release the store."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(_STOP)
        self._thread.join()
        self.store.close()

    def __enter__(self) -> DurableExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the sequencer
    def _run(self) -> None:
        linger = False
        get = self._inbox.get
        while True:
            item: _Submit | _Query | _Snapshot | _Stop | None = get()
            if isinstance(item, _Submit):
                deadline = time.monotonic() + self.window if linger else 0.0
                batch, item = _drain(get, item, _Submit, self.max_batch, deadline)
                self.writer.queued += len(batch)
                writes = [w for w in map(self._handle, batch) if w is not None]
                self.writer.commit(writes)
                linger = len(batch) > 1
                if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
                    self._snapshot(None)
            if isinstance(item, _Query):
                try:
                    item.future.set_result(item.fn(self.exchange))
                except Exception as exc:
                    item.future.set_exception(exc)
            elif isinstance(item, _Snapshot):
                self._snapshot(item.future)
            elif isinstance(item, _Stop):
                if self.snapshot_on_close and self._since_snapshot and not self.writer.failed:
                    self._snapshot(None)
                return

    def _handle(self, item: _Submit) -> _Write | None:
        """Run one command; its entry to journal (None when the store has stopped)."""
        failed = self.writer.failed
        if failed is not None:
            item.future.set_exception(failed)
            return None
        ts = item.ts
        if ts is None:
            ts = max(self._clock(), self._last_ts)
        command, text = item.command, None
        try:
            text, command = journal_form(command)
        except Exception as exc:
            refusal = IsocrossError(
                ErrorCode.INVALID_INPUT, f"the command cannot be journaled: {exc}"
            )
            self._entry_id += 1
            self._last_ts = ts
            entry = Entry.of(self._entry_id, ts, command, Outcome(None, (), refusal))
            return _Write(entry, item.future)
        try:
            outcome = self.exchange.handle(command, ts=ts)
        except Exception as exc:
            # Not a refusal: the exchange failed half-way and its state is unknown. Stop; the
            # journal holds every command before this one and recovery rebuilds from it.
            self.writer.failed = StoreError(
                f"the exchange failed on {type(item.command).__name__} and the store has "
                f"stopped (reopen it to recover): {type(exc).__name__}: {exc}"
            )
            log.error("%s", self.writer.failed)
            item.future.set_exception(self.writer.failed)
            return None
        self._entry_id += 1
        self._last_ts = ts
        count = len(outcome.events)
        self._events += count
        self._since_snapshot += count
        return _Write(Entry.of(self._entry_id, ts, command, outcome, text), item.future)

    def _snapshot(self, future: Future[SnapshotInfo | None] | None) -> None:
        """Snapshot the state after the last committed entry (call between batches)."""
        if self._entry_id == 0 or self.writer.failed is not None:
            if future is not None:
                if self.writer.failed is not None:
                    future.set_exception(self.writer.failed)
                else:
                    future.set_result(None)
            return
        try:
            payload = dumps_state(self.exchange)
            state_hash = self.exchange.state_hash()
        except Exception as exc:  # a state that does not pickle: go on without snapshots
            message = f"snapshot at entry {self._entry_id} failed: {type(exc).__name__}: {exc}"
            self.snapshot_failures.append(message)
            log.warning("%s", message)
            if future is not None:
                future.set_exception(StoreError(message))
            return
        self._since_snapshot = 0
        pending = PendingSnapshot(
            self._entry_id, self.exchange.seq, self._last_ts, self._events, state_hash, payload
        )
        self.writer.save(pending, future)


def open_durable(db: str | os.PathLike[str] | None = None, **options: Any) -> DurableExchange:
    """Shorthand for :meth:`DurableExchange.open`."""
    return DurableExchange.open(db, **options)
