"""Request parameters as Binance reads them: form or query strings, checked one by one.

Every problem is a 400 with Binance's code naming the parameter: missing (-1102), illegal
characters (-1100), a value not allowed (-1130 or the specific -1115/-1116/-1117), a symbol
not listed (-1121), duplicates (-1101).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar
from urllib.parse import unquote_plus

from isocross.api.errors import ApiError, bad_param, missing

E = TypeVar("E", bound=StrEnum)
DECIMAL = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$")
UNSIGNED = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
INTEGER = re.compile(r"^-?[0-9]{1,18}$")
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
SYMBOL = re.compile(r"^[A-Z0-9_]{1,30}$")
MAX_PARAMS = 64


def parse_params(query: bytes, body: bytes, content_type: str) -> dict[str, str]:
    """Merge the query string and a form body into one dict (duplicates refused)."""
    out: dict[str, str] = {}
    sources = [query]
    if body and "json" not in content_type:
        sources.append(body)
    for raw in sources:
        if not raw:
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_param("Illegal characters found in a parameter.", code=-1100) from None
        parts = text.split("&")
        if len(parts) > MAX_PARAMS:
            raise ApiError(
                400,
                -1101,
                f"Too many parameters; at most {MAX_PARAMS} are read.",
                error="INVALID_INPUT",
            )
        for part in parts:
            if not part:
                continue
            name, _, value = part.partition("=")
            if "%" in part or "+" in part:
                name, value = unquote_plus(name), unquote_plus(value)
            if name in out:
                raise ApiError(
                    400,
                    -1101,
                    f"Duplicate values for parameter '{name}'.",
                    error="INVALID_INPUT",
                    field=name,
                )
            out[name] = value
    return out


class Params:
    """Typed access to one request's parameters."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def __contains__(self, name: str) -> bool:
        return bool(self.values.get(name))

    def text(self, name: str, *, required: bool = False, max_len: int = 100) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if len(value) > max_len:
            raise bad_param(f"Parameter '{name}' is too long (at most {max_len}).", name, -1130)
        return value

    def required(self, name: str, max_len: int = 100) -> str:
        value = self.text(name, required=True, max_len=max_len)
        assert value is not None
        return value

    def decimal(self, name: str, *, required: bool = False, signed: bool = False) -> Decimal | None:
        value = self.text(name, required=required, max_len=45)
        if value is None:
            return None
        pattern = DECIMAL if signed else UNSIGNED
        if not pattern.match(value):
            raise bad_param(
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{pattern.pattern}'.",
                name,
                -1100,
            )
        return Decimal(value)

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self.text(name, required=required, max_len=20)
        if value is None:
            return default
        if not INTEGER.match(value):
            raise bad_param(f"Illegal characters found in parameter '{name}'.", name, -1100)
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = (
                f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
            )
            raise bad_param(f"Parameter '{name}' must be from {bounds}.", name, -1130)
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.text(name, max_len=5)
        if value is None:
            return default
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise bad_param(f"Parameter '{name}' must be 'true' or 'false'.", name, -1130)
        return lowered == "true"

    def choice(self, name: str, kind: type[E], *, default: E | None = None, code: int = -1130) -> E:
        value = self.text(name, max_len=40)
        if value is None:
            if default is None:
                raise missing(name)
            return default
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            raise bad_param(f"Invalid {name} {value!r}; allowed: {allowed}.", name, code) from None

    def client_id(self, name: str) -> str | None:
        value = self.text(name, max_len=36)
        if value is not None and not CLIENT_ID.match(value):
            raise bad_param(
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'{CLIENT_ID.pattern}'.",
                name,
                -1100,
            )
        return value
