// The positions table: size, entry, mark, liquidation price, margin (add / remove for
// isolated), margin ratio, unrealized PnL and ROE, ADL quantile, take-profit / stop-loss
// editing and close buttons.

import {sdel, spost, sput} from './api.js';
import {fill, h} from './dom.js';
import {refreshAll, refreshOrders, refreshPositions} from './data.js';
import {DASH, assetDp, decimalsOf, num, pct, plain, tone} from './fmt.js';
import {errorLine, notify, notifyError} from './notices.js';
import {emit, on, state} from './store.js';

export function mountPositions(panel, onCount) {
  const open = {margin: null, tpsl: null, focus: false};

  function pool(asset) {
    return state.account ? state.account.assets.find((a) => a.asset === asset) : null;
  }

  function protective(p) {
    const mine = state.orders.filter((o) => o.symbol === p.symbol && o.close_position &&
      (o.position_side === p.position_side || o.position_side === 'BOTH'));
    return {
      tp: mine.find((o) => o.type === 'TAKE_PROFIT_MARKET') || null,
      sl: mine.find((o) => o.type === 'STOP_MARKET') || null,
    };
  }

  function ratioTone(ratio) {
    const r = parseFloat(ratio);
    if (!Number.isFinite(r)) return '';
    const levels = state.account ? state.account.margin_call_thresholds.margin_ratio.map(Number) : [0.5, 0.7, 0.8];
    if (r >= Math.max(...levels, 0.8)) return 'neg strong';
    if (r >= Math.min(...levels, 0.5)) return 'warn';
    return 'pos';
  }

  function adl(q) {
    return h('span', {class: 'adl', title: `ADL quantile ${q} of 5: ${q >= 4 ? 'first in line' : q >= 2 ? 'in the middle' : 'last in line'} to be auto-deleveraged`,
      'aria-label': `ADL quantile ${q} of 5`},
    [1, 2, 3, 4, 5].map((i) => h('i', {class: i <= q ? `on q${q}` : ''})));
  }

  function row(p) {
    const inst = state.instruments.get(p.symbol);
    const pdp = inst ? inst.price_precision : 2;
    const qdp = inst ? decimalsOf(inst.step_size) : 3;
    const iso = p.margin_mode === 'isolated';
    const adp = assetDp(p.margin_asset);
    const long = parseFloat(p.qty) > 0;
    const ratio = iso ? p.margin_ratio : (pool(p.margin_asset) || {}).margin_ratio;
    const {tp, sl} = protective(p);
    const key = `${p.symbol}:${p.position_side}`;
    const marginCell = iso
      ? h('td', {class: 'num margin'},
        h('span', {class: 'margin-value', dataset: {value: p.isolated_wallet}}, num(p.isolated_wallet, adp)),
        h('span', {class: 'margin-btns'},
          h('button', {type: 'button', class: 'btn ghost tiny', 'aria-label': `Add margin to ${p.symbol}`,
            dataset: {act: 'margin', mode: 'add', key}}, '+'),
          h('button', {type: 'button', class: 'btn ghost tiny', 'aria-label': `Remove margin from ${p.symbol}`,
            dataset: {act: 'margin', mode: 'remove', key}}, '−')))
      : h('td', {class: 'num margin'}, num(p.initial_margin, adp), h('span', {class: 'muted small'}, ' IM'));
    const tr = h('tr', {class: `position ${long ? 'long' : 'short'}${p.liquidatable ? ' liquidating' : ''}`,
      dataset: {symbol: p.symbol, side: p.position_side, mode: p.margin_mode}},
    h('th', {scope: 'row'}, h('div', {class: 'sym'},
      h('span', {class: `side-bar ${long ? 'pos' : 'neg'}`, 'aria-hidden': 'true'}),
      h('button', {type: 'button', class: 'link', onclick: () => emit('select-symbol', p.symbol)}, p.symbol),
      h('span', {class: `badge ${p.margin_mode}`}, `${iso ? 'Isolated' : 'Cross'} ${p.leverage}x`),
      p.position_side !== 'BOTH' ? h('span', {class: 'badge'}, p.position_side) : null)),
    h('td', {class: `num ${long ? 'pos' : 'neg'}`, dataset: {value: p.qty}}, num(p.qty, qdp, {sign: true})),
    h('td', {class: 'num entry', dataset: {value: p.entry_price}}, num(p.entry_price, pdp)),
    h('td', {class: 'num mark', dataset: {value: p.mark_price}}, num(p.mark_price, pdp)),
    h('td', {class: 'num liq', dataset: {value: p.liquidation_price ?? ''}},
      p.liquidation_price === null ? h('span', {class: 'muted', title: 'This price alone cannot liquidate the position'}, 'none') : num(p.liquidation_price, pdp)),
    marginCell,
    h('td', {class: `num ratio ${ratioTone(ratio)}`, dataset: {value: ratio ?? ''},
      title: iso ? 'Maintenance margin / the position\'s margin balance' : `Of the ${p.margin_asset} cross pool`},
    ratio === null || ratio === undefined ? DASH : pct(ratio)),
    h('td', {class: `num pnl ${tone(p.unrealized_pnl)}`, dataset: {value: p.unrealized_pnl}},
      h('div', null, num(p.unrealized_pnl, adp, {sign: true})), h('div', {class: 'roe'}, pct(p.roe, 2, {sign: true}))),
    h('td', {class: 'num'}, adl(p.adl_quantile)),
    h('td', null, h('div', {class: 'tpsl'},
      h('div', {class: 'tpsl-values'},
        h('span', {class: 'pos', title: 'Take profit'}, tp ? num(tp.stop_price, pdp) : DASH),
        h('span', {class: 'neg', title: 'Stop loss'}, sl ? num(sl.stop_price, pdp) : DASH)),
      h('button', {type: 'button', class: 'btn ghost tiny', dataset: {act: 'tpsl', key},
        'aria-label': `Edit take-profit and stop-loss of ${p.symbol}`}, 'Edit'))),
    h('td', null, h('div', {class: 'close-cell'},
      h('button', {type: 'button', class: 'btn ghost tiny', dataset: {act: 'close-market', key},
        'aria-label': `Close ${p.symbol} at market`}, 'Market'),
      h('button', {type: 'button', class: 'btn ghost tiny', dataset: {act: 'close-limit', key},
        'aria-label': `Close ${p.symbol} with a limit order`}, 'Limit'))));
    const rows = [tr];
    if (open.margin && open.margin.key === key) rows.push(marginEditor(p, open.margin.mode));
    if (open.tpsl === key) rows.push(tpslEditor(p, tp, sl));
    return rows;
  }

  function marginEditor(p, mode) {
    const amount = h('input', {id: 'margin-amount', inputmode: 'decimal', autocomplete: 'off',
      'aria-label': `Amount to ${mode}`});
    const status = h('div', {class: 'editor-status', 'aria-live': 'assertive'});
    const auto = h('input', {type: 'checkbox', id: 'auto-add', checked: p.auto_add_margin});
    const submit = h('button', {type: 'submit', class: `btn small ${mode === 'add' ? 'buy' : 'sell'}`, id: 'margin-submit'},
      mode === 'add' ? 'Add margin' : 'Remove margin');
    const maxAdd = (pool(p.margin_asset) || {}).max_withdrawable;
    const form = h('form', {class: 'editor', id: 'margin-editor'},
      h('div', {class: 'seg small', role: 'group', 'aria-label': 'Add or remove'},
        ['add', 'remove'].map((m) => h('button', {type: 'button', 'aria-pressed': String(m === mode),
          onclick: () => {
            open.margin = {key: `${p.symbol}:${p.position_side}`, mode: m};
            open.focus = true;
            render();
          }}, m === 'add' ? 'Add' : 'Remove'))),
      h('label', {class: 'inline'}, h('span', null, `${mode === 'add' ? 'Add' : 'Remove'} (${p.margin_asset})`), amount),
      h('span', {class: 'muted'}, mode === 'add'
        ? `up to ${num(maxAdd, assetDp(p.margin_asset))} from the cross wallet`
        : `up to ${num(p.max_removable, assetDp(p.margin_asset))} (max removable)`),
      submit,
      h('button', {type: 'button', class: 'btn ghost small', onclick: () => { open.margin = null; render(); }}, 'Cancel'),
      h('label', {class: 'check'}, auto, ' Auto-add margin'),
      status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      fill(status);
      try {
        await spost(`/positions/${p.symbol}/margin`, {action: mode, amount: plain(amount.value), position_side: p.position_side});
        notify({level: 'ok', kind: 'margin', title: `${mode === 'add' ? 'Added' : 'Removed'} ${num(plain(amount.value), 2)} ${p.margin_asset}`,
          msg: `${p.symbol} isolated margin ${mode === 'add' ? 'increased' : 'reduced'}: its liquidation price moved.`});
        open.margin = null;
        refreshAll();
      } catch (err) {
        fill(status, errorLine(err));
        submit.disabled = false;
      }
    });
    auto.addEventListener('change', async () => {
      try {
        await sput(`/symbols/${p.symbol}/auto-add-margin`, {enabled: auto.checked});
        refreshPositions();
      } catch (err) {
        auto.checked = !auto.checked;
        fill(status, errorLine(err));
      }
    });
    if (open.focus) setTimeout(() => amount.focus(), 0);
    return h('tr', {class: 'editor-row'}, h('td', {colspan: 11}, form));
  }

  function tpslEditor(p, tp, sl) {
    const inst = state.instruments.get(p.symbol);
    const long = parseFloat(p.qty) > 0;
    const tpIn = h('input', {id: 'tp-price', inputmode: 'decimal', value: tp ? tp.stop_price : '', 'aria-label': 'Take-profit trigger price'});
    const slIn = h('input', {id: 'sl-price', inputmode: 'decimal', value: sl ? sl.stop_price : '', 'aria-label': 'Stop-loss trigger price'});
    const status = h('div', {class: 'editor-status', 'aria-live': 'assertive'});
    const form = h('form', {class: 'editor', id: 'tpsl-editor'},
      h('label', {class: 'inline'}, h('span', {class: 'pos'}, 'Take profit'), tpIn),
      h('label', {class: 'inline'}, h('span', {class: 'neg'}, 'Stop loss'), slIn),
      h('span', {class: 'muted'}, `Mark-price triggers; each closes the whole ${long ? 'long' : 'short'} at market. Empty removes it.`),
      h('button', {type: 'submit', class: 'btn small primary'}, 'Save'),
      h('button', {type: 'button', class: 'btn ghost small', onclick: () => { open.tpsl = null; render(); }}, 'Cancel'),
      status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      fill(status);
      try {
        for (const [input, existing, type] of [[tpIn, tp, 'TAKE_PROFIT_MARKET'], [slIn, sl, 'STOP_MARKET']]) {
          const want = plain(input.value);
          if (existing && existing.stop_price === want) continue;
          if (existing) await sdel(`/orders/${existing.order_id}`);
          if (!want) continue;
          await spost('/orders', {symbol: p.symbol, side: long ? 'SELL' : 'BUY', type,
            stop_price: plain(want, inst.price_precision), close_position: true, working_type: 'MARK_PRICE',
            position_side: p.position_side});
        }
        notify({level: 'ok', kind: 'tpsl', title: `${p.symbol} take-profit / stop-loss saved`});
        open.tpsl = null;
        refreshOrders();
      } catch (err) {
        fill(status, errorLine(err));
        refreshOrders();
      }
    });
    if (open.focus) setTimeout(() => tpIn.focus(), 0);
    return h('tr', {class: 'editor-row'}, h('td', {colspan: 11}, form));
  }

  async function closeMarket(p, button) {
    button.disabled = true;
    const long = parseFloat(p.qty) > 0;
    const body = {symbol: p.symbol, side: long ? 'SELL' : 'BUY', type: 'MARKET',
      qty: plain(p.qty).replace('-', '')};
    if (p.position_side === 'BOTH') body.reduce_only = true;
    else body.position_side = p.position_side;
    try {
      const out = await spost('/orders', body);
      notify({level: 'ok', kind: 'close', title: `${p.symbol} closed`,
        msg: `${num(out.order.filled_qty, null)} at ${num(out.order.average_price, null)} (${out.order.status.toLowerCase()}).`});
      refreshAll();
    } catch (err) {
      notifyError(`Could not close ${p.symbol}`, err);
      button.disabled = false;
    }
  }

  function render() {
    const rows = state.positions;
    onCount(rows.length);
    if (!state.session) {
      fill(panel, h('p', {class: 'empty'}, 'Start a demo account to see positions here.'));
      return;
    }
    if (!rows.length) {
      fill(panel, h('p', {class: 'empty', id: 'no-positions'}, 'No open positions.'));
      return;
    }
    const keep = document.activeElement && panel.contains(document.activeElement) && document.activeElement.id
      ? {id: document.activeElement.id, value: document.activeElement.value} : null;
    fill(panel, h('div', {class: 'table-wrap'}, h('table', {class: 'grid positions', id: 'positions-table'},
      h('thead', null, h('tr', null,
        ['Symbol', 'Size', 'Entry', 'Mark', 'Liq. price', 'Margin', 'Margin ratio', 'PnL / ROE', 'ADL', 'TP / SL', 'Close']
          .map((c, i) => h('th', {scope: 'col', class: i > 0 && i < 9 ? 'num' : ''}, c)))),
      h('tbody', null, rows.map(row)))));
    open.focus = false;
    if (keep) {
      const el = document.getElementById(keep.id);
      if (el) {
        if ('value' in el && keep.value !== undefined) el.value = keep.value;
        el.focus();
      }
    }
  }

  panel.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const p = state.positions.find((x) => `${x.symbol}:${x.position_side}` === b.dataset.key);
    if (!p) return;
    if (b.dataset.act === 'margin') {
      open.margin = open.margin && open.margin.key === b.dataset.key && open.margin.mode === b.dataset.mode
        ? null : {key: b.dataset.key, mode: b.dataset.mode};
      open.tpsl = null;
      open.focus = true;
      render();
    } else if (b.dataset.act === 'tpsl') {
      open.tpsl = open.tpsl === b.dataset.key ? null : b.dataset.key;
      open.margin = null;
      open.focus = true;
      render();
    } else if (b.dataset.act === 'close-market') closeMarket(p, b);
    else if (b.dataset.act === 'close-limit') {
      emit('select-symbol', p.symbol);
      emit('ticket-close', p);
    }
  });

  // The table re-renders on every refresh; an open editor keeps what was typed.
  on('positions', render);
  on('orders', () => {
    if (!open.margin && !open.tpsl) render();
  });
  on('account', () => {
    if (!open.margin && !open.tpsl) render();
  });
  on('session', render);
  render();
  return {render};
}
