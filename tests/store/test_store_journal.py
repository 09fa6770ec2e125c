"""The durable exchange on both backends: what it journals, how it recovers, and the damage,
schema and snapshot cases recovery must handle."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text, update

from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.model.errors import ErrorCode
from isocross.store import DurableExchange, Entry, StoreError
from isocross.store import schema as t
from isocross.store.db import MIGRATIONS, head_revision, revisions
from isocross.store.journal import from_row
from store.store_support import Db
from store.store_workload import session


def fill(durable: DurableExchange, commands: list[tuple[Any, int]]) -> list[Entry]:
    futures = [durable.enqueue(cmd, ts=ts) for cmd, ts in commands]
    return [f.result(30) for f in futures]


def reference(commands: list[tuple[Any, int]]) -> Exchange:
    ex = Exchange()
    for cmd, ts in commands:
        ex.handle(cmd, ts=ts)
    return ex


def test_every_command_is_journaled_in_order_with_its_time_outcome_and_events(db: Db) -> None:
    commands = session(300)
    with db.durable() as durable:
        entries = fill(durable, commands)
        live_hash = durable.query(lambda ex: ex.state_hash())
    plain = Exchange()
    with db.store(write=False) as store:
        rows = list(store.rows())
    assert [r["entry_id"] for r in rows] == list(range(1, len(commands) + 1))
    for (cmd, ts), entry, row in zip(commands, entries, rows, strict=True):
        expected = plain.handle(cmd, ts=ts)
        journaled = from_row(row)
        assert journaled == entry
        assert (journaled.command, journaled.ts, journaled.seq) == (cmd, ts, expected.seq)
        assert journaled.events == expected.events
        if expected.error is not None:
            assert (row["error_code"], row["error_message"], row["seq"]) == (
                expected.error.code,
                expected.error.message,
                None,
            )
    assert sum(r["seq"] is None for r in rows) >= 3  # refusals are journaled too
    assert live_hash == plain.state_hash()


def test_reopening_recovers_the_same_state_and_replays_agree(db: Db) -> None:
    commands = session(250)
    with db.durable(snapshot_on_close=False) as durable:
        fill(durable, commands)
    expected = reference(commands)
    with db.durable() as durable:
        assert durable.recovery.snapshot is None
        assert durable.recovery.replayed == expected.seq
        assert durable.query(lambda ex: ex.state_hash()) == expected.state_hash()
    with db.store(write=False) as store:
        first, report = store.replay(compare_events=True)
        second, _ = store.replay()
    assert first.state_hash() == second.state_hash() == expected.state_hash()
    assert report.event_mismatches == 0
    assert report.entries == len(commands)


def test_snapshot_plus_tail_equals_a_full_replay(db: Db) -> None:
    commands = session(500)
    with db.durable(
        snapshot_every=400, keep_snapshots=2, snapshot_on_close=False, max_batch=50
    ) as durable:
        fill(durable, commands)
    with db.store(write=False) as store:
        snapshots = store.snapshots()
        recovered, report = store.recover()
        replayed, full = store.replay()
    assert len(snapshots) == 2  # older ones pruned
    assert report.snapshot == snapshots[0]
    assert 0 < report.replayed < full.replayed
    assert report.events == full.events
    assert recovered.state_hash() == replayed.state_hash() == reference(commands).state_hash()


def test_a_snapshot_that_fails_to_load_falls_back_to_an_older_one_then_to_a_full_replay(
    db: Db,
) -> None:
    commands = session(400)
    with db.durable(snapshot_every=300, keep_snapshots=5, max_batch=50) as durable:
        fill(durable, commands)
    expected = reference(commands).state_hash()
    with db.store() as store:
        newest, older, *_ = store.snapshots()
        with store.engine.begin() as conn:
            conn.execute(
                update(t.snapshots)
                .where(t.snapshots.c.snapshot_id == newest.snapshot_id)
                .values(payload=b"garbage")
            )
        ex, report = store.recover()
        assert report.snapshot == older
        assert ex.state_hash() == expected
        assert "checksum mismatch" in report.snapshot_failures[0]
        assert any("falling back" in w for w in report.warnings)
        with store.engine.begin() as conn:
            conn.execute(update(t.snapshots).values(format=999))
        ex, report = store.recover()
        assert report.snapshot is None
        assert report.replayed == ex.seq
        assert ex.state_hash() == expected
        assert all("format 999" in f for f in report.snapshot_failures[1:])


def test_a_damaged_tail_stops_recovery_at_the_last_whole_entry(db: Db) -> None:
    """A half-written last entry: recovery keeps everything before it, says so, moves the rest
    aside (never replayed, never deleted) and the journal carries on from there."""
    commands = session(200)
    with db.durable(snapshot_every=0, snapshot_on_close=False) as durable:
        fill(durable, commands)
    last = len(commands)
    cut = last - 5
    with db.store() as store, store.engine.begin() as conn:
        events = conn.execute(
            select(t.journal.c.events).where(t.journal.c.entry_id == cut)
        ).scalar_one()
        conn.execute(
            update(t.journal)
            .where(t.journal.c.entry_id == cut)
            .values(events=events[: len(events) // 2])
        )
    with db.durable(snapshot_every=0) as durable:
        report = durable.recovery
        assert report.damage is not None and report.damage.entry_id == cut
        assert "checksum mismatch" in report.damage.reason
        assert report.entries == cut - 1
        assert report.quarantined == 6
        assert (
            durable.query(lambda ex: ex.state_hash()) == reference(commands[: cut - 1]).state_hash()
        )
        entry = durable.submit_entry(c.SetMarkPrice("BTCUSDT", Decimal("61000")), ts=1)
        assert entry.entry_id == cut
    with db.store(write=False) as store:
        with store.engine.connect() as conn:
            moved = conn.execute(select(t.quarantine.c.entry_id).order_by("entry_id")).scalars()
            assert list(moved) == list(range(cut, last + 1))
        rebuilt = store.read_model_rows()
    with db.store() as store:
        store.rebuild_read_models()
        assert store.read_model_rows() == rebuilt


def test_a_missing_entry_also_ends_the_whole_journal(db: Db) -> None:
    commands = session(60)
    with db.durable(snapshot_every=0) as durable:
        fill(durable, commands)
    with db.store() as store:
        with store.engine.begin() as conn:
            conn.execute(t.journal.delete().where(t.journal.c.entry_id == 40))
        ex, report = store.replay()
        assert report.damage is not None
        assert report.damage.reason == "entry 40 is missing (the next is 41)"
        assert ex.state_hash() == reference(commands[:39]).state_hash()
        assert store.head()[0] == len(commands)  # a replay only reports


def test_a_database_with_a_newer_schema_is_refused(db: Db) -> None:
    with db.store():
        pass
    with db.store() as store, store.engine.begin() as conn:
        conn.execute(text(f"UPDATE {t.VERSION_TABLE} SET version_num = '0999_from_the_future'"))
    with pytest.raises(StoreError, match=r"'0999_from_the_future'.*newer version"):
        db.store()


def test_the_migrated_schema_is_the_one_the_code_queries(db: Db) -> None:
    with db.store() as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": t.VERSION_TABLE})
        diff = compare_metadata(context, t.metadata)
    assert diff == []


def test_read_models_follow_the_exchange_and_rebuild_identically(db: Db) -> None:
    commands = session(400)
    with db.durable() as durable:
        fill(durable, commands)
        ledger = durable.query(lambda ex: ex.ledger.balances())
        positions = durable.query(
            lambda ex: {
                (a, p.symbol, p.side.value): (p.qty, p.entry_price)
                for a, acct in ex.accounts.items()
                for p in acct.positions()
            }
        )
        open_orders = durable.query(
            lambda ex: {o.order_id for o in ex.orders.values() if o.is_open}
        )
    with db.store() as store:
        rows = store.read_model_rows()
        balances = {(r[0], r[1]): r[3] for r in rows["balances"] if r[3] != 0}
        assert balances == ledger
        assert {
            (r[0], r[1], r[2]): (r[3], r[4]) for r in rows["positions"] if r[3] != 0
        } == positions
        assert {r[0] for r in rows["orders"] if r[8] in ("NEW", "PARTIALLY_FILLED")} == open_orders
        assert len(rows["fills"]) > 50 and len(rows["funding_payments"]) > 5
        assert store.projection_mark() == len(commands)
        assert store.rebuild_read_models() == len(commands)
        assert store.read_model_rows() == rows


def test_concurrent_submitters_share_commits(db: Db) -> None:
    commands = session(40)
    with db.durable() as durable:
        fill(durable, commands[:20])
        marks = [c.SetMarkPrice("ETHUSDT", Decimal(3000 + k)) for k in range(400)]
        outcomes: list[Any] = []

        def client(part: list[Any]) -> None:
            outcomes.extend(durable.submit_many(part))

        threads = [threading.Thread(target=client, args=(marks[k::4],)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(o.accepted for o in outcomes) and len(outcomes) == 400
        assert durable.writer.batches < 420 / 2
        assert durable.durable_entry_id == 420


def test_asyncio_callers_await_durability(db: Db) -> None:
    async def main(durable: DurableExchange) -> list[Any]:
        return await asyncio.gather(
            durable.asubmit(c.OpenAccount("x")), durable.asubmit(c.OpenAccount("x"))
        )

    with db.durable() as durable:
        first, second = asyncio.run(main(durable))
    assert first.accepted and second.error.code == ErrorCode.ACCOUNT_EXISTS.code


def test_a_command_that_cannot_be_journaled_is_refused_and_recorded(db: Db) -> None:
    with db.durable() as durable:
        outcome = durable.submit(c.OpenAccount(123))  # type: ignore[arg-type]
        assert outcome.error is not None and outcome.error.code == "INVALID_INPUT"
        assert durable.submit(c.OpenAccount("ok")).seq == 1
    with db.store(write=False) as store:
        first, second = store.rows()
        assert (first["seq"], first["command_type"], first["error_code"]) == (
            None,
            "OpenAccount",
            "INVALID_INPUT",
        )
        assert first["command"] == '{"@":"OpenAccount","account_id":123,"fee_tier":"VIP0"}'
        assert second["seq"] == 1


def test_a_failed_commit_stops_the_store_and_nothing_unjournaled_is_acknowledged(db: Db) -> None:
    with db.durable() as durable:
        assert durable.submit(c.OpenAccount("a")).accepted

        def broken(*args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

        durable.store.append = broken  # type: ignore[method-assign]
        with pytest.raises(StoreError, match="disk full"):
            durable.submit(c.OpenAccount("b"))
        with pytest.raises(StoreError, match="stopped"):
            durable.submit(c.OpenAccount("c"))
    with db.durable() as durable:
        assert durable.recovery.entries == 1
        assert set(durable.query(lambda ex: ex.accounts)) == {"a"}


def test_only_one_writer_at_a_time(db: Db) -> None:
    with db.durable(), pytest.raises(StoreError, match="another process is writing"):
        db.store(lock_timeout=0.2)


def test_migration_files_follow_the_naming_the_store_reads_revisions_by() -> None:
    """``db.revisions()`` reads revision ids from file names (no Alembic on open): hold Alembic's
    own view to it — ids equal file names, numbered in order, one linear history."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    history = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert history == revisions()
    assert script.get_heads() == [head_revision()]


def test_an_older_schema_is_migrated_on_open_keeping_its_journal(db: Db) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from isocross.store.db import make_engine

    engine = make_engine(db.url, schema=db.schema)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revisions()[0])
    with engine.connect() as conn:
        assert not inspect(conn).has_table("store_meta")
    engine.dispose()
    with db.store() as store:
        assert store.revision == head_revision() != revisions()[0]
        store.set_meta("factory", "isocross.engine.exchange:Exchange")
        assert store.factory() is Exchange
