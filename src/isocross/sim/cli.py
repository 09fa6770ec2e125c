"""The ``isocross simulate`` and ``isocross stress`` commands.

Both take a portfolio TOML file or ``--example NAME``, print a Rich table (or ``--json``), and can
write a PNG (``--plot``) and a self-contained HTML report (``--html``). Bad input is one line on
stderr naming the file, row or field, and exit code 2 (``isocross.cli.main``); no partial report
is printed. Heavy modules (NumPy, Numba, matplotlib, Dask) load only when a command runs.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from isocross.sim.spec import Portfolio

FILE_HELP = "Portfolio TOML file (see docs/simulator.md)."
EXAMPLE_HELP = "Built-in portfolio: seed-1000, btc-eth-1000, hedged-pair, directional-unrelated."
DATA_HELP = "Folder of the real market data the examples replay (default: shared/data)."


def _console() -> Console:
    return Console(width=max(shutil.get_terminal_size((140, 40)).columns, 120))


def _portfolio(file: Path | None, example: str | None, data_dir: Path | None) -> Portfolio:
    from isocross.cli import UsageError
    from isocross.sim.examples import examples, load_example
    from isocross.sim.spec import read_portfolio

    if (file is None) == (example is None):
        raise UsageError(
            f"give a portfolio FILE or --example NAME (one of {', '.join(examples())})"
        )
    if example is not None:
        return load_example(example, data_dir)
    assert file is not None
    return read_portfolio(file)


def _progress(total: int, label: str, enabled: bool):  # type: ignore[no-untyped-def]
    """A Rich progress bar on stderr for long runs (a no-op context otherwise)."""
    from contextlib import nullcontext

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled:
        return nullcontext(None)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    progress.add_task(label, total=total)
    return progress


def simulate(
    file: Annotated[Path | None, typer.Argument(help=FILE_HELP)] = None,
    example: Annotated[str | None, typer.Option(help=EXAMPLE_HELP)] = None,
    data_dir: Annotated[Path | None, typer.Option(help=DATA_HELP)] = None,
    mode: Annotated[
        list[str] | None, typer.Option(help="Run only these margin modes (repeatable).")
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Every bar on the exact (Decimal) path; slower.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write the plots to this PNG file.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: long runs)."),
    ] = None,
) -> None:
    """Replay a portfolio through price history in every margin mode, side by side."""
    from isocross.sim import render
    from isocross.sim.simulate import simulate as run
    from isocross.sim.simulate import to_json

    portfolio = _portfolio(file, example, data_dir)
    modes = list(mode or portfolio.modes)
    for name in modes:
        if name not in portfolio.modes:
            from isocross.cli import UsageError

            raise UsageError(f"--mode {name!r}: known modes are {', '.join(portfolio.modes)}")
    market = portfolio.load_market()
    total = market.n * len(modes)
    show = progress if progress is not None else total > 300_000 and sys.stderr.isatty()
    with _progress(total, "simulating", bool(show)) as bar:
        advance = None
        if bar is not None:
            task = bar.task_ids[0]

            def advance(k: int) -> None:
                bar.advance(task, k)

        report = run(portfolio, market, modes=modes, exact=exact, progress=advance)
    png = render.plot(report, plot) if plot is not None or html is not None else None
    if html is not None:
        render.html(report, html, png)
    if as_json:
        _console().print_json(data=to_json(report))
        return
    render.render_table(report, _console())
    for path in (plot, html):
        if path is not None:
            _console().print(f"[dim]wrote {path}[/]")


def stress(
    file: Annotated[Path | None, typer.Argument(help=FILE_HELP)] = None,
    example: Annotated[str | None, typer.Option(help=EXAMPLE_HELP)] = None,
    data_dir: Annotated[Path | None, typer.Option(help=DATA_HELP)] = None,
    paths: Annotated[int, typer.Option(help="Number of simulated price paths.")] = 1000,
    horizon: Annotated[str, typer.Option(help="Length of each path, e.g. 7d or 12h.")] = "7d",
    method: Annotated[
        str, typer.Option(help="bootstrap (blocks of real bars) or gbm (with jumps).")
    ] = "bootstrap",
    block: Annotated[int, typer.Option(help="Bootstrap block length in bars.")] = 48,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same result).")] = 7,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: in-process).")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Paths per task.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write the loss distributions to this PNG.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    ] = None,
) -> None:
    """Monte Carlo: many price paths through the portfolio in every margin mode."""
    from isocross.cli import UsageError
    from isocross.sim import stress as st
    from isocross.sim.files import parse_duration

    portfolio = _portfolio(file, example, data_dir)
    if paths < 1:
        raise UsageError(f"--paths must be at least 1, got {paths}")
    if chunk < 1:
        raise UsageError(f"--chunk must be at least 1, got {chunk}")
    if method not in st.METHODS:
        raise UsageError(f"--method must be one of {', '.join(st.METHODS)}, got {method!r}")
    span = parse_duration(horizon, "--horizon")
    market = portfolio.load_market()
    config = st.StressConfig(
        paths=paths, horizon=span, method=method, block=block, seed=seed, chunk=chunk
    )
    show = progress if progress is not None else sys.stderr.isatty()
    with _progress(paths, "stress paths", bool(show)) as bar:
        advance = None
        if bar is not None:
            task = bar.task_ids[0]

            def advance(k: int) -> None:
                bar.advance(task, k)

        try:
            result = st.run_stress(portfolio, market, config, scheduler=scheduler, progress=advance)
        except (OSError, TimeoutError) as exc:
            if scheduler is None:
                raise
            raise UsageError(f"--scheduler {scheduler}: cannot reach it ({exc})") from None
    png = st.plot(result, plot) if plot is not None or html is not None else None
    if html is not None:
        st.html(result, html, png)
    if as_json:
        print(json.dumps(st.to_json(result), indent=2))
        return
    st.render_table(result, _console())
    for path in (plot, html):
        if path is not None:
            _console().print(f"[dim]wrote {path}[/]")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``stress`` to the ``isocross`` command."""
    app.command(name="simulate")(simulate)
    app.command(name="stress")(stress)
