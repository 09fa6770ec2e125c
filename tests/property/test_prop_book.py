"""The order book against a plain list-based reference book, on random operation sequences.

Every step is applied to both books; results must be identical, and after every step the book
must be uncrossed, its depth, best prices, orders and ``fillable`` answers must equal the
reference's, and every lot ever added must be accounted for (resting, filled, expired by STP,
cancelled or reduced away).
"""

from __future__ import annotations

from dataclasses import dataclass
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from isocross.book import MatchResult, OrderBook, SelfTradePrevention
from isocross.book import order_book as order_book_module

ACCOUNTS = ("a", "b", "c")
STP_MODES = list(SelfTradePrevention)


@dataclass
class RefOrder:
    order_id: str
    account_id: str
    is_buy: bool
    price: int
    qty: int
    seq: int


class ReferenceBook:
    """The obvious book: one list, sorted afresh for every question."""

    def __init__(self) -> None:
        self.orders: list[RefOrder] = []
        self.seq = 0
        self.last_price: int | None = None

    def side(self, is_buy: bool) -> list[RefOrder]:
        """Resting orders of a side in priority order: best price, then earliest."""
        own = [o for o in self.orders if o.is_buy == is_buy]
        return sorted(own, key=lambda o: (-o.price if is_buy else o.price, o.seq))

    def best(self, is_buy: bool) -> int | None:
        side = self.side(is_buy)
        return side[0].price if side else None

    def crosses(self, is_buy: bool, price: int) -> bool:
        return any(
            (o.price <= price if is_buy else o.price >= price)
            for o in self.orders
            if o.is_buy != is_buy
        )

    def within(self, is_buy: bool, price: int, limit: int | None) -> bool:
        return limit is None or (price <= limit if is_buy else price >= limit)

    def rest(self, order_id: str, account_id: str, is_buy: bool, price: int, qty: int) -> None:
        self.seq += 1
        self.orders.append(RefOrder(order_id, account_id, is_buy, price, qty, self.seq))

    def match(
        self,
        account_id: str,
        is_buy: bool,
        qty: int,
        limit: int | None,
        stp: SelfTradePrevention,
    ) -> tuple[list[tuple[str, str, int, int, int]], int, list[tuple[str, int]], bool]:
        fills: list[tuple[str, str, int, int, int]] = []
        expired: list[tuple[str, int]] = []
        stopped = False
        for maker in self.side(not is_buy):
            if qty == 0 or not self.within(is_buy, maker.price, limit):
                break
            if stp is not SelfTradePrevention.NONE and maker.account_id == account_id:
                if stp is SelfTradePrevention.EXPIRE_TAKER:
                    stopped = True
                    break
                self.orders.remove(maker)
                expired.append((maker.order_id, maker.qty))
                if stp is SelfTradePrevention.EXPIRE_BOTH:
                    stopped = True
                    break
                continue
            take = min(qty, maker.qty)
            maker.qty -= take
            qty -= take
            fills.append((maker.order_id, maker.account_id, maker.price, take, maker.qty))
            self.last_price = maker.price
            if maker.qty == 0:
                self.orders.remove(maker)
        return fills, qty, expired, stopped

    def fillable(self, is_buy: bool, qty: int, limit: int | None, account_id: str | None) -> int:
        total = 0
        for maker in self.side(not is_buy):
            if not self.within(is_buy, maker.price, limit):
                break
            if maker.account_id != account_id:
                total += maker.qty
        return min(total, qty)

    def depth(self, is_buy: bool, levels: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for o in self.side(is_buy):
            if out and out[-1][0] == o.price:
                out[-1] = (o.price, out[-1][1] + o.qty)
            elif len(out) < levels:
                out.append((o.price, o.qty))
            else:
                break
        return out

    def find(self, order_id: str) -> RefOrder | None:
        return next((o for o in self.orders if o.order_id == order_id), None)


prices = st.integers(90, 110)
limits = st.none() | prices
rests = st.tuples(
    st.just("rest"), st.sampled_from(ACCOUNTS), st.booleans(), prices, st.integers(1, 10)
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 10**6))
ops = st.one_of(
    rests,
    rests,
    rests,
    cancels,
    cancels,
    st.tuples(
        st.just("match"),
        st.sampled_from(ACCOUNTS),
        st.booleans(),
        st.integers(1, 25),
        limits,
        st.sampled_from(STP_MODES),
    ),
    st.tuples(st.just("reduce"), st.integers(0, 10**6), st.integers(1, 9)),
    st.tuples(
        st.just("fillable"),
        st.booleans(),
        st.integers(1, 40),
        limits,
        st.none() | st.sampled_from(ACCOUNTS),
    ),
)


class Ledger:
    """Where every lot ever rested went."""

    def __init__(self) -> None:
        self.added = self.filled = self.expired = self.cancelled = self.reduced = 0


def check_state(book: OrderBook, ref: ReferenceBook, ledger: Ledger) -> None:
    bid, ask = book.best_bid(), book.best_ask()
    assert bid == ref.best(True)
    assert ask == ref.best(False)
    if bid is not None and ask is not None:
        assert bid < ask
    assert book.depth(1000) == (ref.depth(True, 1000), ref.depth(False, 1000))
    assert book.depth(3) == (ref.depth(True, 3), ref.depth(False, 3))
    assert len(book) == len(ref.orders)
    assert book.last_price == ref.last_price
    for account in ACCOUNTS:
        mine = book.orders_of(account)
        expected = sorted((o for o in ref.orders if o.account_id == account), key=lambda o: o.seq)
        assert [(o.order_id, o.is_buy, o.price, o.qty) for o in mine] == [
            (o.order_id, o.is_buy, o.price, o.qty) for o in expected
        ]
    resting = 0
    for o in ref.orders:
        got = book.get(o.order_id)
        assert got is not None
        assert o.order_id in book
        assert (got.account_id, got.is_buy, got.price, got.qty) == (
            o.account_id,
            o.is_buy,
            o.price,
            o.qty,
        )
        resting += got.qty
    # priorities follow arrival: sorting by the book's priority gives the reference's order
    by_book = sorted(ref.orders, key=lambda o: book.get(o.order_id).priority)  # type: ignore[union-attr]
    assert [o.order_id for o in by_book] == [
        o.order_id for o in sorted(ref.orders, key=lambda o: o.seq)
    ]
    assert resting + ledger.filled + ledger.expired + ledger.cancelled + ledger.reduced == (
        ledger.added
    )


def check_priority(book_before: dict[str, tuple[int, int]], is_buy: bool, r: MatchResult) -> None:
    """Makers met in price-then-time order (buy: ascending price; sell: descending)."""
    keys = [
        (book_before[f.maker_order_id][0] * (1 if is_buy else -1), book_before[f.maker_order_id][1])
        for f in r.fills
    ]
    assert keys == sorted(keys)


def run(sequence: list[tuple[object, ...]]) -> None:
    book, ref, ledger = OrderBook("T"), ReferenceBook(), Ledger()
    next_id = 0
    for op in sequence:
        kind = op[0]
        if kind == "rest":
            _, account, is_buy, price, qty = op
            assert isinstance(is_buy, bool) and isinstance(price, int) and isinstance(qty, int)
            assert isinstance(account, str)
            next_id += 1
            oid = f"o{next_id}"
            crosses = ref.crosses(is_buy, price)
            assert book.would_cross(is_buy, price) == crosses
            if crosses:
                try:
                    book.rest(oid, account, is_buy, price, qty)
                except ValueError:
                    pass
                else:
                    raise AssertionError("a crossing order was rested")
            else:
                order = book.rest(oid, account, is_buy, price, qty)
                assert (order.order_id, order.qty, order.price) == (oid, qty, price)
                ref.rest(oid, account, is_buy, price, qty)
                ledger.added += qty
        elif kind == "match":
            _, account, is_buy, qty, limit, stp = op
            assert isinstance(account, str) and isinstance(is_buy, bool)
            assert isinstance(qty, int) and isinstance(stp, SelfTradePrevention)
            assert limit is None or isinstance(limit, int)
            next_id += 1
            before = {
                o.order_id: (o.price, o.priority) for a in ACCOUNTS for o in book.orders_of(a)
            }
            predicted = book.fillable(is_buy, qty, limit, account, stp)
            result = book.match(f"o{next_id}", account, is_buy, qty, limit, stp)
            fills, remaining, expired, stopped = ref.match(account, is_buy, qty, limit, stp)
            assert [
                (f.maker_order_id, f.maker_account_id, f.price, f.qty, f.maker_remaining)
                for f in result.fills
            ] == fills
            assert result.remaining == remaining
            assert [(o.order_id, o.qty) for o in result.expired_makers] == expired
            assert result.taker_expired_by_stp == stopped
            filled = sum(f.qty for f in result.fills)
            assert filled == qty - result.remaining
            if stp is not SelfTradePrevention.NONE:
                assert filled == predicted
            check_priority(before, is_buy, result)
            for f in result.fills:
                assert (f.maker_order_id in book) == (f.maker_remaining > 0)
            ledger.filled += filled
            ledger.expired += sum(q for _, q in expired)
        elif kind == "cancel":
            pick = op[1]
            assert isinstance(pick, int)
            if ref.orders and pick % 4:
                target = ref.orders[pick % len(ref.orders)]
                cancelled = book.cancel(target.order_id)
                assert (cancelled.order_id, cancelled.qty) == (target.order_id, target.qty)
                ref.orders.remove(target)
                ledger.cancelled += target.qty
                assert target.order_id not in book
            else:
                try:
                    book.cancel("missing")
                except KeyError:
                    pass
                else:
                    raise AssertionError("cancel of an unknown order succeeded")
        elif kind == "reduce":
            if not ref.orders:
                continue
            _, choice, new_qty = op
            assert isinstance(choice, int) and isinstance(new_qty, int)
            target = ref.orders[choice % len(ref.orders)]
            if 0 < new_qty < target.qty:
                priority = book.get(target.order_id).priority  # type: ignore[union-attr]
                reduced = book.reduce(target.order_id, new_qty)
                assert (reduced.qty, reduced.priority) == (new_qty, priority)
                ledger.reduced += target.qty - new_qty
                target.qty = new_qty
            else:
                try:
                    book.reduce(target.order_id, new_qty)
                except ValueError:
                    pass
                else:
                    raise AssertionError("an out-of-range reduce succeeded")
        else:
            _, is_buy, qty, limit, account = op
            assert isinstance(is_buy, bool) and isinstance(qty, int)
            assert limit is None or isinstance(limit, int)
            assert account is None or isinstance(account, str)
            assert book.fillable(is_buy, qty, limit, account) == ref.fillable(
                is_buy, qty, limit, account
            )
        check_state(book, ref, ledger)


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, min_size=40, max_size=150), st.sampled_from([64, 0, -(10**6)]))
def test_book_matches_reference(sequence: list[tuple[object, ...]], heap_slack: int) -> None:
    # the heap is rebuilt once stale prices exceed live levels + slack: every new level with -1e6
    with mock.patch.object(order_book_module, "_HEAP_SLACK", heap_slack):
        run(sequence)
