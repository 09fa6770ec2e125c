"""Binance USDⓈ-M funding: impact prices, premium index, the rate, its cap and the schedule.

Binance FAQ 360033525031 "Introduction to Binance Futures Funding Rates" and the 2025-09-16
announcement (reference notes §1.4)::

    IMN  = 200 USDT / IMR at max leverage            (BTCUSDT 125x: 25,000; BNBUSDT 20x: 4,000)
    PI   = [max(0, impactBid − Index) − max(0, Index − impactAsk)] / Index
    P̄    = Σ i·PI_i / Σ i                            (i = 1 … n, linearly increasing weights)
    F    = [P̄ + clamp(I − P̄, −0.05 %, +0.05 %)] / (8/N)   (I = 0.01 % per 8 h; N-hour interval)
    F    = clamp(F, −cap, +cap),  cap = m·MMR of the max-leverage tier (m = 0.75: BTCUSDT ±0.3 %)

Older text caps at ``m·(IMR − MMR)`` (ADAUSDT 75x, IMR 1.3 %, MMR 0.65 % → ±0.4875 %), and since
2023-10 symbols whose max leverage is ≤ 25x cap at ±3 %; both are :class:`FundingConfig` options.
Settlements fall every ``N`` hours from 00:00 UTC; premium samples are taken every 5 s.

Rounding: the funding rate is quantized to 8 decimal places **toward zero**, so a rounded rate
never exceeds its cap or the unrounded rate in magnitude (no one pays more than the formula
says). Impact prices, premiums and the average are exact (Decimal, 50 significant digits). A
positive rate means longs pay shorts: :func:`funding_payment`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

from isocross.model.enums import ContractType
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent

HOUR_MS = 3_600_000
BASE_INTERVAL_HOURS = 8
"""``I`` and the premium clamp are quoted per 8 hours."""

Level = tuple[Decimal, Decimal]
"""One book level ``(price, quantity)``; quantity in contracts (base units for linear)."""


class CapRule(StrEnum):
    """How the funding-rate cap follows from the max-leverage (first) tier."""

    MMR = "mmr"
    """``±m·MMR`` (2025 announcement: BTCUSDT ±0.3 % = 0.75 × 0.4 %)."""
    IMR_MINUS_MMR = "imr_minus_mmr"
    """``±m·(IMR − MMR)`` (older FAQ text: ADAUSDT ±0.4875 %)."""


def _bad(message: str, field: str) -> IsocrossError:
    return IsocrossError(ErrorCode.INVALID_INPUT, message, field=field)


def _check_interval(hours: int, field: str) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1 or 24 % hours:
        raise _bad(f"funding interval must divide 24 hours (1, 2, 4, 8, …), got {hours!r}", field)
    return hours


@dataclass(frozen=True, slots=True)
class FundingConfig:
    """A symbol's funding parameters (defaults: Binance USDⓈ-M, 8-hour interval).

    ``interest_rate`` and ``premium_clamp`` are per 8 hours; ``impact_margin`` is the 200 USDT
    of ``IMN``; ``low_leverage_cap`` (e.g. ``Decimal("0.03")``), when set, replaces the cap of
    symbols whose max leverage is ≤ ``low_leverage_max``.
    """

    interval_hours: int = 8
    sample_period_ms: int = 5_000
    interest_rate: Decimal = Decimal("0.0001")
    premium_clamp: Decimal = Decimal("0.0005")
    impact_margin: Decimal = Decimal(200)
    cap_rule: CapRule = CapRule.MMR
    cap_multiplier: Decimal = Decimal("0.75")
    low_leverage_cap: Decimal | None = None
    low_leverage_max: int = 25
    rate_places: int = 8

    def __post_init__(self) -> None:
        _check_interval(self.interval_hours, "interval_hours")
        if self.sample_period_ms < 1:
            raise _bad(
                f"sample period must be ≥ 1 ms, got {self.sample_period_ms}", "sample_period_ms"
            )
        if self.premium_clamp < 0 or self.impact_margin <= 0 or self.cap_multiplier <= 0:
            raise _bad("premium_clamp ≥ 0, impact_margin > 0, cap_multiplier > 0", "config")
        if self.low_leverage_cap is not None and self.low_leverage_cap <= 0:
            raise _bad(f"low_leverage_cap must be > 0, got {self.low_leverage_cap}", "config")


BINANCE_FUNDING = FundingConfig()
"""Binance USDⓈ-M defaults: 8 h, 5-second samples, I = 0.01 %, ±0.05 %, cap 0.75·MMR."""


# ------------------------------------------------------------------------------ schedule
def next_settlement(ts_ms: int, interval_hours: int = 8) -> int:
    """The first settlement time strictly after ``ts_ms`` (epoch ms).

    Settlements fall every ``interval_hours`` from 00:00 UTC (8 h: 00:00, 08:00, 16:00). Epoch
    milliseconds count 86,400,000 per UTC day, so ``(ts // interval + 1) × interval``.
    """
    interval = _check_interval(interval_hours, "interval_hours") * HOUR_MS
    return (ts_ms // interval + 1) * interval


# ------------------------------------------------------------------------------ impact prices
def impact_margin_notional(
    instrument: Instrument, impact_margin: Decimal = Decimal(200)
) -> Decimal:
    """``IMN = impact_margin / IMR``, ``IMR = 1/max leverage`` of the first tier.

    BTCUSDT 125x: 200 / 0.008 = 25,000; a 20x symbol: 200 / 0.05 = 4,000. In the margin asset
    for linear contracts; in USD of contract value for inverse ones.
    """
    return impact_margin * instrument.tiers.max_leverage


def impact_price(
    levels: Iterable[Level], impact_notional: Decimal, instrument: Instrument
) -> Decimal | None:
    """Average fill price of ``impact_notional`` walked through ``levels`` (best first).

    A level's notional is ``qty × S × price`` for linear contracts and ``qty × CS`` (USD) for
    inverse ones; the average is notional over base amount, ``IMN / Σ(nᵢ/pᵢ)`` (harmonic for
    inverse contracts, as Binance COIN-M averages). ``None`` when the levels hold less than
    ``impact_notional``. Computed with exact fractions, so one level gives exactly its price.
    """
    if impact_notional <= 0:
        raise _bad(f"impact notional must be positive, got {impact_notional}", "impact_notional")
    inverse = instrument.contract_type is ContractType.INVERSE
    size = Fraction(instrument.contract_size)
    target = Fraction(impact_notional)
    remaining = target
    base = Fraction(0)
    for price, qty in levels:
        if price <= 0 or qty < 0:
            raise _bad(f"book level ({price}, {qty}) needs price > 0 and qty ≥ 0", "levels")
        p = Fraction(price)
        capacity = Fraction(qty) * size * (1 if inverse else p)
        take = min(capacity, remaining)
        base += take / p
        remaining -= take
        if remaining == 0:
            return _decimal(target / base)
    return None


def _decimal(value: Fraction) -> Decimal:
    with localcontext(CONTEXT):
        return Decimal(value.numerator) / Decimal(value.denominator)


# ------------------------------------------------------------------------------ premium and rate
def premium_index(index: Decimal, impact_bid: Decimal, impact_ask: Decimal) -> Decimal:
    """``PI = [max(0, impactBid − Index) − max(0, Index − impactAsk)] / Index`` (exact)."""
    if index <= 0:
        raise _bad(f"index must be positive, got {index}", "index")
    with localcontext(CONTEXT):
        return (max(ZERO, impact_bid - index) - max(ZERO, index - impact_ask)) / index


def average_premium(samples: Sequence[Decimal]) -> Decimal:
    """Time-weighted average with linearly increasing weights: ``P̄ = Σ i·PIᵢ / Σ i``,
    ``i = 1 … n`` oldest to newest (``Σ i = n(n+1)/2``). No samples: 0."""
    n = len(samples)
    if n == 0:
        return ZERO
    with localcontext(CONTEXT):
        weighted = sum((i * s for i, s in enumerate(samples, start=1)), ZERO)
        return weighted / Decimal(n * (n + 1) // 2)


def funding_cap(
    imr: Decimal,
    mmr: Decimal,
    *,
    rule: CapRule = CapRule.MMR,
    multiplier: Decimal = Decimal("0.75"),
) -> Decimal:
    """The magnitude of the rate cap: ``m·MMR`` or ``m·(IMR − MMR)`` (exact).

    BTCUSDT (MMR 0.4 %): 0.75 × 0.004 = 0.003. ADAUSDT (IMR 1.3 %, MMR 0.65 %), old rule:
    0.75 × 0.0065 = 0.004875.
    """
    with localcontext(CONTEXT):
        return multiplier * (mmr if rule is CapRule.MMR else imr - mmr)


def instrument_funding_cap(
    instrument: Instrument, config: FundingConfig = BINANCE_FUNDING
) -> Decimal:
    """The cap for ``instrument`` from its max-leverage (first) tier, ``IMR = 1/max leverage``.

    With ``config.low_leverage_cap`` set and max leverage ≤ ``low_leverage_max``, that cap
    (±3 % on Binance since 2023-10) instead.
    """
    tier = instrument.tiers.tiers[0]
    if config.low_leverage_cap is not None and tier.max_leverage <= config.low_leverage_max:
        return config.low_leverage_cap
    # Exact fractions: 0.75 × (1/75 − 0.0065) is 0.005125, not a 50-digit approximation.
    mmr = Fraction(tier.mmr)
    base = mmr if config.cap_rule is CapRule.MMR else Fraction(1, tier.max_leverage) - mmr
    return _decimal(Fraction(config.cap_multiplier) * base)


def funding_rate(
    average: Decimal,
    cap: Decimal,
    config: FundingConfig = BINANCE_FUNDING,
    *,
    interval_hours: int | None = None,
) -> Decimal:
    """``clamp([P̄ + clamp(I − P̄, ±c)] × N/8, ±cap)``, quantized to ``config.rate_places``
    toward zero. ``interval_hours`` (``N``) defaults to ``config.interval_hours``.

    Whenever ``|I − P̄| ≤ c`` on an 8-hour interval this is exactly ``I``; a 4-hour interval
    halves it.
    """
    hours = (
        config.interval_hours
        if interval_hours is None
        else _check_interval(interval_hours, "interval_hours")
    )
    c = config.premium_clamp
    with localcontext(CONTEXT):
        eight_hour = average + min(max(config.interest_rate - average, -c), c)
        rate = eight_hour * hours / BASE_INTERVAL_HOURS
        capped = min(max(rate, -cap), cap)
        return capped.quantize(exponent(config.rate_places), rounding=ROUND_DOWN)


def funding_payment(notional: Decimal, rate: Decimal) -> Decimal:
    """What a position pays at settlement: ``notional × rate`` (unrounded).

    ``notional`` is signed by side (long > 0, short < 0), valued at mark. Positive result: the
    position pays; negative: it receives. So a positive rate makes longs pay shorts.
    """
    with localcontext(CONTEXT):
        return notional * rate


# ------------------------------------------------------------------------------ per-symbol state
class FundingState:
    """One symbol's premium samples since the last settlement, and the rate they give.

    Call :meth:`sample_book` (or :meth:`add_sample`) on ticks; it keeps at most one sample per
    sample period. :meth:`estimated_rate` is the rate if settled now; :meth:`settle` returns it
    and starts a new interval. Deterministic: time is always passed in.
    """

    __slots__ = (
        "_interval_hours",
        "_last_slot",
        "_samples",
        "_weighted",
        "cap",
        "config",
        "impact_notional",
        "instrument",
        "last_rate",
    )

    def __init__(self, instrument: Instrument, config: FundingConfig = BINANCE_FUNDING) -> None:
        self.instrument = instrument
        self.config = config
        self._interval_hours = config.interval_hours
        self.impact_notional = impact_margin_notional(instrument, config.impact_margin)
        self.cap = instrument_funding_cap(instrument, config)
        self.last_rate: Decimal | None = None
        """The rate of the last :meth:`settle` (``lastFundingRate`` for the mark price)."""
        self._samples: list[Decimal] = []
        self._weighted = ZERO  # Σ i·PIᵢ, kept as samples arrive: the same sums in the same order
        self._last_slot: int | None = None

    @property
    def interval_hours(self) -> int:
        """``N``; may be changed between settlements (Binance moves capped symbols to 4 h/1 h)."""
        return self._interval_hours

    @interval_hours.setter
    def interval_hours(self, hours: int) -> None:
        self._interval_hours = _check_interval(hours, "interval_hours")

    @property
    def samples(self) -> tuple[Decimal, ...]:
        """Premium samples since the last settlement, oldest first."""
        return tuple(self._samples)

    def add_sample(self, ts_ms: int, premium: Decimal) -> bool:
        """Record ``premium`` at ``ts_ms`` if its sample period has none yet.

        Periods are aligned to the epoch (slot ``ts_ms // sample_period_ms``; 5 s → 5,760 per
        8 h). A later tick in the same slot, or one earlier than the last sample, is ignored.
        Returns whether the sample was taken.
        """
        slot = ts_ms // self.config.sample_period_ms
        if self._last_slot is not None and slot <= self._last_slot:
            return False
        if not isinstance(premium, Decimal) or not premium.is_finite():
            raise _bad(f"premium must be a finite decimal, got {premium!r}", "premium")
        with localcontext(CONTEXT):
            self._weighted += (len(self._samples) + 1) * premium
        self._samples.append(premium)
        self._last_slot = slot
        return True

    def sample_book(
        self, ts_ms: int, index: Decimal, bids: Sequence[Level], asks: Sequence[Level]
    ) -> bool:
        """Impact bid and ask for ``impact_notional``, then :meth:`add_sample` of their premium
        index. Too little depth on either side gives no sample (returns False)."""
        slot = ts_ms // self.config.sample_period_ms
        if self._last_slot is not None and slot <= self._last_slot:
            return False
        bid = impact_price(bids, self.impact_notional, self.instrument)
        ask = impact_price(asks, self.impact_notional, self.instrument)
        if bid is None or ask is None:
            return False
        return self.add_sample(ts_ms, premium_index(index, bid, ask))

    def average_premium(self) -> Decimal:
        """``P̄`` of the samples held (0 when there are none); O(1), equal to
        :func:`average_premium` of :attr:`samples`."""
        n = len(self._samples)
        if n == 0:
            return ZERO
        with localcontext(CONTEXT):
            return self._weighted / Decimal(n * (n + 1) // 2)

    def estimated_rate(self) -> Decimal:
        """The rate a settlement now would pay (no samples: ``I`` scaled to the interval)."""
        return funding_rate(
            self.average_premium(), self.cap, self.config, interval_hours=self.interval_hours
        )

    def settle(self) -> Decimal:
        """The rate for the interval just ended; clears the samples and keeps it as
        :attr:`last_rate`."""
        rate = self.estimated_rate()
        self._samples.clear()
        self._weighted = ZERO
        self.last_rate = rate
        return rate

    def next_settlement(self, ts_ms: int) -> int:
        """The first settlement time strictly after ``ts_ms`` on this symbol's interval."""
        return next_settlement(ts_ms, self.interval_hours)
