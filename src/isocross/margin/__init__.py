"""Pure margin mathematics and the account aggregate: no I/O, no clock, exact decimals."""
