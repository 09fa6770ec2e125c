"""A deterministic trading session for the store's tests: every kind of command, some refused.

Commands are generated against a live exchange (so cancels and amends name orders that exist,
and prices follow the marks); each comes with the explicit time (ms) it is handled at.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.engine.events import OrderUpdated
from isocross.engine.orders import OrderType, TimeInForce
from isocross.model.enums import MarginMode, Side

T0 = 1_700_000_000_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = {"BTCUSDT": Decimal("60000.0"), "ETHUSDT": Decimal("3000.00")}
TICK = {"BTCUSDT": Decimal("0.1"), "ETHUSDT": Decimal("0.01")}
ACCOUNTS = ("alice", "bob", "carol", "mm")


def setup() -> list[Any]:
    """Accounts, money, first marks, one isolated symbol, and two refusals."""
    out: list[Any] = [c.SetMarkPrice(s, START[s]) for s in SYMBOLS]
    for aid in ACCOUNTS:
        out += [
            c.OpenAccount(aid, "MM" if aid == "mm" else "VIP0"),
            c.Deposit(aid, "USDT", Decimal(1_000_000 if aid == "mm" else 100_000)),
            c.Transfer(aid, "USDT", Decimal(900_000 if aid == "mm" else 90_000)),
        ]
    out += [
        c.OpenAccount("alice"),  # refused: exists
        c.SetMarginMode("carol", "ETHUSDT", MarginMode.ISOLATED),
        c.SetLeverage("bob", "BTCUSDT", 10),
        c.Withdraw("bob", "USDT", Decimal(10**9)),  # refused: too much
    ]
    return out


def session(n: int, seed: int = 7) -> list[tuple[Any, int]]:
    """``setup()`` then ``n`` random commands, each with its time."""
    rng = random.Random(seed)
    ex = Exchange()
    out: list[tuple[Any, int]] = []
    live: dict[str, list[str]] = {aid: [] for aid in ACCOUNTS}

    def send(cmd: Any) -> None:
        ts = T0 + 250 * len(out)
        out.append((cmd, ts))
        for event in ex.handle(cmd, ts=ts).events:
            if isinstance(event, OrderUpdated) and event.reason == "accepted":
                live[event.account_id].append(event.order_id)

    for cmd in setup():
        send(cmd)
    while len(out) < n + len(setup()):
        symbol = rng.choice(SYMBOLS)
        tick = TICK[symbol]
        mark = ex.marks[symbol]
        aid = rng.choice(ACCOUNTS)
        mine = live[aid] = [o for o in live[aid] if ex.orders[o].is_open]
        side = rng.choice((Side.BUY, Side.SELL))
        qty = Decimal(rng.randint(1, 40)) * Decimal("0.010")
        roll = rng.random()
        if roll < 0.06:
            step = Decimal(rng.randint(-30, 30)) / 10_000
            send(c.SetMarkPrice(symbol, _on_tick(mark * (1 + step), tick)))
        elif roll < 0.08:
            send(c.SettleFunding(symbol, Decimal(rng.choice(("0.0001", "-0.0002", "0.0003")))))
        elif roll < 0.25:
            if mine:
                send(c.CancelOrder(aid, mine.pop(rng.randrange(len(mine)))))
            else:
                send(c.CancelOrder(aid, "999999"))  # refused: unknown
        elif roll < 0.30 and mine:
            order = ex.orders[mine[-1]]
            if order.price is not None:
                away = Decimal(rng.randint(-3, 3)) * tick
                send(c.AmendOrder(aid, order.order_id, price=order.price + away))
        elif roll < 0.42:
            send(c.PlaceOrder(aid, symbol, side, OrderType.MARKET, qty))
        elif roll < 0.48:
            price = _on_tick(
                mark * (Decimal("1.001") if side is Side.BUY else Decimal("0.999")), tick
            )
            send(
                c.PlaceOrder(
                    aid, symbol, side, OrderType.LIMIT, qty, price, time_in_force=TimeInForce.IOC
                )
            )
        else:
            away = Decimal(rng.randint(1, 25)) * tick
            price = mark - away if side is Side.BUY else mark + away
            send(c.PlaceOrder(aid, symbol, side, OrderType.LIMIT, qty, price))
    return out


def _on_tick(value: Decimal, tick: Decimal) -> Decimal:
    return (value / tick).to_integral_value() * tick
