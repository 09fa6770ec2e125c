"""A double-entry ledger: every movement of money is one balanced entry between named accounts.

Balances are derived from entries only. The sum of all balances of an asset is always zero:
money that enters from outside comes from an ``external:*`` account that goes negative, so
conservation is a checkable invariant (:meth:`Ledger.imbalance`), not a hope.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from isocross.model.money import ZERO


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """``amount`` of ``asset`` moves from ``debit`` (its balance falls) to ``credit``."""

    debit: str
    credit: str
    asset: str
    amount: Decimal
    reason: str


class Ledger:
    """Balances per (ledger account, asset), changed only by :meth:`post`."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self._balances: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)

    def post(self, debit: str, credit: str, asset: str, amount: Decimal, reason: str) -> None:
        """Move ``amount`` (may be negative: the reverse direction) from ``debit`` to ``credit``."""
        if amount == 0:
            return
        self.entries.append(LedgerEntry(debit, credit, asset, amount, reason))
        self._balances[(debit, asset)] -= amount
        self._balances[(credit, asset)] += amount

    def checkpoint(self) -> int:
        """A point to :meth:`rollback` to (the number of entries so far)."""
        return len(self.entries)

    def rollback(self, checkpoint: int) -> None:
        """Undo every entry posted after ``checkpoint`` (a refused command leaves no trace)."""
        for entry in reversed(self.entries[checkpoint:]):
            self._balances[(entry.debit, entry.asset)] += entry.amount
            self._balances[(entry.credit, entry.asset)] -= entry.amount
        del self.entries[checkpoint:]

    def balance(self, account: str, asset: str) -> Decimal:
        return self._balances.get((account, asset), ZERO)

    def balances(self) -> dict[tuple[str, str], Decimal]:
        return {k: v for k, v in self._balances.items() if v != 0}

    def imbalance(self) -> dict[str, Decimal]:
        """Per asset, the sum of every balance: always zero unless money was created."""
        totals: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        for (_, asset), value in self._balances.items():
            totals[asset] += value
        return {asset: total for asset, total in totals.items() if total != 0}
