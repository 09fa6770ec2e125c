"""The what-if panel's preset: a built-in calculator example, all-cross and all-isolated.

``POST /web/scenario`` takes ``{"example": "seed-1000", "moves": {"ETHUSDT": "2125"}}`` and
answers what ``isocross risk --example seed-1000 --compare-modes --move ETHUSDT=2125 --json``
prints: per mode (``cross``, ``isolated``) every position and pool figure before and after the
marks move. Nothing here touches an account; it is the margin core's calculator, exact to the
digit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from isocross.model.enums import MarginMode
from isocross.scenario import as_mode, evaluate, load_example, parse, text, with_moves

PriceIn = Annotated[str, Field(pattern=r"^[0-9]{1,20}(\.[0-9]{1,20})?$", max_length=41)]
SymbolKey = Annotated[str, Field(pattern=r"^[A-Z0-9_]{1,30}$")]


class ScenarioIn(BaseModel):
    """Which example, and the marks to move to (symbol → absolute price)."""

    model_config = ConfigDict(extra="forbid")

    example: Literal["seed-1000"] = "seed-1000"
    moves: Annotated[dict[SymbolKey, PriceIn], Field(max_length=20)] = {}


def evaluate_example(body: ScenarioIn) -> dict[str, Any]:
    """Both modes of the example before and after ``body.moves`` (see the module docstring)."""
    document = load_example(body.example)
    scenario = parse(document)
    moves = [f"{symbol}={price}" for symbol, price in sorted(body.moves.items())]
    out: dict[str, Any] = {
        "example": body.example,
        "description": document.get("description", ""),
        "wallets": {a: text(v) for a, v in scenario.wallets.items()},
        "marks_before": {s: text(p) for s, p in sorted(scenario.marks.items())},
    }
    moved = with_moves(scenario, moves)
    out["marks_after"] = {s: text(p) for s, p in sorted(moved.marks.items())}
    for mode in (MarginMode.CROSS, MarginMode.ISOLATED):
        out[mode.value] = {
            "before": evaluate(as_mode(scenario, mode)),
            "after": evaluate(as_mode(moved, mode)),
        }
    return out


__all__ = ["ScenarioIn", "evaluate_example"]
