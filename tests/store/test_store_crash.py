"""Crash recovery: a real server process under steady load, killed with SIGKILL at random points.

Each round starts ``python -m isocross.store.server`` on the test's database (snapshots every
few hundred events, so kills land before, during and after snapshot writes), sends deposits,
limit and market orders between a few accounts, cancels and mark-price updates as fast as the
acknowledgements come back (up to 64 in flight), and kills the process after a random 50–350 ms.
Then:

* every command acknowledged to the client is in the recovered journal at its entry, with the
  same command and time, accepted or refused as acknowledged, and the orders it opened exist;
  each restart recovered at least every entry acknowledged before it;
* the state every restart recovered (newest snapshot + tail), and the state recovered at the
  end, hash like an independent clean replay of the journal from the first entry up to there;
* the ledger balances (no asset's balances sum to anything but zero).

``ISOCROSS_CRASH_KILLS`` (default 20) sets the number of kills per backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import IO, Any

from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.engine.orders import OrderType
from isocross.model.enums import Side
from isocross.store.codec import encode_command
from store.store_support import Db

KILLS = int(os.environ.get("ISOCROSS_CRASH_KILLS", "20"))
ACCOUNTS = ("a1", "a2", "a3", "mm")
WINDOW = 64


class Client:
    """Talks to one server process: sends requests, collects acknowledgements."""

    def __init__(self, db: Db, sent: dict[int, str], orders: list[tuple[str, str]]) -> None:
        args = [
            sys.executable,
            "-m",
            "isocross.store.server",
            *db.args(),
            "--snapshot-every",
            "300",
        ]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        ready = self.proc.stdout.readline()
        assert ready, self.proc.stderr.read().decode() if self.proc.stderr else "no output"
        self.ready: dict[str, Any] = json.loads(ready)
        self.sent = sent
        self.orders = orders
        self.acks: dict[int, dict[str, Any]] = {}
        self.in_flight = threading.Semaphore(WINDOW)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            if "entry" in message:
                self.acks[message["id"]] = message
                owner = json.loads(self.sent[message["id"]]).get("account_id")
                self.orders.extend((owner, order_id) for order_id in message["orders"])
            self.in_flight.release()

    def send(self, request_id: int, command: Any, until: float) -> bool:
        """Send one request when fewer than ``WINDOW`` are in flight; False once the process
        is gone or ``until`` (monotonic) has passed."""
        text = encode_command(command)
        while not self.in_flight.acquire(timeout=0.02):
            if self.proc.poll() is not None or time.monotonic() > until:
                return False
        self.sent[request_id] = text
        try:
            self.stdin.write(b'{"id":%d,"command":%s}\n' % (request_id, text.encode()))
            self.stdin.flush()
        except (BrokenPipeError, ValueError):
            return False
        return True

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


def load(rng: random.Random, marks: dict[str, Decimal], orders: list[tuple[str, str]]) -> Any:
    """One command of the steady load (the state is the client's guess; refusals are fine)."""
    roll = rng.random()
    symbol = rng.choice(("BTCUSDT", "ETHUSDT"))
    tick = Decimal("0.1") if symbol == "BTCUSDT" else Decimal("0.01")
    aid = rng.choice(ACCOUNTS)
    side = rng.choice((Side.BUY, Side.SELL))
    qty = Decimal(rng.randint(1, 30)) * Decimal("0.01")
    if roll < 0.05:
        marks[symbol] = (
            marks[symbol] * (1 + Decimal(rng.randint(-20, 20)) / 10_000) / tick
        ).to_integral_value() * tick
        return c.SetMarkPrice(symbol, marks[symbol])
    if roll < 0.08:
        return c.Deposit(aid, "USDT", Decimal(rng.randint(1, 1000)))
    if roll < 0.25 and orders:
        return c.CancelOrder(*orders.pop(rng.randrange(len(orders))))
    if roll < 0.40:
        return c.PlaceOrder(aid, symbol, side, OrderType.MARKET, qty)
    away = rng.randint(1, 30) * tick
    price = marks[symbol] - away if side is Side.BUY else marks[symbol] + away
    return c.PlaceOrder(aid, symbol, side, OrderType.LIMIT, qty, price)


def setup(marks: dict[str, Decimal]) -> list[Any]:
    out: list[Any] = [c.SetMarkPrice(s, p) for s, p in marks.items()]
    for aid in ACCOUNTS:
        out += [
            c.OpenAccount(aid),  # refused after the first round
            c.Deposit(aid, "USDT", Decimal(100_000)),
            c.Transfer(aid, "USDT", Decimal(90_000)),
        ]
    return out


def check(
    db: Db, sent: dict[int, str], acks: dict[int, dict[str, Any]], restarts: dict[int, str]
) -> int:
    """The properties of the module docstring; ``restarts`` maps the entries each restart
    recovered to the state hash it reported. Returns the number of entries."""
    with db.store(write=False) as store:
        recovered, report = store.recover()
        rows = {row["entry_id"]: row for row in store.rows()}
        clean = Exchange()
        for entry in store.entries():
            if entry.accepted:
                assert clean.handle(entry.command, ts=entry.ts).seq == entry.seq
            if entry.entry_id in restarts:
                assert clean.state_hash() == restarts.pop(entry.entry_id), entry.entry_id
    assert report.damage is None and not restarts
    assert recovered.state_hash() == clean.state_hash()
    assert recovered.ledger.imbalance() == {} and clean.ledger.imbalance() == {}
    for request_id, message in acks.items():
        row = rows[message["entry"]]
        assert row["command"] == sent[request_id]
        assert row["seq"] == message["seq"] and row["ts"] == message["ts"]
        assert (row["seq"] is not None) == message["accepted"]
        for order_id in message["orders"]:
            assert order_id in recovered.orders
    return report.entries


def test_sigkill_at_random_points_loses_no_acknowledged_command(db: Db) -> None:
    rng = random.Random(20240601)
    marks = {"BTCUSDT": Decimal("60000.0"), "ETHUSDT": Decimal("3000.00")}
    sent: dict[int, str] = {}
    acks: dict[int, dict[str, Any]] = {}
    restarts: dict[int, str] = {}
    orders: list[tuple[str, str]] = []
    request_id = 0
    for _ in range(KILLS):
        client = Client(db, sent, orders)
        assert client.ready["warnings"] == []
        assert client.ready["entries"] >= max((a["entry"] for a in acks.values()), default=0)
        if client.ready["entries"]:
            restarts[client.ready["entries"]] = client.ready["state_hash"]
        stop = time.monotonic() + rng.uniform(0.05, 0.35)
        commands = setup(marks)
        while time.monotonic() < stop:
            command = commands.pop(0) if commands else load(rng, marks, orders)
            request_id += 1
            if not client.send(request_id, command, stop):
                break
        client.kill()
        acks.update(client.acks)
        del orders[:-40]
    assert check(db, sent, acks, restarts) >= len(acks) > 20 * KILLS
