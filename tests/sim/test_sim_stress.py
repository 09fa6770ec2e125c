"""Monte Carlo stress: seeded, reproducible however the paths are split, in-process or on Dask."""

from __future__ import annotations

import json
import sys
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from sim_support import portfolio, random_market

from isocross import cli
from isocross.sim import stress as st
from isocross.sim.spec import Portfolio

HOUR = 3_600_000
SYMBOLS = {"BTCUSDT": (60_000.0, D("0.10")), "ETHUSDT": (2_500.0, D("0.01"))}


@pytest.fixture(scope="module")
def book() -> tuple[Portfolio, object]:
    specs = [
        {"symbol": "BTCUSDT", "side": "long", "leverage": 20, "margin": "250"},
        {"symbol": "ETHUSDT", "side": "long", "leverage": 20, "margin": "250"},
    ]
    p = portfolio(specs, prices=dict.fromkeys(SYMBOLS, "1"))
    return p, random_market(11, SYMBOLS, 600, vol=0.006, funding=0.0001)


def losses(result: st.StressResult) -> dict[str, list[float]]:
    return {m: s.losses.tolist() for m, s in result.modes.items()}


@pytest.mark.parametrize("method", st.METHODS)
def test_same_seed_same_paths_whatever_the_chunks(
    book: tuple[Portfolio, object], method: str
) -> None:
    p, market = book
    config = st.StressConfig(paths=30, horizon=48 * HOUR, method=method, seed=5, chunk=30)
    whole = st.run_stress(p, market, config)  # type: ignore[arg-type]
    split = st.run_stress(p, market, st.StressConfig(**{**config.__dict__, "chunk": 7}))  # type: ignore[arg-type]
    assert losses(whole) == losses(split)
    other = st.run_stress(p, market, st.StressConfig(**{**config.__dict__, "seed": 6}))  # type: ignore[arg-type]
    assert losses(other) != losses(whole)
    for s in whole.modes.values():
        assert len(s.losses) == 30
        assert 0 <= s.p_liquidation_ci[0] <= s.p_liquidation <= s.p_liquidation_ci[1] <= 1
        assert s.var95[1] <= s.var95[0] <= s.var95[2]
        assert s.var95[0] <= s.var99[0] <= s.es99 + 1e-9


def test_dask_cluster_gives_identical_results(book: tuple[Portfolio, object]) -> None:
    from distributed import Client, LocalCluster

    p, market = book
    config = st.StressConfig(paths=24, horizon=24 * HOUR, seed=9, chunk=5)
    local = st.run_stress(p, market, config)  # type: ignore[arg-type]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        remote = st.run_stress(p, market, config, scheduler=client)  # type: ignore[arg-type]
        by_address = st.run_stress(  # type: ignore[arg-type]
            p,
            market,
            st.StressConfig(**{**config.__dict__, "chunk": 24}),
            scheduler=cluster.scheduler_address,
        )
    assert losses(remote) == losses(local) == losses(by_address)
    assert remote.scheduler.startswith("dask")


def test_bootstrap_replays_real_bar_shapes(book: tuple[Portfolio, object]) -> None:
    _, market = book
    p, _ = book
    cal = st.calibrate(p, market)  # type: ignore[arg-type]
    path = st.path_market(cal, st.StressConfig(horizon=100 * HOUR, block=10), 0)
    assert path.n == 100
    assert np.all(path.trade[:, :, 1] >= path.trade[:, :, 2])
    assert np.array_equal(path.trade[:, 0, 0], cal.first_open)
    # each path bar is a real bar's close-to-close move (up to the tick rounding)
    moves = path.trade[:, 1:, 3] / path.trade[:, :-1, 3]
    real = cal.ratios[:, :, 3].T
    assert all(np.isclose(real, m, rtol=1e-5).any() for m in moves[0])


def test_statistics() -> None:
    assert st.wilson(0, 100)[0] == 0 and 0.03 < st.wilson(0, 100)[1] < 0.04
    lo, hi = st.wilson(50, 100)
    assert lo < 0.5 < hi
    ordered = np.arange(1, 1001, dtype=float)
    q, lo_q, hi_q = st.quantile_ci(ordered, 0.95)
    assert q == 950 and lo_q < 950 < hi_q


def test_cli_stress_json(
    data_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    page = tmp_path / "stress.html"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "isocross",
            "stress",
            "--example",
            "hedged-pair",
            "--paths",
            "20",
            "--horizon",
            "1d",
            "--seed",
            "3",
            "--json",
            "--html",
            str(page),
            "--no-progress",
        ],
    )
    cli.main()
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["paths"] == 20 and report["config"]["horizon"] == "1d"
    assert set(report["modes"]) == {"cross", "isolated", "portfolio"}
    assert report["calibration"]["symbols"]["BTCUSDT"]["sigma_per_bar"] > 0
    assert "data:image/png;base64," in page.read_text(encoding="utf-8")
