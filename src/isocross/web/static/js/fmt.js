// Exact decimal strings (the API's numbers) to display text, without going through floats.

const DASH = '—';

/** "-12.3400" → {n: -123400n, s: 4}; null for anything that is not a plain decimal. */
export function parse(text) {
  if (text === null || text === undefined || text === '') return null;
  const str = String(text).trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(str);
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
  const frac = m[3] || '';
  let n = BigInt((m[2] || '0') + frac);
  let s = frac.length;
  if (m[4]) {
    const e = parseInt(m[4], 10);
    if (e > s) {
      n *= 10n ** BigInt(e - s);
      s = 0;
    } else s -= e;
  }
  if (m[1] === '-') n = -n;
  return {n, s};
}

function pow10(k) {
  return 10n ** BigInt(k);
}

/** ``d`` at ``dp`` places, rounded half away from zero. */
function rescale(d, dp) {
  if (dp >= d.s) return {n: d.n * pow10(dp - d.s), s: dp};
  const div = pow10(d.s - dp);
  const neg = d.n < 0n;
  const abs = neg ? -d.n : d.n;
  let q = abs / div;
  if ((abs % div) * 2n >= div) q += 1n;
  return {n: neg ? -q : q, s: dp};
}

function digits(d, {group = true, sign = false} = {}) {
  const neg = d.n < 0n;
  let body = (neg ? -d.n : d.n).toString().padStart(d.s + 1, '0');
  let int = d.s ? body.slice(0, body.length - d.s) : body;
  const frac = d.s ? body.slice(body.length - d.s) : '';
  if (group) int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  body = frac ? `${int}.${frac}` : int;
  const zero = d.n === 0n;
  if (neg && !zero) return `−${body}`;
  if (sign && !zero) return `+${body}`;
  return body;
}

/** A decimal string rounded to ``dp`` places with thousands separators; "—" for null. */
export function num(text, dp = 2, opts = {}) {
  const d = parse(text);
  if (d === null) return opts.empty ?? DASH;
  return digits(dp === null ? trim(d) : rescale(d, dp), opts);
}

/** Without trailing zeros after the point. */
function trim(d) {
  let {n, s} = d;
  while (s > 0 && n % 10n === 0n) {
    n /= 10n;
    s -= 1;
  }
  return {n, s};
}

/** The same, for machine use: plain, no grouping, minus sign "-". */
export function plain(text, dp) {
  const d = parse(text);
  if (d === null) return '';
  return digits(dp === undefined ? d : rescale(d, dp), {group: false}).replace('−', '-');
}

/** A fraction as a percentage: "0.0125" → "1.25 %". */
export function pct(text, dp = 2, opts = {}) {
  const d = parse(text);
  if (d === null) return opts.empty ?? DASH;
  const shifted = d.s >= 2 ? {n: d.n, s: d.s - 2} : {n: d.n * pow10(2 - d.s), s: 0};
  return `${digits(rescale(shifted, dp), opts)} %`;
}

/** Decimals to show an amount of ``asset`` with: cents for dollars, more for coins. */
export const assetDp = (asset) => (['USDT', 'USDC', 'USD', 'BUSD', 'FDUSD'].includes(asset) ? 2 : 6);

/** Number of decimals a step needs: "0.0100" → 2, "1" → 0. */
export function decimalsOf(step) {
  const d = parse(step);
  return d === null ? 0 : trim(d).s;
}

/** ``x`` (a number) rounded down to a multiple of ``step`` (a decimal string), as a string. */
export function floorToStep(x, step) {
  const dp = decimalsOf(step);
  const unit = rescale(parse(step), dp).n;
  if (!(x > 0) || unit <= 0n) return '0';
  const scaled = BigInt(Math.floor(x * 10 ** dp + 1e-7));
  const k = scaled / unit;
  return plain(digits({n: k * unit, s: dp}, {group: false}));
}

/** Round a number to ``dp`` places as a plain string. */
export function fixed(x, dp) {
  if (!Number.isFinite(x)) return '';
  return plain(x.toFixed(Math.min(20, Math.max(0, dp))));
}

export const toNumber = (text) => {
  const v = parseFloat(text);
  return Number.isFinite(v) ? v : null;
};

/** Compare two decimal strings exactly (-1, 0, 1). */
export function cmp(a, b) {
  const x = parse(a);
  const y = parse(b);
  const s = Math.max(x.s, y.s);
  const p = x.n * pow10(s - x.s);
  const q = y.n * pow10(s - y.s);
  return p < q ? -1 : p > q ? 1 : 0;
}

/** The exact sum of decimal strings (nulls count as 0), as a plain string. */
export function add(...texts) {
  let total = {n: 0n, s: 0};
  for (const t of texts) {
    const d = parse(t);
    if (d === null) continue;
    const s = Math.max(total.s, d.s);
    total = {n: total.n * pow10(s - total.s) + d.n * pow10(s - d.s), s};
  }
  return digits(total, {group: false}).replace('−', '-');
}

export const isNegative = (text) => {
  const d = parse(text);
  return d !== null && d.n < 0n;
};

export const isPositive = (text) => {
  const d = parse(text);
  return d !== null && d.n > 0n;
};

/** "pos", "neg" or "" for colouring a signed figure. */
export function tone(text) {
  if (isPositive(text)) return 'pos';
  if (isNegative(text)) return 'neg';
  return '';
}

const two = (n) => String(n).padStart(2, '0');

export function time(ms) {
  if (!ms) return DASH;
  const t = new Date(ms);
  return `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
}

export function datetime(ms) {
  if (!ms) return DASH;
  const t = new Date(ms);
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${time(ms)}`;
}

/** "01:02:03" until ``ms``. */
export function countdown(ms, now = Date.now()) {
  if (!ms) return DASH;
  const left = Math.max(0, Math.floor((ms - now) / 1000));
  return `${two(Math.floor(left / 3600))}:${two(Math.floor((left % 3600) / 60))}:${two(left % 60)}`;
}

export {DASH};
