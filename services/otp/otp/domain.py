"""The rules of one-time codes, as pure functions over values. No I/O, no clock, no randomness
of its own: callers pass `now` (epoch seconds) and the random source, so every rule is testable.

A code is made from a CSPRNG, kept only as an HMAC bound to its request and appointment, lives
a few minutes, allows a few wrong tries and is used once. Sending is refused to phones outside
the allowed country prefixes, for requests too old to matter, and above the per-phone limits.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

# --- policy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    code_digits: int = 6
    code_ttl_s: int = 600
    max_attempts: int = 5
    send_limit: int = 5
    send_window_s: int = 600
    resend_cooldown_s: int = 30
    allowed_prefixes: tuple[str, ...] = ("+91",)
    verify_limit_per_minute: int = 1200
    verify_limit_per_user_per_minute: int = 60

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


# --- codes and hashes ------------------------------------------------------------------------


def new_code(digits: int, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A uniformly random code of `digits` digits, leading zeros kept (000042 is a code)."""
    return f"{randbelow(10**digits):0{digits}d}"


def code_digest(key: bytes, *, request_id: str, appointment_id: str, code: str) -> str:
    """HMAC-SHA256 of the code bound to its request and appointment: a stolen digest table is
    useless without the key, and a code never matches another request's digest."""
    return _hmac(key, f"code\x00{request_id}\x00{appointment_id}\x00{code}")


def phone_key(key: bytes, phone: str) -> str:
    """A phone's stand-in for storage keys: stable per phone, unreadable without the key."""
    return _hmac(key, f"phone\x00{phone}")


def _hmac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time equality, so response timing tells nothing about how close a guess was."""
    return hmac.compare_digest(a.encode(), b.encode())


# --- sending -----------------------------------------------------------------------------------


class Refusal(str, Enum):
    """Why a code was not sent (the metric's label; the event says `rejected` for all)."""

    PREFIX = "prefix"  # the phone's country is not allowed
    STALE = "stale"  # the request is older than a code would live
    RATE_LIMIT = "rate_limit"  # too many codes to this phone in the window
    COOLDOWN = "cooldown"  # the last code to this phone went out moments ago


def prefix_allowed(phone: str, prefixes: Sequence[str]) -> bool:
    return any(phone.startswith(prefix) for prefix in prefixes)


def refuse_send(
    *, phone: str, requested_at: float, sends: Sequence[float], now: float, policy: Policy
) -> Refusal | None:
    """Whether to refuse a code to `phone`, given when codes last went to it (`sends`)."""
    if not prefix_allowed(phone, policy.allowed_prefixes):
        return Refusal.PREFIX
    if now - requested_at > policy.code_ttl_s:
        return Refusal.STALE  # e.g. replayed after an outage: the person stopped waiting long ago
    recent = [sent_at for sent_at in sends if sent_at > now - policy.send_window_s]
    if len(recent) >= policy.send_limit:
        return Refusal.RATE_LIMIT
    if recent and now - max(recent) < policy.resend_cooldown_s:
        return Refusal.COOLDOWN
    return None


def message_text(code: str, locale: str, ttl_s: int) -> str:
    """The message, worded like a registered DLT template (fixed text, one variable)."""
    minutes = math.ceil(ttl_s / 60)
    if locale.split("-")[0] == "hi":
        return (
            f"{code} आपका संगठन सत्यापन कोड है। यह {minutes} मिनट में समाप्त हो जाएगा। "
            "इसे किसी के साथ साझा न करें।"
        )
    return (
        f"{code} is your Sangathan verification code. "
        f"It expires in {minutes} minutes. Do not share it."
    )


def mask_phone(phone: str, prefixes: Sequence[str] = ("+91",)) -> str:
    """+919876543210 -> +91********10: enough to tell two numbers apart, not to dial one."""
    prefix = next((p for p in prefixes if phone.startswith(p)), phone[:3])
    rest = phone[len(prefix) :]
    return prefix + "*" * max(len(rest) - 2, 0) + rest[-2:]


# --- verifying ---------------------------------------------------------------------------------


class State(str, Enum):
    LIVE = "live"
    USED = "used"
    LOCKED = "locked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CodeRecord:
    """What is kept of a code: never the code itself, only its digest."""

    request_id: str
    appointment_id: str
    booth_id: str
    digest: str
    attempts_left: int
    expires_at: float
    state: State = State.LIVE


def delivery_retry_delay(
    attempt: int,
    *,
    now: float,
    expires_at: float,
    ttl_s: int,
    first_s: float = 1.0,
    cap_s: float = 10.0,
) -> float | None:
    """How long to wait before delivery attempt `attempt + 1` after a transient failure (1 s,
    doubling, at most `cap_s`), or None once a code delivered after the wait would have less than
    a tenth of its life left: better report it undeliverable than send a code about to die."""
    delay = min(first_s * 2 ** (attempt - 1), cap_s)
    return delay if now + delay < expires_at - ttl_s / 10 else None


def issue(
    *, request_id: str, appointment_id: str, booth_id: str, digest: str, now: float, policy: Policy
) -> CodeRecord:
    return CodeRecord(
        request_id, appointment_id, booth_id, digest, policy.max_attempts, now + policy.code_ttl_s
    )


class Outcome(str, Enum):
    VERIFIED = "verified"
    REJECTED = (
        "rejected"  # wrong, unknown, replaced, used, locked or expired before: all look alike
    )
    LOCKED = "locked"  # this wrong try was the last one allowed
    EXPIRED = "expired"  # first try after the code's time ran out


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    before: CodeRecord | None
    after: CodeRecord | None  # the record to store; equal to `before` when nothing changes

    @property
    def changed(self) -> bool:
        return self.after != self.before


def try_code(record: CodeRecord | None, *, appointment_id: str, digest: str, now: float) -> Attempt:
    """One try of a code against what is stored. Every wrong presentation (wrong code or wrong
    appointment) spends a try; the last spent try locks the code."""
    if record is None or record.state is not State.LIVE:
        return Attempt(Outcome.REJECTED, record, record)
    if now >= record.expires_at:
        return Attempt(Outcome.EXPIRED, record, replace(record, state=State.EXPIRED))
    # Both compared in constant time and both always compared: no shortcut to time.
    right = same(record.appointment_id, appointment_id) & same(record.digest, digest)
    if right:
        return Attempt(Outcome.VERIFIED, record, replace(record, state=State.USED))
    left = record.attempts_left - 1
    if left <= 0:
        return Attempt(Outcome.LOCKED, record, replace(record, attempts_left=0, state=State.LOCKED))
    return Attempt(Outcome.REJECTED, record, replace(record, attempts_left=left))


def over_limit(calls: int, limit: int) -> bool:
    """Whether the `calls`-th call in a window exceeds `limit` calls per window."""
    return calls > limit
