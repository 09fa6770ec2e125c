"""Reading market files for the simulator: candles and funding rates, validated row by row.

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
other than the file's modal step).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from numpy.typing import NDArray

from isocross.sim.errors import SimInputError

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

OPEN, HIGH, LOW, CLOSE = 0, 1, 2, 3
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
