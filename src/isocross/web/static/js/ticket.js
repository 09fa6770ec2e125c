// The order ticket: margin mode (Cross / Isolated, with the rule shown when switching is
// blocked), leverage bounded by the tier, order type, size by quantity or by margin, and a
// review (POST /orders/preview: cost, initial margin, fee and the estimated liquidation price
// in both modes side by side) before Confirm places it (POST /orders).

import {ApiError, sget, spost, sput} from './api.js';
import {debounce, fill, h} from './dom.js';
import {DASH, assetDp, decimalsOf, fixed, floorToStep, num, pct, plain, toNumber} from './fmt.js';
import {refreshAll, refreshOrders, refreshSettings} from './data.js';
import {lockIcon} from './icons.js';
import {errorLine, notify, notifyError} from './notices.js';
import {instrument, markOf, on, positionsOf, settingsOf, state, tierFor} from './store.js';

const TYPES = [
  {id: 'limit', label: 'Limit'},
  {id: 'market', label: 'Market'},
  {id: 'stop', label: 'Stop'},
  {id: 'take-profit', label: 'Take profit'},
  {id: 'trailing', label: 'Trailing'},
];
const TIFS = [['GTC', 'Good till canceled'], ['IOC', 'Immediate or cancel'],
  ['FOK', 'Fill or kill'], ['GTX', 'Post only']];
const MODE_TEXT = {
  cross: 'Cross: the whole cross wallet of the margin asset backs this position, and every other cross position shares it. More room before liquidation; a liquidation takes the whole pool.',
  isolated: 'Isolated: only the margin you give this position is at risk. Its liquidation price is nearer, and it can never lose more than its own margin.',
};
const RULE = 'The margin mode of a symbol can change only while it has no open position and no open orders: once a position is open under one mode, it keeps that mode until it is closed.';

export function mountTicket(root) {
  const t = {type: 'limit', execution: 'MARKET', unit: 'qty', review: null, maxQty: {}};

  // ------------------------------------------------------------------ elements
  const title = h('h2', {id: 'ticket-title'}, 'Order');
  const modeButtons = ['cross', 'isolated'].map((m) => h('button', {type: 'button',
    class: `mode-${m}`, dataset: {mode: m}, 'aria-pressed': 'false', id: `mode-${m}`},
  m === 'cross' ? 'Cross' : 'Isolated'));
  const modeSeg = h('div', {class: 'seg mode-seg', role: 'group', 'aria-label': 'Margin mode',
    id: 'margin-mode'}, modeButtons);
  const modeLock = h('span', {class: 'lock', id: 'mode-lock', hidden: true, title: 'Margin mode is locked'},
    lockIcon(), 'locked');
  const modeText = h('p', {class: 'hint', id: 'mode-text'});
  const modeRule = h('div', {class: 'rule', id: 'mode-rule', hidden: true});
  const modeError = h('div', {id: 'mode-error', 'aria-live': 'assertive'});

  const levRange = h('input', {type: 'range', id: 'leverage', min: 1, max: 125, step: 1, value: 20,
    'aria-describedby': 'leverage-hint'});
  const levNumber = h('input', {type: 'number', id: 'leverage-input', min: 1, max: 125, step: 1,
    value: 20, inputmode: 'numeric', 'aria-label': 'Leverage (x)'});
  const levTicks = h('div', {class: 'lev-ticks', 'aria-hidden': 'true'});
  const levHint = h('p', {class: 'hint', id: 'leverage-hint'});
  const levStatus = h('div', {id: 'leverage-status', 'aria-live': 'polite'});

  const typeButtons = TYPES.map((x) => h('button', {type: 'button', role: 'radio',
    'aria-checked': String(x.id === t.type), dataset: {type: x.id}, id: `type-${x.id}`}, x.label));
  const typeSeg = h('div', {class: 'seg types', role: 'radiogroup', 'aria-label': 'Order type'}, typeButtons);

  const execSel = h('select', {id: 'execution', 'aria-label': 'Execution when triggered'},
    h('option', {value: 'MARKET'}, 'Market when triggered'),
    h('option', {value: 'LIMIT'}, 'Limit when triggered'));
  const workingSel = h('select', {id: 'working-type', 'aria-label': 'Trigger on'},
    h('option', {value: 'MARK_PRICE'}, 'Mark price'), h('option', {value: 'CONTRACT_PRICE'}, 'Last price'));
  const price = field('price', 'Price', 'decimal');
  const stopPrice = field('stop-price', 'Trigger price', 'decimal');
  const callback = field('callback-rate', 'Callback rate (%)', 'decimal', '1');
  const activation = field('activation-price', 'Activation price (optional)', 'decimal');
  const markBtn = h('button', {type: 'button', class: 'btn ghost tiny', id: 'use-mark',
    title: 'Use the mark price'}, 'Mark');
  price.wrap.querySelector('.input').appendChild(markBtn);

  const size = h('input', {id: 'size', inputmode: 'decimal', autocomplete: 'off', 'aria-describedby': 'size-hint'});
  const unitButtons = ['qty', 'margin'].map((u) => h('button', {type: 'button', dataset: {unit: u},
    'aria-pressed': String(u === t.unit), id: `unit-${u}`}, u));
  const unitSeg = h('div', {class: 'seg small units', role: 'group', 'aria-label': 'Size in'}, unitButtons);
  const sizeHint = h('p', {class: 'hint', id: 'size-hint'});
  const pctButtons = [25, 50, 75, 100].map((p) => h('button', {type: 'button', class: 'btn ghost tiny',
    dataset: {pct: p}}, `${p} %`));

  const reduceOnly = h('input', {type: 'checkbox', id: 'reduce-only'});
  const tif = h('select', {id: 'tif', 'aria-label': 'Time in force'},
    TIFS.map(([v, label]) => h('option', {value: v}, `${v} · ${label}`)));
  const maxLine = h('div', {class: 'max-line', id: 'max-line'});
  const buy = h('button', {type: 'submit', class: 'btn buy', id: 'review-buy', dataset: {side: 'BUY'}}, 'Review Buy / Long');
  const sell = h('button', {type: 'submit', class: 'btn sell', id: 'review-sell', dataset: {side: 'SELL'}}, 'Review Sell / Short');
  const formError = h('div', {id: 'ticket-error', 'aria-live': 'assertive'});
  const signin = h('p', {class: 'signin-hint', id: 'ticket-signin'});

  const form = h('form', {class: 'ticket-form', id: 'ticket-form', novalidate: true},
    h('div', {class: 'row'}, typeSeg),
    h('div', {class: 'row two', id: 'trigger-row'}, execSel, workingSel),
    stopPrice.wrap, price.wrap,
    h('div', {class: 'row two', id: 'trailing-row'}, callback.wrap, activation.wrap),
    h('div', {class: 'field'},
      h('label', {for: 'size'}, 'Size', unitSeg),
      h('div', {class: 'input'}, size, h('span', {class: 'unit', id: 'size-unit'}))),
    sizeHint,
    h('div', {class: 'row pcts'}, pctButtons),
    h('div', {class: 'row opts'},
      h('label', {class: 'check'}, reduceOnly, ' Reduce-only'),
      h('label', {class: 'tif-wrap'}, h('span', {class: 'sr-only'}, 'Time in force'), tif)),
    maxLine, formError,
    h('div', {class: 'row two actions'}, buy, sell), signin);

  const review = h('div', {class: 'review', id: 'review', hidden: true, role: 'region',
    'aria-label': 'Review the order', tabindex: '-1'});

  fill(root,
    h('div', {class: 'panel-head'}, title),
    h('div', {class: 'ticket-body'},
      h('div', {class: 'mode-row'}, modeSeg, modeLock), modeText, modeRule, modeError,
      h('div', {class: 'leverage'},
        h('div', {class: 'lev-head'}, h('label', {for: 'leverage'}, 'Leverage'), levNumber,
          h('span', {class: 'x'}, 'x')),
        levRange, levTicks, levHint, levStatus),
      form, review));

  // ------------------------------------------------------------------ helpers
  function field(id, label, mode, value = '') {
    const input = h('input', {id, inputmode: mode, autocomplete: 'off', value});
    const wrap = h('div', {class: 'field', id: `${id}-field`},
      h('label', {for: id}, label), h('div', {class: 'input'}, input));
    return {input, wrap};
  }

  const inst = () => instrument();
  const current = () => settingsOf() || {margin_mode: (state.account && state.account.default_margin_mode) || 'cross', leverage: 20};
  const needsPrice = () => t.type === 'limit' || ((t.type === 'stop' || t.type === 'take-profit') && t.execution === 'LIMIT');
  const needsStop = () => t.type === 'stop' || t.type === 'take-profit';

  function orderType() {
    if (t.type === 'limit') return 'LIMIT';
    if (t.type === 'market') return 'MARKET';
    if (t.type === 'trailing') return 'TRAILING_STOP_MARKET';
    const base = t.type === 'stop' ? 'STOP' : 'TAKE_PROFIT';
    return t.execution === 'MARKET' ? `${base}_MARKET` : base;
  }

  /** The price the size is valued at: the limit price, else the trigger, else the mark. */
  function refPrice() {
    if (needsPrice() && toNumber(price.input.value)) return toNumber(price.input.value);
    if (needsStop() && toNumber(stopPrice.input.value)) return toNumber(stopPrice.input.value);
    return toNumber(markOf());
  }

  function leverage() {
    const v = parseInt(levNumber.value, 10);
    return Number.isFinite(v) ? v : current().leverage;
  }

  /** The quantity the ticket stands for (a decimal string) or ''. */
  function quantity() {
    const i = inst();
    const raw = size.value.trim();
    if (!i || !raw) return '';
    if (t.unit === 'qty') return plain(raw);
    const margin = toNumber(raw);
    const px = refPrice();
    if (!margin || !px) return '';
    const contract = parseFloat(i.contract_size);
    const perUnit = i.contract_type === 'inverse' ? contract / px : contract * px;
    return floorToStep((margin * leverage()) / perUnit, i.step_size);
  }

  function notionalOf(qty, px) {
    const i = inst();
    if (!i || !qty || !px) return 0;
    const contract = parseFloat(i.contract_size);
    return i.contract_type === 'inverse' ? (parseFloat(qty) * contract) / px : parseFloat(qty) * contract * px;
  }

  // ------------------------------------------------------------------ render
  function renderMode() {
    const s = current();
    for (const b of modeButtons) b.setAttribute('aria-pressed', String(b.dataset.mode === s.margin_mode));
    modeText.textContent = MODE_TEXT[s.margin_mode] || '';
  }

  function renderLeverage() {
    const i = inst();
    if (!i) return;
    const s = current();
    const px = refPrice();
    const held = positionsOf().reduce((acc, p) => acc + Math.abs(parseFloat(p.notional)), 0);
    const ordered = notionalOf(quantity(), px);
    const tier = tierFor(i, held + ordered);
    const bound = tier ? tier.max_leverage : i.max_leverage;
    // The slider stops at what the tier holding the position plus this order allows.
    t.bound = bound;
    levRange.max = String(bound);
    levNumber.max = String(bound);
    if (document.activeElement !== levNumber && document.activeElement !== levRange) {
      levRange.value = String(Math.min(s.leverage, bound));
      levNumber.value = String(s.leverage);
    }
    const step = [1, 2, 5, 10, 20, 25, 50].find((x) => bound / x <= 5) || 50;
    const marks = [1];
    for (let m = step; m < bound; m += step) if (m > 1) marks.push(m);
    if ((bound - marks[marks.length - 1]) / bound < 0.08 && marks.length > 1) marks.pop();
    marks.push(bound);
    fill(levTicks, [...new Set(marks)].map((m) => h('span', {style: {left: `${((m - 1) / Math.max(1, bound - 1)) * 100}%`}}, `${m}x`)));
    const capText = tier && tier.cap !== null ? `up to ${num(tier.cap, 0)} ${i.margin_asset}` : 'above the last cap';
    const over = leverage() > bound;
    fill(levHint,
      h('span', {class: over ? 'neg' : ''}, `Tier ${tier ? tier.tier : 1}: notional ${capText} allows up to ${bound}x`),
      over ? h('span', {class: 'neg'}, ` · ${leverage()}x is above it: lower the leverage or the size`) : null,
      ` · maintenance ${pct(tier ? tier.maintenance_margin_rate : '0', 2)}`,
      held + ordered > 0 ? ` · position + order ${num(fixed(held + ordered, 6), assetDp(i.margin_asset) === 2 ? 0 : 4)} ${i.margin_asset}` : '');
  }

  function renderType() {
    for (const b of typeButtons) {
      const on = b.dataset.type === t.type;
      b.setAttribute('aria-checked', String(on));
      b.tabIndex = on ? 0 : -1;
    }
    price.wrap.hidden = !needsPrice();
    stopPrice.wrap.hidden = !needsStop();
    form.querySelector('#trigger-row').hidden = !needsStop() && t.type !== 'trailing';
    execSel.hidden = !needsStop();
    form.querySelector('#trailing-row').hidden = t.type !== 'trailing';
    tif.closest('.tif-wrap').hidden = !needsPrice();
    stopPrice.wrap.querySelector('label').textContent = t.type === 'stop' ? 'Stop price (trigger)' : 'Take-profit price (trigger)';
  }

  function renderSize() {
    const i = inst();
    if (!i) return;
    for (const b of unitButtons) {
      b.setAttribute('aria-pressed', String(b.dataset.unit === t.unit));
      b.textContent = b.dataset.unit === 'qty' ? (i.contract_type === 'inverse' ? 'Cont' : i.base_asset) : `Margin ${i.margin_asset}`;
    }
    root.querySelector('#size-unit').textContent = t.unit === 'qty' ? (i.contract_type === 'inverse' ? 'Cont' : i.base_asset) : i.margin_asset;
    const qty = quantity();
    const px = refPrice();
    if (!qty || qty === '0' || !px) {
      sizeHint.textContent = t.unit === 'qty'
        ? `In ${i.base_asset}; step ${plain(i.step_size)}, minimum ${plain(i.min_qty)}.`
        : `Margin to commit at ${leverage()}x; converted to ${i.base_asset} at the ${needsPrice() ? 'limit' : 'mark'} price.`;
    } else {
      const notional = notionalOf(qty, px);
      const adp = assetDp(i.margin_asset);
      sizeHint.textContent = t.unit === 'qty'
        ? `≈ ${num(fixed(notional, adp), adp)} ${i.margin_asset} notional · margin ${num(fixed(notional / leverage(), adp), adp)} ${i.margin_asset} at ${leverage()}x`
        : `= ${num(qty, decimalsOf(i.step_size))} ${i.contract_type === 'inverse' ? 'Cont' : i.base_asset} · ${num(fixed(notional, adp), adp)} ${i.margin_asset} notional`;
    }
    renderLeverage();
  }

  function renderMax() {
    const i = inst();
    if (!i) return;
    const dp = decimalsOf(i.step_size);
    const b = t.maxQty.BUY;
    const s = t.maxQty.SELL;
    fill(maxLine, h('span', null, 'Max buy ', h('b', {class: 'pos'}, b ? num(b, dp) : DASH)),
      h('span', null, 'Max sell ', h('b', {class: 'neg'}, s ? num(s, dp) : DASH)),
      h('span', {class: 'muted'}, i.contract_type === 'inverse' ? 'Cont' : i.base_asset));
  }

  function renderSignin() {
    const on = Boolean(state.session);
    signin.hidden = on;
    signin.textContent = on ? '' : 'Start a demo account (top right) to trade: 10,000 USDT of paper money.';
    for (const b of [buy, sell, ...modeButtons]) b.disabled = !on;
  }

  function renderAll() {
    const i = inst();
    if (!i) return;
    title.textContent = `Order · ${i.symbol}`;
    renderMode();
    renderType();
    renderSize();
    renderMax();
    renderSignin();
  }

  // ------------------------------------------------------------------ margin mode
  const checkBlockers = debounce(async () => {
    if (!state.session) {
      modeRule.hidden = true;
      modeLock.hidden = true;
      return;
    }
    const symbol = state.symbol;
    const other = current().margin_mode === 'cross' ? 'isolated' : 'cross';
    try {
      const out = await sget('/margin-modes/blockers', {mode: other, symbols: [symbol]});
      if (symbol !== state.symbol) return;
      const b = out.blocked.find((x) => x.symbol === symbol);
      modeLock.hidden = !b;
      modeRule.hidden = !b;
      if (!b) fill(modeError);
      if (b) fill(modeRule, h('strong', null, 'Switching is blocked: '), `${b.reason}. `, h('span', {class: 'muted'}, RULE));
    } catch {
      /* shown on the next try */
    }
  }, 200);

  async function setMode(mode) {
    if (!state.session) return;
    fill(modeError);
    const symbol = state.symbol;
    if (current().margin_mode === mode) return;
    try {
      await sput(`/symbols/${symbol}/margin-mode`, {mode});
      notify({level: 'ok', title: `${symbol} is now ${mode}`, kind: 'mode'});
      const s = settingsOf(symbol);
      if (s) s.margin_mode = mode;
      renderMode();
      refreshSettings();
      checkBlockers();
    } catch (err) {
      fill(modeError, h('div', {class: 'refusal', id: 'mode-refusal', role: 'alert'},
        h('strong', null, 'Refused: '), err.msg || String(err),
        err.code ? h('span', {class: 'muted'}, ` (code ${err.code}${err.error ? `, ${err.error}` : ''})`) : null));
      checkBlockers();
    }
  }

  // ------------------------------------------------------------------ leverage
  const applyLeverage = debounce(async (value) => {
    if (!state.session) return;
    const symbol = state.symbol;
    fill(levStatus);
    try {
      await sput(`/symbols/${symbol}/leverage`, {leverage: value});
      const s = settingsOf(symbol);
      if (s) s.leverage = value;
      fill(levStatus, h('span', {class: 'ok-text', id: 'leverage-ok'}, `${symbol} leverage set to ${value}x`));
      refreshSettings();
      t.maxQty = {};
      loadMax();
    } catch (err) {
      fill(levStatus, errorLine(err));
      levNumber.value = String(current().leverage);
      levRange.value = String(current().leverage);
    }
  }, 250);

  function onLeverageInput(value, apply) {
    const i = inst();
    const v = Math.max(1, Math.min(t.bound || (i ? i.max_leverage : 125), parseInt(value, 10) || 1));
    levRange.value = String(v);
    levNumber.value = String(v);
    renderSize();
    if (apply) applyLeverage(v);
  }

  // ------------------------------------------------------------------ max quantity
  const loadMax = debounce(async () => {
    if (!state.session || !inst()) return;
    // Without a limit price yet, the most a market order could take.
    const px = needsPrice() ? plain(price.input.value) : '';
    const type = px ? 'LIMIT' : 'MARKET';
    try {
      const [b, s] = await Promise.all(['BUY', 'SELL'].map((side) => spost('/orders/preview',
        {symbol: state.symbol, side, type, price: px || undefined, leverage: leverage()})));
      t.maxQty = {BUY: b.max_qty, SELL: s.max_qty};
    } catch {
      t.maxQty = {};
    }
    renderMax();
  }, 400);

  // ------------------------------------------------------------------ review
  function body(side) {
    const i = inst();
    const out = {symbol: i.symbol, side, type: orderType()};
    const qty = quantity();
    if (qty) out.qty = qty;
    if (needsPrice()) out.price = plain(price.input.value);
    if (needsStop()) {
      out.stop_price = plain(stopPrice.input.value);
      out.working_type = workingSel.value;
    }
    if (t.type === 'trailing') {
      const rate = toNumber(callback.input.value);
      if (rate !== null) out.callback_rate = fixed(rate / 100, 6);
      if (activation.input.value.trim()) out.activation_price = plain(activation.input.value);
      out.working_type = workingSel.value;
    }
    if (needsPrice()) out.time_in_force = tif.value;
    const hedge = state.account && state.account.position_mode === 'hedge';
    if (hedge) {
      out.position_side = side === 'BUY' ? 'LONG' : 'SHORT';
      if (reduceOnly.checked) out.position_side = side === 'BUY' ? 'SHORT' : 'LONG';
    } else if (reduceOnly.checked) out.reduce_only = true;
    return out;
  }

  function validate(order) {
    const i = inst();
    if (!order.qty || order.qty === '0') return `Enter a size${t.unit === 'margin' ? ' (margin converts to at least one step)' : ''}.`;
    if (needsPrice() && !order.price) return 'Enter a price.';
    if (needsStop() && !order.stop_price) return 'Enter a trigger price.';
    if (t.type === 'trailing' && !order.callback_rate) return 'Enter a callback rate.';
    if (i && parseFloat(order.qty) < parseFloat(i.min_qty)) return `The size is below the minimum ${plain(i.min_qty)}.`;
    return null;
  }

  async function openReview(side) {
    fill(formError);
    if (!state.session) {
      fill(formError, h('div', {class: 'form-error'}, 'Sign in first: start a demo account or enter an API key.'));
      return;
    }
    const order = body(side);
    const problem = validate(order);
    if (problem) {
      fill(formError, h('div', {class: 'form-error', role: 'alert'}, problem));
      return;
    }
    const previewBody = {symbol: order.symbol, side, qty: order.qty, leverage: leverage()};
    // A conditional order is previewed as what it becomes once triggered.
    const kind = order.type;
    previewBody.type = kind === 'LIMIT' || kind === 'STOP' || kind === 'TAKE_PROFIT' ? 'LIMIT' : 'MARKET';
    if (previewBody.type === 'LIMIT') previewBody.price = order.price;
    if (order.position_side) previewBody.position_side = order.position_side;
    buy.disabled = true;
    sell.disabled = true;
    try {
      const preview = await spost('/orders/preview', previewBody);
      t.review = {order, preview, previewBody};
      renderReview();
    } catch (err) {
      fill(formError, errorLine(err));
    } finally {
      renderSignin();
    }
  }

  function renderReview() {
    const {order, preview} = t.review;
    const i = inst();
    const pdp = i.price_precision;
    const qdp = decimalsOf(i.step_size);
    const asset = i.margin_asset;
    const adp = assetDp(asset);
    const selected = current().margin_mode;
    const sideText = order.side === 'BUY' ? 'Buy / Long' : 'Sell / Short';
    const typeText = TYPES.find((x) => x.id === t.type).label + (needsStop() ? ` (${t.execution.toLowerCase()})` : '');
    const modes = ['cross', 'isolated'];
    const m = (mode) => preview.modes[mode] || {};
    const pos = (mode) => (m(mode).position || {});
    const cell = (mode, value, dp, id, none = DASH) => h('td', {class: `num ${mode === selected ? 'sel' : ''}`,
      id: id ? `${id}-${mode}` : null, dataset: {value: value ?? ''}},
    m(mode).feasible === false ? h('span', {class: 'neg'}, 'refused')
      : value === null || value === undefined ? h('span', {class: 'muted', title: 'No price of this symbol alone can take it there'}, none)
        : num(value, dp));
    const notional = preview.fill_price ? fixed(notionalOf(preview.qty, parseFloat(preview.fill_price)), adp) : null;
    const im = pos(selected).initial_margin;
    const pool = (mode) => m(mode).pool || {};
    const refusals = modes.filter((x) => m(x).feasible === false).map((x) =>
      h('p', {class: 'form-error', id: `review-refusal-${x}`}, h('strong', null, `${x === 'cross' ? 'Cross' : 'Isolated'}: `), m(x).message,
        h('span', {class: 'muted'}, ` (${m(x).error})`)));
    const confirm = h('button', {type: 'button', class: `btn ${order.side === 'BUY' ? 'buy' : 'sell'}`, id: 'confirm-order'},
      `Confirm ${sideText}`);
    const back = h('button', {type: 'button', class: 'btn ghost', id: 'review-back'}, 'Back');
    const status = h('div', {id: 'review-status', 'aria-live': 'assertive'});
    fill(review,
      h('h3', null, `Review · ${sideText}`),
      h('p', {class: 'review-what'}, `${typeText} · ${num(preview.qty, qdp)} ${i.contract_type === 'inverse' ? 'Cont' : i.base_asset} · ${order.price ? `at ${num(order.price, pdp)}` : 'at market'}${order.stop_price ? ` · trigger ${num(order.stop_price, pdp)}` : ''} · ${selected === 'cross' ? 'Cross' : 'Isolated'} ${preview.leverage}x${order.reduce_only ? ' · reduce-only' : ''}`),
      h('table', {class: 'kv'}, h('tbody', null,
        kv('Est. fill price', num(preview.fill_price, pdp), 'review-fill', preview.fill_price),
        kv('Notional', `${num(notional, adp)} ${asset}`, 'review-notional', notional),
        kv('Cost', `${num(preview.cost, adp)} ${asset}`, 'review-cost', preview.cost),
        kv('Initial margin (position after)', `${num(im, adp)} ${asset}`, 'review-im', im),
        kv('Fee (est.)', `${num(preview.fee, adp + 2)} ${asset}`, 'review-fee', preview.fee),
        kv('Mark price', num(preview.mark_price, pdp), 'review-mark', preview.mark_price),
        kv('Max quantity', num(preview.max_qty, qdp), 'review-max', preview.max_qty))),
      h('table', {class: 'compare', id: 'review-compare'},
        h('thead', null, h('tr', null, h('th', null, 'If filled'),
          modes.map((x) => h('th', {class: `num ${x === selected ? 'sel' : ''}`, scope: 'col'},
            x === 'cross' ? 'Cross' : 'Isolated', x === selected ? h('span', {class: 'badge'}, 'selected') : null)))),
        h('tbody', null,
          h('tr', {class: 'liq-row'}, h('th', {scope: 'row'}, 'Est. liq. price'),
            modes.map((x) => cell(x, pos(x).liquidation_price, pdp, 'review-liq', 'none'))),
          h('tr', null, h('th', {scope: 'row'}, 'Bankruptcy'),
            modes.map((x) => cell(x, pos(x).bankruptcy_price, pdp, 'review-bankruptcy', 'none'))),
          h('tr', null, h('th', {scope: 'row'}, 'Initial margin'),
            modes.map((x) => cell(x, pos(x).initial_margin, adp, 'review-pos-im'))),
          h('tr', null, h('th', {scope: 'row', title: 'Cross: the whole cross wallet; isolated: its own margin'}, 'Max loss'),
            modes.map((x) => cell(x, x === 'isolated' ? pos(x).isolated_wallet : pool(x).wallet_balance, adp, 'review-max-loss'))),
          h('tr', null, h('th', {scope: 'row'}, 'Margin ratio'),
            modes.map((x) => h('td', {class: `num ${x === selected ? 'sel' : ''}`},
              m(x).feasible === false ? DASH : pct(x === 'isolated' ? pos(x).margin_ratio : pool(x).margin_ratio)))),
        )),
      h('p', {class: 'hint'}, `Cross: the liquidation price depends on the whole ${asset} pool. Isolated: on this position\'s own margin only. Figures are the exchange\'s own, simulated on a copy of your account; nothing is placed until you confirm.`),
      refusals, status,
      h('div', {class: 'row two actions'}, back, confirm));
    form.hidden = true;
    review.hidden = false;
    back.addEventListener('click', closeReview);
    confirm.addEventListener('click', () => place(confirm, status));
    confirm.focus();
  }

  function kv(label, value, id, raw) {
    return h('tr', null, h('th', {scope: 'row'}, label), h('td', {class: 'num', id, dataset: {value: raw ?? ''}}, value));
  }

  function closeReview() {
    t.review = null;
    review.hidden = true;
    form.hidden = false;
    (t.lastSide === 'SELL' ? sell : buy).focus();
  }

  async function place(button, status) {
    const {order} = t.review;
    button.disabled = true;
    fill(status);
    try {
      const out = await spost('/orders', order);
      const o = out.order;
      const i = inst();
      const filled = o.status === 'FILLED' || o.status === 'PARTIALLY_FILLED';
      notify({level: 'ok', kind: 'order', title: `${o.side === 'BUY' ? 'Buy' : 'Sell'} ${o.type.replace(/_/g, ' ').toLowerCase()} ${o.status.toLowerCase().replace('_', ' ')}`,
        msg: `${num(o.filled_qty, decimalsOf(i.step_size))} / ${num(o.qty, decimalsOf(i.step_size))} ${i.symbol}${filled && o.average_price ? ` at ${num(o.average_price, i.price_precision)}` : ''}${o.waiting_for_trigger ? ' · waiting for its trigger' : ''}.`});
      size.value = '';
      closeReview();
      refreshAll();
      refreshOrders();
    } catch (err) {
      fill(status, errorLine(err));
      button.disabled = false;
      if (err instanceof ApiError && err.status === 0) notifyError('Order not confirmed', err);
    }
  }

  // ------------------------------------------------------------------ events
  modeSeg.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-mode]');
    if (b) setMode(b.dataset.mode);
  });
  levRange.addEventListener('input', () => onLeverageInput(levRange.value, false));
  levRange.addEventListener('change', () => onLeverageInput(levRange.value, true));
  levNumber.addEventListener('change', () => onLeverageInput(levNumber.value, true));
  typeSeg.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-type]');
    if (!b) return;
    t.type = b.dataset.type;
    renderType();
    renderSize();
    loadMax();
  });
  typeSeg.addEventListener('keydown', (e) => {
    const i = TYPES.findIndex((x) => x.id === t.type);
    let j = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') j = (i + 1) % TYPES.length;
    if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') j = (i - 1 + TYPES.length) % TYPES.length;
    if (j === null) return;
    e.preventDefault();
    t.type = TYPES[j].id;
    renderType();
    renderSize();
    typeButtons[j].focus();
  });
  execSel.addEventListener('change', () => {
    t.execution = execSel.value;
    renderType();
  });
  unitSeg.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-unit]');
    if (!b || b.dataset.unit === t.unit) return;
    const qty = quantity();
    t.unit = b.dataset.unit;
    // Keep the same order size in the other unit.
    if (qty && t.unit === 'margin') {
      const px = refPrice();
      size.value = px ? fixed(notionalOf(qty, px) / leverage(), 2) : '';
    } else if (qty) size.value = qty;
    renderSize();
  });
  for (const b of pctButtons) {
    b.addEventListener('click', () => {
      const i = inst();
      const max = t.maxQty.BUY;
      if (!i || !max) return;
      const qty = floorToStep((parseFloat(max) * Number(b.dataset.pct)) / 100, i.step_size);
      t.unit = 'qty';
      size.value = qty;
      renderSize();
    });
  }
  markBtn.addEventListener('click', () => {
    const m = markOf();
    if (m) price.input.value = plain(m, inst().price_precision);
    renderSize();
    loadMax();
  });
  for (const input of [size, price.input, stopPrice.input]) {
    input.addEventListener('input', () => renderSize());
  }
  price.input.addEventListener('change', loadMax);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const side = (e.submitter && e.submitter.dataset.side) || t.lastSide || 'BUY';
    t.lastSide = side;
    openReview(side);
  });
  review.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeReview();
  });

  on('symbol', () => {
    t.maxQty = {};
    price.input.value = '';
    stopPrice.input.value = '';
    size.value = '';
    fill(modeError);
    fill(levStatus);
    fill(formError);
    if (t.review) closeReview();
    renderAll();
    checkBlockers();
    loadMax();
  });
  on('settings', () => {
    renderMode();
    renderLeverage();
    checkBlockers();
  });
  on('positions', () => {
    renderLeverage();
    checkBlockers();
  });
  on('orders', checkBlockers);
  on('session', () => {
    renderAll();
    checkBlockers();
    loadMax();
  });
  on('account', () => {
    renderSignin();
    loadMax();
  });
  on('pick-price', (p) => {
    if (!needsPrice()) {
      t.type = 'limit';
      renderType();
    }
    price.input.value = p;
    renderSize();
    loadMax();
  });
  on('ticket-close', (p) => {
    // A reduce-only limit order that closes position ``p`` at the mark.
    t.type = 'limit';
    t.unit = 'qty';
    reduceOnly.checked = true;
    price.input.value = plain(p.mark_price, inst().price_precision);
    size.value = plain(p.qty).replace('-', '');
    renderAll();
    (parseFloat(p.qty) > 0 ? sell : buy).focus();
  });

  renderAll();
  return {render: renderAll};
}
