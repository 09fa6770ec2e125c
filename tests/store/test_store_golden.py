"""The golden journal pins determinism across versions.

``tests/golden/journal.jsonl`` holds 318 commands with their times (every kind the engine
takes, some refused). Replaying it must give :data:`GOLDEN_HASH`, whatever the version,
backend or number of replays. A change that alters the hash must be deliberate: it changes
what every existing journal replays to. When it is (the state hash covers more, an engine rule
changed on purpose), print the new hash and update the constant:

    cd tests && ../.venv/bin/python -m store.test_store_golden            # the file's hash now
    cd tests && ../.venv/bin/python -m store.test_store_golden --rewrite  # regenerate it too

``--rewrite`` rebuilds the file from ``store.store_workload.session`` — only needed when the command
set itself should change (a new command class, say); see tests/golden/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from isocross.store.jsonl import read_jsonl, replay_jsonl, write_jsonl
from store.store_support import Db
from store.store_workload import session

GOLDEN = Path(__file__).parent.parent / "golden" / "journal.jsonl"
GOLDEN_HASH = "075df690768767942dbf7b09277815f2a2ce6d84c3fed85f422b681e87497c09"
GOLDEN_ACCEPTED = 307


def test_the_golden_journal_replays_to_the_pinned_hash_every_time() -> None:
    first, journal = replay_jsonl(GOLDEN)
    second, _ = replay_jsonl(GOLDEN)
    assert journal.warnings == [] and len(journal.commands) == 318
    assert first.state_hash() == second.state_hash()
    assert first.state_hash() == GOLDEN_HASH, (
        f"the golden journal now replays to {first.state_hash()}: if that change is deliberate, "
        "update GOLDEN_HASH (see this module's docstring)"
    )
    assert first.seq == GOLDEN_ACCEPTED and first.ledger.imbalance() == {}


def test_journaled_on_either_backend_it_replays_and_recovers_to_the_same_hash(db: Db) -> None:
    commands = read_jsonl(GOLDEN).commands
    with db.durable(snapshot_every=500) as durable:
        futures = [durable.enqueue(command, ts=ts) for command, ts in commands]
        assert all(f.result(30).entry_id for f in futures)
    with db.store(write=False) as store:
        replayed, _ = store.replay()
        recovered, report = store.recover()
    assert report.snapshot is not None
    assert replayed.state_hash() == recovered.state_hash() == GOLDEN_HASH


def test_a_truncated_or_damaged_line_ends_the_file_where_the_whole_entries_end(
    tmp_path: Path,
) -> None:
    lines = GOLDEN.read_bytes().split(b"\n")[:-1]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines[:-1]) + b"\n" + lines[-1][:25])
    journal = read_jsonl(cut)
    assert len(journal.commands) == 317
    assert journal.warnings == [f"{cut}: line 319 (entry 318) is cut short; read up to entry 317"]
    damaged = tmp_path / "damaged.jsonl"
    lines[100] = lines[100].replace(b'"ts":', b'"ts":"')
    damaged.write_bytes(b"\n".join(lines) + b"\n")
    journal = read_jsonl(damaged)
    assert len(journal.commands) == 99  # stops there: never skips to the lines after it
    assert journal.warnings[0].startswith(f"{damaged}: line 101 is not a whole entry")


if __name__ == "__main__":
    if "--rewrite" in sys.argv:
        write_jsonl(GOLDEN, session(300, seed=11))
    ex, journal = replay_jsonl(GOLDEN)
    print(f'GOLDEN_HASH = "{ex.state_hash()}"')
    print(f"GOLDEN_ACCEPTED = {ex.seq}  # of {len(journal.commands)} commands")
