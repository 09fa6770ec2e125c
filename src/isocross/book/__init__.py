"""Price-time priority order book for one symbol: integer ticks and lots, pure matching."""

from isocross.book.order_book import (
    Fill,
    MatchResult,
    OrderBook,
    RestingOrder,
    SelfTradePrevention,
)

__all__ = ["Fill", "MatchResult", "OrderBook", "RestingOrder", "SelfTradePrevention"]
