"""Every reports outbox write points before it writes, against the real FerretDB and Kafka: a
review's and a resubmission's events are published once, the pointer written before the report;
a write cut off after its pointer publishes nothing and its pointer goes once past the bound; a
relay that dies after publishing publishes again under the same ids; and the relay's loop never
scans a collection for outboxes (no sweep)."""

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import ConnectionFailure

import reports.adapters.outbox as outbox
from reports import commands, domain, handlers
from reports.adapters.outbox import OutboxRelay
from reports.bootstrap import bootstrap, load_builtin_forms
from reports.settings import BUILTIN_FORMS, ReportsSettings
from shared.events import types
from testkit.topic_tail import TopicTail
from tests.unit.test_reports_handlers import dispatch as plan

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D02"
SEVA = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
REPORTS, POINTERS = "report_booth_reports", "report_outbox_pending"


class Commands(monitoring.CommandListener):
    """Every command sent, in order: (command name, collection, its filter or updates)."""

    def __init__(self):
        self.seen: list[tuple[str, str, dict]] = []

    def started(self, event):
        name = event.command_name
        collection = event.command.get(name)
        what = event.command.get("filter") or event.command.get("updates") or {}
        self.seen.append((name, collection if isinstance(collection, str) else "", what))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def wiring(settings, mongo_db, org_registry, scratch, kafka_bootstrap):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    listened = Commands()
    client = MongoClient(settings.mongo_url, event_listeners=[listened])
    topic = scratch(1)
    adapters = bootstrap(
        ReportsSettings(),
        db=client[mongo_db.name],
        registry=org_registry,
        topic_for=lambda _: topic,
    )
    tail = TopicTail(kafka_bootstrap, topic, offsets={0: 0})
    load_builtin_forms(adapters.ports, BUILTIN_FORMS)
    yield adapters, tail, listened, mongo_db
    tail.close()
    adapters.relay.publisher.close()
    client.close()


def relay_all(relay: OutboxRelay) -> int:
    sent = 0
    while n := relay.relay_once():
        sent += n
    return sent


def answered(adapters):
    """A round to the district and one booth's answer to it, published."""
    ports = adapters.ports
    round_ = handlers.handle(plan(SEVA, scope=(DISTRICT,)), ports)[1][0]
    booth = next(iter(ports.units.booth_page(DISTRICT, 0)))
    submit = commands.SubmitReport(
        round_.dispatch_id, booth, str(uuid.uuid4()), {"seva_done": False}, "user-hp"
    )
    submission = handlers.handle(submit, ports)[0]
    relay_all(adapters.relay)
    return round_, booth, submission


def review(round_, booth, submission, outcome="rejected"):
    reason = "incomplete" if outcome == "rejected" else None
    return commands.ReviewReport(
        round_.dispatch_id, booth, submission.submission_id, outcome, reason, None, "u-2"
    )


def test_a_review_and_a_resubmission_publish_once_pointing_first_and_nothing_sweeps(wiring):
    adapters, tail, listened, _ = wiring
    round_, booth, first = answered(adapters)
    stop = threading.Event()
    loop = threading.Thread(target=adapters.relay.run, args=(stop,), daemon=True)
    loop.start()  # the relay's loop as the service runs it
    try:
        listened.seen.clear()
        handlers.handle(review(round_, booth, first), adapters.ports)
        written = [(n, c) for n, c, _ in listened.seen if n in ("update", "insert")]
        # The pointer (an upsert) comes before the report's compare-and-set.
        assert written[:2] == [("update", POINTERS), ("update", REPORTS)], written
        again = commands.SubmitReport(
            round_.dispatch_id, booth, str(uuid.uuid4()), {"seva_done": False}, "user-hp"
        )
        handlers.handle(again, adapters.ports)
        events = tail.wait_until(lambda e: e.type != types.FORM_PUBLISHED_V2, 4, 6)
    finally:
        stop.set()
        loop.join(10)
    ids = [e.id for e in events]
    assert sorted(e.type for e in events) == [types.REPORT_REVIEWED] + [types.REPORT_SUBMITTED] * 2
    assert len(set(ids)) == 3, "each once"
    assert domain.submitted_event_id(round_.dispatch_id, booth, again.submission_id) in ids
    assert adapters.ports.reports.get(round_.dispatch_id, booth).outbox == []
    # No scan for outboxes: every find the loop sent names its documents by `_id` (or reads
    # the pointers).
    finds = [(c, f) for n, c, f in listened.seen if n == "find"]
    assert not [f for _, f in finds if "has_outbox" in str(f)]
    assert all(c == POINTERS or "_id" in f for c, f in finds), finds


class CutOff:
    """The booth reports' collection as FerretDB going away leaves it between a write's pointer
    and its document: the pointer is written, the report is not."""

    def __init__(self, collection):
        self.collection, self.name = collection, collection.name

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def replace_one(self, *args, **kwargs):
        raise ConnectionFailure("FerretDB went away between the pointer and the report")


def test_a_write_cut_off_after_its_pointer_publishes_nothing_and_its_pointer_goes_in_time(wiring):
    adapters, tail, _, db = wiring
    round_, booth, first = answered(adapters)
    reports, relay = adapters.ports.reports, adapters.relay
    stored = reports.reports
    reports.reports = CutOff(stored)
    with pytest.raises(ConnectionFailure):
        handlers.handle(review(round_, booth, first), adapters.ports)
    reports.reports = stored
    pointer = db[POINTERS].find_one({"_id": f"{REPORTS}:{round_.dispatch_id}/{booth}"})
    assert pointer["rev"] == reports.get(round_.dispatch_id, booth).rev + 1
    # The write may still be on its way: the pointer waits, publishing nothing.
    assert relay.relay_once() == 0 and db[POINTERS].count_documents({}) == 1
    relay.waiting.clear()
    assert relay.relay_once() == 0 and db[POINTERS].count_documents({}) == 1
    # Past the bound that write failed: the pointer goes, with nothing published.
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    db[POINTERS].update_one({"_id": pointer["_id"]}, {"$set": {"at": long_ago}})
    relay.waiting.clear()
    assert relay.relay_once() == 0 and db[POINTERS].count_documents({}) == 0
    assert not tail.wait_until(lambda e: e.type == types.REPORT_REVIEWED, 1, 3)
    # The reviewer tries again: published once.
    handlers.handle(review(round_, booth, first), adapters.ports)
    assert relay_all(relay) == 1
    assert len(tail.wait_until(lambda e: e.type == types.REPORT_REVIEWED, 2, 4)) == 1


def test_a_relay_that_dies_after_publishing_a_review_publishes_it_again_under_its_id(
    wiring, monkeypatch
):
    adapters, tail, _, db = wiring
    round_, booth, first = answered(adapters)
    handlers.handle(review(round_, booth, first), adapters.ports)

    def died(*args):
        raise RuntimeError("the relay's process died between publishing and taking the events")

    monkeypatch.setattr(outbox, "take_published", died)
    with pytest.raises(RuntimeError):
        adapters.relay.relay_once()
    monkeypatch.undo()
    assert db[POINTERS].count_documents({}) == 1  # still there: nothing was taken out
    # Its process starts again, remembering nothing.
    again = OutboxRelay(adapters.relay.db, adapters.relay.pointers, adapters.relay.publisher)
    assert relay_all(again) == 1 and db[POINTERS].count_documents({}) == 0
    reviewed = tail.wait_until(lambda e: e.type == types.REPORT_REVIEWED, 3, 4)
    assert len(reviewed) == 2 and reviewed[0].id == reviewed[1].id
    # Died after taking the events out but before deleting the pointer: nothing more goes out.
    resubmitted = commands.SubmitReport(
        round_.dispatch_id, booth, str(uuid.uuid4()), {"seva_done": False}, "user-hp"
    )
    handlers.handle(resubmitted, adapters.ports)

    def died_clearing(pointed):
        raise RuntimeError("the relay's process died before deleting the pointer")

    monkeypatch.setattr(again.pointers, "clear", died_clearing)
    with pytest.raises(RuntimeError):
        again.relay_once()
    monkeypatch.undo()
    assert relay_all(again) == 0 and db[POINTERS].count_documents({}) == 0
    time.sleep(0.1)
    # Once, though its first try (the report taken for blank, refused) left a carrying pointer
    # this relay, restarted, judges by the stored report.
    mine = domain.submitted_event_id(round_.dispatch_id, booth, resubmitted.submission_id)
    assert len(tail.wait_until(lambda e: e.id == mine, 2, 4)) == 1


def test_pointers_left_by_the_code_before_pointers_said_their_rev_are_served_and_go(wiring):
    adapters, tail, _, db = wiring
    # The built-in forms' pointers, as the old code wrote them (after the form, without a rev).
    assert db[POINTERS].update_many({}, {"$unset": {"rev": ""}}).modified_count == 2
    assert relay_all(adapters.relay) == 2 and db[POINTERS].count_documents({}) == 0
    assert len(tail.wait_until(lambda e: e.type == types.FORM_PUBLISHED_V2, 3, 4)) == 2
