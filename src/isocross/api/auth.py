"""Request signing: API key, HMAC-SHA256 signature, timestamp and recvWindow, replay window.

Binance-compatible (``/fapi``): header ``X-MBX-APIKEY``; parameters ``timestamp`` (ms) and
optional ``recvWindow`` (default 5000, at most 60000) in the query string or the form body;
``signature`` = hex HMAC-SHA256 of the *total params* — the query string followed by the body,
each without the ``signature`` parameter — keyed with the secret.

Native (``/api/v1``): headers ``X-API-KEY``, ``X-TIMESTAMP``, optional ``X-RECV-WINDOW`` and
``X-SIGNATURE`` = hex HMAC-SHA256 of ``timestamp + METHOD + path + ("?" + query) + body``.

Both: a request is refused when its timestamp is more than 1000 ms ahead of the server or older
than its recvWindow (-1021). A signature that changes state (any method but GET) is accepted once:
the same signature again within its window is a replay and refused (-1022).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from isocross.api.errors import ApiError, bad_param, forbidden, missing, unauthorized
from isocross.api.keys import ApiKey, KeyStore, Permission

DEFAULT_RECV_WINDOW = 5000
AHEAD_MS = 1000
KEY_CHARS = frozenset("0123456789abcdefABCDEF")


def sign(secret: str, payload: str | bytes) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret`` (what clients send)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def strip_signature(raw: bytes) -> tuple[bytes, str | None]:
    """``raw`` (a query string or form body) without its ``signature`` parameter, and that
    parameter's value (the last one if repeated)."""
    if b"signature=" not in raw:
        return raw, None
    kept: list[bytes] = []
    found: str | None = None
    for part in raw.split(b"&"):
        if part.startswith(b"signature="):
            found = part[10:].decode("latin-1")
        else:
            kept.append(part)
    return b"&".join(kept), found


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key and the account it acts for."""

    key: ApiKey

    @property
    def account_id(self) -> str:
        return self.key.account_id

    def require(self, permission: Permission) -> None:
        if not self.key.allows(permission):
            raise forbidden(permission.value)


class Authenticator:
    """Looks keys up (cached for ``cache_s``), checks signatures, times and replays."""

    def __init__(
        self,
        keys: KeyStore,
        clock: Callable[[], int],
        *,
        cache_s: float = 2.0,
        max_recv_window: int = 60_000,
        on_new_key: Callable[[ApiKey], Awaitable[None]] | None = None,
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.cache_ms = int(cache_s * 1000)
        self.max_recv_window = max_recv_window
        self.on_new_key = on_new_key
        self._cache: dict[str, tuple[int, ApiKey | None]] = {}
        self._seen: dict[str, int] = {}
        self._seen_sweep = 0

    # ------------------------------------------------------------------ keys
    async def key(self, api_key: str | None) -> ApiKey:
        """The active key ``api_key`` (401 when missing, malformed, unknown or revoked)."""
        if not api_key:
            raise unauthorized("API-key required for this request (X-MBX-APIKEY header).", -2014)
        if len(api_key) > 64 or not KEY_CHARS.issuperset(api_key):
            raise unauthorized("API-key format invalid.", -2014)
        now = self.clock()
        cached = self._cache.get(api_key)
        if cached is None or cached[0] <= now:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(None, self.keys.lookup, api_key)
            if len(self._cache) > 100_000:
                self._cache.clear()
            if found is not None and self.on_new_key is not None:
                await self.on_new_key(found)
            cached = (now + self.cache_ms, found)
            self._cache[api_key] = cached
        key = cached[1]
        if key is None:
            raise unauthorized("Invalid API-key, IP, or permissions for action.", -2015)
        return key

    # ------------------------------------------------------------------ checks
    def check_time(self, timestamp: str | None, recv_window: str | None) -> int:
        """Validate ``timestamp``/``recvWindow``; returns the window end (ms) for replays."""
        if timestamp is None or timestamp == "":
            raise missing("timestamp")
        if not timestamp.isdigit() or len(timestamp) > 15:
            raise bad_param("Illegal characters found in parameter 'timestamp'.", "timestamp")
        window = DEFAULT_RECV_WINDOW
        if recv_window is not None:
            if not recv_window.isdigit() or len(recv_window) > 9:
                raise bad_param(
                    "Illegal characters found in parameter 'recvWindow'.", "recvWindow", -1100
                )
            window = int(recv_window)
            if not 0 < window <= self.max_recv_window:
                raise bad_param(
                    f"recvWindow must be from 1 to {self.max_recv_window} ms.", "recvWindow", -1130
                )
        ts = int(timestamp)
        now = self.clock()
        if ts >= now + AHEAD_MS:
            raise ApiError(
                400,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
                error="INVALID_TIMESTAMP",
                field="timestamp",
            )
        if now - ts > window:
            raise ApiError(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
                error="INVALID_TIMESTAMP",
                field="timestamp",
            )
        return ts + window

    @staticmethod
    def check_signature(key: ApiKey, payload: bytes, signature: str | None) -> None:
        if not signature:
            raise missing("signature")
        expected = hmac.new(key.secret.encode(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(
                400,
                -1022,
                "Signature for this request is not valid.",
                error="INVALID_SIGNATURE",
                field="signature",
            )

    def check_replay(self, key: ApiKey, signature: str, until: int) -> None:
        """Accept each state-changing signature once while its window is open."""
        now = self.clock()
        if now - self._seen_sweep > 10_000 or len(self._seen) > 200_000:
            self._seen = {s: t for s, t in self._seen.items() if t >= now}
            self._seen_sweep = now
        token = key.api_key + signature
        if token in self._seen:
            raise ApiError(
                400,
                -1022,
                "This signed request was already received: a replay is refused (sign every "
                "request anew, with a fresh timestamp).",
                error="REPLAYED_REQUEST",
                field="signature",
            )
        self._seen[token] = until + AHEAD_MS

    # ------------------------------------------------------------------ whole requests
    async def binance(
        self,
        api_key: str | None,
        method: str,
        query: bytes,
        body: bytes,
        params: dict[str, str],
    ) -> Principal:
        """Authenticate a signed ``/fapi`` request (``params``: the merged parameters)."""
        key = await self.key(api_key)
        until = self.check_time(params.get("timestamp"), params.get("recvWindow"))
        q, sig_q = strip_signature(query)
        b, sig_b = strip_signature(body)
        signature = sig_b or sig_q
        self.check_signature(key, q + b, signature)
        if method != "GET":
            assert signature is not None
            self.check_replay(key, signature, until)
        return Principal(key)

    async def native(
        self,
        headers: dict[str, str],
        method: str,
        path: str,
        query: bytes,
        body: bytes,
    ) -> Principal:
        """Authenticate a native request signed in its headers."""
        key = await self.key(headers.get("x-api-key"))
        timestamp = headers.get("x-timestamp")
        until = self.check_time(timestamp, headers.get("x-recv-window"))
        target = path + ("?" + query.decode("latin-1") if query else "")
        payload = f"{timestamp}{method}{target}".encode() + body
        signature = headers.get("x-signature")
        self.check_signature(key, payload, signature)
        if method != "GET":
            assert signature is not None
            self.check_replay(key, signature, until)
        return Principal(key)


def native_signature(
    secret: str, timestamp: int, method: str, path: str, query: str = "", body: bytes = b""
) -> str:
    """What a native client puts in ``X-SIGNATURE`` (see the module docstring)."""
    target = path + ("?" + query if query else "")
    return sign(secret, f"{timestamp}{method.upper()}{target}".encode() + body)
