"""The Binance USDⓈ-M-compatible API under ``/fapi``: what ccxt's ``binanceusdm`` calls.

Same paths, parameters, signing (see :mod:`isocross.api.auth`), JSON shapes (amounts as
strings, ids as numbers) and ``{code, msg}`` errors as Binance. Only linear instruments (margin
asset = quote asset) are listed here; the coin-margined one is on the native API.

The routes are answered straight from ASGI (:func:`.base.serve`: Binance documents them, they
are not in the OpenAPI schema, and the hot path skips the framework). Each is declared with its
request weight, its security (``NONE``, ``USER_STREAM``: API key only, ``SIGNED``) and, when
signed, the permission its key needs.

Modules: :mod:`.base` (declaration, dispatch, errors), :mod:`.market` (public data),
:mod:`.account` (balances, positions, settings, history, listen keys), :mod:`.orders`
(orders and the algo-order API for conditional orders).
"""

from isocross.api.binance import account, market, orders
from isocross.api.binance.base import ROUTES, serve

__all__ = ["ROUTES", "account", "market", "orders", "serve"]
