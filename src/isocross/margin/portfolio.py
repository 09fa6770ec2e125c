"""Portfolio margin: the maintenance requirement of a pool is the worst loss of all its positions
together over a grid of correlated price scenarios, so hedges and offsets are recognized.

Sources: OKX portfolio margin (MR1 spot shocks in steps, MR6 extreme move, MR7 minimum charge;
``../shared/reference/margin-mechanics.md`` §3.4), Deribit PM (worst loss over evenly spaced
buckets, §6) and the decorrelation blend used by Deribit-compatible engines. Parameters are data
(``catalogue/portfolio_margin.json``).

Model. A pool's positions (one margin asset: the requirement never nets a USDT-margined
position against a USDC-margined one, they are separate collateral) are grouped into **risk
units** by underlying — the LONG and SHORT legs of ``BTCUSDT`` in hedge mode, or two
USDT-margined BTC contracts, are one ``BTC`` unit. Each unit moves by

    x_u = δ_u · (k/K) · (c_u·f + (1 − c_u)·e_u),   k = 1…K, f ∈ {−1, +1}, e_u ∈ {−1, 0, +1}

a market factor ``f`` shared by every unit plus an idiosyncratic part ``e_u`` per unit; ``c_u``
is the unit's correlation with the market and ``δ_u = m · max tier MMR`` of the unit's positions
(``m``: shock multiplier), so a lone position's worst move costs ``N·mmr ≥ N·mmr − cum``, its
cross maintenance margin. A position's scenario loss is what its PnL falls by (see
:func:`leg_loss`: linear prices move by ``x``, inverse contracts' ``1/P`` does).
Because the total is a sum over units and the ``e_u`` are chosen independently, the worst
scenario of a level ``(k, f)`` is ``Σ_u max_e loss_u`` — exact, without enumerating ``3^U``
combinations. Then:

* ``R_grid = max(0, max_{k,f} Σ_u max_e loss_u)``;
* ``R_extreme = w · max_f Σ_u max_e loss_u`` at ``k = K·E`` (``E``: extreme multiplier);
* ``minimum = Σ_p r_min · N_p`` (a charge no hedge removes);
* ``concentration = Σ_u r_c · max(0, gross notional_u − threshold)``;
* **requirement = max(R_grid, R_extreme, minimum) + concentration**; initial = requirement × φ.

So the requirement is never below any single scenario's loss, a perfect hedge within a unit
costs only the minimum, and adding a position in the direction of the book never lowers it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO


@dataclass(frozen=True, slots=True)
class PortfolioParams:
    """The scenario grid and charges (see the module docstring for each symbol)."""

    steps: int = 4
    shock_multiplier: Decimal = Decimal(1)
    correlation: tuple[tuple[str, Decimal], ...] = (("default", Decimal("0.8")),)
    extreme_multiplier: Decimal = Decimal(3)
    extreme_weight: Decimal = Decimal("0.25")
    minimum_rate: Decimal = Decimal("0.0005")
    concentration_threshold: Decimal = Decimal(5_000_000)
    concentration_rate: Decimal = Decimal("0.002")
    initial_factor: Decimal = Decimal("1.3")
    source: str = field(default="", compare=False)

    def correlation_of(self, underlying: str) -> Decimal:
        table = dict(self.correlation)
        return table.get(underlying, table.get("default", Decimal("0.8")))

    def levels(self) -> list[tuple[str, Decimal, int]]:
        """Every market level: (kind, fraction of δ, factor sign)."""
        out = [
            ("grid", Decimal(k) / self.steps, f) for k in range(1, self.steps + 1) for f in (-1, 1)
        ]
        out += [("extreme", self.extreme_multiplier, f) for f in (-1, 1)]
        return out


@cache
def portfolio_params(name: str = "default") -> PortfolioParams:
    """The shipped parameter set ``name`` (cached)."""
    text = resources.files("isocross.catalogue").joinpath("portfolio_margin.json").read_text()
    data = json.loads(text)
    if name not in data:
        raise KeyError(f"no portfolio-margin parameters {name!r}; known: {', '.join(data)}")
    p = data[name]
    return PortfolioParams(
        steps=int(p["steps"]),
        shock_multiplier=Decimal(p["shock_multiplier"]),
        correlation=tuple((k, Decimal(v)) for k, v in p["correlation"].items()),
        extreme_multiplier=Decimal(p["extreme_multiplier"]),
        extreme_weight=Decimal(p["extreme_weight"]),
        minimum_rate=Decimal(p["minimum_rate"]),
        concentration_threshold=Decimal(p["concentration_threshold"]),
        concentration_rate=Decimal(p["concentration_rate"]),
        initial_factor=Decimal(p["initial_factor"]),
        source=p["source"],
    )


@dataclass(frozen=True, slots=True)
class PortfolioLeg:
    """One position of a portfolio pool: signed quantity, entry, and the price it is marked at."""

    instrument: Instrument
    qty: Decimal
    entry_price: Decimal
    mark: Decimal
    label: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario: how far each underlying moved (fractions) and the level it belongs to."""

    kind: str
    level: Decimal
    factor: int
    moves: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class PortfolioRequirement:
    """The requirement and why (all amounts exact, unrounded, in the pool's margin asset)."""

    maintenance: Decimal
    initial: Decimal
    scenario_loss: Decimal
    minimum: Decimal
    concentration: Decimal
    worst: Scenario | None
    leg_losses: tuple[tuple[str, Decimal], ...]
    """Each position's loss in the worst scenario (label, loss)."""
    unit_losses: tuple[tuple[str, Decimal], ...]
    """Each underlying's loss in the worst scenario."""


def leg_loss(leg: PortfolioLeg, move: Decimal) -> Decimal:
    """What the position loses when its underlying moves by ``move``.

    Linear: the price becomes ``mark·(1 + x)`` (floored at zero): ``−q·S·mark·max(x, −1)``.
    Inverse (coin-margined): the shock applies to the coin value of one USD, ``1/P``, which is
    what such a position holds: ``1/P' = (1 − x)/mark`` (``x ≤ 1``), so the loss is
    ``−q·CS·x/mark = −N·x`` — a shock of δ costs ``N·δ`` up or down, as for a linear contract
    (a price shock ``mark·(1 + δ)`` would cost a short only ``N·δ/(1 + δ)``, less than its
    cross maintenance margin)."""
    inst = leg.instrument
    size = inst.contract_size
    if inst.contract_type is ContractType.LINEAR:
        return -leg.qty * size * leg.mark * max(move, Decimal(-1))
    return -(leg.qty * size / leg.mark) * min(move, Decimal(1))


def unit_shock(legs: Sequence[PortfolioLeg], params: PortfolioParams) -> Decimal:
    """``δ_u``: the shock multiplier times the largest tier MMR among the unit's positions."""
    rates = [
        leg.instrument.tiers.tier_for(leg.instrument.notional(leg.qty, leg.mark)).mmr
        for leg in legs
    ]
    return params.shock_multiplier * max(rates, default=ZERO)


def requirement(legs: Sequence[PortfolioLeg], params: PortfolioParams) -> PortfolioRequirement:
    """The portfolio requirement of ``legs`` (one pool), exactly (module docstring)."""
    with localcontext(CONTEXT):
        units: dict[str, list[PortfolioLeg]] = defaultdict(list)
        for leg in legs:
            if leg.qty != 0:
                units[leg.instrument.base_asset].append(leg)
        shocks = {u: unit_shock(ls, params) for u, ls in units.items()}
        best: tuple[Decimal, Scenario | None, dict[str, Decimal]] = (ZERO, None, {})
        extreme_best: tuple[Decimal, Scenario | None, dict[str, Decimal]] = (ZERO, None, {})
        for kind, level, factor in params.levels():
            total = ZERO
            moves: dict[str, Decimal] = {}
            for u, ls in sorted(units.items()):
                c = params.correlation_of(u)
                options = []
                for e in (-1, 0, 1):
                    move = shocks[u] * level * (c * factor + (1 - c) * e)
                    options.append((sum((leg_loss(leg, move) for leg in ls), ZERO), move))
                loss, move = max(options, key=lambda o: (o[0], -abs(o[1])))
                total += loss
                moves[u] = move
            if kind == "extreme":
                total *= params.extreme_weight
                if total > extreme_best[0]:
                    extreme_best = (total, Scenario(kind, level, factor, moves), moves)
            elif total > best[0]:
                best = (total, Scenario(kind, level, factor, moves), moves)
        scenario_loss, worst, moves = max(best, extreme_best, key=lambda b: b[0])
        minimum = sum(
            (params.minimum_rate * leg.instrument.notional(leg.qty, leg.mark) for leg in legs),
            ZERO,
        )
        concentration = ZERO
        for ls in units.values():
            gross = sum((leg.instrument.notional(leg.qty, leg.mark) for leg in ls), ZERO)
            concentration += params.concentration_rate * max(
                ZERO, gross - params.concentration_threshold
            )
        maintenance = max(scenario_loss, minimum) + concentration
        weight = params.extreme_weight if worst is not None and worst.kind == "extreme" else 1
        leg_losses = tuple(
            (
                leg.label or leg.instrument.symbol,
                leg_loss(leg, moves[leg.instrument.base_asset]) * weight,
            )
            for leg in legs
            if leg.qty != 0 and moves
        )
        unit_losses = tuple(
            (u, sum((leg_loss(leg, moves[u]) * weight for leg in ls), ZERO))
            for u, ls in sorted(units.items())
            if moves
        )
        return PortfolioRequirement(
            maintenance=maintenance,
            initial=maintenance * params.initial_factor,
            scenario_loss=scenario_loss,
            minimum=minimum,
            concentration=concentration,
            worst=worst,
            leg_losses=leg_losses,
            unit_losses=unit_losses,
        )


# ===================================================================== vectorized (float) path
@dataclass(frozen=True, slots=True)
class PortfolioArrays:
    """Positions of many accounts (one pool each) as arrays, for the vectorized requirement.

    ``account``: the account index of each position; ``unit``: its underlying's index within
    the whole batch; ``linear``: contract kind; ``qty``/``size``/``mark``: signed quantity,
    contract size and mark; ``mmr``: the tier MMR at the position's notional; ``corr``: its
    underlying's correlation."""

    account: npt.NDArray[np.int64]
    unit: npt.NDArray[np.int64]
    linear: npt.NDArray[np.bool_]
    qty: npt.NDArray[np.float64]
    size: npt.NDArray[np.float64]
    mark: npt.NDArray[np.float64]
    mmr: npt.NDArray[np.float64]
    corr: npt.NDArray[np.float64]
    accounts: int


def requirements_vectorized(
    arrays: PortfolioArrays, params: PortfolioParams
) -> npt.NDArray[np.float64]:
    """Maintenance requirement of every account at once (float64; same model as
    :func:`requirement`, which is the exact reference)."""
    a = arrays
    n_units = int(a.unit.max()) + 1 if a.unit.size else 0
    group = a.account * n_units + a.unit  # one (account, unit) cell per position
    cells = a.accounts * n_units
    # δ per (account, unit): the largest MMR of its positions.
    delta = np.zeros(cells)
    np.maximum.at(delta, group, np.where(a.qty != 0, a.mmr, 0.0))
    delta *= float(params.shock_multiplier)
    notional = np.where(a.linear, np.abs(a.qty) * a.size * a.mark, np.abs(a.qty) * a.size / a.mark)
    levels = params.levels()
    es = np.array([-1.0, 0.0, 1.0])
    grid_best = np.zeros(a.accounts)
    extreme_best = np.zeros(a.accounts)
    for kind, level, factor in levels:
        # move[p, e] for each position and each idiosyncratic choice
        base = delta[group][:, None] * float(level)
        move = base * (a.corr[:, None] * factor + (1 - a.corr[:, None]) * es[None, :])
        lin = -a.qty[:, None] * a.size[:, None] * a.mark[:, None] * np.maximum(move, -1.0)
        inv = -a.qty[:, None] * a.size[:, None] * np.minimum(move, 1.0) / a.mark[:, None]
        loss = np.where(a.linear[:, None], lin, inv)
        cell_loss = np.stack(
            [np.bincount(group, loss[:, j], minlength=cells) for j in range(3)], axis=1
        )
        total = cell_loss.max(axis=1).reshape(a.accounts, n_units).sum(axis=1)
        if kind == "extreme":
            np.maximum(extreme_best, total * float(params.extreme_weight), out=extreme_best)
        else:
            np.maximum(grid_best, total, out=grid_best)
    minimum = np.bincount(a.account, notional * float(params.minimum_rate), minlength=a.accounts)
    gross = np.bincount(group, notional, minlength=cells).reshape(a.accounts, n_units)
    excess = np.maximum(0.0, gross - float(params.concentration_threshold))
    concentration = excess.sum(axis=1) * float(params.concentration_rate)
    result: npt.NDArray[np.float64] = (
        np.maximum(np.maximum(grid_best, extreme_best), minimum) + concentration
    )
    return result
