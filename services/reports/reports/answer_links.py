"""Answer links: one per (round, recipient), that only this service can mint.

    {REPORTS_PUBLIC_URL}/r/{token}

The token packs the round's dispatch id and the recipient's appointment id (UUIDs), then the
link's expiry (the round's due time plus a grace, so a late answer is still taken), the
recipient's locale and the booth, signed under the reports link key (shared/crypto/claims.py, the
mechanics of the notifier's ack links and the meetings' join links, under a label of its own).
Changing any part breaks the MAC, so a link answers only its own booth's report for its own round
and cannot be turned into another's. It carries no phone and no name: a forwarded link tells its
reader nothing about the person.

The message that carries the link is written here too (pure: the caller passes the round's form
title and due time).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from shared.crypto import claims
from shared.sending.policy import IST

_LABEL = b"sangathan-report-answer-v1\x00"
LOCALES = ("hi", "en")
# Message ids are the caller's, unique across every caller's messages: ours are prefixed.
MESSAGE_PREFIX = "report-link"


class InvalidAnswerLink(Exception):
    """Malformed, or not minted by this service."""


class ExpiredAnswerLink(Exception):
    """A genuine link whose time is over."""


@dataclass(frozen=True)
class AnswerClaim:
    dispatch_id: str
    recipient_id: str  # the appointee's appointment id
    booth_id: str
    expires_at: datetime
    locale: str = "hi"


def mint(key: bytes, claim: AnswerClaim) -> str:
    text = f"{int(claim.expires_at.timestamp())}|{claim.locale}|{claim.booth_id}"
    return claims.mint(key, _LABEL, (claim.dispatch_id, claim.recipient_id), text)


def read(key: bytes, token: str, now: datetime) -> AnswerClaim:
    """The claim a genuine, unexpired token carries; InvalidAnswerLink or ExpiredAnswerLink."""
    try:
        (dispatch_id, recipient_id), text = claims.read(key, _LABEL, token, ids=2)
        expiry, locale, booth_id = text.split("|", 2)
        expires_at = datetime.fromtimestamp(int(expiry), timezone.utc)
    except (claims.InvalidClaim, ValueError, OverflowError, OSError) as exc:
        raise InvalidAnswerLink(str(exc) or "malformed token") from None
    if now >= expires_at:
        raise ExpiredAnswerLink(f"the link expired at {expires_at.isoformat()}")
    return AnswerClaim(dispatch_id, recipient_id, booth_id, expires_at, locale)


@dataclass(frozen=True)
class AnswerLinks:
    """The service's public address and the key only it holds."""

    key: bytes
    public_url: str

    def link(self, claim: AnswerClaim) -> str:
        return f"{self.public_url.rstrip('/')}/r/{mint(self.key, claim)}"


def message_id(dispatch_id: str, recipient_id: str) -> str:
    """One message per round and recipient, whatever the retries (the notifier queues it once)."""
    return f"{MESSAGE_PREFIX}:{uuid.uuid5(uuid.UUID(dispatch_id), recipient_id)}"


def locale_of(locale: str) -> str:
    return locale if locale in LOCALES else "hi"


def message_text(title: dict[str, str], due_at: datetime, locale: str, link: str) -> str:
    """The invitation to answer, in the recipient's language, with the due time in IST."""
    due = due_at.astimezone(IST)
    if locale_of(locale) == "en":
        return f"{title['en']}: please answer by {due:%d %b %H:%M} (IST) at {link}"
    return f"{title['hi']}: कृपया {due:%d.%m. %H:%M} बजे तक यहाँ उत्तर दें {link}"
