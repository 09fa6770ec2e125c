"""Benchmark: durable commands per second with group commit, and recovery speed.

The session of ``bench/engine.py`` (20 traders and a market maker, limit/IOC/market orders,
cancels, requotes, marks) is handled once in memory; its entries (command, time, sequence
number, events) are then journaled on SQLite (a fresh file under a temporary data directory,
WAL, ``synchronous=FULL``) and on PostgreSQL (a fresh schema; the server's own ``fsync`` and
``synchronous_commit``), each way:

* **group commit**: :class:`~isocross.store.JournalWriter` takes entries from a queue fed
  with up to 4,096 in flight (as many clients would), journals everything queued with its
  read-model rows in one transaction, commits, then acknowledges each entry;
* **baseline**: the same writer committing every entry on its own (one fsync per command).

Then the whole path, :meth:`DurableExchange.enqueue` (engine + journal, snapshots every 10,000
events), and recovery of that journal: newest snapshot plus the tail, against a full replay
without snapshots (events the recovered state accounts for per second). Throughputs are the
best of several runs (the machine's load average is printed: a shared machine halves them).

    python bench/journal.py [--quick] [--commands N] [--pg URL]

Last line: ``journal: N cmds/s (baseline: M cmds/s, ratio: R×)`` — group commit against one
commit per command, on the slower of the two backends (named on the line above it).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from engine import CATALOGUE, _clock, generate, setup_commands
from isocross.engine import Exchange
from isocross.store import DurableExchange, Entry, JournalWriter, Store
from isocross.store.projection import Projector

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IN_FLIGHT = 4096
SNAPSHOT_EVERY = 10_000


def entries_of(commands: list[Any]) -> list[Entry]:
    """The session handled in memory: what the journal will be asked to write."""
    ex = Exchange(CATALOGUE, clock=_clock())
    out = []
    for k, command in enumerate(commands, start=1):
        ts = 1_700_000_000_000 + 5 * k
        out.append(Entry.of(k, ts, command, ex.handle(command, ts=ts)))
    return out


def journal(store: Store, entries: list[Entry], *, max_batch: int) -> tuple[float, float, int]:
    """Seconds to journal ``entries`` durably, this process's CPU seconds for it, and the
    number of commits."""
    writer = JournalWriter(store, Projector(CATALOGUE), max_batch=max_batch)
    pending: collections.deque[Future[Entry]] = collections.deque()
    start, cpu = time.perf_counter(), time.process_time()
    for entry in entries:
        if len(pending) >= IN_FLIGHT:
            pending.popleft().result()
        future: Future[Entry] = Future()
        writer.put(entry, future)
        pending.append(future)
    for future in pending:
        future.result()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    writer.stop()
    return elapsed, cpu, writer.batches


class Backend:
    """A fresh database per run: a SQLite file or a PostgreSQL schema."""

    def __init__(self, name: str, pg_url: str, workdir: Path) -> None:
        self.name, self.pg_url, self.workdir = name, pg_url, workdir
        self.schemas: list[str] = []

    def fresh(self) -> tuple[str, str | None]:
        tag = uuid.uuid4().hex[:10]
        if self.name == "sqlite":
            return f"sqlite:///{self.workdir / tag / 'isocross.sqlite3'}", None
        self.schemas.append(f"bench_{tag}")
        return self.pg_url, self.schemas[-1]

    def cleanup(self) -> None:
        if not self.schemas:
            return
        engine = create_engine(self.pg_url)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def run_backend(
    backend: Backend, commands: list[Any], entries: list[Entry], baseline_n: int, repeats: int
) -> dict[str, float]:
    """Every figure of one backend (throughputs: the best of ``repeats`` runs)."""
    figures: dict[str, float] = {"group": 0.0, "baseline": 0.0, "cpu": 0.0}
    for _ in range(repeats):
        url, schema = backend.fresh()
        with Store.open(url, schema=schema) as store:
            seconds, cpu, batches = journal(store, entries, max_batch=2000)
        figures["group"] = max(figures["group"], len(entries) / seconds)
        figures["cpu"] = max(figures["cpu"], len(entries) / cpu)
        figures["per_commit"] = len(entries) / batches
        url, schema = backend.fresh()
        with Store.open(url, schema=schema) as store:
            seconds, _, _ = journal(store, entries[:baseline_n], max_batch=1)
        figures["baseline"] = max(figures["baseline"], baseline_n / seconds)

    url, schema = backend.fresh()
    durable = DurableExchange.open(url, schema=schema, snapshot_every=SNAPSHOT_EVERY)
    start = time.perf_counter()
    pending: collections.deque[Future[Entry]] = collections.deque()
    for k, command in enumerate(commands, start=1):
        if len(pending) >= IN_FLIGHT:
            pending.popleft().result()
        pending.append(durable.enqueue(command, ts=1_700_000_000_000 + 5 * k))
    for future in pending:
        future.result()
    figures["durable"] = len(commands) / (time.perf_counter() - start)
    live_hash = durable.query(lambda ex: ex.state_hash())
    durable.snapshot_on_close = False  # recover from the last periodic snapshot plus its tail
    durable.close()

    with Store.open(url, schema=schema, write=False) as store:
        recovered, report = store.recover(use_snapshots=True, repair=False)
        replayed, full = store.recover(use_snapshots=False, repair=False)
    assert recovered.state_hash() == replayed.state_hash() == live_hash, "recovery diverged"
    assert report.snapshot is not None
    assert report.events == full.events
    figures["events"] = report.events
    figures["tail"] = report.replayed_events
    figures["recover_s"] = report.seconds
    figures["recover"] = report.events / report.seconds
    figures["replay"] = full.events / full.seconds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller session, under 1 min")
    parser.add_argument("--commands", type=int, default=None, help="timed commands")
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL URL")
    args = parser.parse_args()
    n = args.commands or (6_000 if args.quick else 30_000)
    baseline_n = 300 if args.quick else 1_000
    repeats = 2 if args.quick else 3
    traders = [f"trader{k:02d}" for k in range(20)]
    generated, _, _ = generate(n, traders)
    commands = setup_commands(traders) + generated
    entries = entries_of(commands)
    events = sum(len(e.events) for e in entries)
    print(
        f"session: {len(commands):,} commands ({sum(not e.accepted for e in entries):,} refused), "
        f"{events:,} events ({events / len(commands):.1f} per command)"
    )
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("sqlite", "postgresql"):
            backend = Backend(name, args.pg, Path(tmp))
            try:
                results[name] = run_backend(backend, commands, entries, baseline_n, repeats)
            finally:
                backend.cleanup()
            f = results[name]
            print(
                f"{name}: group commit {f['group']:,.0f} cmds/s ({f['per_commit']:,.0f} per "
                f"commit), one commit per command {f['baseline']:,.0f} cmds/s, "
                f"ratio {f['group'] / f['baseline']:,.1f}×; target 20,000 cmds/s"
            )
            where = "the whole write" if name == "sqlite" else "client side, not the server's"
            print(
                f"{name}: group commit costs {1e6 / f['cpu']:.1f} µs of this process's CPU per "
                f"command ({where}): {f['cpu']:,.0f} cmds per CPU-second"
            )
            print(
                f"{name}: engine + journal (DurableExchange) {f['durable']:,.0f} cmds/s end to end"
            )
            print(
                f"{name}: recovery {f['recover']:,.0f} events/s ({f['events']:,.0f} events: "
                f"snapshot + {f['tail']:,.0f}-event tail in {f['recover_s']:.2f} s) vs full "
                f"replay {f['replay']:,.0f} events/s, ratio {f['recover'] / f['replay']:,.1f}×; "
                "target 200,000 events/s"
            )
    ex = Exchange(CATALOGUE, clock=_clock())
    start = time.perf_counter()
    for command in commands:
        ex.handle(command)
    print(f"engine alone (no journal): {len(commands) / (time.perf_counter() - start):,.0f} cmds/s")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average during the run: {load} ({os.cpu_count()} CPUs)")
    slower = min(results, key=lambda name: results[name]["group"])
    f = results[slower]
    print(f"final line: group commit on {slower}, the slower backend")
    print(
        f"journal: {f['group']:,.0f} cmds/s "
        f"(baseline: {f['baseline']:,.0f} cmds/s, ratio: {f['group'] / f['baseline']:,.1f}×)"
    )


if __name__ == "__main__":
    sys.exit(main())
