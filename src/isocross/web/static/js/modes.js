// Margin mode management (seed 000): set the mode of many symbols at once and the default mode,
// and see which symbols are blocked and why (GET /margin-modes/blockers, POST /margin-modes).

import {sget, spost} from './api.js';
import {fill, h} from './dom.js';
import {refreshAccount, refreshSettings} from './data.js';
import {lockIcon} from './icons.js';
import {errorLine, notify} from './notices.js';
import {on, state} from './store.js';

const label = (m) => (m === 'cross' ? 'Cross' : m === 'isolated' ? 'Isolated' : m);

export function mountModes(root) {
  const selected = new Set();
  let blockers = {cross: new Map(), isolated: new Map()};
  const result = h('div', {id: 'modes-result', 'aria-live': 'assertive'});
  const asDefault = h('input', {type: 'checkbox', id: 'as-default'});

  async function loadBlockers() {
    if (!state.session) return;
    try {
      const [c, i] = await Promise.all([
        sget('/margin-modes/blockers', {mode: 'cross'}),
        sget('/margin-modes/blockers', {mode: 'isolated'}),
      ]);
      blockers = {
        cross: new Map(c.blocked.map((b) => [b.symbol, b])),
        isolated: new Map(i.blocked.map((b) => [b.symbol, b])),
      };
    } catch (err) {
      fill(result, errorLine(err));
    }
    render();
  }

  async function apply(mode, symbols, makeDefault) {
    fill(result);
    try {
      const out = await spost('/margin-modes', {mode, symbols, as_default: makeDefault});
      const changed = out.events.filter((e) => e.e === 'SettingsChanged' && e.what.startsWith('margin_mode:'))
        .map((e) => e.what.split(':')[1]);
      fill(result, h('div', {class: 'ok-box', id: 'modes-ok'},
        changed.length ? `${label(mode)} now on ${changed.join(', ')}.` : `Every chosen symbol was already ${label(mode).toLowerCase()}.`,
        makeDefault ? ` ${label(mode)} is the default for symbols not configured yet.` : ''));
      notify({level: 'ok', kind: 'modes', title: `Margin modes saved (${label(mode)})`});
      selected.clear();
      refreshSettings();
      refreshAccount();
    } catch (err) {
      const blocked = (err.details && err.details.blocked) || [];
      fill(result, h('div', {class: 'refusal', id: 'modes-refusal', role: 'alert'},
        h('strong', null, 'Nothing changed. '), err.msg,
        h('span', {class: 'muted'}, ` (code ${err.code}${err.error ? `, ${err.error}` : ''})`),
        blocked.length ? h('ul', null, blocked.map((b) => h('li', null, h('b', null, b.symbol), `: ${b.reason} `,
          h('span', {class: 'muted'}, `(${b.code})`)))) : null));
    }
    loadBlockers();
  }

  function setDefault(mode) {
    // The bulk call sets the default; symbols already in ``mode`` are skipped, so naming only
    // those changes nothing else.
    const already = [...state.settings.values()].filter((s) => s.margin_mode === mode).map((s) => s.symbol);
    if (!already.length) {
      fill(result, h('div', {class: 'refusal', role: 'alert'},
        `To make ${label(mode).toLowerCase()} the default, switch at least one symbol to it with "also make it the default" ticked.`));
      return;
    }
    apply(mode, already.slice(0, 1), true);
  }

  function render() {
    if (!state.session) {
      fill(root, h('div', {class: 'panel modes-panel'}, h('h1', null, 'Margin mode management'),
        h('p', {class: 'empty'}, 'Start a demo account (top right) to manage margin modes.')));
      return;
    }
    const rows = [...state.settings.values()];
    const def = state.account ? state.account.default_margin_mode : 'cross';
    const all = h('input', {type: 'checkbox', id: 'select-all', 'aria-label': 'Select every symbol',
      checked: rows.length > 0 && rows.every((r) => selected.has(r.symbol))});
    all.addEventListener('change', () => {
      if (all.checked) rows.forEach((r) => selected.add(r.symbol));
      else selected.clear();
      render();
    });
    const count = selected.size;
    const chosen = () => [...selected];
    fill(root, h('div', {class: 'panel modes-panel'},
      h('h1', null, 'Margin mode management'),
      h('p', {class: 'lead'}, 'Choose symbols and apply cross or isolated to all of them at once. The change is all or nothing: a symbol with an open position or open orders keeps its mode (close or cancel first), and then nothing changes. The reason is shown next to each blocked symbol.'),
      h('div', {class: 'default-row'},
        h('span', null, 'Default for symbols not configured yet: ', h('b', {id: 'default-mode', class: `badge ${def}`}, label(def))),
        h('button', {type: 'button', class: 'btn ghost small', onclick: () => setDefault('cross'), disabled: def === 'cross'}, 'Make cross the default'),
        h('button', {type: 'button', class: 'btn ghost small', onclick: () => setDefault('isolated'), disabled: def === 'isolated'}, 'Make isolated the default')),
      h('div', {class: 'toolbar modes-actions'},
        h('span', {id: 'selected-count'}, `${count} selected`),
        h('button', {type: 'button', class: 'btn primary small', id: 'apply-cross', disabled: !count,
          onclick: () => apply('cross', chosen(), asDefault.checked)}, 'Set to Cross'),
        h('button', {type: 'button', class: 'btn primary small', id: 'apply-isolated', disabled: !count,
          onclick: () => apply('isolated', chosen(), asDefault.checked)}, 'Set to Isolated'),
        h('label', {class: 'check'}, asDefault, ' also make it the default')),
      result,
      h('div', {class: 'table-wrap'}, h('table', {class: 'grid modes', id: 'modes-table'},
        h('thead', null, h('tr', null, h('th', {scope: 'col'}, all), h('th', {scope: 'col'}, 'Symbol'),
          h('th', {scope: 'col'}, 'Margin mode'), h('th', {scope: 'col', class: 'num'}, 'Leverage'),
          h('th', {scope: 'col', class: 'num'}, 'Max'), h('th', {scope: 'col'}, 'Can switch?'))),
        h('tbody', null, rows.map((r) => {
          const other = r.margin_mode === 'cross' ? 'isolated' : 'cross';
          const b = blockers[other].get(r.symbol);
          const box = h('input', {type: 'checkbox', checked: selected.has(r.symbol), 'aria-label': `Select ${r.symbol}`,
            dataset: {symbol: r.symbol}});
          box.addEventListener('change', () => {
            if (box.checked) selected.add(r.symbol);
            else selected.delete(r.symbol);
            render();
            root.querySelector(`input[data-symbol="${r.symbol}"]`)?.focus();
          });
          const inst = state.instruments.get(r.symbol);
          return h('tr', {dataset: {symbol: r.symbol}, class: b ? 'blocked' : ''},
            h('td', null, box),
            h('th', {scope: 'row'}, r.symbol, h('span', {class: 'muted small'}, inst ? ` ${inst.margin_asset}` : '')),
            h('td', null, h('span', {class: `badge ${r.margin_mode}`}, label(r.margin_mode))),
            h('td', {class: 'num'}, `${r.leverage}x`),
            h('td', {class: 'num muted'}, `${r.max_leverage}x`),
            h('td', {class: 'why'}, b ? h('span', {class: 'neg'}, lockIcon(), ' ', b.reason, h('span', {class: 'muted'}, ` (${b.code})`))
              : h('span', {class: 'muted'}, `yes, to ${other}`)));
        })))),
      h('p', {class: 'muted small foot'}, 'Cross shares the asset\'s cross wallet across positions; isolated gives each position its own margin. See the what-if panel on the trade page for the same positions in both modes.')));
  }

  on('settings', render);
  on('account', () => {
    const el = root.querySelector('#default-mode');
    if (el && state.account) {
      el.textContent = label(state.account.default_margin_mode);
      el.className = `badge ${state.account.default_margin_mode}`;
    }
  });
  on('session', () => {
    render();
    loadBlockers();
  });
  on('positions', loadBlockers);
  on('orders', loadBlockers);
  return {
    show() {
      render();
      loadBlockers();
    },
  };
}
