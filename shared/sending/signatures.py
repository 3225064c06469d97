"""Provider webhook signatures: `X-Provider-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`
over `"<t>." + raw body`. The timestamp is signed too, so an old call replayed later is refused."""

from __future__ import annotations

import hashlib
import hmac

MAX_AGE_S = 300


class BadSignature(Exception):
    """Missing, malformed, stale, or not made with our key. The reason is safe to log."""


def check(
    key: bytes, body: bytes, header: str | None, now: float, max_age_s: int = MAX_AGE_S
) -> None:
    if not header:
        raise BadSignature("no signature header")
    try:
        # `t` and `v1` are the header's own names (the providers' wire format)
        signed = dict(item.split("=", 1) for item in header.split(","))
        stamp, given = int(signed["t"]), signed["v1"]
    except (ValueError, KeyError):
        raise BadSignature("malformed signature header") from None
    if abs(now - stamp) > max_age_s:
        raise BadSignature("signature timestamp too old or in the future")
    expected = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise BadSignature("signature does not match")


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def caller_hash(key: bytes, phone: str) -> str:
    """A keyed hash of a caller's number: a conference provider reports a dial-in caller by it, and
    the receiver, holding the same key, matches it to an invitee without the number travelling."""
    return hmac.new(key, b"caller:" + phone.encode(), hashlib.sha256).hexdigest()
