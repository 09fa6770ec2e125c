// Loading and refreshing what the page shows, and reacting to the account's live events.

import {get, sget} from './api.js';
import {throttle} from './dom.js';
import {num, pct} from './fmt.js';
import {notify} from './notices.js';
import {emit, state} from './store.js';

export async function loadInstruments() {
  const rows = await get('/instruments');
  state.instruments = new Map(rows.map((r) => [r.symbol, r]));
  emit('instruments', state.instruments);
}

export async function loadPrices() {
  const rows = await get('/prices');
  for (const r of rows) state.prices.set(r.symbol, r);
  emit('prices', null);
}

/** A markPriceUpdate payload (Binance shape) into state.prices. */
export function applyMark(p) {
  const old = state.prices.get(p.s) || {symbol: p.s};
  state.prices.set(p.s, {
    ...old, mark_price: p.p, index_price: p.i, funding_rate_estimate: p.r,
    next_funding_time: p.T || old.next_funding_time, time: p.E,
  });
}

async function guarded(fn) {
  if (!state.session) return;
  try {
    await fn();
  } catch (err) {
    if (err && (err.status === 401 || err.status === 403)) emit('auth-failed', err);
  }
}

export const refreshAccount = throttle(() => guarded(async () => {
  state.account = await sget('/account');
  emit('account', state.account);
}), 250);

export const refreshPositions = throttle(() => guarded(async () => {
  state.positions = await sget('/positions');
  emit('positions', state.positions);
}), 250);

export const refreshOrders = throttle(() => guarded(async () => {
  state.orders = await sget('/orders');
  emit('orders', state.orders);
}), 250);

export const refreshSettings = throttle(() => guarded(async () => {
  const rows = await sget('/symbols');
  state.settings = new Map(rows.map((r) => [r.symbol, r]));
  emit('settings', state.settings);
}), 250);

export function refreshAll() {
  refreshAccount();
  refreshPositions();
  refreshOrders();
  refreshSettings();
  emit('history-stale', null);
}

export function clearAccount() {
  state.account = null;
  state.positions = [];
  state.orders = [];
  state.settings = new Map();
  emit('account', null);
  emit('positions', []);
  emit('orders', []);
  emit('settings', state.settings);
}

/** Where a margin call or liquidation happened, in words. */
export function poolName(pool) {
  if (!pool) return '';
  if (pool.includes(':')) {
    const [symbol, side] = pool.split(':');
    return `${symbol} isolated${side && side !== 'BOTH' ? ` ${side}` : ''}`;
  }
  return `${pool} cross pool`;
}

function metricText(e) {
  if (e.metric === 'margin_ratio') {
    return `margin ratio ${pct(e.value)} reached the ${pct(e.threshold, 0)} alert (liquidation at 100 %)`;
  }
  return `margin level ${num(e.value, 2)} % fell to the ${num(e.threshold, 0)} % alert (liquidation at 100 %)`;
}

/** A liquidation's steps, per pool, shown as one notice. */
const liquidations = new Map();

function liquidationNotice(pool, title) {
  notify({level: 'danger', kind: 'liquidation', sticky: true, key: `liquidation:${pool}`,
    title: `${title} · ${poolName(pool)}`, msg: liquidations.get(pool) || []});
}

/** One event of the account's stream: refresh what it changes, raise notices. */
export function onUserEvent(e) {
  emit('user-event', e);
  switch (e.e) {
    case 'MarginCall':
      notify({level: 'danger', kind: 'margin-call', sticky: true, key: `margin-call:${e.pool}`,
        title: `Margin call · ${poolName(e.pool)}`,
        msg: `${metricText(e)}. Add margin or reduce the position.`});
      refreshAccount();
      refreshPositions();
      break;
    case 'LiquidationStarted':
      liquidations.set(e.pool, [`Margin balance ${num(e.margin_balance, 2)} fell to the maintenance margin ${num(e.maintenance_margin, 2)}${e.orders_canceled ? `; ${e.orders_canceled} order(s) canceled` : ''}.`]);
      liquidationNotice(e.pool, 'Liquidation');
      break;
    case 'LiquidationFilled': {
      const lines = liquidations.get(e.pool) || [];
      lines.push(`Liquidated ${num(e.qty, null)} ${e.symbol} at ${num(e.price, null)} ${e.how === 'book' ? 'in the book' : `by ${e.how}`}${e.partial ? ' (partial)' : ''}; bankruptcy price ${num(e.bankruptcy_price, null)}.`);
      liquidations.set(e.pool, lines);
      liquidationNotice(e.pool, 'Liquidated');
      refreshPositions();
      break;
    }
    case 'LiquidationEnded': {
      const lines = liquidations.get(e.pool) || [];
      lines.push(`Ended: ${e.outcome}; liquidation fee ${num(e.fee, 2)}.`);
      liquidations.set(e.pool, lines);
      liquidationNotice(e.pool, 'Liquidated');
      liquidations.delete(e.pool);
      refreshAll();
      break;
    }
    case 'AutoMarginAdded':
      notify({level: 'info', kind: 'auto-add', title: `Auto-add margin · ${e.symbol}`,
        msg: `${num(e.amount, 2)} moved into the isolated wallet.`});
      break;
    case 'AutoDeleveraged':
      notify({level: 'warn', kind: 'adl', title: `Auto-deleveraged · ${e.symbol}`,
        msg: `${num(e.qty, null)} closed at ${num(e.price, null)} against a liquidated position.`});
      break;
    case 'FundingPaid':
      refreshAccount();
      emit('history-stale', 'funding');
      break;
    case 'FillSettled':
      refreshPositions();
      refreshAccount();
      emit('history-stale', 'trades');
      break;
    case 'OrderUpdated':
      refreshOrders();
      emit('history-stale', 'orders');
      break;
    case 'PositionChanged':
      refreshPositions();
      refreshSettings();
      break;
    case 'LedgerPosted':
      refreshAccount();
      break;
    case 'SettingsChanged':
      refreshSettings();
      refreshAccount();
      break;
    default:
      break;
  }
}
