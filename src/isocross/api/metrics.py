"""Prometheus metrics (``/metrics``): requests and their latency, commands and refusals,
liquidations, the insurance fund, the journal's backlog, open WebSocket connections.

Each app has a registry of its own (several apps in one process never share counters).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from isocross.engine.exchange import Outcome
from isocross.risk.events import InsuranceFundChanged, LiquidationStarted

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "isocross_http_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "isocross_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commands = Counter(
            "isocross_commands",
            "Commands handled by the exchange",
            ["command", "result"],
            registry=r,
        )
        self.rejections = Counter(
            "isocross_rejections", "Refused commands and requests by code", ["code"], registry=r
        )
        self.liquidations = Counter(
            "isocross_liquidations", "Liquidations started", ["pool_kind"], registry=r
        )
        self.insurance = Gauge(
            "isocross_insurance_fund_balance", "Insurance fund balance", ["asset"], registry=r
        )
        self.backlog = Gauge(
            "isocross_journal_backlog", "Journal entries queued, not yet committed", registry=r
        )
        self.seq = Gauge("isocross_exchange_seq", "Last durable sequence number", registry=r)
        self.websockets = Gauge(
            "isocross_websocket_connections", "Open WebSocket connections", ["kind"], registry=r
        )
        self._accepted: dict[str, Any] = {}
        self.ws_messages = Counter(
            "isocross_websocket_messages", "Messages sent on WebSockets", ["kind"], registry=r
        )

    def outcome(self, command: Any, outcome: Outcome) -> None:
        """Count one command's result (accepted or the refusal's code)."""
        name = type(command).__name__
        if outcome.error is None:
            child = self._accepted.get(name)
            if child is None:
                child = self._accepted[name] = self.commands.labels(name, "accepted")
            child.inc()
            self.seq.set(outcome.seq or 0)
            for e in outcome.events:
                if isinstance(e, LiquidationStarted):
                    self.liquidations.labels("cross" if ":" not in e.pool else "isolated").inc()
                elif isinstance(e, InsuranceFundChanged):
                    self.insurance.labels(e.asset).set(float(e.balance))
        else:
            self.commands.labels(name, "refused").inc()
            self.rejections.labels(outcome.error.code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
