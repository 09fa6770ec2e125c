// Notices: order results, refusals in the API's words, live margin calls and liquidations.

import {describe} from './api.js';
import {h} from './dom.js';
import {time} from './fmt.js';

const MAX = 4;
let root = null;

export function mountNotices(el) {
  root = el;
}

/**
 * notify({level: 'info'|'ok'|'warn'|'danger', title, msg, meta, kind, sticky, key})
 * ``kind`` names the notice for tests and styling (e.g. "margin-call", "liquidation"); a notice
 * with the ``key`` of one on screen replaces it (a liquidation's steps share one notice).
 * ``msg`` may be a list of lines.
 */
export function notify({level = 'info', title, msg = '', meta = '', kind = 'info', sticky = false, key = null}) {
  if (!root) return null;
  const close = h('button', {class: 'notice-close', type: 'button', 'aria-label': 'Dismiss'}, '×');
  const lines = (Array.isArray(msg) ? msg : [msg]).filter(Boolean);
  const el = h('div', {class: `notice ${level}`, role: level === 'danger' ? 'alert' : 'status',
    dataset: {kind, key: key || ''}},
  h('div', {class: 'notice-head'}, h('strong', null, title), h('span', {class: 'muted'}, time(Date.now())), close),
  lines.map((line) => h('div', {class: 'notice-msg'}, line)),
  meta ? h('div', {class: 'notice-meta muted'}, meta) : null,
  );
  close.addEventListener('click', () => el.remove());
  const old = key ? [...root.children].find((n) => n.dataset.key === key) : null;
  if (old) old.remove();
  root.prepend(el);
  while (root.children.length > MAX) root.lastElementChild.remove();
  if (!sticky) setTimeout(() => el.remove(), level === 'warn' ? 10000 : 4000);
  return el;
}

/** A refusal or failure, in the API's words. */
export function notifyError(title, err) {
  const {msg, meta} = describe(err);
  return notify({level: 'warn', title, msg, meta, kind: 'error'});
}

/** An inline error line under a form (keeps the API's wording). */
export function errorLine(err) {
  const {msg, meta} = describe(err);
  return h('div', {class: 'form-error', role: 'alert'}, msg, meta ? h('span', {class: 'muted'}, ` (${meta})`) : null);
}
