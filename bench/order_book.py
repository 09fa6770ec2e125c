"""Benchmark: the order book's hot path on a realistic, deterministic order flow.

One symbol, one core. The flow is generated once (seeded) and then replayed, so every book sees
exactly the same calls: ~60% passive limits rested near the touch (geometric distance, mean ~6
ticks), ~30% cancels of random resting orders, ~10% aggressive orders (market, or a limit a few
ticks through the touch) that take liquidity with ``match``. The book is first filled to about
``--depth`` resting orders (not timed) and the flow keeps it near that size.

The baseline is the straightforward book: per side one Python list of ``[key, seq, id, account,
qty]`` rows, re-sorted after every insert, scanned linearly to cancel, matched from the front.
It is replayed over a prefix of the same flow (it is too slow for all of it) and must produce
the same fills as the book on that prefix.

    python bench/order_book.py [--quick]

Last line: ``order_book: N ops/s (baseline: M ops/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from isocross.book import OrderBook

REST, CANCEL, MATCH = 0, 1, 2
Op = tuple[Any, ...]
MID = 1_000_000  # ticks
ACCOUNTS = [f"acct{i}" for i in range(64)]


def generate(depth: int, n: int, seed: int = 7) -> tuple[list[Op], list[Op]]:
    """``(warm_up, flow)``: rests that fill an empty book to ``depth``, then ``n`` mixed ops."""
    rng = random.Random(seed)
    book = OrderBook("BENCH")
    live: list[str] = []
    where: dict[str, int] = {}
    counter = 0

    def drop(oid: str) -> None:
        i = where.pop(oid)
        last = live.pop()
        if last != oid:
            live[i] = last
            where[last] = i

    def rest_op() -> Op:
        nonlocal counter
        counter += 1
        oid = f"o{counter}"
        is_buy = rng.random() < 0.5
        bid, ask = book.best_bid(), book.best_ask()
        away = min(int(rng.expovariate(1 / 6)), 500)
        if is_buy:
            top = ask if ask is not None else (bid + 1 if bid is not None else MID)
            price = top - 1 - away
        else:
            top = bid if bid is not None else (ask - 1 if ask is not None else MID)
            price = top + 1 + away
        op = (REST, oid, rng.choice(ACCOUNTS), is_buy, price, rng.randint(1, 10))
        book.rest(*op[1:])
        where[oid] = len(live)
        live.append(oid)
        return op

    warm_up = [rest_op() for _ in range(depth)]
    flow: list[Op] = []
    for _ in range(n):
        r = rng.random()
        if (r < 0.6 and len(live) < 1.2 * depth) or not live:
            flow.append(rest_op())
        elif r < 0.9:
            oid = live[rng.randrange(len(live))]
            book.cancel(oid)
            drop(oid)
            flow.append((CANCEL, oid))
        else:
            counter += 1
            is_buy = rng.random() < 0.5
            touch = book.best_ask() if is_buy else book.best_bid()
            limit = None
            if touch is not None and rng.random() < 0.8:
                through = rng.randint(0, 3)
                limit = touch + through if is_buy else touch - through
            op = (MATCH, f"o{counter}", rng.choice(ACCOUNTS), is_buy, rng.randint(1, 30), limit)
            for fill in book.match(*op[1:]).fills:
                if fill.maker_remaining == 0:
                    drop(fill.maker_order_id)
            flow.append(op)
    return warm_up, flow


class NaiveBook:
    """Sorted lists re-sorted on every insert and scanned on every cancel and match."""

    def __init__(self) -> None:
        self.bids: list[list[Any]] = []  # [-price, seq, id, account, qty], best first
        self.asks: list[list[Any]] = []  # [price, seq, id, account, qty], best first
        self.seq = 0

    def rest(self, oid: str, account: str, is_buy: bool, price: int, qty: int) -> None:
        if is_buy:
            if self.asks and price >= self.asks[0][0]:
                raise ValueError("crosses")
            self.bids.append([-price, self.seq, oid, account, qty])
            self.bids.sort()
        else:
            if self.bids and price <= -self.bids[0][0]:
                raise ValueError("crosses")
            self.asks.append([price, self.seq, oid, account, qty])
            self.asks.sort()
        self.seq += 1

    def cancel(self, oid: str) -> None:
        for side in (self.bids, self.asks):
            for i, row in enumerate(side):
                if row[2] == oid:
                    del side[i]
                    return
        raise KeyError(oid)

    def match(
        self, oid: str, account: str, is_buy: bool, qty: int, limit: int | None
    ) -> list[tuple[str, int, int]]:
        side, sign = (self.asks, 1) if is_buy else (self.bids, -1)
        fills = []
        used = 0
        for row in side:
            price = row[0] * sign
            if not qty or (limit is not None and (price > limit if is_buy else price < limit)):
                break
            take = min(qty, row[4])
            row[4] -= take
            qty -= take
            fills.append((row[2], price, take))
            if row[4] == 0:
                used += 1
        del side[:used]
        return fills


def replay(book: Any, ops: list[Op]) -> None:
    rest, cancel, match = book.rest, book.cancel, book.match
    for op in ops:
        kind = op[0]
        if kind == REST:
            rest(op[1], op[2], op[3], op[4], op[5])
        elif kind == CANCEL:
            cancel(op[1])
        else:
            match(op[1], op[2], op[3], op[4], op[5])


def timed(make: Callable[[], Any], warm_up: list[Op], ops: list[Op]) -> float:
    """Seconds to replay ``ops`` on a fresh book already holding ``warm_up``."""
    book = make()
    replay(book, warm_up)
    start = time.perf_counter()
    replay(book, ops)
    return time.perf_counter() - start


def same_fills(warm_up: list[Op], ops: list[Op]) -> int:
    """Replay ``ops`` on both books, checking every match gives the same fills; fills seen."""
    book, naive = OrderBook("BENCH"), NaiveBook()
    replay(book, warm_up)
    replay(naive, warm_up)
    seen = 0
    for op in ops:
        if op[0] != MATCH:
            replay(book, [op])
            replay(naive, [op])
            continue
        ours = [(f.maker_order_id, f.price, f.qty) for f in book.match(*op[1:]).fills]
        if ours != naive.match(*op[1:]):
            raise SystemExit(f"baseline disagrees on {op}")
        seen += len(ours)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~1 min")
    parser.add_argument("--depth", type=int, default=2_000, help="resting orders to keep")
    args = parser.parse_args()
    n, n_base, repeats = (200_000, 5_000, 3) if args.quick else (1_000_000, 20_000, 5)
    warm_up, flow = generate(args.depth, n)
    kinds = [sum(1 for op in flow if op[0] == k) for k in (REST, CANCEL, MATCH)]

    prefix = flow[:n_base]
    fills = same_fills(warm_up, prefix)
    ours = n / min(timed(lambda: OrderBook("BENCH"), warm_up, flow) for _ in range(repeats))
    base = n_base / timed(NaiveBook, warm_up, prefix)
    ours_prefix = n_base / min(
        timed(lambda: OrderBook("BENCH"), warm_up, prefix) for _ in range(repeats)
    )
    print(
        f"flow: {n:,} ops on ~{args.depth:,} resting orders: "
        f"{kinds[0] / n:.0%} rest, {kinds[1] / n:.0%} cancel, {kinds[2] / n:.0%} match; "
        f"best of {repeats} replays"
    )
    print(
        f"baseline: first {n_base:,} ops of the flow, same {fills:,} fills as the book; "
        f"book on that prefix: {ours_prefix:,.0f} ops/s"
    )
    print(f"order_book: {ours:,.0f} ops/s (baseline: {base:,.0f} ops/s, ratio: {ours / base:.1f}×)")


if __name__ == "__main__":
    main()
