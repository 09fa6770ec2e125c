"""isocross: exact cross and isolated margin for crypto perpetual futures."""

__version__ = "0.1.0"
