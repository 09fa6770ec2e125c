"""Tiered maintenance margin is continuous at every tier floor and never falls as notional rises.

Checked on every table of every venue preset shipped and on random tables whose maintenance
amounts follow the recurrence (``derive_cum``), for linear (USDT-sized) and inverse (BTC-sized)
floors.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prop_support import CATALOGUES, D, tier_tables

from isocross.model.instrument import TierTable
from isocross.model.money import CONTEXT, ZERO

EPSILONS = [D("1e-8"), D("1e-4"), D("0.01"), D(1)]


def _check_continuity(table: TierTable, epsilon: Decimal, *, exact: bool = True) -> None:
    """``MM`` within ``mmr·ε`` either side of every floor; both formulas agree at the floor.

    ``exact=False`` allows a relative 1e-25 disagreement: Hyperliquid's rates ``1/(2·lev)`` do
    not terminate, so their derived cum carries a rounding residue.
    """
    tolerance = ZERO if exact else D("1e-25")
    with localcontext(CONTEXT):
        for k, tier in enumerate(table.tiers[1:], start=1):
            floor = tier.floor
            below, at, above = (
                table.maintenance_margin(floor - epsilon),
                table.maintenance_margin(floor),
                table.maintenance_margin(floor + epsilon),
            )
            # ``floor`` itself belongs to the lower bracket; just above it, to this one.
            assert table.index_for(floor) == k - 1
            assert table.index_for(floor + epsilon) == k
            assert abs(tier.maintenance_margin(floor) - at) <= at * tolerance
            assert 0 <= at - below <= table.tiers[k - 1].mmr * epsilon
            assert abs(above - at - tier.mmr * epsilon) <= at * tolerance
            assert above - below <= tier.mmr * 2 * epsilon + at * tolerance


def _check_monotone(table: TierTable, notionals: list[Decimal]) -> None:
    with localcontext(CONTEXT):
        values = [table.maintenance_margin(n) for n in sorted(notionals)]
        assert table.maintenance_margin(ZERO) == 0
        assert all(v >= 0 for v in values)
        assert all(a <= b for a, b in pairwise(values))


CATALOGUE_TABLES = [
    pytest.param(inst.tiers, venue, id=f"{venue}-{symbol}")
    for venue, cat in sorted(CATALOGUES.items())
    for symbol, inst in sorted(cat.instruments.items())
]
assert len(CATALOGUE_TABLES) == sum(len(c.instruments) for c in CATALOGUES.values())


@pytest.mark.parametrize(("table", "venue"), CATALOGUE_TABLES)
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_catalogue_tables_are_continuous_at_every_floor(
    table: TierTable, venue: str, epsilon: Decimal
) -> None:
    _check_continuity(table, epsilon, exact=venue != "hyperliquid")


@pytest.mark.parametrize(("table", "venue"), CATALOGUE_TABLES)
def test_catalogue_tables_never_fall_across_floors(table: TierTable, venue: str) -> None:
    points: list[Decimal] = [ZERO]
    for tier in table.tiers:
        points += [tier.floor, tier.floor + D("0.01"), tier.floor * 2 + 1]
        if tier.cap is not None:
            points += [tier.cap - D("0.01"), tier.cap, tier.cap + D("0.01")]
    _check_monotone(table, [p for p in points if p >= 0])


@st.composite
def random_tables(draw: st.DrawFn) -> TierTable:
    return draw(tier_tables(draw(st.sampled_from([D("0.01"), D(1), D(1000)]))))


@settings(max_examples=200, deadline=None)
@given(table=random_tables(), epsilon=st.sampled_from(EPSILONS))
def test_random_recurrence_tables_are_continuous(table: TierTable, epsilon: Decimal) -> None:
    # Keep the probes inside the neighbouring brackets (some random brackets are narrow).
    widths = [t.cap - t.floor for t in table.tiers if t.cap is not None]
    _check_continuity(table, min([epsilon, *(w / 2 for w in widths)]))


@settings(max_examples=200, deadline=None)
@given(
    table=random_tables(),
    notionals=st.lists(
        st.builds(lambda m, e: D(m).scaleb(e), st.integers(0, 10**6), st.integers(-4, 6)),
        min_size=2,
        max_size=30,
    ),
)
def test_random_recurrence_tables_never_fall(table: TierTable, notionals: list[Decimal]) -> None:
    floors = [t.floor for t in table.tiers]
    _check_monotone(table, notionals + floors + [f + D("1e-6") for f in floors])
