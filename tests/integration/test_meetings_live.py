"""A meeting live at the conference provider: the meetings service and the provider simulator as
real processes on the real FerretDB and Kafka. The meeting is written straight into the store
(its invitations done), so the test starts at the start: bridges under the cap, dial-out paced by
the simulator's 429s, webhooks duplicated, swapped and lost, attendance per unit while it runs,
replays that change nothing, and the end's reconciliation filling in what was lost. The service
runs without quiet hours (the tests run at any hour) and with a close of poll in BLACKOUT_DISTRICT
that no meeting was scheduled against: a meeting there is held back at its start.

The simulator decides every call by its call_ref (simulator.conference.fate_of), so the test
knows who answers, who is busy, and which webhooks the simulator drops."""

import json
import math
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from confluent_kafka import KafkaException
from pymongo import MongoClient

from meetings.adapters.keys import link_key, phone_cipher
from meetings.adapters.store import MongoInvitees, MongoMeetings
from meetings.conference import booth_order, call_ref, plan_bridges
from meetings.domain import AUDIO, VIDEO, Invitee, Meeting
from meetings.links import JoinClaim, mint
from meetings.settings import MeetingsSettings
from shared import topics
from shared.auth.issuer import organiser_token
from shared.events import types
from shared.orgtree.levels import booth_path
from shared.sending.signatures import sign
from simulator.conference import ConferenceRules, _share, fate_of, stable_id
from testkit.processes import ROOT, Process, free_port, service_command, wait_until
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.integration

KEY = secrets.token_hex(32)
CAP, INVITEES, DISTRICT = 5, 12, "IN-MP-D07"
LATE_JOINER_SEATS = 1  # the speaker bridge feeds CAP - 1 bridges; a listener bridge holds CAP - 1
WIDE = 30  # 8 listener bridges: more than the speaker bridge may feed, so relays carry them
ASSEMBLY = f"{DISTRICT}-A01"
# Its first constituency polls tomorrow: the service starts in its 48-hour blackout.
BLACKOUT_DISTRICT = "IN-MP-D09"
CLOSE_OF_POLL = datetime.now(timezone.utc) + timedelta(hours=24)
SHARES = {
    "NO_ANSWER_SHARE": 0.2,
    "BUSY_SHARE": 0.1,
    "FAILED_SHARE": 0.0,
    "LEAVE_EARLY_SHARE": 0.3,
    "CONFIRM_SHARE": 0.7,
    "DUPLICATE_SHARE": 0.3,
    "OUT_OF_ORDER_SHARE": 0.3,
    "LOST_SHARE": 0.25,
}
RULES = ConferenceRules(**{k.lower(): v for k, v in SHARES.items()})
ATTEMPTS = 2


def booths(count: int = INVITEES, assembly: str = ASSEMBLY) -> list[str]:
    """Six booths in each mandal of one assembly (two mandals for the usual twelve)."""
    return [f"{assembly}-M0{1 + n // 6}-S01-B{n % 6 + 1:03d}" for n in range(count)]


def answered_on(meeting_id: str, participant: str) -> int | None:
    """The attempt on which the simulator answers this invitee (None: never, within ATTEMPTS; a
    busy or unanswered call is dialled again only if its failure reached us)."""
    for attempt in range(1, ATTEMPTS + 1):
        ref = call_ref(meeting_id, participant, attempt)
        outcome = fate_of(ref, RULES).outcome
        if outcome == "answered":
            return attempt
        failure = stable_id(f"{stable_id(f'call:{ref}')}:call.failed")
        if outcome == "failed" or _share(f"lost:{failure}") < RULES.lost_share:
            return None
    return None


def lost_leg_webhook(
    meeting_id: str,
    participant: str,
    attempt: int,
    kinds=("participant.joined", "participant.left"),
) -> bool:
    call_id = stable_id(f"call:{call_ref(meeting_id, participant, attempt)}")
    return any(_share(f"lost:{stable_id(f'{call_id}:{k}')}") < RULES.lost_share for k in kinds)


def told_stayers(meeting_id: str, participants: list[str]) -> list[str]:
    """Invitees who answer, stay until the end, and whose join webhook is not lost."""
    found = []
    for p in participants:
        attempt = answered_on(meeting_id, p)
        if attempt and fate_of(call_ref(meeting_id, p, attempt), RULES).stay_s is None:
            if not lost_leg_webhook(meeting_id, p, attempt, ("participant.joined",)):
                found.append(p)
    return found


def rings_told(meeting_id: str, participant: str) -> bool:
    call_id = stable_id(f"call:{call_ref(meeting_id, participant, 1)}")
    return _share(f"lost:{stable_id(f'{call_id}:call.ringing')}") >= RULES.lost_share


def chosen_meeting(participants: list[str]) -> str:
    """A meeting id under which some answered call loses a join or leave webhook, so the
    reconciliation has something to fix, and every first call's ringing is told, so "rang" is
    known while it runs (the simulator's losses hang on ids)."""
    while True:
        meeting_id = str(uuid.uuid4())
        answered = [(p, answered_on(meeting_id, p)) for p in participants]
        reached = [(p, a) for p, a in answered if a]
        if (
            len(reached) >= 6
            and any(lost_leg_webhook(meeting_id, p, a) for p, a in reached)
            and all(rings_told(meeting_id, p) for p in participants)
            and told_stayers(meeting_id, participants)
        ):
            return meeting_id


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory, settings):
    tmp = tmp_path_factory.mktemp("meetings-live")
    sim_port, meetings_port = free_port(), free_port()
    sim_command = [
        *(str(ROOT / ".venv/bin/python"), "-m", "uvicorn", "simulator.api:app"),
        *("--host", "127.0.0.1", "--port", str(sim_port)),
    ]
    sim_env = {
        "PROVIDER_WEBHOOK_SECRET": KEY,
        "SIMULATOR_HONOUR_ERASURES": "false",
        "SIMULATOR_CALLBACK_INTERVAL_MS": "20",
        "SIMULATOR_CONFERENCE_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "SIMULATOR_CONFERENCE_CAP": str(CAP),
        "SIMULATOR_CONFERENCE_CPS": "2",
        "SIMULATOR_CONFERENCE_RING_MS": "300",
        "SIMULATOR_CONFERENCE_EARLY_STAY_MS": "1500",
        **{f"SIMULATOR_CONFERENCE_{k}": str(v) for k, v in SHARES.items()},
    }
    simulators = [Process(sim_command, sim_env, tmp / "simulator.log")]
    simulator = simulators[0]
    wait_until(lambda: _ready(f"http://127.0.0.1:{sim_port}/readyz"), 60, simulator)
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    command, extra = service_command("meetings", meetings_port, tmp / "data")
    base = f"http://127.0.0.1:{meetings_port}"
    meetings = Process(
        command,
        {
            **extra,
            "PROVIDER_URL": f"http://127.0.0.1:{sim_port}",
            "PROVIDER_WEBHOOK_SECRET": KEY,
            "MEETINGS_PUBLIC_URL": base,
            "MEETINGS_COLLECTION_PREFIX": prefix,
            "MEETINGS_CONFERENCE_CAP": str(CAP),
            "MEETINGS_LATE_JOINER_SEATS": str(LATE_JOINER_SEATS),
            "MEETINGS_CALLS_PER_SECOND": "20",  # faster than the simulator lets: 429s come back
            "MEETINGS_DIAL_ATTEMPTS": str(ATTEMPTS),
            "MEETINGS_REDIAL_BACKOFF_S": "0.5",
            "MEETINGS_LIVE_INTERVAL_S": "0.2",
            "MEETINGS_QUIET_HOURS": "off",  # a start is judged by the clock: tests run at night
            "MEETINGS_POLLS": f"{BLACKOUT_DISTRICT}-A01={CLOSE_OF_POLL.isoformat()}",
        },
        tmp / "meetings.log",
    )
    wait_until(lambda: _ready(f"{base}/readyz"), 90, meetings)
    db = MongoClient(settings.mongo_url)[settings.mongo_db]
    try:
        yield {
            "simulator": f"http://127.0.0.1:{sim_port}",
            "meetings": base,
            "db": db,
            "prefix": prefix,
            "simulators": simulators,
            "restart": lambda: Process(sim_command, sim_env, tmp / "simulator-2.log"),
        }
    finally:
        meetings.stop()
        for process in simulators:
            process.stop()
        for name in db.list_collection_names():
            if name.startswith(prefix):
                db.drop_collection(name)


def schedule_now(
    stack, kind: str = AUDIO, count: int = INVITEES, district: str = DISTRICT
) -> tuple[str, list[str]]:
    """A meeting for twelve (or `count`) booth presidents of the district, due now, invitations
    done: written as scheduling wrote it, before any close of poll the service knows now."""
    cipher = phone_cipher(MeetingsSettings())
    participants = [str(uuid.uuid4()) for _ in range(count)]
    chosen = kind == AUDIO and count == INVITEES
    meeting_id = chosen_meeting(participants) if chosen else str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    meeting = Meeting(
        meeting_id=meeting_id,
        series_id=meeting_id,
        kind=kind,
        organiser="user-mp-d07",
        organiser_unit=district,
        scope=(district,),
        audience=("booth_president",),
        title={"hi": "बैठक", "en": "Meeting"},
        starts_at=now - timedelta(seconds=1),
        duration_minutes=10,
        scheduled_at=now - timedelta(minutes=5),
        pin=f"{secrets.randbelow(10**6):06d}" if kind == AUDIO else None,
        room="per_meeting" if kind == VIDEO else None,
        event_id=str(uuid.uuid4()),
        published=True,
    )
    MongoInvitees(stack["db"], stack["prefix"], cipher).add(
        [
            Invitee(
                meeting_id,
                p,
                booth,
                booth_path(booth),
                "booth_president",
                "hi",
                f"+9198{secrets.randbelow(10**8):08d}",
            )  # fmt: skip
            for p, booth in zip(participants, booths(count, f"{district}-A01"))
        ]
    )
    # The meeting last, as the invitations job leaves it: the service starts a due meeting as
    # soon as it sees it, and a meeting stored first was once started with 2 of 30 invitees.
    MongoMeetings(stack["db"], stack["prefix"], cipher).insert(
        meeting, {"invite": None, "notify": None, "remind": None}
    )
    return meeting_id, participants


def organiser(unit: str = DISTRICT) -> dict:
    return {"Authorization": f"Bearer {organiser_token(sub='user-mp', unit=unit)}"}


def bridges_of(stack, meeting_id: str) -> dict[str, dict]:
    """The meeting's bridges by number, as the service stored them."""
    return stack["db"][stack["prefix"] + "bridges"].find_one({"_id": meeting_id})["bridges"]


def attendance(stack, meeting_id: str, unit: str | None = None, who: str = DISTRICT) -> dict:
    answer = httpx.get(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/attendance",
        params={"unit": unit} if unit else {},
        headers=organiser(who),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def tail_when_ready(bootstrap: str, topic: str) -> TopicTail:
    """A tail from the topic's end, once its partitions have leaders (just made topics do not)."""
    for _ in range(30):
        try:
            return TopicTail(bootstrap, topic)
        except KafkaException:
            time.sleep(1)
    return TopicTail(bootstrap, topic)


@pytest.fixture(scope="module")
def live_meeting(stack, settings):
    topics.ensure_topics(settings.kafka_bootstrap)
    attendance_tail = tail_when_ready(settings.kafka_bootstrap, topics.MEETING_ATTENDANCE.name)
    meetings_tail = tail_when_ready(settings.kafka_bootstrap, topics.MEETINGS.name)
    meeting_id, participants = schedule_now(stack)
    yield meeting_id, participants, attendance_tail, meetings_tail
    attendance_tail.close()
    meetings_tail.close()


def test_a_due_audio_meeting_opens_bridges_under_the_cap_and_dials_everyone_at_the_providers_pace(
    stack, live_meeting
):
    meeting_id, participants, _, meetings_tail = live_meeting
    [started] = meetings_tail.wait_until(
        lambda e: e.type == types.MEETING_STARTED and e.data["meeting_id"] == meeting_id,
        timeout=30,
    )
    assert started.data["bridges"] == 1 + math.ceil(INVITEES / (CAP - 1))  # no relay needed
    assert started.data["invited"] == INVITEES
    wait_until(lambda: attendance(stack, meeting_id)["totals"]["rang"] == INVITEES, 60)
    stats = httpx.get(f"{stack['simulator']}/v1/stats", timeout=10).json()["conference"]
    assert stats["paced"] > 0  # the simulator said 429 ...
    assert stats["calls"] >= INVITEES  # ... and every invitee was called anyway
    assert stats.get("conference_full", 0) == 0  # no bridge was planned over its cap


def test_a_meeting_reaching_a_blackout_configured_after_it_was_scheduled_dials_nobody(
    stack, settings
):
    meetings_tail = tail_when_ready(settings.kafka_bootstrap, topics.MEETINGS.name)
    meeting_id, _ = schedule_now(stack, district=BLACKOUT_DISTRICT)

    def at_its_start(event) -> bool:
        kinds = (types.MEETING_CANCELLED, types.MEETING_STARTED)
        return event.type in kinds and event.data["meeting_id"] == meeting_id

    [cancelled] = meetings_tail.wait_until(at_its_start, timeout=30)
    assert (cancelled.type, cancelled.data["reason"]) == (types.MEETING_CANCELLED, "blackout")
    assert cancelled.data["organiser_unit"] == BLACKOUT_DISTRICT
    who = organiser(BLACKOUT_DISTRICT)
    # The event goes out first, then the meeting is marked cancelled (a failed publish retries).
    wait_until(
        lambda: attendance(stack, meeting_id, who=BLACKOUT_DISTRICT)["state"] == "cancelled", 10
    )
    read = httpx.get(f"{stack['meetings']}/v1/meetings/{meeting_id}", headers=who, timeout=10)
    assert read.status_code == 200, read.text
    assert (read.json()["state"], read.json()["cancel_reason"]) == ("cancelled", "blackout")
    # Ten start intervals later: a start that went ahead would have opened a bridge and queued
    # calls by now, and announced itself.
    assert meetings_tail.wait_until(at_its_start, timeout=2) == []
    meetings_tail.close()
    speakers = stable_id(f"bridge:{meeting_id}:speakers")  # the simulator's id of its bridge
    at_provider = httpx.get(
        f"{stack['simulator']}/conference/v1/bridges/{speakers}/participants", timeout=10
    )
    assert at_provider.status_code == 404  # no bridge, so no one dialled into one
    calls = stack["db"][stack["prefix"] + "calls"].count_documents({"meeting_id": meeting_id})
    assert calls == 0


def test_attendance_shows_per_mandal_while_the_meeting_runs(stack, live_meeting):
    meeting_id, participants, _, _ = live_meeting
    expected = {p for p in participants if answered_on(meeting_id, p)}

    def joined_enough() -> bool:
        report = attendance(stack, meeting_id, unit=ASSEMBLY)
        return report["totals"]["joined"] >= len(expected) // 2

    wait_until(joined_enough, 60)
    report = attendance(stack, meeting_id, unit=ASSEMBLY)
    assert report["state"] == "started"
    assert [u["unit_id"] for u in report["units"]] == [f"{ASSEMBLY}-M01", f"{ASSEMBLY}-M02"]
    assert [u["invited"] for u in report["units"]] == [6, 6]
    assert sum(u["joined"] for u in report["units"]) == report["totals"]["joined"]
    refused = httpx.get(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/attendance",
        headers=organiser("IN-HP"),
        timeout=10,
    )
    assert refused.status_code == 404  # another state's organiser does not see it


def booth_row(stack, meeting_id: str, participant: str, participants: list[str]) -> dict:
    booth = booths()[participants.index(participant)]
    sector = booth.rsplit("-", 1)[0]
    report = attendance(stack, meeting_id, unit=sector)
    return next(u for u in report["units"] if u["unit_id"] == booth)


def signed_post(stack, meeting_id: str, body: dict, key: bytes = KEY.encode()) -> httpx.Response:
    raw = json.dumps(body).encode()
    return httpx.post(
        f"{stack['meetings']}/v1/provider/conference-events",
        params={"meeting_id": meeting_id},
        content=raw,
        headers={"X-Provider-Signature": sign(key, raw, int(time.time()))},
        timeout=10,
    )


def test_replayed_webhooks_change_nothing(stack, live_meeting, settings):
    meeting_id, participants, attendance_tail, _ = live_meeting
    joiner = told_stayers(meeting_id, participants)[0]
    wait_until(lambda: booth_row(stack, meeting_id, joiner, participants)["joined"] == 1, 60)
    time.sleep(1)  # their press of 1, if any, is in
    before = booth_row(stack, meeting_id, joiner, participants)
    call_id = stable_id(f"call:{call_ref(meeting_id, joiner, answered_on(meeting_id, joiner))}")
    replay = {
        "event_id": stable_id(f"{call_id}:participant.joined"),
        "type": "participant.joined",
        "bridge_id": "any",
        "call_id": call_id,
        "participant_ref": f"{meeting_id}/{joiner}",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "reason": None,
        "digits": None,
        "seconds": None,
        "recording_url": None,
        "from_hash": None,
    }
    retold = {**replay, "event_id": str(uuid.uuid4())}  # the same join under a new event id
    mark = attendance_tail.offsets(topics.MEETING_ATTENDANCE.name)
    for body in (replay, replay, retold):
        answer = signed_post(stack, meeting_id, body)
        assert answer.status_code == 204, answer.text
    assert booth_row(stack, meeting_id, joiner, participants) == before
    tail = TopicTail(settings.kafka_bootstrap, topics.MEETING_ATTENDANCE.name, offsets=mark)
    try:
        told_again = tail.wait_until(
            lambda e: e.type == types.PARTICIPANT_JOINED and e.data["participant_id"] == joiner,
            timeout=3,
        )
    finally:
        tail.close()
    assert told_again == []
    assert signed_post(stack, meeting_id, replay, key=b"x" * 32).status_code == 401


def test_the_organiser_unmutes_and_mutes_every_listener_and_another_district_is_refused(
    stack, live_meeting
):
    meeting_id, _, _, _ = live_meeting
    wait_until(lambda: attendance(stack, meeting_id)["totals"]["joined"] > 0, 60)
    bridge = bridges_of(stack, meeting_id)["1"]["bridge_id"]

    def muted() -> set[bool]:
        listed = httpx.get(
            f"{stack['simulator']}/conference/v1/bridges/{bridge}/participants", timeout=10
        ).json()["participants"]
        return {p["muted"] for p in listed if p["left_at"] is None}

    url = f"{stack['meetings']}/v1/meetings/{meeting_id}"
    assert httpx.post(f"{url}/unmute", headers=organiser(), timeout=10).status_code == 204
    assert muted() <= {False}
    assert httpx.post(f"{url}/mute", headers=organiser(), timeout=10).status_code == 204
    assert muted() <= {True}
    outsider = organiser(f"{DISTRICT[:-1]}8")  # a district next door
    assert httpx.post(f"{url}/unmute", headers=outsider, timeout=10).status_code in (403, 404)


def test_a_video_invitee_opens_their_join_link_is_checked_in_and_lands_in_the_room(stack, settings):
    meeting_id, participants = schedule_now(stack, kind=VIDEO)
    wait_until(lambda: attendance(stack, meeting_id)["state"] == "started", 30)
    invitee, booth = participants[0], booths()[0]
    token = mint(link_key(MeetingsSettings()), JoinClaim(meeting_id, invitee, booth))
    opened = httpx.get(f"{stack['meetings']}/j/{token}", timeout=10)
    assert opened.status_code == 303
    room = opened.headers["location"]
    assert f"participant_ref={meeting_id}%2F{invitee}" in room
    assert httpx.get(room, timeout=10).status_code == 200  # the simulator's room: in
    # Each pod writes its counts every half second (bootstrap.COUNTS_INTERVAL_S).
    wait_until(lambda: attendance(stack, meeting_id)["totals"]["confirmed"] == 1, 10)
    assert attendance(stack, meeting_id)["totals"]["rang"] == 0  # checked in by link, not dialled
    # The room's join webhook may be among those the simulator loses: the end's reconciliation
    # counts the join either way.
    ended = httpx.post(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/end", headers=organiser(), timeout=10
    )
    assert ended.status_code == 204
    wait_until(lambda: attendance(stack, meeting_id)["state"] == "ended", 30)
    totals = attendance(stack, meeting_id)["totals"]
    assert (totals["joined"], totals["confirmed"], totals["invited"]) == (1, 1, INVITEES)
    forged = httpx.get(f"{stack['meetings']}/j/{token[:-2]}xx", timeout=10)
    assert forged.status_code == 404


def test_ending_reconciles_lost_callbacks_and_announces_the_totals(stack, live_meeting):
    meeting_id, participants, attendance_tail, meetings_tail = live_meeting
    time.sleep(3)  # early leavers leave, redials are made
    ended = httpx.post(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/end", headers=organiser(), timeout=10
    )
    assert ended.status_code == 204, ended.text
    [announced] = meetings_tail.wait_until(
        lambda e: e.type == types.MEETING_ENDED and e.data["meeting_id"] == meeting_id,
        timeout=60,
    )
    reached = {p for p in participants if answered_on(meeting_id, p)}
    assert announced.data["invited"] == INVITEES
    assert announced.data["joined"] == len(reached)
    report = attendance(stack, meeting_id)
    assert report["state"] == "ended" and report["totals"]["joined"] == len(reached)
    left = attendance_tail.ids_until(
        lambda e: e.type == types.PARTICIPANT_LEFT and e.data["meeting_id"] == meeting_id,
        reached,
        key="participant_id",
        timeout=30,
    )
    assert left == reached  # every leg's leave told, the lost ones by reconciliation
    again = httpx.post(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/mute", headers=organiser(), timeout=10
    )
    assert again.status_code == 409


def test_a_meeting_wider_than_the_speaker_bridge_starts_every_bridge_through_relays(
    stack, settings
):
    """Thirty listeners at cap 5: eight listener bridges of four, more than the speaker bridge
    (one seat kept for late joiners) may feed, so two relays carry them. The simulator counts
    each cascade leg as a seat of the parent and refuses a child beyond it: the old flat plan
    would be refused at the fifth listener bridge."""
    full_before = conference_stats(stack).get("conference_full", 0)
    tail = tail_when_ready(settings.kafka_bootstrap, topics.MEETINGS.name)
    try:
        meeting_id, participants = schedule_now(stack, count=WIDE)
        [started] = tail.wait_until(
            lambda e: e.type == types.MEETING_STARTED and e.data["meeting_id"] == meeting_id,
            timeout=30,
        )
    finally:
        tail.close()
    plan = plan_bridges(meeting_id, WIDE, CAP, None, LATE_JOINER_SEATS)
    assert (len(plan.listeners), len(plan.relays), plan.count) == (8, 2, 11)
    assert started.data["bridges"] == plan.count
    live = {"bridges": bridges_of(stack, meeting_id)}
    roles = [b["role"] for b in live["bridges"].values()]
    assert sorted(roles) == ["listeners"] * 8 + ["relays"] * 2 + ["speakers"]
    keys = [key for _, key in booth_order([(b, f"{meeting_id}/{p}") for p, b in zip(
        participants, booths(WIDE))])]  # fmt: skip
    expected: dict[str, set[str]] = {}
    for n, key in enumerate(keys):
        number = plan.bridge_of(n).number
        if answered_on(meeting_id, key.split("/")[1]):
            expected.setdefault(live["bridges"][str(number)]["bridge_id"], set()).add(key)
    assert len(expected) >= 6  # listeners answer on most listener bridges

    def joined_where_planned() -> bool:
        return all(
            {r["participant_ref"] for r in participants_of(stack, bridge_id)} == keys_in
            for bridge_id, keys_in in expected.items()
        )

    wait_until(joined_where_planned, 90)
    assert conference_stats(stack).get("conference_full", 0) == full_before  # nothing refused
    relays = [b["bridge_id"] for b in live["bridges"].values() if b["role"] == "relays"]
    assert all(participants_of(stack, r) == [] for r in relays)  # relays carry no listener
    recording = "https://recordings.example/address.mp3"
    played = httpx.post(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/play",
        json={"recording_url": recording},
        headers=organiser(),
        timeout=10,
    )
    assert played.status_code == 204, played.text
    # Into the speaker bridge only: the cascade carries it, so no listener hears it twice.
    heard = {b["role"]: set() for b in live["bridges"].values()}
    for b in live["bridges"].values():
        heard[b["role"]].update(plays_of(stack, b["bridge_id"]))
    assert heard == {"speakers": {recording}, "relays": set(), "listeners": set()}
    ended = httpx.post(
        f"{stack['meetings']}/v1/meetings/{meeting_id}/end", headers=organiser(), timeout=10
    )
    assert ended.status_code == 204, ended.text
    wait_until(lambda: attendance(stack, meeting_id)["state"] == "ended", 60)
    reached = sum(len(keys_in) for keys_in in expected.values())
    assert attendance(stack, meeting_id)["totals"]["joined"] == reached


def conference_stats(stack) -> dict:
    return httpx.get(f"{stack['simulator']}/v1/stats", timeout=10).json()["conference"]


def plays_of(stack, bridge_id: str) -> list[str]:
    answer = httpx.get(
        f"{stack['simulator']}/conference/v1/bridges/{bridge_id}/participants", timeout=10
    )
    return answer.json()["plays"]


def participants_of(stack, bridge_id: str) -> list[dict]:
    answer = httpx.get(
        f"{stack['simulator']}/conference/v1/bridges/{bridge_id}/participants", timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["participants"]


def test_with_the_provider_down_moderation_answers_503_and_a_due_meeting_starts_once_it_is_back(
    stack, settings
):
    live_one, _ = schedule_now(stack, kind=VIDEO)
    wait_until(lambda: attendance(stack, live_one)["state"] == "started", 30)
    stack["simulators"][0].stop()
    url = f"{stack['meetings']}/v1/meetings/{live_one}/mute"
    down = httpx.post(url, headers=organiser(), timeout=30)
    assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 1
    assert down.headers["content-type"].startswith("application/problem+json")
    waiting, _ = schedule_now(stack)
    time.sleep(3)
    assert attendance(stack, waiting)["state"] == "starting"  # claimed, tried, not started
    stack["simulators"].append(stack["restart"]())
    wait_until(lambda: attendance(stack, waiting)["state"] == "started", 60)
    assert len(bridges_of(stack, waiting)) == 1 + math.ceil(INVITEES / (CAP - 1))
