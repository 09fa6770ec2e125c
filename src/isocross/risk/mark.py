"""Binance USDⓈ-M mark price: the median of a funding-adjusted index, an index plus a moving
average of the book's basis, and the last trade.

Binance FAQ 360033525071 "What Are Mark Price and Price Index in USDⓈ-M Futures" and the
2025-09-16 announcement (reference notes §1.4)::

    Mark    = median(Price1, Price2, last price)
    Price1  = Index × (1 + lastFundingRate × timeToNextFunding / fundingInterval)
    Price2  = Index + MA(basis),  basis sample = (bid1 + ask1)/2 − Index

The basis moving average is the plain mean of the samples in the window. From 2025-09-18 the
window is 30 one-second samples (:data:`BINANCE_2025`, the default); earlier docs used 30
one-minute samples (:data:`BINANCE_LEGACY`). Both are just :class:`MarkPriceConfig` values.

Missing inputs (this module's rule, not a venue's published one):

* no funding rate yet: ``Price1 = Index`` (the rate counts as 0);
* no basis sample inside the window (no two-sided book): ``Price2`` does not exist;
* no last trade yet: the last price does not exist;
* the mark is the median of the components that exist: the middle one of three, the mean of
  two, the only one of one (``Price1`` always exists, so with nothing else the mark is the
  funding-adjusted index, or the index itself when there is no funding rate either).

The published mark is rounded **half-even** to the instrument's ``price_precision`` decimal
places, once, at the end; every component is exact. All arithmetic is Decimal at
:data:`~isocross.model.money.CONTEXT` precision; the module has no clock and no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ONE, ZERO, exponent, round_nearest

HOUR_MS = 3_600_000
_TWO = Decimal(2)


class MarkSource(StrEnum):
    """Where a symbol's mark price comes from."""

    MEDIAN = "median"
    """Computed by the Binance median rule from index, book and last trade."""
    FEED = "feed"
    """Given directly (:meth:`MarkPriceState.feed`), e.g. replayed from a venue's stream."""


@dataclass(frozen=True, slots=True)
class MarkPriceConfig:
    """How a symbol's mark price is formed.

    ``basis_samples`` samples, one per ``sample_period_ms``, make the basis moving average;
    ``funding_interval_hours`` is ``fundingInterval`` in ``Price1``.
    """

    basis_samples: int = 30
    sample_period_ms: int = 1_000
    funding_interval_hours: int = 8
    source: MarkSource = MarkSource.MEDIAN

    def __post_init__(self) -> None:
        for name in ("basis_samples", "sample_period_ms", "funding_interval_hours"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise IsocrossError(
                    ErrorCode.INVALID_INPUT,
                    f"{name} must be a positive whole number, got {value!r}",
                    field=name,
                )

    @property
    def window_ms(self) -> int:
        """Length of the basis window: ``basis_samples × sample_period_ms``."""
        return self.basis_samples * self.sample_period_ms


BINANCE_2025 = MarkPriceConfig()
"""From 2025-09-18: a 30-second basis, 30 one-second samples (announcement 2025-09-16)."""

BINANCE_LEGACY = MarkPriceConfig(basis_samples=30, sample_period_ms=60_000)
"""Older FAQ text: a 30-minute basis, 30 one-minute samples."""


def _positive(value: Decimal, name: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise IsocrossError(
            ErrorCode.INVALID_INPUT, f"{name} must be a positive decimal, got {value!r}", field=name
        )
    return value


def median(values: Sequence[Decimal]) -> Decimal:
    """The median: the middle value of an odd count, the mean of the two middle ones of an even
    count (so ``median([a, b]) = (a + b)/2``). Refuses an empty sequence."""
    if not values:
        raise IsocrossError(ErrorCode.INVALID_INPUT, "median of no values", field="values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    with localcontext(CONTEXT):
        return (ordered[mid - 1] + ordered[mid]) / _TWO


def basis_sample(index: Decimal, best_bid: Decimal, best_ask: Decimal) -> Decimal:
    """One basis sample ``(bid1 + ask1)/2 − Index`` (exact)."""
    with localcontext(CONTEXT):
        return (best_bid + best_ask) / _TWO - index


def funding_adjusted_index(
    index: Decimal, funding_rate: Decimal, time_to_funding_ms: int, interval_ms: int
) -> Decimal:
    """``Price1 = Index × (1 + rate × timeToNextFunding / fundingInterval)``.

    ``time_to_funding_ms`` is clamped to ``[0, interval_ms]``, so a stale next-funding time never
    extrapolates past one interval.
    """
    remaining = min(max(time_to_funding_ms, 0), interval_ms)
    with localcontext(CONTEXT):
        return index * (ONE + funding_rate * Decimal(remaining) / Decimal(interval_ms))


def mark_price(price1: Decimal, price2: Decimal | None, last_price: Decimal | None) -> Decimal:
    """``median(Price1, Price2, last)`` over the components that exist (unrounded)."""
    values = [price1]
    if price2 is not None:
        values.append(price2)
    if last_price is not None:
        values.append(last_price)
    return median(values)


class MarkPriceState:
    """One symbol's mark-price state: the rolling basis window and the last mark.

    Call :meth:`sample_basis` on every book tick (it keeps at most one sample per sample period)
    and :meth:`mark` whenever a mark is needed. Deterministic: time is always passed in.
    """

    __slots__ = ("_last_slot", "_quantum", "_samples", "config", "fed", "last_mark", "symbol")

    def __init__(self, instrument: Instrument, config: MarkPriceConfig = BINANCE_2025) -> None:
        self.symbol = instrument.symbol
        self.config = config
        self._quantum = exponent(instrument.price_precision)
        self._samples: deque[tuple[int, Decimal]] = deque(maxlen=config.basis_samples)
        self._last_slot: int | None = None
        self.fed: Decimal | None = None
        """The last price given by :meth:`feed` (used when ``config.source`` is FEED)."""
        self.last_mark: Decimal | None = None
        """The last mark :meth:`mark` returned."""

    @property
    def samples(self) -> tuple[tuple[int, Decimal], ...]:
        """The basis samples held, oldest first, as ``(sample slot, basis)``; the slot is
        ``ts_ms // sample_period_ms``."""
        return tuple(self._samples)

    def sample_basis(
        self, ts_ms: int, index: Decimal, best_bid: Decimal | None, best_ask: Decimal | None
    ) -> bool:
        """Record ``(bid1 + ask1)/2 − Index`` at ``ts_ms`` if this sample period has none yet.

        Periods are aligned to the epoch: slot ``ts_ms // sample_period_ms``; the first tick of a
        slot is its sample, later ticks of the same slot (and ticks earlier than the last sample)
        are ignored. A missing side of the book gives no sample. Returns whether one was taken.
        """
        if best_bid is None or best_ask is None:
            return False
        slot = ts_ms // self.config.sample_period_ms
        if self._last_slot is not None and slot <= self._last_slot:
            return False
        _positive(index, "index")
        _positive(best_bid, "best_bid")
        _positive(best_ask, "best_ask")
        self._samples.append((slot, basis_sample(index, best_bid, best_ask)))
        self._last_slot = slot
        return True

    def basis_average(self, ts_ms: int) -> Decimal | None:
        """``MA(basis)``: the mean of the samples in the window ending at ``ts_ms`` (the slots
        ``(slot(ts) − basis_samples, slot(ts)]``); ``None`` when the window holds none."""
        oldest = ts_ms // self.config.sample_period_ms - self.config.basis_samples
        live = [basis for slot, basis in self._samples if slot > oldest]
        if not live:
            return None
        with localcontext(CONTEXT):
            return sum(live, ZERO) / Decimal(len(live))

    def feed(self, price: Decimal) -> None:
        """Set the mark given directly by a feed (used when ``config.source`` is FEED)."""
        self.fed = _positive(price, "mark_price")

    def mark(
        self,
        ts_ms: int,
        index: Decimal,
        last_price: Decimal | None,
        last_funding_rate: Decimal | None,
        next_funding_ts_ms: int,
        *,
        funding_interval_hours: int | None = None,
    ) -> Decimal:
        """The mark at ``ts_ms``, rounded half-even to the instrument's price precision.

        ``median(Price1, Price2, last_price)`` as in the module docstring;
        ``funding_interval_hours`` overrides the config's interval (a symbol switched to 4 h or
        1 h). With ``source = FEED`` and a fed price, that price (rounded the same way) is the
        mark and the other inputs are ignored; before any feed the median rule applies.
        """
        if self.config.source is MarkSource.FEED and self.fed is not None:
            with localcontext(CONTEXT):
                result = round_nearest(self.fed, self._quantum)
        else:
            _positive(index, "index")
            if last_price is not None:
                _positive(last_price, "last_price")
            hours = self.config.funding_interval_hours
            if funding_interval_hours is not None:
                if funding_interval_hours < 1:
                    raise IsocrossError(
                        ErrorCode.INVALID_INPUT,
                        f"funding interval must be at least 1 hour, got {funding_interval_hours}",
                        field="funding_interval_hours",
                    )
                hours = funding_interval_hours
            price1 = (
                index
                if last_funding_rate is None
                else funding_adjusted_index(
                    index, last_funding_rate, next_funding_ts_ms - ts_ms, hours * HOUR_MS
                )
            )
            average = self.basis_average(ts_ms)
            with localcontext(CONTEXT):
                price2 = None if average is None else index + average
                result = round_nearest(mark_price(price1, price2, last_price), self._quantum)
        self.last_mark = result
        return result
