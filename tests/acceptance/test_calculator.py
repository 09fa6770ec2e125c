"""The calculator end to end, as a user runs it: the real ``isocross`` command, JSON out."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from isocross.scenario import load_example

pytestmark = pytest.mark.acceptance


def isocross(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isocross.cli", *args], capture_output=True, text=True, timeout=60
    )


def run_json(*args: str) -> Any:
    done = isocross(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def by_symbol(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["symbol"]: p for p in report["positions"]}


class TestBinanceCrossExample:
    """Binance FAQ, one-way cross, two symbols (reference §8)."""

    def test_liquidation_prices_and_margin_ratio(self) -> None:
        report = run_json("risk", "--example", "binance-cross")
        rows = by_symbol(report)
        assert rows["BTCUSDT"]["liquidation_price"] == "26316.89"
        assert rows["ETHUSDT"]["liquidation_price"] == "1153.26"
        pool = report["margin_assets"]["USDT"]
        assert D(pool["margin_ratio"]).quantize(D("0.0001")) == D("0.4149")
        assert pool["margin_balance"] == "1030895.55638"
        assert pool["maintenance_margin"] == "427713.319566"
        assert rows["BTCUSDT"]["maintenance_margin"] == "71200.811444"
        assert rows["BTCUSDT"]["unrealized_pnl"] == "-56354.56848"


class TestSeedThousandDollarAccount:
    """Seed 004: $1,000, three $1,000 positions at 5x with $200 margin each; ETH −15 %."""

    @pytest.fixture(scope="class")
    @classmethod
    def report(cls) -> Any:
        return run_json(
            "risk", "--example", "seed-1000", "--compare-modes", "--move", "ETHUSDT=-15%"
        )

    def test_isolated_contains_the_loss(self, report: Any) -> None:
        before, after = (
            by_symbol(report["isolated"]["before"]),
            by_symbol(report["isolated"]["after"]),
        )
        assert before["ETHUSDT"]["margin_balance"] == "200"
        assert after["ETHUSDT"]["margin_balance"] == "50"  # 200 → 50
        assert after["ETHUSDT"]["max_loss"] == "200"  # the most this position can cost
        for other in ("BTCUSDT", "SOLUSDT"):
            assert after[other]["margin_balance"] == before[other]["margin_balance"] == "200"
            assert after[other]["liquidation_price"] == before[other]["liquidation_price"]
        assert report["isolated"]["after"]["margin_assets"]["USDT"]["wallet_balance"] == "400"

    def test_cross_shares_the_loss(self, report: Any) -> None:
        assert report["cross"]["before"]["margin_assets"]["USDT"]["margin_balance"] == "1000"
        assert report["cross"]["after"]["margin_assets"]["USDT"]["margin_balance"] == "850"

    def test_liquidation_prices_side_by_side(self, report: Any) -> None:
        cross = by_symbol(report["cross"]["after"])["ETHUSDT"]["liquidation_price"]
        iso = by_symbol(report["isolated"]["after"])["ETHUSDT"]["liquidation_price"]
        # Isolated: (200 − 0.4·2500) / (0.4·0.004 − 0.4) = 2008.03: only ETH's $200 is lost.
        assert iso == "2008.03"
        # Cross: the whole $1,000 backs ETH, so it survives to ~22.59, then everything goes.
        assert cross == "22.59"

    def test_at_those_prices(self) -> None:
        iso = run_json(
            "risk", "--example", "seed-1000", "--compare-modes", "--move", "ETHUSDT=2008"
        )
        rows = by_symbol(iso["isolated"]["after"])
        assert rows["ETHUSDT"]["liquidatable"] is True
        assert not rows["BTCUSDT"]["liquidatable"]
        assert not rows["SOLUSDT"]["liquidatable"]
        assert iso["cross"]["after"]["margin_assets"]["USDT"]["liquidatable"] is False
        deep = run_json(
            "risk", "--example", "seed-1000", "--compare-modes", "--move", "ETHUSDT=22.5"
        )
        assert deep["cross"]["after"]["margin_assets"]["USDT"]["liquidatable"] is True
        assert all(p["liquidatable"] for p in deep["cross"]["after"]["positions"])  # everything

    def test_tables_render(self) -> None:
        done = isocross(
            "risk", "--example", "seed-1000", "--compare-modes", "--move", "ETHUSDT=-15%"
        )
        assert done.returncode == 0, done.stderr
        assert "2008.03" in done.stdout
        assert "22.59" in done.stdout


class TestInverse:
    def test_coin_m_example(self) -> None:
        row = by_symbol(run_json("risk", "--example", "coin-m"))["BTCUSD_PERP"]
        assert row["notional"] == "0.4"
        assert row["maintenance_margin"] == "0.0016"
        # LP = 100·100·(0.004 + 1) / (0.02 + 0 + 100·100/25000) = 10040 / 0.42
        assert row["liquidation_price"] == str((D(10040) / D("0.42")).quantize(D("0.1")))
        assert row["bankruptcy_price"] == str((D(10000) / D("0.42")).quantize(D("0.1")))


class TestBadInput:
    @pytest.fixture
    def scenario(self) -> dict[str, Any]:
        doc: dict[str, Any] = load_example("seed-1000")
        return doc

    def check(self, tmp_path: Path, doc: object, field: str) -> str:
        path = tmp_path / "s.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        done = isocross("risk", str(path))
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ")
        assert field in lines[0]
        return lines[0]

    def test_bad_json(self, tmp_path: Path) -> None:
        self.check(tmp_path, '{"positions": [', "not valid JSON")

    def test_unknown_symbol(self, tmp_path: Path, scenario: dict[str, Any]) -> None:
        scenario["positions"][0]["symbol"] = "DOGEUSDT"
        self.check(tmp_path, scenario, "positions[0].symbol")

    @pytest.mark.parametrize("qty", ["-1", "NaN", "abc", "0"])
    def test_bad_quantity(self, tmp_path: Path, scenario: dict[str, Any], qty: str) -> None:
        scenario["positions"][1]["qty"] = qty
        self.check(tmp_path, scenario, "positions[1].qty")

    def test_leverage_above_tier(self, tmp_path: Path, scenario: dict[str, Any]) -> None:
        scenario["positions"][0]["leverage"] = 126
        line = self.check(tmp_path, scenario, "positions[0].leverage")
        assert "125" in line
        scenario["positions"][0]["qty"] = "1"  # 100,000 notional: tier 2, max 100x
        scenario["positions"][0]["leverage"] = 110
        self.check(tmp_path, scenario, "positions[0].leverage")

    def test_isolated_without_margin(self, tmp_path: Path, scenario: dict[str, Any]) -> None:
        scenario["positions"][2]["margin_mode"] = "isolated"
        self.check(tmp_path, scenario, "positions[2].isolated_margin")

    def test_bad_tier_override(self, tmp_path: Path, scenario: dict[str, Any]) -> None:
        scenario["tiers"] = {
            "BTCUSDT": [
                {"floor": "0", "cap": "50000", "max_leverage": 125, "mmr": "0.004", "cum": "0"},
                {
                    "floor": "50000",
                    "cap": "600000",
                    "max_leverage": 100,
                    "mmr": "0.005",
                    "cum": "60",
                },
            ]
        }
        self.check(tmp_path, scenario, "tiers.BTCUSDT[1]")

    def test_bad_move(self) -> None:
        done = isocross("risk", "--example", "seed-1000", "--move", "ETHUSDT=down")
        assert done.returncode == 2
        assert "--move" in done.stderr
        assert "Traceback" not in done.stderr

    def test_missing_file(self, tmp_path: Path) -> None:
        done = isocross("risk", str(tmp_path / "nope.json"))
        assert done.returncode == 2
        assert "cannot read" in done.stderr


def test_unknown_option_is_one_line() -> None:
    done = isocross("risk", "--bogus")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: No such option: --bogus"]
