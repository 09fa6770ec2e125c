"""History from the store's read models (fills, orders, funding, liquidations, margin calls,
the insurance fund): SQL on the tables the journal writer keeps in step with each commit.

Everything an acknowledged command did is in them (they are written in the journal's
transaction). Queries run on a worker thread; rows come back as dicts of plain values.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, and_, select

from isocross.store import schema as t

T = TypeVar("T")
MAX_ROWS = 1000


class History:
    """Read-model queries of one store (``engine``: the store's SQLAlchemy engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def _rows(self, stmt: Select[Any]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    @staticmethod
    def _window(stmt: Select[Any], ts: Any, start: int | None, end: int | None) -> Select[Any]:
        if start is not None:
            stmt = stmt.where(ts >= start)
        if end is not None:
            stmt = stmt.where(ts <= end)
        return stmt

    # ------------------------------------------------------------------ per account
    def fills(
        self,
        account_id: str,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        from_id: int | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """The account's fills, oldest first (the latest ``limit`` unless a start is given)."""
        f = t.fills
        stmt = select(f).where(f.c.account_id == account_id)
        if symbol is not None:
            stmt = stmt.where(f.c.symbol == symbol)
        if from_id is not None:
            stmt = stmt.where(f.c.trade_id >= from_id)
        stmt = self._window(stmt, f.c.ts, start, end)
        return self._page(stmt, (f.c.seq, f.c.idx), start is not None or from_id is not None, limit)

    def _page(
        self, stmt: Select[Any], order: tuple[Any, ...], forward: bool, limit: int
    ) -> list[dict[str, Any]]:
        limit = max(1, min(limit, MAX_ROWS))
        if forward:
            return self._rows(stmt.order_by(*order).limit(limit))
        rows = self._rows(stmt.order_by(*[c.desc() for c in order]).limit(limit))
        rows.reverse()
        return rows

    def orders(
        self, account_id: str, symbol: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        o = t.orders
        stmt = select(o).where(o.c.account_id == account_id)
        if symbol is not None:
            stmt = stmt.where(o.c.symbol == symbol)
        return self._page(stmt, (o.c.created_seq,), False, limit)

    def funding(
        self,
        account_id: str,
        symbol: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        f = t.funding_payments
        stmt = select(f).where(f.c.account_id == account_id)
        if symbol is not None:
            stmt = stmt.where(f.c.symbol == symbol)
        stmt = self._window(stmt, f.c.ts, start, end)
        return self._page(stmt, (f.c.seq, f.c.idx), start is not None, limit)

    def liquidations(self, account_id: str, limit: int = 500) -> list[dict[str, Any]]:
        q = t.liquidations
        rows = self._page(
            select(q).where(q.c.account_id == account_id), (q.c.seq, q.c.idx), False, limit
        )
        for row in rows:
            row["details"] = json.loads(row["details"])
        return rows

    def margin_calls(self, account_id: str, limit: int = 500) -> list[dict[str, Any]]:
        m = t.margin_calls
        return self._page(
            select(m).where(m.c.account_id == account_id), (m.c.seq, m.c.idx), False, limit
        )

    def income(
        self,
        account_id: str,
        symbol: str | None,
        income_type: str | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Binance's income history: realized PnL and commissions from fills, funding fees."""
        out: list[dict[str, Any]] = []
        if income_type in (None, "REALIZED_PNL", "COMMISSION"):
            for r in self.fills(account_id, symbol, start, end, None, MAX_ROWS):
                base = {"symbol": r["symbol"], "asset": r["asset"], "time": r["ts"]}
                base["tradeId"] = str(r["trade_id"])
                if income_type in (None, "REALIZED_PNL") and r["realized_pnl"]:
                    out.append(base | {"incomeType": "REALIZED_PNL", "income": r["realized_pnl"]})
                if income_type in (None, "COMMISSION") and r["fee"]:
                    out.append(base | {"incomeType": "COMMISSION", "income": -r["fee"]})
        if income_type in (None, "FUNDING_FEE"):
            for r in self.funding(account_id, symbol, start, end, MAX_ROWS):
                out.append(
                    {
                        "symbol": r["symbol"],
                        "asset": r["asset"],
                        "time": r["ts"],
                        "tradeId": "",
                        "incomeType": "FUNDING_FEE",
                        "income": r["amount"],
                    }
                )
        out.sort(key=lambda r: r["time"])
        return out[-max(1, min(limit, MAX_ROWS)) :]

    # ------------------------------------------------------------------ venue-wide
    def insurance(self, asset: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        i = t.insurance_fund
        stmt = select(i)
        if asset is not None:
            stmt = stmt.where(i.c.asset == asset)
        return self._page(stmt, (i.c.seq, i.c.idx), False, limit)

    def recent_trades(self, since: int) -> list[tuple[str, int, int, Decimal, Decimal, bool]]:
        """Trades since ``since`` (one row per trade: the taker's fill), oldest first."""
        f = t.fills
        stmt = (
            select(f.c.symbol, f.c.trade_id, f.c.ts, f.c.price, f.c.qty, f.c.side)
            .where(and_(f.c.is_maker.is_(False), f.c.ts >= since))
            .order_by(f.c.seq, f.c.idx)
            .limit(200_000)
        )
        with self.engine.connect() as conn:
            return [
                (r.symbol, r.trade_id, r.ts, r.price, r.qty, r.side == "SELL")
                for r in conn.execute(stmt)
            ]

    def funding_rates(self) -> list[tuple[str, int, Decimal]]:
        """Every (symbol, time, rate) funding was paid at, oldest first."""
        f = t.funding_payments
        stmt = (
            select(f.c.symbol, f.c.ts, f.c.rate)
            .group_by(f.c.symbol, f.c.ts, f.c.rate)
            .order_by(f.c.ts)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]

    def order_times(self) -> dict[str, tuple[int, int]]:
        """Created and updated time of every open order (to answer with Binance's times)."""
        o = t.orders
        stmt = select(o.c.order_id, o.c.created_ts, o.c.updated_ts).where(
            o.c.status.in_(("NEW", "PARTIALLY_FILLED"))
        )
        with self.engine.connect() as conn:
            return {r.order_id: (r.created_ts, r.updated_ts) for r in conn.execute(stmt)}
