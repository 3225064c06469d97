"""The simulated conference provider's rules, as plain objects with the clock passed in: bridges
under a per-bridge cap (a cascade of listen-only children under a speaker bridge), dial-out paced
by calls per second and idempotent on `call_ref`, each call's fate, the legs' stories, and the
webhooks they owe. No I/O: the handlers own one `Conferences`, the adapters post its webhooks.

A cascade leg is a participant on both of its ends, as at Twilio: a child bridge takes a seat of
its parent while both are live, and its own leg up takes one of its own seats. A child beyond its
parent's free seats is refused like a call beyond them (409 conference-full, Twilio's 16020).

Time moves only when `advance(now)` is called (the callback loop does, every tick): a call rings
for `ring_s`, then is answered or fails; an early leaver stays a while, the others until the
bridge ends. A call's fate hangs on its `call_ref` (a stable hash, like `domain._share`), so a test
knows in advance which calls fail, leave early or press 1; a retry with a new ref draws anew.

Webhooks are what a real provider sends: a share duplicated, a share of pairs out of order (a
`left` before its `joined`), a share lost (reconciliation from `participants` must fix those).
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from simulator.commands import CreateBridge, DialOut
from simulator.domain import TokenBucket, _share

_IDS = uuid.UUID("6f1c0d2e-63a1-4b8e-9a57-0c4d3b2a1f00")  # namespace of the simulator's stable ids
FAILURES = ("no_answer", "busy", "failed")


class ConferenceRefusal(Exception):
    """A request the provider refuses: problem `kind` with `status`, extensions, Retry-After."""

    def __init__(self, status: int, kind: str, title: str, retry_after_s: float = 0, **extra):
        super().__init__(title)
        self.status, self.kind, self.title = status, kind, title
        self.retry_after_s, self.extra = retry_after_s, extra


@dataclass(frozen=True)
class ConferenceRules:
    cap: int = 250
    calls_per_second: float = 50.0
    no_answer_share: float = 0.1
    busy_share: float = 0.05
    failed_share: float = 0.02
    leave_early_share: float = 0.1
    confirm_share: float = 0.8
    ring_s: float = 1.0
    early_stay_s: float = 5.0  # an early leaver stays between half this and this
    duplicate_share: float = 0.1
    out_of_order_share: float = 0.1
    lost_share: float = 0.0
    base_url: str = "http://127.0.0.1:8005"
    dial_in_number: str = "+911140000000"


@dataclass(frozen=True)
class CallFate:
    """What will happen to one dial-out, decided by its call_ref alone."""

    outcome: str  # answered | busy | no_answer | failed
    stay_s: float | None  # None: stays until the bridge ends
    confirms: bool  # presses 1
    out_of_order: bool  # one pair of its webhooks arrives swapped


def fate_of(call_ref: str, rules: ConferenceRules) -> CallFate:
    draw, bound = _share(f"{call_ref}:outcome"), 0.0
    outcome = "answered"
    shares = (rules.no_answer_share, rules.busy_share, rules.failed_share)
    for reason, share in zip(FAILURES, shares):
        bound += share
        if draw < bound:
            outcome = reason
            break
    early = _share(f"{call_ref}:early") < rules.leave_early_share
    stay = rules.early_stay_s * (0.5 + _share(f"{call_ref}:stay") / 2) if early else None
    return CallFate(
        outcome=outcome,
        stay_s=stay,
        confirms=_share(f"{call_ref}:confirm") < rules.confirm_share,
        out_of_order=_share(f"{call_ref}:order") < rules.out_of_order_share,
    )


def stable_id(text: str) -> str:
    return str(uuid.uuid5(_IDS, text))


@dataclass
class Leg:
    call_id: str
    bridge_id: str
    participant_ref: str | None
    via: str  # dial_out | dial_in | room
    listener: bool  # a listener is muted by "mute all"; a speaker keeps their state
    muted: bool
    fate: CallFate
    from_hash: str | None = None
    state: str = "ringing"  # ringing | joined | left | failed
    joined_at: float | None = None  # on the simulator's monotonic clock
    left_at: float | None = None

    @property
    def in_bridge(self) -> bool:
        return self.state in ("ringing", "joined")


@dataclass
class Bridge:
    bridge_id: str
    bridge_ref: str
    kind: str  # audio | video
    capacity: int
    listen_only: bool
    record: bool
    parent_bridge_id: str | None
    status_callback: str | None
    pin: str
    legs: dict[str, Leg] = field(default_factory=dict)
    plays: list[str] = field(default_factory=list)
    ended: bool = False
    children: list[str] = field(default_factory=list)  # bridges that hear this one


@dataclass(frozen=True)
class Webhook:
    url: str
    body: dict


class Conferences:
    """Every bridge, leg and owed webhook of the simulated provider."""

    def __init__(
        self, rules: ConferenceRules, caller_hash: Callable[[str], str], wall_offset: float
    ):
        self.rules, self.caller_hash, self.wall_offset = rules, caller_hash, wall_offset
        self.pacing = TokenBucket(rules.calls_per_second)
        self.bridges: dict[str, Bridge] = {}
        self.by_ref: dict[str, str] = {}  # bridge_ref -> bridge_id
        self.by_pin: dict[str, str] = {}
        self.calls: dict[str, tuple[str, str]] = {}  # call_ref -> (bridge_id, call_id)
        self._timeline: list[tuple[float, int, str, str, str]] = []  # due, seq, what, bridge, call
        self._owed: list[tuple[float, int, Webhook]] = []
        self._held: dict[str, Webhook] = {}  # a joined webhook held back until its leg's left
        self._seq = 0
        self.counts: dict[str, int] = {}

    # --- requests ------------------------------------------------------------------------------

    def create_bridge(self, request: CreateBridge, now: float) -> tuple[Bridge, bool]:
        """The bridge for `bridge_ref`, made now or before (then False)."""
        known = self.by_ref.get(request.bridge_ref)
        if known:
            return self.bridges[known], False
        if request.capacity > self.rules.cap:
            raise ConferenceRefusal(
                422, "capacity-above-cap", "capacity above the provider's cap", cap=self.rules.cap
            )
        parent = request.parent_bridge_id
        if parent and (parent not in self.bridges or self.bridges[parent].ended):
            raise ConferenceRefusal(422, "unknown-parent-bridge", "no live parent bridge")
        if parent:
            self._refuse_when_full(self.bridges[parent])  # the cascade leg is a seat up there
        if request.pin and request.pin in self.by_pin:
            raise ConferenceRefusal(409, "pin-taken", "another bridge has this PIN")
        bridge_id = stable_id(f"bridge:{request.bridge_ref}")
        bridge = Bridge(
            bridge_id=bridge_id,
            bridge_ref=request.bridge_ref,
            kind=request.kind,
            capacity=request.capacity,
            listen_only=request.listen_only,
            record=request.record,
            parent_bridge_id=parent,
            status_callback=request.status_callback,
            pin=request.pin or self._new_pin(bridge_id),
        )
        self.bridges[bridge_id], self.by_ref[bridge.bridge_ref] = bridge, bridge_id
        if parent:
            self.bridges[parent].children.append(bridge_id)
        self.by_pin[bridge.pin] = bridge_id
        self._count("bridges")
        self._emit(bridge, None, "bridge.started", now)
        return bridge, True

    def dial_out(self, request: DialOut, now: float) -> tuple[str, bool]:
        """The call_id for `call_ref` (False if it was dialled before): paced, under the cap."""
        known = self.calls.get(request.call_ref)
        if known:
            return known[1], False
        bridge = self.live_bridge(request.bridge_id)
        if bridge.kind != "audio":
            raise ConferenceRefusal(422, "not-an-audio-bridge", "only audio bridges dial out")
        wait = self.pacing.take("dial-out", now)
        if wait:
            self._count("paced")
            raise ConferenceRefusal(
                429, "calls-per-second", "over the calls-per-second limit", retry_after_s=wait
            )
        self._refuse_when_full(bridge)
        call_id = stable_id(f"call:{request.call_ref}")
        fate = fate_of(request.call_ref, self.rules)
        muted = request.muted or bridge.listen_only
        ref = request.participant_ref
        leg = Leg(call_id, bridge.bridge_id, ref, "dial_out", muted, muted, fate)
        bridge.legs[call_id] = leg
        self.calls[request.call_ref] = (bridge.bridge_id, call_id)
        self._count("calls")
        self._emit(bridge, leg, "call.ringing", now)
        ring = min(self.rules.ring_s, request.ring_timeout_s or self.rules.ring_s)
        what = "answer" if fate.outcome == "answered" else "fail"
        self._at(now + ring, what, bridge.bridge_id, call_id)
        return call_id, True

    def dial_in(self, pin: str, phone: str, now: float) -> Leg:
        """A late joiner keys the PIN: a leg that joins at once, known to us only by a hash."""
        bridge = self.live_bridge(self.by_pin.get(pin, ""))
        self._refuse_when_full(bridge)
        from_hash = self.caller_hash(phone)
        fate = fate_of(f"dial-in:{from_hash}:{bridge.bridge_id}", self.rules)
        leg = Leg(str(uuid.uuid4()), bridge.bridge_id, None, "dial_in", True, True, fate, from_hash)
        return self._join_now(bridge, leg, now)

    def join_room(self, bridge_id: str, participant_ref: str, now: float) -> Leg:
        """An invitee opens the room link; opening it again while in is the same leg."""
        bridge = self.live_bridge(bridge_id)
        for leg in bridge.legs.values():
            if leg.participant_ref == participant_ref and leg.state == "joined":
                return leg
        self._refuse_when_full(bridge)
        fate = fate_of(f"room:{bridge_id}:{participant_ref}", self.rules)
        leg = Leg(str(uuid.uuid4()), bridge_id, participant_ref, "room", True, True, fate)
        return self._join_now(bridge, leg, now)

    def mute(self, bridge_id: str, muted: bool, call_id: str | None) -> None:
        bridge = self.live_bridge(bridge_id)
        if call_id is not None:
            self._leg(bridge, call_id).muted = muted
            return
        for leg in bridge.legs.values():
            if leg.listener:
                leg.muted = muted

    def play(self, bridge_id: str, recording_url: str) -> None:
        self.live_bridge(bridge_id).plays.append(recording_url)

    def kick(self, bridge_id: str, call_id: str, now: float) -> None:
        bridge = self.live_bridge(bridge_id)
        self._hang_up(bridge, self._leg(bridge, call_id), now)

    def end(self, bridge_id: str, now: float) -> None:
        """Every leg leaves, then `bridge.ended`; a cascade's children end with their parent.
        Ending an ended bridge does nothing."""
        bridge = self.bridge(bridge_id)
        if bridge.ended:
            return
        for leg in bridge.legs.values():
            self._hang_up(bridge, leg, now)
        bridge.ended = True
        self._emit(bridge, None, "bridge.ended", now)
        if bridge.record:
            url = f"{self.rules.base_url}/conference/v1/recordings/{bridge_id}.mp3"
            self._emit(bridge, None, "recording.ready", now, recording_url=url)
        for child in bridge.children:
            self.end(child, now)

    def participants(self, bridge_id: str, now: float) -> list[dict]:
        """Every leg that joined, with those that left (the end-of-call records)."""
        return [
            {
                "call_id": leg.call_id,
                "participant_ref": leg.participant_ref,
                "joined_at": self.wall(leg.joined_at),
                "left_at": self.wall(leg.left_at) if leg.left_at is not None else None,
                "seconds": _seconds(leg, now),
                "muted": leg.muted,
                "from_hash": leg.from_hash,
            }
            for leg in self.bridge(bridge_id).legs.values()
            if leg.joined_at is not None
        ]

    # --- time ----------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Everything due by `now` happens, in order."""
        while self._timeline and self._timeline[0][0] <= now:
            due, _, what, bridge_id, call_id = heapq.heappop(self._timeline)
            bridge = self.bridges[bridge_id]
            leg = bridge.legs[call_id]
            getattr(self, f"_on_{what}")(bridge, leg, due)

    def take_owed(self, now: float, limit: int) -> list[Webhook]:
        owed = []
        while self._owed and self._owed[0][0] <= now and len(owed) < limit:
            owed.append(heapq.heappop(self._owed)[2])
        return owed

    def owe_again(self, webhook: Webhook, at: float) -> None:
        self._owe(at, webhook)

    @property
    def pending(self) -> int:
        return len(self._owed) + len(self._held)

    def wall(self, moment: float) -> str:
        return datetime.fromtimestamp(moment + self.wall_offset, timezone.utc).isoformat()

    # --- lookups -------------------------------------------------------------------------------

    def bridge(self, bridge_id: str) -> Bridge:
        if bridge_id not in self.bridges:
            raise ConferenceRefusal(404, "unknown-bridge", "no such bridge")
        return self.bridges[bridge_id]

    def live_bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridge(bridge_id)
        if bridge.ended:
            raise ConferenceRefusal(409, "bridge-ended", "the bridge has ended")
        return bridge

    # --- the legs' stories ---------------------------------------------------------------------

    def _on_answer(self, bridge: Bridge, leg: Leg, now: float) -> None:
        if leg.state != "ringing":
            return
        self._emit(bridge, leg, "call.answered", now)
        self._joined(bridge, leg, now)

    def _on_fail(self, bridge: Bridge, leg: Leg, now: float) -> None:
        if leg.state == "ringing":
            leg.state = "failed"
            self._emit(bridge, leg, "call.failed", now, reason=leg.fate.outcome)

    def _on_dtmf(self, bridge: Bridge, leg: Leg, now: float) -> None:
        if leg.state == "joined":
            self._emit(bridge, leg, "dtmf", now, digits="1")

    def _on_leave(self, bridge: Bridge, leg: Leg, now: float) -> None:
        self._hang_up(bridge, leg, now)

    def _join_now(self, bridge: Bridge, leg: Leg, now: float) -> Leg:
        bridge.legs[leg.call_id] = leg
        self._count(leg.via)
        self._joined(bridge, leg, now)
        return leg

    def _joined(self, bridge: Bridge, leg: Leg, now: float) -> None:
        leg.state, leg.joined_at = "joined", now
        self._emit(bridge, leg, "participant.joined", now, from_hash=leg.from_hash)
        stay = leg.fate.stay_s
        if leg.fate.confirms and leg.via != "room":
            self._at(
                now + min(self.rules.ring_s, stay / 2 if stay else self.rules.ring_s),
                "dtmf",
                bridge.bridge_id,
                leg.call_id,
            )
        if stay is not None:
            self._at(now + stay, "leave", bridge.bridge_id, leg.call_id)

    def _hang_up(self, bridge: Bridge, leg: Leg, now: float) -> None:
        if leg.state == "ringing":
            leg.state = "failed"
            self._emit(bridge, leg, "call.failed", now, reason="failed")
        elif leg.state == "joined":
            leg.state, leg.left_at = "left", now
            self._emit(bridge, leg, "participant.left", now, seconds=_seconds(leg, now))

    def occupied(self, bridge: Bridge) -> int:
        """Seats taken: legs ringing or in, live children's cascade legs, the leg up if any."""
        legs = sum(1 for leg in bridge.legs.values() if leg.in_bridge)
        children = sum(1 for child in bridge.children if not self.bridges[child].ended)
        return legs + children + (1 if bridge.parent_bridge_id else 0)

    def _refuse_when_full(self, bridge: Bridge) -> None:
        if self.occupied(bridge) >= bridge.capacity:
            self._count("conference_full")
            raise ConferenceRefusal(409, "conference-full", "the conference is full", code=16020)

    def _leg(self, bridge: Bridge, call_id: str) -> Leg:
        if call_id not in bridge.legs:
            raise ConferenceRefusal(404, "unknown-call", "no such call on this bridge")
        return bridge.legs[call_id]

    # --- webhooks ------------------------------------------------------------------------------

    def _emit(self, bridge: Bridge, leg: Leg | None, kind: str, now: float, **fields) -> None:
        """The webhook for one thing that happened, owed with the provider's imperfections."""
        if not bridge.status_callback:
            return
        subject = leg.call_id if leg else bridge.bridge_id
        body = {
            "event_id": stable_id(f"{subject}:{kind}"),
            "type": kind,
            "bridge_id": bridge.bridge_id,
            "call_id": leg.call_id if leg else None,
            "participant_ref": leg.participant_ref if leg else None,
            "occurred_at": self.wall(now),
            "reason": None,
            "digits": None,
            "seconds": None,
            "recording_url": None,
            "from_hash": None,
            **fields,
        }
        webhook = Webhook(bridge.status_callback, body)
        if _share(f"lost:{body['event_id']}") < self.rules.lost_share:
            self._count("webhooks_lost")
            return
        swapped = leg is not None and leg.fate.out_of_order
        if swapped and kind == "participant.joined" and leg.fate.stay_s is not None:
            self._held[leg.call_id] = webhook  # arrives after its own `left`
            return
        self._owe(now + (0.2 if swapped and kind == "call.answered" else 0), webhook)
        if _share(f"twice:{body['event_id']}") < self.rules.duplicate_share:
            self._owe(now + 0.05 + _share(body["event_id"]) / 4, webhook)
        if kind == "participant.left" and leg.call_id in self._held:
            self._owe(now + 0.01, self._held.pop(leg.call_id))

    def _owe(self, at: float, webhook: Webhook) -> None:
        self._seq += 1
        heapq.heappush(self._owed, (at, self._seq, webhook))

    def _at(self, due: float, what: str, bridge_id: str, call_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._timeline, (due, self._seq, what, bridge_id, call_id))

    def _new_pin(self, bridge_id: str) -> str:
        salt = 0
        while (pin := f"{int(_share(f'{bridge_id}:{salt}') * 1e6):06d}") in self.by_pin:
            salt += 1
        return pin

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _seconds(leg: Leg, now: float) -> int:
    if leg.joined_at is None:
        return 0
    end = leg.left_at if leg.left_at is not None else now
    return int(end - leg.joined_at)
