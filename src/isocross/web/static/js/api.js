// The native REST API (/api/v1): signing, the server's clock, errors in the API's own words.
//
// Signed requests carry X-API-KEY, X-TIMESTAMP (server ms) and X-SIGNATURE = hex
// HMAC-SHA256(secret, timestamp + METHOD + path + ("?" + query) + body). A state-changing
// signature is accepted once, so timestamps never repeat.

import {hmacHex} from './hmac.js';

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, body, path) {
    const msg = (body && body.msg) || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.code = body ? body.code : null;
    this.error = body ? body.error : null;
    this.field = body ? body.field : null;
    this.details = body ? body.details : null;
    this.path = path;
    this.msg = msg;
  }
}

let credentials = null;
let offset = 0;
let lastTs = 0;

export function setCredentials(creds) {
  credentials = creds && creds.api_key && creds.secret ? creds : null;
}

export const signedIn = () => credentials !== null;

/** Align our clock with the server's (the signature's timestamp must be within 5 s). */
export async function syncClock() {
  const t0 = Date.now();
  const r = await fetch(`${BASE}/time`, {cache: 'no-store'});
  const t1 = Date.now();
  if (!r.ok) return;
  const {server_time: server} = await r.json();
  offset = server - Math.round((t0 + t1) / 2);
}

function timestamp() {
  const now = Date.now() + offset;
  lastTs = Math.max(now, lastTs + 1);
  return lastTs;
}

export function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  return q.toString();
}

/**
 * request('GET', '/account', {signed: true}) → parsed JSON, or throws ApiError carrying the
 * API's code, msg and error name.
 */
export async function request(method, path, {params, body, signed = false} = {}) {
  const qs = query(params);
  const url = `${BASE}${path}${qs ? `?${qs}` : ''}`;
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = {};
  if (text) headers['Content-Type'] = 'application/json';
  if (signed) {
    if (!credentials) throw new ApiError(401, {code: -2014, msg: 'Sign in first: start a demo account or enter an API key.', error: 'UNAUTHORIZED'}, path);
    const ts = timestamp();
    const target = `${BASE}${path}${qs ? `?${qs}` : ''}`;
    headers['X-API-KEY'] = credentials.api_key;
    headers['X-TIMESTAMP'] = String(ts);
    headers['X-SIGNATURE'] = await hmacHex(credentials.secret, `${ts}${method}${target}${text}`);
  }
  let response;
  try {
    response = await fetch(url, {method, headers, body: text || undefined, cache: 'no-store'});
  } catch (err) {
    throw new ApiError(0, {code: null, msg: `The service did not answer (${err.message}).`, error: 'NETWORK'}, path);
  }
  let data = null;
  const raw = await response.text();
  if (raw) {
    try {
      data = JSON.parse(raw);
    } catch {
      data = {msg: raw.slice(0, 300)};
    }
  }
  if (!response.ok) {
    if (data && data.code === -1021) await syncClock().catch(() => {});
    throw new ApiError(response.status, data, path);
  }
  return data;
}

export const get = (path, params, signed = false) => request('GET', path, {params, signed});
export const sget = (path, params) => request('GET', path, {params, signed: true});
export const spost = (path, body, params) => request('POST', path, {body, params, signed: true});
export const sput = (path, body) => request('PUT', path, {body, signed: true});
export const sdel = (path, params) => request('DELETE', path, {params, signed: true});

/** An error as the API words it, for a notice: "msg (code -2019, INSUFFICIENT_MARGIN)". */
export function describe(err) {
  if (err instanceof ApiError) {
    const bits = [];
    if (err.code !== null && err.code !== undefined) bits.push(`code ${err.code}`);
    if (err.error) bits.push(err.error);
    return {msg: err.msg, meta: bits.join(', ')};
  }
  return {msg: String((err && err.message) || err), meta: ''};
}

/** The web helper route (not under /api/v1): a built-in example, cross vs isolated. */
export async function scenario(body) {
  const r = await fetch('/web/scenario', {
    method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new ApiError(r.status, data, '/web/scenario');
  return data;
}
