"""The order book: price-time priority, limits, resting, STP and errors, on exact scenarios."""

from __future__ import annotations

import pytest

from isocross.book import Fill, MatchResult, OrderBook, RestingOrder, SelfTradePrevention

STP = SelfTradePrevention


def book_with(*orders: tuple[str, str, bool, int, int]) -> OrderBook:
    """A book with ``(order_id, account_id, is_buy, price, qty)`` rested in this order."""
    book = OrderBook("BTCUSDT")
    for order in orders:
        book.rest(*order)
    return book


def fills(result: MatchResult) -> list[tuple[str, int, int, int]]:
    return [(f.maker_order_id, f.price, f.qty, f.maker_remaining) for f in result.fills]


class TestEmpty:
    def test_empty_book(self) -> None:
        book = OrderBook("BTCUSDT")
        assert book.symbol == "BTCUSDT"
        assert book.best_bid() is None
        assert book.best_ask() is None
        assert book.last_price is None
        assert len(book) == 0
        assert book.depth() == ([], [])
        assert book.get("x") is None
        assert "x" not in book
        assert book.orders_of("alice") == []
        assert not book.would_cross(True, 10**9)
        assert not book.would_cross(False, 1)
        assert book.fillable(True, 5, None) == 0

    def test_match_on_empty_side(self) -> None:
        book = book_with(("b1", "a", True, 100, 5))
        result = book.match("t", "x", True, 3, None)
        assert result == MatchResult((), 3, (), False)
        assert book.last_price is None


class TestPriceTimePriority:
    def test_same_price_fills_in_arrival_order(self) -> None:
        book = book_with(("s1", "a", False, 101, 2), ("s2", "b", False, 101, 2))
        result = book.match("t", "x", True, 3, 101)
        assert fills(result) == [("s1", 101, 2, 0), ("s2", 101, 1, 1)]
        assert result.remaining == 0
        assert "s1" not in book
        assert book.get("s2") == RestingOrder("s2", "b", False, 101, 1, 2)

    def test_better_price_first_regardless_of_arrival(self) -> None:
        book = book_with(
            ("s1", "a", False, 103, 1), ("s2", "a", False, 101, 1), ("s3", "a", False, 102, 1)
        )
        result = book.match("t", "x", True, 3, None)
        assert [f.price for f in result.fills] == [101, 102, 103]
        sells = book_with(
            ("b1", "a", True, 97, 1), ("b2", "a", True, 99, 1), ("b3", "a", True, 98, 1)
        )
        result = sells.match("t", "x", False, 3, None)
        assert [f.maker_order_id for f in result.fills] == ["b2", "b3", "b1"]

    def test_fill_carries_maker_identity(self) -> None:
        book = book_with(("s1", "maker", False, 101, 2))
        (fill,) = book.match("t", "taker", True, 2, None).fills
        assert fill == Fill("s1", "maker", 101, 2, 0)

    def test_priority_counter_increases(self) -> None:
        book = book_with(("b1", "a", True, 99, 1), ("s1", "a", False, 101, 1))
        assert book.get("b1").priority < book.get("s1").priority  # type: ignore[union-attr]


class TestPartialFills:
    def test_partial_maker_stays_at_front(self) -> None:
        book = book_with(("s1", "a", False, 101, 10), ("s2", "b", False, 101, 10))
        assert fills(book.match("t1", "x", True, 4, None)) == [("s1", 101, 4, 6)]
        assert fills(book.match("t2", "x", True, 7, None)) == [
            ("s1", 101, 6, 0),
            ("s2", 101, 1, 9),
        ]
        assert book.depth() == ([], [(101, 9)])

    def test_fully_filled_maker_object_reads_zero(self) -> None:
        book = book_with(("s1", "a", False, 101, 3), ("s2", "a", False, 101, 3))
        s1, s2 = book.get("s1"), book.get("s2")
        book.match("t", "x", True, 4, None)
        assert s1 is not None and s1.qty == 0
        assert s2 is not None and s2.qty == 2
        assert book.get("s2") is s2

    def test_taker_larger_than_book(self) -> None:
        book = book_with(("b1", "a", True, 99, 2), ("b2", "a", True, 98, 3))
        result = book.match("t", "x", False, 10, None)
        assert result.remaining == 5
        assert sum(f.qty for f in result.fills) == 5
        assert len(book) == 0
        assert book.best_bid() is None


class TestMarketAndLimit:
    def test_market_sweeps_several_levels(self) -> None:
        book = book_with(
            ("s1", "a", False, 101, 1),
            ("s2", "a", False, 102, 2),
            ("s3", "a", False, 103, 3),
            ("s4", "a", False, 104, 4),
        )
        result = book.match("t", "x", True, 5, None)
        assert fills(result) == [("s1", 101, 1, 0), ("s2", 102, 2, 0), ("s3", 103, 2, 1)]
        assert book.best_ask() == 103
        assert book.last_price == 103

    def test_buy_limit_stops_at_limit_price(self) -> None:
        book = book_with(
            ("s1", "a", False, 101, 1), ("s2", "a", False, 102, 1), ("s3", "a", False, 103, 1)
        )
        result = book.match("t", "x", True, 10, 102)
        assert [f.price for f in result.fills] == [101, 102]
        assert result.remaining == 8
        assert book.best_ask() == 103

    def test_sell_limit_stops_at_limit_price(self) -> None:
        book = book_with(("b1", "a", True, 99, 1), ("b2", "a", True, 98, 1))
        result = book.match("t", "x", False, 10, 99)
        assert fills(result) == [("b1", 99, 1, 0)]
        assert result.remaining == 9
        assert book.best_bid() == 98

    def test_limit_worse_than_touch_matches_nothing(self) -> None:
        book = book_with(("s1", "a", False, 101, 1))
        result = book.match("t", "x", True, 1, 100)
        assert result == MatchResult((), 1, (), False)
        assert len(book) == 1

    def test_match_does_not_rest_remainder(self) -> None:
        book = book_with(("s1", "a", False, 101, 1))
        book.match("t", "x", True, 5, 101)
        assert "t" not in book
        assert len(book) == 0


class TestRestCancelReduce:
    def test_rest_returns_order(self) -> None:
        book = OrderBook("BTCUSDT")
        order = book.rest("b1", "alice", True, 99, 5)
        assert order == RestingOrder("b1", "alice", True, 99, 5, order.priority)
        assert book.get("b1") is order
        assert "b1" in book
        assert len(book) == 1
        assert book.best_bid() == 99

    def test_rest_goes_to_back_of_level(self) -> None:
        book = book_with(("s1", "a", False, 101, 1), ("s2", "b", False, 101, 1))
        book.cancel("s1")
        book.rest("s1", "a", False, 101, 1)
        result = book.match("t", "x", True, 1, None)
        assert fills(result) == [("s2", 101, 1, 0)]

    def test_cancel(self) -> None:
        book = book_with(("b1", "a", True, 99, 5), ("b2", "a", True, 98, 5))
        order = book.cancel("b1")
        assert order.order_id == "b1"
        assert order.qty == 5
        assert "b1" not in book
        assert book.best_bid() == 98
        book.cancel("b2")
        assert book.best_bid() is None
        assert book.depth() == ([], [])

    def test_cancel_returns_remaining_after_partial(self) -> None:
        book = book_with(("s1", "a", False, 101, 5))
        book.match("t", "x", True, 2, None)
        assert book.cancel("s1").qty == 3

    def test_cancel_middle_of_level_keeps_order(self) -> None:
        book = book_with(
            ("s1", "a", False, 101, 1), ("s2", "a", False, 101, 1), ("s3", "a", False, 101, 1)
        )
        book.cancel("s2")
        result = book.match("t", "x", True, 2, None)
        assert [f.maker_order_id for f in result.fills] == ["s1", "s3"]

    def test_reduce_keeps_priority(self) -> None:
        book = book_with(("s1", "a", False, 101, 10), ("s2", "b", False, 101, 10))
        priority = book.get("s1").priority  # type: ignore[union-attr]
        order = book.reduce("s1", 3)
        assert order.qty == 3
        assert order.priority == priority
        result = book.match("t", "x", True, 5, None)
        assert fills(result) == [("s1", 101, 3, 0), ("s2", 101, 2, 8)]

    def test_best_prices_after_deep_cancels(self) -> None:
        book = OrderBook("BTCUSDT")
        for i in range(200):
            book.rest(f"s{i}", "a", False, 1000 + i, 1)
            book.rest(f"b{i}", "a", True, 999 - i, 1)
        for i in range(1, 200, 2):  # cancel away from the top, then re-rest at the same prices
            book.cancel(f"s{i}")
            book.cancel(f"b{i}")
        for i in range(1, 200, 2):
            book.rest(f"s{i}'", "a", False, 1000 + i, 1)
            book.cancel(f"s{i}'")
        assert book.best_ask() == 1000
        assert book.best_bid() == 999
        result = book.match("t", "x", True, 1000, None)
        assert [f.price for f in result.fills] == [1000 + i for i in range(0, 200, 2)]
        assert book.best_ask() is None
        book.cancel("b0")
        assert book.best_bid() == 997


class TestDepth:
    def test_aggregates_per_price_best_first(self) -> None:
        book = book_with(
            ("b1", "a", True, 99, 1),
            ("b2", "b", True, 99, 2),
            ("b3", "a", True, 97, 4),
            ("b4", "a", True, 98, 8),
            ("s1", "a", False, 102, 3),
            ("s2", "b", False, 101, 5),
            ("s3", "a", False, 102, 7),
        )
        assert book.depth() == ([(99, 3), (98, 8), (97, 4)], [(101, 5), (102, 10)])
        assert book.depth(1) == ([(99, 3)], [(101, 5)])
        assert book.depth(0) == ([], [])

    def test_reflects_partial_fill_and_reduce(self) -> None:
        book = book_with(("s1", "a", False, 101, 5), ("s2", "a", False, 101, 5))
        book.match("t", "x", True, 2, None)
        book.reduce("s2", 1)
        assert book.depth() == ([], [(101, 4)])


class TestWouldCross:
    def test_buy_and_sell(self) -> None:
        book = book_with(("b1", "a", True, 99, 1), ("s1", "a", False, 101, 1))
        assert book.would_cross(True, 101)
        assert book.would_cross(True, 150)
        assert not book.would_cross(True, 100)
        assert book.would_cross(False, 99)
        assert book.would_cross(False, 1)
        assert not book.would_cross(False, 100)


class TestFillable:
    def test_counts_up_to_limit_and_qty(self) -> None:
        book = book_with(
            ("s1", "a", False, 101, 2), ("s2", "b", False, 102, 3), ("s3", "a", False, 103, 4)
        )
        assert book.fillable(True, 100, None) == 9
        assert book.fillable(True, 4, None) == 4
        assert book.fillable(True, 100, 102) == 5
        assert book.fillable(True, 100, 100) == 0
        assert book.fillable(False, 1, None) == 0

    def test_sell_side(self) -> None:
        book = book_with(("b1", "a", True, 99, 2), ("b2", "a", True, 98, 3))
        assert book.fillable(False, 10, 99) == 2
        assert book.fillable(False, 10, 98) == 5

    def test_excludes_own_orders(self) -> None:
        book = book_with(
            ("s1", "me", False, 101, 2), ("s2", "b", False, 101, 3), ("s3", "me", False, 102, 4)
        )
        assert book.fillable(True, 100, None, "me") == 3
        assert book.fillable(True, 100, None, "b") == 6
        assert book.fillable(True, 100, None, "nobody") == 9

    def test_stop_at_own_order_matches_expire_taker(self) -> None:
        book = book_with(
            ("s1", "b", False, 101, 2), ("s2", "me", False, 101, 3), ("s3", "b", False, 102, 4)
        )
        expected = book.fillable(True, 100, None, "me", STP.EXPIRE_TAKER)
        assert expected == 2
        assert book.fillable(True, 100, None, "me", STP.EXPIRE_MAKER) == 6
        result = book.match("t", "me", True, 100, None, STP.EXPIRE_TAKER)
        assert sum(f.qty for f in result.fills) == expected

    def test_does_not_change_book(self) -> None:
        book = book_with(("s1", "a", False, 101, 2))
        book.fillable(True, 5, None)
        assert book.depth() == ([], [(101, 2)])


class TestSelfTradePrevention:
    @staticmethod
    def book() -> OrderBook:
        return book_with(
            ("s1", "b", False, 101, 1),
            ("s2", "me", False, 101, 2),
            ("s3", "b", False, 102, 3),
        )

    def test_none_trades_with_itself(self) -> None:
        book = self.book()
        result = book.match("t", "me", True, 3, None)
        assert fills(result) == [("s1", 101, 1, 0), ("s2", 101, 2, 0)]
        assert result.expired_makers == ()
        assert not result.taker_expired_by_stp

    def test_expire_taker(self) -> None:
        book = self.book()
        result = book.match("t", "me", True, 5, None, STP.EXPIRE_TAKER)
        assert fills(result) == [("s1", 101, 1, 0)]
        assert result.remaining == 4
        assert result.taker_expired_by_stp
        assert result.expired_makers == ()
        assert book.get("s2") == RestingOrder("s2", "me", False, 101, 2, 2)

    def test_expire_maker(self) -> None:
        book = self.book()
        result = book.match("t", "me", True, 5, None, STP.EXPIRE_MAKER)
        assert fills(result) == [("s1", 101, 1, 0), ("s3", 102, 3, 0)]
        assert result.remaining == 1
        assert not result.taker_expired_by_stp
        assert result.expired_makers == (RestingOrder("s2", "me", False, 101, 2, 2),)
        assert "s2" not in book
        assert book.orders_of("me") == []
        assert len(book) == 0

    def test_expire_both(self) -> None:
        book = self.book()
        result = book.match("t", "me", True, 5, None, STP.EXPIRE_BOTH)
        assert fills(result) == [("s1", 101, 1, 0)]
        assert result.remaining == 4
        assert result.taker_expired_by_stp
        assert [o.order_id for o in result.expired_makers] == ["s2"]
        assert "s2" not in book
        assert book.depth() == ([], [(102, 3)])

    def test_expire_maker_empties_level(self) -> None:
        book = book_with(("s1", "me", False, 101, 2), ("s2", "b", False, 102, 1))
        result = book.match("t", "me", True, 1, 101, STP.EXPIRE_MAKER)
        assert result.fills == ()
        assert result.remaining == 1
        assert [o.order_id for o in result.expired_makers] == ["s1"]
        assert book.best_ask() == 102

    def test_own_order_beyond_limit_is_untouched(self) -> None:
        book = book_with(("s1", "b", False, 101, 1), ("s2", "me", False, 102, 1))
        result = book.match("t", "me", True, 5, 101, STP.EXPIRE_BOTH)
        assert not result.taker_expired_by_stp
        assert result.expired_makers == ()
        assert "s2" in book

    def test_own_order_after_taker_filled_is_untouched(self) -> None:
        book = book_with(("s1", "b", False, 101, 1), ("s2", "me", False, 101, 1))
        result = book.match("t", "me", True, 1, None, STP.EXPIRE_MAKER)
        assert result.expired_makers == ()
        assert not result.taker_expired_by_stp
        assert "s2" in book

    def test_stp_accepts_plain_strings(self) -> None:
        book = self.book()
        result = book.match("t", "me", True, 5, None, "EXPIRE_TAKER")  # type: ignore[arg-type]
        assert result.taker_expired_by_stp


class TestLastPrice:
    def test_is_price_of_most_recent_fill(self) -> None:
        book = book_with(("s1", "a", False, 101, 1), ("s2", "a", False, 105, 1))
        book.match("t1", "x", True, 2, None)
        assert book.last_price == 105
        book.rest("b1", "a", True, 90, 1)
        book.match("t2", "x", False, 1, None)
        assert book.last_price == 90

    def test_unchanged_without_fill(self) -> None:
        book = book_with(("s1", "a", False, 101, 1), ("s2", "me", False, 102, 1))
        book.match("t1", "x", True, 1, None)
        book.match("t2", "x", True, 1, 101)
        book.match("t3", "me", True, 1, None, STP.EXPIRE_TAKER)
        assert book.last_price == 101


class TestOrdersOf:
    def test_both_sides_in_arrival_order(self) -> None:
        book = book_with(
            ("b1", "me", True, 99, 1),
            ("s1", "me", False, 101, 1),
            ("x1", "other", True, 98, 1),
            ("b2", "me", True, 98, 1),
        )
        assert [o.order_id for o in book.orders_of("me")] == ["b1", "s1", "b2"]
        book.match("t", "z", True, 1, None)
        book.cancel("b1")
        assert [o.order_id for o in book.orders_of("me")] == ["b2"]
        book.cancel("b2")
        assert book.orders_of("me") == []


class TestErrors:
    def test_rest_duplicate_id(self) -> None:
        book = book_with(("b1", "a", True, 99, 1))
        with pytest.raises(ValueError, match="already resting"):
            book.rest("b1", "a", True, 98, 1)

    @pytest.mark.parametrize("qty", [0, -1])
    def test_rest_non_positive_qty(self, qty: int) -> None:
        with pytest.raises(ValueError, match="positive"):
            OrderBook("X").rest("b1", "a", True, 99, qty)

    @pytest.mark.parametrize(("is_buy", "price"), [(True, 101), (True, 102), (False, 99)])
    def test_rest_crossing(self, is_buy: bool, price: int) -> None:
        book = book_with(("b1", "a", True, 99, 1), ("s1", "a", False, 101, 1))
        with pytest.raises(ValueError, match="cross"):
            book.rest("n", "a", is_buy, price, 1)
        assert len(book) == 2

    def test_cancel_unknown(self) -> None:
        book = book_with(("b1", "a", True, 99, 1))
        with pytest.raises(KeyError):
            book.cancel("nope")
        book.cancel("b1")
        with pytest.raises(KeyError):
            book.cancel("b1")

    def test_reduce_unknown(self) -> None:
        with pytest.raises(KeyError):
            OrderBook("X").reduce("nope", 1)

    @pytest.mark.parametrize("new_qty", [0, -1, 5, 6])
    def test_reduce_out_of_range(self, new_qty: int) -> None:
        book = book_with(("b1", "a", True, 99, 5))
        with pytest.raises(ValueError, match="reduce"):
            book.reduce("b1", new_qty)
        assert book.get("b1").qty == 5  # type: ignore[union-attr]

    @pytest.mark.parametrize("qty", [0, -3])
    def test_match_non_positive_qty(self, qty: int) -> None:
        with pytest.raises(ValueError, match="positive"):
            OrderBook("X").match("t", "a", True, qty, None)


class TestResultObjects:
    def test_results_compare_as_values(self) -> None:
        book = book_with(("s1", "a", False, 101, 3))
        result = book.match("t", "x", True, 2, None)
        assert result == MatchResult((Fill("s1", "a", 101, 2, 1),), 0, (), False)
        assert result.fills[0].maker_remaining == 1

    def test_results_are_immutable(self) -> None:
        book = book_with(("s1", "a", False, 101, 3))
        result = book.match("t", "x", True, 2, None)
        with pytest.raises(AttributeError):
            result.remaining = 5  # type: ignore[misc]
        with pytest.raises(AttributeError):
            result.fills[0].qty = 5  # type: ignore[misc]
