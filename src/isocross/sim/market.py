"""The simulator's market: every symbol's bars aligned on one grid, as exact decimals.

:func:`load_market` reads each symbol's files (:mod:`isocross.sim.files`), re-stamps stand-in
series, resamples to the bars' step and clips to the window. Every symbol of a market must cover
the whole window on the same bar grid; a mark-price series must have the bars' step (finer series
are resampled); a funding series must cover the window at its own regular interval.
:func:`scripted_market` builds a synthetic path, :func:`tile` repeats a sample.

**Exact prices.** Prices are decimals; a float64 file holds the nearest binary value. Each
series is read as the shortest decimal of at most :data:`MAX_PLACES` places that every value
rounds to (``places``), and its floats are replaced by the correctly rounded floats of those
decimals, so the float fast path and the Decimal exact path see the same prices:
:meth:`Market.price` returns the decimal ``round(x·10^places)·10^−places`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np

from isocross.sim.errors import SimInputError
from isocross.sim.files import (
    CLOSE,
    F64,
    HIGH,
    HOUR,
    I64,
    LOW,
    OPEN,
    UNITS,
    Candles,
    format_duration,
    iso,
    read_candles,
    read_funding,
)

MAX_PLACES = 10
"""Most decimal places a price is read to (beyond it a value is rounded half-even)."""


# ------------------------------------------------------------------------------ exact prices
def canonical(values: F64, places_hint: int | None = None) -> tuple[F64, int]:
    """``(floats, places)``: the fewest decimal places (≤ :data:`MAX_PLACES`) every value is
    within float error of, and the correctly rounded floats of those decimals."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values.copy(), 0
    start = 0 if places_hint is None else places_hint
    for places in range(start, MAX_PLACES + 1):
        scaled = values * 10.0**places
        if np.abs(scaled).max() >= 2.0**52:
            places = max(places - 1, 0)
            break
        nearest = np.rint(scaled)
        if np.all(np.abs(scaled - nearest) <= np.maximum(1e-7, 8 * np.spacing(scaled))):
            return nearest / 10.0**places, places
    else:
        places = MAX_PLACES
    return np.rint(values * 10.0**places) / 10.0**places, places


@lru_cache(maxsize=4096)
def rate_decimal(value: float) -> Decimal:
    """A funding rate: the shortest decimal that rounds to the float (``repr``)."""
    return Decimal(repr(value))


def to_decimal(value: float, places: int) -> Decimal:
    """The exact decimal of a canonical float with ``places`` decimal places."""
    return Decimal(round(value * 10.0**places)).scaleb(-places)


def on_grid(values: F64, tick: Decimal) -> F64:
    """Round prices half-even to multiples of ``tick`` (correctly rounded floats)."""
    places = max(0, -tick.as_tuple().exponent)  # type: ignore[operator]
    units = int(tick.scaleb(places))
    ticks = np.rint(np.asarray(values) * 10.0**places / units)
    out: F64 = ticks * units / 10.0**places
    return out


# ------------------------------------------------------------------------------ the market
@dataclass(frozen=True, eq=False)
class Market:
    """Aligned bars of every symbol: struct-of-arrays, canonical floats (exact decimals)."""

    symbols: tuple[str, ...]
    time: I64
    """Bar open times, ms UTC, shape ``(n,)``."""
    step: int
    trade: F64
    """Trade (last-price) candles, shape ``(symbols, n, 4)``."""
    mark: F64
    """Mark-price candles (the trade candles where no mark series was given)."""
    trade_places: tuple[int, ...]
    mark_places: tuple[int, ...]
    funding: F64
    """Funding rate settled at each bar's open, shape ``(symbols, n)`` (0: none)."""
    has_mark: tuple[bool, ...]
    has_funding: tuple[bool, ...]
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.time)

    def index(self, symbol: str) -> int:
        return self.symbols.index(symbol)

    def price(self, s: int, t: int, col: int, *, mark: bool = False) -> Decimal:
        """The exact decimal price of symbol ``s`` at bar ``t``, column ``col``."""
        if mark:
            return to_decimal(float(self.mark[s, t, col]), self.mark_places[s])
        return to_decimal(float(self.trade[s, t, col]), self.trade_places[s])

    def rate(self, s: int, t: int) -> Decimal:
        """The funding rate at bar ``t`` as the shortest decimal of its float."""
        return rate_decimal(float(self.funding[s, t]))

    def funding_bars(self) -> I64:
        """Bars at which some symbol settles funding."""
        return np.flatnonzero(np.any(self.funding != 0, axis=0)).astype(np.int64)

    def window(self, start: int, stop: int) -> Market:
        """Bars ``start:stop`` (a view of the same arrays)."""
        return replace(
            self,
            time=self.time[start:stop],
            trade=self.trade[:, start:stop],
            mark=self.mark[:, start:stop],
            funding=self.funding[:, start:stop],
        )


def build_market(
    symbols: Sequence[str],
    time: I64,
    step: int,
    trade: F64,
    mark: F64 | None = None,
    funding: F64 | None = None,
    *,
    notes: Sequence[str] = (),
    sources: Sequence[str] = (),
    has_funding: Sequence[bool] | None = None,
    places: Sequence[int] | None = None,
) -> Market:
    """Assemble a market from raw arrays, canonicalizing every price series (``places``: the
    trade prices are known to have at most these decimal places, e.g. rounded to the tick)."""
    n_sym = len(symbols)
    if places is not None:
        scale = 10.0 ** np.asarray(places, dtype=np.float64)[:, None, None]
        trade_c = np.rint(trade * scale) / scale
        trade_places = list(places)
    else:
        trade_c = np.empty_like(trade, dtype=np.float64)
        trade_places = []
        for s in range(n_sym):
            values, p = canonical(trade[s].ravel())
            trade_c[s] = values.reshape(trade[s].shape)
            trade_places.append(p)
    if mark is None:
        mark_c, mark_places, has_mark = trade_c, list(trade_places), [False] * n_sym
    else:
        mark_c = np.empty_like(mark, dtype=np.float64)
        mark_places, has_mark = [], []
        for s in range(n_sym):
            same = bool(np.array_equal(mark[s], trade[s]))
            values, p = canonical(mark[s].ravel())
            mark_c[s] = values.reshape(mark[s].shape)
            mark_places.append(p)
            has_mark.append(not same)
    rates = np.zeros((n_sym, len(time))) if funding is None else np.asarray(funding, np.float64)
    flags = has_funding if has_funding is not None else [bool(np.any(r != 0)) for r in rates]
    return Market(
        tuple(symbols),
        np.asarray(time, dtype=np.int64),
        step,
        np.ascontiguousarray(trade_c),
        np.ascontiguousarray(mark_c),
        tuple(trade_places),
        tuple(mark_places),
        np.ascontiguousarray(rates),
        tuple(has_mark),
        tuple(flags),
        tuple(notes),
        tuple(sources),
    )


# ------------------------------------------------------------------------------ real data
@dataclass(frozen=True)
class SymbolSource:
    """Where one symbol's data comes from, and how a stand-in series is re-stamped."""

    symbol: str
    candles: Path
    mark: Path | None = None
    funding: Path | None = None
    shift_to: int | None = None
    """Re-stamp the series (candles, mark, funding) so that its first candle opens here."""
    rescale_to: Decimal | None = None
    """Scale prices so that the first candle opens at this price (rounded to ``tick``)."""
    tick: Decimal | None = None
    where: str = ""


def resample(candles: Candles, step: int, where: str) -> Candles:
    """Aggregate to ``step`` (a multiple of the series' step; epoch-aligned bins): open of the
    first, high max, low min, close of the last; incomplete edge bins are dropped."""
    own = candles.step
    if own == step or len(candles.time) == 0:
        return candles
    if own == 0 or step % own:
        raise SimInputError(
            where,
            f"{candles.source} steps by {format_duration(own)}, which does not divide the bars' "
            f"{format_duration(step)}",
        )
    bins = candles.time // step * step
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    counts = np.diff(np.r_[starts, len(bins)])
    keep = counts == step // own
    o = candles.ohlc[starts, OPEN]
    h = np.maximum.reduceat(candles.ohlc[:, HIGH], starts)
    lo = np.minimum.reduceat(candles.ohlc[:, LOW], starts)
    c = candles.ohlc[np.r_[starts[1:], len(bins)] - 1, CLOSE]
    ohlc = np.stack([o, h, lo, c], axis=1)[keep]
    return Candles(f"{candles.source} ({format_duration(step)})", bins[starts][keep], ohlc)


def _shifted(candles: Candles, offset: int, scale: float | None, tick: Decimal | None) -> Candles:
    ohlc = candles.ohlc
    if scale is not None:
        ohlc = ohlc * scale
        if tick is not None:
            ohlc = on_grid(ohlc, tick)
    return Candles(candles.source, candles.time + offset, ohlc)


def _clip(candles: Candles, start: int, end: int, where: str, what: str, step: int) -> Candles:
    inside = (candles.time >= start) & (candles.time < end)
    time = candles.time[inside]
    if len(time) == 0:
        raise SimInputError(
            where,
            f"{what} {candles.source} has no bars between {iso(start)} and {iso(end)} "
            f"(it covers {iso(int(candles.time[0]))} to {iso(int(candles.time[-1]))})",
        )
    if time[0] != start:
        raise SimInputError(
            where,
            f"{what} {candles.source} starts at {iso(int(time[0]))}, after the window start "
            f"{iso(start)}",
        )
    if time[-1] != end - step:
        raise SimInputError(
            where,
            f"{what} {candles.source} ends at {iso(int(time[-1]))}, before the window ends "
            f"({iso(end - step)} is the last bar)",
        )
    return Candles(candles.source, time, candles.ohlc[inside])


def load_market(
    sources: Sequence[SymbolSource],
    *,
    start: int | None = None,
    end: int | None = None,
    timeframe: int | None = None,
    funding: bool = True,
) -> Market:
    """Read, validate and align every symbol's files into one :class:`Market`.

    The window is ``[start, end)``; by default the span every symbol covers. ``timeframe``
    resamples the candles (and any finer mark series) to coarser bars.
    """
    raw: list[Candles] = []
    notes: list[str] = []
    restamps: list[tuple[int, float | None]] = []
    for src in sources:
        candles = read_candles(src.candles)
        offset, scale = _restamp(src, candles)
        restamps.append((offset, scale))
        candles = _shifted(candles, offset, scale, src.tick)
        if src.shift_to is not None or src.rescale_to is not None:
            notes.append(_stand_in_note(src, candles, offset))
        raw.append(candles)
    step = timeframe or max(c.step for c in raw)
    bars = []
    for src, candles in zip(sources, raw, strict=True):
        where = src.where or f"market.symbols.{src.symbol}"
        if candles.step > step:
            raise SimInputError(
                where,
                f"{candles.source} steps by {format_duration(candles.step)}, coarser than the "
                f"bars ({format_duration(step)})",
            )
        bars.append(resample(candles, step, where))
    lo = max(int(c.time[0]) for c in bars)
    hi = min(int(c.time[-1]) for c in bars) + step
    w_start = lo if start is None else -(-start // step) * step
    w_end = hi if end is None else end // step * step
    if w_end <= w_start:
        raise SimInputError(
            "market",
            f"the symbols' data do not overlap in the window ({iso(w_start)} to {iso(w_end)}); "
            + "; ".join(
                f"{s.symbol}: {iso(int(c.time[0]))} to {iso(int(c.time[-1]))}"
                for s, c in zip(sources, bars, strict=True)
            ),
        )
    n = (w_end - w_start) // step
    time = w_start + step * np.arange(n, dtype=np.int64)
    trade = np.empty((len(sources), n, 4))
    mark = np.empty((len(sources), n, 4))
    rates = np.zeros((len(sources), n))
    has_funding = []
    names = []
    for s, (src, candles) in enumerate(zip(sources, bars, strict=True)):
        where = src.where or f"market.symbols.{src.symbol}"
        clipped = _clip(candles, w_start, w_end, where, "candles", step)
        trade[s] = clipped.ohlc
        names.append(candles.source)
        offset, scale = restamps[s]
        if src.mark is not None:
            m = _shifted(read_candles(src.mark), offset, scale, None)
            if m.step > step:
                raise SimInputError(
                    f"{where}.mark",
                    f"{m.source} steps by {format_duration(m.step)}, coarser than the bars "
                    f"({format_duration(step)}): give marks at the bars' step or set "
                    f'market.timeframe = "{format_duration(m.step)}"',
                )
            mark[s] = _clip(
                resample(m, step, f"{where}.mark"),
                w_start,
                w_end,
                f"{where}.mark",
                "mark series",
                step,
            ).ohlc
        else:
            mark[s] = trade[s]
        if funding and src.funding is not None:
            stamps, values, fname = read_funding(src.funding)
            stamps = stamps + offset
            rates[s] = _funding_on_bars(stamps, values, time, step, f"{where}.funding", fname)
            has_funding.append(True)
        else:
            has_funding.append(False)
    return build_market(
        [s.symbol for s in sources],
        time,
        step,
        trade,
        mark,
        rates,
        notes=notes,
        sources=names,
        has_funding=has_funding,
    )


def _restamp(src: SymbolSource, candles: Candles) -> tuple[int, float | None]:
    offset = 0 if src.shift_to is None else src.shift_to - int(candles.time[0])
    scale = None
    if src.rescale_to is not None:
        scale = float(src.rescale_to) / float(candles.ohlc[0, OPEN])
    return offset, scale


def _stand_in_note(src: SymbolSource, candles: Candles, offset: int) -> str:
    parts = [f"{src.symbol} stands in with {candles.source}"]
    if offset:
        parts.append(f"re-stamped by {offset / UNITS['d']:+.2f} days")
    if src.rescale_to is not None:
        parts.append(f"prices scaled to open at {src.rescale_to}")
    return ", ".join(parts)


def _funding_on_bars(stamps: I64, rates: F64, time: I64, step: int, where: str, source: str) -> F64:
    """Rates summed onto the bar holding each stamp; the series must cover the window."""
    out = np.zeros(len(time))
    start, end = int(time[0]), int(time[-1]) + step
    interval = int(np.median(np.diff(stamps))) if len(stamps) > 1 else 8 * HOUR
    if stamps[0] > start + interval or stamps[-1] + interval < end:
        raise SimInputError(
            where,
            f"{source} covers {iso(int(stamps[0]))} to {iso(int(stamps[-1]))} but the window is "
            f"{iso(start)} to {iso(end)}: funding would be missing (turn funding off or shorten "
            "the window)",
        )
    inside = (stamps >= start) & (stamps < end)
    idx = (stamps[inside] - start) // step
    np.add.at(out, idx, rates[inside])
    return out


# ------------------------------------------------------------------------------ scripted
@dataclass(frozen=True)
class Segment:
    """Move linearly to ``targets`` (exact prices) over ``bars`` bars."""

    bars: int
    targets: dict[str, Decimal]


def scripted_market(
    start: int,
    step: int,
    prices: dict[str, Decimal],
    segments: Sequence[Segment],
    ticks: dict[str, Decimal],
) -> Market:
    """A synthetic path: one flat bar at ``prices``, then each segment's straight line.

    Closes are the exact interpolation rounded half-even to the symbol's tick; each bar opens
    at the previous close, high/low are the larger/smaller of open and close.
    """
    symbols = list(prices)
    closes: list[list[Decimal]] = [[prices[s]] for s in symbols]
    for seg in segments:
        for i, s in enumerate(symbols):
            a = closes[i][-1]
            b = seg.targets.get(s, a)
            for k in range(1, seg.bars + 1):
                value = a + (b - a) * k / seg.bars
                closes[i].append(value.quantize(ticks[s], rounding=ROUND_HALF_EVEN))
    n = len(closes[0])
    trade = np.empty((len(symbols), n, 4))
    for i in range(len(symbols)):
        c = np.array([float(x) for x in closes[i]])
        o = np.r_[c[0], c[:-1]]
        trade[i] = np.stack([o, np.maximum(o, c), np.minimum(o, c), c], axis=1)
    time = start + step * np.arange(n, dtype=np.int64)
    return build_market(symbols, time, step, trade, notes=("a scripted (synthetic) path",))


def tile(market: Market, n: int, *, mirror: bool = True) -> Market:
    """``n`` bars made by repeating ``market``'s bars, each repeat scaled so that it opens at
    the previous repeat's last close (the path is continuous); times continue the grid.

    With ``mirror`` every other repeat plays the bars backwards (open and close swapped), so a
    long path stays within the sample's range instead of compounding its drift at every repeat.
    Scaled prices are rounded to each series' own decimal places."""
    reps = math.ceil(n / market.n)
    backward = np.ascontiguousarray(market.trade[:, ::-1][:, :, [CLOSE, HIGH, LOW, OPEN]])
    backward_m = np.ascontiguousarray(market.mark[:, ::-1][:, :, [CLOSE, HIGH, LOW, OPEN]])
    trade = [market.trade]
    mark = [market.mark]
    funding = [market.funding]
    for k in range(1, reps):
        rev = mirror and k % 2 == 1
        base_t, base_m = (backward, backward_m) if rev else (market.trade, market.mark)
        ft = trade[-1][:, -1, CLOSE] / base_t[:, 0, OPEN]
        fm = mark[-1][:, -1, CLOSE] / base_m[:, 0, OPEN]
        trade.append(base_t * ft[:, None, None])
        mark.append(base_m * fm[:, None, None])
        funding.append(market.funding[:, ::-1] if rev else market.funding)
    t = np.concatenate(trade, axis=1)[:, :n]
    m = np.concatenate(mark, axis=1)[:, :n]
    for s in range(len(market.symbols)):
        t[s] = np.rint(t[s] * 10.0 ** market.trade_places[s]) / 10.0 ** market.trade_places[s]
        m[s] = np.rint(m[s] * 10.0 ** market.mark_places[s]) / 10.0 ** market.mark_places[s]
    for arr in (t, m):  # keep every bar consistent after rounding
        arr[:, :, HIGH] = np.maximum(arr[:, :, HIGH], np.maximum(arr[:, :, OPEN], arr[:, :, CLOSE]))
        arr[:, :, LOW] = np.minimum(arr[:, :, LOW], np.minimum(arr[:, :, OPEN], arr[:, :, CLOSE]))
    rates = np.concatenate(funding, axis=1)[:, :n]
    time = int(market.time[0]) + market.step * np.arange(n, dtype=np.int64)
    how = "mirrored, " if mirror else ""
    return Market(
        market.symbols,
        time,
        market.step,
        np.ascontiguousarray(t),
        np.ascontiguousarray(m),
        market.trade_places,
        market.mark_places,
        np.ascontiguousarray(rates),
        market.has_mark,
        market.has_funding,
        (*market.notes, f"tiled {reps}× to {n} bars ({how}each repeat rescaled to continue)"),
        market.sources,
    )
