"""A limit order book for one symbol: pure price-time priority matching on integers.

Prices are integer ticks and quantities integer lots; the caller converts to and from decimals.
There is no I/O, no clock and no randomness: the same calls give the same results.

Priority rules
--------------
* **Price first.** A taker meets the best opposite price first: the lowest ask for a buy, the
  highest bid for a sell, and moves to the next price only when a level is used up.
* **Time second.** Within one price, resting orders fill in arrival order. Arrival is the book's
  own counter (``RestingOrder.priority``), assigned by :meth:`OrderBook.rest`; lower is earlier.
* **Reducing keeps priority.** :meth:`OrderBook.reduce` lowers an order's quantity in place;
  anything else (a new price, more quantity) is a cancel and a new :meth:`OrderBook.rest`, which
  goes to the back of its level.
* **Makers set the price.** Every fill is at the resting order's price.
* **Limits.** A buy takes asks while ``ask <= limit``, a sell takes bids while ``bid >= limit``;
  a limit of ``None`` takes any price (a market order).
* **No crossed book.** :meth:`OrderBook.rest` refuses an order that would match now, so the book
  is never crossed: ``best_bid < best_ask`` whenever both exist. To place a marketable limit the
  caller runs :meth:`OrderBook.match` first and rests what is left.
* **Self-trade prevention** applies only when a taker meets a resting order of its own account
  and its mode is not ``NONE``: ``EXPIRE_TAKER`` stops the taker, ``EXPIRE_MAKER`` removes the
  resting order and carries on, ``EXPIRE_BOTH`` removes the resting order and stops the taker.

Structure
---------
Each side keeps a dict from price to its level and a binary heap of prices (bids negated), so
the best price is ``heap[0]`` in O(1) and adding or using up a level is O(log L). A level emptied
away from the top is left in the heap and skipped when it surfaces (the heap is rebuilt once
such stale keys outnumber the live levels, plus some slack, so this is amortised O(1)). A level
is a dict from order id to order: dicts keep insertion order, so the first entry is the oldest,
appending is O(1) and a cancel anywhere in the queue is O(1). Orders are also indexed by id and
by account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from heapq import heapify, heappop, heappush, nlargest, nsmallest
from typing import NamedTuple

__all__ = ["Fill", "MatchResult", "OrderBook", "RestingOrder", "SelfTradePrevention"]


class SelfTradePrevention(StrEnum):
    """What happens when a taker meets a resting order of its own account."""

    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


@dataclass(slots=True)
class RestingOrder:
    """An order in the book; the book owns it (change it only through ``reduce``/``cancel``).

    ``qty`` is what remains: the book lowers it on partial fills and sets it to 0 when a fill
    completes the order and removes it. Orders removed by ``cancel`` or by self-trade prevention
    keep the qty they had left.
    """

    order_id: str
    account_id: str
    is_buy: bool
    price: int  # ticks
    qty: int  # remaining lots (> 0 while resting)
    priority: int  # book-assigned arrival counter, lower = earlier


class Fill(NamedTuple):
    """One maker's part of a match, at the maker's price (a named tuple: cheap and immutable)."""

    maker_order_id: str
    maker_account_id: str
    price: int  # the maker's price
    qty: int
    maker_remaining: int  # maker qty left after this fill (0 = fully filled and removed)


class MatchResult(NamedTuple):
    """The outcome of :meth:`OrderBook.match`."""

    fills: tuple[Fill, ...]
    remaining: int  # taker qty not filled
    expired_makers: tuple[RestingOrder, ...]  # removed by self-trade prevention, with their qty
    taker_expired_by_stp: bool  # True if STP stopped the taker (EXPIRE_TAKER / EXPIRE_BOTH)


def _result(
    fills: tuple[Fill, ...], remaining: int, expired: tuple[RestingOrder, ...], stopped: bool
) -> MatchResult:
    return MatchResult(fills, remaining, expired, stopped)


_NONE = SelfTradePrevention.NONE
_EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER
_EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH
_NO_FILLS: tuple[Fill, ...] = ()
_NO_ORDERS: tuple[RestingOrder, ...] = ()

# A side's heap is rebuilt when it holds more than twice its live levels plus this many keys.
_HEAP_SLACK = 64

Level = dict[str, RestingOrder]


class OrderBook:
    """Resting orders of one symbol and price-time priority matching against them.

    Bids are keyed in their heap by ``-price`` and asks by ``price``, so on both sides the best
    level is the heap's smallest key. Invariant: the top of each heap is a live level (or the heap
    is empty); stale keys may sit below it.
    """

    __slots__ = (
        "_accounts",
        "_ask_heap",
        "_asks",
        "_bid_heap",
        "_bids",
        "_orders",
        "_seq",
        "last_price",
        "symbol",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.last_price: int | None = None  # price of the most recent fill
        self._bids: dict[int, Level] = {}
        self._asks: dict[int, Level] = {}
        self._bid_heap: list[int] = []  # -price
        self._ask_heap: list[int] = []  # price
        self._orders: dict[str, RestingOrder] = {}
        self._accounts: dict[str, dict[str, RestingOrder]] = {}
        self._seq = 0

    def __repr__(self) -> str:
        return (
            f"OrderBook({self.symbol!r}, orders={len(self._orders)}, "
            f"bid={self.best_bid()}, ask={self.best_ask()}, last={self.last_price})"
        )

    # ------------------------------------------------------------------ reading

    def best_bid(self) -> int | None:
        heap = self._bid_heap
        return -heap[0] if heap else None

    def best_ask(self) -> int | None:
        heap = self._ask_heap
        return heap[0] if heap else None

    def depth(self, levels: int = 20) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)``, best price first, each ``(price, total qty at price)``."""
        if levels <= 0:
            return [], []
        bids, asks = self._bids, self._asks
        return (
            [(p, sum(o.qty for o in bids[p].values())) for p in nlargest(levels, bids)],
            [(p, sum(o.qty for o in asks[p].values())) for p in nsmallest(levels, asks)],
        )

    def level_qty(self, is_bid: bool, price: int) -> int:
        """Total resting quantity at one price on one side (0 if the level is empty)."""
        level = (self._bids if is_bid else self._asks).get(price)
        return sum(o.qty for o in level.values()) if level else 0

    def get(self, order_id: str) -> RestingOrder | None:
        return self._orders.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def orders_of(self, account_id: str) -> list[RestingOrder]:
        """The account's resting orders (both sides), in arrival order."""
        own = self._accounts.get(account_id)
        return list(own.values()) if own else []

    def would_cross(self, is_buy: bool, price: int) -> bool:
        """Whether a limit order at ``price`` would match right now."""
        if is_buy:
            heap = self._ask_heap
            return bool(heap) and heap[0] <= price
        heap = self._bid_heap
        return bool(heap) and -heap[0] >= price

    def fillable(
        self,
        is_buy: bool,
        qty: int,
        limit: int | None,
        account_id: str | None = None,
        stp: SelfTradePrevention = _NONE,
    ) -> int:
        """How much of ``qty`` could fill right now at prices within ``limit`` (None = any).

        With ``account_id``, that account's own resting orders are not counted. With ``stp`` set
        to ``EXPIRE_TAKER`` or ``EXPIRE_BOTH`` as well, counting stops at the first own order, as
        :meth:`match` would; the answer is then exactly what :meth:`match` with the same arguments
        would fill.
        """
        if qty <= 0:
            return 0
        if is_buy:
            levels, heap, sign = self._asks, self._ask_heap, 1
        else:
            levels, heap, sign = self._bids, self._bid_heap, -1
        stop_at_own = account_id is not None and stp in (_EXPIRE_TAKER, _EXPIRE_BOTH)
        total = 0
        for price in _best_first(levels, heap, sign):
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            for order in levels[price].values():
                if account_id is not None and order.account_id == account_id:
                    if stop_at_own:
                        return total
                    continue
                total += order.qty
                if total >= qty:
                    return qty
        return total

    def makers(self, is_buy: bool, qty: int, limit: int | None) -> list[RestingOrder]:
        """The resting orders a taker of ``qty`` would meet, in matching order (self-trade
        prevention aside), up to the one that completes ``qty``."""
        if is_buy:
            levels, heap, sign = self._asks, self._ask_heap, 1
        else:
            levels, heap, sign = self._bids, self._bid_heap, -1
        met: list[RestingOrder] = []
        total = 0
        for price in _best_first(levels, heap, sign):
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            for order in levels[price].values():
                met.append(order)
                total += order.qty
                if total >= qty:
                    return met
        return met

    # ------------------------------------------------------------------ matching

    def match(
        self,
        order_id: str,
        account_id: str,
        is_buy: bool,
        qty: int,
        limit: int | None,
        stp: SelfTradePrevention = _NONE,
    ) -> MatchResult:
        """Take liquidity for a taker of ``qty`` lots; does not rest what is left.

        Walks the opposite side best price first and FIFO within a price while the price is
        within ``limit``. Fully filled makers leave the book. ``order_id`` names the taker and is
        not otherwise used (it need not be, and should not be, resting).
        """
        if qty <= 0:
            raise ValueError(f"{self.symbol}: taker qty must be positive, got {qty}")
        if is_buy:
            levels, heap, sign = self._asks, self._ask_heap, 1
        else:
            levels, heap, sign = self._bids, self._bid_heap, -1
        if not heap:
            return _result(_NO_FILLS, qty, _NO_ORDERS, False)
        check_self = stp != _NONE
        expire_taker = stp == _EXPIRE_TAKER
        stop_after_expiry = stp == _EXPIRE_BOTH
        orders = self._orders
        accounts = self._accounts
        fills: list[Fill] = []
        expired: list[RestingOrder] = []
        stopped = False
        while heap:
            price = heap[0] * sign
            if limit is not None and (price > limit if is_buy else price < limit):
                break
            level = levels[price]
            gone: list[RestingOrder] = []
            for maker in level.values():
                if check_self and maker.account_id == account_id:
                    if expire_taker:
                        stopped = True
                        break
                    gone.append(maker)
                    expired.append(maker)
                    if stop_after_expiry:
                        stopped = True
                        break
                    continue
                maker_qty = maker.qty
                if maker_qty <= qty:
                    maker.qty = 0
                    fills.append(Fill(maker.order_id, maker.account_id, price, maker_qty, 0))
                    gone.append(maker)
                    qty -= maker_qty
                    if not qty:
                        break
                else:
                    left = maker_qty - qty
                    maker.qty = left
                    fills.append(Fill(maker.order_id, maker.account_id, price, qty, left))
                    qty = 0
                    break
            for maker in gone:
                oid = maker.order_id
                del level[oid]
                del orders[oid]
                own = accounts[maker.account_id]
                del own[oid]
                if not own:
                    del accounts[maker.account_id]
            if not level:
                del levels[price]
                heappop(heap)
                while heap and heap[0] * sign not in levels:
                    heappop(heap)
            if stopped or not qty:
                break
        if fills:
            self.last_price = fills[-1].price
        return _result(tuple(fills), qty, tuple(expired) if expired else _NO_ORDERS, stopped)

    # ------------------------------------------------------------------ resting

    def rest(
        self, order_id: str, account_id: str, is_buy: bool, price: int, qty: int
    ) -> RestingOrder:
        """Add a passive order at the back of its price level.

        Raises ValueError if ``order_id`` is already resting, ``qty <= 0``, or the order would
        cross (match) the opposite side.
        """
        orders = self._orders
        if order_id in orders:
            raise ValueError(f"{self.symbol}: order {order_id!r} is already resting")
        if qty <= 0:
            raise ValueError(f"{self.symbol}: order {order_id!r} qty must be positive, got {qty}")
        if is_buy:
            heap = self._ask_heap
            if heap and price >= heap[0]:
                raise ValueError(
                    f"{self.symbol}: buy {order_id!r} at {price} would cross ask {heap[0]}"
                )
            levels = self._bids
            level = levels.get(price)
            if level is None:
                level = levels[price] = {}
                heap = self._bid_heap
                heappush(heap, -price)
                if len(heap) > 2 * len(levels) + _HEAP_SLACK:
                    heap[:] = [-p for p in levels]
                    heapify(heap)
        else:
            heap = self._bid_heap
            if heap and price <= -heap[0]:
                raise ValueError(
                    f"{self.symbol}: sell {order_id!r} at {price} would cross bid {-heap[0]}"
                )
            levels = self._asks
            level = levels.get(price)
            if level is None:
                level = levels[price] = {}
                heap = self._ask_heap
                heappush(heap, price)
                if len(heap) > 2 * len(levels) + _HEAP_SLACK:
                    heap[:] = list(levels)
                    heapify(heap)
        self._seq = seq = self._seq + 1
        order = RestingOrder(order_id, account_id, is_buy, price, qty, seq)
        level[order_id] = order
        orders[order_id] = order
        own = self._accounts.get(account_id)
        if own is None:
            self._accounts[account_id] = {order_id: order}
        else:
            own[order_id] = order
        return order

    def cancel(self, order_id: str) -> RestingOrder:
        """Remove a resting order and return it (with its remaining qty). KeyError if unknown."""
        order = self._orders.pop(order_id, None)
        if order is None:
            raise KeyError(order_id)
        account_id = order.account_id
        own = self._accounts[account_id]
        del own[order_id]
        if not own:
            del self._accounts[account_id]
        price = order.price
        if order.is_buy:
            levels = self._bids
            level = levels[price]
            del level[order_id]
            if not level:
                del levels[price]
                heap = self._bid_heap
                if heap[0] == -price:
                    heappop(heap)
                    while heap and -heap[0] not in levels:
                        heappop(heap)
        else:
            levels = self._asks
            level = levels[price]
            del level[order_id]
            if not level:
                del levels[price]
                heap = self._ask_heap
                if heap[0] == price:
                    heappop(heap)
                    while heap and heap[0] not in levels:
                        heappop(heap)
        return order

    def reduce(self, order_id: str, new_qty: int) -> RestingOrder:
        """Lower a resting order's qty in place, keeping its priority.

        KeyError if unknown; ValueError unless ``0 < new_qty < qty``.
        """
        order = self._orders.get(order_id)
        if order is None:
            raise KeyError(order_id)
        if not 0 < new_qty < order.qty:
            raise ValueError(
                f"{self.symbol}: reduce {order_id!r} needs 0 < new qty < {order.qty}, got {new_qty}"
            )
        order.qty = new_qty
        return order


def _best_first(levels: dict[int, Level], heap: list[int], sign: int) -> Iterator[int]:
    """The side's live prices, best first, popped lazily from a copy of its heap."""
    heap = heap.copy()
    previous = None
    while heap:
        key = heappop(heap)
        if key != previous:
            previous = key
            if key * sign in levels:
                yield key * sign
