// The page's state and a tiny event bus. Modules read `state` and listen with `on(name, fn)`.
//
// Events: symbol (the selected symbol changed), instruments, prices (marks/index/funding),
// session (signed in or out), account, positions, orders, settings (per-symbol mode and
// leverage), book, trades, user-event (a raw event of the account's stream).

export const state = {
  symbol: null,
  instruments: new Map(),
  prices: new Map(),
  session: null,
  account: null,
  positions: [],
  orders: [],
  settings: new Map(),
  book: null,
  trades: [],
};

const bus = new EventTarget();

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, {detail}));
}

export function on(name, fn) {
  const handler = (e) => fn(e.detail);
  bus.addEventListener(name, handler);
  return () => bus.removeEventListener(name, handler);
}

export const instrument = (symbol = state.symbol) => state.instruments.get(symbol);

export const settingsOf = (symbol = state.symbol) => state.settings.get(symbol);

export const positionsOf = (symbol = state.symbol) =>
  state.positions.filter((p) => p.symbol === symbol);

/** The mark of ``symbol`` (a decimal string) or null. */
export function markOf(symbol = state.symbol) {
  const p = state.prices.get(symbol);
  return p ? p.mark_price : null;
}

/** The tier holding ``notional`` (a number) in the instrument's table. */
export function tierFor(inst, notional) {
  if (!inst) return null;
  for (const t of inst.tiers) {
    const cap = t.cap === null ? Infinity : parseFloat(t.cap);
    if (notional <= cap) return t;
  }
  return inst.tiers[inst.tiers.length - 1];
}
