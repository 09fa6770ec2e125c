"""``isocross journal``: check a journal and export an account's trade journal.

    isocross journal verify --db URL [--schema NAME] [--entries] [--factory MODULE:FUNCTION]
    isocross journal export --db URL [--schema NAME] --account ID --format csv|parquet --out PATH

``--db`` takes a database URL, a SQLite file or a data directory (default ``data/``). Both
commands only read the journal (a schema older than the code's is migrated first). ``verify``
replays into the exchange the journal was written with (recorded by the store) unless
``--factory`` names another. It exits 0 when everything holds, 1 when it found a problem;
errors (no journal, a schema newer than this code, an unreachable database) are one line on
stderr with exit code 2, like the rest of the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from isocross.store.store import Store

FORMATS = ("csv", "parquet")

app = typer.Typer(
    name="journal",
    help="The durable journal: verify it, export an account's trade journal.",
    no_args_is_help=True,
    add_completion=False,
)

Db = Annotated[
    str | None, typer.Option("--db", help="Database URL, SQLite file or data directory.")
]
Schema = Annotated[str | None, typer.Option("--schema", help="PostgreSQL schema.")]


class JournalError(Exception):
    """A one-line error with exit code 2 (the ``isocross`` entry point prints it)."""

    exit_code = 2

    def format_message(self) -> str:
        return str(self)


class NotVerifiedError(JournalError):
    """``verify`` found a problem (exit code 1; the report above says which)."""

    exit_code = 1


def _open(db: str | None, schema: str | None) -> Store:
    from isocross.store.db import StoreError
    from isocross.store.store import Store

    try:
        return Store.open(db, schema=schema, create=False, write=False)
    except StoreError as exc:
        raise JournalError(str(exc)) from None


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@app.command()
def verify(
    db: Db = None,
    schema: Schema = None,
    entries: Annotated[
        bool, typer.Option("--entries", help="Also list every entry, one line each.")
    ] = False,
    factory: Annotated[
        str | None,
        typer.Option(
            "--factory",
            help="module:function building the exchange (default: the one the journal was "
            "written with).",
        ),
    ] = None,
) -> None:
    """Replay the journal from the first entry and check it: events, snapshots, ledger."""
    from isocross.store.db import StoreError
    from isocross.store.store import load_factory

    store = _open(db, schema)
    try:
        build = load_factory(factory) if factory else store.factory()
        if entries:
            for entry in store.entries():
                what = (
                    f"seq {entry.seq}, {len(entry.events)} events"
                    if entry.accepted
                    else f"refused {entry.error_code}: {entry.error_message}"
                )
                typer.echo(
                    f"{entry.entry_id:>8} {_time(entry.ts)} {type(entry.command).__name__}: {what}"
                )
        _, result = store.verify(build)
    except StoreError as exc:
        raise JournalError(str(exc)) from None
    finally:
        store.close()
    report = result.replay
    spec = f"{build.__module__}:{build.__qualname__}"
    refused = report.entries - report.seq
    typer.echo(f"journal: {store.url} (schema {store.revision}; exchange from {spec})")
    typer.echo(
        f"entries: {report.entries:,} whole (accepted {report.seq:,}, refused {refused:,}); "
        f"events: {report.events:,}"
    )
    if report.damage is not None:
        typer.echo(f"damage: {report.damage.reason}; the whole journal ends before it")
    if result.divergence is not None:
        typer.echo(f"replay: DIVERGED: {result.divergence}")
    else:
        same = "yes" if report.event_mismatches == 0 else f"NO ({report.event_mismatches:,} differ)"
        typer.echo(
            f"replay: {report.replayed:,} commands, {report.replayed_events:,} events in "
            f"{report.seconds:.2f} s; events identical to the journal's: {same}"
        )
    for info, problem in result.snapshots:
        typer.echo(
            f"snapshot {info.snapshot_id} at entry {info.entry_id:,} (seq {info.seq:,}): "
            + ("loads and matches the replay" if problem is None else f"UNUSABLE: {problem}")
        )
    typer.echo(f"state hash: {report.state_hash}")
    balanced = "yes" if not result.imbalance else f"NO: {result.imbalance}"
    typer.echo(f"ledger balances: {balanced}")
    typer.echo(f"verified: {'yes' if result.ok else 'NO'}")
    if not result.ok:
        raise NotVerifiedError("the journal did not verify (see the report above)")


@app.command("export")
def export_command(
    account: Annotated[str, typer.Option("--account", help="Account id.")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    db: Db = None,
    schema: Schema = None,
) -> None:
    """An account's fills, funding payments, liquidations and realized PnL as CSV or Parquet."""
    from isocross.store.db import StoreError
    from isocross.store.export import export

    if fmt not in FORMATS:
        raise JournalError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    store = _open(db, schema)
    try:
        rows = export(store, account, fmt, out)
    except StoreError as exc:
        raise JournalError(str(exc)) from None
    except OSError as exc:
        raise JournalError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        store.close()
    typer.echo(f"wrote {rows:,} rows for {account} to {out}")
