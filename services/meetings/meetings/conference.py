"""A meeting live at the conference provider, in the domain's words and without I/O: which bridges
carry it, how fast and how often invitees are dialled, and what a leg's webhooks say about one
participant's attendance.

- **Bridges under the cap, as a tree.** Providers cap a conference (Twilio/Telnyx 250) and count
  each cascade leg as a seat on both of its ends. An audience is one speaker bridge feeding
  listen-only bridges: listener bridges of `cap - 1` listeners (their leg up takes a seat) and,
  when there are more of those than the speaker bridge may feed, listen-only relay bridges in
  between (no listeners; `cap - 1` bridges below each), as many relay levels as it takes.
  The speaker bridge keeps `speaker_seats` for the hosts and the late joiners (the meeting's PIN
  is its PIN, and a provider's PIN leads to one conference) and feeds `cap - speaker_seats`.
  Invitees are placed in booth order and bridges filled in that order, so a mandal's booths share
  listener bridges and neighbouring listener bridges share a relay. At cap 250 with 50 seats kept:
  65,015 booth presidents need 262 listener bridges under 2 relays (265 bridges); 7,000,000
  need 28,113 listener bridges under 113 relays (28,227), one relay level either way.
- **Pacing and retries.** Dial-out goes at the provider's calls per second (a 429's Retry-After
  wins); busy and no-answer are dialled again a bounded number of times, each wait longer.
- **Attendance by folding.** The provider sends an event twice and out of order. `fold` takes a
  participant's `Attendance` and one normalised event and returns the new attendance and the facts
  that are new (an attempt's outcome, a leg joined, a leg left, a confirmation), each exactly once
  whatever the order or the repeats: a `left` before its `joined` records the leg with both ends.
  Reconciliation folds the provider's end-of-call records the same way, so a lost callback is
  filled in and a received one counts once.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

SPEAKERS, RELAYS, LISTENERS = "speakers", "relays", "listeners"
RETRIED = ("busy", "no_answer")
OUTCOMES = ("answered", "busy", "no_answer", "failed")
SEEN_KEPT = 64  # event ids remembered per participant: a leg's story is a handful of events
_LEGS = uuid.UUID("0e7a3f52-9c1b-4d8e-a6f0-3b2c1d4e5f60")


# --- bridges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedBridge:
    ref: str  # the provider's idempotency key: a retried start makes the same bridge
    role: str  # speakers | relays | listeners
    number: int  # 0 the speakers; listener bridges 1 .. n; relays n + 1 .., top level first
    capacity: int
    listen_only: bool
    pin: str | None = None
    parent: str | None = None  # the ref of the bridge this one hears; None for the speakers
    level: int = 0  # hops below the speaker bridge


@dataclass(frozen=True)
class BridgePlan:
    speakers: PlannedBridge
    listeners: tuple[PlannedBridge, ...]
    relays: tuple[PlannedBridge, ...] = ()  # top level first
    seats: int = 1  # listeners per listener bridge

    @property
    def count(self) -> int:
        return 1 + len(self.relays) + len(self.listeners)

    @property
    def relay_levels(self) -> int:
        return max((r.level for r in self.relays), default=0)

    @property
    def in_order(self) -> tuple[PlannedBridge, ...]:
        """Every bridge, each after the bridge it hears: the order to create them in."""
        return (self.speakers, *self.relays, *self.listeners)

    def bridge_of(self, position: int) -> PlannedBridge:
        """The listener bridge of the invitee at `position` in booth order."""
        return self.listeners[position // self.seats]


def plan_bridges(
    meeting_id: str, invitees: int, cap: int, pin: str | None, speaker_seats: int = 0
) -> BridgePlan:
    """The cascade for `invitees` listeners: the speaker bridge keeps `speaker_seats` (hosts and
    late joiners) and feeds the rest of its seats; a relay or listener bridge gives one seat to
    its leg up. Fewest bridges: listener bridges full but the last, relays likewise. The same
    arguments give the same refs, parents and numbers (a retried start)."""
    if cap < 3:
        raise ValueError("a cascade needs a cap of 3: a relay must feed two bridges")
    seats = fanout = cap - 1
    top_fanout = max(1, cap - speaker_seats)
    count = max(1, math.ceil(invitees / seats))
    sizes = []  # relays per level, the lowest first
    while (sizes[-1] if sizes else count) > top_fanout:
        sizes.append(math.ceil((sizes[-1] if sizes else count) / fanout))
    sizes.reverse()
    speakers = PlannedBridge(f"{meeting_id}:{SPEAKERS}", SPEAKERS, 0, cap, False, pin)
    relays: list[PlannedBridge] = []
    above = [speakers]
    for level, size in enumerate(sizes, start=1):
        row = [
            PlannedBridge(
                f"{meeting_id}:{RELAYS}:{level}:{k}",
                RELAYS,
                count + len(relays) + k,
                cap,
                True,
                parent=above[(k - 1) // fanout if level > 1 else 0].ref,
                level=level,
            )
            for k in range(1, size + 1)
        ]
        relays += row
        above = row
    listeners = tuple(
        PlannedBridge(
            f"{meeting_id}:{LISTENERS}:{n}",
            LISTENERS,
            n,
            cap,
            True,
            parent=above[(n - 1) // fanout if relays else 0].ref,
            level=len(sizes) + 1,
        )
        for n in range(1, count + 1)
    )
    return BridgePlan(speakers, listeners, tuple(relays), seats)


def booth_order(invitees: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(booth_id, participant_id) pairs in the order they fill bridges: a unit's booths together."""
    return sorted(invitees)


# --- dial-out -----------------------------------------------------------------------------------


class Pacing:
    """At most `calls_per_second` dial-outs a second, and none before a 429's Retry-After. A pod's
    diallers share one: each call takes the next slot under a lock, whichever dialler makes it."""

    def __init__(self, calls_per_second: float, now: float):
        self.interval = 1 / calls_per_second
        self.next_at = now
        self._slots = threading.Lock()

    def wait(self, now: float) -> float:
        """Seconds to wait before the next call; the call takes its slot."""
        with self._slots:
            at = max(now, self.next_at)
            self.next_at = at + self.interval
            return at - now

    def refused_for(self, retry_after_s: float, now: float) -> None:
        with self._slots:
            self.next_at = max(self.next_at, now + retry_after_s)


@dataclass(frozen=True)
class Redial:
    attempts: int  # calls per invitee at most, the first included
    backoff_s: float  # before the 2nd call; doubled each time

    def after(self, outcome: str, attempt: int) -> float | None:
        """Seconds until calling again after the `attempt`-th call ended so; None: no more."""
        if outcome not in RETRIED or attempt >= self.attempts:
            return None
        return self.backoff_s * 2 ** (attempt - 1)


def call_ref(meeting_id: str, participant_id: str, attempt: int) -> str:
    """The provider's idempotency key of one attempt: a retried request dials once."""
    return f"{meeting_id}:{participant_id}:{attempt}"


def leg_id(call_id: str) -> str:
    """Our id of a provider leg (events carry uuids, whatever the provider's ids look like)."""
    return str(uuid.uuid5(_LEGS, call_id))


# --- the provider's events, normalised ----------------------------------------------------------


@dataclass(frozen=True)
class ProviderEvent:
    event_id: str
    type: str  # bridge.started | ... | dtmf | recording.ready (docs/meetings.md)
    bridge_id: str
    occurred_at: datetime
    call_id: str | None = None
    participant_ref: str | None = None
    reason: str | None = None
    digits: str | None = None
    seconds: int | None = None
    from_hash: str | None = None

    @property
    def about_a_leg(self) -> bool:
        return self.call_id is not None and not self.type.startswith(("bridge.", "recording."))


# --- attendance ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    joined_at: datetime | None = None
    left_at: datetime | None = None
    seconds: int | None = None
    via: str = "dial_out"
    joined_told: bool = False  # participant-joined emitted
    left_told: bool = False


@dataclass(frozen=True)
class Attendance:
    """One participant of one meeting, as far as the provider has said."""

    calls: dict[str, int] = field(default_factory=dict)  # call_id -> attempt
    outcomes: dict[str, str] = field(default_factory=dict)  # call_id -> answered | busy | ...
    rang: bool = False
    legs: dict[str, Leg] = field(default_factory=dict)  # leg_id -> leg
    confirmed_at: datetime | None = None
    confirmed_via: str | None = None
    seen: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        return "answered" in self.outcomes.values() or any(
            leg.via == "dial_out" for leg in self.legs.values()
        )

    @property
    def joined(self) -> bool:
        return bool(self.legs)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def seconds(self) -> int:
        return sum(leg.seconds or 0 for leg in self.legs.values())


@dataclass(frozen=True)
class Attempted:
    call_id: str
    attempt: int
    outcome: str
    at: datetime


@dataclass(frozen=True)
class Joined:
    leg_id: str
    via: str  # dial_out | dial_in | link
    at: datetime


@dataclass(frozen=True)
class Left:
    leg_id: str
    seconds: int
    at: datetime


@dataclass(frozen=True)
class Confirmed:
    via: str  # dtmf | link
    at: datetime


Fact = Attempted | Joined | Left | Confirmed


def fold(state: Attendance, event: ProviderEvent, via: str) -> tuple[Attendance, list[Fact]]:
    """The attendance after `event` and what it newly tells; a repeat tells nothing. `via` is how
    this leg came (dial_out, dial_in or link): the caller knows it from the bridge and the call."""
    if event.event_id in state.seen or not event.about_a_leg:
        return state, []
    state = replace(state, seen=(state.seen + (event.event_id,))[-SEEN_KEPT:])
    apply = _APPLY.get(event.type)
    if apply is None:
        return state, []
    return apply(state, event, via)


def _ringing(state: Attendance, event: ProviderEvent, via: str):
    return replace(state, rang=True), []


def _answered(state: Attendance, event: ProviderEvent, via: str):
    return _outcome(replace(state, rang=True), event.call_id, "answered", event.occurred_at)


def _failed(state: Attendance, event: ProviderEvent, via: str):
    reason = event.reason if event.reason in OUTCOMES else "failed"
    rang = state.rang or reason != "failed"
    return _outcome(replace(state, rang=rang), event.call_id, reason, event.occurred_at)


def _joined(state: Attendance, event: ProviderEvent, via: str):
    state, facts = _picked_up(state, event, via)  # even if call.answered is late or lost
    key = leg_id(event.call_id)
    leg = state.legs.get(key, Leg(via=via))
    leg = replace(leg, joined_at=event.occurred_at)
    if not leg.joined_told:
        facts.append(Joined(key, via, event.occurred_at))
        leg = replace(leg, joined_told=True)
    return replace(state, legs={**state.legs, key: leg}), facts


def _left(state: Attendance, event: ProviderEvent, via: str):
    key, seconds = leg_id(event.call_id), max(0, event.seconds or 0)
    state, facts = _picked_up(state, event, via)
    leg = state.legs.get(key, Leg(via=via))
    if not leg.joined_told:  # the `left` overtook its `joined`: a left leg had joined
        joined_at = event.occurred_at - timedelta(seconds=seconds)
        facts.append(Joined(key, via, joined_at))
        leg = replace(leg, joined_at=leg.joined_at or joined_at, joined_told=True)
    leg = replace(leg, left_at=event.occurred_at, seconds=seconds)
    if not leg.left_told:
        facts.append(Left(key, seconds, event.occurred_at))
        leg = replace(leg, left_told=True)
    return replace(state, legs={**state.legs, key: leg}), facts


def _picked_up(state: Attendance, event: ProviderEvent, via: str):
    if via != "dial_out":
        return state, []
    return _outcome(replace(state, rang=True), event.call_id, "answered", event.occurred_at)


def _dtmf(state: Attendance, event: ProviderEvent, via: str):
    if (event.digits or "").strip() != "1":
        return state, []
    return confirm(state, "dtmf", event.occurred_at)


def confirm(state: Attendance, via: str, at: datetime) -> tuple[Attendance, list[Fact]]:
    """Pressed 1 or checked in with the link: counted once per participant."""
    if state.confirmed:
        return state, []
    return replace(state, confirmed_at=at, confirmed_via=via), [Confirmed(via, at)]


def _outcome(state: Attendance, call_id: str, outcome: str, at: datetime):
    """An attempt ends once: the first outcome the provider reports for the call stands, except
    that an answer beats a failure reported out of order."""
    known = state.outcomes.get(call_id)
    if known == outcome or known == "answered":
        return state, []
    attempt = state.calls.get(call_id, len(state.calls) + 1)
    state = replace(state, outcomes={**state.outcomes, call_id: outcome})
    if known is not None:  # a failure was told first; an answer after it is not a new attempt
        return state, []
    return state, [Attempted(call_id, attempt, outcome, at)]


_APPLY = {
    "call.ringing": _ringing,
    "call.answered": _answered,
    "call.failed": _failed,
    "participant.joined": _joined,
    "participant.left": _left,
    "dtmf": _dtmf,
}


def records_as_events(bridge_id: str, record: dict, parse) -> list[ProviderEvent]:
    """A provider's end-of-call record as the joined and left events it implies (ids derived from
    the call, so reconciling twice is a repeat)."""
    call_id = record["call_id"]
    joined_at = parse(record["joined_at"])
    events = [
        ProviderEvent(
            event_id=f"record:{call_id}:joined",
            type="participant.joined",
            bridge_id=bridge_id,
            occurred_at=joined_at,
            call_id=call_id,
            participant_ref=record.get("participant_ref"),
            from_hash=record.get("from_hash"),
        )
    ]
    if record.get("left_at"):
        events.append(
            ProviderEvent(
                event_id=f"record:{call_id}:left",
                type="participant.left",
                bridge_id=bridge_id,
                occurred_at=parse(record["left_at"]),
                call_id=call_id,
                participant_ref=record.get("participant_ref"),
                seconds=int(record.get("seconds") or 0),
            )
        )
    return events


# --- attendance counters ------------------------------------------------------------------------

ROOT = "*"  # the counter above every unit: a meeting's whole audience


def counted_levels(booth_id: str) -> list[tuple[str, str]]:
    """(unit, its child on the booth's path) for every unit above the booth, the root first: the
    counters a participant's change of counts adds to. A booth's own counts are its row in its
    sector's counter."""
    parts = booth_id.split("-")
    path = ["-".join(parts[:n]) for n in range(1, len(parts) + 1)]
    return list(zip([ROOT, *path[:-1]], path))


def counts_of(state: Attendance) -> dict[str, int]:
    """What one participant adds to each count (invited is counted apart, once, at the start)."""
    return {
        "rang": int(state.rang),
        "answered": int(state.answered),
        "joined": int(state.joined),
        "confirmed": int(state.confirmed),
        "attended_seconds": state.seconds,
    }


def counts_change(before: Attendance, after: Attendance) -> dict[str, int]:
    old, new = counts_of(before), counts_of(after)
    return {k: new[k] - old[k] for k in new if new[k] != old[k]}
