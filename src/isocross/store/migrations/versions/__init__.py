"""One module per schema revision (see docs/architecture.md, ``store``)."""
