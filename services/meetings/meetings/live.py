"""A meeting's live half: start it at the provider, dial its invitees, fold the provider's
webhooks into attendance, let its organiser moderate, and end it with a reconciliation.

Guarantees:
- **One start, one end.** A due meeting is claimed with one find-and-modify (adapters/live.py)
  under a lease; a provider that is down leaves the claim to lapse a little later and the start is
  tried again. Bridge refs and call refs make a retried step create and dial nothing twice.
- **No start outside the sending window.** The policy is judged again at the start, with the
  time of the start (meetings.domain.start_refused): in a blackout, or in the quiet hours when
  taken up more than a few minutes late, the meeting opens no bridge and dials no one; it is
  cancelled with the reason and announced (meeting-cancelled). The decision is recorded before
  it is announced, so a retried start repeats it even if the window has ended meanwhile.
- **Dial-out paced and bounded.** Calls to make are documents (first calls and redials alike),
  claimed a few at a time (MEETINGS_DIAL_BATCH) by the pod's diallers (MEETINGS_DIALLERS) and
  paced at the provider's calls per second in this pod, one shared pace; a 429 pushes the pace
  back by its Retry-After. Busy and no-answer are queued again (meetings.conference.Redial),
  into the bridge the failed call was in. A batch's calls are written to their participants'
  attendance with one update command; a call whose write failed is dialled again with the same
  call ref, which the provider answers with the call it made. A meeting whose calls made and not
  yet settled (no outcome from a webhook) reach MEETINGS_DIAL_MAX_OWED is not dialled until
  outcomes come in: the provider never owes more webhooks than the service keeps up with, so
  the webhooks' lag stays bounded instead of growing with the meeting.
  Phones are opened only to hand them to the provider, never kept or logged.
- **Attendance exactly once.** A webhook's event is folded into its participant's attendance with
  a compare-and-set; the facts it tells become attendance events written in the same update and
  published after (a failed publish answers 503, the provider retries, the same facts go again
  with the same event ids). Replays and duplicates fold to nothing new, and an event that tells
  nothing new writes nothing. Published events leave the participant's pending ones with its
  next update, or the pod's next flush (write_counts).
- **Concurrent webhooks share their round trips.** A pod's webhooks in flight are read with one
  find, written with one bulk write of their compare-and-sets (a lost one reads again, as alone)
  and published with one flush of a producer only that batch's thread flushes, each webhook
  answered once its own events are confirmed (meetings.bootstrap.group_webhooks).
- **Lost callbacks fixed.** After the end, every bridge's end-of-call records are folded the same
  way, then meeting-ended carries the totals.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from meetings.adapters.live import Dialled, as_stored, attendance_of, embedded_attendance
from meetings.conference import (
    ROOT,
    SPEAKERS,
    Attempted,
    Attendance,
    Confirmed,
    Fact,
    Joined,
    Left,
    Pacing,
    ProviderEvent,
    Redial,
    booth_order,
    call_ref,
    confirm,
    counts_change,
    counts_of,
    fold,
    plan_bridges,
    records_as_events,
)
from meetings.domain import start_refused
from meetings.ports import ConferenceProvider, ProviderPaced, ProviderRefused, ProviderUnavailable
from shared.batching import Batcher
from shared.events import types
from shared.kafka.producer import DeliveryError
from shared.logging import get_logger
from shared.sending.policy import SendingPolicy

log = get_logger(__name__)

AUDIO, VIDEO = "audio_bridge", "video_conference"
HOSTS = ("speaker", "moderator")  # dialled into the speaker bridge, unmuted
CAS_TRIES = 16
PACED_TRIES = 3  # a call the provider paced is tried again after its Retry-After, then later
NOTE_WITHIN_S = 0.5  # dialled calls are written to their invitees at least this often
AWAY, REFUSED = "away", "refused"  # what a dial-out came to, besides a call or a later time
MEETINGS_KEPT = 1024  # meetings whose kind and bridges a pod remembers (`_keep`)
PUBLISH_TIMEOUT_S = 10.0  # a webhook's events not confirmed by then: 503, the provider retries
_EVENTS = uuid.UUID("2c9d7e40-1b5a-4f3e-8d21-6a0b9c8e7f15")


class BusyParticipant(Exception):
    """Too many writers on one participant's attendance at once; the provider retries."""


@dataclass
class LivePorts:
    provider: ConferenceProvider
    live: Any  # meetings.adapters.live.MongoLive
    meetings: Any  # meetings.ports.MeetingStore: get(meeting_id) -> Meeting
    events: Any  # emit(type, data, event_id=...), flush(timeout)
    caller_hash: Callable[[str], str]
    callback_url: str  # where the provider posts webhooks (the meeting id is added)
    cap: int = 250
    late_joiner_seats: int = 50  # kept on the speaker bridge for those who dial the PIN
    pacing: Pacing = field(default_factory=lambda: Pacing(50, time.monotonic()))
    dial_batch: int = 8  # calls a dialler claims at once (one queue, one compare-and-set)
    # A meeting's calls made and not settled (no outcome yet) above which it is not dialled; 0:
    # no bound (MEETINGS_DIAL_MAX_OWED).
    max_owed: int = 0
    redial: Redial = field(default_factory=lambda: Redial(attempts=3, backoff_s=60))
    ring_timeout_s: float = 30
    caller_id: str | None = None
    policy: SendingPolicy = field(default_factory=SendingPolicy)  # the scheduling service's own
    pod: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    lease_s: float = 60
    retry_s: float = 5  # a start or an end the provider could not take is tried again after
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    sleep: Callable[[float], None] = time.sleep
    # meeting id -> kind: every webhook needs it and it never changes, so it is read once
    kinds: dict[str, str] = field(default_factory=dict)
    # meeting id -> its bridges by number, once it has started: all made then, never changed
    bridges: dict[str, dict[str, dict]] = field(default_factory=dict)
    # The webhooks' events, confirmed with one Kafka flush per batch of concurrent webhooks (a
    # group commit of publish_together on a publisher of its own; bootstrap sets it). None:
    # each webhook emits to `events` and flushes it.
    publishing: Batcher[dict[str, dict], None] | None = None
    reconcile_threads: int = 1  # end-of-call records folded at once (1: one after another)


# --- starting -----------------------------------------------------------------------------------


def start_due(ports: LivePorts) -> bool:
    """Start one meeting that is due, if any; True if one was found."""
    return _claimed(ports.live.claim_start, start_meeting, "start", ports)


def _claimed(claim, work, step: str, ports: LivePorts) -> bool:
    """Claim one meeting for `step` and do it; with the provider away, or Kafka not confirming
    the step's event in time, the claim lapses after `retry_s` (not the whole lease) and a pod
    (this one or another) tries the step again: every step is safe to repeat."""
    meeting_id = claim(ports.clock(), ports.pod, ports.lease_s)
    if meeting_id is None:
        return False
    try:
        work(meeting_id, ports)
    except (ProviderUnavailable, DeliveryError) as exc:
        away = "provider" if isinstance(exc, ProviderUnavailable) else "kafka"
        log.warning(
            f"{away} away; {step} retried",
            fields={"meeting_id": meeting_id, "error_class": type(exc).__name__},
        )
        ports.live.hold(meeting_id, ports.pod, ports.clock().timestamp() + ports.retry_s)
    return True


def start_meeting(meeting_id: str, ports: LivePorts) -> None:
    meeting = ports.meetings.get(meeting_id)
    now = ports.clock()
    refused = ports.live.live(meeting_id).get("refused")
    reason = refused["reason"] if refused else start_refused(meeting, ports.policy, now)
    if reason is not None:
        _refuse_start(meeting, reason, now, ports)
        return
    invitees = list(ports.live.invitees(meeting_id))
    # Counted before the first call is queued: a state's thousands of unit counters written while
    # the first webhooks come in held their writes back by seconds.
    count_invited(meeting_id, invitees, ports)
    if meeting.kind == AUDIO:
        bridges = _open_bridges(meeting, invitees, ports)
    else:
        bridges = _open_room(meeting, ports)
    ports.events.emit(
        types.MEETING_STARTED,
        {
            "meeting_id": meeting_id,
            "kind": meeting.kind,
            "organiser_unit": meeting.organiser_unit,
            "invited": len(invitees),
            "bridges": bridges,
            "started_at": now.isoformat(),
        },
        event_id=_event_id(meeting_id, "started"),
    )
    ports.events.flush(10.0)
    ports.live.started(meeting_id, now, len(invitees))


def _refuse_start(meeting, reason: str, now: datetime, ports: LivePorts) -> None:
    """Nobody is dialled: the decision is recorded, announced, then the meeting cancelled. A
    failed publish raises, the claim lapses, and the retry finds the decision recorded."""
    decided = ports.live.refuse_start(meeting.meeting_id, ports.pod, reason, now)
    at = _utc(decided["at"])
    ports.events.emit(
        types.MEETING_CANCELLED,
        {
            "meeting_id": meeting.meeting_id,
            "kind": meeting.kind,
            "organiser_unit": meeting.organiser_unit,
            "reason": decided["reason"],
            "cancelled_at": at.isoformat(),
        },
        event_id=_event_id(meeting.meeting_id, "cancelled"),
    )
    ports.events.flush(10.0)
    ports.live.cancelled(meeting.meeting_id, decided["reason"], at)
    log.warning(
        "meeting not started: the sending policy forbids it now",
        fields={"meeting_id": meeting.meeting_id, "reason": decided["reason"]},
    )


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)  # MongoDB gives naive UTC


def _open_bridges(meeting, invitees: list[dict], ports: LivePorts) -> int:
    """The cascade (the speaker bridge, its relays, the listener bridges; each bridge made after
    the one it hears), then every invitee's first call queued (hosts into the speaker bridge),
    spread at the provider's pace. The speaker bridge keeps a seat per host and the late joiners'
    seats: the PIN leads there."""
    hosts = [i for i in invitees if i.get("part") in HOSTS]
    listeners = booth_order([(i["booth_id"], i["_id"]) for i in invitees if i not in hosts])
    kept = len(hosts) + ports.late_joiner_seats
    plan = plan_bridges(meeting.meeting_id, len(listeners), ports.cap, meeting.pin, kept)
    made: dict[str, str] = {}  # ref -> the provider's bridge id
    for planned in plan.in_order:
        parent = made[planned.parent] if planned.parent else None
        made[planned.ref] = _bridge(meeting, planned, parent, ports)["bridge_id"]
    start, pace = ports.clock().timestamp(), ports.pacing.interval
    order = [(i["_id"], 0) for i in hosts] + [
        (key, plan.bridge_of(n).number) for n, (_, key) in enumerate(listeners)
    ]
    ports.live.queue_calls(
        [
            _call(meeting.meeting_id, key, 1, bridge, start + n * pace)
            for n, (key, bridge) in enumerate(order)
        ]
    )
    return plan.count


def _open_room(meeting, ports: LivePorts) -> int:
    room = ports.provider.create_bridge(
        bridge_ref=meeting.room_ref,
        kind="video",
        capacity=ports.cap,
        listen_only=False,
        status_callback=_callback(ports, meeting.meeting_id),
    )
    ports.live.save_bridge(meeting.meeting_id, 0, _bridge_doc(room, meeting.room_ref, "room"))
    return 1


def _bridge(meeting, planned, parent: str | None, ports: LivePorts) -> dict:
    made = ports.provider.create_bridge(
        bridge_ref=planned.ref,
        kind="audio",
        capacity=planned.capacity,
        listen_only=planned.listen_only,
        status_callback=_callback(ports, meeting.meeting_id),
        parent_bridge_id=parent,
        pin=planned.pin,
    )
    ports.live.save_bridge(
        meeting.meeting_id, planned.number, _bridge_doc(made, planned.ref, planned.role)
    )
    return made


def _bridge_doc(made: dict, ref: str, role: str) -> dict:
    return {
        "bridge_id": made["bridge_id"],
        "ref": ref,
        "role": role,
        "room_url": made.get("room_url"),
    }


def _call(meeting_id: str, key: str, attempt: int, bridge: int, due_ts: float) -> dict:
    return {
        "meeting_id": meeting_id,
        "invitee": key,
        "attempt": attempt,
        "bridge": bridge,
        "due_ts": due_ts,
    }


def _callback(ports: LivePorts, meeting_id: str) -> str:
    return f"{ports.callback_url}?meeting_id={meeting_id}"


# --- dialling -----------------------------------------------------------------------------------


def dial_due(ports: LivePorts) -> bool:
    """Make the next due calls (up to `dial_batch` of one queue, claimed together), at the
    provider's pace; True if there were some. What the provider took is written to the invitees
    with one bulk write per batch (sooner when the batch takes long), then the calls let go with
    one update of their queue: a call whose write failed is held for `retry_s` and dialled again
    with the same call ref, which the provider answers with the call it made."""
    now = ports.clock().timestamp()
    batch = ports.dial_batch
    calls = ports.live.take_calls(
        now, ports.lease_s, batch, ahead_s=batch * ports.pacing.interval, skip=_owing(ports)
    )
    if not calls:
        return False
    made: list[str] = []
    later: dict[str, float] = {}
    dialled: list[tuple[dict, Dialled]] = []
    since = time.monotonic()
    live = ports.live.live(calls[0]["meeting_id"])  # a claim takes one queue: one meeting
    over = live.get("state") not in ("starting", "started") or live.get("end_requested")
    keys = [] if over else [c["invitee"] for c in calls]
    invitees = ports.live.invitees_by_key(keys, with_phone=True) if keys else {}
    bridges = {} if over else _bridges_of(calls[0]["meeting_id"], live, ports)
    for n, call in enumerate(calls):
        if over:
            made.append(call["_id"])  # the meeting is over: no more calls
            continue
        invitee = invitees.get(call["invitee"])
        if invitee is None or not invitee.get("phone"):
            made.append(call["_id"])  # erased since: nobody to call
            continue
        outcome = _dial(call, invitee, bridges[str(call["bridge"])]["bridge_id"], ports)
        if isinstance(outcome, Dialled):
            dialled.append((call, outcome))
        elif outcome is REFUSED:
            made.append(call["_id"])  # this call cannot be made
        elif outcome is AWAY:  # the provider is away: the rest of the batch is tried later too
            retry = ports.clock().timestamp() + ports.retry_s
            later.update({c["_id"]: retry for c in calls[n:]})
            break
        else:
            later[call["_id"]] = outcome  # paced again and again: when the provider said
        if dialled and time.monotonic() - since >= NOTE_WITHIN_S:
            _note(dialled, made, later, ports)
            dialled, since = [], time.monotonic()
    _note(dialled, made, later, ports)
    ports.live.release_calls(made, later)
    return True


def _owing(ports: LivePorts) -> Callable[[str], bool] | None:
    """Whether a meeting's diallers wait: the provider owes it the outcomes of `max_owed` calls
    or more (made and not settled: still ringing, or their webhooks not yet taken), so dialling
    on would only lengthen the backlog of webhooks. Dialling goes on as outcomes come in."""
    if not ports.max_owed:
        return None
    return lambda meeting_id: ports.live.calls_owed(meeting_id) >= ports.max_owed


def _note(dialled: list[tuple[dict, Dialled]], made: list[str], later: dict, ports) -> None:
    """Write what the provider took, and count the calls made (what the provider owes the
    meeting: `_owing`); a call whose write failed is dialled again soon (and counted then)."""
    failed = set(ports.live.note_calls([d for _, d in dialled]))
    if len(failed) < len(dialled):
        meeting_id = dialled[0][0]["meeting_id"]
        ports.live.count_calls(meeting_id, made=len(dialled) - len(failed))
    retry = ports.clock().timestamp() + ports.retry_s
    for n, (call, _) in enumerate(dialled):
        if n in failed:
            later[call["_id"]] = retry
        else:
            made.append(call["_id"])
    if failed:
        log.warning("calls not written; dialled again", fields={"calls": len(failed)})


def _dial(call: dict, invitee: dict, bridge_id: str, ports: LivePorts) -> Dialled | float | str:
    """The call made (what to write); when to try it again (paced); AWAY or REFUSED."""
    for _ in range(PACED_TRIES):
        ports.sleep(ports.pacing.wait(time.monotonic()))
        try:
            call_id = ports.provider.dial_out(
                bridge_id,
                call_ref=call_ref(call["meeting_id"], invitee["participant_id"], call["attempt"]),
                to=invitee["phone"],
                participant_ref=invitee["_id"],
                muted=invitee.get("part") not in HOSTS,
                ring_timeout_s=ports.ring_timeout_s,
                caller_id=ports.caller_id,
            )
        except ProviderPaced as paced:  # wait as asked, then try again (a few times)
            ports.pacing.refused_for(paced.retry_after_s, time.monotonic())
            retry_at = ports.clock().timestamp() + paced.retry_after_s
            continue
        except ProviderUnavailable:
            return AWAY
        except ProviderRefused as refused:  # the bridge is full or gone: no call can be made
            log.warning(
                "call refused", fields={"meeting_id": call["meeting_id"], "kind": refused.kind}
            )
            return REFUSED
        caller = ports.caller_hash(invitee["phone"])
        return Dialled(
            invitee["_id"],
            caller,
            call["bridge"],
            call_id,
            call["attempt"],
            invitee["booth_id"],
            embedded_attendance(invitee),
        )
    return retry_at


# --- the provider's webhooks --------------------------------------------------------------------


def provider_event(
    meeting_id: str, event: ProviderEvent, ports: LivePorts, unsent: dict | None = None
) -> list[Fact]:
    """One webhook's event folded into its participant's attendance; the facts it newly told.
    `unsent`: their events are added there, to be published by the caller, instead of now."""
    if not event.about_a_leg:
        return []
    kind = _kind_of(meeting_id, ports)
    if kind is None:
        return []
    invitee = _invitee_of(meeting_id, event, ports)
    if invitee is None:
        return []  # a caller who is not an invitee, or another meeting's leg
    via = _via(kind, event)
    facts = _change(
        invitee["_id"], lambda state: fold(state, event, via), ports, read=invitee, unsent=unsent
    )
    for fact in facts:
        if isinstance(fact, Attempted):
            _maybe_redial(meeting_id, invitee, fact, event.bridge_id, ports)
    return facts


def _bridges_of(meeting_id: str, live: dict, ports: LivePorts) -> dict[str, dict]:
    """The meeting's bridges by number: read while it starts, kept once it has started (every
    bridge is made by then and none changes), so a batch of calls or a redial reads the meeting's
    small state only."""
    kept = ports.bridges.get(meeting_id)
    if kept is not None:
        return kept
    bridges = ports.live.bridges(meeting_id)
    if live.get("state") in ("started", "ending", "ended") and bridges:
        _keep(ports.bridges, meeting_id, bridges)
    return bridges


def _keep(kept: dict, meeting_id: str, value):
    """Remember what never changes for a meeting; a pod's live meetings are a handful, so the
    bound (MEETINGS_KEPT, then all are forgotten) is a bound, not a cache policy."""
    if len(kept) >= MEETINGS_KEPT:
        kept.clear()
    kept[meeting_id] = value
    return value


def _kind_of(meeting_id: str, ports: LivePorts) -> str | None:
    kind = ports.kinds.get(meeting_id)
    if kind is None:
        meeting = ports.meetings.get(meeting_id)
        if meeting is None:
            return None
        kind = _keep(ports.kinds, meeting_id, meeting.kind)
    return kind


def _invitee_of(meeting_id: str, event: ProviderEvent, ports: LivePorts) -> dict | None:
    ref = event.participant_ref
    if ref:
        return ports.live.invitee(ref) if ref.startswith(f"{meeting_id}/") else None
    if event.from_hash:
        return ports.live.by_caller(meeting_id, event.from_hash)
    return None


def _via(kind: str, event: ProviderEvent) -> str:
    if kind == VIDEO:
        return "link"
    return "dial_in" if event.participant_ref is None else "dial_out"


def _maybe_redial(
    meeting_id: str, invitee: dict, fact: Attempted, bridge_id: str, ports: LivePorts
) -> None:
    wait = ports.redial.after(fact.outcome, fact.attempt)
    if wait is None:
        return
    live = ports.live.live(meeting_id)
    if live.get("state") not in ("starting", "started"):
        return
    # The same bridge as the call that failed: the webhook names it (the invitee's note of it
    # may not be written yet when a call fails fast).
    numbers = {b.get("bridge_id"): n for n, b in _bridges_of(meeting_id, live, ports).items()}
    bridge = int(numbers.get(bridge_id, invitee.get("dial_bridge", 1)))
    due = ports.clock().timestamp() + wait
    ports.live.queue_calls([_call(meeting_id, invitee["_id"], fact.attempt + 1, bridge, due)])


def check_in(meeting_id: str, participant_id: str, ports: LivePorts) -> str | None:
    """A join link opened: confirmed via link; the room to send them to (None: not started)."""
    key = f"{meeting_id}/{participant_id}"
    if ports.live.invitee(key) is None:
        return None
    live = ports.live.live(meeting_id)
    if live.get("state") not in ("starting", "started"):
        return None
    room = (_bridges_of(meeting_id, live, ports).get("0") or {}).get("room_url")
    if room is None:
        return None
    at = ports.clock()
    _change(key, lambda state: confirm(state, "link", at), ports)
    return room


# --- attendance: one participant at a time ------------------------------------------------------


def _change(
    key: str, change, ports: LivePorts, read: dict | None = None, unsent: dict | None = None
) -> list[Fact]:
    """Apply `change` (Attendance -> (Attendance, facts)) with a compare-and-set; publish the new
    facts' events, and any left from a failed publish before (or add them to `unsent`, for the
    caller to publish). `read`: the participant as the caller just read it (its attendance
    document, adapters/live.py), tried first (a lost compare-and-set reads it again)."""
    for _ in range(CAS_TRIES):
        doc, read = read or ports.live.invitee(key), None
        if doc is None:
            return []
        state, version = attendance_of(doc.get("att")), doc.get("att_v") or 0
        new, facts = change(state)
        if _unchanged(state, new) and not facts:
            _publish(key, _told(doc, doc.get("att_pending") or {}), ports, unsent)
            return []
        events = {_fact_event_id(doc, f): _fact_event(f) for f in facts}
        if ports.live.save_attendance(key, version, new, events, doc):
            ports.live.count(doc["meeting_id"], doc["booth_id"], counts_change(state, new))
            settled = sum(isinstance(fact, Attempted) for fact in facts)
            if settled:
                ports.live.count_calls(doc["meeting_id"], settled=settled)
            _publish(key, _told(doc, {**(doc.get("att_pending") or {}), **events}), ports, unsent)
            return facts
    raise BusyParticipant(key)


def _unchanged(before: Attendance, after: Attendance) -> bool:
    """Nothing but the event's id remembered: not worth a write. Every fact is told once by the
    attendance's own marks (an attempt's outcome, a leg's joined_told and left_told, the
    confirmation), not by `seen`, which only spares folding a repeat again; so an event that
    changed nothing else (a second ringing, a repeat under another id, a reconciled record the
    webhooks told already; a time told again, to the microsecond the store does not keep) folds
    to nothing again when it comes back."""
    return as_stored(replace(after, seen=before.seen)) == as_stored(before)


def _publish(key: str, pending: dict[str, dict], ports: LivePorts, unsent=None) -> None:
    if unsent is not None:
        unsent.setdefault(key, {}).update(pending)
        return
    if not pending:
        return
    if ports.publishing is not None:
        ports.publishing.submit(pending)  # raises unless Kafka took them: the webhook answers 503
    else:
        _raise_first(publish_together([pending], ports.events))
    ports.live.published(key, list(pending))


def publish_together(batch: list[dict[str, dict]], events) -> list[Exception | None]:
    """Several webhooks' pending events, emitted and confirmed with one flush; per webhook, None
    once Kafka took all of its events, else the error for its own (the webhook answers 503 and
    its events, still pending in its participant's document, go again under the same ids). The
    publisher is the group commit's alone, so a batch's flush waits for its own events only."""
    outcomes: list[Exception | None] = [None] * len(batch)
    for n, pending in enumerate(batch):
        try:
            for event_id, event in pending.items():
                events.emit(event["type"], event["data"], event_id=event_id)
        except Exception as refused:  # this webhook's own (an invalid event, a full queue)
            outcomes[n] = refused
    try:
        events.flush(PUBLISH_TIMEOUT_S)
    except DeliveryError as lost:
        for n, pending in enumerate(batch):
            own = {e: why for e, why in lost.failed.items() if e in pending}
            if own and outcomes[n] is None:
                outcomes[n] = DeliveryError(own)
    return outcomes


def _raise_first(outcomes: list[Exception | None]) -> None:
    for outcome in outcomes:
        if outcome is not None:
            raise outcome


def _fact_event_id(doc: dict, fact: Fact) -> str:
    subject = {
        Attempted: lambda f: f"attempted:{f.call_id}",
        Joined: lambda f: f"joined:{f.leg_id}",
        Left: lambda f: f"left:{f.leg_id}",
        Confirmed: lambda f: "confirmed",
    }[type(fact)](fact)
    return _event_id(doc["meeting_id"], f"{doc['participant_id']}:{subject}")


def _told(doc: dict, pending: dict[str, dict]) -> dict[str, dict]:
    """Pending events as they go out: each with what every event of the participant carries
    (its meeting, booth, booth path and id), which the stored event leaves out (it is the
    participant's own; a few hundred bytes less for FerretDB to rewrite per webhook). An event
    stored whole (by the code before) goes out as it was."""
    base = {
        "meeting_id": doc["meeting_id"],
        "booth_id": doc["booth_id"],
        "booth_path": doc["booth_path"],
        "participant_id": doc["participant_id"],
    }
    return {
        event_id: {"type": event["type"], "data": {**base, **event["data"]}}
        for event_id, event in pending.items()
    }


def _fact_event(fact: Fact) -> dict:
    """A fact's event as stored with the change that made it (`_told` completes it)."""
    if isinstance(fact, Attempted):
        kind, data = (
            types.CALL_ATTEMPTED,
            {
                "attempt": min(fact.attempt, 10),
                "outcome": fact.outcome,
                "occurred_at": fact.at.isoformat(),
            },
        )
    elif isinstance(fact, Joined):
        kind, data = (
            types.PARTICIPANT_JOINED,
            {"leg_id": fact.leg_id, "via": fact.via, "joined_at": fact.at.isoformat()},
        )
    elif isinstance(fact, Left):
        kind, data = (
            types.PARTICIPANT_LEFT,
            {"leg_id": fact.leg_id, "seconds": fact.seconds, "left_at": fact.at.isoformat()},
        )
    else:
        kind, data = (
            types.PARTICIPANT_CONFIRMED,
            {"via": fact.via, "confirmed_at": fact.at.isoformat()},
        )
    return {"type": kind, "data": data}


def _event_id(meeting_id: str, subject: str) -> str:
    return str(uuid.uuid5(uuid.UUID(meeting_id), subject))


# --- moderating and ending ----------------------------------------------------------------------


def moderate(meeting_id: str, action: str, ports: LivePorts, recording_url: str | None = None):
    """mute | unmute every listener (on every bridge), play a recording, or end. A recording is
    played into the speaker bridge only: the cascade carries it to every relay and listener bridge,
    so a listener played it on their own bridge too would hear it twice."""
    live = ports.live.live(meeting_id)
    if live.get("state") not in ("starting", "started"):
        return False
    if action == "end":
        return ports.live.request_end(meeting_id)
    for bridge in _bridges_of(meeting_id, live, ports).values():
        if action in ("mute", "unmute"):
            ports.provider.mute(bridge["bridge_id"], action == "mute")
        elif action == "play" and bridge["role"] == SPEAKERS:
            ports.provider.play(bridge["bridge_id"], recording_url)
    return True


def end_due(ports: LivePorts) -> bool:
    """End one meeting that is past its end or was ended by a moderator; True if one was found."""
    return _claimed(ports.live.claim_end, end_meeting, "end", ports)


def end_meeting(meeting_id: str, ports: LivePorts) -> None:
    meeting = ports.meetings.get(meeting_id)
    live = ports.live.live(meeting_id)
    ports.live.drop_calls(meeting_id)
    bridges = [b["bridge_id"] for _, b in sorted(_bridges_of(meeting_id, live, ports).items())]
    for bridge_id in bridges:
        if meeting.room == "standing":  # a unit's standing room outlives each of its meetings
            _show_out(meeting_id, bridge_id, ports)
        else:
            ports.provider.end(bridge_id)
    with ThreadPoolExecutor(ports.reconcile_threads, thread_name_prefix="reconcile") as folding:
        for bridge_id in bridges:
            reconcile(meeting_id, meeting.kind, bridge_id, ports, folding)
    totals = recount(meeting_id, ports)
    now = ports.clock()
    ports.events.emit(
        types.MEETING_ENDED,
        {
            "meeting_id": meeting_id,
            "kind": meeting.kind,
            "organiser_unit": meeting.organiser_unit,
            **{k: totals[k] for k in ("invited", "joined", "confirmed", "attended_seconds")},
            "ended_at": now.isoformat(),
        },
        event_id=_event_id(meeting_id, "ended"),
    )
    ports.events.flush(10.0)
    ports.live.ended(meeting_id, now, totals)


def _show_out(meeting_id: str, bridge_id: str, ports: LivePorts) -> None:
    """This meeting's invitees still in a standing room leave it; others' meetings go on."""
    for record in ports.provider.participants(bridge_id):
        ours = (record.get("participant_ref") or "").startswith(f"{meeting_id}/")
        if ours and record.get("left_at") is None:
            ports.provider.kick(bridge_id, record["call_id"])


def reconcile(
    meeting_id: str, kind: str, bridge_id: str, ports: LivePorts, folding: Executor | None = None
) -> int:
    """Fold one bridge's end-of-call records: what a lost callback did not say is said now. With
    `folding`, records are folded concurrently, so their reads and compare-and-sets go to the
    store in the webhooks' batches (records come in any order, as webhooks do). The events are
    published together after the bridge's records are stored (one wait for Kafka, not one per
    participant); a failed publish leaves them pending for the end's retry."""
    unsent: dict[str, dict] = {}
    events = [
        event
        for record in ports.provider.participants(bridge_id)
        for event in records_as_events(bridge_id, record, datetime.fromisoformat)
    ]

    def fold_one(event: ProviderEvent) -> int:
        return len(provider_event(meeting_id, event, ports, unsent))

    told = sum(folding.map(fold_one, events) if folding else map(fold_one, events))
    pending = {key: events for key, events in unsent.items() if events}
    for events in pending.values():
        for event_id, event in events.items():
            ports.events.emit(event["type"], event["data"], event_id=event_id)
    if pending:
        ports.events.flush(10.0)  # raises unless Kafka took them: the end is tried again
    for key, events in pending.items():
        ports.live.published(key, list(events))
    return told


# --- what the API shows -------------------------------------------------------------------------

COUNTS = ("invited", "rang", "answered", "joined", "confirmed", "attended_seconds")


def count_invited(meeting_id: str, invitees: list[dict], ports: LivePorts) -> None:
    """Every unit's invited, set (not added: a retried start sets the same)."""
    per_booth: dict[str, dict[str, int]] = {}
    for invitee in invitees:
        booth = per_booth.setdefault(invitee["booth_id"], {"invited": 0})
        booth["invited"] += 1
    ports.live.set_counts(meeting_id, per_booth)


def write_counts(ports: LivePorts) -> bool:
    """Write this pod's tally of attendance counts, and remove the events it published from their
    participants' pending ones; False: the next write waits its interval."""
    try:
        ports.live.flush_counts()
    finally:
        ports.live.flush_published()
    return False


def recount(meeting_id: str, ports: LivePorts) -> dict:
    """Every counter set again from the invitees' attendance, once, at the end: what a pod that
    died between a participant's change and its counting left out is counted now."""
    per_booth: dict[str, dict[str, int]] = {}
    for booth_id, att in ports.live.attendances(meeting_id):
        counts = {"invited": 1, **counts_of(attendance_of(att))}
        booth = per_booth.setdefault(booth_id, dict.fromkeys(COUNTS, 0))
        for name, value in counts.items():
            booth[name] += value
    ports.live.set_counts(meeting_id, per_booth)
    totals = dict.fromkeys(COUNTS, 0)
    for booth in per_booth.values():
        for name, value in booth.items():
            totals[name] += value
    return totals


def attendance_report(meeting_id: str, unit: str | None, ports: LivePorts) -> dict:
    """Totals under `unit` (None: every invitee) and one row per unit one level below it: the
    unit's counter, whatever the number of invitees."""
    totals, rows = ports.live.counts(meeting_id, unit or ROOT)
    units = [{"unit_id": u, **_all(c)} for u, c in sorted(rows.items())] if unit else []
    return {"meeting_id": meeting_id, "unit": unit, "totals": _all(totals), "units": units}


def _all(counts: dict) -> dict:
    return {name: int(counts.get(name) or 0) for name in COUNTS}
