"""How the simulated provider decides, as plain objects with the clock and randomness passed in:
rate limits per sender, the fate of each request, the status reports that follow, and the answer
a request gets. No I/O: the handlers keep the state, the adapters call back and read erasures."""

from __future__ import annotations

import hashlib
import random
import re
from collections import OrderedDict
from dataclasses import dataclass

E164 = re.compile(r"^\+[1-9]\d{7,14}$")

# Error codes, shaped like the providers' own (WhatsApp Cloud API numbers, SMS gateway names).
RATE_LIMITED = "130429"
TRANSIENT = "131000"
NOT_ON_CHANNEL = "131026"  # WhatsApp: the number is not a WhatsApp user / cannot receive
INVALID_NUMBER = "INVALID_NUMBER"
TEMPLATE_NOT_APPROVED = "132001"
DLT_TEMPLATE_MISMATCH = "DLT_TEMPLATE_MISMATCH"
DLT_HEADER_UNREGISTERED = "DLT_HEADER_UNREGISTERED"
UNDELIVERABLE = "131049"


class TokenBucket:
    """`rate` requests a second per key, with bursts up to one second's worth."""

    def __init__(self, rate: float):
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def take(self, key: str, now: float) -> float:
        """0 if a token was taken; else the seconds until one is free."""
        tokens, last = self._buckets.get(key, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


@dataclass(frozen=True)
class Refusal:
    status: int  # 400, 429 or 503
    code: str
    message: str

    @property
    def retryable(self) -> bool:
        return self.status >= 429


@dataclass(frozen=True)
class Answer:
    """One send's answer: HTTP status, JSON body, headers (a batch carries them per request)."""

    status: int
    body: dict
    headers: dict[str, str] | None = None


def refused(refusal: Refusal, retry_after_s: float | None = None) -> Answer:
    """A refusal shaped the way providers answer: `{"error": {"code", "message", "retryable"}}`."""
    headers = {"Retry-After": str(max(1, round(retry_after_s)))} if retry_after_s else None
    error = {"code": refusal.code, "message": refusal.message, "retryable": refusal.retryable}
    return Answer(refusal.status, {"error": error}, headers)


@dataclass(frozen=True)
class Report:
    """One status to call back: `due` is when, on the simulator's monotonic clock."""

    due: float
    message_id: str
    status: str  # delivered | read | failed
    error: str | None = None


class Fates:
    """Which requests fail, and how. Permanent failures hang on (channel, phone), so a number
    that does not work keeps not working on every retry; transient ones are drawn per request."""

    def __init__(self, *, transient: float, permanent: float, rng: random.Random):
        self.transient, self.permanent, self.rng = transient, permanent, rng

    def refusal(self, channel: str, phone: str) -> Refusal | None:
        if _share(f"{channel}:{phone}") < self.permanent:
            code = NOT_ON_CHANNEL if channel == "whatsapp" else INVALID_NUMBER
            return Refusal(400, code, f"the recipient cannot receive {channel} messages")
        if self.rng.random() < self.transient:
            return Refusal(503, TRANSIENT, "temporary error, try again later")
        return None


@dataclass(frozen=True)
class Reporting:
    read_share: float
    read_before_delivered_share: float
    duplicate_share: float
    undeliverable_share: float
    delivered_delay_s: tuple[float, float]
    read_delay_s: tuple[float, float]

    def plan(self, message_id: str, now: float, rng: random.Random) -> list[Report]:
        """The status reports one accepted message gets: late, sometimes twice, sometimes out of
        order."""
        delivered_at = now + rng.uniform(*self.delivered_delay_s)
        if rng.random() < self.undeliverable_share:
            return [Report(delivered_at, message_id, "failed", UNDELIVERABLE)]
        reports = [Report(delivered_at, message_id, "delivered")]
        if rng.random() < self.read_share:
            read_at = delivered_at + rng.uniform(*self.read_delay_s)
            if rng.random() < self.read_before_delivered_share:
                read_at = now + (delivered_at - now) * rng.random()  # the read report overtakes
            reports.append(Report(read_at, message_id, "read"))
        if rng.random() < self.duplicate_share:
            first = rng.choice(reports)
            reports.append(
                Report(first.due + rng.uniform(0.05, 0.5), message_id, first.status, first.error)
            )
        return reports


class Bounded(OrderedDict):
    """A dict that forgets its oldest entries past `limit`."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)


def _share(text: str) -> float:
    """A stable number in [0, 1) for a text."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64
