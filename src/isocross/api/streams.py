"""WebSocket streams: market data and the private user stream, as Binance sends them.

Endpoints (all send JSON text frames):

* ``/ws/{stream}`` — one raw stream; ``/stream?streams=a/b`` — combined, each message wrapped
  as ``{"stream": name, "data": payload}``; both accept Binance's ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` messages.
* Market streams: ``<symbol>@depth[@100ms|@250ms|@500ms]`` (the levels changed since the last
  message, sent at that speed, 250 ms by default; ``U``/``u`` are the journal sequence numbers
  they span and ``pu`` the previous message's ``u``), ``<symbol>@depth5|10|20[@speed]`` (top
  of book), ``<symbol>@bookTicker`` (whenever the best bid or ask changes),
  ``<symbol>@aggTrade``, ``<symbol>@trade``, ``<symbol>@kline_<interval>`` (on every trade),
  ``<symbol>@markPrice`` and ``!markPrice@arr`` (on every mark change).
* A listen key (``POST /fapi/v1/listenKey``) as a stream name: the account's Binance user
  events (``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, ``MARGIN_CALL``,
  ``ACCOUNT_CONFIG_UPDATE``, ``listenKeyExpired``).
* ``/api/v1/ws?listenKey=…&streams=…`` — the native stream: market streams as above plus, for
  the listen key's account, every engine and risk event that concerns it (orders, fills,
  positions, ledger entries, funding, margin calls, liquidations, auto-deleveraging) as
  ``{"stream": "user", "data": {"e": EventName, "seq": …, "ts": …, …fields}}``.

Messages are built once per event and fanned out to each subscriber's queue; a subscriber whose
queue fills up (it does not read) is disconnected rather than slowing everyone down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from isocross.api.marketdata import INTERVALS
from isocross.api.views import dec, dec0
from isocross.engine import commands as c
from isocross.engine.events import (
    DepthChanged,
    FillSettled,
    LedgerPosted,
    OrderUpdated,
    PositionChanged,
    PriceUpdated,
    SettingsChanged,
    Trade,
)
from isocross.engine.exchange import Exchange, Outcome
from isocross.model.enums import MarginMode
from isocross.model.money import ZERO
from isocross.risk.events import MarginCall
from isocross.store.codec import EVENTS

if TYPE_CHECKING:
    from isocross.api.service import Service

log = logging.getLogger("isocross.api.streams")
LISTEN_KEY_TTL_MS = 60 * 60 * 1000
QUEUE_SIZE = 2000
MAX_STREAMS = 200
DEPTH_SPEEDS = {"100ms": 100, "250ms": 250, "500ms": 500}
FLUSH_TICK_S = 0.05


# ---------------------------------------------------------------------------- listen keys
class ListenKeys:
    """Listen keys: one per account, valid 60 minutes after the last keep-alive."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self._keys: dict[str, tuple[str, int]] = {}
        self._by_account: dict[str, str] = {}

    def issue(self, account_id: str) -> str:
        """The account's listen key (the same one while it is valid), extended."""
        key = self._by_account.get(account_id)
        if key is None or self.account(key) is None:
            key = secrets.token_urlsafe(48)
            self._by_account[account_id] = key
        self._keys[key] = (account_id, self.clock() + LISTEN_KEY_TTL_MS)
        return key

    def keepalive(self, account_id: str) -> str | None:
        key = self._by_account.get(account_id)
        if key is None or self.account(key) is None:
            return None
        self._keys[key] = (account_id, self.clock() + LISTEN_KEY_TTL_MS)
        return key

    def close(self, account_id: str) -> None:
        key = self._by_account.pop(account_id, None)
        if key is not None:
            self._keys.pop(key, None)

    def account(self, key: str) -> str | None:
        """The account of a valid listen key."""
        entry = self._keys.get(key)
        if entry is None or entry[1] < self.clock():
            return None
        return entry[0]


# ---------------------------------------------------------------------------- subscribers
@dataclass(eq=False)
class Subscriber:
    """One WebSocket connection: its streams and a queue its writer task drains."""

    websocket: WebSocket
    combined: bool
    native: bool = False
    streams: set[str] = field(default_factory=set)
    accounts: dict[str, str] = field(default_factory=dict)
    """Listen key → account for the user streams this connection receives."""
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False

    def put(self, text: str) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


@dataclass(slots=True)
class _Pos:
    qty: Decimal
    entry: Decimal
    mode: str
    leverage: int


@dataclass(eq=False)
class _DepthBuffer:
    """One depth stream between two sends: the levels changed (diff streams) and the
    journal sequence numbers they span (``U``…``u``; ``pu`` is the previous send's ``u``)."""

    name: str
    symbol: str
    interval_ms: int
    levels: int | None
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    first: int = 0
    last: int = 0
    previous: int = 0
    due: int = 0
    dirty: bool = False

    def add(self, e: DepthChanged) -> None:
        if self.levels is None:
            self.bids.update(e.bids)
            self.asks.update(e.asks)
        if not self.dirty:
            self.first = e.seq
            self.dirty = True
        self.last = e.seq

    def payload(self, now: int, book: Any) -> dict[str, Any]:
        if self.levels is None:
            bids = sorted(self.bids.items(), key=lambda kv: kv[0], reverse=True)
            asks = sorted(self.asks.items(), key=lambda kv: kv[0])
        else:
            bids, asks = book.top(self.levels)
        data = {
            "e": "depthUpdate",
            "E": now,
            "T": now,
            "s": self.symbol,
            "U": self.first,
            "u": self.last,
            "pu": self.previous,
            "b": [[dec0(p), dec0(q)] for p, q in bids],
            "a": [[dec0(p), dec0(q)] for p, q in asks],
        }
        self.previous = self.last
        self.bids, self.asks, self.dirty = {}, {}, False
        return data


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


class Hub:
    """Subscriptions and the mirrors user events need (balances, positions)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.catalogue = service.venue.catalogue
        self.market: dict[str, set[Subscriber]] = {}
        self.users: dict[str, set[Subscriber]] = {}
        self.natives: dict[str, set[Subscriber]] = {}
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.positions: dict[tuple[str, str, str], _Pos] = {}
        self.depth_seq: dict[str, int] = {}
        self.funding: dict[str, tuple[Any, Any, int | None]] = {}
        self.depth: dict[str, _DepthBuffer] = {}
        self._best: dict[str, Any] = {}
        self.seq = 0
        self._expiry: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._expiry = asyncio.create_task(self._expire_listen_keys(), name="isocross-listenkeys")
        self._flusher = asyncio.create_task(self._flush_depth(), name="isocross-depth")

    async def load(self) -> None:
        """Start the mirrors from the exchange's state (on the sequencer)."""
        state = await self.service.venue.read(_mirror_state)
        self.seq = state["seq"]
        self.balances = state["balances"]
        self.positions = {k: _Pos(*v) for k, v in state["positions"].items()}

    async def stop(self) -> None:
        for task in (self._expiry, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for subs in (*self.market.values(), *self.users.values(), *self.natives.values()):
            for sub in list(subs):
                sub.dropped = True
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait(None)

    async def _expire_listen_keys(self) -> None:
        while True:
            await asyncio.sleep(5)
            for key in list(self.users):
                if self.service.listen_keys.account(key) is None:
                    now = self.service.clock()
                    text = _dumps({"e": "listenKeyExpired", "E": now, "listenKey": key})
                    for sub in list(self.users.get(key, ())):
                        self._send(sub, key, text)

    # ------------------------------------------------------------------ subscribing
    def subscribe(self, sub: Subscriber, stream: str) -> str | None:
        """Add ``stream``; returns an error message if it is not a stream."""
        if len(sub.streams) >= MAX_STREAMS:
            return f"at most {MAX_STREAMS} streams per connection"
        account = self.service.listen_keys.account(stream)
        if account is not None:
            sub.streams.add(stream)
            sub.accounts[stream] = account
            self.users.setdefault(stream, set()).add(sub)
            return None
        name = self.normalize(stream)
        if name is None:
            return f"unknown stream {stream!r}"
        sub.streams.add(stream)
        self.market.setdefault(name, set()).add(sub)
        if "@depth" in name and name not in self.depth:
            symbol, kind, speed = name.split("@")
            levels = int(kind[5:]) if kind != "depth" else None
            buffer = _DepthBuffer(name, symbol.upper(), DEPTH_SPEEDS[speed], levels)
            buffer.previous = self.depth_seq.get(symbol.upper(), 0)
            self.depth[name] = buffer
        return None

    def subscribe_native(self, sub: Subscriber, listen_key: str) -> str | None:
        account = self.service.listen_keys.account(listen_key)
        if account is None:
            return "invalid or expired listen key"
        sub.accounts[listen_key] = account
        self.natives.setdefault(account, set()).add(sub)
        return None

    def unsubscribe(self, sub: Subscriber, stream: str) -> None:
        sub.streams.discard(stream)
        if stream in sub.accounts:
            del sub.accounts[stream]
            self.users.get(stream, set()).discard(sub)
            return
        name = self.normalize(stream)
        if name is not None:
            self.market.get(name, set()).discard(sub)

    def remove(self, sub: Subscriber) -> None:
        for stream in list(sub.streams):
            self.unsubscribe(sub, stream)
        for account in sub.accounts.values():
            self.natives.get(account, set()).discard(sub)

    def normalize(self, stream: str) -> str | None:
        """The canonical name of a market stream (depth streams carry their update speed:
        ``btcusdt@depth`` is ``btcusdt@depth@250ms``), or None if there is no such stream."""
        symbol, _, rest = stream.partition("@")
        if stream == "!markPrice@arr" or stream == "!markPrice@arr@1s":
            return "!markPrice@arr"
        if symbol.upper() not in self.catalogue.instruments or not symbol.islower():
            return None
        kind, _, speed = rest.partition("@")
        if kind in ("depth", "depth5", "depth10", "depth20"):
            speed = speed or "250ms"
            return f"{symbol}@{kind}@{speed}" if speed in DEPTH_SPEEDS else None
        if kind == "markPrice" and speed in ("", "1s", "3s"):
            return f"{symbol}@markPrice"
        if speed:
            return None
        if kind in ("aggTrade", "trade", "bookTicker"):
            return f"{symbol}@{kind}"
        if kind.startswith("kline_") and kind[6:] in INTERVALS:
            return f"{symbol}@{kind}"
        return None

    # ------------------------------------------------------------------ the listener
    def on_outcome(self, command: Any, outcome: Outcome) -> None:
        seq = outcome.seq or 0
        if seq <= self.seq:
            return
        self.seq = seq
        events = outcome.events
        touched: dict[str, str] = {}
        for e in events:
            if isinstance(e, LedgerPosted):
                for name, sign in ((e.debit, -1), (e.credit, 1)):
                    key = (name, e.asset)
                    self.balances[key] = self.balances.get(key, ZERO) + sign * e.amount
                    owner = name.split(":", 1)[0]
                    touched.setdefault(owner, _reason(command))
            elif isinstance(e, PositionChanged):
                self.positions[(e.account_id, e.symbol, e.position_side)] = _Pos(
                    e.qty, e.entry_price, e.margin_mode, e.leverage
                )
                touched.setdefault(e.account_id, _reason(command))
        if self.market:
            self._market(events)
        if self.users:
            self._users(command, events, touched)
        if self.natives:
            self._natives(events)

    # ------------------------------------------------------------------ market payloads
    def _market(self, events: Iterable[Any]) -> None:
        market = self.market
        for e in events:
            if isinstance(e, DepthChanged):
                self.depth_seq[e.symbol] = e.seq
                for buffer in self.depth.values():
                    if buffer.symbol == e.symbol:
                        buffer.add(e)
                self._book_ticker(e)
            elif isinstance(e, Trade):
                self._trade(e)
            elif isinstance(e, PriceUpdated) and e.kind == "mark":
                payload = self._mark_payload(e.symbol, e.ts)
                name = f"{e.symbol.lower()}@markPrice"
                if market.get(name):
                    self._fan(name, payload)
                if market.get("!markPrice@arr"):
                    self._fan("!markPrice@arr", [payload])

    def _book_ticker(self, e: DepthChanged) -> None:
        """Best bid and ask, sent when either changes (price or quantity)."""
        name = f"{e.symbol.lower()}@bookTicker"
        if not self.market.get(name):
            return
        bid, ask = self.service.market.books[e.symbol].best()
        if self._best.get(e.symbol) == (bid, ask):
            return
        self._best[e.symbol] = (bid, ask)
        self._fan(
            name,
            {
                "e": "bookTicker",
                "u": e.seq,
                "E": e.ts,
                "T": e.ts,
                "s": e.symbol,
                "b": dec0(bid[0]) if bid else "0",
                "B": dec0(bid[1]) if bid else "0",
                "a": dec0(ask[0]) if ask else "0",
                "A": dec0(ask[1]) if ask else "0",
            },
        )

    async def _flush_depth(self) -> None:
        """Send each depth stream's changes at its speed (100, 250 or 500 ms), as Binance."""
        while True:
            await asyncio.sleep(FLUSH_TICK_S)
            now = self.service.clock()
            for name, buffer in list(self.depth.items()):
                if not self.market.get(name):
                    del self.depth[name]
                    continue
                if buffer.dirty and now >= buffer.due:
                    self._fan(name, buffer.payload(now, self.service.market.books[buffer.symbol]))
                    buffer.due = now + buffer.interval_ms

    def _trade(self, e: Trade) -> None:
        lower = e.symbol.lower()
        maker = not e.taker_is_buyer
        name = f"{lower}@aggTrade"
        if self.market.get(name):
            self._fan(
                name,
                {
                    "e": "aggTrade",
                    "E": e.ts,
                    "s": e.symbol,
                    "a": e.trade_id,
                    "p": dec0(e.price),
                    "q": dec0(e.qty),
                    "f": e.trade_id,
                    "l": e.trade_id,
                    "T": e.ts,
                    "m": maker,
                },
            )
        name = f"{lower}@trade"
        if self.market.get(name):
            self._fan(
                name,
                {
                    "e": "trade",
                    "E": e.ts,
                    "T": e.ts,
                    "s": e.symbol,
                    "t": e.trade_id,
                    "p": dec0(e.price),
                    "q": dec0(e.qty),
                    "X": "MARKET",
                    "m": maker,
                },
            )
        for interval, step in INTERVALS.items():
            name = f"{lower}@kline_{interval}"
            if not self.market.get(name):
                continue
            rows = self.service.market.klines(e.symbol, interval, None, None, 1)
            if not rows:
                continue
            k = rows[-1]
            self._fan(
                name,
                {
                    "e": "kline",
                    "E": e.ts,
                    "s": e.symbol,
                    "k": {
                        "t": k.open_time,
                        "T": k.open_time + step - 1,
                        "s": e.symbol,
                        "i": interval,
                        "f": k.first_id,
                        "L": k.last_id,
                        "o": dec0(k.open),
                        "c": dec0(k.close),
                        "h": dec0(k.high),
                        "l": dec0(k.low),
                        "v": dec0(k.volume),
                        "n": k.count,
                        "x": False,
                        "q": dec0(k.quote_volume),
                        "V": dec0(k.taker_buy_volume),
                        "Q": dec0(k.taker_buy_quote),
                        "B": "0",
                    },
                },
            )

    def _mark_payload(self, symbol: str, ts: int) -> dict[str, Any]:
        market = self.service.market
        _last, estimated, next_time = self.funding.get(symbol, (None, None, None))
        return {
            "e": "markPriceUpdate",
            "E": ts,
            "s": symbol,
            "p": dec0(market.marks.get(symbol)),
            "i": dec0(market.index.get(symbol)),
            "P": dec0(market.marks.get(symbol)),
            "r": dec0(estimated),
            "T": next_time or 0,
        }

    def _fan(self, name: str, payload: Any) -> None:
        subs = self.market.get(name)
        if not subs:
            return
        raw = _dumps(payload)
        wrapped: str | None = None
        for sub in list(subs):
            if sub.combined:
                if wrapped is None:
                    wrapped = f'{{"stream":{json.dumps(name)},"data":{raw}}}'
                sub.put(wrapped)
            else:
                sub.put(raw)
            self.service.metrics.ws_messages.labels("market").inc()

    def _send(self, sub: Subscriber, stream: str, raw: str) -> None:
        sub.put(f'{{"stream":{json.dumps(stream)},"data":{raw}}}' if sub.combined else raw)
        self.service.metrics.ws_messages.labels("user").inc()

    # ------------------------------------------------------------------ user payloads
    def _users(self, command: Any, events: tuple[Any, ...], touched: dict[str, str]) -> None:
        wanted: dict[str, list[str]] = {}
        for key, subs in self.users.items():
            if subs:
                account = self.service.listen_keys.account(key)
                if account is not None:
                    wanted.setdefault(account, []).append(key)
        if not wanted:
            return
        fills: dict[str, FillSettled] = {}
        out: dict[str, list[Any]] = {}
        for e in events:
            if isinstance(e, FillSettled):
                fills[e.order_id] = e
            elif isinstance(e, OrderUpdated) and e.account_id in wanted:
                out.setdefault(e.account_id, []).append(self._order_update(e, fills))
            elif isinstance(e, MarginCall) and e.account_id in wanted:
                out.setdefault(e.account_id, []).append(self._margin_call(e))
            elif (
                isinstance(e, SettingsChanged)
                and e.account_id in wanted
                and e.what.startswith("leverage:")
            ):
                out.setdefault(e.account_id, []).append(
                    {
                        "e": "ACCOUNT_CONFIG_UPDATE",
                        "E": e.ts,
                        "T": e.ts,
                        "ac": {"s": e.what.split(":", 1)[1], "l": int(e.value)},
                    }
                )
        for account, reason in touched.items():
            if account in wanted:
                out.setdefault(account, []).append(self._account_update(account, reason, events))
        for account, payloads in out.items():
            for key in wanted.get(account, ()):
                for sub in list(self.users.get(key, ())):
                    for payload in payloads:
                        self._send(sub, key, _dumps(payload))

    def _order_update(self, e: OrderUpdated, fills: dict[str, FillSettled]) -> dict[str, Any]:
        order = self.service.order(e.order_id)
        fill = fills.pop(e.order_id, None) if e.reason == "filled" else None
        status = e.status.value
        execution = (
            "TRADE"
            if fill is not None
            else {
                "NEW": "NEW",
                "CANCELED": "CANCELED",
                "EXPIRED": "EXPIRED",
            }.get(status, "AMENDMENT" if e.reason.startswith("amended") else "NEW")
        )
        o: dict[str, Any] = {
            "s": e.symbol,
            "i": _int_id(e.order_id),
            "X": status,
            "x": execution,
            "q": dec0(e.filled_qty + e.remaining_qty),
            "z": dec0(e.filled_qty),
            "T": e.ts,
            "l": "0",
            "L": "0",
            "n": "0",
            "N": None,
            "t": 0,
            "m": False,
            "rp": "0",
        }
        if order is not None:
            o.update(
                {
                    "c": order.client_order_id or "",
                    "S": order.side.value,
                    "o": order.type.value,
                    "ot": order.type.value,
                    "f": order.time_in_force.value,
                    "p": dec0(order.price),
                    "ap": dec0(order.average_price),
                    "sp": dec0(order.stop_price),
                    "ps": order.position_side.value,
                    "R": order.reduce_only,
                    "cp": order.close_position,
                    "wt": order.working_type.value,
                    "AP": dec0(order.activation_price),
                    "cr": dec0(order.callback_rate * 100 if order.callback_rate else None),
                }
            )
        if fill is not None:
            o.update(
                {
                    "l": dec0(fill.qty),
                    "L": dec0(fill.price),
                    "n": dec0(fill.fee),
                    "N": self.catalogue.instrument(e.symbol).margin_asset.name,
                    "t": fill.trade_id,
                    "m": fill.is_maker,
                    "rp": dec0(fill.realized_pnl),
                }
            )
        return {"e": "ORDER_TRADE_UPDATE", "E": e.ts, "T": e.ts, "o": o}

    def _account_update(self, account: str, reason: str, events: tuple[Any, ...]) -> Any:
        ts = events[0].ts if events else 0
        assets = sorted(self.catalogue.assets)
        balances = []
        for asset in assets:
            cross = self.balances.get((f"{account}:futures", asset), ZERO)
            iso = sum(
                (
                    v
                    for (name, a), v in self.balances.items()
                    if a == asset and name.startswith(f"{account}:isolated:")
                ),
                ZERO,
            )
            if cross or iso:
                balances.append({"a": asset, "wb": dec0(cross + iso), "cw": dec0(cross), "bc": "0"})
        changed = {
            (e.symbol, e.position_side)
            for e in events
            if isinstance(e, PositionChanged) and e.account_id == account
        }
        positions = [self._position_row(account, s, side) for s, side in sorted(changed)]
        return {
            "e": "ACCOUNT_UPDATE",
            "E": ts,
            "T": ts,
            "a": {"m": reason, "B": balances, "P": positions},
        }

    def _position_row(self, account: str, symbol: str, side: str) -> dict[str, Any]:
        pos = self.positions.get((account, symbol, side))
        inst = self.catalogue.instrument(symbol)
        mark = self.service.market.marks.get(symbol)
        qty = pos.qty if pos else ZERO
        pnl = inst.unrealized_pnl(qty, pos.entry, mark) if pos and mark and qty else ZERO
        iso = self.balances.get(
            (f"{account}:isolated:{symbol}:{side}", inst.margin_asset.name), ZERO
        )
        return {
            "s": symbol,
            "pa": dec0(qty),
            "ep": dec0(pos.entry if pos else ZERO),
            "bep": "0",
            "cr": "0",
            "up": dec0(pnl.quantize(Decimal("1e-8"))),
            "mt": "isolated" if pos and pos.mode == MarginMode.ISOLATED.value else "cross",
            "iw": dec0(iso),
            "ps": side,
        }

    def _margin_call(self, e: MarginCall) -> dict[str, Any]:
        rows = []
        for (account, symbol, side), pos in self.positions.items():
            if account != e.account_id or not pos.qty:
                continue
            inst = self.catalogue.instrument(symbol)
            if ":" in e.pool:
                if e.pool != f"{symbol}:{side}":
                    continue
            elif inst.margin_asset.name != e.pool or pos.mode == MarginMode.ISOLATED.value:
                continue
            mark = self.service.market.marks.get(symbol, pos.entry)
            row = self._position_row(account, symbol, side)
            row.update(
                {
                    "mp": dec0(mark),
                    "mm": dec0(inst.maintenance_margin(pos.qty, mark).quantize(Decimal("1e-8"))),
                }
            )
            rows.append(row)
        cross = self.balances.get(
            (f"{e.account_id}:futures", e.pool if ":" not in e.pool else "USDT"), ZERO
        )
        return {
            "e": "MARGIN_CALL",
            "E": e.ts,
            "cw": dec0(cross),
            "p": rows,
            "metric": e.metric,
            "threshold": dec0(e.threshold),
            "value": dec(e.value),
            "pool": e.pool,
        }

    # ------------------------------------------------------------------ native payloads
    def _natives(self, events: tuple[Any, ...]) -> None:
        for e in events:
            owners = _owners(e)
            for account in owners:
                subs = self.natives.get(account)
                if not subs:
                    continue
                data = EVENTS.encode(e)
                data["e"] = data.pop("@")
                data["seq"] = e.seq
                data["ts"] = e.ts
                text = _dumps({"stream": "user", "data": data})
                for sub in list(subs):
                    sub.put(text)
                    self.service.metrics.ws_messages.labels("native").inc()


def _owners(e: Any) -> tuple[str, ...]:
    if isinstance(e, LedgerPosted):
        a, b = e.debit.split(":", 1)[0], e.credit.split(":", 1)[0]
        return (a,) if a == b else (a, b)
    account = getattr(e, "account_id", None)
    if account is None:
        return ()
    other = getattr(e, "counterparty_id", None)
    return (account,) if other is None else (account, other)


def _reason(command: Any) -> str:
    if isinstance(command, (c.PlaceOrder, c.CancelOrder, c.CancelAll, c.AmendOrder)):
        return "ORDER"
    if isinstance(command, (c.Deposit,)):
        return "DEPOSIT"
    if isinstance(command, (c.Withdraw,)):
        return "WITHDRAW"
    if isinstance(command, (c.Transfer,)):
        return "MARGIN_TRANSFER"
    if isinstance(command, c.AdjustIsolatedMargin):
        return "MARGIN_TYPE_CHANGE"
    if isinstance(command, c.SettleFunding):
        return "FUNDING_FEE"
    return "ADJUSTMENT"


def _int_id(order_id: str) -> int:
    return int(order_id) if order_id.isdigit() else 0


def _mirror_state(ex: Exchange) -> dict[str, Any]:
    positions = {}
    for account_id, acct in ex.accounts.items():
        for p in acct.positions():
            positions[(account_id, p.symbol, p.side.value)] = (
                p.qty,
                p.entry_price,
                p.margin_mode.value,
                p.leverage,
            )
    return {"seq": ex.seq, "balances": ex.ledger.balances(), "positions": positions}


# ---------------------------------------------------------------------------- endpoints
async def _writer(sub: Subscriber) -> None:
    ws = sub.websocket
    while True:
        text = await sub.queue.get()
        if text is None:
            with contextlib.suppress(Exception):
                await ws.close(code=1008 if sub.dropped else 1000)
            return
        await ws.send_text(text)


async def serve_socket(
    hub: Hub,
    ws: WebSocket,
    streams: list[str],
    *,
    combined: bool,
    native_key: str | None = None,
) -> None:
    """Run one connection: subscribe, then read control messages until it closes."""
    await ws.accept()
    sub = Subscriber(ws, combined=combined, native=native_key is not None)
    kind = (
        "native"
        if sub.native
        else ("user" if any(hub.service.listen_keys.account(s) for s in streams) else "market")
    )
    metrics = hub.service.metrics
    metrics.websockets.labels(kind).inc()
    try:
        if native_key is not None:
            problem = hub.subscribe_native(sub, native_key)
            if problem is not None:
                await ws.send_text(_dumps({"error": {"code": -1125, "msg": problem}}))
                await ws.close(code=1008)
                return
        for stream in streams:
            problem = hub.subscribe(sub, stream)
            if problem is not None:
                await ws.send_text(_dumps({"error": {"code": 2, "msg": problem}}))
                await ws.close(code=1008)
                return
        writer = asyncio.create_task(_writer(sub))
        try:
            await _read_controls(hub, sub, ws, writer)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
    finally:
        hub.remove(sub)
        metrics.websockets.labels(kind).dec()


async def _read_controls(
    hub: Hub, sub: Subscriber, ws: WebSocket, writer: asyncio.Task[None]
) -> None:
    """Binance's control messages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS."""
    while not writer.done():
        receive = asyncio.create_task(ws.receive())
        done, _ = await asyncio.wait({receive, writer}, return_when=asyncio.FIRST_COMPLETED)
        if receive not in done:
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            return
        message = receive.result()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text") or ""
        reply = _control(hub, sub, text)
        if ws.application_state is WebSocketState.CONNECTED:
            sub.put(_dumps(reply))


def _control(hub: Hub, sub: Subscriber, text: str) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except ValueError:
        return {"error": {"code": 3, "msg": "Invalid JSON"}}
    if not isinstance(msg, dict):
        return {"error": {"code": 3, "msg": "Invalid request"}}
    ident = msg.get("id")
    if not isinstance(ident, (int, str)) or isinstance(ident, bool):
        ident = None
    method = msg.get("method")
    params = msg.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return {
            "error": {"code": 2, "msg": "Invalid request: params must be stream names"},
            "id": ident,
        }
    if method == "SUBSCRIBE":
        for stream in params:
            problem = hub.subscribe(sub, stream)
            if problem is not None:
                return {"error": {"code": 2, "msg": problem}, "id": ident}
        return {"result": None, "id": ident}
    if method == "UNSUBSCRIBE":
        for stream in params:
            hub.unsubscribe(sub, stream)
        return {"result": None, "id": ident}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(sub.streams), "id": ident}
    return {"error": {"code": 2, "msg": f"Unknown method {method!r}"}, "id": ident}


__all__ = ["Hub", "ListenKeys", "Subscriber", "WebSocketDisconnect", "serve_socket"]
