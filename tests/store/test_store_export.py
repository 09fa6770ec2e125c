"""The venue with its risk engine, journaled: liquidation, margin-call and insurance-fund read
models, snapshots of the whole venue, and the trade journal export (CSV and Parquet, exact)
through ``isocross journal``."""

from __future__ import annotations

import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from isocross.cli import main
from isocross.engine import commands as c
from isocross.engine.orders import OrderType
from isocross.model.enums import MarginMode, Side
from isocross.risk import commands as rc
from isocross.risk.engine import new_exchange
from isocross.store import Store
from isocross.store.export import trade_journal
from store.store_support import Db

T0 = 1_700_000_000_000
BUY, SELL, LIMIT, MARKET = Side.BUY, Side.SELL, OrderType.LIMIT, OrderType.MARKET
SCENARIO: list[Any] = [
    c.SetMarkPrice("BTCUSDT", D("60000.0")),
    c.SetMarkPrice("ETHUSDT", D("2500.00")),
    c.OpenAccount("trader"),
    c.Deposit("trader", "USDT", D("10000")),
    c.Transfer("trader", "USDT", D("10000")),
    c.OpenAccount("street", "VIP9"),
    c.Deposit("street", "USDT", D("10000000")),
    c.Transfer("street", "USDT", D("10000000")),
    # A cross BTC round trip: taker fees 0.05 %, funding 0.01 % paid, 40 USDT realized.
    c.PlaceOrder("street", "BTCUSDT", SELL, LIMIT, D("0.100"), D("60000.0")),
    c.PlaceOrder("trader", "BTCUSDT", BUY, MARKET, D("0.100")),
    c.SettleFunding("BTCUSDT", D("0.0001")),
    c.SetMarkPrice("BTCUSDT", D("61000.0")),
    c.PlaceOrder("street", "BTCUSDT", BUY, LIMIT, D("0.040"), D("61000.0")),
    c.PlaceOrder("trader", "BTCUSDT", SELL, LIMIT, D("0.040"), D("61000.0")),
    # An isolated 5x ETH long (200 USDT margin) liquidated on the book at 2,005.
    c.SetMarginMode("trader", "ETHUSDT", MarginMode.ISOLATED),
    c.SetLeverage("trader", "ETHUSDT", 5),
    rc.SetMarginCallThresholds("trader", margin_ratio=(D("0.02"),)),
    c.PlaceOrder("street", "ETHUSDT", SELL, LIMIT, D("0.400"), D("2500.00")),
    c.PlaceOrder("trader", "ETHUSDT", BUY, LIMIT, D("0.400"), D("2500.00")),
    c.PlaceOrder("street", "ETHUSDT", BUY, LIMIT, D("0.400"), D("2005.00")),
    c.SetMarkPrice("ETHUSDT", D("2200.00")),
    c.SetMarkPrice("ETHUSDT", D("2008.00")),
]

# fee = notional × 0.0005 (VIP0 taker); funding 6,000 × 0.0001; realized 0.04 × 1,000 and
# 0.4 × (2,005 − 2,500); the 2 USDT clearance fee is what the isolated wallet had left.
EXPECTED_CSV = """\
seq,ts,time,kind,symbol,side,position_side,order_id,trade_id,maker,qty,price,fee,realized_pnl,funding,asset,net_pnl,cumulative_pnl
10,1700000540000,2023-11-14T22:22:20.000Z,fill,BTCUSDT,BUY,,2,1,false,0.100,60000.00,3.00000000,0,,USDT,-3.00000000,-3.00000000
11,1700000600000,2023-11-14T22:23:20.000Z,funding,BTCUSDT,,BOTH,,,,,,,,-0.60000000,USDT,-0.60000000,-3.60000000
14,1700000780000,2023-11-14T22:26:20.000Z,fill,BTCUSDT,SELL,,4,2,false,0.040,61000.00,1.22000000,40.00000,,USDT,38.78000000,35.18000000
19,1700001080000,2023-11-14T22:31:20.000Z,fill,ETHUSDT,BUY,,6,3,false,0.400,2500.00,0.50000000,0,,USDT,-0.50000000,34.68000000
22,1700001260000,2023-11-14T22:34:20.000Z,liquidation_started,,,,,,,,,,,,,,
22,1700001260000,2023-11-14T22:34:20.000Z,fill,ETHUSDT,SELL,,8,4,false,0.400,2005.00,0,-198.00000,,USDT,-198.00000,-163.32000000
22,1700001260000,2023-11-14T22:34:20.000Z,liquidation_filled,ETHUSDT,,BOTH,,,,0.400,2005.00,,,,,,
22,1700001260000,2023-11-14T22:34:20.000Z,liquidation_ended,,,,,,,,,2.00000000,,,USDT,-2.00000000,-165.32000000
"""


def journal(db: Db) -> None:
    with db.durable(factory=new_exchange, snapshot_every=40) as durable:
        for k, command in enumerate(SCENARIO):
            outcome = durable.submit(command, ts=T0 + 60_000 * k)
            assert outcome.accepted, (command, outcome.error)


def isocross(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the ``isocross`` entry point in this process: (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["isocross", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def test_risk_read_models_and_a_snapshot_of_the_whole_venue(db: Db) -> None:
    journal(db)
    with db.store() as store:
        rows = store.read_model_rows()
        recovered, report = store.recover(new_exchange)
        replayed, _ = store.replay(new_exchange)
    assert [(r[4], r[5], r[8], r[9]) for r in rows["liquidations"]] == [
        ("LiquidationStarted", "ETHUSDT:BOTH", None, None),
        ("LiquidationFilled", "ETHUSDT:BOTH", D("0.400"), D("2005.00")),
        ("LiquidationEnded", "ETHUSDT:BOTH", None, None),
    ]
    assert [(r[3], r[4], r[5], r[6], r[7]) for r in rows["margin_calls"]] == [
        ("trader", "ETHUSDT:BOTH", "margin_ratio", D("0.02"), D("0.020"))
    ]
    assert [(r[3], r[4], r[5], r[6], r[7]) for r in rows["insurance_fund"]] == [
        ("USDT", D("2"), D("2"), "trader:futures", "liquidation clearance fee")
    ]
    assert report.snapshot is not None and report.snapshot.entry_id == len(SCENARIO)
    assert report.replayed == 0  # the risk engine came back from the snapshot, not a replay
    assert recovered.state_hash() == replayed.state_hash()
    assert "risk" in recovered.extensions


def test_the_trade_journal_exports_exactly_as_csv_and_parquet(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal(db)
    csv_path, parquet_path = tmp_path / "trader.csv", tmp_path / "trader.parquet"
    code, out, _ = isocross(
        "journal", "export", *db.args(), "--account", "trader", "--format", "csv",
        "--out", str(csv_path), capsys=capsys,
    )  # fmt: skip
    assert (code, out) == (0, f"wrote 8 rows for trader to {csv_path}\n")
    assert csv_path.read_text() == EXPECTED_CSV
    code, _, _ = isocross(
        "journal", "export", *db.args(), "--account", "trader", "--format", "parquet",
        "--out", str(parquet_path), capsys=capsys,
    )  # fmt: skip
    assert code == 0
    table = pq.read_table(parquet_path)
    assert str(table.schema.field("realized_pnl").type) == "decimal128(38, 5)"
    assert str(table.schema.field("fee").type) == "decimal128(38, 8)"
    assert str(table.schema.field("time").type) == "timestamp[ms, tz=UTC]"
    with db.store(write=False) as store:
        expected = trade_journal(store, "trader")
    got = table.to_pylist()
    assert [list(row) for row in got] == [list(row) for row in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs  # decimals equal value for value, None where None
    assert got[-1]["cumulative_pnl"] == D("-165.32")


def test_verify_reports_a_sound_journal_and_one_line_errors(
    db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal(db)
    code, out, err = isocross("journal", "verify", *db.args(), "--entries", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len([line for line in lines if "SetMarkPrice: seq" in line]) == 5
    assert "entries: 22 whole (accepted 22, refused 0); events: " in out
    assert "events identical to the journal's: yes" in out
    assert "ledger balances: yes" in out and lines[-1] == "verified: yes"
    code, out, err = isocross(
        "journal", "export", *db.args(), "--account", "nobody", "--out", str(tmp_path / "x"),
        capsys=capsys,
    )  # fmt: skip
    assert (code, out, err) == (2, "", "error: the journal has no account 'nobody'\n")
    code, _, err = isocross("journal", "verify", "--db", str(tmp_path / "none"), capsys=capsys)
    assert code == 2 and err.startswith("error: no journal at ") and err.count("\n") == 1


def test_verify_fails_on_a_damaged_entry(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    journal(db)
    with db.store() as store, store.engine.begin() as conn:
        from isocross.store import schema as t

        conn.execute(t.journal.update().where(t.journal.c.entry_id == 20).values(ts=1))
    code, out, err = isocross("journal", "verify", *db.args(), capsys=capsys)
    assert code == 1
    assert "damage: entry 20 is damaged (checksum mismatch)" in out
    assert "at entry 22 (seq 22): UNUSABLE: entry 22 is past what could be replayed" in out
    assert err == "error: the journal did not verify (see the report above)\n"
    with Store.open(db.url, schema=db.schema, write=False) as store:
        assert store.head() == (22, 22)  # verify only reads
