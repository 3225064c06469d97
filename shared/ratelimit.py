"""Call budgets shared by every process of a service: fixed windows counted in Redis.

A budget is a `Limit` (so many calls per window) charged to someone (an organiser, an
appointment). `spend` charges one call to several budgets in one round trip and says how long
to wait if any of them is spent; every process of the service sees the same counts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Limit:
    name: str  # what is counted, e.g. "verify-per-organiser"
    calls: int  # allowed per window
    window_s: int


class LimitsUnavailable(Exception):
    """Redis did not answer: nothing was counted, and the call should not go ahead."""


class Throttled(Exception):
    def __init__(self, limit: Limit, retry_after_s: int):
        super().__init__(f"{limit.name}: at most {limit.calls} calls in {limit.window_s}s")
        self.limit, self.retry_after_s = limit, retry_after_s


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis, self.prefix = client, prefix

    def spend(self, *charges: tuple[Limit, str], now: float | None = None) -> None:
        """Count one call against each (limit, whom); Throttled (the longest wait) if any is
        spent."""
        now = time.time() if now is None else now
        keys = [self._key(limit, whom, now) for limit, whom in charges]
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for (limit, _), key in zip(charges, keys):
                    pipe.incr(key)
                    pipe.expire(key, limit.window_s)
                counts = pipe.execute()[::2]
        except redis.RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from None
        spent = [
            (limit, window_left(limit, now))
            for (limit, _), count in zip(charges, counts)
            if count > limit.calls
        ]
        if spent:
            raise Throttled(*max(spent, key=lambda s: s[1]))

    def check(self, limit: Limit, whom: str, now: float | None = None) -> None:
        """Throttled if `whom` has spent `limit` in this window, counting nothing."""
        now = time.time() if now is None else now
        try:
            count = int(self.redis.get(self._key(limit, whom, now)) or 0)
        except redis.RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from None
        if count >= limit.calls:
            raise Throttled(limit, window_left(limit, now))

    def _key(self, limit: Limit, whom: str, now: float) -> str:
        return f"{self.prefix}{limit.name}:{whom}:{int(now // limit.window_s)}"


def window_left(limit: Limit, now: float) -> int:
    """Whole seconds until the current window ends (at least 1)."""
    return max(1, math.ceil((int(now // limit.window_s) + 1) * limit.window_s - now))
