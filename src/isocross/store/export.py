"""An account's trade journal from the read models: fills, funding, liquidations, realized PnL.

One row per fill, funding payment and liquidation step, in the order they happened (entry
``seq``, then the event's place in it). ``net_pnl`` is what the row did to the account's
result (a fill: realized PnL − fee; funding: the payment) and ``cumulative_pnl`` its running
sum per margin asset (a liquidation's clearance fee counts too: ``liquidation_ended`` rows).
CSV writes every number in plain decimal notation exactly as recorded;
Parquet keeps numbers as ``decimal128`` with the scale the column needs (exact as well), and
the time as a UTC timestamp in milliseconds.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from isocross.catalogue import load_catalogue
from isocross.store import schema as t
from isocross.store.db import StoreError
from isocross.store.store import Store

COLUMNS = (
    "seq",
    "ts",
    "time",
    "kind",
    "symbol",
    "side",
    "position_side",
    "order_id",
    "trade_id",
    "maker",
    "qty",
    "price",
    "fee",
    "realized_pnl",
    "funding",
    "asset",
    "net_pnl",
    "cumulative_pnl",
)
DECIMALS = ("qty", "price", "fee", "realized_pnl", "funding", "net_pnl", "cumulative_pnl")
FORMATS = ("csv", "parquet")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _row(seq: int, ts: int, kind: str, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(seq=seq, ts=ts, kind=kind, **values)
    return row


def trade_journal(store: Store, account_id: str) -> list[dict[str, Any]]:
    """The account's rows (see the module docstring), oldest first."""
    keyed: list[tuple[tuple[int, int], dict[str, Any]]] = []
    with store.engine.connect() as conn:
        for f in conn.execute(select(t.fills).where(t.fills.c.account_id == account_id)):
            row = _row(
                f.seq,
                f.ts,
                "fill",
                symbol=f.symbol,
                side=f.side,
                order_id=f.order_id,
                trade_id=f.trade_id,
                maker=f.is_maker,
                qty=f.qty,
                price=f.price,
                fee=f.fee,
                realized_pnl=f.realized_pnl,
                asset=f.asset,
                net_pnl=f.realized_pnl - f.fee,
            )
            keyed.append(((f.seq, f.idx), row))
        funding = t.funding_payments
        for p in conn.execute(select(funding).where(funding.c.account_id == account_id)):
            row = _row(
                p.seq,
                p.ts,
                "funding",
                symbol=p.symbol,
                position_side=p.position_side,
                funding=p.amount,
                asset=p.asset,
                net_pnl=p.amount,
            )
            keyed.append(((p.seq, p.idx), row))
        liq = t.liquidations
        for q in conn.execute(select(liq).where(liq.c.account_id == account_id)):
            row = _row(
                q.seq,
                q.ts,
                _snake(q.kind),
                symbol=q.symbol,
                position_side=q.position_side,
                qty=q.qty,
                price=q.price,
            )
            if q.kind == "LiquidationEnded":  # the clearance fee the account paid
                fee = Decimal(json.loads(q.details).get("fee", "0"))
                row.update(fee=fee, net_pnl=-fee, asset=_pool_asset(q.pool))
            keyed.append(((q.seq, q.idx), row))
    keyed.sort(key=lambda item: item[0])
    totals: dict[str, Decimal] = {}
    rows = []
    for _, row in keyed:
        row["time"] = datetime.fromtimestamp(row["ts"] / 1000, UTC)
        if row["net_pnl"] is not None and row["asset"] is not None:
            total = totals.get(row["asset"], Decimal(0)) + row["net_pnl"]
            totals[row["asset"]] = row["cumulative_pnl"] = total
        rows.append(row)
    return rows


def _pool_asset(pool: str | None) -> str | None:
    """A pool is a margin asset (``USDT``) or an isolated position (``ETHUSDT:BOTH``)."""
    if not pool:
        return None
    catalogue = load_catalogue()
    if pool in catalogue.assets:
        return pool
    inst = catalogue.instruments.get(pool.split(":", 1)[0])
    return None if inst is None else inst.margin_asset.name


def _plain(value: Decimal) -> str:
    """Exact, without an exponent, and without a minus on zero (backends differ on -0)."""
    return f"{value.copy_abs() if value.is_zero() else value:f}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_text(row[c]) for c in COLUMNS])


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    columns: dict[str, Any] = {}
    for name in COLUMNS:
        values = [row[name] for row in rows]
        if name in DECIMALS:
            present = [v for v in values if v is not None]
            scale = max((max(0, -int(v.as_tuple().exponent)) for v in present), default=0)
            digits = max((len(v.as_tuple().digits) + scale for v in present), default=1)
            if digits <= 38:
                values = [
                    None if v is None else (v.copy_abs() if v.is_zero() else v) for v in values
                ]
                columns[name] = pa.array(values, type=pa.decimal128(38, scale))
            else:  # too many digits for decimal128: exact text instead
                columns[name] = pa.array(
                    [None if v is None else _plain(v) for v in values], pa.string()
                )
        elif name in ("seq", "ts", "trade_id"):
            columns[name] = pa.array(values, type=pa.int64())
        elif name == "time":
            columns[name] = pa.array(values, type=pa.timestamp("ms", tz="UTC"))
        elif name == "maker":
            columns[name] = pa.array(values, type=pa.bool_())
        else:
            columns[name] = pa.array(values, type=pa.string())
    pq.write_table(pa.table(columns), path)


def export(store: Store, account_id: str, fmt: str, path: Path) -> int:
    """Write the account's trade journal to ``path``; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    rows = trade_journal(store, account_id)
    if not rows:
        with store.engine.connect() as conn:
            known = conn.execute(
                select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id)
            ).first()
        if known is None:
            raise StoreError(f"the journal has no account {account_id!r}")
    (write_csv if fmt == "csv" else write_parquet)(rows, path)
    return len(rows)
