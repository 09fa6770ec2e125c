"""The exchange service: REST (native and Binance USDⓈ-M-compatible) and WebSocket API.

``create_app(ServiceConfig(...))`` builds the ASGI app; ``isocross serve`` runs it on uvicorn.
(Imported lazily: the command line loads the web stack only when it serves.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from isocross.api.config import ServiceConfig

if TYPE_CHECKING:
    from isocross.api.app import create_app

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from isocross.api.app import create_app

        return create_app
    raise AttributeError(name)
