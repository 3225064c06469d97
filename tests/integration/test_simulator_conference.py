"""The provider simulator as a conference provider, over HTTP as docs/meetings.md fixes it: bridges
under the cap, dial-out paced with 429 + Retry-After, signed webhooks to the bridge's
status_callback, dial-in by PIN, video rooms, end-of-call records."""

import json
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shared.sending.signatures import caller_hash, check
from simulator.conference import ConferenceRules, fate_of
from testkit.processes import ROOT, Process, free_port, wait_until

pytestmark = pytest.mark.integration

KEY = secrets.token_hex(32)
RULES = ConferenceRules(
    no_answer_share=0.2, busy_share=0.2, failed_share=0, leave_early_share=0.5
)  # as the simulator below is told


class Receiver:
    """A webhook receiver that keeps what arrives, and whether its signature held."""

    def __init__(self):
        self.events: list[dict] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                check(KEY.encode(), body, self.headers.get("X-Provider-Signature"), time.time())
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, call_id: str) -> list[dict]:
        return [e for e in list(self.events) if e["call_id"] == call_id]


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    port = free_port()
    tmp = tmp_path_factory.mktemp("conference")
    env = {
        "SANGATHAN_ENV": "test",
        "PROVIDER_WEBHOOK_SECRET": KEY,
        "SIMULATOR_HONOUR_ERASURES": "false",
        "SIMULATOR_CONFERENCE_CAP": "5",
        "SIMULATOR_CONFERENCE_CPS": "3",
        "SIMULATOR_CONFERENCE_RING_MS": "200",
        "SIMULATOR_CONFERENCE_EARLY_STAY_MS": "600",
        "SIMULATOR_CONFERENCE_NO_ANSWER_SHARE": "0.2",
        "SIMULATOR_CONFERENCE_BUSY_SHARE": "0.2",
        "SIMULATOR_CONFERENCE_FAILED_SHARE": "0",
        "SIMULATOR_CONFERENCE_LEAVE_EARLY_SHARE": "0.5",
        "SIMULATOR_CONFERENCE_DUPLICATE_SHARE": "0.5",
        "SIMULATOR_CONFERENCE_OUT_OF_ORDER_SHARE": "0.3",
        "SIMULATOR_CALLBACK_INTERVAL_MS": "20",
        "SIMULATOR_CONFERENCE_BASE_URL": f"http://127.0.0.1:{port}",
    }
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "uvicorn", "simulator.api:app"]
    process = Process(
        command + ["--host", "127.0.0.1", "--port", str(port)], env, tmp / "simulator.log"
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _ready(base), 60, process)
    yield base
    process.stop()


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def create(simulator, receiver, ref=None, **body) -> httpx.Response:
    body = {
        "bridge_ref": ref or uuid.uuid4().hex,
        "kind": "audio",
        "capacity": 5,
        "status_callback": receiver.url,
        **body,
    }
    return httpx.post(f"{simulator}/conference/v1/bridges", json=body, timeout=10)


def dial(simulator, bridge_id, ref, participant=None) -> httpx.Response:
    body = {"call_ref": ref, "to": "+919800000001", "participant_ref": participant or ref}
    return httpx.post(f"{simulator}/conference/v1/bridges/{bridge_id}/calls", json=body, timeout=10)


def dial_paced(simulator, bridge_id, ref) -> str:
    """Dial as a client should: wait the Retry-After a 429 names."""
    for _ in range(20):
        answer = dial(simulator, bridge_id, ref)
        if answer.status_code != 429:
            assert answer.status_code == 202, answer.text
            return answer.json()["call_id"]
        time.sleep(float(answer.headers["Retry-After"]) / 4)
    raise AssertionError("never let through")


def test_a_bridge_above_the_cap_is_refused_with_the_cap_and_a_repeated_ref_is_the_same_bridge(
    simulator, receiver
):
    refused = create(simulator, receiver, capacity=6)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["cap"] == 5 and refused.json()["type"].endswith("capacity-above-cap")
    ref = uuid.uuid4().hex
    first, again = create(simulator, receiver, ref), create(simulator, receiver, ref)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() and first.json()["pin"] and first.json()["dial_in_number"]


def test_dialling_past_the_calls_per_second_limit_answers_429_with_retry_after(simulator, receiver):
    bridge_id = create(simulator, receiver).json()["bridge_id"]
    with ThreadPoolExecutor(8) as pool:  # at once: a slow machine must not pace them for us
        answers = list(pool.map(lambda _: dial(simulator, bridge_id, uuid.uuid4().hex), range(8)))
    paced = [a for a in answers if a.status_code == 429]
    assert paced and int(paced[0].headers["Retry-After"]) >= 1
    assert paced[0].json()["type"].endswith("calls-per-second")


def test_calls_ring_answer_or_fail_and_every_webhook_is_signed_with_duplicates_sharing_an_id(
    simulator, receiver
):
    bridge_id = create(simulator, receiver, capacity=5).json()["bridge_id"]
    calls = [dial_paced(simulator, bridge_id, f"{uuid.uuid4().hex}") for _ in range(5)]
    wait_until(lambda: all(_settled(receiver.of(c)) for c in calls), 20)
    for call in calls:
        story = receiver.of(call)
        kinds = {e["type"] for e in story}
        assert "call.ringing" in kinds
        assert ("participant.joined" in kinds) != ("call.failed" in kinds)
        assert len({e["event_id"] for e in story}) == len({e["type"] for e in story})


def staying_refs(count: int) -> list[str]:
    found = []
    while len(found) < count:
        ref = uuid.uuid4().hex
        fate = fate_of(ref, RULES)
        if fate.outcome == "answered" and fate.stay_s is None:
            found.append(ref)
    return found


def _settled(story: list[dict]) -> bool:
    kinds = {e["type"] for e in story}
    return "call.failed" in kinds or "participant.joined" in kinds


def test_a_full_bridge_refuses_the_next_call_with_conference_full(simulator, receiver):
    bridge_id = create(simulator, receiver, capacity=2).json()["bridge_id"]
    for ref in staying_refs(2):  # answered and in until the end: both seats stay taken
        dial_paced(simulator, bridge_id, ref)
    time.sleep(0.4)
    refused = dial(simulator, bridge_id, uuid.uuid4().hex)
    assert refused.status_code == 409 and refused.json()["type"].endswith("conference-full")


def test_a_child_bridge_takes_a_seat_of_its_parent_and_one_beyond_its_free_seats_is_refused(
    simulator, receiver
):
    parent = create(simulator, receiver, capacity=2).json()["bridge_id"]
    children = [
        create(simulator, receiver, listen_only=True, parent_bridge_id=parent, capacity=3)
        for _ in range(3)
    ]
    assert [c.status_code for c in children] == [201, 201, 409]
    refused = children[2]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("conference-full") and refused.json()["code"] == 16020
    child = children[0].json()["bridge_id"]
    for ref in staying_refs(2):  # the child's leg up took its third seat
        dial_paced(simulator, child, ref)
    time.sleep(0.4)
    full = dial(simulator, child, uuid.uuid4().hex)
    assert full.status_code == 409 and full.json()["code"] == 16020


def test_ending_a_bridge_leaves_every_leg_and_the_participant_list_keeps_the_records(
    simulator, receiver
):
    bridge = create(simulator, receiver).json()
    late = httpx.post(
        f"{simulator}/conference/v1/dev/dial-in",
        json={"pin": bridge["pin"], "from": "+919812345678"},
        timeout=10,
    )
    assert late.status_code == 202
    leg = late.json()["call_id"]
    ended = httpx.post(f"{simulator}/conference/v1/bridges/{bridge['bridge_id']}/end", timeout=10)
    assert ended.status_code == 204
    listed = httpx.get(
        f"{simulator}/conference/v1/bridges/{bridge['bridge_id']}/participants", timeout=10
    ).json()["participants"]
    assert [(p["call_id"], p["left_at"] is not None) for p in listed] == [(leg, True)]
    wait_until(lambda: {e["type"] for e in receiver.of(leg)} >= {"participant.left"}, 10)
    joined = next(e for e in receiver.of(leg) if e["type"] == "participant.joined")
    assert joined["from_hash"] == caller_hash(KEY.encode(), "+919812345678")
    wait_until(
        lambda: any(
            e["type"] == "bridge.ended" and e["bridge_id"] == bridge["bridge_id"]
            for e in list(receiver.events)
        ),
        10,
    )


def test_a_video_room_link_joins_the_invitee_and_mute_all_answers_204(simulator, receiver):
    room = create(simulator, receiver, kind="video").json()
    person = str(uuid.uuid4())
    opened = httpx.get(room["room_url"], params={"participant_ref": person, "token": "t"})
    assert opened.status_code == 200
    wait_until(
        lambda: any(
            e["participant_ref"] == person and e["type"] == "participant.joined"
            for e in list(receiver.events)
        ),
        10,
    )
    muted = httpx.post(
        f"{simulator}/conference/v1/bridges/{room['bridge_id']}/mute",
        json={"muted": True, "call_id": None},
        timeout=10,
    )
    assert muted.status_code == 204
    unknown = httpx.post(f"{simulator}/conference/v1/bridges/nope/end", timeout=10)
    assert unknown.status_code == 404
