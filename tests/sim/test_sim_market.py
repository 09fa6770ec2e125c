"""Market data: the formats read, exact decimal prices, and every refusal naming file and row."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from isocross.sim.errors import SimInputError
from isocross.sim.files import read_candles, read_funding
from isocross.sim.market import SymbolSource, canonical, load_market, resample, tile, to_decimal
from isocross.sim.spec import parse_portfolio

T0 = 1_743_465_600_000  # 2025-04-01T00:00:00Z
MIN = 60_000


def bars(n: int, step: int = MIN, start: int = T0, price: float = 100.0) -> pd.DataFrame:
    close = price + np.arange(n) * 0.5
    open_ = np.r_[price, close[:-1]]
    return pd.DataFrame(
        {
            "date": pd.to_datetime(start + step * np.arange(n), unit="ms", utc=True),
            "open": open_,
            "high": np.maximum(open_, close) + 0.2,
            "low": np.minimum(open_, close) - 0.2,
            "close": close,
            "volume": 1.0,
        }
    )


def feather(tmp_path: Path, frame: pd.DataFrame, name: str = "X.feather") -> Path:
    path = tmp_path / name
    frame.reset_index(drop=True).to_feather(path)
    return path


def refused(path: Path) -> str:
    with pytest.raises(SimInputError) as info:
        read_candles(path)
    return str(info.value)


# ------------------------------------------------------------------------------ formats
def test_binance_kline_csv_without_header_in_ms_and_with_header_in_us(tmp_path: Path) -> None:
    rows = "\n".join(
        f"{T0 + i * MIN},{100 + i}.0,{101 + i}.5,{99 + i}.5,{100 + i}.5,10,{T0 + i * MIN + 59999},1,2,3,4,0"
        for i in range(3)
    )
    plain = tmp_path / "BTCUSDT-1m-2025-04.csv"
    plain.write_text(rows + "\n")
    header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"
    micro = tmp_path / "micro.csv"
    micro.write_text(
        header
        + rows.replace(f"{T0}", f"{T0}000")
        .replace(f"{T0 + MIN},", f"{(T0 + MIN) * 1000},")
        .replace(f"{T0 + 2 * MIN},", f"{(T0 + 2 * MIN) * 1000},")
        + "\n"
    )
    for path in (plain, micro):
        candles = read_candles(path)
        assert list(candles.time) == [T0, T0 + MIN, T0 + 2 * MIN]
        assert candles.ohlc[1].tolist() == [101.0, 102.5, 100.5, 101.5]
        assert candles.step == MIN


def test_feather_parquet_and_headed_csv_agree(tmp_path: Path) -> None:
    frame = bars(5)
    parquet = tmp_path / "x.parquet"
    frame.to_parquet(parquet)
    csv = tmp_path / "x.csv"
    frame.rename(columns={"date": "timestamp", "close": "Close"}).to_csv(csv, index=False)
    read = [read_candles(p) for p in (feather(tmp_path, frame), parquet, csv)]
    for candles in read[1:]:
        assert np.array_equal(candles.time, read[0].time)
        assert np.array_equal(candles.ohlc, read[0].ohlc)


def test_funding_stamps_are_floored_to_the_hour(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([T0 + 17, T0 + 8 * 3_600_000 + 7], unit="ms", utc=True),
            "open": [0.0001, -0.000122],
        }
    )
    stamps, rates, _ = read_funding(feather(tmp_path, frame, "F.feather"))
    assert list(stamps) == [T0, T0 + 8 * 3_600_000]
    assert rates.tolist() == [0.0001, -0.000122]


def test_resampling_aggregates_whole_bins(tmp_path: Path) -> None:
    candles = read_candles(feather(tmp_path, bars(12, start=T0 + 2 * MIN)))
    five = resample(candles, 5 * MIN, "here")
    assert list(five.time) == [T0 + 5 * MIN]  # the partial bins at both ends are dropped
    block = candles.ohlc[3:8]
    assert five.ohlc[0].tolist() == [
        block[0, 0],
        block[:, 1].max(),
        block[:, 2].min(),
        block[-1, 3],
    ]


@given(
    st.lists(
        st.decimals(min_value=D("0.0001"), max_value=D(200_000), places=6), min_size=1, max_size=20
    )
)
def test_prices_round_trip_exactly_through_floats(values: list[D]) -> None:
    floats, places = canonical(np.array([float(v) for v in values]))
    assert places <= 6
    assert [to_decimal(x, places) for x in floats] == list(values)


def test_tiling_keeps_the_path_continuous(tmp_path: Path) -> None:
    src = SymbolSource("BTCUSDT", feather(tmp_path, bars(30)))
    market = load_market([src])
    long = tile(market, 100)
    assert long.n == 100 and np.all(np.diff(long.time) == MIN)
    assert long.trade[0, 30, 0] == long.trade[0, 29, 3]  # the repeat opens at the last close
    assert np.all(long.trade[0, :, 1] >= long.trade[0, :, [0, 3]].max(axis=0))


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="close"), "X.feather: missing the close column"),
        (
            lambda f: f.iloc[[0, 1, 3, 2, 4]],
            "X.feather row 4: timestamp out of order 2025-04-01T00:02:00Z",
        ),
        (
            lambda f: f.iloc[[0, 1, 1, 2, 3]],
            "X.feather row 3: duplicate timestamp 2025-04-01T00:01:00Z",
        ),
        (
            lambda f: f.drop(index=2),
            "X.feather row 3: gap of 2m after 2025-04-01T00:01:00Z (the file steps by 1m)",
        ),
        (
            lambda f: f.assign(close=[1, 2, np.nan, 4, 5]),
            "X.feather row 3: close must be a positive price, got nan",
        ),
        (
            lambda f: f.assign(low=f["low"] + [0, 0, 5, 0, 0]),
            "X.feather row 3: low is above open or close",
        ),
    ],
)
def test_bad_candles_are_refused_naming_file_and_row(
    tmp_path: Path, mutate: Any, message: str
) -> None:
    assert refused(feather(tmp_path, mutate(bars(5)))).startswith(message)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "nope.feather")


def spec(tmp_path: Path, symbols: dict[str, Any], **market: Any) -> dict[str, Any]:
    return {
        "balance": "1000",
        "market": {"symbols": symbols, **market},
        "positions": [{"symbol": "BTCUSDT", "side": "long", "leverage": 5, "margin": "100"}],
    }


def load_error(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(SimInputError) as info:
        parse_portfolio(data, base_dir=tmp_path).load_market()
    return str(info.value)


def test_a_symbol_with_no_data_is_named(tmp_path: Path) -> None:
    feather(tmp_path, bars(10, price=60_000.0), "BTC.feather")
    data = spec(tmp_path, {"BTCUSDT": {"candles": "BTC.feather"}})
    data["positions"].append({"symbol": "ETHUSDT", "side": "short", "leverage": 5, "qty": "1"})
    message = load_error(tmp_path, data)
    assert message.startswith("positions[1].symbol: ETHUSDT has no market data")


def test_symbols_that_do_not_overlap_are_refused(tmp_path: Path) -> None:
    feather(tmp_path, bars(10, price=60_000.0), "BTC.feather")
    feather(tmp_path, bars(10, start=T0 + 3_600_000, price=2_000.0), "ETH.feather")
    data = spec(
        tmp_path, {"BTCUSDT": {"candles": "BTC.feather"}, "ETHUSDT": {"candles": "ETH.feather"}}
    )
    data["positions"].append({"symbol": "ETHUSDT", "side": "short", "leverage": 5, "qty": "1"})
    assert "do not overlap" in load_error(tmp_path, data)


def test_a_window_outside_the_data_is_refused(tmp_path: Path) -> None:
    feather(tmp_path, bars(10, price=60_000.0), "BTC.feather")
    data = spec(
        tmp_path,
        {"BTCUSDT": {"candles": "BTC.feather"}},
        start="2025-04-01T00:05:00Z",
        end="2025-04-01T01:00:00Z",
    )
    assert "ends at 2025-04-01T00:09:00Z, before the window ends" in load_error(tmp_path, data)


def test_funding_that_does_not_cover_the_window_is_refused(tmp_path: Path) -> None:
    feather(tmp_path, bars(60 * 20, price=60_000.0), "BTC.feather")
    rates = pd.DataFrame({"date": pd.to_datetime([T0], unit="ms", utc=True), "open": [0.0001]})
    feather(tmp_path, rates, "F.feather")
    data = spec(tmp_path, {"BTCUSDT": {"candles": "BTC.feather", "funding": "F.feather"}})
    message = load_error(tmp_path, data)
    assert message.startswith("market.symbols.BTCUSDT.funding: F.feather covers")
    assert "turn funding off or shorten the window" in message
    data["funding"] = False
    parse_portfolio(data, base_dir=tmp_path).load_market()  # funding off: fine


def test_a_mark_series_coarser_than_the_bars_is_refused(tmp_path: Path) -> None:
    feather(tmp_path, bars(120, price=60_000.0), "BTC.feather")
    feather(tmp_path, bars(2, step=3_600_000, price=60_000.0), "M.feather")
    data = spec(tmp_path, {"BTCUSDT": {"candles": "BTC.feather", "mark": "M.feather"}})
    message = load_error(tmp_path, data)
    assert "M.feather steps by 1h, coarser than the bars (1m)" in message
    assert 'market.timeframe = "1h"' in message
    data["market"]["timeframe"] = "1h"
    market = parse_portfolio(data, base_dir=tmp_path).load_market()
    assert market.n == 2 and market.has_mark == (True,)


def test_real_xrp_marks_on_hourly_bars(data_root: Path) -> None:
    folder = data_root / "freqtrade_testdata_xrp_2021"
    src = SymbolSource(
        "XRPUSDT",
        folder / "XRP_USDT_USDT-1h-futures.feather",
        mark=folder / "XRP_USDT_USDT-1h-mark.feather",
    )
    market = load_market([src], end=1_637_316_000_000)  # the mark series ends 19 Nov 09:00
    assert market.has_mark == (True,) and market.n > 40
    assert market.price(0, 0, 0, mark=True) != market.price(0, 0, 0)
