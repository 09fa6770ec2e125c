"""The simulator: a portfolio through price history and stress paths, every margin mode side by
side (``docs/simulator.md``).

Modules, bottom up: ``files`` (reading candle and funding files), ``market`` (aligned exact
bars), ``spec`` (the portfolio TOML), ``rules`` (margin modes as strategies), ``records``,
``exact`` (the Decimal path), ``fast`` (the Numba path), ``replay`` (the exchange with its risk
engine), ``simulate`` (runs and summaries), ``stress`` (Monte Carlo), ``render`` (tables, plots,
HTML), ``examples``, ``cli``.

The names below are imported on first use, so ``import isocross.sim`` stays light (the command
line imports it for every command). ``simulate`` and ``examples`` are modules; their functions
of the same name are ``isocross.sim.simulate.simulate`` and ``isocross.sim.examples.examples``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from isocross.sim.errors import SimInputError
    from isocross.sim.exact import run_exact
    from isocross.sim.examples import load_example
    from isocross.sim.fast import run_fast
    from isocross.sim.market import Market, load_market
    from isocross.sim.rules import MarginRule, register
    from isocross.sim.simulate import SimReport, to_json
    from isocross.sim.spec import Portfolio, parse_portfolio, read_portfolio
    from isocross.sim.stress import StressConfig, StressResult, run_stress

_WHERE = {
    "Market": "market",
    "MarginRule": "rules",
    "Portfolio": "spec",
    "SimInputError": "errors",
    "SimReport": "simulate",
    "StressConfig": "stress",
    "StressResult": "stress",
    "load_example": "examples",
    "load_market": "market",
    "parse_portfolio": "spec",
    "read_portfolio": "spec",
    "register": "rules",
    "run_exact": "exact",
    "run_fast": "fast",
    "run_stress": "stress",
    "to_json": "simulate",
}

__all__ = [
    "MarginRule",
    "Market",
    "Portfolio",
    "SimInputError",
    "SimReport",
    "StressConfig",
    "StressResult",
    "load_example",
    "load_market",
    "parse_portfolio",
    "read_portfolio",
    "register",
    "run_exact",
    "run_fast",
    "run_stress",
    "to_json",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'isocross.sim' has no attribute {name!r}")
    return getattr(import_module(f"isocross.sim.{module}"), name)
