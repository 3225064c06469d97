"""Pacing sends over sending numbers: each number takes `rate` messages a second (WhatsApp's
default is 80), and a large send is spread over several numbers so no one number's rate is the
ceiling. Urgent sends jump the queue: other lanes book at most `horizon_s` ahead, so an urgent
message waits no longer than that for a slot on any number."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


class Pacer:
    def __init__(self, senders: Sequence[str], rate: float, horizon_s: float = 0.05):
        if not senders:
            raise ValueError("at least one sending number is needed")
        self.senders = tuple(senders)
        self.interval = 1.0 / rate
        self.horizon_s = horizon_s
        self._next_free = {sender: 0.0 for sender in self.senders}

    def sender_for(self, recipient_key: str, salt: int = 0) -> str:
        """The number a recipient hears from: always the same one (their chat stays in one thread
        and a provider's 24-hour session is per number), spread evenly over the pool."""
        digest = hashlib.blake2b(f"{salt}:{recipient_key}".encode(), digest_size=8).digest()
        return self.senders[int.from_bytes(digest, "big") % len(self.senders)]

    def book(self, sender: str, now: float, *, urgent: bool) -> float | None:
        """Book the sender's next slot: the seconds to wait before sending, or None if a
        non-urgent send should come back later (the next free slot is beyond the horizon)."""
        slot = max(now, self._next_free[sender])
        if not urgent and slot > now + self.horizon_s:
            return None
        self._next_free[sender] = slot + self.interval
        return slot - now

    def free_in(self, sender: str, now: float) -> float:
        """Seconds until a non-urgent send could book this sender."""
        return max(0.0, self._next_free[sender] - self.horizon_s - now)
