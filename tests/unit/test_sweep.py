"""The margin sweep (float fast path) against hand-computed figures and the exact path."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from isocross.catalogue import load_catalogue
from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.engine.events import LedgerPosted, PositionChanged
from isocross.engine.market_maker import MarketMaker
from isocross.engine.orders import OrderType
from isocross.margin.account import Account
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.instrument import Tier, TierTable
from isocross.risk.sweep import Candidate, MarginSweep, confirm

D = Decimal
BOTH = PositionSide.BOTH


def account(ex: Exchange, name: str, *, hedge: bool = False) -> Account:
    assert ex.handle(c.OpenAccount(name, "VIP0")).accepted
    acct = ex.accounts[name]
    if hedge:
        acct.set_position_mode(PositionMode.HEDGE)
    return acct


def pools(cands: list[Candidate]) -> set[tuple[str, str, str | None]]:
    return {(x.account_id, x.asset, x.symbol) for x in cands}


def exact_liquidatable(ex: Exchange, marks: dict[str, Decimal]) -> set[tuple[str, str, str | None]]:
    out: set[tuple[str, str, str | None]] = set()
    for aid, acct in ex.accounts.items():
        if not acct.positions():
            continue
        figures = acct.figures(marks, prices=False)
        out |= {(aid, a, None) for a, pool in figures.pools.items() if pool.liquidatable}
        out |= {
            (aid, p.margin_asset, p.symbol)
            for p in figures.positions
            if p.margin_mode is MarginMode.ISOLATED and p.liquidatable
        }
    return out


# --------------------------------------------------------------------------- hand-computed
def btc_long(mode: MarginMode) -> Exchange:
    """1 BTCUSDT long at 50,000 backed by 399.2 USDT.

    Tier 1 (N ≤ 50,000): mmr 0.4 %, cum 0. At mark 49,800: PnL = −200, margin balance = 199.2,
    MM = 49,800 × 0.004 = 199.2: exactly at liquidation. At 49,800.1 (one tick up): balance
    199.3, MM 199.2004, 0.0996 USDT clear of it.
    """
    ex = Exchange()
    acct = account(ex, "t")
    if mode is MarginMode.ISOLATED:
        acct.restore_position(Position("BTCUSDT", BOTH, D(1), D(50_000), mode, 20), D("399.2"))
    else:
        acct.restore_cross_wallet("USDT", D("399.2"))
        acct.restore_position(Position("BTCUSDT", BOTH, D(1), D(50_000), mode, 20))
    return ex


@pytest.mark.parametrize("mode", [MarginMode.CROSS, MarginMode.ISOLATED])
def test_at_the_liquidation_price_flagged_one_tick_safer_not(mode: MarginMode) -> None:
    ex = btc_long(mode)
    sweep = MarginSweep.from_exchange(ex)
    symbol = "BTCUSDT" if mode is MarginMode.ISOLATED else None
    at = {"BTCUSDT": D(49_800)}
    position = ex.accounts["t"].figures(at, prices=False).position("BTCUSDT")
    assert (position.maintenance_margin, position.unrealized_pnl) == (D("199.2"), D(-200))
    cands = sweep.candidates(at)
    assert pools(cands) == {("t", "USDT", symbol)}
    assert cands[0].margin_balance == pytest.approx(199.2)
    assert cands[0].maintenance_margin == pytest.approx(199.2)
    assert confirm(ex.accounts, cands, at) == cands
    assert pools(sweep.candidates({"BTCUSDT": D("49799.9")})) == {("t", "USDT", symbol)}
    assert sweep.candidates({"BTCUSDT": D("49800.1")}) == []
    assert sweep.candidates({"BTCUSDT": D("49800.1")}, "BTCUSDT") == []
    assert pools(sweep.candidates(at, "BTCUSDT")) == {("t", "USDT", symbol)}


def test_inverse_long_at_its_liquidation_price() -> None:
    """10 BTCUSD_PERP contracts (100 USD each) long at 50,000, 0.0051 BTC of isolated margin.

    At mark 40,000: N = 1000/40000 = 0.025 BTC (tier 1, mmr 0.4 %): MM = 0.0001 BTC;
    PnL = 1000·(1/50000 − 1/40000) = −0.005 BTC; balance 0.0001 = MM. At 40,000.1 the balance
    is 0.00010000625 against MM 0.00009999975 (6.5·10⁻⁹ BTC clear).
    """
    ex = Exchange()
    acct = account(ex, "t")
    pos = Position("BTCUSD_PERP", BOTH, D(10), D(50_000), MarginMode.ISOLATED, 20)
    acct.restore_position(pos, D("0.0051"))
    sweep = MarginSweep.from_exchange(ex)
    at = {"BTCUSD_PERP": D(40_000)}
    assert ex.accounts["t"].figures(at, prices=False).positions[0].liquidatable
    assert pools(sweep.candidates(at)) == {("t", "BTC", "BTCUSD_PERP")}
    safer = {"BTCUSD_PERP": D("40000.1")}
    assert not ex.accounts["t"].figures(safer, prices=False).positions[0].liquidatable
    assert sweep.candidates(safer) == []


def test_inverse_short_and_tier_two() -> None:
    """−600 contracts short at 10,000 (inverse); at 9,000: N = 60000/9000 = 6.666… BTC, tier 2
    (5 < N ≤ 10: mmr 0.5 %, cum 0.005): MM = 0.028333…; PnL = −60000·(1/10000 − 1/9000)
    = 0.666… BTC. Wallet = MM − PnL puts it exactly at liquidation."""
    ex = Exchange()
    acct = account(ex, "t")
    inst = ex.catalogue.instrument("BTCUSD_PERP")
    qty, mark = D(-600), D(9000)
    mm = inst.maintenance_margin(qty, mark)
    pnl = inst.unrealized_pnl(qty, D(10_000), mark)
    assert mm == D(60_000) / 9000 * D("0.005") - D("0.005")
    acct.restore_cross_wallet("BTC", mm - pnl)
    acct.restore_position(Position("BTCUSD_PERP", BOTH, qty, D(10_000), MarginMode.CROSS, 20))
    sweep = MarginSweep.from_exchange(ex)
    assert pools(sweep.candidates({"BTCUSD_PERP": mark})) == {("t", "BTC", None)}
    assert sweep.candidates({"BTCUSD_PERP": D("8999.9")}) == []  # a short gains as price falls


def test_bracket_is_floor_below_notional_at_most_cap() -> None:
    ex = Exchange()
    sweep = MarginSweep.from_exchange(ex)
    for symbol, inst in ex.catalogue.instruments.items():
        caps = [float(t) for t in inst.tiers.caps]
        for n in [0.0, 1e-9, *caps, *(np.nextafter(x, np.inf) for x in caps), 1e15]:
            assert sweep.bracket(symbol, n) == inst.tiers.index_for(D(n)), (symbol, n)


# --------------------------------------------------------------------------- pools
def test_pools_are_separate_per_asset_and_isolated_position() -> None:
    """A hedge account: BTCUSDT long and short legs cross (USDT pool), an ETHUSDT isolated long,
    a BTC-margined inverse cross position. At BTCUSDT 49,000 the USDT pool holds 100 + 2·(−1,500)
    + 3,000 = 100 against MM 440 + 196: only it is liquidatable. At ETHUSDT 2,711.5 the ETH
    position holds 11.5 against MM 10.846 (0.4 %): within 10 % of it."""
    ex = Exchange()
    acct = account(ex, "h", hedge=True)
    acct.restore_cross_wallet("USDT", D(100))
    acct.restore_cross_wallet("BTC", D(1))
    cross, iso = MarginMode.CROSS, MarginMode.ISOLATED
    long, short = PositionSide.LONG, PositionSide.SHORT
    acct.restore_position(Position("BTCUSDT", long, D(2), D(50_500), cross, 20))
    acct.restore_position(Position("BTCUSDT", short, D(-1), D(52_000), cross, 20))
    acct.restore_position(Position("ETHUSDT", long, D(1), D(3_000), iso, 10), D(300))
    acct.restore_position(Position("BTCUSD_PERP", long, D(5), D(50_000), cross, 20))
    marks = {"BTCUSDT": D(49_000), "ETHUSDT": D(3_000), "BTCUSD_PERP": D(49_000)}
    sweep = MarginSweep.from_exchange(ex)
    cands = sweep.candidates(marks)
    assert pools(cands) == {("h", "USDT", None)} == exact_liquidatable(ex, marks)
    assert sweep.liquidatable(ex.accounts, marks) == cands
    assert pools(sweep.candidates(marks, "ETHUSDT")) == set()
    assert pools(sweep.candidates(marks, "BTCUSDT")) == {("h", "USDT", None)}
    # Margin calls: flag what is within 10 % of its maintenance margin.
    near = {"BTCUSDT": D(50_500), "ETHUSDT": D("2711.5"), "BTCUSD_PERP": D(49_000)}
    assert pools(sweep.candidates(near)) == set()
    assert pools(sweep.candidates(near, headroom=0.1)) == {("h", "USDT", "ETHUSDT")}


def test_marks_are_needed_for_held_symbols_only() -> None:
    ex = btc_long(MarginMode.CROSS)
    sweep = MarginSweep.from_exchange(ex)
    with pytest.raises(ValueError, match="BTCUSDT"):
        sweep.flagged({"ETHUSDT": D(3000)})
    with pytest.raises(ValueError, match="BTCUSDT"):
        sweep.flagged({"BTCUSDT": D(0)})
    assert sweep.flagged({"BTCUSDT": D(60_000)}).size == 0
    array = np.full(len(sweep.symbols), np.nan)
    array[sweep.symbols.index("BTCUSDT")] = 49_800.0
    assert sweep.flagged(array).tolist() == sweep.flagged({"BTCUSDT": D(49_800)}).tolist()


def test_tier_tables_must_be_continuous() -> None:
    inst = load_catalogue().instrument("BTCUSDT")
    broken = TierTable.of(
        [
            Tier(D(0), D(1000), 50, D("0.01"), D(0)),
            Tier(D(1000), None, 20, D("0.02"), D(5)),  # the recurrence gives 10
        ],
        check_cum=False,
    )
    with pytest.raises(ValueError, match="recurrence"):
        MarginSweep.from_arrays(
            [inst.with_tiers(broken)],
            np.array([0, 0]),
            np.array([], np.int64),
            np.array([]),
            np.array([]),
            np.array([], bool),
            np.array([]),
            {},
        )


def test_from_arrays_matches_from_exchange() -> None:
    ex = Exchange()
    insts = list(ex.catalogue.instruments.values())
    names = [i.symbol for i in insts]
    a = account(ex, "0")
    a.restore_cross_wallet("USDT", D(1000))
    a.restore_position(Position("BTCUSDT", BOTH, D(1), D(50_000), MarginMode.CROSS, 20))
    a.restore_position(Position("ETHUSDT", BOTH, D(-2), D(3_000), MarginMode.ISOLATED, 20), D(50))
    account(ex, "1").restore_cross_wallet("BTC", D(2))
    sweep = MarginSweep.from_arrays(
        insts,
        np.array([0, 2, 2]),
        np.array([names.index("BTCUSDT"), names.index("ETHUSDT")]),
        np.array([1.0, -2.0]),
        np.array([50_000.0, 3_000.0]),
        np.array([False, True]),
        np.array([0.0, 50.0]),
        {"USDT": np.array([1000.0, 0.0]), "BTC": np.array([0.0, 2.0])},
    )
    assert sweep.state() == MarginSweep.from_exchange(ex).state()
    marks = {"BTCUSDT": D(49_100), "ETHUSDT": D(3_030)}
    expected = pools(MarginSweep.from_exchange(ex).candidates(marks))
    assert pools(sweep.candidates(marks)) == expected == exact_liquidatable(ex, marks)


# --------------------------------------------------------------------------- incremental
@pytest.mark.parametrize("compact_min", [4096, 1])
def test_apply_follows_the_exchange(compact_min: int) -> None:
    """Events of trades, isolated margin, mode changes, closes and new accounts keep the sweep
    equal to one rebuilt from the exchange, whether the tail is folded in often or never."""
    ex = Exchange()
    for who, tier in (("mm", "MM"), ("a", "VIP0"), ("b", "VIP0")):
        ex.handle(c.OpenAccount(who, tier))
        ex.handle(c.Deposit(who, "USDT", D(100_000)))
        ex.handle(c.Transfer(who, "USDT", D(100_000)))
    ex.handle(c.SetMarkPrice("BTCUSDT", D(50_000)))
    maker = MarketMaker("mm", "BTCUSDT", D(5))
    sweep = MarginSweep.from_exchange(ex)
    sweep.compact_min = compact_min
    seen: set[tuple[str, str, str | None]] = set()

    def run(command: c.Command, *, must: bool = True) -> None:
        out = ex.handle(command)
        assert out.accepted or not must, out.error
        sweep.apply(out.events)
        rebuilt = MarginSweep.from_exchange(ex)
        assert sweep.state() == rebuilt.state()
        for price in (30_000, 45_000, 48_000, 50_000, 55_000, 70_000):
            marks = {"BTCUSDT": D(price)}
            got = pools(sweep.candidates(marks))
            seen.update(got)
            assert got == pools(rebuilt.candidates(marks))
            assert got >= exact_liquidatable(ex, marks)
            assert pools(sweep.candidates(marks, "BTCUSDT")) == got

    def quote() -> None:
        for command in maker.quotes(ex, D(50_000)):
            run(command, must=False)

    quote()
    run(c.PlaceOrder("a", "BTCUSDT", Side.BUY, OrderType.MARKET, D("1")))
    quote()
    run(c.SetMarginMode("b", "BTCUSDT", MarginMode.ISOLATED))
    run(c.SetLeverage("b", "BTCUSDT", 50))
    run(c.PlaceOrder("b", "BTCUSDT", Side.SELL, OrderType.MARKET, D("2")))
    quote()
    run(c.AdjustIsolatedMargin("b", "BTCUSDT", D(500), add=True))
    run(c.PlaceOrder("a", "BTCUSDT", Side.SELL, OrderType.MARKET, D("1")))  # a closes
    quote()
    run(c.SetMarginMode("a", "BTCUSDT", MarginMode.ISOLATED))  # and reopens isolated
    run(c.PlaceOrder("a", "BTCUSDT", Side.SELL, OrderType.MARKET, D("0.5")))
    quote()
    run(c.OpenAccount("c", "VIP0"))
    run(c.Deposit("c", "USDT", D(3_000)))
    run(c.Transfer("c", "USDT", D(3_000)))
    run(c.PlaceOrder("c", "BTCUSDT", Side.BUY, OrderType.MARKET, D("1")))
    quote()
    assert set(sweep.state()) >= {
        ("a", "USDT", "BTCUSDT", "BOTH"),
        ("b", "USDT", "BTCUSDT", "BOTH"),
        ("c", "USDT", None, None),
    }
    run(c.PlaceOrder("b", "BTCUSDT", Side.BUY, OrderType.MARKET, D("2")))  # b closes
    assert ("b", "USDT", "BTCUSDT", "BOTH") not in sweep.state()
    assert seen >= {("a", "USDT", "BTCUSDT"), ("b", "USDT", "BTCUSDT"), ("c", "USDT", None)}
    sweep.compact()
    assert sweep.state() == MarginSweep.from_exchange(ex).state()


def test_apply_grows_a_sweep_built_from_arrays() -> None:
    """New accounts and positions arrive as events; tail pools are swept by their chains and
    folded in by compaction without changing any answer."""
    insts = list(load_catalogue().instruments.values())
    btc = [i.symbol for i in insts].index("BTCUSDT")
    sweep = MarginSweep.from_arrays(
        insts,
        np.array([0, 1]),
        np.array([btc]),
        np.array([1.0]),
        np.array([50_000.0]),
        np.array([False]),
        np.array([0.0]),
        {"USDT": np.array([399.2])},
    )
    marks = {"BTCUSDT": D(49_800)}
    assert pools(sweep.candidates(marks)) == {("0", "USDT", None)}
    events = [
        LedgerPosted(1, 0, "external:deposits", "new:futures", "USDT", D("0.1"), "x"),
        LedgerPosted(1, 0, "new:futures", "new:isolated:BTCUSDT:BOTH", "USDT", D("0.1"), "x"),
        PositionChanged(1, 0, "new", "BTCUSDT", "BOTH", D("-0.01"), D(49_790), "isolated", 20),
        PositionChanged(1, 0, "0", "ETHUSDT", "BOTH", D(1), D(3_000), "cross", 20),
        LedgerPosted(1, 0, "external:deposits", "0:futures", "USDT", D(500), "x"),
    ]
    sweep.apply(events)
    # "new": PnL −0.01·10 = −0.1, balance 0, MM 1.992: liquidatable. "0": ETH adds 500 − 10.
    eth = {"BTCUSDT": D(49_800), "ETHUSDT": D(2_990)}
    assert pools(sweep.candidates(eth)) == {("new", "USDT", "BTCUSDT")}
    assert pools(sweep.candidates(eth, "ETHUSDT")) == set()
    before = sweep.state()
    sweep.compact()
    assert sweep.state() == before
    assert pools(sweep.candidates(eth)) == {("new", "USDT", "BTCUSDT")}
    sweep.apply([PositionChanged(2, 0, "new", "BTCUSDT", "BOTH", D(0), D(0), "isolated", 20)])
    assert sweep.candidates(eth) == []
