"""A market-maker participant: an ordinary account that quotes a ladder around the index.

It talks to the exchange only through commands (cancel its orders, place post-only limits), so a
single user always has a living book to trade against — and nothing in the engine knows it is
special. Bid ``k`` sits at ``index × (1 − spread/2 − k·step)``, ask ``k`` at
``index × (1 + spread/2 + k·step)``, rounded away from the index to the tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from isocross.engine import commands as c
from isocross.engine.exchange import Exchange, Outcome
from isocross.engine.orders import OrderType, TimeInForce
from isocross.model.enums import Side
from isocross.model.money import ONE


@dataclass(frozen=True)
class MarketMaker:
    account_id: str
    symbol: str
    qty: Decimal
    levels: int = 5
    spread: Decimal = Decimal("0.0004")
    step: Decimal = Decimal("0.0002")

    def quotes(self, exchange: Exchange, index: Decimal) -> list[c.Command]:
        """The commands that replace this maker's quotes with a fresh ladder around ``index``."""
        tick = exchange.catalogue.instrument(self.symbol).tick_size
        commands: list[c.Command] = [c.CancelAll(self.account_id, self.symbol)]
        for k in range(self.levels):
            offset = self.spread / 2 + k * self.step
            bid = (index * (ONE - offset) / tick).to_integral_value(ROUND_FLOOR) * tick
            ask = (index * (ONE + offset) / tick).to_integral_value(ROUND_CEILING) * tick
            for side, price in ((Side.BUY, bid), (Side.SELL, ask)):
                commands.append(
                    c.PlaceOrder(
                        self.account_id,
                        self.symbol,
                        side,
                        OrderType.LIMIT,
                        self.qty,
                        price,
                        time_in_force=TimeInForce.GTX,
                    )
                )
        return commands

    def requote(self, exchange: Exchange, index: Decimal) -> list[Outcome]:
        """Send :meth:`quotes` through the exchange's sequencer; refusals are simply skipped
        (a post-only quote that would cross is not placed)."""
        return [exchange.handle(cmd) for cmd in self.quotes(exchange, index)]
