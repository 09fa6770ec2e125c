"""The margin sweep: every account re-checked at every mark, in floats, without missing one.

A venue re-checks every account when a mark price moves. The exact path
(:meth:`isocross.margin.account.Account.figures`, Decimal) is far too slow for that, so the sweep
keeps every position as struct-of-arrays and evaluates every margin pool in float64 with Numba,
flagging each pool whose float figures are within a proven error bound of liquidation. Flagged
pools are *candidates*: :func:`confirm` re-checks each one on the exact path before anything
acts on it. The bound below guarantees that no pool the exact path would liquidate is missed.

**Pools.** A pool is what one liquidation test covers (:mod:`isocross.margin.figures`): the cross
pool of one margin asset of one account (wallet ``{id}:futures`` plus every cross position
margined in that asset) or one isolated position (wallet ``{id}:isolated:{symbol}:{side}``). A
pool is liquidatable when ``MM > 0`` and ``W + Σ PnLᵢ ≤ Σ MMᵢ``, with per position

* linear: ``N = |q|·S·P``, ``PnL = q·S·(P − E)``;
* inverse: ``N = |q|·CS/P``, ``PnL = q·CS·(1/E − 1/P)`` (Binance "COIN-M contract specifications");
* ``MM = N·mmr_k − cum_k`` for the bracket ``floor_k < N ≤ cap_k`` (Binance "Leverage and
  Margin of USDⓈ-M Futures"), in the margin asset.

With ``a = σ·S·P`` (inverse ``σ·CS/P``) per symbol and ``e = σ·S·E`` (inverse ``σ·CS/E``) per
position, where ``σ = +1`` linear and ``−1`` inverse, ``N = |q|·|a|`` and ``PnL = q·(a − e)``: one
branch-free formula serves both contract kinds.

**Layout.** Pools are sorted by account, positions by pool (so by account too): a pool's positions
are the CSR range ``pool_pos_start[p] : pool_pos_start[p + 1]``. Per position the full sweep
reads 20 bytes: the signed quantity and the entry value ``e`` (float64) and a key (uint32: the
symbol, and the pool's slot in its block of 256 pools). Pools are taken a block at a time: the
block's positions are one contiguous run whose terms are added into the block's slots, then each
pool of the block is tested, all without a data-dependent branch. Tier tables are stored once per
distinct table, padded to 16 brackets (caps ``+∞``; a notional beyond the last cap stays in the
last tier), and the bracket ``floor < N ≤ cap`` is found by a branch-free binary search. A
per-symbol CSR lists the positions holding each symbol, so one symbol's tick re-checks only the
pools that hold it.

**Growth.** :meth:`MarginSweep.apply` consumes the exchange's ``PositionChanged`` and
``LedgerPosted`` events. Changed quantities, entries and wallets are written in place; a
position that is new (or moves to another pool, after a margin-mode change) is appended to a
tail and chained to its pool and its symbol (linked lists in arrays). The full sweep skips pools
that have tail positions and evaluates them by their chains instead. When the tail outgrows
``max(4096, positions/16)`` everything is re-sorted (:meth:`MarginSweep.compact`), so the cost
is amortized O(log n) per appended position. Wallets are kept exactly (Decimal) on the side and
each float wallet is the correctly rounded exact one, so float error never accumulates over
postings.

**Error bound.** Let ``u = 2⁻⁵³``. Each input (``q, E, P, S, W, mmr, cum, cap``) is rounded
once to float64. For a position define its magnitude ``m = |q|·(|a| + |e|)``; it bounds ``N``,
``|PnL|``, ``N·mmr`` and ``cum_k`` (``cum_k ≤ floor_k·mmr_k ≤ N·mmr_k`` by the recurrence).
Following the operations (Higham, *Accuracy and Stability of Numerical Algorithms*, §2–3,
``γₙ = nu/(1 − nu)``): ``a − e`` carries at most ``γ₄·(|a| + |e|)``, so ``PnL`` at most ``γ₆·m``;
``N·mmr − cum`` at most ``γ₁₆·m``; a notional that lands in the neighbouring bracket changes
``MM`` by at most ``|N̂ − N|·Δmmr ≤ γ₅·m``, because ``MM`` is continuous in ``N`` (the tables are
checked for it); forming ``PnL − MM`` adds ``2u·m``. Summing ``W`` and the ``k`` per-position
terms adds ``γₖ·(|W| + 2Σm)`` (recursive summation). So the float surplus
``ŝ = Ŵ + Σ(PnL − MM)^`` satisfies ``|ŝ − s| ≤ γ_{2k+60}·Σ̂`` where ``Σ̂ = |W| + Σ m`` as
computed (its own error is ``γ_{k+6}``). The sweep flags a pool with an open position when

    ŝ ≤ (4k + 128)·u·Σ̂ + ABS_TOL

— twice the bound, valid for any ``k`` below 10¹⁴ (the full sweep uses for ``k`` the largest
number of positions in any pool, which only widens the margin). It is relative to the pool's
magnitude, not to its ``MM``: wallet and PnL can cancel, so a bound relative to ``MM`` alone
would be unsound. ``ABS_TOL`` (10⁻¹², far below a ledger unit) only absorbs underflow. A NaN
surplus is flagged. For a pool of ten ordinary positions the tolerance is ``≈ 2·10⁻¹⁴`` of its
size, so false positives are pools within that distance of liquidation. With a headroom ``h``
(flag ``W + ΣPnL ≤ (1 + h)·ΣMM``, for margin calls) each term is ``PnL − (1 + h)·MM`` and the
tolerance is multiplied by ``1 + h``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

from isocross.engine.events import Event, LedgerPosted, PositionChanged
from isocross.model.enums import ContractType, MarginMode, PositionSide
from isocross.model.instrument import Instrument, derive_cum

if TYPE_CHECKING:
    from isocross.engine.exchange import Exchange
    from isocross.margin.account import Account
    from isocross.margin.figures import AccountFigures

U = 2.0**-53
"""Unit roundoff of float64."""
ABS_TOL = 1e-12
"""Absolute slack in the margin asset: absorbs underflow only (ledger units are 1e-8)."""
SIDES: tuple[PositionSide, ...] = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)
"""Position sides by their code in the arrays (0, 1, 2)."""
_SIDE_CODE = {side.value: code for code, side in enumerate(SIDES)}
_FUTURES = ":futures"
_ISOLATED = ":isolated:"

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
Marks = Mapping[str, Decimal] | Mapping[str, float] | NDArray[np.float64]
"""Mark prices by symbol, or an array by symbol index (:attr:`MarginSweep.symbols`)."""
PoolKey = tuple[int, int, int, int]
"""(account, asset, symbol, side): symbol −1 and side 0 for a cross pool."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


# --------------------------------------------------------------------------------- kernels
TIER_SLOTS = 16
"""Tier tables are padded to 16 brackets (caps +∞) for a branch-free binary search."""
_BLOCK = 256
"""Pools per block of the full sweep (a power of two: a pool's slot is ``pool & 255``)."""
_SLOT_BITS = 8


@_jit
def _bracket(n: float, base: np.uint64, cap: F64) -> np.uint64:
    """Index (from ``base``) of the bracket ``floor < n ≤ cap``: the number of caps below ``n``
    (``bisect_left``), by a binary search over the table's 16 padded caps with masks instead of
    jumps (brackets are data-dependent, branches would mispredict) and unsigned indices (no
    wraparound checks)."""
    zero = np.uint64(0)
    k = base
    k += np.uint64(8) & (zero - np.uint64(n > cap[k + np.uint64(7)]))
    k += np.uint64(4) & (zero - np.uint64(n > cap[k + np.uint64(3)]))
    k += np.uint64(2) & (zero - np.uint64(n > cap[k + np.uint64(1)]))
    k += np.uint64(n > cap[k])
    return k


@_jit
def _terms(
    q: float, e: float, a: float, base: np.uint64, cap: F64, mc: F64, factor: float
) -> tuple[float, float, float]:
    """``(PnL − factor·MM, MM, m)`` of one position (sign-folded ``a`` and ``e``, module doc);
    ``mc`` interleaves each bracket's ``mmr`` and ``cum``."""
    aq = abs(q)
    size = abs(a)
    n = aq * size
    k = _bracket(n, base, cap)
    k += k
    mm = n * mc[k] - mc[k + np.uint64(1)]
    return q * (a - e) - factor * mm, mm, aq * (size + abs(e))


@_jit
def _sweep_main(
    n_pools: int,
    pool_pos_start: I64,
    pool_wallet: F64,
    pos_key: NDArray[np.uint32],
    pos_qty: F64,
    pos_ev: F64,
    sym_a: F64,
    sym_base: NDArray[np.uint64],
    cap: F64,
    mc: F64,
    kmax: int,
    headroom: float,
    out_pool: I64,
) -> int:
    """Every sorted pool ``< n_pools``; writes the flagged ones to ``out_pool``, returns how many.

    A block of 256 pools owns one contiguous run of positions; each position's terms are added
    into its pool's slot (``key & 255``), then every pool of the block is tested and its index
    written unconditionally, the count advancing by the flag. ``k`` is ``kmax`` for every pool.
    Headroom enters as ``W + Σ(PnL − (1 + h)·MM) ≤ (1 + h)·tolerance``.
    """
    one = np.uint64(1)
    slot_mask = np.uint64(_BLOCK - 1)
    shift = np.uint64(_SLOT_BITS)
    acc_d = np.zeros(_BLOCK)
    acc_g = np.zeros(_BLOCK)
    factor = 1.0 + headroom
    tolerance = (4.0 * kmax + 128.0) * U * factor
    count = np.uint64(0)
    end = np.uint64(n_pools)
    p0 = np.uint64(0)
    while p0 < end:
        p1 = min(end, p0 + np.uint64(_BLOCK))
        for j in range(_BLOCK):
            acc_d[j] = 0.0
            acc_g[j] = 0.0
        i = np.uint64(pool_pos_start[p0])
        hi = np.uint64(pool_pos_start[p1])
        while i < hi:
            key = np.uint64(pos_key[i])
            s = key >> shift
            slot = key & slot_mask
            d, _, g = _terms(pos_qty[i], pos_ev[i], sym_a[s], sym_base[s], cap, mc, factor)
            acc_d[slot] += d
            acc_g[slot] += g
            i += one
        slot = np.uint64(0)
        while slot < p1 - p0:
            p = p0 + slot
            w = pool_wallet[p]
            surplus = acc_d[slot] + w
            g = acc_g[slot]
            threshold = tolerance * (g + abs(w)) + ABS_TOL
            out_pool[count] = p
            count += np.uint64((not g <= 0.0) & (not surplus > threshold))
            slot += one
        p0 = p1
    return int(count)


@_jit
def _sweep_pools(
    pools: I64,
    n_main_pools: int,
    pool_pos_start: I64,
    pool_tail_head: I32,
    pos_next_pool: I32,
    pool_wallet: F64,
    pos_key: NDArray[np.uint32],
    pos_qty: F64,
    pos_ev: F64,
    sym_a: F64,
    sym_base: NDArray[np.uint64],
    cap: F64,
    mc: F64,
    headroom: float,
    keep_all: bool,
    out_pool: I64,
    out_balance: F64,
    out_mm: F64,
) -> int:
    """The listed pools, each by its sorted range plus its tail chain, ``k`` counted exactly;
    writes the flagged ones (all with ``keep_all``) with their balances and MM."""
    factor = 1.0 + headroom
    count = 0
    for j in range(pools.size):
        p = pools[j]
        run_d = 0.0
        mm = 0.0
        scale = 0.0
        k = 0
        i = pool_pos_start[p] if p < n_main_pools else 0
        hi = pool_pos_start[p + 1] if p < n_main_pools else 0
        chain = pool_tail_head[p]
        while True:
            if i < hi:
                at = i
                i += 1
            elif chain >= 0:
                at = chain
                chain = pos_next_pool[chain]
            else:
                break
            q = pos_qty[at]
            if q == 0.0:
                continue
            s = pos_key[at] >> _SLOT_BITS
            d, m, g = _terms(q, pos_ev[at], sym_a[s], sym_base[s], cap, mc, factor)
            run_d += d
            mm += m
            scale += g
            k += 1
        w = pool_wallet[p]
        surplus = run_d + w
        threshold = (4.0 * k + 128.0) * U * factor * (scale + abs(w)) + ABS_TOL
        if keep_all or (k > 0 and not surplus > threshold):
            out_pool[count] = p
            out_balance[count] = surplus + factor * mm
            out_mm[count] = mm
            count += 1
    return count


@_jit
def _symbol_pools(
    s: int,
    sym_pos_start: I64,
    sym_pos: I32,
    sym_tail_head: I32,
    pos_next_sym: I32,
    pos_pool: I32,
    pos_qty: F64,
    stamp: I64,
    tick: int,
) -> I64:
    """Distinct pools holding an open position in symbol ``s`` (``stamp`` marks them seen)."""
    lo = sym_pos_start[s]
    hi = sym_pos_start[s + 1]
    n = hi - lo
    i = sym_tail_head[s]
    while i >= 0:
        n += 1
        i = pos_next_sym[i]
    out = np.empty(n, np.int64)
    count = 0
    i = sym_tail_head[s]
    j = lo
    while True:
        if j < hi:
            at = sym_pos[j]
            j += 1
        elif i >= 0:
            at = i
            i = pos_next_sym[i]
        else:
            break
        if pos_qty[at] == 0.0:
            continue
        p = pos_pool[at]
        if stamp[p] != tick:
            stamp[p] = tick
            out[count] = p
            count += 1
    return out[:count]


# --------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Candidate:
    """A pool the float sweep flagged: the cross pool of ``asset`` (``symbol`` None) or the
    isolated ``symbol``/``position_side`` position. Balances are float estimates."""

    account_id: str
    asset: str
    symbol: str | None
    position_side: PositionSide | None
    margin_balance: float
    maintenance_margin: float

    @property
    def isolated(self) -> bool:
        return self.symbol is not None


def _grown(arr: NDArray[Any], need: int, fill: Any = 0) -> NDArray[Any]:
    """``arr`` with capacity for ``need`` entries (doubling; new slots set to ``fill``)."""
    if need <= arr.shape[0]:
        return arr
    new = np.full(max(need, 2 * arr.shape[0], 16), fill, dtype=arr.dtype)
    new[: arr.shape[0]] = arr
    return new


def _is_continuous(inst: Instrument) -> bool:
    tiers = inst.tiers.tiers
    return [t.cum for t in tiers] == derive_cum([t.floor for t in tiers], [t.mmr for t in tiers])


# --------------------------------------------------------------------------------- the sweep
class MarginSweep:
    """All accounts' margin pools as struct-of-arrays, swept in float64 (see the module doc).

    Build it with :meth:`from_exchange` or :meth:`from_arrays`; keep it in step with
    :meth:`apply`; :meth:`flagged` / :meth:`candidates` flag pools, :func:`confirm` checks them
    on the exact path.
    """

    def __init__(
        self,
        instruments: Sequence[Instrument],
        account_ids: list[str] | None,
        n_accounts: int,
        pools: Mapping[str, NDArray[Any]],
        positions: Mapping[str, NDArray[Any]],
        wallets: dict[PoolKey, Decimal] | None = None,
    ) -> None:
        """Low level: ``pools`` holds ``account, asset, symbol, side, wallet`` arrays (symbol
        −1 for a cross pool), ``positions`` holds ``pool, symbol, side, qty, entry``; in any
        order (they are sorted here). ``wallets``: exact values behind float wallets."""
        self.symbols = [i.symbol for i in instruments]
        self._sym_index = {s: k for k, s in enumerate(self.symbols)}
        if len(self._sym_index) != len(self.symbols):
            raise ValueError("symbols must be distinct")
        if len(self.symbols) >= 1 << (32 - _SLOT_BITS):
            raise ValueError("too many symbols")
        for inst in instruments:
            if not _is_continuous(inst):
                raise ValueError(f"{inst.symbol}: the tier table's cum breaks the recurrence")
        self.assets = sorted({i.margin_asset.name for i in instruments})
        self._asset_index = {a: k for k, a in enumerate(self.assets)}
        self._sym_asset = np.array(
            [self._asset_index[i.margin_asset.name] for i in instruments], np.int64
        )
        self._sym_inverse = np.array(
            [i.contract_type is ContractType.INVERSE for i in instruments], bool
        )
        self._sym_size = np.array([float(i.contract_size) for i in instruments], np.float64)
        self._sym_sigma = np.where(self._sym_inverse, -1.0, 1.0)
        self._build_tiers(instruments)

        self._account_ids = account_ids
        self._n_accounts = n_accounts
        self._pool_account = np.asarray(pools["account"], np.int32)
        self._pool_asset = np.asarray(pools["asset"], np.int16)
        self._pool_symbol = np.asarray(pools["symbol"], np.int32)
        self._pool_side = np.asarray(pools["side"], np.int8)
        self._pool_wallet = np.asarray(pools["wallet"], np.float64)
        self._n_pools = int(self._pool_wallet.shape[0])
        pool = np.asarray(positions["pool"], np.int64)
        sym = np.asarray(positions["symbol"], np.int64)
        qty = np.asarray(positions["qty"], np.float64)
        entry = np.asarray(positions["entry"], np.float64)
        if ((sym < 0) | (sym >= len(self.symbols))).any():
            raise ValueError("a position's symbol index is out of range")
        if ((pool < 0) | (pool >= self._n_pools)).any():
            raise ValueError("a position's pool index is out of range")
        if not (np.isfinite(qty).all() and ((qty == 0) | ((entry > 0) & np.isfinite(entry))).all()):
            raise ValueError("quantities must be finite and open positions need an entry > 0")
        self._pos_pool = pool.astype(np.int32)
        self._pos_key = (sym << _SLOT_BITS).astype(np.uint32)
        self._pos_side = np.asarray(positions["side"], np.int8)
        self._pos_qty = qty
        self._pos_entry = entry
        self._n_pos = int(qty.shape[0])
        self._wallets: dict[PoolKey, Decimal] = dict(wallets or {})
        self.compact_min = 4096
        """Tail positions always allowed before :meth:`compact` runs by itself."""
        self._compact()

    def _build_tiers(self, instruments: Sequence[Instrument]) -> None:
        """One padded 16-bracket table per distinct tier table (``cap``; ``mmr, cum`` pairs)."""
        tables: dict[tuple[tuple[Decimal | None, Decimal, Decimal], ...], int] = {}
        index = []
        for inst in instruments:
            key = tuple((t.cap, t.mmr, t.cum) for t in inst.tiers.tiers)
            if len(key) > TIER_SLOTS:
                raise ValueError(f"{inst.symbol}: more than {TIER_SLOTS} tiers")
            index.append(tables.setdefault(key, len(tables)))
        self._sym_base = np.array(index, np.uint64) * np.uint64(TIER_SLOTS)
        self._tier_cap = np.full(len(tables) * TIER_SLOTS, np.inf)
        self._tier_mc = np.empty(2 * len(tables) * TIER_SLOTS)
        for key, t in tables.items():
            at = t * TIER_SLOTS
            for j in range(TIER_SLOTS):
                cap, rate, amount = key[min(j, len(key) - 1)]
                if j < len(key) - 1 and cap is not None:
                    self._tier_cap[at + j] = float(cap)  # the last bracket's cap stays +∞
                self._tier_mc[2 * (at + j)] = float(rate)
                self._tier_mc[2 * (at + j) + 1] = float(amount)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        instruments: Sequence[Instrument],
        account_offsets: NDArray[np.integer[Any]],
        symbol: NDArray[np.integer[Any]],
        qty: F64,
        entry: F64,
        isolated: NDArray[np.bool_],
        isolated_wallet: F64,
        cross_wallet: Mapping[str, F64],
        *,
        side: NDArray[np.integer[Any]] | None = None,
        account_ids: Sequence[str] | None = None,
    ) -> MarginSweep:
        """From positions laid out by account (CSR): account ``a`` holds positions
        ``account_offsets[a] : account_offsets[a + 1]``; per position the index of its
        instrument, signed ``qty``, ``entry`` price, ``isolated`` flag and isolated wallet (read
        only when isolated), ``side`` (0 BOTH, 1 LONG, 2 SHORT; default BOTH); per margin asset
        the cross wallet of every account. Float inputs are taken as the exact values. Account
        ids default to ``"0"``, ``"1"``, …"""
        offsets = np.asarray(account_offsets, np.int64)
        n_acct = offsets.shape[0] - 1
        n = int(offsets[-1])
        sym = np.asarray(symbol, np.int64)
        if sym.shape[0] != n:
            raise ValueError("account_offsets must end at the number of positions")
        assets = sorted({i.margin_asset.name for i in instruments})
        n_assets = len(assets)
        sym_asset = np.array([assets.index(i.margin_asset.name) for i in instruments], np.int64)
        acct = np.repeat(np.arange(n_acct, dtype=np.int64), np.diff(offsets))
        iso = np.asarray(isolated, bool)
        pos_asset = sym_asset[sym]
        # Cross pools: every (account, asset) with a cross position or a non-zero wallet.
        keys = [acct[~iso] * n_assets + pos_asset[~iso]]
        for name, column in cross_wallet.items():
            held = np.flatnonzero(np.asarray(column) != 0)
            keys.append(held * n_assets + assets.index(name))
        cross_keys = np.unique(np.concatenate(keys))
        wallet = np.zeros(cross_keys.shape[0], np.float64)
        for name, column in cross_wallet.items():
            mine = cross_keys % n_assets == assets.index(name)
            wallet[mine] = np.asarray(column, np.float64)[cross_keys[mine] // n_assets]
        iso_at = np.flatnonzero(iso)
        sides = np.zeros(n, np.int8) if side is None else np.asarray(side, np.int8)
        n_cross = cross_keys.shape[0]
        pool = np.empty(n, np.int64)
        pool[~iso] = np.searchsorted(cross_keys, acct[~iso] * n_assets + pos_asset[~iso])
        pool[iso_at] = n_cross + np.arange(iso_at.shape[0])
        pools = {
            "account": np.concatenate([cross_keys // n_assets, acct[iso_at]]),
            "asset": np.concatenate([cross_keys % n_assets, pos_asset[iso_at]]),
            "symbol": np.concatenate([np.full(n_cross, -1), sym[iso_at]]),
            "side": np.concatenate([np.zeros(n_cross, np.int8), sides[iso_at]]),
            "wallet": np.concatenate([wallet, np.asarray(isolated_wallet, np.float64)[iso_at]]),
        }
        positions: dict[str, NDArray[Any]] = {
            "pool": pool,
            "symbol": sym,
            "side": sides,
            "qty": np.asarray(qty, np.float64),
            "entry": np.asarray(entry, np.float64),
        }
        ids = None if account_ids is None else list(account_ids)
        return cls(instruments, ids, n_acct, pools, positions)

    @classmethod
    def from_exchange(cls, exchange: Exchange) -> MarginSweep:
        """Every account's open positions and futures wallets as the exchange holds them now."""
        instruments = list(exchange.catalogue.instruments.values())
        sym_index = {inst.symbol: k for k, inst in enumerate(instruments)}
        assets = sorted({i.margin_asset.name for i in instruments})
        ids = sorted(exchange.accounts)
        index = {aid: k for k, aid in enumerate(ids)}
        wallets: dict[PoolKey, Decimal] = {}
        for (name, asset), amount in exchange.ledger.balances().items():
            key = _parse_wallet(name, asset, index, sym_index, assets, instruments)
            if key is not None:
                wallets[key] = amount
        rows: list[tuple[PoolKey, int, int, Decimal, Decimal]] = []
        for aid in ids:
            for p in exchange.accounts[aid].positions():
                s = sym_index[p.symbol]
                side = _SIDE_CODE[p.side.value]
                k = assets.index(instruments[s].margin_asset.name)
                isolated = p.margin_mode is MarginMode.ISOLATED
                pool_key = (index[aid], k, s, side) if isolated else (index[aid], k, -1, 0)
                rows.append((pool_key, s, side, p.qty, p.entry_price))
        pool_keys = sorted(set(wallets) | {row[0] for row in rows})
        pool_of = {key: k for k, key in enumerate(pool_keys)}
        pools = {
            name: np.array([key[col] for key in pool_keys], np.int64)
            for col, name in enumerate(("account", "asset", "symbol", "side"))
        }
        pools["wallet"] = np.array([float(wallets.get(k, 0)) for k in pool_keys], np.float64)
        positions = {
            "pool": np.array([pool_of[r[0]] for r in rows], np.int64),
            "symbol": np.array([r[1] for r in rows], np.int64),
            "side": np.array([r[2] for r in rows], np.int64),
            "qty": np.array([float(r[3]) for r in rows], np.float64),
            "entry": np.array([float(r[4]) for r in rows], np.float64),
        }
        return cls(instruments, ids, len(ids), pools, positions, wallets)

    # ----------------------------------------------------------------- layout
    def compact(self) -> None:
        """Re-sort pools by account and positions by pool, folding the tail in and dropping
        closed positions and empty pools (pool indices change)."""
        self._compact()

    def _compact(self) -> None:
        n_pools, n_pos = self._n_pools, self._n_pos
        live = np.flatnonzero(self._pos_qty[:n_pos] != 0)
        pos_pool = self._pos_pool[:n_pos]
        has_pos = np.zeros(n_pools, bool)
        has_pos[pos_pool[live]] = True
        kept = np.flatnonzero(has_pos | (self._pool_wallet[:n_pools] != 0))
        order = kept[
            np.lexsort(
                (
                    self._pool_side[kept],
                    self._pool_symbol[kept],
                    self._pool_asset[kept],
                    self._pool_account[kept],
                )
            )
        ]
        renumber = np.full(n_pools, -1, np.int64)
        renumber[order] = np.arange(order.shape[0])
        self._pool_account = self._pool_account[order]
        self._pool_asset = self._pool_asset[order]
        self._pool_symbol = self._pool_symbol[order]
        self._pool_side = self._pool_side[order]
        self._pool_wallet = self._pool_wallet[order]
        self._n_pools = self._n_main_pools = int(order.shape[0])
        self._pool_tail_head = np.full(self._n_pools, -1, np.int32)
        self._pool_has_tail = np.zeros(self._n_pools, bool)
        self._stamp = np.zeros(self._n_pools, np.int64)
        self._tick = 0

        sym = (self._pos_key[:n_pos] >> _SLOT_BITS).astype(np.int64)
        new_pool = renumber[pos_pool[live]]
        porder = live[np.lexsort((self._pos_side[live], sym[live], new_pool))]
        new_pool = renumber[pos_pool[porder]]
        sym = sym[porder]
        self._pos_pool = new_pool.astype(np.int32)
        self._pos_key = ((sym << _SLOT_BITS) | (new_pool & (_BLOCK - 1))).astype(np.uint32)
        self._pos_side = self._pos_side[porder]
        self._pos_qty = self._pos_qty[porder]
        self._pos_entry = self._pos_entry[porder]
        self._n_pos = self._n_main_pos = int(porder.shape[0])
        self._pos_ev = self._entry_value(sym, self._pos_entry)
        self._pos_next_pool = np.full(self._n_pos, -1, np.int32)
        self._pos_next_sym = np.full(self._n_pos, -1, np.int32)
        self._pool_pos_start = np.zeros(self._n_pools + 1, np.int64)
        per_pool = np.bincount(new_pool, minlength=self._n_pools)
        self._pool_pos_start[1:] = np.cumsum(per_pool)
        self._kmax = int(per_pool.max()) if per_pool.shape[0] else 0

        n_sym = len(self.symbols)
        counts = np.bincount(sym, minlength=n_sym)
        self._sym_pos_start = np.zeros(n_sym + 1, np.int64)
        self._sym_pos_start[1:] = np.cumsum(counts)
        self._sym_pos = np.argsort(sym, kind="stable").astype(np.int32)
        self._sym_tail_head = np.full(n_sym, -1, np.int32)
        self._sym_live = counts.astype(np.int64)
        self._tail_pools: set[int] = set()
        self._tail_len = 0
        self._tail_array: I64 | None = None
        self._pool_of: dict[PoolKey, int] | None = None
        self._pos_of: dict[tuple[int, int, int], int] | None = None
        self._account_index: dict[str, int] | None = None
        self._wallets = {k: v for k, v in self._wallets.items() if v != 0}

    def _entry_value(self, sym: NDArray[Any], entry: F64) -> F64:
        """Sign-folded ``e``: ``S·E`` (linear) or ``−CS/E`` (inverse); 0 for entry 0."""
        size = self._sym_size[sym]
        safe = np.where(entry != 0, entry, 1.0)
        inverse = np.where(entry != 0, -size / safe, 0.0)
        return cast(F64, np.where(self._sym_inverse[sym], inverse, size * entry))

    def bracket(self, symbol: str, notional: float) -> int:
        """The tier index the sweep uses for ``notional`` of ``symbol`` (``floor < N ≤ cap``)."""
        s = self._sym_index[symbol]
        base = self._sym_base[s]
        return int(_bracket(float(notional), base, self._tier_cap) - base)

    # ----------------------------------------------------------------- sizes and names
    @property
    def n_accounts(self) -> int:
        return self._n_accounts

    @property
    def n_positions(self) -> int:
        """Open positions."""
        return int(np.count_nonzero(self._pos_qty[: self._n_pos]))

    @property
    def n_pools(self) -> int:
        """Pools, counting those whose positions have all closed since the last compaction."""
        return self._n_pools

    def account_id(self, account: int) -> str:
        return self._account_ids[account] if self._account_ids is not None else str(account)

    def symbol_holders(self, symbol: str) -> int:
        """Open positions in ``symbol``."""
        return int(self._sym_live[self._sym_index[symbol]])

    def describe(self, pool: int) -> tuple[str, str, str | None, PositionSide | None]:
        """``(account_id, asset, symbol, side)`` of a pool (symbol and side None: cross)."""
        s = int(self._pool_symbol[pool])
        return (
            self.account_id(int(self._pool_account[pool])),
            self.assets[int(self._pool_asset[pool])],
            None if s < 0 else self.symbols[s],
            None if s < 0 else SIDES[int(self._pool_side[pool])],
        )

    def state(self) -> dict[tuple[str, str, str | None, str | None], tuple[float, list[Any]]]:
        """Every pool with an open position or a wallet: wallet and sorted open positions
        ``(symbol, side, qty, entry)`` (for tests and debugging)."""
        out: dict[tuple[str, str, str | None, str | None], tuple[float, list[Any]]] = {}
        positions: dict[int, list[Any]] = {}
        for i in np.flatnonzero(self._pos_qty[: self._n_pos]):
            row = (
                self.symbols[int(self._pos_key[i]) >> _SLOT_BITS],
                SIDES[int(self._pos_side[i])].value,
                float(self._pos_qty[i]),
                float(self._pos_entry[i]),
            )
            positions.setdefault(int(self._pos_pool[i]), []).append(row)
        for p in range(self._n_pools):
            mine = sorted(positions.get(p, []))
            wallet = float(self._pool_wallet[p])
            if mine or wallet != 0:
                aid, asset, sym, side = self.describe(p)
                out[(aid, asset, sym, None if side is None else side.value)] = (wallet, mine)
        return out

    # ----------------------------------------------------------------- the sweep
    def marks_array(self, marks: Marks) -> F64:
        """Marks by symbol index; every symbol with an open position needs a positive one."""
        if isinstance(marks, np.ndarray):
            out = np.asarray(marks, np.float64)
            if out.shape != (len(self.symbols),):
                raise ValueError(f"marks must have shape ({len(self.symbols)},)")
        else:
            out = np.full(len(self.symbols), np.nan)
            for name, price in marks.items():
                k = self._sym_index.get(name)
                if k is not None:
                    out[k] = float(price)
        bad = (self._sym_live > 0) & ~((out > 0) & np.isfinite(out))
        if bad.any():
            names = ", ".join(self.symbols[k] for k in np.flatnonzero(bad)[:10])
            raise ValueError(f"a positive mark price is needed for {names}")
        return out

    def _symbol_terms(self, marks: Marks) -> F64:
        """Per symbol ``a = σ·S·P`` or ``σ·CS/P`` (0 without a mark: nobody holds it)."""
        prices = self.marks_array(marks)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(self._sym_inverse, self._sym_size / prices, self._sym_size * prices)
        return cast(F64, np.where(np.isfinite(a), a, 0.0) * self._sym_sigma)

    def flagged(self, marks: Marks, symbol: str | None = None, *, headroom: float = 0.0) -> I64:
        """Pools (indices, ascending) within the error bound of
        ``margin balance ≤ MM·(1 + headroom)``: every pool the exact path would liquidate.

        With ``symbol``, only the pools holding an open position in it are re-checked (what a
        tick of that symbol can change); ``marks`` still needs every symbol those pools hold.
        """
        if not headroom >= 0:
            raise ValueError(f"headroom must be ≥ 0, got {headroom}")
        sym_a = self._symbol_terms(marks)
        if symbol is not None:
            return self._symbol_pools(symbol, sym_a, headroom)
        n_pos = self._n_pos
        out = np.empty(self._n_main_pools, np.int64)
        count = _sweep_main(
            self._n_main_pools,
            self._pool_pos_start,
            self._pool_wallet[: self._n_pools],
            self._pos_key[:n_pos],
            self._pos_qty[:n_pos],
            self._pos_ev[:n_pos],
            sym_a,
            self._sym_base,
            self._tier_cap,
            self._tier_mc,
            self._kmax,
            float(headroom),
            out,
        )
        pools = out[:count]
        if not self._tail_pools:
            return pools
        pools = pools[~self._pool_has_tail[pools]]  # those are swept by their chains
        tail = self._run_pools(self._tail(), sym_a, headroom, keep_all=False)[0]
        return cast(I64, np.union1d(pools, tail))

    def _symbol_pools(self, symbol: str, sym_a: F64, headroom: float) -> I64:
        n_pos = self._n_pos
        self._tick += 1
        pools = _symbol_pools(
            self._sym_index[symbol],
            self._sym_pos_start,
            self._sym_pos,
            self._sym_tail_head,
            self._pos_next_sym[:n_pos],
            self._pos_pool[:n_pos],
            self._pos_qty[:n_pos],
            self._stamp,
            self._tick,
        )
        pools.sort()
        return self._run_pools(pools, sym_a, headroom, keep_all=False)[0]

    def _tail(self) -> I64:
        if self._tail_array is None:
            self._tail_array = np.array(sorted(self._tail_pools), np.int64)
        return self._tail_array

    def _run_pools(
        self, pools: I64, sym_a: F64, headroom: float, *, keep_all: bool
    ) -> tuple[I64, F64, F64]:
        n = pools.shape[0]
        out = (np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.float64))
        n_pos = self._n_pos
        count = _sweep_pools(
            pools,
            self._n_main_pools,
            self._pool_pos_start,
            self._pool_tail_head[: self._n_pools],
            self._pos_next_pool[:n_pos],
            self._pool_wallet[: self._n_pools],
            self._pos_key[:n_pos],
            self._pos_qty[:n_pos],
            self._pos_ev[:n_pos],
            sym_a,
            self._sym_base,
            self._tier_cap,
            self._tier_mc,
            float(headroom),
            keep_all,
            *out,
        )
        return out[0][:count], out[1][:count], out[2][:count]

    def figures(self, pools: I64, marks: Marks) -> tuple[F64, F64]:
        """Float margin balance and maintenance margin of ``pools`` (estimates, for ordering)."""
        _, balance, mm = self._run_pools(
            np.asarray(pools, np.int64), self._symbol_terms(marks), 0.0, keep_all=True
        )
        return balance, mm

    def candidates(
        self, marks: Marks, symbol: str | None = None, *, headroom: float = 0.0
    ) -> list[Candidate]:
        """:meth:`flagged` as named rows, to be confirmed on the exact path (:func:`confirm`)."""
        pools = self.flagged(marks, symbol, headroom=headroom)
        balance, mm = self.figures(pools, marks)
        out = []
        for p, b, m in zip(pools.tolist(), balance.tolist(), mm.tolist(), strict=True):
            aid, asset, sym, side = self.describe(p)
            out.append(Candidate(aid, asset, sym, side, b, m))
        return out

    def liquidatable(
        self,
        accounts: Mapping[str, Account],
        marks: Mapping[str, Decimal],
        symbol: str | None = None,
    ) -> list[Candidate]:
        """The candidates the exact path confirms: the pools to liquidate now."""
        return confirm(accounts, self.candidates(marks, symbol), marks)

    # ----------------------------------------------------------------- incremental updates
    def apply(self, events: Iterable[Event]) -> None:
        """Follow ``PositionChanged`` (quantity, entry, margin mode) and ``LedgerPosted``
        (``{id}:futures`` and ``{id}:isolated:{symbol}:{side}`` wallets); others are ignored."""
        for event in events:
            if isinstance(event, PositionChanged):
                self._position_changed(event)
            elif isinstance(event, LedgerPosted):
                self._posted(event.debit, event.asset, -event.amount)
                self._posted(event.credit, event.asset, event.amount)

    def _maps(self) -> tuple[dict[str, int], dict[PoolKey, int], dict[tuple[int, int, int], int]]:
        """Ids and keys to indices, built on first use after each compaction."""
        if self._account_index is None or self._pool_of is None or self._pos_of is None:
            if self._account_ids is None:
                self._account_ids = [str(a) for a in range(self._n_accounts)]
            self._account_index = {aid: k for k, aid in enumerate(self._account_ids)}
            n, m = self._n_pools, self._n_pos
            columns = (self._pool_account, self._pool_asset, self._pool_symbol, self._pool_side)
            self._pool_of = {
                key: p for p, key in enumerate(zip(*(c[:n].tolist() for c in columns), strict=True))
            }
            accounts = self._pool_account[self._pos_pool[:m]].tolist()
            symbols = (self._pos_key[:m] >> _SLOT_BITS).tolist()
            sides = self._pos_side[:m].tolist()
            self._pos_of = {
                (a, s, side): i
                for i, (a, s, side, q) in enumerate(
                    zip(accounts, symbols, sides, self._pos_qty[:m].tolist(), strict=True)
                )
                if q != 0
            }
        return self._account_index, self._pool_of, self._pos_of

    def _account(self, account_id: str) -> int:
        index, _, _ = self._maps()
        a = index.get(account_id)
        if a is None:
            a = index[account_id] = self._n_accounts
            assert self._account_ids is not None
            self._account_ids.append(account_id)
            self._n_accounts += 1
        return a

    def _pool(self, key: PoolKey) -> int:
        _, pool_of, _ = self._maps()
        p = pool_of.get(key)
        if p is None:
            p = pool_of[key] = self._n_pools
            need = p + 1
            self._pool_account = _grown(self._pool_account, need)
            self._pool_asset = _grown(self._pool_asset, need)
            self._pool_symbol = _grown(self._pool_symbol, need)
            self._pool_side = _grown(self._pool_side, need)
            self._pool_wallet = _grown(self._pool_wallet, need)
            self._pool_tail_head = _grown(self._pool_tail_head, need, -1)
            self._pool_has_tail = _grown(self._pool_has_tail, need, False)
            self._stamp = _grown(self._stamp, need)
            self._pool_account[p], self._pool_asset[p], self._pool_symbol[p] = key[:3]
            self._pool_side[p] = key[3]
            self._pool_wallet[p] = 0.0
            self._n_pools = need
        return p

    def _posted(self, name: str, asset: str, delta: Decimal) -> None:
        if name.endswith(_FUTURES):
            account_id, symbol, side = name[: -len(_FUTURES)], None, 0
        elif _ISOLATED in name:
            account_id, _, symbol, side_name = name.rsplit(":", 3)
            side = _SIDE_CODE[side_name]
        else:
            return
        k = self._asset_index.get(asset)
        if k is None:
            return  # no instrument is margined in this asset
        s = -1 if symbol is None else self._sym_index[symbol]
        key = (self._account(account_id), k, s, side)
        p = self._pool(key)
        exact = self._wallets.get(key)
        if exact is None:
            exact = Decimal(float(self._pool_wallet[p]))  # a float input is its exact value
        exact += delta
        self._wallets[key] = exact
        self._pool_wallet[p] = float(exact)

    def _position_changed(self, event: PositionChanged) -> None:
        a = self._account(event.account_id)
        s = self._sym_index[event.symbol]
        side = _SIDE_CODE[event.position_side]
        _, _, pos_of = self._maps()
        slot = pos_of.get((a, s, side))
        was_open = slot is not None and self._pos_qty[slot] != 0
        qty = float(event.qty)
        if qty == 0:
            if slot is not None and was_open:
                self._pos_qty[slot] = 0.0
                self._sym_live[s] -= 1
            return
        if not event.entry_price > 0:
            raise ValueError(f"{event.symbol}: an open position needs an entry price > 0")
        asset = int(self._sym_asset[s])
        isolated = event.margin_mode == MarginMode.ISOLATED.value
        p = self._pool((a, asset, s, side) if isolated else (a, asset, -1, 0))
        entry = float(event.entry_price)
        ev = float(self._entry_value(np.array([s]), np.array([entry]))[0])
        if slot is not None and int(self._pos_pool[slot]) == p:
            self._pos_qty[slot], self._pos_entry[slot], self._pos_ev[slot] = qty, entry, ev
            self._sym_live[s] += 0 if was_open else 1
            return
        if slot is not None and was_open:  # another pool now (margin mode): retire the slot
            self._pos_qty[slot] = 0.0
            self._sym_live[s] -= 1
        pos_of[(a, s, side)] = self._append(p, s, side, qty, entry, ev)
        self._sym_live[s] += 1
        if self._tail_len > max(self.compact_min, self._n_main_pos // 16):
            self._compact()

    def _append(self, p: int, s: int, side: int, qty: float, entry: float, ev: float) -> int:
        """A new position at the tail, chained to its pool and its symbol."""
        i = self._n_pos
        need = i + 1
        self._pos_pool = _grown(self._pos_pool, need)
        self._pos_key = _grown(self._pos_key, need)
        self._pos_side = _grown(self._pos_side, need)
        self._pos_qty = _grown(self._pos_qty, need)
        self._pos_entry = _grown(self._pos_entry, need)
        self._pos_ev = _grown(self._pos_ev, need)
        self._pos_next_pool = _grown(self._pos_next_pool, need, -1)
        self._pos_next_sym = _grown(self._pos_next_sym, need, -1)
        self._pos_pool[i], self._pos_side[i] = p, side
        self._pos_key[i] = (s << _SLOT_BITS) | (p & (_BLOCK - 1))
        self._pos_qty[i], self._pos_entry[i], self._pos_ev[i] = qty, entry, ev
        self._pos_next_pool[i] = self._pool_tail_head[p]
        self._pool_tail_head[p] = i
        self._pos_next_sym[i] = self._sym_tail_head[s]
        self._sym_tail_head[s] = i
        self._pool_has_tail[p] = True
        if p not in self._tail_pools:
            self._tail_pools.add(p)
            self._tail_array = None
        self._n_pos = need
        self._tail_len += 1
        return i


def _parse_wallet(
    name: str,
    asset: str,
    accounts: Mapping[str, int],
    symbols: Mapping[str, int],
    assets: Sequence[str],
    instruments: Sequence[Instrument],
) -> PoolKey | None:
    """The pool a ledger account is the wallet of, or None (spot, external, exchange)."""
    if asset not in assets:
        return None
    if name.endswith(_FUTURES):
        a = accounts.get(name[: -len(_FUTURES)])
        return None if a is None else (a, assets.index(asset), -1, 0)
    if _ISOLATED in name:
        account_id, _, symbol, side = name.rsplit(":", 3)
        a = accounts.get(account_id)
        s = symbols.get(symbol)
        if a is None or s is None or side not in _SIDE_CODE:
            return None
        if instruments[s].margin_asset.name != asset:
            return None
        return (a, assets.index(asset), s, _SIDE_CODE[side])
    return None


def confirm(
    accounts: Mapping[str, Account],
    candidates: Iterable[Candidate],
    marks: Mapping[str, Decimal],
) -> list[Candidate]:
    """The candidates whose pool the exact path (``Account.figures(marks, prices=False)``)
    finds liquidatable; each account's figures are computed once."""
    figures: dict[str, AccountFigures] = {}
    out = []
    for c in candidates:
        f = figures.get(c.account_id)
        if f is None:
            f = figures[c.account_id] = accounts[c.account_id].figures(marks, prices=False)
        if c.symbol is None:
            pool = f.pools.get(c.asset)
            hit = pool is not None and pool.liquidatable
        else:
            hit = any(
                p.symbol == c.symbol
                and p.side is c.position_side
                and p.margin_mode is MarginMode.ISOLATED
                and p.liquidatable
                for p in f.positions
            )
        if hit:
            out.append(c)
    return out
