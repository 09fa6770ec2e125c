// Open orders (cancel one or all) and the history tabs: orders, trades, funding,
// liquidations, margin calls.

import {sdel, sget} from './api.js';
import {fill, h} from './dom.js';
import {poolName, refreshOrders} from './data.js';
import {DASH, datetime, decimalsOf, num, pct, tone} from './fmt.js';
import {notify, notifyError} from './notices.js';
import {on, state} from './store.js';

const typeText = (t) => (t || '').replace(/_/g, ' ').toLowerCase();

/** "LiquidationFilled" → "filled"; "AutoDeleveraged" → "auto-deleveraged". */
function stepName(kind) {
  const m = /^Liquidation(\w+)$/.exec(kind || '');
  if (m) return m[1].toLowerCase();
  return kind === 'AutoDeleveraged' ? 'auto-deleveraged' : (kind || DASH);
}

const HIDDEN = new Set(['@', 'e', 'seq', 'ts', 'account_id', 'pool', 'symbol', 'position_side', 'qty', 'price']);

/** The figures of a liquidation step worth reading, in words. */
function details(d) {
  return Object.entries(d)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== null && v !== '' && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')} ${typeof v === 'string' && /^-?[\d.]+$/.test(v) ? num(v, null) : v}`)
    .join(' · ');
}

function priceDp(symbol) {
  const inst = state.instruments.get(symbol);
  return inst ? inst.price_precision : 2;
}

function qtyDp(symbol) {
  const inst = state.instruments.get(symbol);
  return inst ? decimalsOf(inst.step_size) : 3;
}

function table(id, columns, rows, empty) {
  if (!rows.length) return h('p', {class: 'empty'}, empty);
  return h('div', {class: 'table-wrap'}, h('table', {class: 'grid', id},
    h('thead', null, h('tr', null, columns.map(([label, cls]) => h('th', {scope: 'col', class: cls || ''}, label)))),
    h('tbody', null, rows)));
}

export function mountOpenOrders(panel, onCount) {
  function render() {
    const rows = state.orders;
    onCount(rows.length);
    if (!state.session) {
      fill(panel, h('p', {class: 'empty'}, 'Start a demo account to see open orders here.'));
      return;
    }
    const cancelAll = h('button', {type: 'button', class: 'btn ghost small', id: 'cancel-all',
      disabled: !rows.some((o) => o.symbol === state.symbol)}, `Cancel all ${state.symbol || ''}`);
    cancelAll.addEventListener('click', async () => {
      try {
        const out = await sdel('/orders', {symbol: state.symbol});
        notify({level: 'ok', kind: 'cancel', title: `${out.canceled} order(s) canceled`});
        refreshOrders();
      } catch (err) {
        notifyError('Cancel refused', err);
      }
    });
    fill(panel, h('div', {class: 'toolbar'}, cancelAll),
      table('open-orders', [['Time'], ['Symbol'], ['Type'], ['Side'], ['Price', 'num'], ['Trigger', 'num'],
        ['Filled / qty', 'num'], ['Flags'], ['']],
      rows.map((o) => h('tr', {dataset: {order: o.order_id}},
        h('td', {class: 'muted'}, datetime(o.created_time)),
        h('td', null, o.symbol),
        h('td', null, typeText(o.type), o.waiting_for_trigger ? h('span', {class: 'badge'}, 'waiting') : null),
        h('td', {class: o.side === 'BUY' ? 'pos' : 'neg'}, o.side === 'BUY' ? 'Buy' : 'Sell'),
        h('td', {class: 'num'}, o.price ? num(o.price, priceDp(o.symbol)) : 'market'),
        h('td', {class: 'num'}, o.stop_price ? num(o.stop_price, priceDp(o.symbol))
          : o.callback_rate ? `${pct(o.callback_rate)} trail` : DASH),
        h('td', {class: 'num'}, o.close_position ? 'whole position'
          : `${num(o.filled_qty, qtyDp(o.symbol))} / ${num(o.qty, qtyDp(o.symbol))}`),
        h('td', {class: 'muted'}, [o.reduce_only && !o.close_position ? 'reduce-only' : '', o.close_position ? 'closes position' : '',
          o.price && o.time_in_force !== 'GTC' ? o.time_in_force : ''].filter(Boolean).join(' · ') || DASH),
        h('td', null, h('button', {type: 'button', class: 'btn ghost tiny', 'aria-label': `Cancel order ${o.order_id}`,
          onclick: async (e) => {
            e.currentTarget.disabled = true;
            try {
              await sdel(`/orders/${o.order_id}`);
              refreshOrders();
            } catch (err) {
              notifyError('Cancel refused', err);
            }
          }}, 'Cancel')))),
      'No open orders.'));
  }
  on('orders', render);
  on('session', render);
  on('symbol', render);
  render();
}

/** A history tab: ``load()`` fetches when it is shown or its data went stale. */
export function mountHistory(panel, kind) {
  let visible = false;
  let stale = true;

  const views = {
    orders: {
      path: '/history/orders', empty: 'No orders yet.',
      columns: [['Updated'], ['Symbol'], ['Type'], ['Side'], ['Price', 'num'], ['Filled', 'num'], ['Status'], ['Why']],
      row: (o) => h('tr', null, h('td', {class: 'muted'}, datetime(o.update_time)), h('td', null, o.symbol),
        h('td', null, typeText(o.type)), h('td', {class: o.side === 'BUY' ? 'pos' : 'neg'}, o.side || DASH),
        h('td', {class: 'num'}, o.price ? num(o.price, priceDp(o.symbol)) : o.stop_price ? num(o.stop_price, priceDp(o.symbol)) : 'market'),
        h('td', {class: 'num'}, num(o.filled_qty, qtyDp(o.symbol))), h('td', null, o.status.toLowerCase()),
        h('td', {class: 'muted'}, o.reason)),
    },
    trades: {
      path: '/history/trades', empty: 'No fills yet.',
      columns: [['Time'], ['Symbol'], ['Side'], ['Price', 'num'], ['Qty', 'num'], ['Fee', 'num'], ['Realized PnL', 'num'], ['Role']],
      row: (f) => h('tr', null, h('td', {class: 'muted'}, datetime(f.time)), h('td', null, f.symbol),
        h('td', {class: f.side === 'BUY' ? 'pos' : 'neg'}, f.side), h('td', {class: 'num'}, num(f.price, priceDp(f.symbol))),
        h('td', {class: 'num'}, num(f.qty, qtyDp(f.symbol))), h('td', {class: 'num'}, num(f.fee, 4)),
        h('td', {class: `num ${tone(f.realized_pnl)}`}, num(f.realized_pnl, 2, {sign: true})),
        h('td', {class: 'muted'}, f.is_maker ? 'maker' : 'taker')),
    },
    funding: {
      path: '/history/funding', empty: 'No funding payments yet (every 8 hours, per position).',
      columns: [['Time'], ['Symbol'], ['Side'], ['Rate', 'num'], ['Amount', 'num']],
      row: (f) => h('tr', null, h('td', {class: 'muted'}, datetime(f.time)), h('td', null, f.symbol),
        h('td', null, f.position_side), h('td', {class: 'num'}, pct(f.rate, 4)),
        h('td', {class: `num ${tone(f.amount)}`}, `${num(f.amount, 4, {sign: true})} ${f.asset || ''}`)),
    },
    liquidations: {
      path: '/history/liquidations', empty: 'No liquidations.',
      columns: [['Time'], ['Step'], ['Pool'], ['Symbol'], ['Qty', 'num'], ['Price', 'num'], ['Details']],
      row: (l) => h('tr', {class: 'liq-step'}, h('td', {class: 'muted'}, datetime(l.time)),
        h('td', {class: 'neg'}, stepName(l.kind)),
        h('td', null, l.pool ? poolName(l.pool) : DASH), h('td', null, l.symbol || DASH),
        h('td', {class: 'num'}, l.qty ? num(l.qty, null) : DASH), h('td', {class: 'num'}, l.price ? num(l.price, null) : DASH),
        h('td', {class: 'muted small'}, details(l.details || {}))),
    },
    'margin-calls': {
      path: '/history/margin-calls', empty: 'No margin calls.',
      columns: [['Time'], ['Pool'], ['Metric'], ['Threshold', 'num'], ['Value', 'num']],
      row: (m) => h('tr', null, h('td', {class: 'muted'}, datetime(m.time)), h('td', null, poolName(m.pool)),
        h('td', null, m.metric.replace('_', ' ')),
        h('td', {class: 'num'}, m.metric === 'margin_ratio' ? pct(m.threshold, 0) : `${num(m.threshold, 0)} %`),
        h('td', {class: 'num neg'}, m.metric === 'margin_ratio' ? pct(m.value) : `${num(m.value, 2)} %`)),
    },
  };
  const view = views[kind];

  async function load() {
    if (!visible || !stale) return;
    if (!state.session) {
      fill(panel, h('p', {class: 'empty'}, 'Start a demo account to see your history here.'));
      return;
    }
    stale = false;
    try {
      const rows = await sget(view.path, {limit: 200});
      fill(panel, table(`history-${kind}`, view.columns, rows.reverse().map(view.row), view.empty));
    } catch (err) {
      stale = true;
      fill(panel, h('p', {class: 'form-error'}, err.msg || String(err)));
    }
  }

  on('history-stale', (which) => {
    if (!which || which === kind || (kind === 'liquidations' && which === 'trades')) {
      stale = true;
      load();
    }
  });
  on('user-event', (e) => {
    if ((kind === 'liquidations' && e.e.startsWith('Liquidation')) || (kind === 'margin-calls' && e.e === 'MarginCall')) {
      stale = true;
      load();
    }
  });
  on('session', () => {
    stale = true;
    load();
  });
  return {
    show(on) {
      visible = on;
      load();
    },
  };
}
