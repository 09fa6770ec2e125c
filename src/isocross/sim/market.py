"""Market data for the simulator: candles, mark prices and funding rates, validated and aligned.

Formats read (each file is named in every error, with the row at fault):

* **Binance kline CSV** (the public data dump, ``data.binance.vision``): columns ``open_time,
  open, high, low, close, volume, close_time, …``, with or without a header row; ``open_time``
  in seconds, milliseconds or microseconds since the epoch (told apart by magnitude).
* **Headed CSV, Parquet or Feather candles** (freqtrade's ``date, open, high, low, close,
  volume``; nautilus' ``timestamp, …``): a time column named ``date``, ``timestamp``, ``time``,
  ``open_time`` or left unnamed, and ``open, high, low, close`` in any letter case. Times are
  candle **open** times, UTC (naive text is read as UTC).
* **Funding rates**: freqtrade's ``*-funding_rate.feather`` (the rate in ``open``) or Binance's
  ``fundingRate`` CSV (``calc_time``/``fundingTime`` and ``last_funding_rate``/``fundingRate``).
  Settlement stamps are floored to the hour (Binance stamps carry a few milliseconds).

Refused, naming file and row: a missing column, a missing or non-positive price, ``low`` above
``open``/``close`` or ``high`` below them, unsorted or duplicate timestamps, and gaps (any step
other than the file's modal step). Every symbol of a market must cover the whole window on the
same bar grid; a mark-price series must have the bars' step (finer series are resampled); a
funding series must cover the window at its own regular interval.

**Exact prices.** Prices are decimals; a float64 file holds the nearest binary value. Each
series is read as the shortest decimal of at most :data:`MAX_PLACES` places that every value
rounds to (``places``), and its floats are replaced by the correctly rounded floats of those
decimals, so the float fast path and the Decimal exact path see the same prices:
:meth:`Market.price` returns the decimal ``round(x·10^places)·10^−places`` exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray

from isocross.sim.errors import SimInputError

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

OPEN, HIGH, LOW, CLOSE = 0, 1, 2, 3
MAX_PLACES = 10
"""Most decimal places a price is read to (beyond it a value is rounded half-even)."""
HOUR = 3_600_000
UNITS = {"s": 1_000, "m": 60_000, "h": HOUR, "d": 24 * HOUR, "w": 7 * 24 * HOUR}
TIME_COLUMNS = ("date", "timestamp", "time", "open_time", "opentime", "datetime")
RATE_COLUMNS = ("last_funding_rate", "funding_rate", "fundingrate", "rate", "open")
RATE_TIME_COLUMNS = ("calc_time", "fundingtime", "funding_time", *TIME_COLUMNS)


# ------------------------------------------------------------------------------ time helpers
def parse_duration(text: object, where: str) -> int:
    """``"1m"``, ``"5m"``, ``"8h"``, ``"7d"`` → milliseconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(text)) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise SimInputError(where, f'must be a duration such as "1m", "8h" or "7d", got {text!r}')
    return int(match.group(1)) * UNITS[match.group(2)]


def format_duration(ms: int) -> str:
    """The largest whole unit: 300000 → ``"5m"``."""
    for unit in ("w", "d", "h", "m", "s"):
        if ms % UNITS[unit] == 0:
            return f"{ms // UNITS[unit]}{unit}"
    return f"{ms}ms"


def human_duration(ms: int) -> str:
    """``1108800000`` → ``"12d 20h"``: days, hours and minutes, zero parts left out."""
    minutes = ms // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (mins, "m")) if v]
    return " ".join(parts) or f"{ms // 1000}s"


def parse_time(text: object, where: str) -> int:
    """An ISO-8601 time (``2025-04-01``, ``2025-04-01T12:00:00Z``) → UTC milliseconds."""
    if isinstance(text, datetime):
        stamp = text if text.tzinfo else text.replace(tzinfo=UTC)
        return int(stamp.timestamp() * 1000)
    if not isinstance(text, str):
        raise SimInputError(where, f"must be an ISO-8601 time string, got {text!r}")
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise SimInputError(where, f"is not an ISO-8601 time: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


def iso(ms: int) -> str:
    """UTC milliseconds → ``2025-04-01T12:00:00Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# ------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class Candles:
    """One OHLC series as read from ``source``: open times (ms, UTC) and prices."""

    source: str
    time: I64
    ohlc: F64
    """Shape ``(n, 4)``: open, high, low, close."""

    @property
    def step(self) -> int:
        return int(np.median(np.diff(self.time))) if len(self.time) > 1 else 0


def _frame(path: Path) -> pd.DataFrame:
    name = path.name
    suffix = path.suffix.lower()
    try:
        if suffix == ".feather":
            return pd.read_feather(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return _read_csv(path)
    except FileNotFoundError:
        raise SimInputError(str(path), "no such file") from None
    except (OSError, ValueError) as exc:
        raise SimInputError(name, f"cannot be read: {exc}") from None
    raise SimInputError(name, "unknown format: use .csv, .parquet or .feather")


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    cells = first.strip().split(",")
    try:
        float(cells[0])
    except ValueError:
        return pd.read_csv(path)
    # Binance's data dump without a header: open_time, open, high, low, close, volume, ...
    frame = pd.read_csv(path, header=None)
    names = ["open_time", "open", "high", "low", "close", "volume", "close_time"]
    frame.columns = [*names, *(f"c{i}" for i in range(len(names), frame.shape[1]))][
        : frame.shape[1]
    ]
    return frame


def _column(frame: pd.DataFrame, wanted: Sequence[str], source: str, what: str) -> str:
    lower = {str(c).strip().lower(): str(c) for c in frame.columns}
    for name in wanted:
        if name in lower:
            return lower[name]
    if what == "time" and "unnamed: 0" in lower:
        return lower["unnamed: 0"]
    have = ", ".join(str(c) for c in frame.columns)
    raise SimInputError(source, f"missing the {what} column ({' or '.join(wanted)}); has: {have}")


def _times(raw: pd.Series, source: str) -> I64:
    """Milliseconds since the epoch, from datetimes, ISO text or epoch numbers."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_datetime64_any_dtype(raw):
        values = np.asarray(raw, dtype=np.float64)
        if np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0]) + 1
            raise SimInputError(f"{source} row {row}", "the time is missing")
        big = np.abs(values).max(initial=0)
        scale = 1e-3 if big > 1e14 else (1.0 if big > 1e11 else 1e3)
        return np.asarray(np.rint(values * scale), dtype=np.int64)
    try:
        stamps = pd.to_datetime(raw, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise SimInputError(source, f"the time column cannot be read as dates: {exc}") from None
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0]) + 1
        raise SimInputError(f"{source} row {row}", "the time is missing")
    return np.asarray(stamps.dt.as_unit("ms").astype("int64"), dtype=np.int64)


def _check_order(time: I64, source: str) -> int:
    """Sorted, unique and gap-free at the modal step; returns the step (ms)."""
    if len(time) == 0:
        raise SimInputError(source, "has no rows")
    diffs = np.diff(time)
    bad = np.flatnonzero(diffs <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        what = "duplicate timestamp" if diffs[bad[0]] == 0 else "timestamp out of order"
        raise SimInputError(
            f"{source} row {i + 1}",
            f"{what} {iso(int(time[i]))} (previous row {iso(int(time[i - 1]))})",
        )
    if len(time) < 2:
        return 0
    values, counts = np.unique(diffs, return_counts=True)
    step = int(values[np.argmax(counts)])
    off = np.flatnonzero(diffs != step)
    if off.size:
        i = int(off[0]) + 1
        kind = "gap" if diffs[off[0]] > step else "irregular step"
        raise SimInputError(
            f"{source} row {i + 1}",
            f"{kind} of {format_duration(int(diffs[off[0]]))} after {iso(int(time[i - 1]))} "
            f"(the file steps by {format_duration(step)})",
        )
    return step


def read_candles(path: Path) -> Candles:
    """Read and validate one candle file (see the module docstring for what is refused)."""
    source = path.name
    frame = _frame(path)
    tcol = _column(frame, TIME_COLUMNS, source, "time")
    cols = [_column(frame, (name,), source, name) for name in ("open", "high", "low", "close")]
    time = _times(frame[tcol], source)
    try:
        ohlc = frame[cols].to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise SimInputError(source, f"prices are not numbers: {exc}") from None
    for j, name in enumerate(("open", "high", "low", "close")):
        column = ohlc[:, j]
        bad = np.flatnonzero(~np.isfinite(column) | (column <= 0))
        if bad.size:
            i = int(bad[0])
            raise SimInputError(
                f"{source} row {i + 1}", f"{name} must be a positive price, got {column[i]}"
            )
    low_bad = np.flatnonzero(ohlc[:, LOW] > np.minimum(ohlc[:, OPEN], ohlc[:, CLOSE]))
    high_bad = np.flatnonzero(ohlc[:, HIGH] < np.maximum(ohlc[:, OPEN], ohlc[:, CLOSE]))
    for bad, what in (
        (low_bad, "low is above open or close"),
        (high_bad, "high is below open or close"),
    ):
        if bad.size:
            i = int(bad[0])
            o, h, lo, c = ohlc[i]
            raise SimInputError(
                f"{source} row {i + 1}", f"{what} (open {o}, high {h}, low {lo}, close {c})"
            )
    _check_order(time, source)
    return Candles(source, time, ohlc)


def read_funding(path: Path) -> tuple[I64, F64, str]:
    """Funding stamps floored to the hour (ms), rates (fractions), and the file name."""
    source = path.name
    frame = _frame(path)
    tcol = _column(frame, RATE_TIME_COLUMNS, source, "time")
    rcol = _column(frame, RATE_COLUMNS, source, "funding rate")
    time = _times(frame[tcol], source) // HOUR * HOUR
    try:
        rates = frame[rcol].to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise SimInputError(source, f"funding rates are not numbers: {exc}") from None
    bad = np.flatnonzero(~np.isfinite(rates) | (np.abs(rates) >= 1))
    if bad.size:
        i = int(bad[0])
        raise SimInputError(
            f"{source} row {i + 1}", f"funding rate must be a fraction in (−1, 1), got {rates[i]}"
        )
    _check_order(time, source)
    return time, rates, source


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
