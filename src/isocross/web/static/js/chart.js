// The chart: candles built from trades (GET /markets/{s}/candles, live from <s>@kline_<i>), the
// mark price as a line (from the mark stream), and the position's entry and liquidation prices
// and the open orders drawn as price lines.

import {
  CandlestickSeries, createChart, CrosshairMode, LineSeries, LineStyle,
} from '../vendor/lightweight-charts.standalone.production.mjs';
import {get} from './api.js';
import {fill, h} from './dom.js';
import {num} from './fmt.js';
import {emit, instrument, on, positionsOf, state} from './store.js';

export const INTERVALS = ['1m', '5m', '15m', '1h'];
const COLORS = {
  up: '#0ecb81', down: '#f6465d', mark: '#f0b90b', entry: '#5aa2ff', liq: '#ff7a45',
  order: '#9aa4b2', grid: '#1b2027', text: '#848e9c', border: '#2b3139',
};
const TZ = new Date().getTimezoneOffset() * 60;
const toTime = (ms) => Math.floor(ms / 1000) - TZ;
const MARKS_KEPT = 5000;

/** Marks seen since the page loaded, per symbol: [{time, value}]. */
const markHistory = new Map();

export function recordMark(symbol, price, ms) {
  const v = parseFloat(price);
  if (!Number.isFinite(v) || v <= 0) return null;
  let rows = markHistory.get(symbol);
  if (!rows) markHistory.set(symbol, (rows = []));
  const point = {time: toTime(ms || Date.now()), value: v};
  const last = rows[rows.length - 1];
  if (last && last.time === point.time) last.value = v;
  else if (!last || last.time < point.time) rows.push(point);
  else return null;
  if (rows.length > MARKS_KEPT) rows.splice(0, rows.length - MARKS_KEPT);
  return point;
}

export function mountChart(container, intervalsEl, legendEl, titleEl) {
  let interval = INTERVALS[0];
  let lines = [];
  let loadedFor = null;
  const chart = createChart(container, {
    autoSize: true,
    layout: {background: {color: 'transparent'}, textColor: COLORS.text, fontSize: 11,
      fontFamily: getComputedStyle(document.body).fontFamily},
    grid: {vertLines: {color: COLORS.grid}, horzLines: {color: COLORS.grid}},
    rightPriceScale: {borderColor: COLORS.border, scaleMargins: {top: 0.12, bottom: 0.08}},
    timeScale: {borderColor: COLORS.border, timeVisible: true, secondsVisible: false,
      rightOffset: 6},
    crosshair: {mode: CrosshairMode.Normal},
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
    wickUpColor: COLORS.up, wickDownColor: COLORS.down, priceLineVisible: false,
  });
  const marks = chart.addSeries(LineSeries, {
    color: COLORS.mark, lineWidth: 2, priceLineVisible: true, lastValueVisible: true,
    title: 'Mark', priceLineStyle: LineStyle.Dotted,
    autoscaleInfoProvider: (original) => withLines(original()),
  });
  const levels = [];

  function withLines(range) {
    if (!levels.length) return range;
    const lo = Math.min(...levels);
    const hi = Math.max(...levels);
    if (!range || !range.priceRange) {
      return {priceRange: {minValue: lo * 0.995, maxValue: hi * 1.005}};
    }
    return {...range, priceRange: {
      minValue: Math.min(range.priceRange.minValue, lo),
      maxValue: Math.max(range.priceRange.maxValue, hi),
    }};
  }

  const buttons = INTERVALS.map((i) => h('button', {type: 'button', 'aria-pressed': String(i === interval),
    onclick: () => {
      interval = i;
      buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.textContent === i)));
      load();
      emit('chart-interval', i);
    }}, i));
  fill(intervalsEl, buttons);

  function format() {
    const inst = instrument();
    if (!inst) return;
    const precision = inst.price_precision;
    const priceFormat = {type: 'price', precision, minMove: 1 / 10 ** precision};
    candles.applyOptions({priceFormat});
    marks.applyOptions({priceFormat});
  }

  async function load() {
    const symbol = state.symbol;
    if (!symbol) return;
    format();
    titleEl.textContent = `${symbol} · ${interval}`;
    let rows = [];
    try {
      rows = await get(`/markets/${symbol}/candles`, {interval, limit: 500});
    } catch {
      rows = [];
    }
    if (symbol !== state.symbol) return;
    candles.setData(rows.map(candle));
    marks.setData([...(markHistory.get(symbol) || [])]);
    if (loadedFor !== symbol) chart.timeScale().fitContent();
    loadedFor = symbol;
    drawLines();
  }

  function candle(k) {
    return {time: toTime(k.open_time), open: +k.open, high: +k.high, low: +k.low, close: +k.close};
  }

  function drawLines() {
    for (const l of lines) marks.removePriceLine(l);
    lines = [];
    levels.length = 0;
    const inst = instrument();
    if (!inst) return;
    const legend = [];
    for (const p of positionsOf()) {
      const side = p.side === 'LONG' ? 'Long' : 'Short';
      lines.push(marks.createPriceLine({price: +p.entry_price, color: COLORS.entry, lineWidth: 1,
        lineStyle: LineStyle.Dashed, axisLabelVisible: true, title: `Entry ${side}`}));
      levels.push(+p.entry_price);
      legend.push(h('span', {class: 'chip entry'}, `Entry ${num(p.entry_price, inst.price_precision)}`));
      if (p.liquidation_price !== null) {
        lines.push(marks.createPriceLine({price: +p.liquidation_price, color: COLORS.liq,
          lineWidth: 2, lineStyle: LineStyle.Solid, axisLabelVisible: true, title: 'Liq.'}));
        levels.push(+p.liquidation_price);
        legend.push(h('span', {class: 'chip liq', dataset: {value: p.liquidation_price}},
          `Liq. ${num(p.liquidation_price, inst.price_precision)}`));
      }
    }
    for (const o of state.orders.filter((x) => x.symbol === state.symbol)) {
      const price = o.price || o.stop_price;
      if (!price) continue;
      lines.push(marks.createPriceLine({price: +price, color: COLORS.order, lineWidth: 1,
        lineStyle: LineStyle.SparseDotted, axisLabelVisible: false,
        title: `${o.side === 'BUY' ? 'Buy' : 'Sell'} ${o.type.replace(/_/g, ' ').toLowerCase()}`}));
    }
    const mark = state.prices.get(state.symbol);
    fill(legendEl,
      h('span', {class: 'chip mark'}, `Mark ${num(mark && mark.mark_price, inst.price_precision)}`),
      legend);
  }

  on('symbol', () => {
    loadedFor = null;
    load();
  });
  on('positions', drawLines);
  on('orders', drawLines);
  on('prices', () => {
    const inst = instrument();
    const mark = state.prices.get(state.symbol);
    const chip = legendEl.querySelector('.chip.mark');
    if (chip && inst && mark) chip.textContent = `Mark ${num(mark.mark_price, inst.price_precision)}`;
  });

  return {
    load,
    interval: () => interval,
    /** A new mark point of the selected symbol. */
    mark(point) {
      if (point) marks.update(point);
    },
    /** A kline payload of the selected symbol and interval. */
    kline(k) {
      if (k.i !== interval) return;
      candles.update({time: toTime(k.t), open: +k.o, high: +k.h, low: +k.l, close: +k.c});
    },
  };
}
