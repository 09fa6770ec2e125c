"""Public market data: exchange info, time, depth, trades, klines, tickers, premium
index and funding rates."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from isocross.api.binance.base import (
    DEPTH_LIMITS,
    PERPETUAL_DELIVERY,
    Call,
    all_weight,
    api,
    linear,
    linear_symbols,
)
from isocross.api.errors import bad_param
from isocross.api.marketdata import INTERVALS, Candle
from isocross.api.params import Params
from isocross.api.views import dec0, risk
from isocross.engine.exchange import Exchange
from isocross.engine.orders import OrderType, TimeInForce
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO

log = logging.getLogger("isocross.api")


# ============================================================================ public: market
@api("GET", "/fapi/v1/ping")
async def ping(call: Call) -> Any:
    return {}


@api("GET", "/fapi/v1/time")
async def server_time(call: Call) -> Any:
    return {"serverTime": call.now}


def _quantity_precision(inst: Instrument) -> int:
    exponent = inst.step_size.normalize().as_tuple().exponent
    return max(0, -int(exponent))


@api("GET", "/fapi/v1/exchangeInfo")
async def exchange_info(call: Call) -> Any:
    service = call.service
    catalogue = service.venue.catalogue
    band = service.venue.exchange.price_band
    symbols = []
    for inst in catalogue.instruments.values():
        if not linear(inst):
            continue
        first = inst.tiers.tiers[0]
        symbols.append(
            {
                "symbol": inst.symbol,
                "pair": inst.symbol,
                "contractType": "PERPETUAL",
                "deliveryDate": PERPETUAL_DELIVERY,
                "onboardDate": 1569398400000,
                "status": "TRADING",
                "maintMarginPercent": dec0(first.mmr * 100),
                "requiredMarginPercent": dec0(Decimal(100) / inst.tiers.max_leverage),
                "baseAsset": inst.base_asset,
                "quoteAsset": inst.quote_asset,
                "marginAsset": inst.margin_asset.name,
                "pricePrecision": inst.price_precision,
                "quantityPrecision": _quantity_precision(inst),
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "underlyingType": "COIN",
                "underlyingSubType": [],
                "triggerProtect": "0.0500",
                "liquidationFee": "0.005000",
                "marketTakeBound": dec0(band),
                "maxMoveOrderLimit": 10000,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": dec0(inst.tick_size),
                        "maxPrice": "10000000",
                        "tickSize": dec0(inst.tick_size),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": dec0(inst.min_qty),
                        "maxQty": "1000000",
                        "stepSize": dec0(inst.step_size),
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "minQty": dec0(inst.min_qty),
                        "maxQty": "1000000",
                        "stepSize": dec0(inst.step_size),
                    },
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": dec0(inst.min_notional)},
                    {
                        "filterType": "PERCENT_PRICE",
                        "multiplierUp": dec0(1 + band),
                        "multiplierDown": dec0(1 - band),
                        "multiplierDecimal": "4",
                    },
                ],
                "orderTypes": [t.value for t in OrderType],
                "timeInForce": [t.value for t in TimeInForce],
            }
        )
    assets = sorted({i.margin_asset.name for i in catalogue.instruments.values() if linear(i)})
    return {
        "timezone": "UTC",
        "serverTime": call.now,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": service.config.weight_limit,
            },
        ],
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "0"} for a in assets],
        "symbols": symbols,
    }


def _depth_weight(params: Params) -> int:
    limit = params.integer("limit", default=500) or 500
    return next((w for n, w in sorted(DEPTH_LIMITS.items()) if limit <= n), 20)


@api("GET", "/fapi/v1/depth", weight=_depth_weight)
async def depth(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500
    book = call.service.market.books[symbol]
    bids, asks = book.top(limit)
    return {
        "lastUpdateId": book.seq,
        "E": call.now,
        "T": call.now,
        "bids": [[dec0(p), dec0(q)] for p, q in bids],
        "asks": [[dec0(p), dec0(q)] for p, q in asks],
    }


@api("GET", "/fapi/v1/trades", weight=5)
async def trades(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500
    rows = list(call.service.market.trades[symbol])[-limit:]
    return [
        {
            "id": t.trade_id,
            "price": dec0(t.price),
            "qty": dec0(t.qty),
            "quoteQty": dec0(t.quote_qty),
            "time": t.time,
            "isBuyerMaker": t.buyer_is_maker,
        }
        for t in rows
    ]


@api("GET", "/fapi/v1/aggTrades", weight=20)
async def agg_trades(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500
    start = call.params.integer("startTime", low=0)
    end = call.params.integer("endTime", low=0)
    rows = [
        t
        for t in call.service.market.trades[symbol]
        if (start is None or t.time >= start) and (end is None or t.time <= end)
    ]
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [
        {
            "a": t.trade_id,
            "p": dec0(t.price),
            "q": dec0(t.qty),
            "f": t.trade_id,
            "l": t.trade_id,
            "T": t.time,
            "m": t.buyer_is_maker,
        }
        for t in rows
    ]


def _kline(k: Candle, step: int) -> list[Any]:
    return [
        k.open_time,
        dec0(k.open),
        dec0(k.high),
        dec0(k.low),
        dec0(k.close),
        dec0(k.volume),
        k.open_time + step - 1,
        dec0(k.quote_volume),
        k.count,
        dec0(k.taker_buy_volume),
        dec0(k.taker_buy_quote),
        "0",
    ]


@api("GET", "/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines", weight=5)
async def klines(call: Call) -> Any:
    symbol = call.required_symbol()
    interval = call.params.required("interval", max_len=4)
    if interval not in INTERVALS:
        raise bad_param("Invalid interval.", "interval", -1120)
    limit = call.params.integer("limit", default=500, low=1, high=1500) or 500
    start = call.params.integer("startTime", low=0)
    end = call.params.integer("endTime", low=0)
    rows = call.service.market.klines(symbol, interval, start, end, limit)
    return [_kline(k, INTERVALS[interval]) for k in rows]


def _ticker(call: Call, symbol: str) -> dict[str, Any]:
    market = call.service.market
    now = call.now
    day = market.day(symbol, now)
    last = market.trades[symbol][-1] if market.trades[symbol] else None
    last_price = last.price if last else market.marks.get(symbol, ZERO)
    if day is None:
        return {
            "symbol": symbol,
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": dec0(last_price),
            "lastPrice": dec0(last_price),
            "lastQty": "0",
            "openPrice": dec0(last_price),
            "highPrice": dec0(last_price),
            "lowPrice": dec0(last_price),
            "volume": "0",
            "quoteVolume": "0",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 0,
            "lastId": 0,
            "count": 0,
        }
    change = day.close - day.open
    return {
        "symbol": symbol,
        "priceChange": dec0(change),
        "priceChangePercent": dec0((change / day.open * 100).quantize(Decimal("0.001"))),
        "weightedAvgPrice": dec0(
            (day.quote_volume / day.volume).quantize(Decimal("0.00001"))
            if day.volume
            else day.close
        ),
        "lastPrice": dec0(day.close),
        "lastQty": dec0(last.qty if last else ZERO),
        "openPrice": dec0(day.open),
        "highPrice": dec0(day.high),
        "lowPrice": dec0(day.low),
        "volume": dec0(day.volume),
        "quoteVolume": dec0(day.quote_volume),
        "openTime": day.open_time,
        "closeTime": now,
        "firstId": day.first_id,
        "lastId": day.last_id,
        "count": day.count,
    }


@api("GET", "/fapi/v1/ticker/24hr", weight=all_weight(1, 40))
async def ticker_24hr(call: Call) -> Any:
    symbol = call.symbol(required=False)
    if symbol is not None:
        return _ticker(call, symbol)
    return [_ticker(call, s) for s in linear_symbols(call)]


@api("GET", "/fapi/v1/ticker/price", "/fapi/v2/ticker/price", weight=all_weight(1, 2))
async def ticker_price(call: Call) -> Any:
    market = call.service.market

    def row(symbol: str) -> dict[str, Any]:
        last = market.trades[symbol][-1].price if market.trades[symbol] else None
        return {"symbol": symbol, "price": dec0(last or market.marks.get(symbol)), "time": call.now}

    symbol = call.symbol(required=False)
    return row(symbol) if symbol is not None else [row(s) for s in linear_symbols(call)]


@api("GET", "/fapi/v1/ticker/bookTicker", weight=all_weight(2, 5))
async def book_ticker(call: Call) -> Any:
    market = call.service.market

    def row(symbol: str) -> dict[str, Any]:
        book = market.books[symbol]
        bid, ask = book.best()
        return {
            "symbol": symbol,
            "bidPrice": dec0(bid[0] if bid else None),
            "bidQty": dec0(bid[1] if bid else None),
            "askPrice": dec0(ask[0] if ask else None),
            "askQty": dec0(ask[1] if ask else None),
            "time": call.now,
            "lastUpdateId": book.seq,
        }

    symbol = call.symbol(required=False)
    return row(symbol) if symbol is not None else [row(s) for s in linear_symbols(call)]


def funding_view(ex: Exchange) -> dict[str, Any]:
    engine = risk(ex)
    out = {}
    for symbol in ex.catalogue.instruments:
        last, estimated, next_time = engine.funding_info(symbol)
        interest = engine.config.funding.interest_rate if engine.config.funding else ZERO
        out[symbol] = (
            ex.marks.get(symbol),
            ex.index.get(symbol),
            last,
            estimated,
            next_time,
            interest,
        )
    return out


@api("GET", "/fapi/v1/premiumIndex", weight=all_weight(1, 10))
async def premium_index(call: Call) -> Any:
    symbol = call.symbol(required=False)
    info = await call.service.venue.read(funding_view)

    def row(s: str) -> dict[str, Any]:
        mark, index, _last, estimated, next_time, interest = info[s]
        return {
            "symbol": s,
            "markPrice": dec0(mark),
            "indexPrice": dec0(index),
            "estimatedSettlePrice": dec0(index),
            "lastFundingRate": dec0(estimated),
            "interestRate": dec0(interest),
            "nextFundingTime": next_time or 0,
            "time": call.now,
        }

    return row(symbol) if symbol is not None else [row(s) for s in linear_symbols(call)]


@api("GET", "/fapi/v1/fundingRate")
async def funding_rate(call: Call) -> Any:
    symbol = call.symbol(required=False)
    limit = call.params.integer("limit", default=100, low=1, high=1000) or 100
    start = call.params.integer("startTime", low=0)
    end = call.params.integer("endTime", low=0)
    rows = []
    for s in [symbol] if symbol else linear_symbols(call):
        rows += call.service.market.funding.get(s, [])
    rows = [
        r for r in rows if (start is None or r.time >= start) and (end is None or r.time <= end)
    ]
    rows.sort(key=lambda r: r.time)
    rows = rows[:limit] if start is not None else rows[-limit:]
    return [
        {
            "symbol": r.symbol,
            "fundingRate": dec0(r.rate),
            "fundingTime": r.time,
            "markPrice": dec0(r.mark),
        }
        for r in rows
    ]


@api("GET", "/fapi/v1/fundingInfo")
async def funding_info(call: Call) -> Any:
    out = []
    for s in linear_symbols(call):
        inst = call.service.venue.catalogue.instrument(s)
        cap = inst.tiers.tiers[0].mmr * Decimal("0.75")
        out.append(
            {
                "symbol": s,
                "adjustedFundingRateCap": dec0(cap),
                "adjustedFundingRateFloor": dec0(-cap),
                "fundingIntervalHours": 8,
                "disclaimer": False,
            }
        )
    return out
