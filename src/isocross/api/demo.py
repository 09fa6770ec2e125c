"""The demo market: an index feed, a market maker quoting around it, a funded insurance fund.

The index of each symbol is replayed from one-minute candles (the closes of
``<BASE>_USDT_USDT-1m-futures.feather`` in ``--index-data``, or ``../shared/data`` when present;
one candle per feed tick, back and forth) or else a seeded random walk. Each tick sends
``SetIndexPrice`` (the risk engine derives the mark from it and samples funding), then the
market maker (:class:`~isocross.engine.market_maker.MarketMaker`, an ordinary account) replaces
its ladder of post-only quotes. Everything goes through the journal like any client's command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import zlib
from collections.abc import Iterator
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from isocross.engine import commands as c
from isocross.engine.exchange import Exchange
from isocross.engine.market_maker import MarketMaker
from isocross.model.instrument import Instrument
from isocross.risk.commands import FundInsurance

if TYPE_CHECKING:
    from isocross.api.service import Service

log = logging.getLogger("isocross.api.demo")
MAKER = "mm"
DEMO = "demo"
START = {"BTC": Decimal(60000), "ETH": Decimal(3000), "SOL": Decimal(150), "XRP": Decimal("0.6")}
SHARED = (Path("../shared/data"), Path(__file__).resolve().parents[3].parent / "shared" / "data")
LEVEL_NOTIONAL = Decimal(50_000)
FUNDS = {"USDT": Decimal(100_000_000), "USDC": Decimal(100_000_000), "BTC": Decimal(1000)}
INSURANCE = {"USDT": Decimal(1_000_000), "USDC": Decimal(1_000_000), "BTC": Decimal(10)}


def _series(base: str, data_dir: Path | None) -> list[float] | None:
    """Closes of the base asset's one-minute candles, if a data file is there."""
    dirs = [data_dir] if data_dir is not None else list(SHARED)
    for root in dirs:
        if root is None or not root.is_dir():
            continue
        for path in sorted(root.rglob(f"{base}_USDT_USDT-1m-futures.feather")):
            try:
                import pyarrow.feather as feather  # type: ignore[import-untyped]

                table = feather.read_table(path, columns=["close"])
            except Exception as exc:  # a broken or unreadable file: fall back to a walk
                log.warning("cannot read %s: %s", path, exc)
                continue
            return [float(x) for x in table.column("close").to_pylist()]
    return None


def _replay(closes: list[float]) -> Iterator[Decimal]:
    """The closes forth and back, each as the exact decimal of its shortest repr."""
    while True:
        for series in (closes, closes[::-1]):
            for close in series:
                yield Decimal(repr(close))


def _walk(start: Decimal, seed: int) -> Iterator[Decimal]:
    rng = random.Random(seed)
    price = float(start)
    while True:
        yield Decimal(repr(price))
        price *= math.exp(rng.gauss(0.0, 0.0005))


class DemoMarket:
    """Runs the feed as a task of the service (see the module docstring)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.catalogue = service.venue.catalogue
        config = service.config
        data_dir = Path(config.index_data) if config.index_data else None
        replay = config.index_data != ""
        self.sources: dict[str, str] = {}
        self.feeds: dict[str, Iterator[Decimal]] = {}
        series: dict[str, list[float] | None] = {}
        for symbol, inst in self.catalogue.instruments.items():
            base = inst.base_asset
            if base not in series:
                series[base] = _series(base, data_dir) if replay else None
            closes = series[base]
            if closes:
                self.feeds[symbol] = _replay(closes)
                self.sources[symbol] = "replay"
            else:
                seed = config.seed + zlib.crc32(symbol.encode())
                self.feeds[symbol] = _walk(START.get(base, Decimal(100)), seed)
                self.sources[symbol] = "random walk"
        self.makers = {
            s: MarketMaker(MAKER, s, self._quote_qty(i))
            for s, i in self.catalogue.instruments.items()
        }
        self.index: dict[str, Decimal] = {}
        self._task: asyncio.Task[None] | None = None

    def _quote_qty(self, inst: Instrument) -> Decimal:
        if inst.contract_type.value == "inverse":
            contracts = (LEVEL_NOTIONAL / inst.contract_size).to_integral_value(ROUND_FLOOR)
            return max(inst.min_qty, contracts * inst.step_size)
        price = START.get(inst.base_asset, Decimal(100))
        lots = (LEVEL_NOTIONAL / price / inst.step_size).to_integral_value(ROUND_FLOOR)
        return max(inst.min_qty, lots * inst.step_size)

    async def start(self) -> None:
        """Open and fund the market maker and the insurance fund (first run only), send the
        first index ticks and quotes, then keep ticking."""
        service = self.service
        if not service.venue.has_account(MAKER):
            await service.venue.ensure_account(MAKER, "MM")
            commands: list[object] = []
            for asset, amount in FUNDS.items():
                commands += [c.Deposit(MAKER, asset, amount), c.Transfer(MAKER, asset, amount)]
            commands += [FundInsurance(a, x) for a, x in INSURANCE.items()]
            await service.venue.submit_many(commands)
        await self._fund_demo_account()
        await self.tick()
        self._task = asyncio.create_task(self._run(), name="isocross-demo")

    async def _fund_demo_account(self) -> None:
        """Give the ``demo`` account (``make run`` prints its key) 10,000 USDT when empty."""
        venue = self.service.venue
        if not venue.has_account(DEMO):
            return

        def empty(ex: Exchange) -> bool:
            acct = ex.account(DEMO)
            return not acct.positions() and not any(
                acct.spot_balance(a) or acct.cross_wallet(a) for a in ex.catalogue.assets
            )

        if await venue.read(empty):
            amount = Decimal(10_000)
            await venue.submit_many(
                [c.Deposit(DEMO, "USDT", amount), c.Transfer(DEMO, "USDT", amount)]
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.service.config.feed_interval_s)
            try:
                await self.tick()
            except Exception:
                log.exception("demo tick failed")

    async def tick(self) -> None:
        """One step of every index, then fresh quotes."""
        venue = self.service.venue
        ticks = []
        for symbol, feed in self.feeds.items():
            inst = self.catalogue.instrument(symbol)
            price = (next(feed) / inst.tick_size).to_integral_value() * inst.tick_size
            self.index[symbol] = price
            ticks.append(c.SetIndexPrice(symbol, price))
        await venue.submit_many(ticks)
        quotes: list[c.Command] = []
        for symbol, maker in self.makers.items():
            quotes += maker.quotes(venue.exchange, self.index[symbol])
        await venue.submit_many(quotes)
