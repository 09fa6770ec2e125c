"""The built-in examples tell the seeds' stories with exact figures."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from isocross.sim.examples import load_example
from isocross.sim.simulate import SimReport, simulate

pytestmark = pytest.mark.acceptance


def run(name: str, root: Path | None = None) -> SimReport:
    return simulate(load_example(name, root))


@pytest.fixture(scope="module")
def seed() -> SimReport:
    return run("seed-1000")


class TestSeed1000:
    """Seed 004: $1,000, three 5x positions of $200 margin, ETH −15 %, then the market turns."""

    @pytest.fixture(autouse=True)
    def _report(self, seed: SimReport) -> None:
        self.report = seed

    def test_after_the_15_percent_move_cross_holds_850_and_isolated_eth_50(self) -> None:
        (cross,) = self.report.modes["cross"].snapshots
        (isolated,) = self.report.modes["isolated"].snapshots
        assert cross.equity == isolated.equity == D(850)
        assert dict(cross.pools) == {"USDT": D(850)}
        assert dict(isolated.pools) == {
            "USDT (cross wallet)": D(400),
            "BTCUSDT": D(200),
            "ETHUSDT": D(50),
            "SOLUSDT": D(200),
        }

    def test_isolated_loses_the_eth_margin_and_nothing_else(self) -> None:
        iso = self.report.modes["isolated"]
        (liq,) = iso.liquidations
        assert (liq.pool, liq.kind, liq.scope, liq.loss) == ("ETHUSDT", "full", "contained", D(200))
        # ETH gapped through its bankruptcy price, 2,000 (= 2,500 − 200/0.4), within one bar
        assert [(f.symbol, f.qty, f.price) for f in liq.fills] == [("ETHUSDT", D("0.4"), D(2000))]
        assert iso.run.cross_wallet == D(400)
        assert iso.run.isolated_wallets == {"BTCUSDT": D(200), "SOLUSDT": D(200)}
        assert iso.final_equity == D(800)  # BTC and SOL came back to their entries
        assert iso.first_liquidation == 39 * 3_600_000

    def test_cross_cascades_and_loses_the_whole_pool(self) -> None:
        cross = self.report.modes["cross"]
        (liq,) = cross.liquidations
        assert (liq.pool, liq.kind, liq.scope, liq.loss) == ("USDT", "full", "cascade", D(1000))
        assert {f.symbol for f in liq.fills} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        assert cross.final_equity == 0
        assert cross.run.open_positions == {}
        assert cross.liquidation_loss == D(1000)
        assert self.report.best == "isolated"

    def test_no_fees_no_funding(self) -> None:
        for s in self.report.modes.values():
            assert s.fees == s.funding_paid == 0


def test_hedged_pair_survives_in_cross_only(data_root: Path) -> None:
    report = run("hedged-pair", data_root)
    cross, iso = report.modes["cross"], report.modes["isolated"]
    assert cross.liquidations == []
    assert [(liq.pool, liq.kind) for liq in iso.liquidations] == [
        ("BTCUSDT", "partial"),
        ("BTCUSDT", "full"),
    ]
    assert cross.final_equity > iso.final_equity > report.portfolio.balance
    assert cross.funding_paid > 0 and cross.fees > 0
    assert cross.max_drawdown < iso.max_drawdown
    assert report.best == "cross"


def test_directional_unrelated_cascades_in_cross(data_root: Path) -> None:
    report = run("directional-unrelated", data_root)
    cross, iso = report.modes["cross"], report.modes["isolated"]
    assert [(liq.kind, liq.scope) for liq in cross.liquidations] == [("full", "cascade")]
    assert cross.final_equity == 0
    assert {liq.scope for liq in iso.liquidations} == {"contained"}
    # isolated: at most the two $250 margins are lost; the $500 left over is out of reach
    assert iso.run.cross_wallet >= D(500) - iso.fees
    assert any("stands in" in note for note in report.market.notes)


def test_btc_eth_1000_isolated_gives_up_eth(data_root: Path) -> None:
    report = run("btc-eth-1000", data_root)
    cross, iso = report.modes["cross"], report.modes["isolated"]
    assert cross.liquidations == []
    assert cross.worst_margin_level is not None and cross.worst_margin_level < 10
    assert [(liq.pool, liq.kind, liq.scope) for liq in iso.liquidations] == [
        ("ETHUSDT", "full", "contained")
    ]
