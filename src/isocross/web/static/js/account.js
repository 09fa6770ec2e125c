// The account panel: per margin asset the wallet, margin balance, available; the margin level
// gauge (margin balance ÷ used margin × 100, the seeds' formula) and the margin ratio bar
// (maintenance margin ÷ margin balance, liquidation at 100 %) with the alert thresholds marked.

import {spost, sput} from './api.js';
import {fill, h} from './dom.js';
import {poolName, refreshAccount} from './data.js';
import {DASH, assetDp, num, pct, plain, tone} from './fmt.js';
import {errorLine, notify, notifyError} from './notices.js';
import {on, state} from './store.js';

const SVG = 'http://www.w3.org/2000/svg';
const LEVEL_MIN = 100;
const LEVEL_MAX = 400;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

function point(frac, r, cx = 100, cy = 100) {
  const a = Math.PI * (1 - frac);
  return [cx + r * Math.cos(a), cy - r * Math.sin(a)];
}

function arc(f0, f1, r) {
  const [x0, y0] = point(f0, r);
  const [x1, y1] = point(f1, r);
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 0 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

const levelFrac = (v) => Math.max(0, Math.min(1, (v - LEVEL_MIN) / (LEVEL_MAX - LEVEL_MIN)));

/** The margin level gauge (SVG). */
export function levelGauge(level, thresholds) {
  const value = level === null || level === undefined ? null : parseFloat(level);
  const t = thresholds.map(Number).sort((a, b) => a - b);
  const zones = [
    [LEVEL_MIN, t[0] ?? 150, 'var(--red)'],
    [t[0] ?? 150, t[1] ?? 200, 'var(--orange)'],
    [t[1] ?? 200, t[2] ?? 300, 'var(--yellow)'],
    [t[2] ?? 300, LEVEL_MAX, 'var(--green)'],
  ];
  const g = svg('svg', {viewBox: '-16 -6 232 124', class: 'gauge', role: 'img',
    'aria-label': value === null ? 'Margin level: no margin in use' : `Margin level ${value.toFixed(2)} percent`});
  for (const [a, b, color] of zones) {
    g.appendChild(svg('path', {d: arc(levelFrac(a), levelFrac(b), 80), stroke: color, 'stroke-width': 12,
      fill: 'none', opacity: value === null ? 0.25 : 0.9}));
  }
  for (const x of [...t, LEVEL_MIN]) {
    const [x0, y0] = point(levelFrac(x), 70);
    const [x1, y1] = point(levelFrac(x), 92);
    g.appendChild(svg('line', {x1: x0, y1: y0, x2: x1, y2: y1, stroke: 'var(--text)', 'stroke-width': 1.5}));
    const [lx, ly] = x === LEVEL_MIN ? [20, 114] : point(levelFrac(x), 104);
    const label = svg('text', {x: lx, y: ly + 3, class: 'tick', 'text-anchor': 'middle'});
    label.textContent = `${x} %`;
    g.appendChild(label);
  }
  if (value !== null) {
    const [nx, ny] = point(levelFrac(value), 58);
    g.appendChild(svg('line', {x1: 100, y1: 100, x2: nx, y2: ny, stroke: 'var(--text)', 'stroke-width': 3,
      'stroke-linecap': 'round'}));
    g.appendChild(svg('circle', {cx: 100, cy: 100, r: 5, fill: 'var(--text)'}));
  }
  return g;
}

/** The margin ratio bar: 0–100 %, liquidation at 100 %, alert thresholds marked. */
export function ratioBar(ratio, thresholds) {
  const r = ratio === null || ratio === undefined ? null : parseFloat(ratio);
  const width = r === null ? 100 : Math.min(100, r * 100);
  const t = thresholds.map(Number);
  const cls = r === null ? 'exhausted' : r >= Math.max(...t, 0) ? 'danger' : r >= Math.min(...t, 1) ? 'warn' : 'ok';
  return h('div', {class: `ratio-bar ${cls}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100,
    'aria-valuenow': r === null ? 100 : (r * 100).toFixed(2), 'aria-label': 'Margin ratio'},
  h('div', {class: 'fill', style: {width: `${width}%`}}),
  t.map((x) => h('span', {class: 'tick', style: {left: `${x * 100}%`}, title: `Alert at ${(x * 100).toFixed(0)} %`})),
  h('span', {class: 'tick liq', style: {left: '100%'}, title: 'Liquidation at 100 %'}));
}

export function mountAccount(panel) {
  let asset = 'USDT';

  function render() {
    const a = state.account;
    if (!state.session) {
      fill(panel, h('div', {class: 'panel-head'}, h('h2', null, 'Account')),
        h('div', {class: 'account-empty'},
          h('p', null, 'Paper trading with exact cross and isolated margin.'),
          h('p', {class: 'muted'}, 'Start a demo account: 10,000 USDT in the futures wallet, a key with trade permission, kept in this browser tab only.')));
      return;
    }
    if (!a) {
      fill(panel, h('div', {class: 'panel-head'}, h('h2', null, 'Account')), h('p', {class: 'empty'}, 'Loading…'));
      return;
    }
    const pools = a.assets;
    const pool = pools.find((p) => p.asset === asset) || pools[0];
    if (!pool) {
      fill(panel, h('div', {class: 'panel-head'}, h('h2', null, 'Account')), h('p', {class: 'empty'}, 'No balances yet.'));
      return;
    }
    asset = pool.asset;
    const th = a.margin_call_thresholds;
    const used = (parseFloat(pool.position_initial_margin) + parseFloat(pool.open_order_initial_margin)).toFixed(8);
    const select = pools.length > 1 ? h('select', {id: 'account-asset', 'aria-label': 'Margin asset',
      onchange: (e) => { asset = e.target.value; render(); }},
    pools.map((p) => h('option', {value: p.asset, selected: p.asset === asset}, p.asset))) : h('span', {class: 'muted'}, asset);
    const alerts = a.alerts_active;
    fill(panel,
      h('div', {class: 'panel-head'}, h('h2', null, 'Account'), select,
        h('span', {class: 'muted small', title: 'Position mode'}, a.position_mode)),
      h('div', {class: 'gauges'},
        h('div', {class: 'gauge-box', id: 'margin-level', dataset: {value: pool.margin_level ?? ''}},
          levelGauge(pool.margin_level, th.margin_level),
          h('div', {class: 'gauge-value'}, pool.margin_level === null ? DASH : `${num(pool.margin_level, 2)} %`),
          h('div', {class: 'gauge-label'}, 'Margin level (cross)'),
          h('div', {class: 'muted small formula'}, pool.margin_level === null ? 'no margin in use'
            : `${num(pool.margin_balance, assetDp(asset))} ÷ ${num(used, assetDp(asset))} × 100`)),
        h('div', {class: 'ratio-box', id: 'margin-ratio', dataset: {value: pool.margin_ratio ?? ''}},
          h('div', {class: 'ratio-head'}, h('span', null, 'Margin ratio (cross)'),
            h('b', {class: pool.liquidatable ? 'neg' : ''}, pool.margin_ratio === null ? 'exhausted' : pct(pool.margin_ratio))),
          ratioBar(pool.margin_ratio, th.margin_ratio),
          h('div', {class: 'muted small'}, `alerts at ${th.margin_ratio.map((x) => pct(x, 0)).join(', ')} · liquidation at 100 %`))),
      isolatedRatios(pool.asset, th.margin_ratio),
      h('table', {class: 'kv account-kv'}, h('tbody', null,
        kv('Wallet balance', pool.wallet_balance, 'wallet'),
        kv('Unrealized PnL', pool.unrealized_pnl, 'upnl', true),
        kv('Margin balance', pool.margin_balance, 'margin-balance'),
        kv('Used margin', used, 'used'),
        kv('Maintenance margin', pool.maintenance_margin, 'mm'),
        kv('Available', pool.available_balance, 'available'),
        kv('Max withdrawable', pool.max_withdrawable, 'withdrawable'),
        kv('Isolated wallets', pool.isolated_wallet_balance, 'isolated'),
        pool.spot_balance !== null && pool.spot_balance !== undefined ? kv('Spot wallet', pool.spot_balance, 'spot') : null)),
      h('div', {class: 'alerts', id: 'alerts-active'},
        h('h3', null, 'Margin-call alerts'),
        alerts.length ? h('ul', null, alerts.map((x) => h('li', {class: 'neg'},
          `${poolName(x.pool)}: ${x.metric.replace('_', ' ')} ${x.metric === 'margin_ratio' ? `≥ ${pct(x.threshold, 0)}` : `≤ ${num(x.threshold, 0)} %`}`)))
          : h('p', {class: 'muted small'}, 'None raised. Notices appear here and on screen as they happen.'),
        thresholdsForm(th)),
      faucet());
  }

  /** Each isolated position is its own pool: its margin ratio against the same alerts. */
  function isolatedRatios(name, thresholds) {
    const rows = state.positions.filter((p) => p.margin_mode === 'isolated' && p.margin_asset === name);
    if (!rows.length) return null;
    return h('div', {class: 'iso-ratios', id: 'isolated-ratios'},
      rows.map((p) => h('div', {class: 'iso-ratio', dataset: {symbol: p.symbol, value: p.margin_ratio ?? ''}},
        h('div', {class: 'ratio-head'}, h('span', null, `${p.symbol} isolated`),
          h('b', {class: p.liquidatable ? 'neg' : ''}, p.margin_ratio === null ? 'exhausted' : pct(p.margin_ratio))),
        ratioBar(p.margin_ratio, thresholds))));
  }

  function kv(label, value, id, signed = false) {
    return h('tr', null, h('th', {scope: 'row'}, label),
      h('td', {class: `num ${signed ? tone(value) : ''}`, id: `acct-${id}`, dataset: {value}},
        num(value, assetDp(asset), {sign: signed}), h('span', {class: 'unit'}, ` ${asset}`)));
  }

  function thresholdsForm(th) {
    const ratio = h('input', {id: 'th-ratio', value: th.margin_ratio.map((x) => plain(String(parseFloat(x) * 100))).join(', '),
      'aria-label': 'Margin ratio alerts in percent'});
    const level = h('input', {id: 'th-level', value: th.margin_level.join(', '), 'aria-label': 'Margin level alerts in percent'});
    const status = h('div', {'aria-live': 'polite'});
    const form = h('details', {class: 'thresholds'}, h('summary', null, 'Alert thresholds'),
      h('form', null,
        h('label', null, 'Margin ratio (%)', ratio),
        h('label', null, 'Margin level (%)', level),
        h('button', {type: 'submit', class: 'btn small ghost'}, 'Save'), status));
    form.querySelector('form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const parse = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
      try {
        await sput('/margin-call-thresholds', {
          margin_ratio: parse(ratio.value).map((x) => plain(String(parseFloat(x) / 100))),
          margin_level: parse(level.value),
        });
        fill(status, h('span', {class: 'ok-text'}, 'Saved.'));
        refreshAccount();
      } catch (err) {
        fill(status, errorLine(err));
      }
    });
    return form;
  }

  function faucet() {
    if (!state.session || !state.session.demo) return null;
    const b = h('button', {type: 'button', class: 'btn ghost small', id: 'faucet'}, 'Add 10,000 USDT (demo faucet)');
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await spost('/faucet', {asset: 'USDT', amount: '10000', to_futures: true});
        notify({level: 'ok', kind: 'faucet', title: '10,000 USDT added to the futures wallet'});
        refreshAccount();
      } catch (err) {
        notifyError('Faucet refused', err);
      } finally {
        b.disabled = false;
      }
    });
    return h('div', {class: 'faucet'}, b);
  }

  on('account', () => {
    // Keep the thresholds form open while it is being edited.
    if (panel.querySelector('details.thresholds[open]') && panel.contains(document.activeElement)) return;
    render();
  });
  on('session', render);
  on('positions', () => {
    if (panel.querySelector('details.thresholds[open]') && panel.contains(document.activeElement)) return;
    render();
  });
  render();
}
