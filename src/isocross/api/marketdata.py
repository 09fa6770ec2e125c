"""Market data kept beside the exchange, from its durable events: book mirrors, recent trades,
one-minute candles (aggregated to any interval on request), marks, funding history, order times.

It lives on the event loop and is fed by :meth:`~isocross.api.venue.Venue.listen` in journal
order, so public market endpoints and streams never need to interrupt the sequencer. Each book
mirror starts from a depth snapshot taken on the sequencer and applies only events after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from isocross.engine.events import DepthChanged, FundingPaid, OrderUpdated, PriceUpdated, Trade
from isocross.engine.exchange import Exchange, Outcome
from isocross.model.money import ZERO

MINUTE = 60_000
INTERVALS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": 60 * MINUTE,
    "2h": 120 * MINUTE,
    "4h": 240 * MINUTE,
    "6h": 360 * MINUTE,
    "8h": 480 * MINUTE,
    "12h": 720 * MINUTE,
    "1d": 1440 * MINUTE,
    "3d": 3 * 1440 * MINUTE,
    "1w": 7 * 1440 * MINUTE,
}
KEEP_MINUTES = 7 * 1440
KEEP_TRADES = 1000


@dataclass(slots=True)
class BookMirror:
    """Price → quantity per side, as of journal ``seq``."""

    seq: int = 0
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    def top(
        self, levels: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        bids = sorted(self.bids.items(), key=lambda kv: kv[0], reverse=True)[:levels]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:levels]
        return bids, asks

    def best(self) -> tuple[tuple[Decimal, Decimal] | None, tuple[Decimal, Decimal] | None]:
        bid = max(self.bids.items(), key=lambda kv: kv[0]) if self.bids else None
        ask = min(self.asks.items(), key=lambda kv: kv[0]) if self.asks else None
        return bid, ask


@dataclass(frozen=True, slots=True)
class TradeRow:
    trade_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time: int
    buyer_is_maker: bool


@dataclass(slots=True)
class Candle:
    """One interval of trades: OHLC, base and quote volume, count, taker-buy volumes."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    count: int = 0
    taker_buy_volume: Decimal = ZERO
    taker_buy_quote: Decimal = ZERO
    first_id: int = 0
    last_id: int = 0

    def add(self, t: TradeRow) -> None:
        self.high = max(self.high, t.price)
        self.low = min(self.low, t.price)
        self.close = t.price
        self.volume += t.qty
        self.quote_volume += t.quote_qty
        self.count += 1
        if not t.buyer_is_maker:
            self.taker_buy_volume += t.qty
            self.taker_buy_quote += t.quote_qty
        self.last_id = t.trade_id

    def merge(self, other: Candle) -> None:
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.count += other.count
        self.taker_buy_volume += other.taker_buy_volume
        self.taker_buy_quote += other.taker_buy_quote
        self.last_id = other.last_id


@dataclass(frozen=True, slots=True)
class FundingRow:
    symbol: str
    time: int
    rate: Decimal
    mark: Decimal | None


class MarketData:
    """The listener's state (see the module docstring)."""

    def __init__(self, exchange: Exchange) -> None:
        self.catalogue = exchange.catalogue
        self.books: dict[str, BookMirror] = {s: BookMirror() for s in self.catalogue.instruments}
        self.trades: dict[str, deque[TradeRow]] = {
            s: deque(maxlen=KEEP_TRADES) for s in self.catalogue.instruments
        }
        self.candles: dict[str, dict[int, Candle]] = {s: {} for s in self.catalogue.instruments}
        self.marks: dict[str, Decimal] = {}
        self.index: dict[str, Decimal] = {}
        self.price_time: dict[str, int] = {}
        self.order_times: dict[str, tuple[int, int]] = {}
        self.funding: dict[str, list[FundingRow]] = {s: [] for s in self.catalogue.instruments}
        self.seq = 0

    # ------------------------------------------------------------------ start
    def load(self, snapshot: dict[str, Any]) -> None:
        """Start from :func:`snapshot` (taken on the sequencer)."""
        self.seq = snapshot["seq"]
        for symbol, (bids, asks) in snapshot["books"].items():
            self.books[symbol] = BookMirror(self.seq, dict(bids), dict(asks))
        self.marks.update(snapshot["marks"])
        self.index.update(snapshot["index"])

    def load_trades(self, rows: Iterable[tuple[str, int, int, Decimal, Decimal, bool]]) -> None:
        """Replay recent trades (symbol, trade id, time, price, qty, buyer is maker)."""
        for symbol, trade_id, ts, price, qty, buyer_maker in rows:
            if symbol in self.trades:
                self._trade(symbol, TradeRow(trade_id, price, qty, price * qty, ts, buyer_maker))

    def load_funding(self, rows: Iterable[tuple[str, int, Decimal]]) -> None:
        for symbol, ts, rate in rows:
            self._funding(symbol, ts, rate, None)

    # ------------------------------------------------------------------ the listener
    def on_outcome(self, command: Any, outcome: Outcome) -> None:
        for e in outcome.events:
            if isinstance(e, DepthChanged):
                self._depth(e)
            elif isinstance(e, OrderUpdated):
                times = self.order_times.get(e.order_id)
                self.order_times[e.order_id] = (times[0] if times else e.ts, e.ts)
            elif isinstance(e, Trade):
                inst = self.catalogue.instrument(e.symbol)
                quote = inst.notional(e.qty, e.price)
                row = TradeRow(e.trade_id, e.price, e.qty, quote, e.ts, not e.taker_is_buyer)
                self._trade(e.symbol, row)
            elif isinstance(e, PriceUpdated):
                (self.marks if e.kind == "mark" else self.index)[e.symbol] = e.price
                self.price_time[e.symbol] = e.ts
            elif isinstance(e, FundingPaid):
                self._funding(e.symbol, e.ts, e.rate, self.marks.get(e.symbol))
        self.seq = max(self.seq, outcome.seq or 0)

    def _depth(self, e: DepthChanged) -> None:
        book = self.books[e.symbol]
        if e.seq <= book.seq:
            return
        for side, levels in ((book.bids, e.bids), (book.asks, e.asks)):
            for price, qty in levels:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
        book.seq = e.seq

    def _trade(self, symbol: str, t: TradeRow) -> None:
        self.trades[symbol].append(t)
        start = t.time - t.time % MINUTE
        candles = self.candles[symbol]
        candle = candles.get(start)
        if candle is None:
            candle = Candle(start, t.price, t.price, t.price, t.price, first_id=t.trade_id)
            candles[start] = candle
            if len(candles) > KEEP_MINUTES:
                for old in sorted(candles)[: len(candles) - KEEP_MINUTES]:
                    del candles[old]
        candle.add(t)

    def _funding(self, symbol: str, ts: int, rate: Decimal, mark: Decimal | None) -> None:
        rows = self.funding.setdefault(symbol, [])
        if rows and rows[-1].time == ts:
            return
        rows.append(FundingRow(symbol, ts, rate, mark))

    def record_funding(self, symbol: str, ts: int, rate: Decimal) -> None:
        """A settlement seen by polling the risk engine (also when nobody held a position)."""
        self._funding(symbol, ts, rate, self.marks.get(symbol))

    # ------------------------------------------------------------------ queries
    def klines(
        self, symbol: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[Candle]:
        """Candles of ``interval`` from the one-minute ones (oldest first, at most ``limit``)."""
        step = INTERVALS[interval]
        out: dict[int, Candle] = {}
        for minute in sorted(self.candles[symbol]):
            c = self.candles[symbol][minute]
            key = minute - minute % step
            if start is not None and key + step <= start:
                continue
            if end is not None and key > end:
                break
            have = out.get(key)
            if have is None:
                out[key] = Candle(
                    key,
                    c.open,
                    c.high,
                    c.low,
                    c.close,
                    c.volume,
                    c.quote_volume,
                    c.count,
                    c.taker_buy_volume,
                    c.taker_buy_quote,
                    c.first_id,
                    c.last_id,
                )
            else:
                have.merge(c)
        rows = [out[k] for k in sorted(out)]
        return rows[-limit:] if start is None else rows[:limit]

    def day(self, symbol: str, now: int) -> Candle | None:
        """The last 24 hours as one candle (None without trades)."""
        since = now - 1440 * MINUTE
        total: Candle | None = None
        for minute in sorted(self.candles[symbol]):
            if minute < since - MINUTE:
                continue
            c = self.candles[symbol][minute]
            if total is None:
                total = Candle(
                    minute, c.open, c.high, c.low, c.close, first_id=c.first_id, last_id=c.last_id
                )
                total.volume, total.quote_volume, total.count = c.volume, c.quote_volume, c.count
            else:
                total.merge(c)
        return total


def snapshot(ex: Exchange) -> dict[str, Any]:
    """What :meth:`MarketData.load` starts from (run it on the sequencer)."""
    books = {}
    for symbol in ex.catalogue.instruments:
        books[symbol] = ex.depth(symbol, 10**9)
    return {"seq": ex.seq, "books": books, "marks": dict(ex.marks), "index": dict(ex.index)}
