"""Time as integer epoch seconds: one representation on SQLite and PostgreSQL alike."""

import time


def now() -> int:
    """Current UTC time in whole seconds since the epoch."""
    return int(time.time())
