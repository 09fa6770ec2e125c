"""Request-weight limits per API key (signed calls) or per client address (public calls).

Binance counts request weight in one-minute windows (``X-MBX-USED-WEIGHT-1M``) and refuses a
request that would pass the limit with HTTP 429, code -1003 and ``Retry-After`` (seconds until
the window turns). Each endpoint has a weight (``/depth`` grows with ``limit``, unfiltered
``/openOrders`` costs 40 …).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from isocross.api.errors import too_many

WINDOW_MS = 60_000


@dataclass(slots=True)
class _Window:
    start: int
    used: int


class WeightLimiter:
    """Fixed one-minute windows per identity (an API key or ``ip:ADDRESS``)."""

    def __init__(self, limit: int, clock: Callable[[], int], *, max_identities: int = 100_000):
        self.limit = limit
        self.clock = clock
        self.max_identities = max_identities
        self._windows: dict[str, _Window] = {}

    def charge(self, identity: str, weight: int) -> int:
        """Count ``weight`` for ``identity``; returns the weight used in this minute, or raises
        the 429 :class:`~isocross.api.errors.ApiError` (the weight is then not counted)."""
        now = self.clock()
        start = now - now % WINDOW_MS
        window = self._windows.get(identity)
        if window is None or window.start != start:
            if window is None and len(self._windows) >= self.max_identities:
                self._forget(start)
            window = _Window(start, 0)
            self._windows[identity] = window
        if window.used + weight > self.limit:
            retry = max(1, -(-(start + WINDOW_MS - now) // 1000))
            raise too_many(self.limit, retry, used=window.used)
        window.used += weight
        return window.used

    def used(self, identity: str) -> int:
        window = self._windows.get(identity)
        now = self.clock()
        if window is None or window.start != now - now % WINDOW_MS:
            return 0
        return window.used

    def _forget(self, start: int) -> None:
        """Drop windows of past minutes (bounded memory under many identities)."""
        self._windows = {k: w for k, w in self._windows.items() if w.start == start}
