"""Margin-call alerts: one event per threshold crossing, with hysteresis.

A margin-ratio alert at ``t`` fires when the ratio rises to ``t`` (an exhausted balance counts as
past every threshold) and re-arms only once the ratio is back below ``t − h``; a margin-level
alert at ``L`` % fires when the level falls to ``L`` and re-arms above ``L + h``. So a pool that
hovers at a threshold alerts once, and a pool that recovers and falls back alerts again.
Thresholds follow the seeds: margin ratio 50/70/80 % (Binance recommends staying below 80 %),
margin level 300/200/150 % (seed 003's "customizable alerts at various margin thresholds").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

RATIO = "margin_ratio"
LEVEL = "margin_level"


@dataclass(slots=True)
class AlertBook:
    """Which alerts are currently fired, per (account, pool, metric, threshold)."""

    fired: set[tuple[str, str, str, Decimal]] = field(default_factory=set)

    def update(
        self,
        account_id: str,
        pool: str,
        metric: str,
        value: Decimal | None,
        thresholds: Sequence[Decimal],
        hysteresis: Decimal,
    ) -> Iterator[Decimal]:
        """Thresholds newly crossed by ``value`` (re-arming those it has recovered from).

        ``value`` ``None`` means: for the ratio, the balance is exhausted (worst); for the
        level, nothing is used (best)."""
        for threshold in thresholds:
            key = (account_id, pool, metric, threshold)
            if metric == RATIO:
                breached = value is None or value >= threshold
                recovered = value is not None and value < threshold - hysteresis
            else:
                breached = value is not None and value <= threshold
                recovered = value is None or value > threshold + hysteresis
            if key in self.fired:
                if recovered:
                    self.fired.discard(key)
            elif breached:
                self.fired.add(key)
                yield threshold

    def forget(self, account_id: str, pool: str) -> None:
        """Re-arm every alert of a pool that no longer exists (its positions are gone)."""
        self.fired = {k for k in self.fired if (k[0], k[1]) != (account_id, pool)}
