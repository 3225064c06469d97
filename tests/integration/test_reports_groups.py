"""Booth WhatsApp groups on the real FerretDB and Kafka: a WhatsApp pramukh registers the booth's
group and broadcast list, WhatsApp's caps are refused naming the field, the invite link is sealed
at rest, returned only inside jurisdiction, and never in the event on Kafka; a closed group counts
no more in the unit's summary."""

import pytest
from fastapi.testclient import TestClient

from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from shared.events import types
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.integration

MANDAL, OTHER_MANDAL = "IN-HP-D04-A01-M01", "IN-HP-D04-A01-M02"
LINK = "https://chat.whatsapp.com/Kd93LmQp0aZ"


@pytest.fixture
def wiring(mongo_db, org_registry, scratch, kafka_bootstrap):
    if org_registry.get(MANDAL) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    topic = scratch(1)
    adapters = bootstrap(ReportsSettings(), db=mongo_db, topic_for=lambda _: topic)
    tail = TopicTail(kafka_bootstrap, topic, offsets={0: 0})
    # No `with`: the relay is run by hand, once the changes are made.
    yield {"api": TestClient(create_reports_app(adapters)), "adapters": adapters, "tail": tail}
    tail.close()
    adapters.relay.publisher.close()


@pytest.fixture
def booth(org_registry) -> str:
    return next(org_registry.booth_ids_under(MANDAL))


def pramukh(organiser_token, booth: str) -> dict:
    return organiser_token(booth, sub="user-wa-pramukh", role="whatsapp_pramukh")


def group(kind="group", members=148, link=LINK) -> dict:
    return {"kind": kind, "name": "बूथ 12 परिवार", "members": members, "invite_link": link}


def url(booth: str, rest: str = "") -> str:
    return f"/v1/booths/{booth}/whatsapp-groups{rest}"


def test_a_whatsapp_pramukh_registers_the_booths_group_and_its_link_stays_sealed(
    wiring, organiser_token, booth, mongo_db
):
    api, own = wiring["api"], pramukh(organiser_token, booth)
    made = api.post(url(booth), json=group(), headers=own)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["kind"], body["members"], body["invite_link"], body["active"]) == (
        "group",
        148,
        LINK,
        True,
    )
    stored = mongo_db.report_whatsapp_groups.find_one({"_id": booth})
    assert LINK not in str(stored) and stored["groups"][0]["invite_link"].startswith("pd1.")
    listed = api.get(url(booth), headers=organiser_token("IN-HP-D04", sub="user-d04"))
    assert [g["invite_link"] for g in listed.json()["groups"]] == [LINK]


def test_whatsapps_caps_are_refused_naming_the_members_field(wiring, organiser_token, booth):
    api, own = wiring["api"], pramukh(organiser_token, booth)
    for kind, members in (("broadcast_list", 257), ("group", 1025)):
        refused = api.post(url(booth), json=group(kind, members), headers=own)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["members"]
    at_cap = api.post(url(booth), json=group("broadcast_list", 256), headers=own)
    assert at_cap.status_code == 201
    grown = api.patch(
        url(booth, f"/{at_cap.json()['group_id']}"), json={"members": 300}, headers=own
    )
    assert grown.status_code == 422 and grown.json()["errors"][0]["field"] == "members"


def test_outside_the_booths_jurisdiction_nothing_is_registered_nor_read(
    wiring, organiser_token, booth, org_registry
):
    api = wiring["api"]
    other = organiser_token(OTHER_MANDAL, sub="user-other-mandal")
    assert api.post(url(booth), json=group(), headers=other).status_code == 403
    assert api.get(url(booth), headers=other).status_code == 403
    no_scope = organiser_token(booth, sub="user-reader", scopes=["reports:read"])
    assert api.post(url(booth), json=group(), headers=no_scope).status_code == 403


def test_each_change_goes_to_kafka_without_the_groups_name_or_link(wiring, organiser_token, booth):
    api, own, tail = wiring["api"], pramukh(organiser_token, booth), wiring["tail"]
    group_id = api.post(url(booth), json=group(), headers=own).json()["group_id"]
    api.patch(url(booth, f"/{group_id}"), json={"members": 160}, headers=own)
    closed = api.post(url(booth, f"/{group_id}/deactivate"), headers=own)
    assert closed.json()["active"] is False
    assert wiring["adapters"].relay.relay_once() == 3
    events = tail.wait_until(lambda e: True, count=3, timeout=15)
    assert [e.type for e in events] == [types.WHATSAPP_GROUP_UPDATED] * 3
    assert [(e.data["members"], e.data["active"]) for e in events] == [
        (148, True),
        (160, True),
        (160, False),
    ]
    assert {e.subject for e in events} == {booth}
    for event in events:
        assert "whatsapp.com" not in str(event.data) and "परिवार" not in str(event.data)
        assert set(event.data) == {
            "group_id",
            "booth_id",
            "booth_path",
            "kind",
            "members",
            "active",
            "updated_by",
            "updated_at",
        }


def test_a_units_summary_counts_active_groups_and_lists_and_not_closed_ones(
    wiring, organiser_token, booth, org_registry
):
    api, own = wiring["api"], pramukh(organiser_token, booth)
    second = list(org_registry.booth_ids_under(MANDAL))[1]
    api.post(url(booth), json=group(members=100), headers=own)
    api.post(url(booth), json=group("broadcast_list", 200, None), headers=own)
    gone = api.post(url(second), json=group(members=50), headers=pramukh(organiser_token, second))
    district = organiser_token("IN-HP-D04", sub="user-d04")
    api.post(url(second, f"/{gone.json()['group_id']}/deactivate"), headers=district)
    summary = api.get(f"/v1/units/{MANDAL}/whatsapp-groups", headers=district).json()
    assert summary == {
        "unit_id": MANDAL,
        "booths_with_group": 1,
        "members_reached": 100,
        "broadcast_lists": 1,
        "broadcast_recipients": 200,
        "closed": 1,
    }
    assert api.get(f"/v1/units/{OTHER_MANDAL}/whatsapp-groups", headers=own).status_code == 403
