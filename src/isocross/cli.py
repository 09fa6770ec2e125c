"""The ``isocross`` command line: the margin calculator today, the service tomorrow.

Errors are printed as one line naming the field (``error: positions[0].qty: must be greater than
zero``) with exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import json
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from isocross.api.cli import register as register_service
from isocross.catalogue import load_catalogue, venues
from isocross.model.enums import MarginMode
from isocross.model.errors import IsocrossError
from isocross.scenario import EXAMPLES, Scenario, as_mode, evaluate, load_example, parse, with_moves
from isocross.sim.cli import register as register_sim
from isocross.store.cli import app as journal_app

app = typer.Typer(
    help="isocross: exact cross and isolated margin for crypto perpetual futures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=max(shutil.get_terminal_size((140, 40)).columns, 120))
app.add_typer(journal_app, name="journal")


class UsageError(Exception):
    """Bad input at the command line (exit code 2)."""


def _load(file: Path | None, example: str | None) -> Scenario:
    if (file is None) == (example is None):
        raise UsageError(f"give a scenario FILE or --example NAME (one of {', '.join(EXAMPLES)})")
    if example is not None:
        return parse(load_example(example))
    assert file is not None
    try:
        raw = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    try:
        data = json.loads(raw, parse_float=str)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{file} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    return parse(data)


def _report(scenario: Scenario, moves: list[str]) -> dict[str, Any]:
    if not moves:
        return evaluate(scenario)
    return {
        "moves": moves,
        "before": evaluate(scenario),
        "after": evaluate(with_moves(scenario, moves)),
    }


def _pct(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.2f} %"


def _plain(value: str | None) -> str:
    return "—" if value is None else value


def _status(flag: bool, what: str = "LIQUIDATE") -> str:
    return f"[bold red]{what}[/]" if flag else "[green]ok[/]"


def _render(report: dict[str, Any], title: str) -> None:
    table = Table(title=f"{title}: positions", title_justify="left")
    for col in (
        "symbol",
        "position",
        "entry → mark",
        "notional",
        "IM",
        "MM",
        "uPnL",
        "iso margin (ratio)",
        "liq. price",
        "bankr. price",
        "",
    ):
        table.add_column(col, justify="left" if col in ("symbol", "position") else "right")
    for p in report["positions"]:
        iso = "pool"
        if p["margin_mode"] == "isolated":
            iso = f"{p['isolated_margin']} ({_pct(p['margin_ratio'])})"
        table.add_row(
            p["symbol"],
            f"{p['side']} {p['qty']} {p['margin_mode']} {p['leverage']}x",
            f"{p['entry_price']} → {p['mark_price']}",
            p["notional"],
            p["initial_margin"],
            p["maintenance_margin"],
            p["unrealized_pnl"],
            iso,
            _plain(p["liquidation_price"]),
            _plain(p["bankruptcy_price"]),
            _status(p["liquidatable"]),
        )
    out.print(table)
    pools = Table(title=f"{title}: cross pool per margin asset", title_justify="left")
    for col in (
        "asset",
        "wallet",
        "uPnL",
        "margin balance",
        "IM",
        "MM",
        "margin ratio",
        "margin level",
        "available",
        "withdrawable",
        "isolated",
        "",
    ):
        pools.add_column(col, justify="left" if col == "asset" else "right")
    for asset, m in report["margin_assets"].items():
        level = "—" if m["margin_level"] is None else f"{m['margin_level']} %"
        pools.add_row(
            asset,
            m["wallet_balance"],
            m["unrealized_pnl"],
            m["margin_balance"],
            m["initial_margin"],
            m["maintenance_margin"],
            _pct(m["margin_ratio"]),
            level,
            m["available_balance"],
            m["max_withdrawable"],
            m["isolated_wallet_balance"],
            _status(m["liquidatable"], "LIQUIDATE ALL"),
        )
    out.print(pools)


def _render_comparison(reports: dict[str, dict[str, Any]]) -> None:
    """One row per position: cross vs isolated vs portfolio liquidation price and what is at
    stake."""
    final = {mode: r.get("after", r) for mode, r in reports.items()}
    moved = " after " + " ".join(reports["cross"]["moves"]) if "after" in reports["cross"] else ""
    table = Table(
        title=f"cross vs isolated vs portfolio, side by side{moved}", title_justify="left"
    )
    for col in (
        "symbol",
        "mark",
        "uPnL",
        "cross: liq. price",
        "cross: at stake",
        "isolated: margin left",
        "isolated: liq. price",
        "isolated: at stake",
        "portfolio: liq. price",
    ):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    pools = final["cross"]["margin_assets"]
    rows = zip(
        final["cross"]["positions"],
        final["isolated"]["positions"],
        final["portfolio"]["positions"],
        strict=True,
    )
    for c, i, p in rows:
        asset = c["margin_asset"]
        pool = pools[asset]
        table.add_row(
            f"{c['symbol']} {c['side']}",
            c["mark_price"],
            c["unrealized_pnl"],
            _plain(c["liquidation_price"]) + (" [bold red]LIQ[/]" if c["liquidatable"] else ""),
            f"all {pool['wallet_balance']} {asset}",
            f"{i['margin_balance']} of {i['isolated_margin']}",
            _plain(i["liquidation_price"]) + (" [bold red]LIQ[/]" if i["liquidatable"] else ""),
            f"{i['isolated_margin']} {asset}",
            _plain(p["liquidation_price"]) + (" [bold red]LIQ[/]" if p["liquidatable"] else ""),
        )
    out.print(table)
    for asset, pm in final["portfolio"].get("portfolio", {}).items():
        out.print(
            f"{asset}: portfolio margin requires {pm['requirement']} where cross requires "
            f"{pm['cross_maintenance']} (saved {pm['saved_versus_cross']}); see --explain."
        )
    for asset, pool in pools.items():
        iso_pool = final["isolated"]["margin_assets"].get(asset, {})
        out.print(
            f"{asset}: cross equity {pool['margin_balance']} (margin level "
            f"{_plain(pool['margin_level'])} %), one pool backs every position; isolated keeps "
            f"{_plain(iso_pool.get('wallet_balance'))} in the wallet out of reach of any "
            "liquidation."
        )


@app.command()
def risk(
    file: Annotated[
        Path | None, typer.Argument(help="Scenario JSON file (see docs/calculator.md).")
    ] = None,
    example: Annotated[
        str | None, typer.Option(help=f"Built-in scenario: {', '.join(EXAMPLES)}.")
    ] = None,
    move: Annotated[
        list[str] | None,
        typer.Option(help="Price move, e.g. ETHUSDT=-15% or ETHUSDT=2125; repeatable."),
    ] = None,
    compare_modes: Annotated[
        bool,
        typer.Option(
            "--compare-modes", help="Show the positions all-cross and all-isolated side by side."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Explain the portfolio-margin requirement: worst scenario, what drives it, "
            "what each hedge saved versus cross (positions taken into portfolio mode).",
        ),
    ] = False,
) -> None:
    """Every margin figure of an account scenario: margins, ratios, liquidation prices."""
    moves = list(move or [])
    scenario = _load(file, example)
    if explain:
        portfolio = as_mode(scenario, MarginMode.PORTFOLIO)
        report = evaluate(with_moves(portfolio, moves) if moves else portfolio)
        if as_json:
            out.print_json(data=report["portfolio"])
            return
        _render_explanation(report["portfolio"])
        return
    if compare_modes:
        reports = {m.value: _report(as_mode(scenario, m), moves) for m in MarginMode}
        if as_json:
            out.print_json(data=reports)
            return
        if scenario.description:
            out.print(f"[dim]{scenario.description}[/]")
        _render_comparison(reports)
        return
    report = _report(scenario, moves)
    if as_json:
        out.print_json(data=report)
        return
    if scenario.description:
        out.print(f"[dim]{scenario.description}[/]")
    _render_sections(report, "scenario")


def _render_explanation(portfolios: dict[str, Any]) -> None:
    """The portfolio requirement, its worst scenario and the hedging savings, per asset."""
    for asset, pm in portfolios.items():
        worst = pm["worst_scenario"]
        out.print(
            f"[bold]{asset} portfolio margin[/]: requirement {pm['requirement']} = max(scenario "
            f"loss {pm['scenario_loss']}, minimum {pm['minimum_charge']}) + concentration "
            f"{pm['concentration_add_on']}; cross would require {pm['cross_maintenance']}."
        )
        if worst is not None:
            moves = ", ".join(f"{u} {_pct(m)}" for u, m in worst["moves"].items())
            out.print(f"worst scenario: market {worst['market']} ({worst['kind']}): {moves}")
        table = Table(title="what drives it", title_justify="left")
        for col in ("position", "loss in the worst scenario"):
            table.add_column(col, justify="left" if col == "position" else "right")
        for label, loss in pm["position_losses"].items():
            table.add_row(label, loss)
        out.print(table)
        table = Table(title="what each hedge saved versus cross", title_justify="left")
        for col in ("underlying", "cross maintenance", "scenario loss", "saved"):
            table.add_column(col, justify="left" if col == "underlying" else "right")
        for unit, row in pm["underlyings"].items():
            table.add_row(
                unit, row["cross_maintenance"], row["scenario_loss"], row["saved_by_hedging"]
            )
        table.add_row("minimum and concentration", "", "", f"-{pm['charged_above_scenario_loss']}")
        table.add_row(
            "[bold]total[/]",
            pm["cross_maintenance"],
            pm["requirement"],
            f"[bold]{pm['saved_versus_cross']}[/]",
        )
        out.print(table)


def _render_sections(report: dict[str, Any], title: str) -> None:
    if "before" in report:
        _render(report["before"], f"{title}, before")
        _render(report["after"], f"{title}, after {' '.join(report['moves'])}")
    else:
        _render(report, title)


@app.command()
def instruments(
    venue: Annotated[str, typer.Option(help=f"Venue preset: {', '.join(venues())}.")] = "binance",
) -> None:
    """The instruments of a venue preset with their filters and tier tables."""
    catalogue = load_catalogue(venue)
    out.print(f"[dim]{catalogue.source}[/]")
    for inst in catalogue.instruments.values():
        table = Table(
            title=f"{inst.symbol} ({inst.contract_type.value}, margin {inst.margin_asset.name}, "
            f"contract size {inst.contract_size}, tick {inst.tick_size}, step {inst.step_size}, "
            f"min notional {inst.min_notional})",
            title_justify="left",
        )
        for col in ("tier", "floor", "cap", "max lev", "mmr", "cum"):
            table.add_column(col, justify="right")
        for k, t in enumerate(inst.tiers.tiers, start=1):
            table.add_row(
                str(k),
                f"{t.floor:,}",
                "∞" if t.cap is None else f"{t.cap:,}",
                f"{t.max_leverage}x",
                f"{t.mmr.normalize():f}",
                f"{t.cum.normalize():f}",
            )
        out.print(table)


register_service(app)
register_sim(app)


def _fail(line: str) -> None:
    """One unwrapped line on stderr (a person reads it; a script can grep it)."""
    sys.stderr.write(" ".join(line.split()) + "\n")


def main() -> None:
    """Console entry point: run the app, turning every refusal into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except IsocrossError as exc:
        _fail(f"error: {exc}")
        sys.exit(2)
    except UsageError as exc:
        _fail(f"error: {exc}")
        sys.exit(2)
    except Exception as exc:
        # Usage errors of the command-line parser (typer bundles its own click): one line too.
        describe = getattr(exc, "format_message", None)
        if callable(describe):
            _fail(f"error: {describe()}")
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
