"""A durable exchange: commands are journaled (group commit) before they are acknowledged.

Two threads, one pipeline:

* the **sequencer** takes commands in arrival order, stamps each with a time (``ts``), hands it
  to the exchange and passes the resulting :class:`~isocross.store.journal.Entry` on; it also
  takes the snapshots, between two commands;
* the **writer** (:class:`JournalWriter`) journals everything queued — up to ``max_batch``
  entries, lingering ``batch_window_ms`` for more while traffic is heavy — in one transaction
  together with the read-model rows, commits (one fsync for the batch), and only then resolves
  each command's future.

So a caller learns the outcome only once it is durable, and an fsync is shared by every command
that arrived while the previous batch was being written. The exchange itself may run up to one
batch ahead of the disk: read it through :meth:`DurableExchange.query` (serialized with the
commands), and remember that state not yet acknowledged is not yet durable. If a commit fails
the store stops (every later call raises :class:`StoreError`); reopen it to recover.
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
from isocross.store.journal import Entry, to_row
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


class JournalWriter:
    """Group commit on a thread of its own (see the module docstring).

    ``put`` queues an entry; its future resolves to the entry once the batch holding it has
    committed. ``put_snapshot`` saves a snapshot after every entry queued before it."""

    def __init__(
        self,
        store: Store,
        projector: Projector | None,
        *,
        max_batch: int = 2000,
        batch_window_ms: float = 2.0,
        keep_snapshots: int = 3,
        name: str = "isocross-journal",
    ) -> None:
        self.store = store
        self.projector = projector
        self.max_batch = max_batch
        self.window = batch_window_ms / 1000
        self.keep_snapshots = keep_snapshots
        self.failed: StoreError | None = None
        self.batches = 0
        self.committed = 0
        self.queued = 0
        self.durable_entry_id = 0
        self._queue: queue.SimpleQueue[_Write | _SaveSnapshot | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Entries queued and not yet committed."""
        return self.queued - self.committed

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

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        linger = False
        get = self._queue.get
        while True:
            batch: list[_Write] = []
            item: _Write | _SaveSnapshot | _Stop | None = get()
            deadline = time.monotonic() + self.window if linger else 0.0
            while isinstance(item, _Write):
                batch.append(item)
                if len(batch) >= self.max_batch:
                    item = None
                    break
                try:
                    item = get(block=False)
                except queue.Empty:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        item = None
                        break
                    try:
                        item = get(timeout=wait)
                    except queue.Empty:
                        item = None
                        break
            if batch:
                self._commit(batch)
            linger = len(batch) > 1
            if isinstance(item, _SaveSnapshot):
                self._save(item)
            elif isinstance(item, _Stop):
                return

    def _commit(self, batch: list[_Write]) -> None:
        if self.failed is None:
            entries = [w.entry for w in batch]
            try:
                rows = [to_row(e) for e in entries]
                self.store.append_rows(rows, entries, self.projector)
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

    def _save(self, item: _SaveSnapshot) -> None:
        if self.failed is not None:
            if item.future is not None:
                item.future.set_exception(self.failed)
            return
        s = item.snapshot
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
        except Exception as exc:  # a lost snapshot costs replay time, never data
            log.warning("snapshot at entry %d not saved: %s", s.entry_id, exc)
            if item.future is not None:
                item.future.set_exception(StoreError(f"snapshot not saved: {exc}"))
            return
        if item.future is not None:
            item.future.set_result(info)


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
    :meth:`open`; use as a context manager or call :meth:`close`."""

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
        max_batch: int = 2000,
        batch_window_ms: float = 2.0,
        max_backlog: int = 50_000,
    ) -> None:
        self.store = store
        self.exchange = exchange
        self.recovery = recovery
        self.snapshot_every = snapshot_every
        self.snapshot_on_close = snapshot_on_close
        self.max_backlog = max_backlog
        self._clock = clock
        self._entry_id = recovery.entries
        self._events = recovery.events
        self._since_snapshot = recovery.replayed_events
        self._last_ts = 0
        self._closed = False
        self.snapshot_failures: list[str] = []
        self.writer = JournalWriter(
            store,
            store.projector(exchange.catalogue),
            max_batch=max_batch,
            batch_window_ms=batch_window_ms,
            keep_snapshots=keep_snapshots,
        )
        self.writer.durable_entry_id = self._entry_id
        self._inbox: queue.SimpleQueue[_Submit | _Query | _Snapshot | _Stop] = queue.SimpleQueue()
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
        """``fn(exchange)`` on the sequencer thread, between two commands."""
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
        get = self._inbox.get
        while True:
            item = get()
            if isinstance(item, _Submit):
                self._handle(item)
            elif isinstance(item, _Query):
                try:
                    item.future.set_result(item.fn(self.exchange))
                except Exception as exc:
                    item.future.set_exception(exc)
            elif isinstance(item, _Snapshot):
                self._snapshot(item.future)
            else:
                if self.snapshot_on_close and self._since_snapshot and not self.writer.failed:
                    self._snapshot(None)
                self.writer.stop()
                return

    def _handle(self, item: _Submit) -> None:
        writer = self.writer
        if writer.failed is not None:
            item.future.set_exception(writer.failed)
            return
        while writer.backlog > self.max_backlog and writer.failed is None:
            time.sleep(0.0005)
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
            writer.put(
                Entry.of(self._entry_id, ts, command, Outcome(None, (), refusal)), item.future
            )
            return
        try:
            outcome = self.exchange.handle(command, ts=ts)
        except Exception as exc:
            # Not a refusal: the exchange failed half-way and its state is unknown. Stop; the
            # journal holds every command before this one and recovery rebuilds from it.
            writer.failed = StoreError(
                f"the exchange failed on {type(item.command).__name__} and the store has "
                f"stopped (reopen it to recover): {type(exc).__name__}: {exc}"
            )
            log.error("%s", writer.failed)
            item.future.set_exception(writer.failed)
            return
        self._entry_id += 1
        self._last_ts = ts
        writer.put(Entry.of(self._entry_id, ts, command, outcome, text), item.future)
        count = len(outcome.events)
        self._events += count
        self._since_snapshot += count
        if self.snapshot_every and self._since_snapshot >= self.snapshot_every:
            self._snapshot(None)

    def _snapshot(self, future: Future[SnapshotInfo | None] | None) -> None:
        if self._entry_id == 0:
            if future is not None:
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
        self.writer.put_snapshot(pending, future)


def open_durable(db: str | os.PathLike[str] | None = None, **options: Any) -> DurableExchange:
    """Shorthand for :meth:`DurableExchange.open`."""
    return DurableExchange.open(db, **options)
