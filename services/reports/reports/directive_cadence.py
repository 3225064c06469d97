"""A dispatch tied to a directive (its pre- or post-plan feedback): one round at the directive's
scheduled time less (before_directive) or plus (after_directive) an offset. Pure: the directive's
time comes from the notifier (adapters/directives.py), read once at dispatch, since a directive's
time never changes after it is issued (it can only be cancelled, and a cancelled directive is
refused here)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from reports.domain import Refused
from shared.sending.policy import IST


def tied_start(
    cadence: str, directive_at: datetime, offset: timedelta, state: str, now: datetime
) -> tuple[date, time]:
    """The round's day and send time (IST) for a directive due at `directive_at`."""
    if state == "cancelled":
        raise Refused("directive-cancelled", "the directive was cancelled: nothing to ask about")
    send_at = directive_at - offset if cadence == "before_directive" else directive_at + offset
    if cadence == "before_directive" and send_at < now:
        raise Refused(
            "too-late", "the time before the directive has passed; dispatch it after instead"
        )
    local = send_at.astimezone(IST)
    return local.date(), local.time().replace(microsecond=0)
