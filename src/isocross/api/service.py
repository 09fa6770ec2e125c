"""The running service: the venue, its keys, limits, market data, history, streams, metrics.

:class:`Service` is built once per app (in its lifespan) and reached by every route through
``request.app.state.service``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from isocross.api.auth import Authenticator
from isocross.api.config import ServiceConfig
from isocross.api.history import History
from isocross.api.keys import ApiKey, KeyStore
from isocross.api.marketdata import MarketData, snapshot
from isocross.api.metrics import Metrics
from isocross.api.ratelimit import WeightLimiter
from isocross.api.streams import Hub, ListenKeys
from isocross.api.venue import Venue
from isocross.engine.exchange import Outcome
from isocross.engine.orders import Order
from isocross.store import wall_clock_ms

log = logging.getLogger("isocross.api")


class Service:
    """Everything a request needs (see the module docstring)."""

    def __init__(self, config: ServiceConfig, venue: Venue, keys: KeyStore) -> None:
        self.config = config
        self.venue = venue
        self.keys = keys
        self.clock = wall_clock_ms
        self.started_ms = self.clock()
        self.metrics = Metrics()
        self.market = MarketData(venue.exchange)
        self.history = History(venue.durable.store.engine)
        self.limiter = WeightLimiter(config.weight_limit, self.clock)
        self.auth = Authenticator(
            keys,
            self.clock,
            cache_s=config.key_cache_s,
            max_recv_window=config.max_recv_window_ms,
            on_new_key=self._key_seen,
        )
        self.listen_keys = ListenKeys(self.clock)
        self.hub = Hub(self)
        self.demo: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        venue.listen(self.market.on_outcome)
        venue.listen(self.metrics.outcome)
        venue.listen(self.hub.on_outcome)

    @classmethod
    def open(cls, config: ServiceConfig) -> Service:
        """Open the store (recovering the exchange) and the key tables."""
        keys = KeyStore.open(config.database, schema=config.schema)
        try:
            venue = Venue.open(
                config.database, schema=config.schema, snapshot_every=config.snapshot_every
            )
        except BaseException:
            keys.close()
            raise
        return cls(config, venue, keys)

    # ------------------------------------------------------------------ life
    async def start(self) -> None:
        """Load market data, open every registered account, start the demo and the ticker."""
        self.market.load(await self.venue.read(snapshot))
        since = self.clock() - 24 * 3600 * 1000
        self.market.load_trades(await self.history.run(lambda: self.history.recent_trades(since)))
        self.market.load_funding(await self.history.run(self.history.funding_rates))
        self.market.order_times.update(await self.history.run(self.history.order_times))
        await self.hub.load()
        self.hub.funding = await self.venue.read(_funding_info)
        accounts = await self.history.run(self.keys.accounts)
        for account in accounts:
            await self.venue.ensure_account(account.account_id, account.fee_tier)
        self._tasks.append(asyncio.create_task(self._gauges(), name="isocross-gauges"))
        self.hub.start()
        if self.config.demo:
            from isocross.api.demo import DemoMarket

            self.demo = DemoMarket(self)
            await self.demo.start()
        self._tasks.append(asyncio.create_task(self._ticker(), name="isocross-ticker"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.demo is not None:
            await self.demo.stop()
        await self.hub.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def close(self) -> None:
        """Release the store (after :meth:`stop`)."""
        self.venue.close()
        self.keys.close()

    async def _key_seen(self, key: ApiKey) -> None:
        if self.venue.has_account(key.account_id):
            return
        account = await self.history.run(lambda: self.keys.account(key.account_id))
        await self.venue.ensure_account(key.account_id, account.fee_tier if account else "VIP0")

    async def _ticker(self) -> None:
        """A risk ``Tick`` every ``tick_interval_s``: funding comes due, accounts re-checked;
        then note any funding settlement (kept for the funding-rate history)."""
        from isocross.risk.commands import Tick

        seen: dict[str, int | None] = {}
        while True:
            await asyncio.sleep(self.config.tick_interval_s)
            try:
                await self.venue.submit(Tick())
                info = await self.venue.read(_funding_info)
            except Exception:
                log.exception("tick failed")
                continue
            self.hub.funding = info
            for symbol, (last, _estimated, next_time) in info.items():
                before = seen.get(symbol)
                if before is not None and next_time != before and last is not None:
                    self.market.record_funding(symbol, before, last)
                seen[symbol] = next_time

    async def _gauges(self) -> None:
        while True:
            self.metrics.backlog.set(self.venue.durable.writer.backlog)
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ helpers
    async def submit(self, command: Any) -> Outcome:
        """Submit a command (the metrics listener counts accepted ones, this the refusals)."""
        outcome = await self.venue.submit(command)
        if outcome.error is not None:
            self.metrics.commands.labels(type(command).__name__, "refused").inc()
            self.metrics.rejections.labels(outcome.error.code).inc()
        return outcome

    def order(self, order_id: str) -> Order | None:
        """The exchange's record of an order, looked up without stopping the sequencer.

        A single dict look-up is atomic; callers use only fields that do not change after
        the order is placed (account, symbol, side, type, prices, flags)."""
        return self.venue.exchange.orders.get(order_id)


def _funding_info(ex: Any) -> dict[str, tuple[Any, Any, int | None]]:
    from isocross.risk.engine import risk_of

    engine = risk_of(ex)
    return {s: engine.funding_info(s) for s in ex.catalogue.instruments}
