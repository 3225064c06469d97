"""The meetings API's answers without servers: the handlers on in-memory ports, or MongoDB at an
address where nothing listens. Bad input and refusals are RFC 9457 problems; an outage a 503
with Retry-After, never a 500 or a hang."""

import gc
import time
import uuid
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from meetings.api import create_meetings_app
from meetings.bootstrap import bootstrap
from meetings.settings import MeetingsSettings
from shared.auth.issuer import organiser_token
from shared.sending.policy import IST
from tests.fakes.meetings import RecordingEvents, make_ports, recipient

BOOTH = "IN-HP-D09-A01-M01-S01-B001"
NOWHERE = {"MONGO_URL": "mongodb://127.0.0.1:9/", "KAFKA_BOOTSTRAP": "127.0.0.1:9"}


def headers(unit: str = "IN-HP") -> dict[str, str]:
    return {"Authorization": f"Bearer {organiser_token(sub=f'user-{unit}', unit=unit)}"}


def body(**changes) -> dict:
    day = datetime.now(IST).date() + timedelta(days=1)
    values = {
        "kind": "audio_bridge",
        "scope": ["IN-HP-D09"],
        "audience": ["booth_president"],
        "title": {"hi": "बैठक", "en": "Meeting"},
        "starts_at": datetime(day.year, day.month, day.day, 18, tzinfo=IST).isoformat(),
        "duration_minutes": 30,
    }
    values.update(changes)
    return values


def app_with(monkeypatch, ports=None) -> TestClient:
    for name, value in {**NOWHERE, "DEPENDENCY_TIMEOUT_S": "0.5"}.items():
        monkeypatch.setenv(name, value)
    adapters = bootstrap(MeetingsSettings(), publisher=RecordingEvents(), jobs=False)
    if ports is not None:
        adapters.ports = ports
    return TestClient(create_meetings_app(adapters))


@pytest.fixture
def client(monkeypatch):
    ports = make_ports([recipient(BOOTH, str(uuid.uuid4()))], clock=lambda: datetime.now(IST))
    with app_with(monkeypatch, ports) as client:
        yield client


def test_scheduling_answers_202_with_the_meeting_and_a_repeat_200_with_the_same(client):
    first = client.post("/v1/meetings", json=body(), headers={**headers(), "Idempotency-Key": "a"})
    again = client.post("/v1/meetings", json=body(), headers={**headers(), "Idempotency-Key": "a"})
    assert first.status_code == 202 and again.status_code == 200
    assert first.json() == again.json()
    [meeting] = first.json()["meetings"]
    assert first.headers["Location"] == f"/v1/meetings/{meeting['meeting_id']}"
    read = client.get(f"/v1/meetings/{meeting['meeting_id']}", headers=headers("IN-HP-D09"))
    assert read.status_code == 200 and read.json()["jobs"]["invite"]["done_at"] is None


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "phone_tree"}, "kind"),
        ({"duration_minutes": 2}, "duration_minutes"),
        ({"starts_at": "2030-01-02T18:00:00"}, "starts_at"),  # no offset: which 18:00?
        ({"title": {"hi": "बैठक"}}, "title.en"),
        ({"room": "standing"}, "room is for a video_conference only"),
        ({"scope": ["IN-HP-D09", "IN-HP-D09"]}, "must not repeat"),
    ],
)
def test_bad_input_is_a_problem_naming_what_is_wrong(client, changes, field):
    answer = client.post("/v1/meetings", json=body(**changes), headers=headers())
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["detail"]


def test_an_outside_speakers_bad_phone_and_an_unknown_role_are_refused(client):
    speaker = {"label": "Guest", "phone": "123456789"}
    bad_phone = client.post("/v1/meetings", json=body(speakers=[speaker]), headers=headers())
    assert bad_phone.status_code == 422 and bad_phone.json()["type"].endswith("/invalid-phone")
    assert "123456789" not in bad_phone.text
    role = client.post("/v1/meetings", json=body(audience=["treasurer"]), headers=headers())
    assert role.status_code == 422 and role.json()["type"].endswith("/unknown-role")


def test_a_speaker_from_another_states_booth_is_refused(client):
    speaker = {"appointment_id": str(uuid.uuid4()), "booth_id": "IN-MP-D07-A01-M01-S01-B001"}
    answer = client.post("/v1/meetings", json=body(moderators=[speaker]), headers=headers())
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/outside-jurisdiction")


def test_no_token_is_401_and_another_states_meeting_is_unknown(client):
    assert client.post("/v1/meetings", json=body()).status_code == 401
    [meeting] = client.post("/v1/meetings", json=body(), headers=headers()).json()["meetings"]
    elsewhere = client.get(f"/v1/meetings/{meeting['meeting_id']}", headers=headers("IN-MP"))
    assert elsewhere.status_code == 404
    listed = client.get("/v1/meetings", params={"unit": "IN-HP"}, headers=headers("IN-MP"))
    assert listed.status_code == 403


def test_mongodb_away_is_a_503_with_retry_after_and_quickly(monkeypatch):
    with app_with(monkeypatch) as client:
        started = time.monotonic()
        answer = client.post("/v1/meetings", json=body(), headers=headers())
        assert answer.status_code == 503
        assert answer.headers["Retry-After"]
        assert answer.json()["dependency"] == "mongodb"
        assert time.monotonic() - started < 5
        assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize("size, grouped", [("64", True), ("1", False)])
def test_webhooks_are_grouped_unless_the_batch_is_one(monkeypatch, size, grouped):
    for name, value in {**NOWHERE, "MEETINGS_WEBHOOK_BATCH": size}.items():
        monkeypatch.setenv(name, value)
    live = bootstrap(MeetingsSettings(), publisher=RecordingEvents(), jobs=False).live
    batchers = [live.live.invitee_reads, live.live.attendance_writes, live.publishing]
    assert [b is not None for b in batchers] == [grouped] * 3
    if grouped:
        assert live.live.attendance_writes.size == 64 and live.live.attendance_writes.linger_s == 0


@pytest.mark.parametrize(
    "env, owed",
    [
        ({}, 1750),  # 50 calls/s ringing up to 30 s, and 5 s for the callbacks
        ({"MEETINGS_CALLS_PER_SECOND": "10", "MEETINGS_RING_TIMEOUT_S": "20"}, 250),
        ({"MEETINGS_DIAL_MAX_OWED": "400"}, 400),
        ({"MEETINGS_DIAL_MAX_OWED": "0"}, 0),  # no bound
    ],
)
def test_the_diallers_bound_on_calls_owed_is_what_ringing_at_the_pace_owes_unless_set(
    monkeypatch, env, owed
):
    for name, value in {**NOWHERE, **env}.items():
        monkeypatch.setenv(name, value)
    live = bootstrap(MeetingsSettings(), publisher=RecordingEvents(), jobs=False).live
    assert live.max_owed == owed


def test_start_up_leaves_what_it_made_out_of_the_collectors_sight(monkeypatch):
    # A state's invitations make a full collection every ~10,000 invitees; it should not walk
    # the modules and the app each time (bench/meetings_invite_ops.py --no-freeze).
    gc.unfreeze()
    try:
        with app_with(monkeypatch):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
