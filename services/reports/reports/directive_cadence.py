"""A dispatch tied to a directive (its pre- or post-plan feedback): a round at the directive's
scheduled time less (before_directive) or plus (after_directive) an offset. Pure: the directive's
time and recurrence come from the notifier (adapters/directives.py), read once at dispatch, since
neither changes after a directive is issued (it can only be cancelled, and a cancelled directive
is refused here).

A recurring directive (one id, a recurrence rule, sent again at each slot) gets a round per
occurrence: each slot less or plus the offset, its slots taken from shared.sending.recurrence as
the notifier takes them (from the directive's send_at, or its issue, to the rule's end or the
directive's expiry). Bounded as a daily dispatch is: at most one round a day (IST), its period
the day, none after the dispatch's `until`, and at most MAX_TIED_ROUNDS in all. An occurrence
whose before-window has passed is skipped, and so is an after-round already past, but the latest
(the occurrence just gone is still asked about, as a single directive's would be)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from reports.domain import Refused
from shared.sending import recurrence
from shared.sending.policy import IST

# A year of daily rounds: a plan keeps its rounds' times, so they are bounded.
MAX_TIED_ROUNDS = 366


@dataclass(frozen=True)
class TiedDirective:
    """What reports reads of a directive: when it goes out, its state, and for a recurring one its
    rule and the end of its rounds (its expiry)."""

    at: datetime  # send_at, or when it was issued: the (first) round's start
    state: str
    rule: recurrence.Recurrence | None = None
    expires_at: datetime | None = None


def tied_rounds(
    cadence: str,
    directive: TiedDirective,
    offset: timedelta,
    now: datetime,
    until: date | None = None,
) -> tuple[datetime, ...]:
    """The send times (UTC-aware, in order) of the rounds tied to the directive."""
    if directive.state == "cancelled":
        raise Refused("directive-cancelled", "the directive was cancelled: nothing to ask about")
    before = cadence == "before_directive"
    if directive.rule is None:
        send_at = directive.at - offset if before else directive.at + offset
        if before and send_at < now:
            raise Refused(
                "too-late", "the time before the directive has passed; dispatch it after instead"
            )
        return (send_at,)
    end = directive.expires_at or directive.at
    sends: dict[date, datetime] = {}
    for slot in directive.rule.slots(directive.at, end):
        send_at = slot - offset if before else slot + offset
        day = send_at.astimezone(IST).date()
        if until is not None and day > until:
            break
        if send_at < now:
            if before:
                continue  # its before-window has passed
            sends.clear()  # only the latest after-round already due is kept
        if day not in sends:
            sends[day] = send_at
        if len(sends) >= MAX_TIED_ROUNDS:
            break
    if not sends:
        raise Refused(
            "too-late",
            "every occurrence's time before the directive has passed; dispatch it after instead"
            if before
            else "the directive has no occurrence left to ask about",
        )
    return tuple(sends.values())


def start_of(send_at: datetime) -> tuple[date, time]:
    """A round's day and send time in IST, as a plan keeps them."""
    local = send_at.astimezone(IST)
    return local.date(), local.time().replace(microsecond=0)
