"""The venue behind the API: one durable exchange, one writer, many awaiting callers.

Every command goes through the store's sequencer (:class:`~isocross.store.DurableExchange`:
one thread owns the exchange, the journal writer group-commits). A handler awaits
:meth:`Venue.submit`, which resolves only once the command is durable. Reads run on the
sequencer between two commands (:meth:`Venue.read`), so they never see half a command.

Accepted commands are published to listeners (market data, WebSocket streams, metrics) on the
event loop, in journal order, right after they are durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from isocross.engine import commands as c
from isocross.engine.exchange import Exchange, Outcome
from isocross.model.errors import ErrorCode
from isocross.risk.config import RiskConfig, risk_preset
from isocross.risk.engine import new_exchange
from isocross.risk.funding import FundingConfig
from isocross.risk.mark import MarkPriceConfig
from isocross.store import DurableExchange
from isocross.store.journal import Entry

log = logging.getLogger("isocross.api")
T = TypeVar("T")
Listener = Callable[[Any, Outcome], None]
"""Called with (command, outcome) for every durable accepted command, in journal order."""


def venue_config() -> RiskConfig:
    """The demo venue's risk settings: Binance's preset, marks computed from index ticks and
    funding settled on schedule."""
    return dataclasses.replace(risk_preset(), mark=MarkPriceConfig(), funding=FundingConfig())


def venue_factory() -> Exchange:
    """A fresh venue (the store's factory: used when there is no snapshot to recover)."""
    return new_exchange(config=venue_config())


class Venue:
    """The exchange as the service sees it (see the module docstring)."""

    def __init__(self, durable: DurableExchange) -> None:
        self.durable = durable
        self.exchange = durable.exchange
        self.catalogue = durable.exchange.catalogue
        self._listeners: list[Listener] = []
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="isocross-read")
        self._accounts: set[str] = set(durable.query(lambda ex: set(ex.accounts)))
        self._opening: dict[str, asyncio.Future[None]] = {}
        self.submitted = 0

    @classmethod
    def open(
        cls,
        database: str,
        *,
        schema: str | None = None,
        snapshot_every: int = 100_000,
        factory: Callable[[], Exchange] = venue_factory,
    ) -> Venue:
        """Open (create, migrate, recover) the store at ``database`` and start its sequencer."""
        durable = DurableExchange.open(
            database, factory=factory, schema=schema, snapshot_every=snapshot_every
        )
        return cls(durable)

    def close(self) -> None:
        """Finish queued commands, snapshot and release the store."""
        self._readers.shutdown(wait=True)
        self.durable.close()

    # ------------------------------------------------------------------ listeners
    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _publish(self, command: Any, entry: Entry) -> None:
        if entry.seq is None:
            return
        outcome = entry.outcome
        if isinstance(command, c.OpenAccount):
            self._accounts.add(command.account_id)
        for listener in self._listeners:
            try:
                listener(command, outcome)
            except Exception:  # a listener's bug must not stop the others
                log.exception("listener %r failed on seq %s", listener, entry.seq)

    # ------------------------------------------------------------------ commands
    def _enqueue(self, command: Any) -> asyncio.Future[Entry]:
        """Queue ``command``; the returned future resolves on the loop once it is durable,
        right after the listeners saw it. The store's own future is never handed out, so a
        caller that goes away (a cancelled request) cannot cancel the journal's work."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Entry] = loop.create_future()
        durable = self.durable.enqueue(command)

        def deliver(done: Future[Entry]) -> None:
            error = done.exception()
            if error is None:
                self._publish(command, done.result())
            if waiter.cancelled():
                return
            if error is None:
                waiter.set_result(done.result())
            else:
                waiter.set_exception(error)

        durable.add_done_callback(lambda done: loop.call_soon_threadsafe(deliver, done))
        self.submitted += 1
        return waiter

    async def submit(self, command: Any) -> Outcome:
        """Apply ``command``; returns once it is durable (refusals included)."""
        entry = await self._enqueue(command)
        return entry.outcome

    async def submit_many(self, commands: Iterable[Any]) -> list[Outcome]:
        """Queue every command at once (they share commits), then await them all."""
        futures = [self._enqueue(cmd) for cmd in commands]
        entries = await asyncio.gather(*futures)
        return [e.outcome for e in entries]

    async def read(self, fn: Callable[[Exchange], T]) -> T:
        """``fn(exchange)`` on the sequencer, between two commands."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.durable.query, fn)

    # ------------------------------------------------------------------ accounts
    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    async def ensure_account(self, account_id: str, fee_tier: str = "VIP0") -> None:
        """Open ``account_id`` in the exchange unless it is open already (once, even when
        many requests race for it)."""
        if account_id in self._accounts:
            return
        pending = self._opening.get(account_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._opening[account_id] = pending
            try:
                outcome = await self.submit(c.OpenAccount(account_id, fee_tier))
                if outcome.error is not None and outcome.error.error is not (
                    ErrorCode.ACCOUNT_EXISTS
                ):
                    raise outcome.error
                self._accounts.add(account_id)
                pending.set_result(None)
            except BaseException as exc:
                pending.set_exception(exc)
                raise
            finally:
                del self._opening[account_id]
        else:
            await pending

    async def accounts(self) -> Sequence[str]:
        return await self.read(lambda ex: sorted(ex.accounts))
