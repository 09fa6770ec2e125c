"""The journal's JSON codec: exact round trips, the fast text path equal to the generic one,
classes registered later, and what happens to names and fields it does not know."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from decimal import Decimal

import pytest

from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.engine.events import PositionChanged
from isocross.engine.orders import OrderType
from isocross.model.enums import MarginMode, Side
from isocross.store import codec
from isocross.store.codec import (
    COMMANDS,
    EVENTS,
    CodecError,
    RawEvent,
    decode_command,
    decode_events,
    dumps,
    encode_command,
    encode_events,
    journal_form,
    register_commands,
)
from store.store_workload import session


def test_every_command_and_event_of_a_session_round_trips_through_both_paths() -> None:
    """The generated text encoder writes exactly what ``dumps(encode(x))`` writes, and decoding
    gives back an equal object (events get their seq and ts back from the entry)."""
    ex = Exchange()
    kinds: set[str] = set()
    for cmd, ts in session(400):
        text = encode_command(cmd)
        assert text == dumps(COMMANDS.encode(cmd))
        assert decode_command(text) == cmd
        outcome = ex.handle(cmd, ts=ts)
        if outcome.seq is None:
            continue
        for event in outcome.events:
            assert EVENTS.text(event) == dumps(EVENTS.encode(event))
            kinds.add(type(event).__name__)
        assert decode_events(encode_events(outcome.events), outcome.seq, ts) == outcome.events
    assert {"Trade", "FillSettled", "DepthChanged", "FundingPaid", "PositionChanged"} <= kinds


@pytest.mark.parametrize("text", ["1E+3", "0E-8", "-0.00000001", "60000.10", "1.000", "-0"])
def test_decimals_are_strings_and_come_back_digit_for_digit(text: str) -> None:
    """Sign, digits and exponent all survive (``1.000`` stays ``1.000``, not ``1``)."""
    cmd = c.Deposit("a", "USDT", Decimal(text))
    encoded = encode_command(cmd)
    assert json.loads(encoded)["amount"] == str(Decimal(text))
    assert decode_command(encoded).amount.as_tuple() == Decimal(text).as_tuple()


def test_a_place_order_is_written_field_by_field_in_order() -> None:
    cmd = c.PlaceOrder("a", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.010"), Decimal("1.5"))
    assert encode_command(cmd) == (
        '{"@":"PlaceOrder","account_id":"a","symbol":"BTCUSDT","side":"BUY","type":"LIMIT",'
        '"qty":"0.010","price":"1.5","stop_price":null,"time_in_force":"GTC",'
        '"position_side":"BOTH","reduce_only":false,"close_position":false,'
        '"working_type":"MARK_PRICE","callback_rate":null,"activation_price":null,'
        '"stp":"EXPIRE_TAKER","client_order_id":null}'
    )


LATER = """
from __future__ import annotations
from dataclasses import dataclass
from decimal import Decimal

@dataclass(frozen=True, slots=True)
class Rebalance:
    account_id: str
    weights: tuple[tuple[str, Decimal], ...]
    note: str | None = None
"""


def test_command_classes_registered_later_are_journaled() -> None:
    module = types.ModuleType("later_commands")
    sys.modules[module.__name__] = module
    try:
        exec(LATER, module.__dict__)
        with pytest.raises(CodecError, match="unknown command type 'Rebalance'"):
            decode_command('{"@":"Rebalance","account_id":"a","weights":[],"note":null}')
        assert register_commands(module) == [module.Rebalance]
        cmd = module.Rebalance("a", (("BTC", Decimal("0.50")), ("ETH", Decimal("0.5"))))
        assert decode_command(encode_command(cmd)) == cmd
        assert '"weights":[["BTC","0.50"],["ETH","0.5"]]' in encode_command(cmd)
    finally:
        del sys.modules[module.__name__]


def test_the_risk_layers_commands_and_events_are_registered_when_present() -> None:
    if importlib.util.find_spec("isocross.risk.commands") is not None:
        from isocross.risk import commands as risk_commands

        for name, cls in vars(risk_commands).items():
            if isinstance(cls, type) and cls.__module__ == risk_commands.__name__:
                assert name in COMMANDS
    if importlib.util.find_spec("isocross.risk.events") is not None:
        assert "LiquidationFilled" in EVENTS


def test_unknown_events_are_kept_raw_and_missing_fields_take_their_defaults() -> None:
    text = (
        '[{"@":"SomethingNew","x":"1"},'
        '{"@":"PositionChanged","account_id":"a","symbol":"BTCUSDT","position_side":"BOTH",'
        '"qty":"1","entry_price":"2"}]'
    )
    raw, position = decode_events(text, 5, 99)
    assert raw == RawEvent("SomethingNew", 5, 99, {"x": "1"})
    assert position == PositionChanged(
        5, 99, "a", "BTCUSDT", "BOTH", Decimal(1), Decimal(2), "cross", 0
    )


def test_fields_the_class_no_longer_has_and_wrong_types_are_refused() -> None:
    with pytest.raises(CodecError, match="no field"):
        decode_command('{"@":"CancelOrder","account_id":"a","order_id":"1","extra":1}')
    with pytest.raises(CodecError, match="string"):
        decode_command('{"@":"Deposit","account_id":"a","asset":"USDT","amount":1.5}')
    with pytest.raises(CodecError, match="expected str"):
        decode_command('{"@":"CancelOrder","account_id":1,"order_id":"1"}')


def test_a_command_that_cannot_make_the_round_trip_is_caught() -> None:
    """A value of the wrong type would not decode at replay: refused up front."""
    with pytest.raises(CodecError):
        journal_form(c.OpenAccount(123))  # type: ignore[arg-type]
    text, decoded = journal_form(c.SetMarginModes("a", MarginMode.CROSS, ["BTCUSDT"]))
    assert decoded.symbols == ("BTCUSDT",)
    assert decode_command(text) == decoded


def test_field_types_without_a_json_form_are_refused_when_registered() -> None:
    @dataclass(frozen=True)
    class Bad:
        ratio: float

    with pytest.raises(CodecError, match="no JSON form"):
        codec.Codec("command").register(Bad)
