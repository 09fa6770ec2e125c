"""A durable exchange behind line-delimited JSON on stdin/stdout.

    python -m isocross.store.server --db URL [--schema NAME] [--snapshot-every N]
                                    [--factory module:function]

On start it recovers and prints one line ``{"ready": true, "entries": …, "seq": …,
"state_hash": …, "warnings": […]}``. Then each input line is a request and each output line
answers one, in the order the commands were journaled:

* ``{"id": 7, "command": {"@": "PlaceOrder", …}, "ts": 1700000000000}`` (``ts`` optional) →
  ``{"id": 7, "entry": 12, "seq": 9, "ts": …, "accepted": true, "error": null,
  "orders": ["4"]}`` — written only once the command is durable; ``orders`` lists the orders
  the command opened. A refusal has ``"accepted": false`` and ``error`` = code, message, field.
* ``{"id": 8, "op": "state"}`` → ``{"id": 8, "seq": …, "entries": …, "state_hash": …}``;
  ``{"op": "snapshot"}`` → ``{"id": …, "snapshot": entry_id}``; ``{"op": "close"}`` or the end
  of input closes the store (with a snapshot) and exits.

A request that cannot be read is answered with an error and journaled nowhere. The crash test
drives this process and kills it with SIGKILL at random points.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
from concurrent.futures import Future
from typing import Any, BinaryIO

from isocross.engine.events import OrderUpdated
from isocross.engine.exchange import Exchange
from isocross.store.codec import decode_command
from isocross.store.durable import DurableExchange
from isocross.store.journal import Entry
from isocross.store.store import load_factory


def ack(request_id: Any, entry: Entry) -> dict[str, Any]:
    error = None
    if entry.seq is None:
        error = {
            "code": entry.error_code,
            "message": entry.error_message,
            "field": entry.error_field,
        }
    orders = [
        e.order_id for e in entry.events if isinstance(e, OrderUpdated) and e.reason == "accepted"
    ]
    return {
        "id": request_id,
        "entry": entry.entry_id,
        "seq": entry.seq,
        "ts": entry.ts,
        "accepted": entry.seq is not None,
        "error": error,
        "orders": orders,
    }


class Server:
    """Reads requests, answers them through an output thread (acks leave in journal order)."""

    def __init__(self, durable: DurableExchange, out: BinaryIO) -> None:
        self.durable = durable
        self._out = out
        self._lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="isocross-server-out")
        self._thread.start()

    def send(self, message: dict[str, Any]) -> None:
        self._lines.put(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def _write(self) -> None:
        while True:
            line = self._lines.get()
            if line is None:
                self._out.flush()
                return
            chunks = [line]
            while True:  # everything ready goes out with one flush
                try:
                    more = self._lines.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._out.writelines(chunks)
                    self._out.flush()
                    return
                chunks.append(more)
            self._out.writelines(chunks)
            self._out.flush()

    def state(self, request_id: Any) -> None:
        def read(ex: Exchange) -> dict[str, Any]:
            return {"id": request_id, "seq": ex.seq, "state_hash": ex.state_hash()}

        reply = self.durable.query(read)
        reply["entries"] = self.durable.durable_entry_id
        self.send(reply)

    def handle(self, line: bytes) -> bool:
        """Serve one request line; False when the server should stop."""
        request_id = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            op = request.get("op")
            if op == "close":
                return False
            if op == "state":
                self.state(request_id)
                return True
            if op == "snapshot":
                info = self.durable.snapshot()
                self.send({"id": request_id, "snapshot": None if info is None else info.entry_id})
                return True
            command = decode_command(request["command"])
            ts = request.get("ts")
        except Exception as exc:  # a request that cannot be read: answered, never journaled
            message = f"{type(exc).__name__}: {exc}"
            self.send({"id": request_id, "error": {"code": "BAD_REQUEST", "message": message}})
            return True
        future = self.durable.enqueue(command, ts=ts)

        def done(f: Future[Entry]) -> None:
            try:
                self.send(ack(request_id, f.result()))
            except Exception as exc:
                self.send({"id": request_id, "error": {"code": "STORE", "message": str(exc)}})

        future.add_done_callback(done)
        return True

    def close(self) -> None:
        self._lines.put(None)
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="database URL, SQLite file or data directory")
    parser.add_argument("--schema", default=None, help="PostgreSQL schema (search path)")
    parser.add_argument("--snapshot-every", type=int, default=100_000, help="events, 0: never")
    parser.add_argument("--factory", default=None, help="module:function building the exchange")
    args = parser.parse_args(argv)
    factory = load_factory(args.factory) if args.factory else Exchange
    durable = DurableExchange.open(
        args.db, factory, schema=args.schema, snapshot_every=args.snapshot_every
    )
    server = Server(durable, sys.stdout.buffer)
    report = durable.recovery
    server.send(
        {
            "ready": True,
            "entries": report.entries,
            "seq": report.seq,
            "state_hash": report.state_hash,
            "snapshot": None if report.snapshot is None else report.snapshot.entry_id,
            "replayed": report.replayed,
            "warnings": report.warnings,
        }
    )
    try:
        for line in sys.stdin.buffer:
            if line.strip() and not server.handle(line):
                break
    finally:
        durable.close()
        server.send({"closed": True})
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
