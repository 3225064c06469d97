"""An answer link answers only while the person it was sent to still holds the post it was sent
for. The link names the appointee (answer_links.AnswerClaim.recipient_id, their appointment id):
once that appointment ends (revoked by an organiser, replaced by a new appointee, or the person
erased) the link is refused with a notice of its own (page.py: 410 `answer-link-revoked`) when it
is opened and when it is submitted, and nothing is stored. Submissions made before the end stay:
they were the post holder's.

Pure, no I/O. How reports learns that an appointment ended: the appointments service's own events
(consumer.py translates them to `AppointmentEnded`): `appointment-revoked` (reason `revoked` or
`replaced`; an erasure of an active appointment ends it with one too), `unit-officer-changed`
with change `revoked` or `replaced` (office-bearers are audiences too), and `person-erased`.
They carry ids only, never a phone or a name, and so does what is kept: one small record per
ended appointment id, written once (a replayed or redelivered event changes nothing).

How long it is kept: a link lives at most `longest_link(grace)` from when it is minted (a round is
made when it is due to be sent and is due at most MAX_DUE_AFTER later; its links answer until the
due time plus the grace). A link of the ended appointee was minted before the end, or at worst
just after it (the recipients stream read in the same moment), so `SLACK` past that covers every
such link; after it the record is dropped (a TTL index on `until`, or the purge job where the
server has no TTL). An event older than that is not recorded at all: no link it could stop is
still open, which also makes a new consumer's first replay of appointments' history cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from reports.domain import MAX_DUE_AFTER

HOW = ("revoked", "replaced", "erased")
# Past the longest link lifetime: a link minted from a recipients page read as the post changed.
SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class AppointmentEnded:
    """From appointments' events: this appointment no longer holds its post, since `ended_at`."""

    appointment_id: str
    booth_id: str
    ended_at: datetime
    how: str  # one of HOW


class HolderGone(Exception):
    """The link's appointee no longer holds the post it was sent for."""


class EndedAppointments(Protocol):
    def record(self, ended: AppointmentEnded, until: datetime) -> bool:
        """Keep the ended appointment until `until`; False if it was kept already (the first
        record stays, its `until` only moves later)."""

    def ended(self, appointment_id: str) -> bool: ...

    def purge(self, now: datetime) -> int:
        """Drop records whose `until` has passed; returns how many."""


def longest_link(grace: timedelta) -> timedelta:
    """The longest an answer link answers after it is minted."""
    return MAX_DUE_AFTER + grace


def kept_until(ended: AppointmentEnded, grace: timedelta) -> datetime:
    """When no link of this appointee can answer any more, even one minted as the post changed."""
    return ended.ended_at + longest_link(grace) + SLACK


def record_ended(
    ended: AppointmentEnded, store: EndedAppointments, *, now: datetime, grace: timedelta
) -> bool:
    """Remember the ended appointment while one of its links could still answer; whether it was
    recorded now (False for an event replayed, or too old to matter)."""
    until = kept_until(ended, grace)
    if until <= now:
        return False
    return store.record(ended, until)


def check_holder(recipient_id: str, store: EndedAppointments) -> None:
    """HolderGone if the link's appointee's appointment has ended."""
    if store.ended(recipient_id):
        raise HolderGone("the appointment this link was sent to has ended: the post changed hands")
