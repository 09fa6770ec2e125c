"""Shared fixtures for the simulator tests: the real data root (tests that need it are skipped
when it is absent) and builders for small markets and portfolios."""

from __future__ import annotations

from pathlib import Path

import pytest

from isocross.sim.examples import find_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = find_data_root()
    if root is None or not (root / "binance_usdm_2025_typhonun").is_dir():
        pytest.skip("the real market data (shared/data) is not available")
    return root
