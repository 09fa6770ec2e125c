"""The insurance fund: an exchange-owned account whose cross wallet *is* the fund.

It receives clearance fees and the surplus of liquidations closed better than bankruptcy, pays
for losses beyond a liquidated pool's equity, and takes over at the bankruptcy price what the
book cannot absorb — so it can hold positions, which it then unwinds on the book."""

from __future__ import annotations

from decimal import Decimal

from isocross.catalogue import Catalogue
from isocross.margin.account import INSURANCE, Account
from isocross.model.ledger import Ledger

INSURANCE_ACCOUNT_ID = INSURANCE
CAPITAL = "exchange:capital"
"""Where the operator's own money comes from when it seeds the fund."""


class InsuranceFund(Account):
    """The fund as an account (its id cannot clash: user ids have no ``:``)."""

    def __init__(self, catalogue: Catalogue, ledger: Ledger) -> None:
        super().__init__(catalogue, INSURANCE_ACCOUNT_ID, ledger=ledger)

    def futures_account(self) -> str:
        return INSURANCE

    def balance(self, asset: str) -> Decimal:
        return self.ledger.balance(INSURANCE, asset)

    def equity(self, asset: str, marks: dict[str, Decimal]) -> Decimal:
        """Fund balance plus the unrealized PnL of positions it has taken over (exact)."""
        total = self.balance(asset)
        for pos in self.positions():
            inst = self.catalogue.instrument(pos.symbol)
            if inst.margin_asset.name == asset and pos.margin_mode.pooled:
                total += inst.unrealized_pnl(pos.qty, pos.entry_price, marks[pos.symbol])
        return total
