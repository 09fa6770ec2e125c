// WebSockets: market streams on /stream (combined) and the account's own events on
// /api/v1/ws?listenKey=… . Both reconnect by themselves.

import {spost, sput} from './api.js';

const wsBase = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

/** Market streams: set(names) replaces the subscription; onMessage(stream, data). */
export class MarketSocket {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.streams = new Set();
    this.ws = null;
    this.backoff = 500;
    this.id = 1;
  }

  set(names) {
    const next = new Set(names);
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      const gone = [...this.streams].filter((s) => !next.has(s));
      const added = [...next].filter((s) => !this.streams.has(s));
      if (gone.length) ws.send(JSON.stringify({method: 'UNSUBSCRIBE', params: gone, id: this.id++}));
      if (added.length) ws.send(JSON.stringify({method: 'SUBSCRIBE', params: added, id: this.id++}));
      this.streams = next;
      return;
    }
    this.streams = next;
    if (!ws || ws.readyState === WebSocket.CLOSED) this.connect();
  }

  connect() {
    if (!this.streams.size) return;
    const ws = new WebSocket(`${wsBase()}/stream?streams=${[...this.streams].join('/')}`);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.onState('live');
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && msg.stream && msg.data !== undefined) this.onMessage(msg.stream, msg.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.onState('reconnecting');
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }
}

/** The account's events: onEvent(data) for each {"stream": "user", "data": …}. */
export class UserSocket {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.ws = null;
    this.keepalive = null;
    this.backoff = 1000;
    this.active = false;
  }

  async start() {
    this.stop();
    this.active = true;
    let key;
    try {
      key = (await spost('/listen-key')).listen_key;
    } catch {
      this.retry();
      return;
    }
    if (!this.active) return;
    const ws = new WebSocket(`${wsBase()}/api/v1/ws?listenKey=${encodeURIComponent(key)}`);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 1000;
      this.onState('live');
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && msg.stream === 'user' && msg.data) this.onEvent(msg.data);
    };
    ws.onclose = () => {
      if (this.ws === ws && this.active) this.retry();
    };
    this.keepalive = setInterval(() => sput('/listen-key').catch(() => {}), 20 * 60 * 1000);
  }

  retry() {
    this.onState('reconnecting');
    clearInterval(this.keepalive);
    if (!this.active) return;
    setTimeout(() => this.active && this.start(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }

  stop() {
    this.active = false;
    clearInterval(this.keepalive);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
    this.onState('off');
  }
}
