"""Booths' answers through the group commit (shared/batching.py), against the real
FerretDB and Kafka: many concurrent first answers are stored once each, in fewer round trips than
answers, and each is published once; a submission id sent twice in one batch or in two stays one
submission, and a second answer of the same booth is still refused; FerretDB killed while a batch
gathers gives every waiting request a 503 problem with Retry-After (never a 500 or a hang), and
every answer accepted before is kept and published once it is back."""

import json
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from pymongo.errors import ConnectionFailure

from reports import commands, domain, handlers
from reports.adapters.mongo import carried_entries
from reports.adapters.outbox import OutboxRelay
from reports.api import create_reports_app
from reports.bootstrap import bootstrap, load_builtin_forms
from reports.domain import Refused
from reports.settings import BUILTIN_FORMS, ReportsSettings
from shared.batching import BATCH_SIZES
from shared.events import types
from testkit.processes import Process, free_port, port_open, wait_until
from testkit.topic_tail import TopicTail
from tests.faults.conftest import NO_HANG_S, assert_outage_problem
from tests.unit.test_reports_handlers import dispatch as plan

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D06"
SEVA = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
# Long enough that concurrent answers meet in one batch, short enough for a test.
LINGER = {"REPORTS_INGEST_LINGER_S": 0.2, "REPORTS_INGEST_BATCH": 1000}


def wired(settings, mongo_db, org_registry, topic):
    adapters = bootstrap(settings, db=mongo_db, registry=org_registry, topic_for=lambda _: topic)
    load_builtin_forms(adapters.ports, BUILTIN_FORMS)
    round_ = handlers.handle(plan(SEVA, scope=(DISTRICT,)), adapters.ports)[1][0]
    return adapters, round_


@pytest.fixture
def topic(org_registry, scratch):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    return scratch(3)


@pytest.fixture
def tail(kafka_bootstrap, topic):
    # From offset 0 of each partition: a topic this new may not have its leaders to ask yet.
    tail = TopicTail(kafka_bootstrap, topic, offsets={p: 0 for p in range(3)})
    yield tail
    tail.close()


def submit(ports, round_, booth, submission_id=None, done=False):
    command = commands.SubmitReport(
        round_.dispatch_id, booth, submission_id or str(uuid.uuid4()), {"seva_done": done}, "u-1"
    )
    return handlers.handle(command, ports)


def booth_batches() -> tuple[float, float]:
    found = {
        s.name: s.value
        for s in BATCH_SIZES.collect()[0].samples
        if s.labels.get("batch") == "booth-reports"
    }
    return (
        found.get("sangathan_group_commit_batch_size_count", 0),
        found.get("sangathan_group_commit_batch_size_sum", 0),
    )


def relay_all(relay) -> int:
    sent = total = relay.relay_once()
    while sent:
        sent = relay.relay_once()
        total += sent
    return total


def test_many_concurrent_first_answers_are_stored_once_in_few_writes_and_published_once(
    mongo_db, org_registry, topic, tail
):
    adapters, round_ = wired(ReportsSettings(**LINGER), mongo_db, org_registry, topic)
    ports = adapters.ports
    booths = list(org_registry.booth_ids_under(DISTRICT))[:60]
    ids = {booth: str(uuid.uuid4()) for booth in booths}
    runs_before, answers_before = booth_batches()
    with ThreadPoolExecutor(len(booths)) as pool:
        outcomes = list(pool.map(lambda b: submit(ports, round_, b, ids[b]), booths))
    runs, answers = (a - b for a, b in zip(booth_batches(), (runs_before, answers_before)))
    assert all(new for _, new in outcomes)
    assert [s.submission_id for s, _ in outcomes] == [ids[b] for b in booths]
    assert answers == len(booths) and runs < len(booths) / 4, (runs, answers)
    for booth in booths:
        stored = ports.reports.get(round_.dispatch_id, booth)
        assert [s.submission_id for s in stored.submissions] == [ids[booth]]
        assert stored.rev == 1 and stored.outbox == []  # its event rides in its batch's pointer
    carrying = list(mongo_db.report_outbox_pending.find({"carried": {"$exists": True}}))
    carried = {e["doc_id"] for p in carrying for e in carried_entries(p)}
    assert carried == {f"{round_.dispatch_id}/{b}" for b in booths} and len(carrying) == runs

    assert relay_all(adapters.relay) == len(booths) + 2  # and the two built-in forms
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths) + 1, 10)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(ids.values())
    assert {e.key for e in submitted} == set(booths)
    assert mongo_db.report_booth_reports.count_documents({"outbox.0": {"$exists": True}}) == 0
    assert mongo_db.report_outbox_pending.count_documents({}) == 0
    adapters.relay.publisher.close()


def test_a_pointer_that_carries_its_events_as_json_text_is_published_as_a_packed_one(
    mongo_db, org_registry, topic, tail
):
    """Pointers are packed (pack_carried); those written before, JSON text, are still served."""
    adapters, round_ = wired(ReportsSettings(**LINGER), mongo_db, org_registry, topic)
    relay_all(adapters.relay)  # the built-in forms'
    booths = list(org_registry.booth_ids_under(DISTRICT))[:4]
    ids = {booth: str(uuid.uuid4()) for booth in booths}
    with ThreadPoolExecutor(len(booths)) as pool:
        list(pool.map(lambda b: submit(adapters.ports, round_, b, ids[b]), booths))
    pointers = mongo_db.report_outbox_pending
    packed = list(pointers.find({"carried": {"$exists": True}}))
    assert packed and all(isinstance(p["carried"], bytes) for p in packed)
    for pointer in packed:  # as the code before wrote them
        text = json.dumps(carried_entries(pointer), separators=(",", ":"))
        assert len(pointer["carried"]) < len(text) / 3
        pointers.update_one({"_id": pointer["_id"]}, {"$set": {"carried": text}})

    # A relay that did not write them (restarted: it reads their documents) publishes them once.
    other = OutboxRelay(mongo_db, adapters.relay.pointers, adapters.relay.publisher)
    assert relay_all(other) == len(booths)
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths), 10)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(ids.values())
    assert pointers.count_documents({}) == 0
    adapters.relay.publisher.close()


def test_a_submission_sent_twice_in_one_batch_or_in_two_is_one_submission(
    mongo_db, org_registry, topic, tail
):
    adapters, round_ = wired(ReportsSettings(**LINGER), mongo_db, org_registry, topic)
    ports = adapters.ports
    twice, across = list(org_registry.booth_ids_under(DISTRICT))[:2]
    same = str(uuid.uuid4())
    runs_before, _ = booth_batches()
    # The same answer twice at once (a client retrying over a slow network): one batch.
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: submit(ports, round_, twice, same), range(2))
    assert booth_batches()[0] - runs_before == 1
    assert first[0].submission_id == second[0].submission_id == same
    assert sorted([first[1], second[1]]) == [False, True]
    # In two batches: the retry reads what the first stored.
    once = str(uuid.uuid4())
    made, new = submit(ports, round_, across, once)
    again, again_new = submit(ports, round_, across, once)
    assert (new, again_new) == (True, False) and again.submission_id == made.submission_id
    # A second answer of a booth that has answered is refused, as before the group commit.
    with pytest.raises(Refused) as refused:
        submit(ports, round_, across)
    assert refused.value.kind == "already-submitted"
    for booth, sid in ((twice, same), (across, once)):
        stored = ports.reports.get(round_.dispatch_id, booth)
        assert [s.submission_id for s in stored.submissions] == [sid]

    relay_all(adapters.relay)
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, 3, 8)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted([same, once])
    adapters.relay.publisher.close()


# --- the events a batch's pointer carries ---------------------------------------------------------


def answer_all(ports, round_, booths, ids):
    with ThreadPoolExecutor(len(booths)) as pool:
        return list(pool.map(lambda b: submit(ports, round_, b, ids[b]), booths))


def test_a_relay_that_dies_after_publishing_a_batch_publishes_it_again_under_the_same_ids(
    mongo_db, org_registry, topic, tail
):
    adapters, round_ = wired(ReportsSettings(**LINGER), mongo_db, org_registry, topic)
    relay, pointers = adapters.relay, adapters.relay.pointers
    relay_all(relay)  # the built-in forms' events
    booths = list(org_registry.booth_ids_under(DISTRICT))[:6]
    ids = {booth: str(uuid.uuid4()) for booth in booths}
    answer_all(adapters.ports, round_, booths, ids)

    def died(pointer_ids):
        raise RuntimeError("the relay's process died between publishing and deleting")

    pointers.drop = died
    with pytest.raises(RuntimeError):
        relay.relay_once()
    del pointers.drop
    # Its process starts again, remembering nothing: the stored reports say what is written.
    again = OutboxRelay(mongo_db, pointers, relay.publisher)
    assert relay_all(again) == len(booths)
    assert relay_all(again) == 0 and mongo_db.report_outbox_pending.count_documents({}) == 0

    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, 2 * len(booths) + 1, 8)
    expected = {domain.submitted_event_id(round_.dispatch_id, b, ids[b]) for b in booths}
    assert len(submitted) == 2 * len(booths) and {e.id for e in submitted} == expected
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(2 * list(ids.values()))
    relay.publisher.close()


class CutOff:
    """The booth reports' collection as FerretDB going away leaves it between a batch's two
    writes: the pointer is written, the documents are not."""

    def __init__(self, collection):
        self.collection, self.name = collection, collection.name

    def insert_many(self, *args, **kwargs):
        raise ConnectionFailure("FerretDB went away between the pointer and the documents")


def test_answers_whose_documents_never_got_written_are_never_published_and_their_pointer_goes(
    mongo_db, org_registry, topic, tail
):
    adapters, round_ = wired(ReportsSettings(**LINGER), mongo_db, org_registry, topic)
    ports, relay = adapters.ports, adapters.relay
    relay_all(relay)
    booths = list(org_registry.booth_ids_under(DISTRICT))[:5]
    answered = booths[0]  # has answered already: its second answer is refused whatever happens
    submit(ports, round_, answered, str(uuid.uuid4()))
    relay_all(relay)
    ids = {booth: str(uuid.uuid4()) for booth in booths}
    reports = ports.reports.reports
    ports.reports.reports = CutOff(reports)
    with ThreadPoolExecutor(len(booths)) as pool:
        failed = list(pool.map(lambda b: pool_error(submit, ports, round_, b, ids[b]), booths))
    ports.reports.reports = reports
    assert all(isinstance(f, ConnectionFailure) for f in failed), failed
    left = mongo_db.report_outbox_pending.count_documents({})
    assert left >= 1  # a pointer a batch, their documents never written

    # Another process (or this one restarted) does not know the batch: while its documents may
    # still be on their way, it waits; once they cannot be, it drops the pointer, publishing none.
    other = OutboxRelay(mongo_db, relay.pointers, relay.publisher)
    # (A pointer whose documents are all there is judged at once: here one with only the booth
    # that had answered, if the batch was split so.)
    assert other.relay_once() == 0
    assert 1 <= mongo_db.report_outbox_pending.count_documents({}) <= left
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    mongo_db.report_outbox_pending.update_many({}, {"$set": {"at": long_ago}})
    other.waiting.clear()  # its second has passed
    assert other.relay_once() == 0 and mongo_db.report_outbox_pending.count_documents({}) == 0

    # The clients send their answers again (the same ids): stored and published once each.
    for booth in booths[1:]:
        assert submit(ports, round_, booth, ids[booth])[1]
    with pytest.raises(Refused):
        submit(ports, round_, answered, ids[answered])
    assert relay_all(relay) == len(booths) - 1
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths) + 1, 8)
    assert sorted(e.data["submission_id"] for e in submitted if e.key != answered) == sorted(
        ids[b] for b in booths[1:]
    )
    assert [e.data["submission_id"] for e in submitted if e.key == answered] != [ids[answered]]
    relay.publisher.close()


def pool_error(call, *args):
    try:
        return call(*args)
    except Exception as exc:
        return exc


# --- FerretDB killed while a batch gathers -------------------------------------------------------


class PrivateFerretDB:
    """A FerretDB of this test's own (the platform's binary, its own port and files), so killing
    it stops nothing else."""

    def __init__(self, tmp_path):
        import stack  # deploy/local, on the path testkit.processes set

        self.port, self.data, self.log = free_port(), tmp_path / "ferretdb", tmp_path
        self.command = [
            str(stack.ferretdb_binary()),
            "-listen-addr",
            f"127.0.0.1:{self.port}",
            "-sqlite-url",
            f"file:{self.data}/",
        ]
        self.data.mkdir()
        self.process: Process | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.process = Process(self.command, {}, self.log / f"ferretdb-{time.monotonic()}.log")
        wait_until(lambda: port_open(self.port), 30, self.process)

    def kill(self) -> None:
        import os
        import signal

        os.killpg(self.process.proc.pid, signal.SIGKILL)
        self.process.proc.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def ferretdb(tmp_path):
    server = PrivateFerretDB(tmp_path)
    yield server
    server.stop()


def test_ferretdb_killed_mid_batch_gives_503_problems_in_time_and_loses_nothing_accepted(
    ferretdb, org_registry, topic, tail, organiser_token
):
    from pymongo import MongoClient

    settings = ReportsSettings(
        MONGO_URL=ferretdb.url,
        MONGO_DB="reports_ingest",
        DEPENDENCY_TIMEOUT_S=1,
        MONGO_SOCKET_TIMEOUT_S=2,
        REPORTS_INGEST_LINGER_S=0.3,
    )
    db = MongoClient(ferretdb.url)["reports_ingest"]
    adapters, round_ = wired(settings, db, org_registry, topic)
    api = TestClient(create_reports_app(adapters))  # no `with`: background jobs stay off
    headers = organiser_token(DISTRICT, sub="user-d06")
    url = f"/v1/dispatches/{round_.dispatch_id}/submissions"
    booths = list(org_registry.booth_ids_under(DISTRICT))[:40]
    bodies = {
        b: {"submission_id": str(uuid.uuid4()), "booth_id": b, "answers": {"seva_done": False}}
        for b in booths
    }
    answers: dict[str, tuple[httpx.Response, float]] = {}
    second = threading.Event()

    def answer(booth: str) -> None:
        if booth in booths[20:]:
            second.wait(30)  # the second half gathers in a batch as FerretDB dies
        started = time.monotonic()
        response = api.post(url, json=bodies[booth], headers=headers)
        answers[booth] = (response, time.monotonic() - started)

    with ThreadPoolExecutor(len(booths)) as pool:
        waiting = [pool.submit(answer, b) for b in booths]
        wait_until(lambda: len(answers) >= 20, 30)  # the first half answered
        second.set()
        time.sleep(0.1)  # within the batch's linger
        ferretdb.kill()
        for future in waiting:
            future.result(timeout=60)

    statuses = [r.status_code for r, _ in answers.values()]
    assert set(statuses) <= {201, 503}, f"no 500, no other answer: {statuses}"
    assert statuses.count(201) >= 10 and statuses.count(503) >= 10, statuses
    for response, seconds in answers.values():
        if response.status_code == 503:
            assert_outage_problem(response, seconds, "mongodb")
        assert seconds < NO_HANG_S, f"answered after {seconds:.1f}s"

    ferretdb.start()
    accepted = [b for b, (r, _) in answers.items() if r.status_code == 201]
    for booth in accepted:
        stored = adapters.ports.reports.get(round_.dispatch_id, booth)
        assert [s.submission_id for s in stored.submissions] == [bodies[booth]["submission_id"]]
    # The refused are sent again, as a client does after Retry-After: each is one submission.
    refused = [b for b in booths if b not in accepted]
    for booth in refused:
        again = api.post(url, json=bodies[booth], headers=headers)
        assert again.status_code in (200, 201), again.text
    # Every answer published once, wherever it was when FerretDB died: a report is written only
    # after its pointer, so the pointers alone find them all.
    relay_all(adapters.relay)
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths) + 1, 15)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(
        b["submission_id"] for b in bodies.values()
    )
    adapters.relay.publisher.close()
