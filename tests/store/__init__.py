"""The store's tests (a package, so its conftest does not shadow the root one)."""
