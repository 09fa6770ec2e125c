"""The simulator's one error: bad input, named by file and row or by portfolio field.

It is an :class:`~isocross.model.errors.IsocrossError` (code ``INVALID_INPUT``), so the command
line prints it as one line (``error: BTC.feather row 17: duplicate timestamp … [INVALID_INPUT]``)
with exit code 2, and nothing is reported as if complete.
"""

from __future__ import annotations

from isocross.model.errors import ErrorCode, IsocrossError


class SimInputError(IsocrossError):
    """Market data or a portfolio spec the simulator cannot use; ``field`` says where."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(ErrorCode.INVALID_INPUT, message, field=where)
