"""One function per command, and `handle`, the table that routes them.

Scheduling stores each meeting with its meeting-scheduled event in one document (the outbox) and
publishes it; `relay_outbox` publishes what Kafka did not take then. A meeting's background jobs
(`run_due`) then read its audience chunk by chunk (domain.chunks) from the appointments service:

    invite   each invitee stored once (batch inserts) and announced (participant-invited),
             chunks read in parallel (meetings.inviting)
    notify   each invitee's invitation handed to the notifier (POST /v1/messages)
    remind   the same, as a reminder, MEETINGS_REMINDER_BEFORE_MINUTES before the start

A chunk counts as done only after Kafka took its events (invite) or the notifier took its
messages (notify, remind); a job cut short resumes at its unfinished chunks, and a chunk done
twice repeats event ids and message ids, which consumers and the notifier take once. Inviting is
its own pass, before any message, so a state's 65,015 invitations reach Kafka without waiting on
the notifier.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from prometheus_client import Counter

from meetings.commands import (
    CancelMeeting,
    ForgetAppointee,
    InviteAudience,
    RemindInvitees,
    ScheduleMeeting,
)
from meetings.domain import (
    CANCEL_NOTICE,
    CANCELLED,
    INVITE,
    JOBS,
    NOTIFY,
    REMIND,
    SCHEDULED,
    Invitee,
    Meeting,
    Refused,
    check_schedulable,
    chunks,
    job_dues,
    message_id,
    message_text,
    occurrences,
    series_id,
)
from meetings.inviting import Inviting, invite
from meetings.links import JoinClaim, JoinLinks
from meetings.ports import EventOutbox, InviteeStore, MeetingStore, Messages, UnitRegistry
from shared.events import types
from shared.kafka.producer import DeliveryError
from shared.logging import get_logger
from shared.orgtree.levels import booth_path, is_within
from shared.recipients import Recipient, RecipientSource
from shared.sending.policy import SendingPolicy

log = get_logger(__name__)

JOB_LEASE = timedelta(minutes=10)  # longer than a state's invitations take
JOB_RETRY = timedelta(seconds=15)
NOT_YET_RETRY = timedelta(seconds=5)
JOB_FAILURES = Counter(
    "sangathan_meetings_job_failures", "Meeting jobs that failed and wait to be retried", ["job"]
)


class NotFound(Exception):
    pass


@dataclass
class Ports:
    meetings: MeetingStore
    invitees: InviteeStore
    events: EventOutbox
    recipients: RecipientSource
    messages: Messages
    registry: UnitRegistry
    policy: SendingPolicy
    links: JoinLinks
    dial_in: str
    lane: str = "normal"
    channel: str = "whatsapp"
    reminder_before: timedelta = timedelta(minutes=15)
    batch: int = 1000
    invite_streams: int = 4  # chunks of the audience read at once while inviting
    invite_ahead: int = 64  # batches announced and not yet stored, at most (meetings.inviting)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    pin: Callable[[], str] = field(default=lambda: f"{secrets.randbelow(10**6):06d}")


# --- scheduling --------------------------------------------------------------------------------


def schedule_meeting(cmd: ScheduleMeeting, ports: Ports) -> tuple[list[Meeting], bool]:
    """The meetings scheduled (one per occurrence) and whether this request created them; a
    repeated request (same organiser, same Idempotency-Key) answers the meetings it made."""
    now = ports.clock()
    series = series_id(cmd.organiser, cmd.idempotency_key)
    existing = _existing(series, cmd, ports)
    if existing:
        return existing, False
    unknown = [unit for unit in cmd.scope if ports.registry.get(unit) is None]
    if unknown:
        raise Refused(
            422, "unknown-unit", "Unknown unit", f"{', '.join(unknown)} is not in the registry."
        )
    first = _first(cmd, series, now)
    planned = occurrences(first, cmd.recurrence, pin=ports.pin)
    for meeting in planned:
        check_schedulable(meeting, ports.policy, now)
    created = False
    for meeting in planned:
        meeting = _with_event(meeting)
        if ports.meetings.insert(meeting, job_dues(meeting, ports.reminder_before)):
            created = True
            publish_outbox(meeting, ports)
    return [ports.meetings.get(m.meeting_id) for m in planned], created


def _existing(series: str, cmd: ScheduleMeeting, ports: Ports) -> list[Meeting]:
    if not cmd.idempotency_key:
        return []
    first = ports.meetings.get(series)
    if first is not None:
        return [first]
    if cmd.recurrence is None:
        return []
    # A recurring series stores its occurrences under derived ids: plan again and look them up.
    probe = _first(cmd, series, ports.clock())
    try:
        planned = occurrences(probe, cmd.recurrence, pin=lambda: "")
    except Refused:
        return []
    found = [ports.meetings.get(m.meeting_id) for m in planned]
    return [m for m in found if m is not None]


def _first(cmd: ScheduleMeeting, series: str, now: datetime) -> Meeting:
    return Meeting(
        meeting_id=series,
        series_id=series,
        kind=cmd.kind,
        organiser=cmd.organiser,
        organiser_unit=cmd.organiser_unit,
        scope=cmd.scope,
        audience=cmd.audience,
        title=cmd.title,
        starts_at=cmd.starts_at,
        duration_minutes=cmd.duration_minutes,
        scheduled_at=now,
        room=cmd.room,
        speakers=cmd.speakers,
        guests=cmd.guests,
    )


def _with_event(meeting: Meeting) -> Meeting:
    return replace(meeting, event_id=str(uuid.uuid5(uuid.UUID(meeting.meeting_id), "scheduled")))


def publish_outbox(meeting: Meeting, ports: Ports) -> bool:
    """Publish a meeting's meeting-scheduled and mark it; False if Kafka did not take it (the
    relay tries again)."""
    return _published(
        (types.MEETING_SCHEDULED, meeting.event_data(), meeting.event_id),
        lambda: ports.meetings.mark_published(meeting.meeting_id),
        meeting.meeting_id,
        ports,
    )


def relay_outbox(ports: Ports) -> int:
    published = 0
    for meeting in ports.meetings.unpublished(100):
        published += publish_outbox(meeting, ports)
    for meeting in ports.meetings.cancel_unpublished(100):
        if meeting.published:  # after its meeting-scheduled: one key, one partition, that order
            published += publish_cancellation(meeting, ports)
    return published


def cancel_meeting(cmd: CancelMeeting, ports: Ports) -> Meeting:
    """Cancel a meeting not yet starting: announced (meeting-cancelled, reason organiser), and
    whoever was sent its invitation is told (the cancel_notice job)."""
    meeting = ports.meetings.cancel(cmd.meeting_id, cmd.by, ports.clock())
    if meeting is not None:
        if meeting.published:
            publish_cancellation(meeting, ports)
        return meeting
    current = ports.meetings.get(cmd.meeting_id)
    if current is None:
        raise NotFound(cmd.meeting_id)
    detail = (
        f"The meeting is already {current.state}."
        if current.state != SCHEDULED
        else "The meeting has started or is starting: a moderator ends it instead."
    )
    raise Refused(409, "not-cancellable", "Not cancellable", detail)


def publish_cancellation(meeting: Meeting, ports: Ports) -> bool:
    """Publish an organiser's meeting-cancelled and mark it; False if Kafka did not take it."""
    return _published(
        (types.MEETING_CANCELLED, meeting.cancellation_data(), meeting.cancel_event_id),
        lambda: ports.meetings.mark_cancel_published(meeting.meeting_id),
        meeting.meeting_id,
        ports,
    )


def _published(event: tuple[str, dict, str], mark: Callable[[], None], meeting_id: str, ports):
    """Publish one outbox event and mark it; False (logged: the relay retries) if Kafka did not
    take it."""
    event_type, data, event_id = event
    try:
        ports.events.emit(event_type, data, event_id=event_id)
        ports.events.flush(10.0)
    except DeliveryError as exc:
        log.warning(
            f"{event_type} not published; the relay retries",
            fields={"meeting_id": meeting_id, "error": str(exc)[:200]},
        )
        return False
    mark()
    return True


# --- the background jobs -----------------------------------------------------------------------


def run_due(ports: Ports) -> bool:
    """Run every job that is due, invitations first; True if one ran. A job is claimed for a
    while first, so two processes never run the same one at once; one that fails (appointments,
    the notifier or Kafka away) is tried again after a pause, from its first unfinished chunk."""
    worked = False
    for job in (*JOBS, CANCEL_NOTICE):
        now = ports.clock()
        for meeting in ports.meetings.due(job, now, 20):
            if not ports.meetings.claim(meeting.meeting_id, job, now, now + JOB_LEASE):
                continue
            try:
                _JOBS[job](meeting, ports)
                worked = True
            except NotYet:
                ports.meetings.release(meeting.meeting_id, job, now + NOT_YET_RETRY)
            except Exception as exc:
                JOB_FAILURES.labels(job).inc()
                log.warning(
                    "meeting job failed; tried again shortly",
                    fields={
                        "meeting_id": meeting.meeting_id,
                        "job": job,
                        "error_class": type(exc).__name__,
                        "error": str(exc)[:200],
                    },
                )
                ports.meetings.release(meeting.meeting_id, job, now + JOB_RETRY)
    return worked


def invite_audience(cmd: InviteAudience, ports: Ports) -> None:
    meeting = _scheduled(cmd.meeting_id, INVITE, ports)
    if meeting is not None:
        _invite(meeting, ports)


def remind_invitees(cmd: RemindInvitees, ports: Ports) -> None:
    meeting = _scheduled(cmd.meeting_id, REMIND, ports)
    if meeting is not None:
        _message(meeting, ports, REMIND)


def forget_erased(cmd: ForgetAppointee, ports: Ports) -> int:
    changed = ports.invitees.forget_phone(cmd.appointment_id)
    log.info(
        "erased appointee's invitation phones dropped",
        fields={"erasure_id": cmd.erasure_id, "invitations": changed},
    )
    return changed


def _scheduled(meeting_id: str, job: str, ports: Ports) -> Meeting | None:
    meeting = ports.meetings.get(meeting_id)
    if meeting is None:
        raise NotFound(meeting_id)
    if meeting.state == CANCELLED:
        ports.meetings.job_done(meeting_id, job, ports.clock())
        return None
    return meeting


def _invite(meeting: Meeting, ports: Ports) -> None:
    """Store and announce every invitee: chunks read in parallel, events produced as batches
    arrive, invitees stored meanwhile (meetings.inviting)."""
    done = ports.meetings.chunks_done(meeting.meeting_id, INVITE)
    invited_at = ports.clock()

    def read(unit: str) -> Iterator[Invitee]:
        for recipient in _found(meeting, unit, ports):
            yield _invitee(meeting, recipient, ports, invited_at)

    def chunk_done(unit: str, count: int) -> None:
        ports.meetings.chunk_done(meeting.meeting_id, INVITE, unit, count)

    job = Inviting(
        read=read,
        store=ports.invitees.add,
        emit_many=ports.events.emit_many,
        flush=ports.events.flush,
        done=chunk_done,
        batch=ports.batch,
        streams=ports.invite_streams,
        ahead=ports.invite_ahead,
    )
    invite([u for u in _units(meeting, ports) if u not in done], job)
    _finished(meeting, INVITE, ports)


def _message(meeting: Meeting, ports: Ports, purpose: str, among: set[str] | None = None) -> None:
    """Hand every invitee's invitation (reminder, cancellation) to the notifier, chunk by chunk;
    `among`: only these chunks."""

    def chunk(unit: str, found: Iterator[Recipient]) -> int:
        count = 0
        for batch in _batches(found, ports.batch):
            ports.messages.send([_message_of(meeting, r, purpose, ports) for r in batch])
            count += len(batch)
        return count

    _each_chunk(meeting, purpose, ports, chunk, among)


def _tell_cancelled(meeting: Meeting, ports: Ports) -> None:
    """Tell the invitees of a cancelled meeting who were sent its invitation (the chunks the
    notify job finished), once that job has stopped sending."""
    if not ports.meetings.job_idle(meeting.meeting_id, NOTIFY, ports.clock()):
        raise NotYet("invitations are still going out")
    told = ports.meetings.chunks_done(meeting.meeting_id, NOTIFY)
    _message(meeting, ports, CANCEL_NOTICE, among=told)


class NotYet(Exception):
    """A job that must wait for another: claimed again shortly, not counted as a failure."""


def _each_chunk(
    meeting: Meeting, job: str, ports: Ports, work, among: set[str] | None = None
) -> None:
    done = ports.meetings.chunks_done(meeting.meeting_id, job)
    for unit in _units(meeting, ports):
        if unit in done or (among is not None and unit not in among):
            continue
        if job in (NOTIFY, REMIND) and _cancelled_meanwhile(meeting, ports):
            break  # the cancel_notice job tells the chunks done so far
        count = work(unit, _found(meeting, unit, ports))
        ports.meetings.chunk_done(meeting.meeting_id, job, unit, count)
    _finished(meeting, job, ports)


def _cancelled_meanwhile(meeting: Meeting, ports: Ports) -> bool:
    current = ports.meetings.get(meeting.meeting_id)
    return current is None or current.state == CANCELLED


def _units(meeting: Meeting, ports: Ports) -> list[str]:
    return chunks(meeting.scope, lambda u: _children(u, ports)) + [SPEAKERS]


def _found(meeting: Meeting, unit: str, ports: Ports) -> Iterator[Recipient]:
    return _speakers(meeting, ports) if unit == SPEAKERS else _audience(meeting, unit, ports)


def _finished(meeting: Meeting, job: str, ports: Ports) -> None:
    ports.meetings.job_done(meeting.meeting_id, job, ports.clock())
    log.info("meeting job done", fields={"meeting_id": meeting.meeting_id, "job": job})


SPEAKERS = "speakers"  # the chunk of appointees who speak from outside the audience


def _children(unit: str, ports: Ports) -> list[str]:
    return [child["id"] for child in ports.registry.children(unit)]


def _audience(meeting: Meeting, unit: str, ports: Ports) -> Iterator[Recipient]:
    return ports.recipients.stream(unit, meeting.audience)


def _speakers(meeting: Meeting, ports: Ports) -> Iterator[Recipient]:
    """Speakers and moderators whom the audience does not already reach, from their booths."""
    for speaker in meeting.speakers:
        for recipient in ports.recipients.stream(speaker.booth_id, ()):
            if recipient.appointment_id != speaker.appointment_id:
                continue
            reached = recipient.role in meeting.audience and any(
                is_within(recipient.booth_id, unit) for unit in meeting.scope
            )
            if not reached:
                yield recipient


def _invitee(meeting: Meeting, recipient: Recipient, ports: Ports, at: datetime) -> Invitee:
    return Invitee(
        meeting_id=meeting.meeting_id,
        participant_id=recipient.appointment_id,
        booth_id=recipient.booth_id,
        booth_path=recipient.booth_path or booth_path(recipient.booth_id),
        role=recipient.role,
        locale=recipient.locale,
        phone=recipient.phone,
        part=meeting.part_of(recipient.appointment_id),
        channel=ports.channel,
        invited_at=at,
    )


def _message_of(meeting: Meeting, recipient: Recipient, purpose: str, ports: Ports) -> dict:
    link = None
    if meeting.room_ref is not None:
        claim = JoinClaim(meeting.meeting_id, recipient.appointment_id, recipient.booth_id)
        link = ports.links.link(claim)
    return {
        "message_id": message_id(meeting.meeting_id, recipient.appointment_id, purpose),
        "appointment_id": recipient.appointment_id,
        "booth_id": recipient.booth_id,
        "phone": recipient.phone,
        "channel": ports.channel,
        "locale": recipient.locale,
        "text": message_text(meeting, purpose, recipient.locale, dial_in=ports.dial_in, link=link),
        "lane": ports.lane,
    }


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_JOBS = {
    INVITE: lambda meeting, ports: _invite(meeting, ports),
    NOTIFY: lambda meeting, ports: _message(meeting, ports, NOTIFY),
    REMIND: lambda meeting, ports: _message(meeting, ports, REMIND),
    CANCEL_NOTICE: _tell_cancelled,
}

HANDLERS = {
    ScheduleMeeting: schedule_meeting,
    CancelMeeting: cancel_meeting,
    InviteAudience: invite_audience,
    RemindInvitees: remind_invitees,
    ForgetAppointee: forget_erased,
}


def handle(cmd, ports: Ports):
    return HANDLERS[type(cmd)](cmd, ports)
