// The top bar: symbol switcher and the selected symbol's prices and funding.

import {fill, h} from './dom.js';
import {countdown, num, pct, tone} from './fmt.js';
import {emit, instrument, on, state} from './store.js';

export function mountHeader(symbolsEl, tickerEl) {
  let live = 'off';

  function renderSymbols() {
    fill(symbolsEl, [...state.instruments.values()].map((i) => h('a', {
      href: `/?symbol=${i.symbol}`, class: 'sym-link', dataset: {symbol: i.symbol},
      'aria-current': i.symbol === state.symbol ? 'page' : null,
      onclick: (e) => {
        e.preventDefault();
        emit('select-symbol', i.symbol);
      },
    }, i.symbol)));
  }

  function renderTicker() {
    const inst = instrument();
    const p = state.prices.get(state.symbol);
    if (!inst || !p) {
      fill(tickerEl);
      return;
    }
    const dp = inst.price_precision;
    fill(tickerEl,
      h('div', {class: 'tick-main'}, h('b', {id: 'ticker-symbol'}, inst.symbol),
        h('span', {class: 'muted small'}, `${inst.contract_type === 'inverse' ? 'Coin-M' : 'USD-M'} perpetual · margin ${inst.margin_asset}`)),
      stat('Mark', num(p.mark_price, dp), 'ticker-mark', 'mark'),
      stat('Index', num(p.index_price, dp), 'ticker-index'),
      stat('Last', num(p.last_price, dp), 'ticker-last'),
      stat('Funding / countdown', h('span', null, h('span', {class: tone(p.funding_rate_estimate)}, pct(p.funding_rate_estimate, 4)),
        ` · ${countdown(p.next_funding_time)}`), 'ticker-funding'),
      h('span', {class: `dot ${live}`, title: live === 'live' ? 'Live' : 'Reconnecting…', role: 'status',
        'aria-label': live === 'live' ? 'Market data live' : 'Market data reconnecting'}));
  }

  function stat(label, value, id, cls = '') {
    return h('div', {class: `stat ${cls}`}, h('span', {class: 'muted small'}, label), h('span', {id, class: 'num'}, value));
  }

  on('instruments', renderSymbols);
  on('symbol', () => {
    renderSymbols();
    renderTicker();
  });
  on('prices', renderTicker);
  setInterval(renderTicker, 1000);
  return {
    live(stateName) {
      live = stateName;
      renderTicker();
    },
  };
}
