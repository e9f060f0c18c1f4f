"""Helpers that start real external parts (PostgreSQL, Chromium) for the tests."""
