// Small DOM helpers: build elements without a framework.

/** h('div', {class: 'x', onclick: fn, dataset: {a: 1}}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key === 'style' && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) el.style.setProperty(k, v);
      }
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key in el && !key.includes('-') && key !== 'list' && key !== 'form') {
        el[key] = value;
      } else el.setAttribute(key, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Call ``fn`` at most once per ``ms`` (the last call wins, trailing edge). */
export function throttle(fn, ms) {
  let timer = null;
  let pending = null;
  let last = 0;
  return (...args) => {
    pending = args;
    const wait = Math.max(0, last + ms - Date.now());
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      const run = pending;
      pending = null;
      fn(...run);
    }, wait);
  };
}

/** Call ``fn`` ``ms`` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * An accessible tab list: arrow keys move between tabs, Home/End jump, the selected tab's
 * panel shows. ``tabs``: [{id, label, panel}] where panel is an element. Returns select(id).
 */
export function tablist(list, tabs, onSelect) {
  const buttons = tabs.map((t) =>
    h('button', {
      role: 'tab', id: `tab-${t.id}`, type: 'button', 'aria-controls': t.panel.id,
      'aria-selected': 'false', tabindex: '-1', dataset: {tab: t.id},
    }, t.label, t.badge || null),
  );
  fill(list, buttons);
  for (const t of tabs) {
    t.panel.setAttribute('role', 'tabpanel');
    t.panel.setAttribute('aria-labelledby', `tab-${t.id}`);
    t.panel.tabIndex = 0;
  }
  function select(id, focus = false) {
    tabs.forEach((t, i) => {
      const on = t.id === id;
      buttons[i].setAttribute('aria-selected', String(on));
      buttons[i].tabIndex = on ? 0 : -1;
      t.panel.hidden = !on;
      if (on && focus) buttons[i].focus();
    });
    if (onSelect) onSelect(id);
  }
  list.addEventListener('click', (e) => {
    const b = e.target.closest('[role=tab]');
    if (b) select(b.dataset.tab);
  });
  list.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % buttons.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + buttons.length) % buttons.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = buttons.length - 1;
    if (j === null) return;
    e.preventDefault();
    select(tabs[j].id, true);
  });
  return select;
}

/** Keep an existing tablist (static markup) accessible. */
export function wireTabs(list, onSelect) {
  const buttons = $$('[role=tab]', list);
  const tabs = buttons.map((b) => ({
    id: b.id, button: b, panel: document.getElementById(b.getAttribute('aria-controls')),
  }));
  function select(id, focus = false) {
    for (const t of tabs) {
      const on = t.id === id;
      t.button.setAttribute('aria-selected', String(on));
      t.button.tabIndex = on ? 0 : -1;
      t.panel.hidden = !on;
      if (on && focus) t.button.focus();
    }
    if (onSelect) onSelect(id);
  }
  list.addEventListener('click', (e) => {
    const b = e.target.closest('[role=tab]');
    if (b) select(b.id);
  });
  list.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % buttons.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + buttons.length) % buttons.length;
    if (j === null) return;
    e.preventDefault();
    select(tabs[j].id, true);
  });
  return select;
}
