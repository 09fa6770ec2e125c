"""Service settings as one plain value (the ``serve`` command builds it from its options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(".isocross")


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything ``create_app`` needs to know.

    ``database`` is a SQLAlchemy URL (``postgresql://…``), a SQLite file or a data directory
    (the embedded default: ``.isocross/isocross.sqlite3``).
    """

    database: str = str(DEFAULT_DATA_DIR)
    schema: str | None = None
    demo: bool = True
    feed_interval_s: float = 1.0
    """Seconds between two index ticks of the demo feed (the market maker requotes on each)."""
    tick_interval_s: float = 5.0
    """Seconds between two risk ``Tick`` commands (funding due, every account re-checked)."""
    index_data: str | None = None
    """A directory of ``*-1m-futures.feather`` files to replay as the index; ``None``: look in
    ``../shared/data``; without files (or ``""``) a seeded random walk."""
    seed: int = 7
    weight_limit: int = 2400
    """Request weight per API key (signed requests) or per client address (public ones) and
    minute, as Binance counts it (``X-MBX-USED-WEIGHT-1M``)."""
    max_body_bytes: int = 64 * 1024
    max_query_bytes: int = 8 * 1024
    max_recv_window_ms: int = 60_000
    key_cache_s: float = 2.0
    """How long a looked-up API key is trusted before the key table is read again (a key
    revoked from the command line stops working within this time)."""
    snapshot_every: int = 100_000
    faucet_max: str = "100000"
    """The most a single faucet call hands out, per asset (demo mode only)."""
    log_json: bool = True
