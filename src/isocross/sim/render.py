"""Reports for people: Rich tables, PNG plots (matplotlib) and a self-contained HTML page.

The plots: one panel per symbol with its price (trade closes) and a marker at every
liquidation fill, one per mode; the equity of each mode over time (the starting balance dashed);
the margin level of each mode over time (log scale; liquidation happens far below, where the
margin balance meets the maintenance margin). Long series are drawn from per-pixel buckets:
the close of each bucket for prices and equity, the bucket's minimum for margin level.
The HTML report embeds every PNG as base64, so it is one file with no outside references.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from jinja2 import Environment
from rich.console import Console
from rich.table import Table

from isocross.sim.files import CLOSE, F64, I64, format_duration, human_duration, iso
from isocross.sim.simulate import SimReport, money

COLORS = {"cross": "#d62728", "isolated": "#1f77b4", "portfolio": "#2ca02c"}
MARKERS = {"cross": "v", "isolated": "o", "portfolio": "s"}
MAX_POINTS = 2000


def _color(mode: str, i: int) -> str:
    return COLORS.get(mode, f"C{i + 2}")


def _cash(value: Any) -> str:
    return f"{float(value):,.2f}"


# ------------------------------------------------------------------------------ tables
def render_table(report: SimReport, console: Console) -> None:
    """The side-by-side summary, the liquidations and the checkpoints."""
    p, m = report.portfolio, report.market
    if p.description:
        console.print(f"[dim]{p.description}[/]")
    console.print(
        f"[dim]{', '.join(m.symbols)}: {m.n:,} bars of {format_duration(m.step)}, "
        f"{iso(int(m.time[0]))} to {iso(int(m.time[-1]) + m.step)}; start {_cash(p.balance)} "
        f"{p.asset}; funding {'on' if p.funding and any(m.has_funding) else 'off'}; "
        f"{p.venue} liquidation preset ({p.preset.partial})[/]"
    )
    for note in (*m.notes, *p.notes):
        console.print(f"[dim]note: {note}[/]")
    modes = list(report.modes.values())
    table = Table(title="margin modes side by side", title_justify="left")
    table.add_column("")
    for s in modes:
        table.add_column(s.mode, justify="right")

    def row(label: str, cells: Sequence[str]) -> None:
        table.add_row(label, *cells)

    row("final equity", [f"[bold]{_cash(s.final_equity)}[/]" for s in modes])
    row("profit / loss", [f"{_cash(s.pnl)} ({s.return_pct:+.1f} %)" for s in modes])
    row("max drawdown", [f"{s.max_drawdown * 100:.1f} %" for s in modes])
    row("funding paid", [_cash(s.funding_paid) for s in modes])
    row("trading fees", [_cash(s.fees) for s in modes])
    row(
        "liquidations",
        [
            "none"
            if not s.liquidations
            else ", ".join(f"{liq.kind} {liq.pool} ({liq.scope})" for liq in s.liquidations)
            for s in modes
        ],
    )
    row("lost to liquidation", [_cash(s.liquidation_loss) for s in modes])
    row(
        "time to first liquidation",
        [
            "—" if s.first_liquidation is None else human_duration(s.first_liquidation)
            for s in modes
        ],
    )
    row(
        "worst margin level",
        [
            "—"
            if s.worst_margin_level is None or s.worst_margin_level_time is None
            else f"{s.worst_margin_level:,.1f} % ({iso(s.worst_margin_level_time)[:16]})"
            for s in modes
        ],
    )
    row(
        "still open",
        [", ".join(s.run.open_positions) or "nothing" for s in modes],
    )
    console.print(table)
    _liquidation_table(report, console)
    _checkpoint_table(report, console)
    console.print(verdict(report))


def _liquidation_table(report: SimReport, console: Console) -> None:
    rows = [(s.mode, liq) for s in report.modes.values() for liq in s.liquidations]
    if not rows:
        return
    table = Table(title="liquidations", title_justify="left")
    for col in (
        "mode",
        "time",
        "pool",
        "kind",
        "fills (qty @ price)",
        "margin balance / MM",
        "pool lost",
    ):
        table.add_column(
            col,
            justify="left" if col in ("mode", "pool", "kind", "fills (qty @ price)") else "right",
        )
    for mode, liq in rows:
        fills = "; ".join(
            f"{f.symbol} {f.qty.normalize():f} @ {f.price.normalize():f}"
            + ("" if f.how == "book" else " (bankruptcy)")
            for f in liq.fills
        )
        table.add_row(
            mode,
            iso(liq.time)[:16],
            liq.pool,
            f"{liq.kind}, {liq.scope}",
            fills,
            f"{_cash(liq.margin_balance)} / {_cash(liq.maintenance)}",
            _cash(liq.loss),
        )
    console.print(table)


def _checkpoint_table(report: SimReport, console: Console) -> None:
    rows = [(s.mode, c) for s in report.modes.values() for c in s.snapshots]
    if not rows:
        return
    table = Table(title="checkpoints (exact, at the bar's close)", title_justify="left")
    for col in ("checkpoint", "mode", "equity", "margin balance by pool"):
        table.add_column(col, justify="right" if col == "equity" else "left")
    for mode, c in rows:
        pools = ", ".join(f"{k} {money(v)}" for k, v in c.pools)
        table.add_row(f"{c.label} ({iso(c.time)[:16]})", mode, money(c.equity), pools)
    console.print(table)


def verdict(report: SimReport) -> str:
    """One line answering the seeds' question for this run: which mode lost less."""
    s = sorted(report.modes.values(), key=lambda x: x.final_equity, reverse=True)
    best = s[0]
    parts = [f"[bold]{best.mode}[/] ended with the most equity ({_cash(best.final_equity)})"]
    for other in s[1:]:
        gap = best.final_equity - other.final_equity
        parts.append(f"{_cash(gap)} more than {other.mode}")
    cascades = [x.mode for x in s if any(liq.scope == "cascade" for liq in x.liquidations)]
    if cascades:
        parts.append(f"a cascade took the whole pool in {', '.join(cascades)}")
    return "; ".join(parts) + "."


# ------------------------------------------------------------------------------ plots
def _buckets(n: int) -> I64:
    if n <= MAX_POINTS:
        return np.arange(n + 1, dtype=np.int64)
    return np.unique(np.linspace(0, n, MAX_POINTS + 1).astype(np.int64))


def _last(values: F64, edges: I64) -> F64:
    out: F64 = values[edges[1:] - 1]
    return out


def _lowest(values: F64, edges: I64) -> F64:
    filled = np.where(np.isnan(values), np.inf, values)
    low = np.minimum.reduceat(filled, edges[:-1])
    out: F64 = np.where(np.isinf(low), np.nan, low)
    return out


def _dates(ms: I64) -> Any:
    return [datetime.fromtimestamp(x / 1000, UTC) for x in ms]


def plot(report: SimReport, path: Path | None = None) -> bytes:
    """The report's figure as PNG bytes (also written to ``path`` if given)."""
    m = report.market
    edges = _buckets(m.n)
    times = _dates(m.time[edges[1:] - 1])
    n_sym = len(m.symbols)
    fig, axes = plt.subplots(
        n_sym + 2,
        1,
        figsize=(11, 2.2 * n_sym + 5.2),
        sharex=True,
        gridspec_kw={"height_ratios": [1.0] * n_sym + [1.5, 1.5]},
    )
    modes = list(report.modes.values())
    for s, symbol in enumerate(m.symbols):
        ax = axes[s]
        ax.plot(times, _last(m.trade[s, :, CLOSE], edges), color="0.3", lw=0.8)
        ax.set_ylabel(symbol, fontsize=8)
        for i, summary in enumerate(modes):
            xs, ys = [], []
            for liq in summary.liquidations:
                for f in liq.fills:
                    if f.symbol == symbol:
                        xs.append(datetime.fromtimestamp(liq.time / 1000, UTC))
                        ys.append(float(f.price))
            if xs:
                ax.scatter(
                    xs,
                    ys,
                    marker=MARKERS.get(summary.mode, "D"),
                    color=_color(summary.mode, i),
                    s=46,
                    zorder=5,
                    label=f"{summary.mode} liquidation",
                    edgecolors="black",
                    linewidths=0.5,
                )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
    ax_eq, ax_lv = axes[n_sym], axes[n_sym + 1]
    for i, summary in enumerate(modes):
        met = summary.run.metrics
        color = _color(summary.mode, i)
        width = 2.8 if i == 0 else 1.0  # the first mode underneath, wider: both stay visible
        ax_eq.plot(times, _last(met.equity, edges), color=color, lw=width, label=summary.mode)
        level = _lowest(met.level_worst, edges)
        ax_lv.plot(
            times, np.where(level > 0, level, np.nan), color=color, lw=width, label=summary.mode
        )
    ax_eq.axhline(float(report.portfolio.balance), color="0.5", ls="--", lw=0.8)
    ax_eq.set_ylabel(f"equity ({report.portfolio.asset})", fontsize=8)
    ax_eq.legend(loc="best", fontsize=8)
    ax_eq.grid(alpha=0.3)
    ax_lv.set_yscale("log")
    ax_lv.set_ylabel("margin level %\n(worst of each bar)", fontsize=8)
    ax_lv.legend(loc="best", fontsize=8)
    ax_lv.grid(alpha=0.3, which="both")
    ax_lv.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(ax_lv.xaxis.get_major_locator())  # type: ignore[no-untyped-call]
    )
    title = report.portfolio.description or report.portfolio.name
    fig.suptitle("\n".join(textwrap.wrap(title, 120)), fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


# ------------------------------------------------------------------------------ HTML
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.dim{color:#666}img{max-width:100%}
</style></head><body>
<h1>{{ title }}</h1>
{% if description %}<p>{{ description }}</p>{% endif %}
<p class="dim">{{ context }}</p>
{% for note in notes %}<p class="dim">note: {{ note }}</p>{% endfor %}
{% for section in sections %}
<h2>{{ section.title }}</h2>
<table><tr>{% for h in section.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in section.rows %}<tr>{% for cell in r %}
<td class="{{ 'n' if loop.index > 1 else '' }}">{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
{% if verdict %}<p><b>{{ verdict }}</b></p>{% endif %}
{% for image in images %}<h2>{{ image.title }}</h2>
<img alt="{{ image.title }}" src="data:image/png;base64,{{ image.data }}">{% endfor %}
<p class="dim">isocross {{ kind }} report. Money is exact (decimal); docs/simulator.md has every
formula.</p>
</body></html>
"""


def html_page(
    title: str,
    *,
    description: str = "",
    context: str = "",
    notes: Sequence[str] = (),
    sections: Sequence[dict[str, Any]] = (),
    images: Sequence[tuple[str, bytes]] = (),
    verdict_line: str = "",
    kind: str = "simulation",
) -> str:
    """A self-contained HTML page (images embedded as base64 PNG)."""
    env = Environment(autoescape=True)
    return env.from_string(_PAGE).render(
        title=title,
        description=description,
        context=context,
        notes=list(notes),
        sections=list(sections),
        images=[{"title": t, "data": base64.b64encode(b).decode("ascii")} for t, b in images],
        verdict=verdict_line,
        kind=kind,
    )


def _plain(text: str) -> str:
    """Drop Rich markup (``[bold]…[/]``) for HTML."""
    import re

    return re.sub(r"\[/?[a-z ]*\]", "", text)


def html(report: SimReport, path: Path, png: bytes | None = None) -> None:
    """Write the simulation report as one self-contained HTML file."""
    p, m = report.portfolio, report.market
    modes = list(report.modes.values())
    summary_rows = [
        ["final equity", *[_cash(s.final_equity) for s in modes]],
        ["profit / loss", *[f"{_cash(s.pnl)} ({s.return_pct:+.1f} %)" for s in modes]],
        ["max drawdown", *[f"{s.max_drawdown * 100:.1f} %" for s in modes]],
        ["funding paid", *[_cash(s.funding_paid) for s in modes]],
        ["trading fees", *[_cash(s.fees) for s in modes]],
        ["liquidations", *[str(len(s.liquidations)) for s in modes]],
        ["lost to liquidation", *[_cash(s.liquidation_loss) for s in modes]],
        [
            "time to first liquidation",
            *[
                "—" if s.first_liquidation is None else human_duration(s.first_liquidation)
                for s in modes
            ],
        ],
        [
            "worst margin level",
            *[
                "—" if s.worst_margin_level is None else f"{s.worst_margin_level:,.1f} %"
                for s in modes
            ],
        ],
    ]
    liq_rows = [
        [
            s.mode,
            iso(liq.time),
            liq.pool,
            f"{liq.kind}, {liq.scope}",
            "; ".join(
                f"{f.symbol} {f.qty.normalize():f} @ {f.price.normalize():f}" for f in liq.fills
            ),
            _cash(liq.loss),
        ]
        for s in modes
        for liq in s.liquidations
    ]
    sections: list[dict[str, Any]] = [
        {
            "title": "Margin modes side by side",
            "header": ["", *[s.mode for s in modes]],
            "rows": summary_rows,
        }
    ]
    if liq_rows:
        sections.append(
            {
                "title": "Liquidations",
                "header": ["mode", "time", "pool", "kind", "fills", "pool lost"],
                "rows": liq_rows,
            }
        )
    snaps = [
        [
            f"{c.label} ({iso(c.time)})",
            s.mode,
            money(c.equity),
            ", ".join(f"{k} {money(v)}" for k, v in c.pools),
        ]
        for s in modes
        for c in s.snapshots
    ]
    if snaps:
        sections.append(
            {
                "title": "Checkpoints",
                "header": ["checkpoint", "mode", "equity", "margin balance by pool"],
                "rows": snaps,
            }
        )
    funding = "on" if p.funding and any(m.has_funding) else "off"
    context = (
        f"{', '.join(m.symbols)}: {m.n:,} bars of {format_duration(m.step)}, "
        f"{iso(int(m.time[0]))} to {iso(int(m.time[-1]) + m.step)}; "
        f"start {_cash(p.balance)} {p.asset}; funding {funding}; {p.venue} liquidation preset"
    )
    page = html_page(
        f"isocross simulate: {p.name}",
        description=p.description,
        context=context,
        notes=[*m.notes, *p.notes],
        sections=sections,
        images=[("Prices, equity and margin level", png if png is not None else plot(report))],
        verdict_line=_plain(verdict(report)),
    )
    path.write_text(page, encoding="utf-8")
