// Signing in: "Start demo account" (POST /api/v1/demo/signup) or an existing API key and
// secret. The key lives in sessionStorage only: it is gone when the tab closes.

import {request, setCredentials} from './api.js';
import {fill, h} from './dom.js';
import {notify, notifyError} from './notices.js';
import {emit, on, state} from './store.js';

const KEY = 'isocross.session';

export function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (saved && saved.api_key && saved.secret) return saved;
  } catch {
    /* a damaged entry is simply ignored */
  }
  return null;
}

export function setSession(session) {
  state.session = session;
  setCredentials(session);
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
  emit('session', session);
}

export async function startDemo(button) {
  if (button) button.disabled = true;
  try {
    const out = await request('POST', '/demo/signup', {body: {label: 'web screen'}});
    setSession({account_id: out.account_id, api_key: out.api_key, secret: out.secret, demo: true});
    notify({level: 'ok', title: 'Demo account ready',
      msg: `${out.account_id}: 10,000 USDT in the futures wallet.`, kind: 'signup'});
  } catch (err) {
    notifyError('Could not start a demo account', err);
  } finally {
    if (button) button.disabled = false;
  }
}

/** The header's session corner. */
export function mountSession(el) {
  const render = () => {
    const s = state.session;
    if (s) {
      fill(el,
        h('span', {class: 'account-chip', title: `API key ${s.api_key.slice(0, 8)}…`},
          h('span', {class: 'dot live', 'aria-hidden': 'true'}), h('span', {class: 'chip-text'}, s.account_id || 'signed in')),
        h('button', {class: 'btn ghost small', type: 'button', id: 'sign-out',
          onclick: () => setSession(null)}, 'Sign out'));
      return;
    }
    const demo = h('button', {class: 'btn primary small', type: 'button', id: 'start-demo'},
      'Start demo account');
    demo.addEventListener('click', () => startDemo(demo));
    const keyBtn = h('button', {class: 'btn ghost small', type: 'button', 'aria-expanded': 'false',
      'aria-controls': 'key-form'}, 'Use API key');
    const form = keyForm();
    keyBtn.addEventListener('click', () => {
      form.hidden = !form.hidden;
      keyBtn.setAttribute('aria-expanded', String(!form.hidden));
      if (!form.hidden) form.querySelector('input').focus();
    });
    fill(el, demo, keyBtn, form);
  };
  on('session', render);
  render();
  return render;
}

function keyForm() {
  const key = h('input', {name: 'api_key', autocomplete: 'off', spellcheck: false, required: true,
    placeholder: 'API key', 'aria-label': 'API key'});
  const secret = h('input', {name: 'secret', type: 'password', autocomplete: 'off', required: true,
    placeholder: 'Secret', 'aria-label': 'Secret'});
  const form = h('form', {class: 'key-form', id: 'key-form', hidden: true},
    h('p', {class: 'muted'}, 'A key from ', h('code', null, 'isocross accounts create'),
      ' (or the demo key ', h('code', null, 'isocross serve'), ' prints). Kept in this tab only.'),
    key, secret, h('button', {class: 'btn primary small', type: 'submit'}, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    // Check the key before the page starts using it.
    const creds = {api_key: key.value.trim(), secret: secret.value.trim()};
    setCredentials(creds);
    try {
      const acct = await request('GET', '/account', {signed: true});
      setSession({...creds, account_id: acct.account_id});
    } catch (err) {
      setCredentials(state.session);
      notifyError('Sign-in refused', err);
    }
  });
  return form;
}
