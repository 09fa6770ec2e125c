// The isocross trading screen: wires the modules together, the pages, and the streams.

import {syncClock} from './api.js';
import {mountAccount} from './account.js';
import {mountBook} from './book.js';
import {mountChart, recordMark} from './chart.js';
import {
  applyMark, clearAccount, loadInstruments, loadPrices, onUserEvent, refreshAccount, refreshAll,
  refreshPositions,
} from './data.js';
import {$, fill, h, tablist, throttle, wireTabs} from './dom.js';
import {mountHeader} from './header.js';
import {mountModes} from './modes.js';
import {mountNotices, notify} from './notices.js';
import {mountHistory, mountOpenOrders} from './orders.js';
import {mountPositions} from './positions.js';
import {loadSession, mountSession, setSession} from './session.js';
import {emit, on, state} from './store.js';
import {mountTicket} from './ticket.js';
import {mountWhatIf} from './whatif.js';
import {MarketSocket, UserSocket} from './ws.js';

const DEFAULT_SYMBOL = 'BTCUSDT';

function pickSymbol() {
  const asked = new URLSearchParams(location.search).get('symbol');
  if (asked && state.instruments.has(asked.toUpperCase())) return asked.toUpperCase();
  const last = localStorage.getItem('isocross.symbol');
  if (last && state.instruments.has(last)) return last;
  return state.instruments.has(DEFAULT_SYMBOL) ? DEFAULT_SYMBOL : [...state.instruments.keys()][0];
}

function bottomTabs() {
  const views = $('#bottom-views');
  const panel = (id) => h('div', {id: `view-${id}`, class: 'view'});
  const defs = [
    ['positions', 'Positions'], ['open-orders', 'Open orders'], ['order-history', 'Order history'],
    ['trade-history', 'Trade history'], ['funding', 'Funding'], ['liquidations', 'Liquidations'],
    ['margin-calls', 'Margin calls'], ['what-if', 'What-if'],
  ].map(([id, label]) => ({id, label, panel: panel(id), badge: ['positions', 'open-orders'].includes(id)
    ? h('span', {class: 'count', id: `count-${id}`}, '0') : null}));
  fill(views, defs.map((d) => d.panel));
  const byId = Object.fromEntries(defs.map((d) => [d.id, d.panel]));
  const count = (id) => (n) => {
    const el = document.getElementById(`count-${id}`);
    if (el) {
      el.textContent = String(n);
      el.classList.toggle('zero', !n);
    }
  };
  mountPositions(byId.positions, count('positions'));
  mountOpenOrders(byId['open-orders'], count('open-orders'));
  const histories = {
    'order-history': mountHistory(byId['order-history'], 'orders'),
    'trade-history': mountHistory(byId['trade-history'], 'trades'),
    funding: mountHistory(byId.funding, 'funding'),
    liquidations: mountHistory(byId.liquidations, 'liquidations'),
    'margin-calls': mountHistory(byId['margin-calls'], 'margin-calls'),
  };
  const whatIf = mountWhatIf(byId['what-if']);
  const select = tablist($('#bottom-tabs'), defs, (id) => {
    for (const [key, view] of Object.entries(histories)) view.show(key === id);
    whatIf.show(id === 'what-if');
  });
  select('positions');
  return {select, whatIf};
}

function showPage() {
  const modes = location.pathname.replace(/\/$/, '') === '/margin-modes';
  $('#trade-page').hidden = modes;
  $('#marketbar').hidden = modes;
  $('#margin-modes-page').hidden = !modes;
  document.body.classList.toggle('page-modes', modes);
  document.title = modes ? 'isocross · margin modes' : `isocross · ${state.symbol || 'trade'}`;
  for (const a of document.querySelectorAll('.pages a[data-page]')) {
    const on = (a.dataset.page === 'margin-modes') === modes;
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  return modes;
}

async function main() {
  mountNotices($('#notices'));
  try {
    await Promise.all([syncClock(), loadInstruments(), loadPrices()]);
  } catch (err) {
    fill($('#trade-page'), h('p', {class: 'form-error'}, `The service did not answer: ${err.message || err}`));
    $('#trade-page').hidden = false;
    return;
  }
  state.symbol = pickSymbol();

  const header = mountHeader($('#symbols'), $('#ticker'));
  mountSession($('#session'));
  const chart = mountChart($('#chart'), $('#intervals'), $('#chart-legend'), $('#chart-title'));
  const book = mountBook($('#book'), $('#trades'));
  wireTabs($('#market-tabs'));
  mountTicket($('#ticket'));
  mountAccount($('#account'));
  bottomTabs();
  const modes = mountModes($('#margin-modes-page'));

  // ------------------------------------------------------------------ market streams
  const pricesChanged = throttle(() => emit('prices', null), 250);
  const marksMoved = throttle(() => {
    if (state.positions.length) {
      refreshPositions();
      refreshAccount();
    }
  }, 1000);
  const market = new MarketSocket((stream, data) => {
    if (stream.startsWith('!markPrice@arr')) {
      for (const p of data) {
        applyMark(p);
        const point = recordMark(p.s, p.p, p.E);
        if (p.s === state.symbol) chart.mark(point);
      }
      pricesChanged();
      marksMoved();
      return;
    }
    // Route by symbol and kind: the service may name a stream with its speed
    // ("ethusdt@depth20@250ms") whatever it was subscribed as.
    const [symbol, kind] = stream.split('@');
    if (symbol !== state.symbol.toLowerCase()) return;
    if (kind === 'depth20') book.depth(data);
    else if (kind === 'trade') {
      book.trade(data);
      const p = state.prices.get(state.symbol);
      if (p) p.last_price = data.p;
      pricesChanged();
    }
    else if (kind.startsWith('kline_')) chart.kline(data.k);
  }, (s) => header.live(s));
  const subscribe = () => {
    const lower = state.symbol.toLowerCase();
    market.set(['!markPrice@arr', `${lower}@depth20`, `${lower}@trade`, `${lower}@kline_${chart.interval()}`]);
  };

  // ------------------------------------------------------------------ the account's stream
  const user = new UserSocket(onUserEvent);
  on('session', (s) => {
    if (s) {
      refreshAll();
      user.start();
    } else {
      user.stop();
      clearAccount();
    }
  });
  on('auth-failed', (err) => {
    if (!state.session) return;
    notify({level: 'warn', kind: 'auth', key: 'auth', title: 'Signed out',
      msg: `${err.msg} Start a new demo account or enter another key.`});
    setSession(null);
  });

  // ------------------------------------------------------------------ symbol and pages
  on('select-symbol', (symbol) => {
    if (symbol === state.symbol || !state.instruments.has(symbol)) return;
    state.symbol = symbol;
    localStorage.setItem('isocross.symbol', symbol);
    const url = new URL(location.href);
    url.searchParams.set('symbol', symbol);
    history.replaceState(null, '', url);
    document.title = `isocross · ${symbol}`;
    emit('symbol', symbol);
    subscribe();
  });
  on('chart-interval', subscribe);
  document.querySelector('.pages').addEventListener('click', (e) => {
    const a = e.target.closest('a[data-page]');
    if (!a) return;
    e.preventDefault();
    history.pushState(null, '', a.dataset.page === 'trade' ? `/?symbol=${state.symbol}` : '/margin-modes');
    if (showPage()) modes.show();
  });
  window.addEventListener('popstate', () => {
    if (showPage()) modes.show();
  });

  emit('instruments', state.instruments);
  emit('symbol', state.symbol);
  subscribe();
  if (showPage()) modes.show();
  const saved = loadSession();
  if (saved) setSession(saved);
  else emit('session', null);
  document.body.dataset.ready = 'true';
}

main();
