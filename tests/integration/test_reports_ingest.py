"""Booths' answers through the group commit (shared/batching.py), against the real
FerretDB and Kafka: many concurrent first answers are stored once each, in fewer round trips than
answers, and each is published once; a submission id sent twice in one batch or in two stays one
submission, and a second answer of the same booth is still refused; FerretDB killed while a batch
gathers gives every waiting request a 503 problem with Retry-After (never a 500 or a hang), and
every answer accepted before is kept and published once it is back."""

import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from reports import commands, handlers
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
        assert stored.rev == 1 and len(stored.outbox) == 1
    pending = {p["_id"] for p in mongo_db.report_outbox_pending.find({})}
    assert {f"report_booth_reports:{round_.dispatch_id}/{b}" for b in booths} <= pending

    assert relay_all(adapters.relay) == len(booths) + 2  # and the two built-in forms
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths) + 1, 10)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(ids.values())
    assert {e.key for e in submitted} == set(booths)
    assert mongo_db.report_booth_reports.count_documents({"has_outbox": True}) == 0
    assert mongo_db.report_outbox_pending.count_documents({}) == 0
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
    # Every answer published once, wherever it was when FerretDB died (the sweep finds a
    # document whose pointer write was cut off).
    adapters.relay.pointers.sweep(["report_booth_reports"])
    relay_all(adapters.relay)
    submitted = tail.wait_until(lambda e: e.type == types.REPORT_SUBMITTED, len(booths) + 1, 15)
    assert sorted(e.data["submission_id"] for e in submitted) == sorted(
        b["submission_id"] for b in bodies.values()
    )
    adapters.relay.publisher.close()
