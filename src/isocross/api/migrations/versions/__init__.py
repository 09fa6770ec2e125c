"""Revisions of the service's tables."""
