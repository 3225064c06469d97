"""An answer link stops answering once its appointee no longer holds the post, learnt from the
appointments service's own events on the real Kafka and kept in the real FerretDB: the appointee
answers through the link; the appointments handlers revoke, replace or erase the appointment and
its outbox relay publishes the events as in production; the reports consumer reads it; the same link
is then refused with the notice (410, a page in the link's language or a problem) and stores
nothing, the answer made before stays, and a replay of the events changes nothing."""

import time
import uuid
from datetime import timedelta

import pytest

from appointments import handlers as appointments
from reports import consumer
from shared.events import types
from shared.kafka.consumer import EventConsumer
from testkit import random_suffix
from tests.integration.test_appointments_erasure import appoint_verified, relay, someone  # noqa: F401
from tests.integration.test_appointments_store import read_all
from tests.integration.test_reports_answer_links import (  # noqa: F401 (fixtures)
    HTML,
    JSON,
    adapters,
    api,
    booth,
    kind,
    link,
    page_id,
)
from tests.integration.test_reports_api import DISTRICT, dispatched

pytestmark = pytest.mark.integration

REFUSED_HI = "यह लिंक अब आपका नहीं है"
REFUSED_EN = "this link is no longer yours"


def read_holders(adapters, kafka_bootstrap, topic, until) -> int:  # noqa: F811
    """Run the reports consumer of ended appointments over the topic until `until(consumed)`;
    returns how many records it consumed."""
    grace = timedelta(hours=adapters.settings.link_grace_h)
    reader = EventConsumer(
        kafka_bootstrap,
        f"test-{random_suffix()}",
        [topic],
        consumer.link_holders(adapters.holders, grace, adapters.ports.clock),
    )
    consumed, deadline = 0, time.monotonic() + 30
    try:
        while not until(consumed):
            assert time.monotonic() < deadline, f"timed out after {consumed} records"
            consumed += reader.run_once(1.0)
    finally:
        reader.close()
    return consumed


def answered(client, url, mood="good"):
    return client.post(url, data={"_sid": page_id(client.get(url).text), "mood": mood})


@pytest.fixture
def holder(api, adapters, ports, organiser_token, booth):  # noqa: F811
    """holder(name, locale) -> (president, dispatch id, link): a verified president of the booth,
    the district's daily report dispatched, and the president's answer link to it."""

    def appoint_and_dispatch(name: str, locale: str = "hi"):
        president = appoint_verified(ports, booth, someone(name))
        dispatch_id = dispatched(api, organiser_token)
        url = link(adapters, dispatch_id, booth, recipient=president.id, locale=locale)
        return president, dispatch_id, url

    return appoint_and_dispatch


def test_a_revoked_appointees_link_is_refused_stores_nothing_and_a_replay_changes_nothing(
    api,  # noqa: F811
    adapters,  # noqa: F811
    ports,
    relay,  # noqa: F811
    holder,
    organiser_token,
    booth,  # noqa: F811
    kafka_bootstrap,
    mongo_db,
):
    outbox_relay, _, topic = relay
    president, dispatch_id, url = holder("Kamla Thakur")
    outbox_relay.relay_once()

    # While they hold the post, the link answers; a rejection lets the booth answer again.
    first = answered(api, url)
    assert first.status_code == 201, first.text
    [made] = adapters.ports.reports.get(dispatch_id, booth).submissions
    review = {"submission_id": made.submission_id, "outcome": "rejected", "reason": "incomplete"}
    reviewer = organiser_token(DISTRICT, sub="user-d04")
    reviewing = f"/v1/dispatches/{dispatch_id}/booths/{booth}/review"
    assert api.post(reviewing, json=review, headers=reviewer).status_code == 200
    assert 'id="rejected"' in api.get(url).text

    appointments.revoke(ports, booth_id=booth, appointment_id=president.id, organiser="user-d04")
    outbox_relay.relay_once()  # appointment-revoked, as appointments publishes it
    read = read_holders(
        adapters, kafka_bootstrap, topic, lambda _: adapters.holders.ended(president.id)
    )

    page = api.get(url, headers=HTML)
    assert page.status_code == 410 and REFUSED_HI in page.text
    assert page.headers["cache-control"] == "private, no-store"
    english = api.get(url, params={"lang": "en"}, headers=HTML)
    assert english.status_code == 410 and REFUSED_EN in english.text.lower()
    problem = api.get(url, headers=JSON)
    assert problem.headers["content-type"] == "application/problem+json"
    assert (problem.status_code, kind(problem)) == (410, "answer-link-revoked")
    posted = api.post(url, data={"_sid": str(uuid.uuid4()), "mood": "poor"})
    assert posted.status_code == 410 and REFUSED_HI in posted.text
    as_app = api.post(url, json={"submission_id": str(uuid.uuid4()), "answers": {"mood": "poor"}})
    assert (as_app.status_code, kind(as_app)) == (410, "answer-link-revoked")
    # Nothing stored: the answer made before the revocation stays, as it was reviewed.
    [kept] = adapters.ports.reports.get(dispatch_id, booth).submissions
    assert (kept.submission_id, kept.status, kept.submitted_by) == (
        made.submission_id,
        "rejected",
        president.id,
    )

    # A replay of the appointments topic (a new group reads it from the start) changes nothing.
    recorded = list(mongo_db.report_ended_appointments.find())
    assert [(d["_id"], d["booth_id"], d["how"]) for d in recorded] == [
        (president.id, booth, "revoked")
    ]
    assert read_holders(adapters, kafka_bootstrap, topic, lambda n: n >= read) >= read
    assert list(mongo_db.report_ended_appointments.find()) == recorded
    assert api.get(url, headers=HTML).status_code == 410
    assert len(adapters.ports.reports.get(dispatch_id, booth).submissions) == 1


def test_a_replaced_appointees_link_is_refused_and_the_new_appointees_answers(
    api,  # noqa: F811
    adapters,  # noqa: F811
    ports,
    relay,  # noqa: F811
    holder,
    booth,  # noqa: F811
    kafka_bootstrap,
):
    outbox_relay, _, topic = relay
    old, dispatch_id, old_link = holder("Old President", locale="en")
    assert api.get(old_link).status_code == 200

    new = appointments.appoint(
        ports,
        booth_id=booth,
        role="booth_president",
        person=someone("New President"),
        organiser="user-d04",
        replaces=old.id,
    )
    outbox_relay.relay_once()
    read_holders(adapters, kafka_bootstrap, topic, lambda _: adapters.holders.ended(old.id))

    refused = api.post(
        old_link, json={"submission_id": str(uuid.uuid4()), "answers": {"mood": "good"}}
    )
    assert (refused.status_code, kind(refused)) == (410, "answer-link-revoked")
    page = api.get(old_link)
    assert page.status_code == 410 and REFUSED_EN in page.text.lower()
    assert adapters.ports.reports.get(dispatch_id, booth) is None
    assert not adapters.holders.ended(new.id)
    new_link = link(adapters, dispatch_id, booth, recipient=new.id)
    assert answered(api, new_link).status_code == 201
    [submission] = adapters.ports.reports.get(dispatch_id, booth).submissions
    assert submission.submitted_by == new.id


def test_an_erased_appointees_link_is_refused(
    api,  # noqa: F811
    adapters,  # noqa: F811
    ports,
    relay,  # noqa: F811
    holder,
    booth,  # noqa: F811
    kafka_bootstrap,
    mongo_db,
):
    outbox_relay, _, topic = relay
    president, dispatch_id, url = holder("Erased President")
    assert api.get(url).status_code == 200

    appointments.erase_appointment(
        ports, booth_id=booth, appointment_id=president.id, requested_by="user-hp", unit="IN-HP"
    )
    outbox_relay.relay_once()  # appointment-revoked (it was active), then person-erased
    published = read_all(kafka_bootstrap, topic, expected=99, timeout_s=3)
    assert [e.type for e in published][-2:] == [types.APPOINTMENT_REVOKED, types.PERSON_ERASED]
    read_holders(adapters, kafka_bootstrap, topic, lambda n: n >= len(published))

    refused = api.post(url, data={"_sid": str(uuid.uuid4()), "mood": "good"})
    assert refused.status_code == 410 and REFUSED_HI in refused.text
    assert adapters.ports.reports.get(dispatch_id, booth) is None
    [kept] = mongo_db.report_ended_appointments.find()
    assert (kept["_id"], kept["how"]) == (president.id, "revoked"), "the first end stays"
    assert "Erased" not in repr(kept)
