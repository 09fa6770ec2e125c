"""Shared fixtures: the shipped catalogue and small account builders."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, localcontext

import pytest

from isocross.catalogue import Catalogue, load_catalogue
from isocross.margin.account import Account
from isocross.model.money import CONTEXT


@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def funded(catalogue: Catalogue) -> Account:
    """An account with 10,000 USDT in its futures wallet and 1 BTC in spot."""
    account = Account(catalogue)
    account.deposit("USDT", Decimal(10_000))
    account.transfer_to_futures("USDT", Decimal(10_000))
    account.deposit("BTC", Decimal(1))
    return account


@pytest.fixture(autouse=True)
def exact_context() -> Iterator[None]:
    """Expected values in tests are computed at the core's precision (50 digits)."""
    with localcontext(CONTEXT):
        yield
