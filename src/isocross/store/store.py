"""The store: one database holding the journal, the snapshots and the read models.

:class:`Store` is the database side, with no exchange of its own: append entries (journal rows
and read-model rows in one transaction), save and load snapshots, replay, recover, rebuild the
read models. :mod:`isocross.store.durable` puts an exchange in front of it.

Recovery (:meth:`Store.recover`) loads the newest snapshot that passes every check (older ones,
then a fresh exchange, if it does not), replays the journal after it — each command with the
``ts`` it was first handled at — and stops at the first entry that is not whole. With
``repair`` it then moves that entry and everything after it to ``journal_quarantine`` (kept,
never replayed), drops snapshots past it, and brings the read models back in step.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from isocross.catalogue import Catalogue
from isocross.engine.exchange import Exchange, zero_clock
from isocross.store import schema as t
from isocross.store.codec import CodecError, decode_command, encode_events
from isocross.store.db import StoreError, WriterLock, make_engine, migrate, resolve_url
from isocross.store.journal import (
    COLUMNS,
    Damage,
    Entry,
    Scan,
    checksum,
    from_row,
    read_rows,
    row_values,
    scan_rows,
)
from isocross.store.projection import NAME, Projector
from isocross.store.snapshot import (
    SNAPSHOT_FORMAT,
    SnapshotError,
    SnapshotInfo,
    loads_state,
    payload_checksum,
    producer,
)
from isocross.store.sql import BulkWriter

log = logging.getLogger("isocross.store")

Factory = Callable[[], Exchange]
"""Builds a fresh exchange (the risk layer's factory attaches its engine)."""


def factory_spec(factory: Factory) -> str | None:
    """``module:qualname`` of a module-level factory (None for a lambda, partial, …)."""
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", None)
    if not module or not name or "<" in name:
        return None
    return f"{module}:{name}"


def load_factory(spec: str) -> Factory:
    """The factory ``module:qualname`` names."""
    module, _, name = spec.partition(":")
    try:
        target: Any = importlib.import_module(module)
        for part in (name or "Exchange").split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise StoreError(f"cannot load the exchange factory {spec!r}: {exc}") from None
    factory: Factory = target
    return factory


class ReplayDivergenceError(StoreError):
    """A whole journal entry this code replays differently (refused, or another seq)."""


@dataclass(slots=True)
class RecoveryReport:
    """What a recovery or a replay found and did."""

    entries: int = 0
    """Whole journal entries (the recovered state includes every one)."""
    seq: int = 0
    events: int = 0
    """Events the recovered state accounts for (snapshot's plus replayed)."""
    snapshot: SnapshotInfo | None = None
    snapshot_failures: list[str] = field(default_factory=list)
    replayed: int = 0
    """Accepted commands replayed (refused ones change nothing and are skipped)."""
    replayed_events: int = 0
    event_mismatches: int = 0
    """Replayed commands whose events differ from the journal's (only when compared)."""
    damage: Damage | None = None
    quarantined: int = 0
    read_models: str = "in step"
    state_hash: str = ""
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["damage"] = None if self.damage is None else asdict(self.damage)
        data["snapshot"] = None if self.snapshot is None else asdict(self.snapshot)
        return data


@dataclass(slots=True)
class Verification:
    """What :meth:`Store.verify` found."""

    replay: RecoveryReport
    snapshots: list[tuple[SnapshotInfo, str | None]]
    """Each snapshot with what is wrong with it (None: it loads and matches the replay)."""
    imbalance: dict[str, Decimal]
    divergence: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.divergence is None
            and self.replay.damage is None
            and self.replay.event_mismatches == 0
            and not self.imbalance
            and all(problem is None for _, problem in self.snapshots)
        )


class Store:
    """The database of one exchange (see the module docstring). Open with :meth:`open`."""

    def __init__(self, engine: Engine, url: str, revision: str, lock: WriterLock | None) -> None:
        self.engine = engine
        self.url = url
        self.revision = revision
        self._lock = lock
        self._bulk: BulkWriter | None = None

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        *,
        schema: str | None = None,
        create: bool = True,
        write: bool = True,
        lock_timeout: float = 10.0,
    ) -> Store:
        """Open (``create``: create and migrate) the store at ``db`` — a URL, a SQLite file or
        a data directory. ``write`` takes the single-writer lock."""
        url = resolve_url(db)
        engine = make_engine(url, schema=schema, create=create)
        lock: WriterLock | None = None
        try:
            revision = migrate(engine, create=create)
            if write:
                lock = WriterLock(engine)
                lock.acquire(lock_timeout)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url, revision, lock)

    @property
    def writable(self) -> bool:
        return self._lock is not None

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ================================================================== metadata
    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            BulkWriter.of(conn).upsert(conn, t.meta, [{"key": key, "value": value}])

    def factory(self) -> Factory:
        """The factory the journal was last written with (recorded on open), else
        :class:`Exchange`."""
        spec = self.get_meta("factory")
        return Exchange if spec is None else load_factory(spec)

    # ================================================================== journal
    def append(self, entries: Sequence[Entry], projector: Projector | None = None) -> None:
        """Journal ``entries`` (and their read-model rows) in one transaction: all or none."""
        values = [row_values(entry) for entry in entries]
        if projector is not None:
            for entry in entries:
                projector.apply(entry)
        with self.engine.begin() as conn:
            bulk = self._bulk or BulkWriter.of(conn)
            self._bulk = bulk
            bulk.insert_values(conn, t.journal, values)
            if projector is not None:
                projector.flush(conn, bulk)

    def head(self) -> tuple[int, int]:
        """The last entry id and the last seq in the journal (whole or not)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.max(t.journal.c.entry_id), func.max(t.journal.c.seq))
            ).one()
        return int(row[0] or 0), int(row[1] or 0)

    def rows(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """The raw journal rows after ``after`` (unchecked)."""
        with self.engine.connect() as conn:
            yield from read_rows(conn, after)

    def entries(self, after: int = 0, *, scan: Scan | None = None) -> Iterator[Entry]:
        """Decoded whole entries after ``after``; stops at the first damaged one (see
        ``scan.damage``; pass a :class:`Scan` starting at ``after`` to read it)."""
        scan = scan or Scan(last_entry=after)
        with self.engine.connect() as conn:
            for row in scan_rows(conn, scan):
                yield _decode(row)

    # ================================================================== snapshots
    def save_snapshot(
        self, *, entry_id: int, seq: int, ts: int, events: int, state_hash: str, payload: bytes
    ) -> SnapshotInfo:
        created = time.time_ns() // 1_000_000
        values = {
            "entry_id": entry_id,
            "seq": seq,
            "ts": ts,
            "events": events,
            "format": SNAPSHOT_FORMAT,
            "producer": producer(),
            "state_hash": state_hash,
            "size": len(payload),
            "checksum": payload_checksum(payload),
            "payload": payload,
            "created_ms": created,
        }
        with self.engine.begin() as conn:
            snapshot_id = conn.execute(
                insert(t.snapshots).values(values).returning(t.snapshots.c.snapshot_id)
            ).scalar_one()
        return SnapshotInfo(
            snapshot_id,
            entry_id,
            seq,
            ts,
            events,
            SNAPSHOT_FORMAT,
            str(values["producer"]),
            state_hash,
            len(payload),
        )

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot's metadata, newest first."""
        cols = [t.snapshots.c[f.name] for f in fields(SnapshotInfo)]
        stmt = select(*cols).order_by(
            t.snapshots.c.entry_id.desc(), t.snapshots.c.snapshot_id.desc()
        )
        with self.engine.connect() as conn:
            return [SnapshotInfo(*row) for row in conn.execute(stmt)]

    def load_snapshot(
        self, info: SnapshotInfo, *, clock: Callable[[], int] = zero_clock
    ) -> Exchange:
        """The exchange ``info`` holds (:class:`SnapshotError` when it cannot be trusted)."""
        stmt = select(t.snapshots.c.payload, t.snapshots.c.checksum).where(
            t.snapshots.c.snapshot_id == info.snapshot_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                raise SnapshotError("it is gone")
            entry = conn.execute(
                select(*[t.journal.c[n] for n in COLUMNS]).where(
                    t.journal.c.entry_id == info.entry_id
                )
            ).first()
        if entry is None:
            raise SnapshotError(f"its journal entry {info.entry_id} is missing")
        values = dict(zip(COLUMNS, entry, strict=True))
        whole = checksum(values) == values["checksum"]
        if not whole or values["seq"] not in (None, info.seq):
            raise SnapshotError(f"its journal entry {info.entry_id} is not whole")
        return loads_state(
            bytes(row.payload),
            fmt=info.format,
            checksum=row.checksum,
            state_hash=info.state_hash,
            seq=info.seq,
            clock=clock,
        )

    def prune_snapshots(self, keep: int) -> int:
        """Delete all but the ``keep`` newest snapshots; returns how many went."""
        old = [s.snapshot_id for s in self.snapshots()[keep:]]
        if old:
            with self.engine.begin() as conn:
                conn.execute(delete(t.snapshots).where(t.snapshots.c.snapshot_id.in_(old)))
        return len(old)

    # ================================================================== replay and recovery
    def replay(
        self,
        factory: Factory = Exchange,
        *,
        compare_events: bool = False,
    ) -> tuple[Exchange, RecoveryReport]:
        """A clean replay: a fresh exchange and every whole entry from the first; read-only."""
        start = time.perf_counter()
        report = RecoveryReport()
        exchange = factory()
        scan = Scan()
        self._replay(exchange, scan, report, compare_events=compare_events)
        self._finish(exchange, scan, report, start)
        return exchange, report

    def verify(self, factory: Factory = Exchange) -> tuple[Exchange, Verification]:
        """Check everything: a clean replay comparing every event with the journal's, every
        snapshot against the replay's state at its entry, and the ledger's balance."""
        start = time.perf_counter()
        report = RecoveryReport()
        exchange = factory()
        scan = Scan()
        snapshots = self.snapshots()
        hashes = {s.entry_id: "" for s in snapshots}
        divergence = None
        try:
            self._replay(exchange, scan, report, compare_events=True, checkpoints=hashes)
        except ReplayDivergenceError as exc:
            divergence = str(exc)
        self._finish(exchange, scan, report, start)
        problems: list[tuple[SnapshotInfo, str | None]] = []
        for info in snapshots:
            problem = None
            if not hashes[info.entry_id]:
                problem = f"entry {info.entry_id} is past what could be replayed"
            else:
                try:
                    loaded = self.load_snapshot(info)
                    if loaded.state_hash() != hashes[info.entry_id]:
                        problem = "its state differs from the replay's at its entry"
                except SnapshotError as exc:
                    problem = str(exc)
            problems.append((info, problem))
        imbalance = exchange.ledger.imbalance()
        return exchange, Verification(report, problems, imbalance, divergence)

    def recover(
        self,
        factory: Factory = Exchange,
        *,
        use_snapshots: bool = True,
        repair: bool | None = None,
    ) -> tuple[Exchange, RecoveryReport]:
        """The state of every whole entry: newest usable snapshot plus the journal after it.

        ``repair`` (default: when this store is writable) quarantines a damaged tail and
        brings the read models in step; otherwise the damage is only reported."""
        start = time.perf_counter()
        repair = self.writable if repair is None else repair
        report = RecoveryReport()
        exchange: Exchange | None = None
        scan = Scan()
        for info in self.snapshots() if use_snapshots else []:
            try:
                exchange = self.load_snapshot(info)
            except SnapshotError as exc:
                report.warn(
                    f"snapshot {info.snapshot_id} (entry {info.entry_id}, seq {info.seq}) "
                    f"cannot be used: {exc}; falling back to an older one or a full replay"
                )
                report.snapshot_failures.append(f"snapshot {info.snapshot_id}: {exc}")
                continue
            report.snapshot = info
            scan = Scan(last_entry=info.entry_id, last_seq=info.seq, events=info.events)
            break
        if exchange is None:
            exchange = factory()
        self._replay(exchange, scan, report)
        if scan.damage is not None and repair:
            self._quarantine(scan.damage, report)
        self._finish(exchange, scan, report, start)
        if repair:
            report.read_models = self.sync_read_models(exchange.catalogue)
        report.seconds = time.perf_counter() - start
        return exchange, report

    def _replay(
        self,
        exchange: Exchange,
        scan: Scan,
        report: RecoveryReport,
        *,
        compare_events: bool = False,
        checkpoints: dict[int, str] | None = None,
    ) -> None:
        """Replay the whole rows after ``scan`` into ``exchange``; at each entry id in
        ``checkpoints`` record the state hash there."""
        handle = exchange.handle
        with self.engine.connect() as conn:
            for row in scan_rows(conn, scan):
                seq = row["seq"]
                if seq is None:
                    if checkpoints is not None and row["entry_id"] in checkpoints:
                        checkpoints[row["entry_id"]] = exchange.state_hash()
                    continue
                try:
                    command = decode_command(row["command"])
                except CodecError as exc:
                    raise StoreError(
                        f"journal entry {row['entry_id']} is whole but this code cannot read "
                        f"its command: {exc}"
                    ) from exc
                outcome = handle(command, ts=row["ts"])
                if outcome.seq != seq:
                    why = (
                        f"refused it ({outcome.error})"
                        if outcome.error is not None
                        else f"gave it seq {outcome.seq}"
                    )
                    raise ReplayDivergenceError(
                        f"replay diverged at journal entry {row['entry_id']}: it was accepted "
                        f"as seq {seq} but this code {why}"
                    )
                report.replayed += 1
                report.replayed_events += len(outcome.events)
                if checkpoints is not None and row["entry_id"] in checkpoints:
                    checkpoints[row["entry_id"]] = exchange.state_hash()
                if compare_events and encode_events(outcome.events) != row["events"]:
                    if report.event_mismatches == 0:
                        report.warn(
                            f"entry {row['entry_id']} (seq {seq}): the replay's events differ "
                            "from the journal's"
                        )
                    report.event_mismatches += 1

    def _finish(self, exchange: Exchange, scan: Scan, report: RecoveryReport, start: float) -> None:
        report.entries = scan.last_entry
        report.seq = exchange.seq
        report.events = scan.events
        report.damage = scan.damage
        if scan.damage is not None:
            report.warn(
                f"journal: {scan.damage.reason}; the whole journal ends at entry "
                f"{scan.last_entry} (seq {scan.last_seq}), which is what was recovered"
            )
        report.state_hash = exchange.state_hash()
        report.seconds = time.perf_counter() - start

    def _quarantine(self, damage: Damage, report: RecoveryReport) -> None:
        """Move the journal from the damaged entry on aside, and the snapshots past it."""
        moved_at = time.time_ns() // 1_000_000
        cut = damage.entry_id
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(*[t.journal.c[n] for n in COLUMNS]).where(t.journal.c.entry_id >= cut)
            ).all()
            if rows:
                conn.execute(
                    t.quarantine.insert(),
                    [
                        {
                            **dict(zip(COLUMNS, r, strict=True)),
                            "reason": damage.reason,
                            "moved_at_ms": moved_at,
                        }
                        for r in rows
                    ],
                )
            conn.execute(delete(t.journal).where(t.journal.c.entry_id >= cut))
            gone = conn.execute(delete(t.snapshots).where(t.snapshots.c.entry_id >= cut)).rowcount
        report.quarantined = len(rows)
        report.warn(
            f"journal: moved {len(rows)} entries from entry {cut} on to journal_quarantine"
            + (f" and dropped {gone} snapshot(s) past it" if gone else "")
        )

    # ================================================================== read models
    def projector(self, catalogue: Catalogue | None = None) -> Projector:
        """A projector loaded with the read models' current state."""
        projector = Projector(catalogue)
        with self.engine.connect() as conn:
            projector.load(conn)
        return projector

    def sync_read_models(self, catalogue: Catalogue | None = None) -> str:
        """Bring the read models to the journal's last entry: catch up, or rebuild when they
        are past it (a tail was quarantined). Returns what it did."""
        last, _ = self.head()
        projector = self.projector(catalogue)
        if projector.entry_id == last:
            return "in step"
        if projector.entry_id > last:
            self.rebuild_read_models(catalogue)
            return f"rebuilt (they were past entry {last})"
        behind = last - projector.entry_id
        with self.engine.begin() as conn:
            self._project(conn, projector, projector.entry_id)
        return f"caught up {behind} entries"

    def rebuild_read_models(self, catalogue: Catalogue | None = None) -> int:
        """Empty the read models and derive them again from the whole journal (one
        transaction); returns the entries projected."""
        projector = Projector(catalogue)
        with self.engine.begin() as conn:
            projector.clear(conn)
            return self._project(conn, projector, 0)

    def _project(
        self, conn: Connection, projector: Projector, after: int, chunk: int = 5000
    ) -> int:
        done = 0
        batch: list[Entry] = []
        scan = Scan(last_entry=after)
        if after:
            seq = conn.execute(
                select(func.max(t.journal.c.seq)).where(t.journal.c.entry_id <= after)
            ).scalar()
            scan.last_seq = int(seq or 0)
        with self.engine.connect() as reader:
            for row in scan_rows(reader, scan):
                batch.append(_decode(row))
                if len(batch) >= chunk:
                    done += self._flush_projection(conn, projector, batch)
        done += self._flush_projection(conn, projector, batch)
        return done

    @staticmethod
    def _flush_projection(conn: Connection, projector: Projector, batch: list[Entry]) -> int:
        for entry in batch:
            projector.apply(entry)
        projector.flush(conn)
        done = len(batch)
        batch.clear()
        return done

    def read_model_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every read-model table's rows in key order (to compare two stores)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for table in t.READ_MODELS:
                stmt = select(table).order_by(*table.primary_key.columns)
                out[table.name] = [tuple(row) for row in conn.execute(stmt)]
        return out

    def projection_mark(self) -> int:
        with self.engine.connect() as conn:
            mark = conn.execute(
                select(t.projection.c.entry_id).where(t.projection.c.name == NAME)
            ).scalar()
        return int(mark or 0)


def _decode(row: dict[str, Any]) -> Entry:
    try:
        return from_row(row)
    except CodecError as exc:
        raise StoreError(
            f"journal entry {row['entry_id']} is whole but this code cannot read it: {exc}"
        ) from exc


def open_store(db: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """:meth:`Store.open`, turning database errors into :class:`StoreError`."""
    try:
        return Store.open(db, **options)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open {db}: {exc}") from exc
