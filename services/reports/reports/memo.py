"""What an answer's handler may remember between requests, because it never changes once stored:
a round (its form version, scope, period and times are fixed when it is made), a published form
version (immutable by rule), and that a booth exists. Remembered, they spare every answer three of
its five reads (the morning peak is thousands of answers a second, nearly all of one round).

Bounded, least recently used first out. A booth removed from the registry after a round asked it
is still taken for that round by a process that remembered it: the round did ask it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    def __init__(self, size: int):
        self.size = size
        self.kept: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.Lock()  # handlers run in a thread pool

    def get(self, key: K, read: Callable[[], V | None], keep: Callable[[V], bool] = bool) -> V:
        """The remembered value, or `read()`'s, remembered if `keep` says it will not change."""
        found = self.known(key, None)
        if found is not None:
            return found
        value = read()
        if value is not None and keep(value):
            self.remember(key, value)
        return value

    def known(self, key: K, default: V) -> V:
        """The remembered value, or `default` (nothing read)."""
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        return default

    def remember(self, key: K, value: V) -> None:
        with self.lock:
            self.kept[key] = value
            self.kept.move_to_end(key)
            if len(self.kept) > self.size:
                self.kept.popitem(last=False)


class Remembered:
    """The memos of one process's handlers."""

    def __init__(self, *, rounds: int = 1_000, versions: int = 1_000, booths: int = 200_000):
        self.rounds: Memo = Memo(rounds)
        self.versions: Memo = Memo(versions)
        self.booths: Memo = Memo(booths)
