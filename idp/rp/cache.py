"""A small time-bounded, size-bounded cache for answers a resource server gets from the provider.

Entries older than ``ttl`` seconds are never returned; beyond ``max_entries`` the least
recently used entry is dropped, so a flood of distinct tokens costs bounded memory. The lock
guards the dictionary only: nothing slow ever runs under it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """``get`` gives what ``put`` stored under ``key`` at most ``ttl`` seconds ago, else None."""

    def __init__(
        self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl < 0 or max_entries < 0:
            raise ValueError("ttl and max_entries must not be negative")
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry[0] >= self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: bytes, value: V) -> None:
        if self.ttl == 0 or self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = (self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
