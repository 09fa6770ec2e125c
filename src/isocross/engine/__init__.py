"""The exchange state machine: commands in, events out; no I/O, the clock injected."""

from isocross.engine.exchange import Exchange, Outcome

__all__ = ["Exchange", "Outcome"]
