"""Mark price and funding invariants (hypothesis).

* the mark lies between the smallest and the largest of its inputs (after rounding: between
  their roundings, since half-even rounding is monotone);
* the funding rate never leaves its cap, on every instrument of every venue preset, under
  every cap rule and interval;
* ``F = I`` exactly whenever ``|I − P̄| ≤ 0.05 %`` (8-hour interval), ``I·N/8`` for ``N`` hours;
* the funding rate never falls as the average premium rises;
* the linearly weighted average premium lies between the smallest and largest sample;
* an impact price lies between the best and worst price of the levels it walks.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st
from prop_support import CATALOGUE_INSTRUMENTS, D

from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, exponent, round_nearest
from isocross.risk.funding import (
    CapRule,
    FundingConfig,
    FundingState,
    average_premium,
    funding_rate,
    impact_price,
    instrument_funding_cap,
)
from isocross.risk.mark import (
    MarkPriceConfig,
    MarkPriceState,
    funding_adjusted_index,
    mark_price,
)

HOUR = 3_600_000
T0 = 1_700_006_400_000  # a settlement time (00:00 UTC)

# Premiums and rates as decimals with up to 10 places, within ±5 %.
premiums = st.integers(-5 * 10**8, 5 * 10**8).map(lambda n: D(n).scaleb(-10))
prices = st.integers(1, 10**9).map(lambda n: D(n).scaleb(-2))  # 0.01 … 10,000,000.00
instruments = st.sampled_from(CATALOGUE_INSTRUMENTS)
intervals = st.sampled_from([1, 2, 4, 8])


@st.composite
def funding_configs(draw: st.DrawFn) -> FundingConfig:
    return FundingConfig(
        interval_hours=draw(intervals),
        cap_rule=draw(st.sampled_from(list(CapRule))),
        cap_multiplier=draw(st.sampled_from([D("0.75"), D(1), D("0.5")])),
        low_leverage_cap=draw(st.sampled_from([None, D("0.03")])),
    )


# ---------------------------------------------------------------------------- mark price
@settings(max_examples=300, deadline=None)
@given(
    inst=instruments,
    index=st.integers(10**5, 10**9).map(lambda n: D(n).scaleb(-2)),  # ≥ 1,000.00
    rate=st.one_of(st.none(), premiums),
    left_ms=st.integers(-HOUR, 9 * HOUR),
    basis=st.lists(st.integers(-(10**4), 10**4), max_size=40),  # within ±100.00
    last=st.one_of(st.none(), prices),
)
def test_mark_lies_between_its_inputs(
    inst: Instrument,
    index: Decimal,
    rate: Decimal | None,
    left_ms: int,
    basis: list[int],
    last: Decimal | None,
) -> None:
    state = MarkPriceState(inst, MarkPriceConfig())
    ts = T0 + 60_000
    for k, b in enumerate(basis):  # one sample a second, ending at ts
        half_spread = D("0.5")
        mid = index + D(b).scaleb(-2)
        state.sample_basis(
            ts - (len(basis) - 1 - k) * 1_000, index, mid - half_spread, mid + half_spread
        )
    with localcontext(CONTEXT):
        price1 = (
            index
            if rate is None
            else funding_adjusted_index(index, rate, T0 + 8 * HOUR + left_ms - ts, 8 * HOUR)
        )
        average = state.basis_average(ts)
        price2 = None if average is None else index + average
    inputs = [p for p in (price1, price2, last) if p is not None]
    exact = mark_price(price1, price2, last)
    assert min(inputs) <= exact <= max(inputs)
    mark = state.mark(ts, index, last, rate, T0 + 8 * HOUR + left_ms)
    quantum = exponent(inst.price_precision)
    assert round_nearest(min(inputs), quantum) <= mark <= round_nearest(max(inputs), quantum)
    assert mark == round_nearest(exact, quantum)


# ---------------------------------------------------------------------------- funding rate
@settings(max_examples=400, deadline=None)
@given(inst=instruments, config=funding_configs(), average=premiums)
def test_rate_never_leaves_its_cap(
    inst: Instrument, config: FundingConfig, average: Decimal
) -> None:
    cap = instrument_funding_cap(inst, config)
    rate = funding_rate(average, cap, config)
    assert -cap <= rate <= cap
    assert rate == rate.quantize(D("1e-8"))


@settings(max_examples=300, deadline=None)
@given(inst=instruments, interval=intervals, offset=st.integers(-5 * 10**6, 5 * 10**6))
def test_rate_is_the_interest_rate_near_it(inst: Instrument, interval: int, offset: int) -> None:
    # |I − P̄| ≤ 0.05 %: P̄ = I + offset × 1e-10 with |offset| ≤ 5·10⁶.
    config = FundingConfig(interval_hours=interval)
    average = config.interest_rate + D(offset).scaleb(-10)
    cap = instrument_funding_cap(inst, config)
    assert cap >= config.interest_rate  # every shipped cap is far above 0.01 %
    expected = D("0.0001") * interval / 8
    assert funding_rate(average, cap, config) == expected
    if interval == 8:
        assert funding_rate(average, cap, config) == D("0.0001")


@settings(max_examples=300, deadline=None)
@given(inst=instruments, config=funding_configs(), a=premiums, b=premiums)
def test_rate_never_falls_as_the_premium_rises(
    inst: Instrument, config: FundingConfig, a: Decimal, b: Decimal
) -> None:
    cap = instrument_funding_cap(inst, config)
    low, high = sorted((a, b))
    assert funding_rate(low, cap, config) <= funding_rate(high, cap, config)


@settings(max_examples=300, deadline=None)
@given(samples=st.lists(premiums, min_size=1, max_size=60))
def test_weighted_average_lies_between_the_samples(samples: list[Decimal]) -> None:
    average = average_premium(samples)
    assert min(samples) <= average <= max(samples)


@settings(max_examples=200, deadline=None)
@given(
    inst=instruments,
    samples=st.lists(
        st.one_of(premiums, st.integers(1, 10**6).map(lambda n: D(1) / D(n * 7 + 3))), max_size=40
    ),
)
def test_state_rate_within_cap_and_settle_resets(inst: Instrument, samples: list[Decimal]) -> None:
    state = FundingState(inst)
    for k, premium in enumerate(samples):
        assert state.add_sample(T0 + k * 5_000, premium)
    assert state.average_premium() == average_premium(samples)  # running sum: the same digits
    rate = state.estimated_rate()
    assert -state.cap <= rate <= state.cap
    assert state.settle() == rate
    assert state.samples == ()


# ---------------------------------------------------------------------------- impact price
@settings(max_examples=300, deadline=None)
@given(
    inst=instruments,
    levels=st.lists(
        st.tuples(prices, st.integers(1, 10**6).map(lambda n: D(n).scaleb(-3))),
        min_size=1,
        max_size=8,
    ),
    notional=st.integers(1, 10**7).map(D),
)
def test_impact_price_lies_between_the_levels_walked(
    inst: Instrument, levels: list[tuple[Decimal, Decimal]], notional: Decimal
) -> None:
    price = impact_price(levels, notional, inst)
    if price is None:
        return
    walked = []
    remaining = notional
    for p, q in levels:
        walked.append(p)
        capacity = q * inst.contract_size * (1 if inst.contract_type is ContractType.INVERSE else p)
        remaining -= min(capacity, remaining)
        if remaining == 0:
            break
    assert remaining == 0
    assert min(walked) <= price <= max(walked)
