"""API errors: every refusal is ``{"code": <Binance number>, "msg": <text>}`` with a 4xx status.

The tree (each is an :class:`ApiError` with its HTTP status and Binance code)::

    ApiError
    ├── 400  -1102 malformed or missing parameter, -1130 invalid value, -1100 illegal chars,
    │        -1111 precision, -1115/-1116/-1117 bad time in force / type / side, -1121 symbol,
    │        -1021 timestamp outside recvWindow, -1022 bad (or replayed) signature,
    │        -2013 no such order, -2xxx/-4xxx engine refusals (``from_refusal``)
    ├── 401  -2014 API-key format, -2015 unknown/revoked key, -1002 unauthorized
    ├── 403  -2015 the key lacks the permission for this action
    ├── 404  -1099 no such endpoint, -1125 listen key
    ├── 405  -1000 method not allowed
    ├── 413  -1101 request too large
    ├── 429  -1003 request weight exhausted (``Retry-After``)
    └── 503  -1001 the journal is unavailable

An :class:`~isocross.model.errors.IsocrossError` from the engine maps through its
``binance_code``; codes Binance lacks get ``-1130`` (invalid parameter) or, for a blocked bulk
margin-mode change, ``-4047``. The native API adds ``error`` (the stable isocross code),
``field`` and ``details`` to the same body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isocross.model.errors import ErrorCode, IsocrossError

FALLBACK_CODES: Mapping[ErrorCode, int] = {
    ErrorCode.MARGIN_MODE_BULK_BLOCKED: -4047,
    ErrorCode.ACCOUNT_EXISTS: -1130,
    ErrorCode.NO_MARK_PRICE: -1130,
    ErrorCode.UNKNOWN_ASSET: -1130,
    ErrorCode.UNKNOWN_VENUE: -1130,
    ErrorCode.INVALID_TIER_TABLE: -1130,
}


class ApiError(Exception):
    """A refusal the API answers with ``status`` and ``{code, msg}`` (see the module tree)."""

    def __init__(
        self,
        status: int,
        code: int,
        msg: str,
        *,
        error: str | None = None,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.error = error
        self.field = field
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def binance_body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}

    def native_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg, "error": self.error}
        if self.field is not None:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_refusal(cls, exc: IsocrossError) -> ApiError:
        """The engine's refusal as a 400 with the venue's code."""
        code = exc.error.binance_code or FALLBACK_CODES.get(exc.error, -1130)
        msg = "Unknown order sent." if exc.error is ErrorCode.UNKNOWN_ORDER else exc.message
        return cls(400, code, msg, error=exc.code, field=exc.field, details=exc.details or None)


def bad_param(msg: str, field: str | None = None, code: int = -1102) -> ApiError:
    """A malformed, missing or invalid request parameter (400)."""
    error = "MISSING_PARAMETER" if code == -1102 else "INVALID_INPUT"
    return ApiError(400, code, msg, error=error, field=field)


def missing(name: str) -> ApiError:
    return bad_param(
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.", name
    )


def unauthorized(msg: str, code: int = -2015, status: int = 401) -> ApiError:
    return ApiError(status, code, msg, error="UNAUTHORIZED")


def forbidden(permission: str) -> ApiError:
    return ApiError(
        403,
        -2015,
        f"Invalid API-key, IP, or permissions for action: this key lacks the "
        f"'{permission}' permission.",
        error="FORBIDDEN",
    )


def not_found(msg: str = "Not found.", code: int = -1099) -> ApiError:
    return ApiError(404, code, msg, error="NOT_FOUND")


def too_many(limit: int, retry_after: int, *, used: int) -> ApiError:
    return ApiError(
        429,
        -1003,
        f"Too many requests; current limit is {limit} request weight per 1 MINUTE. "
        "Please use the websocket for live updates to avoid polling the API.",
        error="TOO_MANY_REQUESTS",
        headers={"Retry-After": str(retry_after), "X-MBX-USED-WEIGHT-1M": str(used)},
    )


def unavailable(msg: str) -> ApiError:
    return ApiError(503, -1001, msg, error="UNAVAILABLE")
