"""The portfolio spec's refusals and the ``simulate`` command: one line, exit code 2, no partial
report; JSON, PNG and a self-contained HTML report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from isocross import cli
from isocross.sim.errors import SimInputError
from isocross.sim.simulate import simulate
from isocross.sim.spec import read_portfolio

SEED = Path(cli.__file__).parent / "sim" / "examples" / "seed-1000.toml"


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["isocross", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = SEED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("leverage = 5", "levrage = 5", 1), "positions[0].levrage: unknown key"),
        (
            ('balance = "1000"', "balance = 1000.5", 1),
            'balance: must be a decimal string such as "12.5", got 1000.5',
        ),
        (
            ("leverage = 5", "leverage = 200", 1),
            "positions[0].leverage: must be 1 to 125 for BTCUSDT, got 200",
        ),
        (
            ('symbol = "SOLUSDT"', 'symbol = "ETHUSDT"', 1),
            "positions[2].symbol: ETHUSDT already has a position",
        ),
        (
            ('symbol = "SOLUSDT"', 'symbol = "DOGEUSDT"', 1),
            "positions[2].symbol: unknown symbol 'DOGEUSDT'",
        ),
        (('side = "long"', 'side = "up"', 1), 'positions[0].side: must be "long" or "short"'),
        (
            ('to = { ETHUSDT = "-15%" }', 'to = { ETHUSDT = "-150%" }', 1),
            "market.path[0].to.ETHUSDT: a move must stay above −100 %",
        ),
        (
            ('margin = "200"', 'margin = "200"\nqty = "1"', 1),
            "positions[0]: give exactly one of qty, margin or notional",
        ),
    ],
)
def test_spec_refusals_name_the_field(
    tmp_path: Path, edit: tuple[str, str, int], message: str
) -> None:
    path = write(tmp_path, BASE.replace(*edit))
    with pytest.raises(SimInputError) as info:
        read_portfolio(path)
    assert str(info.value).startswith(message)


def test_a_portfolio_that_cannot_open_is_refused_with_no_report(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('balance = "1000"', 'balance = "500"'))
    with pytest.raises(SimInputError) as info:
        simulate(read_portfolio(path))
    assert str(info.value).startswith(
        "positions[2] (SOLUSDT long, cross): cannot open at 2025-01-01T00:00:00Z: insufficient "
        "margin, the order needs 200 USDT and 100 is available"
    )


def test_cli_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "simulate")
    assert code == 2 and out == ""
    assert err == (
        "error: give a portfolio FILE or --example NAME (one of btc-eth-1000, "
        "directional-unrelated, hedged-pair, seed-1000)\n"
    )
    bad = write(tmp_path, "balance = [")
    code, out, err = run_cli(monkeypatch, capsys, "simulate", str(bad))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: p.toml: is not valid TOML")
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "simulate",
        str(write(tmp_path, BASE.replace('balance = "1000"', 'balance = "500"'))),
    )
    assert code == 2 and out == "" and "insufficient margin" in err and err.count("\n") == 1
    code, _, err = run_cli(monkeypatch, capsys, "simulate", "--example", "nope")
    assert code == 2 and err.startswith("error: --example: unknown example 'nope'")
    code, _, err = run_cli(
        monkeypatch, capsys, "stress", "--example", "seed-1000", "--horizon", "soon"
    )
    assert code == 2 and err.startswith('error: --horizon: must be a duration such as "1m"')


def test_cli_json_plot_and_html(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    png, page = tmp_path / "seed.png", tmp_path / "seed.html"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "simulate",
        "--example",
        "seed-1000",
        "--json",
        "--plot",
        str(png),
        "--html",
        str(page),
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["best_mode"] == "isolated"
    cross, iso = report["modes"]["cross"], report["modes"]["isolated"]
    assert cross["checkpoints"][0]["margin_balance"] == {"USDT": "850"}
    assert iso["checkpoints"][0]["margin_balance"]["ETHUSDT"] == "50"
    assert (cross["final_equity"], iso["final_equity"]) == ("0", "800")
    assert [liq["scope"] for liq in cross["liquidations"]] == ["cascade"]
    assert iso["liquidations"][0]["loss"] == "200"
    assert cross["time_to_first_liquidation"] == "3d 7h"
    assert cross["time_to_first_liquidation_s"] == 79 * 3600
    assert report["market"]["notes"] == ["a scripted (synthetic) path"]
    assert png.read_bytes().startswith(b"\x89PNG")
    html = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "cascade" in html


def test_cli_table(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "simulate", "--example", "seed-1000")
    assert code == 0
    assert "margin modes side by side" in out and "full USDT (cascade)" in out
    assert "isolated ended with the most equity (800.00)" in out


def test_public_api() -> None:
    import isocross.sim as sim

    assert sim.__all__ == sorted(sim.__all__) == sorted(sim._WHERE)
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    assert sim.run_stress.__module__ == "isocross.sim.stress"
    with pytest.raises(AttributeError):
        _ = sim.nothing_here
