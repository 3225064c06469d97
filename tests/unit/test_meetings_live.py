"""The live half's handlers (meetings.live) on in-memory stand-ins for the live store, the meeting
store and the event publisher: a webhook becomes attendance events once, a failed publish is sent
again by the next webhook, and the report counts per unit one level below the one asked for."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from meetings.adapters.live import attendance_document
from meetings.conference import ProviderEvent, counted_levels
from meetings.live import (
    LivePorts,
    _claimed,
    _open_bridges,
    attendance_report,
    count_invited,
    provider_event,
    publish_together,
    reconcile,
    start_meeting,
)
from meetings.ports import ProviderUnavailable
from shared.batching import Batcher
from shared.events import types
from shared.kafka.producer import DeliveryError
from shared.orgtree.levels import booth_path
from shared.sending.policy import SendingPolicy

MEETING = str(uuid.uuid4())
AT = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
BOOTHS = ["IN-MP-D07-A01-M01-S01-B001", "IN-MP-D07-A01-M02-S01-B001", "IN-MP-D07-A02-M01-S01-B001"]


@dataclass
class Meeting:
    meeting_id: str = MEETING
    kind: str = "audio_bridge"
    room: str | None = None
    organiser_unit: str = "IN-MP-D07"
    scope: tuple[str, ...] = ("IN-MP-D07",)
    starts_at: datetime = datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc)  # 21:30 IST
    pin: str | None = None


class Live:
    """The live store's invitee half, as adapters/live.py keeps it, in a dict."""

    def __init__(self, participants: list[str]):
        self.docs = {
            f"{MEETING}/{p}": {
                "_id": f"{MEETING}/{p}",
                "meeting_id": MEETING,
                "participant_id": p,
                "booth_id": booth,
                "booth_path": booth_path(booth),
            }
            for p, booth in zip(participants, BOOTHS)
        }
        self.counters = {}
        self.writes = 0
        self.calls = {"made": 0, "settled": 0}

    def invitee(self, key, with_phone=False):
        doc = self.docs.get(key)
        return dict(doc) if doc else None

    def invitees(self, meeting_id, with_phones=False):
        return [dict(d) for d in self.docs.values() if d["meeting_id"] == meeting_id]

    def attendances(self, meeting_id):
        return [(d["booth_id"], d.get("att")) for d in self.invitees(meeting_id)]

    def save_attendance(self, key, version, state, pending, read=None):
        self.writes += 1
        doc = self.docs[key]
        if (doc.get("att_v") or 0) != version:
            return False
        doc.update(att=attendance_document(state), att_v=version + 1)
        doc["att_pending"] = {**doc.get("att_pending", {}), **pending}
        return True

    def count_calls(self, meeting_id, made=0, settled=0):
        self.calls["made"] += made
        self.calls["settled"] += settled

    def published(self, key, event_ids):
        for event_id in event_ids:
            self.docs[key].get("att_pending", {}).pop(event_id, None)

    def live(self, meeting_id):
        return {"state": "started", "bridges": {}}

    def bridges(self, meeting_id):  # kept beside the meeting's state here, as the code before did
        return self.live(meeting_id).get("bridges") or {}

    def count(self, meeting_id, booth_id, change):
        self._add(booth_id, change)

    def set_counts(self, meeting_id, per_booth):
        self.counters = {}
        for booth_id, counts in per_booth.items():
            self._add(booth_id, counts)

    def counts(self, meeting_id, unit):
        if unit in self.counters:
            return self.counters[unit]["totals"], self.counters[unit]["units"]
        above = unit.rsplit("-", 1)[0]
        return self.counters.get(above, {"units": {}})["units"].get(unit, {}), {}

    def _add(self, booth_id, change):
        for unit, child in counted_levels(booth_id):
            counter = self.counters.setdefault(unit, {"totals": {}, "units": {}})
            for into in (counter["totals"], counter["units"].setdefault(child, {})):
                for name, value in change.items():
                    into[name] = into.get(name, 0) + value


class Events:
    def __init__(self):
        self.sent, self.down = [], False

    def emit(self, event_type, data, event_id=None):
        self.sent.append((event_type, data, event_id))

    def flush(self, timeout=10.0):
        if self.down:
            self.sent.clear()
            raise ConnectionError("kafka away")


class Meetings:
    def get(self, meeting_id):
        return Meeting() if meeting_id == MEETING else None


@pytest.fixture
def people():
    return [str(uuid.uuid4()) for _ in BOOTHS]


@pytest.fixture
def ports(people):
    return LivePorts(
        provider=None,
        live=Live(people),
        meetings=Meetings(),
        events=Events(),
        caller_hash=str,
        callback_url="http://meetings.test/hook",
    )


def joined(participant: str, event_id: str = "e1", call: str = "c1") -> ProviderEvent:
    return ProviderEvent(
        event_id=event_id,
        type="participant.joined",
        bridge_id="b1",
        occurred_at=AT,
        call_id=call,
        participant_ref=f"{MEETING}/{participant}",
    )


def test_a_join_is_told_once_however_often_the_provider_repeats_it(ports, people):
    provider_event(MEETING, joined(people[0]), ports)
    provider_event(MEETING, joined(people[0]), ports)
    provider_event(MEETING, joined(people[0], event_id="e2"), ports)
    told = [t for t, _, _ in ports.events.sent]
    assert told == [types.CALL_ATTEMPTED, types.PARTICIPANT_JOINED]
    data = ports.events.sent[1][1]
    assert data["booth_id"] == BOOTHS[0] and data["via"] == "dial_out" and "phone" not in data
    assert data["booth_path"] == booth_path(BOOTHS[0]) and data["participant_id"] == people[0]
    assert ports.live.calls == {"made": 0, "settled": 1}, "the call's outcome, counted once"


def test_events_kafka_did_not_take_go_again_with_the_next_webhook_under_the_same_ids(ports, people):
    ports.events.down = True
    with pytest.raises(ConnectionError):
        provider_event(MEETING, joined(people[0]), ports)
    stored = ports.live.docs[f"{MEETING}/{people[0]}"]["att_pending"]
    assert len(stored) == 2 and all("booth_path" not in e["data"] for e in stored.values())
    ports.events.down = False
    provider_event(MEETING, joined(people[0]), ports)  # the provider's retry
    assert [t for t, _, _ in ports.events.sent] == [types.CALL_ATTEMPTED, types.PARTICIPANT_JOINED]
    assert ports.live.docs[f"{MEETING}/{people[0]}"]["att_pending"] == {}
    assert all(d["booth_path"] == booth_path(BOOTHS[0]) for _, d, _ in ports.events.sent)


def test_a_webhook_that_tells_nothing_new_under_a_new_id_writes_nothing(ports, people):
    """A second ringing (a redial's: the phone rang already), a joined again after the leg's
    story is told, its time to the microsecond the store does not keep: no write, no event."""
    key = f"{MEETING}/{people[0]}"

    def leg(event_id, kind, at=AT, seconds=None):
        return ProviderEvent(event_id, kind, "b1", at, "c1", participant_ref=key, seconds=seconds)

    provider_event(MEETING, leg("e1", "call.ringing"), ports)
    provider_event(MEETING, leg("e2", "participant.joined"), ports)
    provider_event(MEETING, leg("e3", "participant.left", seconds=30), ports)
    assert ports.live.writes == 3
    sent = list(ports.events.sent)
    assert provider_event(MEETING, leg("e4", "call.ringing"), ports) == []
    later = AT + timedelta(microseconds=400)  # the same millisecond
    assert provider_event(MEETING, leg("e5", "participant.joined", at=later), ports) == []
    assert ports.live.writes == 3 and ports.events.sent == sent
    moved = AT + timedelta(seconds=1)  # a real change of a time is written, though it tells nothing
    assert provider_event(MEETING, leg("e6", "participant.joined", at=moved), ports) == []
    assert ports.live.writes == 4 and ports.events.sent == sent


def test_webhooks_published_together_each_get_only_their_own_failure():
    class Flaky:
        def __init__(self):
            self.emitted = []

        def emit(self, event_type, data, event_id=None):
            if data.get("invalid"):
                raise ValueError("invalid event")
            self.emitted.append(event_id)

        def flush(self, timeout=10.0):
            raise DeliveryError({"b2": "broker away", "someone-elses": "broker away"})

    def pending(*ids, **data):
        return {i: {"type": types.PARTICIPANT_JOINED, "data": data} for i in ids}

    events = Flaky()
    outcomes = publish_together(
        [pending("a1"), pending("b1", "b2"), pending("c1", invalid=1)], events
    )
    assert events.emitted == ["a1", "b1", "b2"]  # one flush for all of them
    assert outcomes[0] is None
    assert isinstance(outcomes[1], DeliveryError) and outcomes[1].failed == {"b2": "broker away"}
    assert isinstance(outcomes[2], ValueError)


def test_concurrent_webhooks_through_the_group_commit_are_told_once_each(people):
    """The group commit in memory: a batch's events with one flush, a caller returning once its
    batch was flushed; a flush that fails answers each caller of the batch, and the retry sends
    the same events under the same ids."""
    events = Events()
    flushes = []
    real_flush = events.flush

    def flush(timeout=10.0):
        flushes.append(len(events.sent))
        real_flush(timeout)

    events.flush = flush
    ports = LivePorts(None, Live(people), Meetings(), events, str, "http://m.test/hook")
    ports.publishing = Batcher(
        "test", lambda batch: publish_together(batch, events), size=10, linger_s=0.2, wait_s=5
    )
    with ThreadPoolExecutor(3) as pool:
        told = list(pool.map(lambda p: provider_event(MEETING, joined(p), ports), people))
    assert [len(facts) for facts in told] == [2, 2, 2]  # attempt answered, joined
    assert len(events.sent) == 6 and len({e for _, _, e in events.sent}) == 6
    assert len(flushes) < 3
    events.down = True
    with pytest.raises(ConnectionError):
        provider_event(MEETING, joined(people[0], "e2", call="c2"), ports)
    events.down = False
    ids = set(ports.live.docs[f"{MEETING}/{people[0]}"]["att_pending"])
    provider_event(MEETING, joined(people[0], "e2", call="c2"), ports)  # the provider's retry
    assert {e for _, _, e in events.sent} == ids
    assert ports.live.docs[f"{MEETING}/{people[0]}"]["att_pending"] == {}


def test_another_meetings_leg_and_an_unknown_meeting_change_nothing(ports, people):
    other = ProviderEvent("e9", "participant.joined", "b1", AT, "c9", f"{uuid.uuid4()}/{people[0]}")
    assert provider_event(MEETING, other, ports) == []
    assert provider_event(str(uuid.uuid4()), joined(people[0]), ports) == []
    assert ports.events.sent == []


def test_the_report_counts_per_unit_one_level_below_the_one_asked_for(ports, people):
    count_invited(MEETING, ports.live.invitees(MEETING), ports)
    provider_event(MEETING, joined(people[0]), ports)
    provider_event(MEETING, joined(people[2], call="c2"), ports)
    district = attendance_report(MEETING, "IN-MP-D07", ports)
    assert district["totals"]["invited"] == 3 and district["totals"]["joined"] == 2
    assert [(u["unit_id"], u["invited"], u["joined"]) for u in district["units"]] == [
        ("IN-MP-D07-A01", 2, 1),
        ("IN-MP-D07-A02", 1, 1),
    ]
    assembly = attendance_report(MEETING, "IN-MP-D07-A01", ports)
    assert [(u["unit_id"], u["joined"]) for u in assembly["units"]] == [
        ("IN-MP-D07-A01-M01", 1),
        ("IN-MP-D07-A01-M02", 0),
    ]
    outside = attendance_report(MEETING, "IN-MP-D08", ports)
    assert outside["totals"]["invited"] == 0 and outside["units"] == []


# --- a start the sending policy forbids ---------------------------------------------------------


class Starting(Live):
    """The live store's meeting half, for a start: the recorded decision and the cancellation."""

    def __init__(self, participants):
        super().__init__(participants)
        self.doc = {"state": "starting", "claimed_by": "pod-1"}
        self.meeting_state = "scheduled"

    def live(self, meeting_id):
        return dict(self.doc)

    def refuse_start(self, meeting_id, pod, reason, at):
        if self.doc.get("claimed_by") == pod and self.doc.get("refused") is None:
            self.doc["refused"] = {"reason": reason, "at": at.replace(tzinfo=None)}  # as MongoDB
        return self.doc["refused"]

    def cancelled(self, meeting_id, reason, at):
        self.doc["state"], self.meeting_state = "cancelled", "cancelled"


def test_a_start_in_a_blackout_configured_after_scheduling_dials_nobody_and_is_announced(people):
    # provider=None: opening a bridge or dialling anyone would fail the test.
    in_blackout = SendingPolicy(quiet_start=None, polls={"IN-MP-D07-A01": AT + timedelta(hours=6)})
    live, events = Starting(people), Events()
    ports = LivePorts(None, live, Meetings(), events, str, "http://m.test/hook", pod="pod-1")
    ports.policy, ports.clock = in_blackout, lambda: AT
    start_meeting(MEETING, ports)
    assert live.meeting_state == "cancelled" and live.doc["state"] == "cancelled"
    [(kind, data, event_id)] = events.sent
    assert kind == types.MEETING_CANCELLED and data["reason"] == "blackout"
    assert data["cancelled_at"] == AT.isoformat() and data["meeting_id"] == MEETING


def test_a_start_counts_its_invited_before_it_queues_the_first_call(people):
    """A state's thousands of unit counters written while the first webhooks came in held their
    writes back by seconds: they are written before any call can be dialled."""
    steps = []

    class Recording(Starting):
        def set_counts(self, meeting_id, per_booth):
            steps.append("counted")
            super().set_counts(meeting_id, per_booth)

        def save_bridge(self, meeting_id, number, bridge):
            steps.append("bridge")

        def queue_calls(self, calls):
            steps.append("queued")

        def started(self, meeting_id, at, invited):
            steps.append("started")

    class Provider:
        def create_bridge(self, *, bridge_ref, **_):
            return {"bridge_id": bridge_ref}

    live = Recording(people)
    ports = LivePorts(Provider(), live, Meetings(), Events(), str, "http://m.test/hook")
    ports.policy, ports.clock = SendingPolicy(quiet_start=None), lambda: AT
    start_meeting(MEETING, ports)
    assert steps == ["counted", "bridge", "bridge", "queued", "started"]
    assert live.counters["IN-MP-D07"]["totals"]["invited"] == len(people)


def test_a_refused_start_whose_event_kafka_did_not_take_repeats_the_decision_after_the_window(
    people,
):
    live, events = Starting(people), Events()
    ports = LivePorts(None, live, Meetings(), events, str, "http://m.test/hook", pod="pod-1")
    ports.policy, ports.clock = (
        SendingPolicy(),
        lambda: datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc),
    )
    events.down = True  # 22:30 IST, an hour late: the quiet hours; Kafka away
    with pytest.raises(ConnectionError):
        start_meeting(MEETING, ports)
    assert live.meeting_state == "scheduled"
    events.down = False
    ports.clock = lambda: datetime(2026, 12, 4, 1, 0, tzinfo=timezone.utc)  # 06:30 IST: open
    start_meeting(MEETING, ports)  # the retry, after the claim lapsed: the same decision
    [(kind, data, _)] = events.sent
    assert kind == types.MEETING_CANCELLED and data["reason"] == "quiet_hours"
    assert data["cancelled_at"] == "2026-12-03T17:00:00+00:00"
    assert live.meeting_state == "cancelled"


class Provider:
    """Bridges made, in order, with the parent each was given."""

    def __init__(self):
        self.made = []

    def create_bridge(self, *, bridge_ref, parent_bridge_id=None, **kw):
        self.made.append((f"id:{bridge_ref}", parent_bridge_id, kw["capacity"]))
        return {"bridge_id": f"id:{bridge_ref}"}


def test_a_start_makes_each_bridge_after_its_parent_and_keeps_the_speakers_seats(ports):
    ports.cap, ports.late_joiner_seats, ports.provider = 3, 0, Provider()
    invitees = [
        {"_id": f"{MEETING}/p{n}", "booth_id": BOOTHS[n % 3], "part": part}
        for n, part in enumerate(["speaker"] + ["listener"] * 7)
    ]
    saved, queued = {}, []
    ports.live.save_bridge = lambda m, number, doc: saved.__setitem__(number, doc)
    ports.live.queue_calls = queued.extend
    assert _open_bridges(Meeting(), invitees, ports) == 1 + 2 + 4
    made = ports.provider.made
    ids = [bridge_id for bridge_id, _, _ in made]
    assert made[0] == (f"id:{MEETING}:speakers", None, 3)
    assert all(ids.index(parent) < ids.index(b) for b, parent, _ in made if parent)
    below_speakers = [b for b, parent, _ in made if parent == ids[0]]
    assert len(below_speakers) == 3 - 1  # one seat kept for the speaker
    assert sorted(saved) == list(range(7)) and saved[5]["role"] == "relays"
    assert {c["bridge"] for c in queued} == {
        0,
        1,
        2,
        3,
        4,
    }  # the speaker on 0; listeners 2 a bridge


@pytest.mark.parametrize(
    "away", [ProviderUnavailable("provider down"), DeliveryError({"e1": "not acknowledged"})]
)
def test_a_step_the_provider_or_kafka_did_not_take_is_tried_again_after_retry_s(people, away):
    held = []

    class Holding(Live):
        def hold(self, meeting_id, pod, until):
            held.append((meeting_id, pod, until))

    ports = LivePorts(None, Holding(people), Meetings(), Events(), str, "http://m.test/hook")
    ports.pod, ports.clock, ports.retry_s, ports.lease_s = "pod-1", lambda: AT, 5, 60

    def step(meeting_id, ports):
        raise away

    assert _claimed(lambda *_: MEETING, step, "end", ports) is True
    assert held == [(MEETING, "pod-1", AT.timestamp() + 5)], "not the 60 s lease"


def test_a_busy_call_is_dialled_again_into_the_bridge_the_webhook_names(ports, people):
    """The failure can come before the dialler wrote which bridge it dialled (a batch's write):
    the redial goes where the webhook says the call was, not to the first listener bridge."""
    queued = []

    class Started(Live):
        def live(self, meeting_id):
            return {
                "state": "started",
                "bridges": {"1": {"bridge_id": "b1"}, "3": {"bridge_id": "b3"}},
            }

        def queue_calls(self, calls):
            queued.extend(calls)

    ports.live = Started(people)
    busy = ProviderEvent(
        "e1", "call.failed", "b3", AT, "c1", participant_ref=f"{MEETING}/{people[0]}", reason="busy"
    )
    provider_event(MEETING, busy, ports)
    assert [(c["invitee"], c["attempt"], c["bridge"]) for c in queued] == [
        (f"{MEETING}/{people[0]}", 2, 3)
    ]


@pytest.mark.parametrize("state, reads", [("started", 1), ("starting", 3)])
def test_a_started_meetings_bridges_are_read_once_by_a_pod_and_a_starting_ones_each_time(
    ports, people, state, reads
):
    """A state-wide meeting's bridges are ~42 KB: read for every redial and batch of calls, they
    cost the store more than the attendance. Once started, none is added or changed."""
    read = []

    class Counting(Live):
        def live(self, meeting_id):
            return {"state": state}

        def bridges(self, meeting_id):
            read.append(meeting_id)
            return {"1": {"bridge_id": "b1"}, "3": {"bridge_id": "b3"}}

        def queue_calls(self, calls):
            pass

    ports.live = Counting(people)
    for n, person in enumerate(people[:3]):
        busy = ProviderEvent(
            f"e{n}",
            "call.failed",
            "b3",
            AT,
            f"c{n}",
            participant_ref=f"{MEETING}/{person}",
            reason="busy",
        )
        provider_event(MEETING, busy, ports)
    assert len(read) == reads


class Records:
    """A bridge's end-of-call records: every invitee joined, one of them left."""

    def __init__(self, people):
        self.people = people

    def participants(self, bridge_id):
        at = AT.isoformat()
        return [
            {
                "call_id": f"c{n}",
                "participant_ref": f"{MEETING}/{p}",
                "joined_at": at,
                **(
                    {"left_at": (AT + timedelta(seconds=30)).isoformat(), "seconds": 30}
                    if n
                    else {}
                ),
            }
            for n, p in enumerate(self.people)
        ]


def test_the_ends_reconciliation_publishes_a_bridges_events_together_and_again_if_kafka_failed(
    ports, people
):
    flushes = []
    flush = ports.events.flush
    ports.events.flush = lambda timeout=10.0: flushes.append(len(ports.events.sent)) or flush()
    ports.provider = Records(people)
    ports.events.down = True
    with pytest.raises(ConnectionError):
        reconcile(MEETING, "audio_bridge", "b1", ports)  # stored, not published
    assert len(flushes) == 1, "one wait for Kafka for the whole bridge"
    assert all(doc["att_pending"] for doc in ports.live.docs.values())
    ports.events.down = False
    assert reconcile(MEETING, "audio_bridge", "b1", ports) == 0, "nothing new to tell"
    told = [t for t, _, _ in ports.events.sent]
    assert told.count(types.PARTICIPANT_JOINED) == 3 and told.count(types.PARTICIPANT_LEFT) == 2
    assert len(set(e for _, _, e in ports.events.sent)) == len(told), "each once"
    assert all(doc["att_pending"] == {} for doc in ports.live.docs.values())


def test_the_ends_reconciliation_folds_records_concurrently_to_what_one_at_a_time_tells(
    ports, people
):
    from concurrent.futures import ThreadPoolExecutor

    ports.provider = Records(people)
    with ThreadPoolExecutor(8) as folding:
        told = reconcile(MEETING, "audio_bridge", "b1", ports, folding)
        assert told == 8, "as one at a time: 3 answered and joined, 2 left"
        assert reconcile(MEETING, "audio_bridge", "b1", ports, folding) == 0, "nothing new"
    sent = [t for t, _, _ in ports.events.sent]
    assert sent.count(types.PARTICIPANT_JOINED) == 3 and sent.count(types.PARTICIPANT_LEFT) == 2
    assert all(doc["att_pending"] == {} for doc in ports.live.docs.values())
