"""Margin modes as strategies: which positions share a wallet, and what they must maintain.

A :class:`MarginRule` is one column of the side-by-side report. It says

* ``pooled`` — whether every position draws on one wallet (cross, and portfolio margin) or
  each position has its own (isolated);
* ``requirement`` — the exact maintenance requirement of one pool's legs at their marks
  (Decimal). Cross and isolated use the venue's tier tables, ``Σ (N·mmr − cum)``
  (:meth:`~isocross.model.instrument.Instrument.maintenance_margin`);
* ``tiered`` — whether the requirement is that sum, which the float fast path
  (:mod:`isocross.sim.fast`) evaluates itself. A rule with another requirement (a scenario-based
  portfolio margin, say) runs on the exact path only until it gets a float kernel of its own.

A pool is liquidated when its margin balance is at or below its requirement (with a
requirement above zero), exactly as :func:`isocross.margin.figures.is_liquidatable` decides.
Adding a mode is one :func:`register` call; the simulator, the report and the stress test then
show it as one more column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from isocross.margin.portfolio import PortfolioLeg, portfolio_params, requirement
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO


@dataclass(frozen=True, slots=True)
class RuleLeg:
    """One position of a pool at a mark: signed quantity, entry and mark price (exact)."""

    instrument: Instrument
    qty: Decimal
    entry: Decimal
    mark: Decimal


Requirement = Callable[[Sequence[RuleLeg]], Decimal]


def tier_requirement(legs: Sequence[RuleLeg]) -> Decimal:
    """``Σ MM(Nᵢ)`` with ``MM(N) = N·mmr_k − cum_k`` of each leg's tier (unrounded)."""
    return sum(
        (leg.instrument.maintenance_margin(leg.qty, leg.mark) for leg in legs if leg.qty), ZERO
    )


@dataclass(frozen=True, slots=True)
class MarginRule:
    """A margin mode as the simulator runs it (see the module docstring)."""

    name: str
    pooled: bool
    requirement: Requirement = tier_requirement
    tiered: bool = True
    description: str = ""


CROSS = MarginRule(
    "cross", pooled=True, description="one pool per margin asset backs every position"
)
ISOLATED = MarginRule("isolated", pooled=False, description="each position has its own wallet")


def portfolio_requirement(legs: Sequence[RuleLeg]) -> Decimal:
    """The portfolio-margin requirement of the pool (:mod:`isocross.margin.portfolio`)."""
    book = [PortfolioLeg(leg.instrument, leg.qty, leg.entry, leg.mark) for leg in legs if leg.qty]
    return requirement(book, portfolio_params()).maintenance


PORTFOLIO = MarginRule(
    "portfolio",
    pooled=True,
    requirement=portfolio_requirement,
    tiered=False,
    description="one pool; the requirement is the worst loss over correlated scenarios",
)

_RULES: dict[str, MarginRule] = {
    CROSS.name: CROSS,
    ISOLATED.name: ISOLATED,
    PORTFOLIO.name: PORTFOLIO,
}


def register(rule: MarginRule) -> None:
    """Add (or replace) a margin mode; it becomes one more column everywhere."""
    _RULES[rule.name] = rule


def rule(name: str) -> MarginRule:
    """The registered mode called ``name``; ``KeyError`` naming the known ones."""
    try:
        return _RULES[name]
    except KeyError:
        raise KeyError(f"unknown margin mode {name!r}; known: {', '.join(_RULES)}") from None


def modes() -> tuple[str, ...]:
    """Every registered mode, in registration order (cross and isolated first)."""
    return tuple(_RULES)
