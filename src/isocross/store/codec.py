"""A JSON codec for commands and events, built by dataclass introspection.

Commands and events are frozen dataclasses of Decimals, enums, ints, strs, bools, tuples and
``None``. Each class is registered by its name; its encoder and decoder are generated once from
its type hints, so a layer can add classes later (:func:`register_commands`,
:func:`register_events`) and the journal keeps up. An object is written as a JSON object
``{"@": "ClassName", field: value, …}`` in field order, with every field present; Decimals are
strings (``str(d)``, which ``Decimal`` reads back exactly, exponent included), enums their value.

Commands and events are separate namespaces. Events are written without ``seq`` and ``ts``: the
journal keeps those once per entry, and :meth:`Codec.decode` takes them back as ``extra``.
Decoding a name nobody registered raises :class:`CodecError` (commands: a replay must not guess)
or, for events, gives a :class:`RawEvent` the read models skip.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from json.encoder import encode_basestring
from typing import Any

from isocross.engine import commands as engine_commands
from isocross.engine import events as engine_events

TYPE_KEY = "@"
"""The key that names the class in an encoded object (not a field name of any class)."""

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def dumps(value: Any) -> str:
    """Compact JSON, the exact text the journal stores and checksums."""
    text: str = _dumps(value)
    return text


class CodecError(ValueError):
    """An object or a document the codec cannot turn into the other."""


@dataclass(frozen=True, slots=True)
class RawCommand:
    """A refused command this code cannot decode (kept for the audit trail only)."""

    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """An event this process cannot decode (its class is unknown, or its fields do not fit the
    class any more): kept as its name and fields; read models skip it."""

    name: str
    seq: int
    ts: int
    fields: Mapping[str, Any]


def _identity(value: Any) -> Any:
    return value


def _encode_decimal(value: Decimal) -> str:
    return str(value)


def _decode_decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise CodecError(f"a Decimal is written as a string, got {value!r}")
    return Decimal(value)


def _checked(kind: type) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not kind:
            raise CodecError(f"expected {kind.__name__}, got {value!r}")
        return value

    return decode


class Codec:
    """A registry of dataclasses by class name with generated JSON-ready encoders/decoders.

    ``omit`` names base fields left out of the encoding (they come back through ``extra``)."""

    def __init__(self, kind: str, *, omit: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.omit = omit
        self._classes: dict[str, type] = {}
        self._encoders: dict[type, Encoder] = {}
        self._texts: dict[type, Callable[[Any], str]] = {}
        self._decoders: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._classes

    def classes(self) -> dict[str, type]:
        return dict(self._classes)

    def register(self, cls: type) -> type:
        """Add ``cls`` (a dataclass); raises if its name is taken by another class or one of
        its field types has no JSON form."""
        if not dataclasses.is_dataclass(cls):
            raise CodecError(f"{cls.__qualname__} is not a dataclass")
        name = cls.__name__
        known = self._classes.get(name)
        if known is cls:
            return cls
        if known is not None:
            raise CodecError(
                f"{self.kind} name {name} is taken by {known.__module__}.{known.__qualname__}; "
                f"cannot also register {cls.__module__}.{cls.__qualname__}"
            )
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.name not in self.omit]
        encoders = [(f.name, self._encoder_for(hints[f.name], cls)) for f in fields]
        decoders = [(f.name, self._decoder_for(hints[f.name], cls)) for f in fields]
        texts = [(f.name, self._text_for(hints[f.name], cls)) for f in fields]
        self._classes[name] = cls
        self._encoders[cls] = _compile_encoder(name, encoders)
        self._texts[cls] = _compile_text(name, texts)
        self._decoders[name] = _compile_decoder(cls, decoders, self.omit)
        return cls

    def register_module(self, module: types.ModuleType) -> list[type]:
        """Register every dataclass defined in ``module`` (not the ones it imports)."""
        found = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and obj.__module__ == module.__name__
        ]
        return [self.register(cls) for cls in found]

    def encode(self, obj: Any) -> dict[str, Any]:
        """``obj`` as a JSON-ready dict. An unregistered dataclass is registered on the way
        (a process decoding it later must register its module too)."""
        encoder = self._encoders.get(type(obj))
        if encoder is None:
            self.register(type(obj))
            encoder = self._encoders[type(obj)]
        result: dict[str, Any] = encoder(obj)
        return result

    def text(self, obj: Any) -> str:
        """``dumps(encode(obj))``, written directly (the journal's hot path). A value that
        does not match its field's type takes the slower, lenient way."""
        text = self._texts.get(type(obj))
        if text is None:
            self.register(type(obj))
            text = self._texts[type(obj)]
        try:
            return text(obj)
        except (TypeError, ValueError):
            return dumps(self.encode(obj))

    def decode(self, data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Any:
        """The object ``data`` encodes (``extra`` supplies the omitted base fields)."""
        name = data.get(TYPE_KEY)
        if not isinstance(name, str):
            raise CodecError(f"no {TYPE_KEY!r} naming the {self.kind} class in {dict(data)!r}")
        decoder = self._decoders.get(name)
        if decoder is None:
            raise CodecError(
                f"unknown {self.kind} type {name!r}: register the module that defines it "
                f"(register_{self.kind}s)"
            )
        return decoder(data, extra or {})

    # ---------------------------------------------------------------- field types
    def _encoder_for(self, hint: Any, owner: type) -> Encoder | None:
        """How to encode a value of type ``hint``; None when it is already JSON."""
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if hint in (str, int, bool, type(None), Any):
            return None
        if hint is Decimal:
            return _encode_decimal
        if isinstance(hint, type) and issubclass(hint, Enum):
            if issubclass(hint, (str, int)):
                return None  # a StrEnum / IntEnum member is its value to json
            return _enum_value
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                raise CodecError(f"{owner.__name__}: only X | None unions are supported: {hint}")
            enc = self._encoder_for(inner[0], owner)
            return None if enc is None else _optional(enc)
        if origin in (tuple, list, Sequence, frozenset, set):
            if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
                args = (args[0],)
            if origin is tuple and len(args) != 1:
                encs = [self._encoder_for(a, owner) or _identity for a in args]
                return lambda value: [enc(v) for enc, v in zip(encs, value, strict=True)]
            maybe = self._encoder_for(args[0], owner) if args else None
            if origin in (frozenset, set):
                item = maybe or _identity
                return lambda value: sorted(item(v) for v in value)
            if maybe is None:
                return list
            each = maybe
            return lambda value: [each(v) for v in value]
        if origin in (dict, Mapping) and args and args[0] is str:
            maybe = self._encoder_for(args[1], owner)
            if maybe is None:
                return dict
            value_enc = maybe
            return lambda value: {k: value_enc(v) for k, v in value.items()}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            self.register(hint)
            return self.encode
        raise CodecError(f"{owner.__name__}: no JSON form for field type {hint!r}")

    def _text_for(self, hint: Any, owner: type) -> str | Encoder:
        """How the text encoder writes a value of type ``hint``: a template (``{}`` stands
        for the attribute) for common scalars, else the dict encoder whose result is dumped."""
        if hint is int:
            return "{{{}:d}}"
        if hint is str or (
            isinstance(hint, type) and issubclass(hint, Enum) and issubclass(hint, str)
        ):
            return "{{_esc({})}}"
        if hint is bool:
            return '{{"true" if {} else "false"}}'
        if hint is Decimal:
            return '"{{{}}}"'
        origin = typing.get_origin(hint)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if origin in (types.UnionType, typing.Union) and args == [Decimal]:
            return "{{_opt_decimal({})}}"
        return self._encoder_for(hint, owner) or _identity

    def _decoder_for(self, hint: Any, owner: type) -> Decoder:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if hint is Any:
            return _identity
        if hint is type(None):
            return _checked(type(None))
        if hint is bool:
            return _checked(bool)
        if hint in (int, str):
            return _checked(hint)
        if hint is Decimal:
            return _decode_decimal
        if isinstance(hint, type) and issubclass(hint, Enum):
            return hint
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            return _optional(self._decoder_for(inner[0], owner))
        if origin in (tuple, list, Sequence, frozenset, set):
            if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
                args = (args[0],)
            if origin is tuple and len(args) != 1:
                decs = [self._decoder_for(a, owner) for a in args]
                return lambda value: tuple(d(v) for d, v in zip(decs, value, strict=True))
            dec = self._decoder_for(args[0], owner) if args else _identity
            build: Callable[[Any], Any] = (
                list if origin is list else frozenset if origin is frozenset else tuple
            )
            if origin is set:
                build = set
            return lambda value: build(dec(v) for v in _sequence(value))
        if origin in (dict, Mapping) and args:
            dec = self._decoder_for(args[1], owner)
            return lambda value: {k: dec(v) for k, v in value.items()}
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.decode
        raise CodecError(f"{owner.__name__}: no JSON form for field type {hint!r}")


def _enum_value(member: Enum) -> Any:
    return member.value


def _optional(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else inner(value)


def _sequence(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise CodecError(f"expected a JSON array, got {value!r}")
    return value


def _compile_encoder(name: str, encoders: list[tuple[str, Encoder | None]]) -> Encoder:
    """``lambda o: {"@": name, "a": o.a, "b": enc_b(o.b), …}`` in field order, as one call."""
    env: dict[str, Any] = {"NAME": name}
    items = [f'"{TYPE_KEY}": NAME']
    for k, (field, enc) in enumerate(encoders):
        if enc is None:
            items.append(f"{field!r}: o.{field}")
        else:
            env[f"e{k}"] = enc
            items.append(f"{field!r}: e{k}(o.{field})")
    source = f"def encode(o):\n    return {{{', '.join(items)}}}\n"
    exec(source, env)  # generated once per class, like dataclasses' own __init__
    encoder: Encoder = env["encode"]
    return encoder


def _opt_decimal(value: Decimal | None) -> str:
    return "null" if value is None else f'"{value}"'


def _compile_text(name: str, texts: list[tuple[str, str | Encoder]]) -> Callable[[Any], str]:
    """One f-string per class: ``{"@":"Name","a":…,"b":…}`` exactly as :func:`dumps` writes
    the dict encoding (a test holds the two equal)."""
    env: dict[str, Any] = {"_esc": encode_basestring, "_opt_decimal": _opt_decimal, "_dumps": dumps}
    parts = [f'{{{{"{TYPE_KEY}":"{name}"']
    for k, (field, how) in enumerate(texts):
        if isinstance(how, str):
            value = how.format(f"o.{field}")
        else:
            env[f"e{k}"] = how
            value = f"{{_dumps(e{k}(o.{field}))}}"
        parts.append(f'"{field}":{value}')
    source = "def text(o):\n    return f'" + ",".join(parts) + "}}'\n"
    exec(source, env)
    text: Callable[[Any], str] = env["text"]
    return text


def _compile_decoder(
    cls: type, decoders: list[tuple[str, Decoder]], omit: tuple[str, ...]
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Any]:
    """Fast path when every field is present; otherwise defaults fill the missing fields (a
    field added to a class since the entry was written) and unknown keys are refused."""
    names = {field for field, _ in decoders}
    env: dict[str, Any] = {"cls": cls}
    args = [f"{field}=extra[{field!r}]" for field in omit]
    for k, (field, dec) in enumerate(decoders):
        env[f"d{k}"] = dec
        args.append(f"{field}=d{k}(data[{field!r}])")
    source = f"def fast(data, extra):\n    return cls({', '.join(args)})\n"
    exec(source, env)
    fast = env["fast"]
    by_name = dict(decoders)
    size = len(decoders) + 1

    def decode(data: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
        try:
            if len(data) == size:
                return fast(data, extra)
        except KeyError:
            pass
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from None
        unknown = set(data) - names - {TYPE_KEY}
        if unknown:
            raise CodecError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
        try:
            kwargs = {f: by_name[f](v) for f, v in data.items() if f != TYPE_KEY}
            return cls(**kwargs, **{f: extra[f] for f in omit})
        except (TypeError, ValueError, ArithmeticError, KeyError) as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from None

    return decode


COMMANDS = Codec("command")
EVENTS = Codec("event", omit=("seq", "ts"))


def register_commands(module: types.ModuleType) -> list[type]:
    """Journal the command classes of ``module`` (a layer's own commands)."""
    return COMMANDS.register_module(module)


def register_events(module: types.ModuleType) -> list[type]:
    """Journal the event classes of ``module``."""
    return EVENTS.register_module(module)


def encode_command(command: Any) -> str:
    return COMMANDS.text(command)


def decode_command(text: str | Mapping[str, Any]) -> Any:
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, dict):
        raise CodecError(f"a command is a JSON object, got {data!r}")
    return COMMANDS.decode(data)


def encode_events(events: Sequence[Any]) -> str:
    texts = EVENTS._texts
    try:
        return "[" + ",".join([texts[type(e)](e) for e in events]) + "]"
    except (KeyError, TypeError, ValueError):  # a class not seen yet, or an odd value
        text = EVENTS.text
        return "[" + ",".join([text(e) for e in events]) + "]"


def decode_events(text: str, seq: int, ts: int) -> tuple[Any, ...]:
    """The events of one entry; one that does not decode becomes a :class:`RawEvent`."""
    extra = {"seq": seq, "ts": ts}
    out: list[Any] = []
    for data in json.loads(text):
        try:
            out.append(EVENTS.decode(data, extra))
        except CodecError:
            name = str(data.get(TYPE_KEY))
            fields = {k: v for k, v in data.items() if k != TYPE_KEY}
            out.append(RawEvent(name, seq, ts, fields))
    return tuple(out)


def safe_command_text(command: Any) -> str:
    """The journal text of any command, even one the codec cannot encode (a refused command
    is journaled for the audit trail whatever it holds)."""
    try:
        return encode_command(command)
    except Exception:
        return dumps({TYPE_KEY: type(command).__name__, "repr": repr(command)})


def journal_form(command: Any) -> tuple[str, Any]:
    """``command``'s journal text and the command decoded back from it: the exchange runs
    the decoded one, so a replay sees exactly what the live run saw (a list where the class
    says ``Sequence`` becomes a tuple). Raises :class:`CodecError` when a field does not fit
    its type (an int for a str): the command could not be replayed."""
    text = encode_command(command)
    decoded = decode_command(text)
    if encode_command(decoded) != text:
        raise CodecError(f"{type(command).__name__} does not survive the journal: {text}")
    return text, decoded


register_commands(engine_commands)
register_events(engine_events)
for _name, _register in (
    ("isocross.risk.commands", register_commands),
    ("isocross.risk.events", register_events),
):
    if importlib.util.find_spec(_name) is not None:
        _register(importlib.import_module(_name))
