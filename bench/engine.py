"""Benchmark: the whole engine path, command → events, against bare book operations.

A deterministic session (seeded) of 20 traders and a market maker on BTCUSDT and ETHUSDT: mostly
passive limit orders near the touch, cancels, some aggressive IOC / market orders, market-maker
requotes (cancel-all plus a ladder of post-only quotes) and occasional mark updates. Every command
goes through :meth:`isocross.engine.Exchange.handle`: validation, pre-trade margin (order cost,
tier, available balance), matching, settlement of both sides, the ledger and the events.

The command stream is generated once against a live exchange (so cancels name orders that exist
and prices follow the book), recording every operation the engine made on its order books. The
timed runs then replay

* the commands into a fresh :class:`~isocross.engine.Exchange` (must end in the same state), and
* the recorded ``OrderBook.match`` / ``rest`` / ``cancel`` / ``reduce`` calls into fresh books:
  the bare matching cost of the same order flow, the baseline.

    python bench/engine.py [--quick] [--profile]

Last line: ``engine: N commands/s (baseline: M book ops/s, ratio: R×)`` with ``R = N / M``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from isocross.book import OrderBook
from isocross.catalogue import load_catalogue
from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.engine.events import OrderUpdated, Trade
from isocross.engine.market_maker import MarketMaker
from isocross.engine.orders import OrderType, TimeInForce
from isocross.model.enums import Side
from isocross.risk.engine import new_exchange

CATALOGUE = load_catalogue()
SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000")}
LOT_RANGE = {"BTCUSDT": (2, 200), "ETHUSDT": (10, 2000)}  # step multiples (0.001)
MM = "mm"
MAKERS = {
    "BTCUSDT": MarketMaker(MM, "BTCUSDT", Decimal("0.500")),
    "ETHUSDT": MarketMaker(MM, "ETHUSDT", Decimal("5.000")),
}
BookOp = tuple[str, str, tuple[Any, ...]]


class RecordingBook(OrderBook):
    """An order book that logs every mutating call (for the baseline replay)."""

    __slots__ = ("log",)

    def __init__(self, symbol: str, log: list[BookOp]) -> None:
        super().__init__(symbol)
        self.log = log

    def match(self, *args: Any) -> Any:
        self.log.append(("match", self.symbol, args))
        return super().match(*args)

    def rest(self, *args: Any) -> Any:
        self.log.append(("rest", self.symbol, args))
        return super().rest(*args)

    def cancel(self, *args: Any) -> Any:
        self.log.append(("cancel", self.symbol, args))
        return super().cancel(*args)

    def reduce(self, *args: Any) -> Any:
        self.log.append(("reduce", self.symbol, args))
        return super().reduce(*args)


def _clock() -> Any:
    now = iter(range(1_700_000_000_000, 1 << 62, 5))
    return lambda: next(now)


def setup_commands(traders: list[str]) -> list[c.Command]:
    """Accounts, money and first marks (not timed)."""
    rng = random.Random(1)
    out: list[c.Command] = [c.SetMarkPrice(s, START[s]) for s in SYMBOLS]
    out += [
        c.OpenAccount(MM, "MM"),
        c.Deposit(MM, "USDT", Decimal(50_000_000)),
        c.Transfer(MM, "USDT", Decimal(50_000_000)),
    ]
    for aid in traders:
        amount = Decimal(rng.randrange(50_000, 500_000, 1000))
        out += [
            c.OpenAccount(aid, rng.choice(["VIP0", "VIP0", "VIP1"])),
            c.Deposit(aid, "USDT", amount),
            c.Transfer(aid, "USDT", amount),
        ]
    return out


def _to_tick(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value(ROUND_HALF_EVEN) * tick


def generate(
    n: int, traders: list[str], seed: int = 7
) -> tuple[list[c.Command], Exchange, Counter[str]]:
    """``n`` timed commands, generated against a live exchange (returned in its end state, with
    counts of trades, events and refusals)."""
    rng = random.Random(seed)
    ex = Exchange(CATALOGUE, clock=_clock())
    for cmd in setup_commands(traders):
        assert ex.handle(cmd).accepted, cmd
    out: list[c.Command] = []
    stats: Counter[str] = Counter()

    def send(cmd: c.Command) -> None:
        out.append(cmd)
        outcome = ex.handle(cmd)
        if outcome.error is not None:
            stats["refused"] += 1
            stats[f"refused {outcome.error.code}"] += 1
        stats["events"] += len(outcome.events)
        stats["trades"] += sum(isinstance(e, Trade) for e in outcome.events)
        for event in outcome.events:
            if isinstance(event, OrderUpdated) and event.reason == "accepted":
                live[event.account_id].append(event.order_id)

    live: dict[str, list[str]] = {aid: [] for aid in [*traders, MM]}
    for symbol in SYMBOLS:
        for cmd in MAKERS[symbol].quotes(ex, ex.marks[symbol]):
            send(cmd)
    while len(out) < n:
        symbol = SYMBOLS[0] if rng.random() < 0.6 else SYMBOLS[1]
        inst = CATALOGUE.instrument(symbol)
        tick = inst.tick_size
        book = ex.books[symbol]
        mark = ex.marks[symbol]
        bid, ask = book.best_bid(), book.best_ask()
        mid = (Decimal(bid + ask) / 2 * tick) if bid is not None and ask is not None else mark
        aid = rng.choice(traders)
        lo, hi = LOT_RANGE[symbol]
        qty = rng.randint(lo, hi) * inst.step_size
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        roll = rng.random()
        mine = live[aid] = [o for o in live[aid] if ex.orders[o].is_open]
        if roll < 0.008:  # a mark update (random walk, a few bps) and the maker follows it
            step = Decimal(rng.randint(-4, 4)) / 10_000
            ex_mark = _to_tick(mark * (1 + step), tick)
            send(c.SetMarkPrice(symbol, ex_mark))
            for cmd in MAKERS[symbol].quotes(ex, ex_mark):
                send(cmd)
        elif roll < 0.02:  # a requote around the mark
            index = mark * (1 + Decimal(rng.randint(-2, 2)) / 10_000)
            for cmd in MAKERS[symbol].quotes(ex, index):
                send(cmd)
        elif roll < 0.30 or len(mine) > 12:  # cancel one of the trader's orders
            if mine:
                send(c.CancelOrder(aid, mine.pop(rng.randrange(len(mine)))))
            else:
                send(c.CancelOrder(aid, "0"))  # unknown: refused
        elif roll < 0.36:  # market order
            send(c.PlaceOrder(aid, symbol, side, OrderType.MARKET, qty))
        elif roll < 0.42:  # aggressive IOC limit a few ticks through the touch
            through = rng.randint(0, 10) * tick
            touch = (ask if side is Side.BUY else bid) or int(mark / tick)
            price = touch * tick + (through if side is Side.BUY else -through)
            send(
                c.PlaceOrder(
                    aid, symbol, side, OrderType.LIMIT, qty, price, time_in_force=TimeInForce.IOC
                )
            )
        else:  # passive limit near the touch (sometimes marketable when the spread is thin)
            away = int(rng.expovariate(0.25)) * tick
            price = mid - away - tick if side is Side.BUY else mid + away + tick
            send(c.PlaceOrder(aid, symbol, side, OrderType.LIMIT, qty, _to_tick(price, tick)))
    return out, ex, stats


def record_book_ops(traders: list[str], commands: list[c.Command]) -> tuple[list[BookOp], Exchange]:
    """The book operations the engine makes for ``commands`` (setup excluded)."""
    log: list[BookOp] = []
    ex = Exchange(CATALOGUE, clock=_clock())
    for cmd in setup_commands(traders):
        ex.handle(cmd)
    ex.books = {s: RecordingBook(s, log) for s in ex.books}
    for cmd in commands:
        ex.handle(cmd)
    return log, ex


def run_engine(
    traders: list[str], commands: list[c.Command], *, risk: bool = False
) -> tuple[float, Exchange]:
    ex = new_exchange(CATALOGUE, clock=_clock()) if risk else Exchange(CATALOGUE, clock=_clock())
    for cmd in setup_commands(traders):
        ex.handle(cmd)
    handle = ex.handle
    start = time.perf_counter()
    for cmd in commands:
        handle(cmd)
    return time.perf_counter() - start, ex


def run_book(ops: list[BookOp]) -> float:
    books = {s: OrderBook(s) for s in SYMBOLS}
    calls = [(getattr(books[symbol], name), args) for name, symbol, args in ops]
    start = time.perf_counter()
    for fn, args in calls:
        fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller session, well under 1 min")
    parser.add_argument("--profile", action="store_true", help="cProfile one engine run")
    parser.add_argument("--commands", type=int, default=None, help="timed commands per run")
    args = parser.parse_args()
    n = args.commands or (4_000 if args.quick else 20_000)
    repeats = 1 if args.quick else 3
    traders = [f"trader{k:02d}" for k in range(20)]

    commands, live, stats = generate(n, traders)
    ops, recorded = record_book_ops(traders, commands)
    assert ops, "no book operations were recorded"
    assert recorded.state_hash() == live.state_hash(), "the book recording diverged"

    engine_times, end = [], live
    for _ in range(repeats):
        elapsed, end = run_engine(traders, commands)
        engine_times.append(elapsed)
    risk_times = []
    for _ in range(repeats):
        elapsed, with_risk = run_engine(traders, commands, risk=True)
        risk_times.append(elapsed)
    assert with_risk.ledger.imbalance() == {}
    book_times = [run_book(ops) for _ in range(max(repeats, 3))]
    assert end.state_hash() == live.state_hash(), "replay diverged from the generating run"
    assert end.ledger.imbalance() == {}

    kinds = Counter(type(cmd).__name__ for cmd in commands)
    placed = Counter(
        f"{cmd.type.value}/{cmd.time_in_force.value}"
        for cmd in commands
        if isinstance(cmd, c.PlaceOrder)
    )
    op_kinds = Counter(name for name, _, _ in ops)
    engine_rate = len(commands) / min(engine_times)
    book_rate = len(ops) / min(book_times)

    print(
        f"session: {len(commands):,} commands over {len(traders)} traders + a market maker, "
        + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common())
    )
    print("orders: " + ", ".join(f"{k} {v:,}" for k, v in placed.most_common()))
    print(
        f"trades: {stats['trades']:,}; events: {stats['events']:,}; "
        f"refused commands: {stats['refused']:,} ("
        + ", ".join(f"{k[8:]} {v:,}" for k, v in stats.most_common() if k.startswith("refused "))
        + "); "
        f"orders resting at the end: {sum(len(b) for b in end.books.values()):,}"
    )
    print(
        f"book ops for the same flow: {len(ops):,} "
        f"({', '.join(f'{k} {v:,}' for k, v in op_kinds.most_common())}); "
        f"{len(ops) / len(commands):.2f} per command"
    )
    print(
        f"engine {min(engine_times) * 1e6 / len(commands):,.1f} µs/command, "
        f"bare book {min(book_times) * 1e6 / len(ops):,.2f} µs/op "
        f"(best of {len(engine_times)} / {len(book_times)} runs); target 100,000 commands/s"
    )
    risk_rate = len(commands) / min(risk_times)
    print(
        f"with the risk engine attached (margin checks of touched accounts after every "
        f"command): {risk_rate:,.0f} commands/s, {risk_rate / engine_rate:.2f}× the bare exchange"
    )
    if args.profile:
        _profile(traders, commands)
    print(
        f"engine: {engine_rate:,.0f} commands/s "
        f"(baseline: {book_rate:,.0f} book ops/s, ratio: {engine_rate / book_rate:.4f}×)"
    )


def _profile(traders: list[str], commands: list[c.Command]) -> None:
    ex = Exchange(CATALOGUE, clock=_clock())
    for cmd in setup_commands(traders):
        ex.handle(cmd)
    profiler = cProfile.Profile()
    profiler.enable()
    for cmd in commands:
        ex.handle(cmd)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


if __name__ == "__main__":
    main()
