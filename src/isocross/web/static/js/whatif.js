// The what-if panel: move a price and see every position's PnL, the pool's margin level and
// which positions would be liquidated, as the account stands and all-cross vs all-isolated
// (POST /api/v1/what-if). The seeds' $1,000 example is a preset (POST /web/scenario).

import {scenario, spost} from './api.js';
import {debounce, fill, h} from './dom.js';
import {DASH, add, fixed, isNegative, num, pct, tone} from './fmt.js';
import {errorLine} from './notices.js';
import {on, state} from './store.js';

const EXAMPLE = {
  symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'],
  marks: {BTCUSDT: 100000, ETHUSDT: 2500, SOLUSDT: 200},
  symbol: 'ETHUSDT',
  move: -15,
};

export function mountWhatIf(panel) {
  const w = {source: 'account', symbol: null, move: 0, shown: false};

  const sourceButtons = [['account', 'My account'], ['example', 'Seeds\' $1,000 example']].map(([id, label]) =>
    h('button', {type: 'button', dataset: {source: id}, 'aria-pressed': String(id === w.source), id: `whatif-${id}`}, label));
  const symbolSel = h('select', {id: 'whatif-symbol', 'aria-label': 'Symbol to move'});
  const slider = h('input', {type: 'range', id: 'whatif-move', min: -50, max: 50, step: 0.5, value: 0,
    'aria-label': 'Price move in percent', 'aria-valuetext': '0 %'});
  const priceIn = h('input', {id: 'whatif-price', inputmode: 'decimal', 'aria-label': 'Price to move to'});
  const moveOut = h('output', {id: 'whatif-move-value', for: 'whatif-move'}, '0 %');
  const presets = [-25, -15, -5, 5, 15].map((p) => h('button', {type: 'button', class: 'btn ghost tiny',
    dataset: {move: p}}, `${p > 0 ? '+' : ''}${p} %`));
  const intro = h('p', {class: 'hint', id: 'whatif-intro'});
  const results = h('div', {class: 'whatif-results', id: 'whatif-results', 'aria-live': 'polite'});

  fill(panel,
    h('div', {class: 'whatif-controls'},
      h('div', {class: 'seg small', role: 'group', 'aria-label': 'What-if on'}, sourceButtons),
      h('label', {class: 'inline'}, h('span', null, 'Move'), symbolSel),
      h('div', {class: 'slider'}, slider, moveOut),
      h('label', {class: 'inline'}, h('span', null, 'to'), priceIn),
      h('div', {class: 'presets'}, presets)),
    intro, results);

  function base() {
    if (w.source === 'example') return EXAMPLE.marks[w.symbol];
    const p = state.prices.get(w.symbol);
    return p ? parseFloat(p.mark_price) : null;
  }

  function symbols() {
    if (w.source === 'example') return EXAMPLE.symbols;
    const held = [...new Set(state.positions.map((p) => p.symbol))];
    return held.length ? held : [state.symbol].filter(Boolean);
  }

  function dp(symbol) {
    const inst = state.instruments.get(symbol);
    return inst ? inst.price_precision : 2;
  }

  function target() {
    const b = base();
    if (!b) return null;
    return fixed(b * (1 + w.move / 100), dp(w.symbol));
  }

  function renderControls() {
    for (const b of sourceButtons) b.setAttribute('aria-pressed', String(b.dataset.source === w.source));
    const list = symbols();
    if (!list.includes(w.symbol)) w.symbol = list[0] || null;
    fill(symbolSel, list.map((s) => h('option', {value: s, selected: s === w.symbol}, s)));
    slider.value = String(w.move);
    const text = `${w.move > 0 ? '+' : ''}${w.move} %`;
    moveOut.textContent = text;
    slider.setAttribute('aria-valuetext', text);
    if (document.activeElement !== priceIn) priceIn.value = target() || '';
    intro.textContent = w.source === 'example'
      ? 'Seed 004: a $1,000 account with three longs at 5x, $200 of margin each ($1,000 notional), $400 left as buffer. Isolated: a loss stops at its $200. Cross: the loss draws on the whole $1,000 and can take all three.'
      : state.session
        ? (state.positions.length ? 'Your positions, with the mark moved: as they stand, then rebuilt all-cross and all-isolated (simulated; nothing changes).'
          : 'No open positions: open one, or try the seeds\' $1,000 example.')
        : 'Sign in to see your own positions, or try the seeds\' $1,000 example.';
  }

  const run = debounce(async () => {
    if (!w.shown) return;
    const price = target();
    if (!w.symbol || !price) {
      fill(results);
      return;
    }
    try {
      if (w.source === 'example') {
        const out = await scenario({example: 'seed-1000', moves: {[w.symbol]: price}});
        renderResults([fromScenario('Cross', out.cross.after), fromScenario('Isolated', out.isolated.after)], out.marks_after);
      } else {
        if (!state.session || !state.positions.length) {
          fill(results);
          return;
        }
        const out = await spost('/what-if', {moves: {[w.symbol]: price}});
        renderResults([fromWhatIf('As it stands', out.as_is), fromWhatIf('All cross', out.all_cross),
          fromWhatIf('All isolated', out.all_isolated)], out.marks);
      }
    } catch (err) {
      fill(results, errorLine(err));
    }
  }, 150);

  function fromWhatIf(label, m) {
    return {label, error: m.error ? m.message : null, pools: m.pools.map((p) => ({...p})),
      positions: m.positions.map((p) => ({symbol: p.symbol, mode: p.margin_mode, mark: p.mark_price,
        pnl: p.unrealized_pnl, liq: p.liquidation_price, liquidatable: p.liquidatable,
        wallet: p.isolated_wallet, asset: 'USDT'}))};
  }

  function fromScenario(label, doc) {
    return {label, error: null,
      pools: Object.entries(doc.margin_assets).map(([asset, p]) => ({asset, ...p})),
      positions: doc.positions.map((p) => ({symbol: p.symbol, mode: p.margin_mode, mark: p.mark_price,
        pnl: p.unrealized_pnl, liq: p.liquidation_price, liquidatable: p.liquidatable,
        wallet: p.isolated_margin, maxLoss: p.max_loss, asset: p.margin_asset}))};
  }

  function renderResults(modes) {
    fill(results, modes.map((m) => {
      const crossPool = m.pools.find((p) => p.asset === 'USDT') || m.pools[0] || {};
      const gone = m.positions.filter((p) => p.liquidatable || (p.mode === 'cross' && crossPool.liquidatable));
      const pnl = add(...m.positions.map((p) => p.pnl));
      // What the account is worth in the pool's asset: the pool, plus what each isolated
      // wallet still holds (a liquidated one loses its wallet and no more).
      const kept = m.positions.filter((p) => p.mode === 'isolated' && p.asset === (crossPool.asset || 'USDT'))
        .map((p) => {
          const left = add(p.wallet, p.pnl);
          return isNegative(left) ? '0' : left;
        });
      const equity = add(crossPool.margin_balance, ...kept);
      return h('section', {class: `whatif-card ${gone.length ? 'hit' : ''}`, dataset: {mode: m.label}},
        h('h3', null, m.label,
          gone.length ? h('span', {class: 'badge danger'}, `${gone.length} liquidated`) : h('span', {class: 'badge ok'}, 'nothing liquidated')),
        m.error ? h('p', {class: 'form-error'}, m.error) : null,
        h('div', {class: 'whatif-pool'},
          h('span', null, 'Margin balance ', h('b', null, num(crossPool.margin_balance, 2))),
          h('span', null, 'Margin level ', h('b', {class: levelTone(crossPool.margin_level)}, crossPool.margin_level ? `${num(crossPool.margin_level, 2)} %` : DASH)),
          h('span', null, 'Margin ratio ', h('b', null, crossPool.margin_ratio === null ? 'exhausted' : pct(crossPool.margin_ratio))),
          h('span', null, 'Available ', h('b', {class: tone(crossPool.available_balance)}, num(crossPool.available_balance, 2))),
          h('span', null, 'Total PnL ', h('b', {class: tone(pnl)}, num(pnl, 2, {sign: true}))),
          h('span', {title: 'Cross pool plus what the isolated wallets still hold'}, 'Equity ',
            h('b', {class: 'equity', dataset: {value: equity}}, num(equity, 2)))),
        h('table', {class: 'grid compact'},
          h('thead', null, h('tr', null, h('th', {scope: 'col'}, 'Position'), h('th', {scope: 'col', class: 'num'}, 'Mark'),
            h('th', {scope: 'col', class: 'num'}, 'PnL'), h('th', {scope: 'col', class: 'num'}, 'Liq. price'),
            h('th', {scope: 'col'}, ''))),
          h('tbody', null, m.positions.map((p) => {
            const dead = gone.includes(p);
            return h('tr', {class: dead ? 'dead' : '', dataset: {symbol: p.symbol}},
              h('th', {scope: 'row'}, p.symbol, h('span', {class: `badge ${p.mode}`}, p.mode)),
              h('td', {class: 'num'}, num(p.mark, dp(p.symbol))),
              h('td', {class: `num ${tone(p.pnl)}`}, num(p.pnl, 2, {sign: true})),
              h('td', {class: 'num'}, p.liq === null ? 'none' : num(p.liq, dp(p.symbol))),
              h('td', null, dead ? h('span', {class: 'badge danger'}, 'liquidated')
                : p.maxLoss ? h('span', {class: 'muted small'}, `max loss ${num(p.maxLoss, 0)}`) : null));
          }))));
    }));
  }

  function levelTone(level) {
    const v = parseFloat(level);
    if (!Number.isFinite(v)) return '';
    return v <= 150 ? 'neg' : v <= 200 ? 'warn' : 'pos';
  }

  for (const b of sourceButtons) {
    b.addEventListener('click', () => {
      w.source = b.dataset.source;
      if (w.source === 'example') {
        w.symbol = EXAMPLE.symbol;
        w.move = EXAMPLE.move;
      } else {
        w.symbol = null;
        w.move = 0;
      }
      renderControls();
      run();
    });
  }
  symbolSel.addEventListener('change', () => {
    w.symbol = symbolSel.value;
    renderControls();
    run();
  });
  slider.addEventListener('input', () => {
    w.move = parseFloat(slider.value);
    renderControls();
    run();
  });
  priceIn.addEventListener('change', () => {
    const b = base();
    const v = parseFloat(priceIn.value);
    if (!b || !(v > 0)) return;
    w.move = Math.round(((v / b - 1) * 100) * 100) / 100;
    slider.value = String(Math.max(-50, Math.min(50, w.move)));
    moveOut.textContent = `${w.move > 0 ? '+' : ''}${w.move} %`;
    run();
  });
  for (const b of presets) {
    b.addEventListener('click', () => {
      w.move = Number(b.dataset.move);
      renderControls();
      run();
    });
  }
  on('positions', () => {
    if (w.source === 'account') {
      renderControls();
      if (w.shown && !results.childElementCount) run();
    }
  });
  on('session', () => {
    renderControls();
    run();
  });

  renderControls();
  return {
    show(shown) {
      w.shown = shown;
      if (shown) {
        renderControls();
        run();
      }
    },
    /** Open on the seeds' example (a link elsewhere on the page). */
    example() {
      sourceButtons[1].click();
    },
  };
}
