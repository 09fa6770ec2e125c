// Order book (<s>@depth20) and recent trades (<s>@trade). Clicking a price fills the ticket.

import {get} from './api.js';
import {fill, h, throttle} from './dom.js';
import {decimalsOf, num, time} from './fmt.js';
import {emit, instrument, on, state} from './store.js';

const LEVELS = 12;
const KEEP_TRADES = 50;

export function mountBook(bookEl, tradesEl) {
  let book = {bids: [], asks: []};
  let trades = [];

  function row(side, [price, qty], total, max, inst) {
    const width = max > 0 ? Math.min(100, (total / max) * 100) : 0;
    return h('button', {type: 'button', class: `level ${side}`, style: {'--depth': `${width}%`},
      title: `Use ${price} as the order price`, dataset: {price},
      onclick: () => emit('pick-price', price)},
    h('span', {class: 'px'}, num(price, inst.price_precision)),
    h('span', null, num(qty, decimalsOf(inst.step_size))),
    h('span', {class: 'muted'}, num(String(total), decimalsOf(inst.step_size))));
  }

  function renderBook() {
    const inst = instrument();
    if (!inst) return;
    const asks = book.asks.slice(0, LEVELS);
    const bids = book.bids.slice(0, LEVELS);
    let t = 0;
    const askTotals = asks.map(([, q]) => (t += parseFloat(q)));
    t = 0;
    const bidTotals = bids.map(([, q]) => (t += parseFloat(q)));
    const max = Math.max(askTotals[askTotals.length - 1] || 0, bidTotals[bidTotals.length - 1] || 0);
    const mark = state.prices.get(state.symbol);
    const bestBid = bids[0] ? parseFloat(bids[0][0]) : null;
    const bestAsk = asks[0] ? parseFloat(asks[0][0]) : null;
    const spread = bestBid && bestAsk ? bestAsk - bestBid : null;
    fill(bookEl,
      h('div', {class: 'book-head'}, h('span', null, `Price (${inst.quote_asset})`),
        h('span', null, `Size (${inst.base_asset})`), h('span', null, 'Total')),
      h('div', {class: 'asks'}, asks.map((l, i) => row('ask', l, askTotals[i], max, inst)).reverse()),
      h('div', {class: 'book-mid'},
        h('span', {class: 'mid-mark', title: 'Mark price'}, num(mark && mark.mark_price, inst.price_precision)),
        h('span', {class: 'muted'}, spread !== null
          ? `spread ${num(spread.toFixed(inst.price_precision), inst.price_precision)} (${((spread / bestAsk) * 100).toFixed(3)} %)`
          : 'no quotes')),
      h('div', {class: 'bids'}, bids.map((l, i) => row('bid', l, bidTotals[i], max, inst))));
  }

  function renderTrades() {
    const inst = instrument();
    if (!inst) return;
    fill(tradesEl,
      h('div', {class: 'book-head'}, h('span', null, 'Price'), h('span', null, 'Size'), h('span', null, 'Time')),
      trades.length ? trades.map((t) => h('div', {class: `print ${t.buy ? 'bid' : 'ask'}`},
        h('span', {class: 'px'}, num(t.price, inst.price_precision)),
        h('span', null, num(t.qty, decimalsOf(inst.step_size))),
        h('span', {class: 'muted'}, time(t.time))))
        : h('p', {class: 'empty'}, 'No trades yet: the market maker only quotes. Trade against it to print one.'));
  }

  async function load() {
    const symbol = state.symbol;
    book = {bids: [], asks: []};
    trades = [];
    try {
      const [b, t] = await Promise.all([
        get(`/markets/${symbol}/book`, {levels: LEVELS}),
        get(`/markets/${symbol}/trades`, {limit: KEEP_TRADES}),
      ]);
      if (symbol !== state.symbol) return;
      book = {bids: b.bids, asks: b.asks};
      trades = t.reverse().map((x) => ({price: x.price, qty: x.qty, time: x.time, buy: !x.buyer_is_maker}));
    } catch {
      /* the streams fill it in */
    }
    state.book = book;
    renderBook();
    renderTrades();
  }

  // At most ~6 redraws a second.
  const redraw = throttle(renderBook, 160);

  on('symbol', load);
  on('prices', () => {
    const el = bookEl.querySelector('.mid-mark');
    const inst = instrument();
    const mark = state.prices.get(state.symbol);
    if (el && inst && mark) el.textContent = num(mark.mark_price, inst.price_precision);
  });

  return {
    load,
    depth(d) {
      book = {bids: d.b, asks: d.a};
      state.book = book;
      redraw();
    },
    trade(t) {
      trades.unshift({price: t.p, qty: t.q, time: t.T, buy: !t.m});
      trades.length = Math.min(trades.length, KEEP_TRADES);
      renderTrades();
    },
  };
}
