"""The reports service's events through its outbox and fan-out, against the real FerretDB and
Kafka: a published form and a booth's answer reach Kafka under their stored ids and leave the
outbox; a retried answer publishes nothing more; a dispatch to a district puts one
report-dispatched per booth of the registry on Kafka, and a fan-out run again from the start
repeats exactly the same event ids; Kafka away only delays the outbox."""

import uuid

import pytest

from reports import commands, domain, handlers
from reports.adapters.mongo import OutboxPointers
from reports.adapters.outbox import OutboxRelay
from reports.bootstrap import SOURCE, bootstrap, load_builtin_forms
from reports.settings import BUILTIN_FORMS, ReportsSettings
from shared.events import types
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.orgtree.levels import booth_path
from testkit.processes import closed_port
from testkit.topic_tail import TopicTail
from tests.unit.test_reports_handlers import dispatch as plan

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D02"
SEVA = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"


@pytest.fixture
def wiring(mongo_db, org_registry, scratch, kafka_bootstrap):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    topic = scratch(3)
    adapters = bootstrap(
        ReportsSettings(REPORTS_FANOUT_PAGES_PER_FLUSH=1), db=mongo_db, topic_for=lambda _: topic
    )
    # From offset 0 of each partition: a topic this new may not have its leaders to ask yet.
    tail = TopicTail(kafka_bootstrap, topic, offsets={p: 0 for p in range(3)})
    yield {
        "ports": adapters.ports,
        "relay": adapters.relay,
        "fanout": adapters.fanout,
        "rounds": adapters.rounds,
        "tail": tail,
    }
    tail.close()
    adapters.relay.publisher.close()


def dispatch(ports):
    return handlers.handle(plan(SEVA, scope=(DISTRICT,)), ports)[1][0]


def test_published_forms_and_an_answer_reach_kafka_once_and_leave_the_outbox(wiring):
    ports, relay, tail = wiring["ports"], wiring["relay"], wiring["tail"]
    load_builtin_forms(ports, BUILTIN_FORMS)
    round_ = dispatch(ports)
    booth = next(iter(ports.units.booth_page(DISTRICT, 0)))
    submit = commands.SubmitReport(
        round_.dispatch_id, booth, str(uuid.uuid4()), {"seva_done": False}, "user-hp"
    )
    handlers.handle(submit, ports)
    handlers.handle(submit, ports)  # retried: the same submission
    assert relay.relay_once() == 3  # two forms published, one answer
    assert relay.relay_once() == 0
    events = tail.wait_until(lambda e: True, count=4, timeout=10)
    assert sorted(e.type for e in events) == [
        types.FORM_PUBLISHED_V2,
        types.FORM_PUBLISHED_V2,
        types.REPORT_SUBMITTED,
    ]
    stored = ports.reports.get(round_.dispatch_id, booth)
    assert stored.outbox == [] and ports.forms.get(SEVA).outbox == []
    answered = next(e for e in events if e.type == types.REPORT_SUBMITTED)
    assert answered.data["submission_id"] == submit.submission_id
    assert answered.key == booth


def test_a_dispatch_puts_one_report_dispatched_per_booth_on_kafka_and_a_rerun_repeats_the_ids(
    wiring,
):
    ports, fanout, tail = wiring["ports"], wiring["fanout"], wiring["tail"]
    load_builtin_forms(ports, BUILTIN_FORMS)
    round_ = dispatch(ports)
    booths = set(ports.units.booth_ids_under(DISTRICT))
    assert fanout.once()
    assert wiring["rounds"].progress(round_.dispatch_id) == {
        "unit": 1,
        "page": 0,
        "booths": len(booths),
        "done": True,
    }
    first = tail.wait_until(lambda e: e.type == types.REPORT_DISPATCHED, len(booths), 30)
    assert {e.key for e in first} == booths and len(first) == len(booths)
    # Each record is what the domain says for its booth, though only one a page was built whole.
    assert all(
        e.data == domain.report_dispatched(round_, e.key, booth_path(e.key), round_.send_at)
        and e.id == domain.dispatched_event_id(round_.dispatch_id, e.key)
        for e in first
    )
    # A crash before the cursor moved: the fan-out runs again from the start.
    fanout.fan_out(round_, {"unit": 0, "page": 0, "booths": 0, "done": False})
    again = tail.wait_until(lambda e: e.type == types.REPORT_DISPATCHED, len(booths), 30)
    assert sorted(e.id for e in again) == sorted(e.id for e in first)


def test_kafka_away_only_delays_the_outbox(wiring, kafka_bootstrap, mongo_db):
    ports, tail = wiring["ports"], wiring["tail"]
    load_builtin_forms(ports, BUILTIN_FORMS)
    away = EventPublisher(f"127.0.0.1:{closed_port()}", SOURCE, config={"message.timeout.ms": 1000})
    with pytest.raises(DeliveryError):
        OutboxRelay(mongo_db, OutboxPointers(mongo_db), away).relay_once()
    assert len(ports.forms.get(SEVA).outbox) == 1  # still there, and pointed at again
    assert wiring["relay"].relay_once() == 2
    assert len(tail.wait_until(lambda e: e.type == types.FORM_PUBLISHED_V2, 2, 10)) == 2


def test_a_round_is_fanned_out_by_one_process_at_a_time_until_its_lease_runs_out(wiring):
    ports, rounds = wiring["ports"], wiring["rounds"]
    load_builtin_forms(ports, BUILTIN_FORMS)
    round_ = dispatch(ports)
    assert rounds.claim(round_.dispatch_id, "pod-a", 1000.0, 60) is not None
    assert rounds.claim(round_.dispatch_id, "pod-b", 1030.0, 60) is None
    assert not rounds.advance(round_.dispatch_id, {"unit": 0}, "pod-b", 1090.0)
    taken_over = rounds.claim(round_.dispatch_id, "pod-b", 1061.0, 60)
    assert taken_over == {"unit": 0, "page": 0, "booths": 0, "done": False}
    assert not rounds.advance(round_.dispatch_id, {"unit": 1}, "pod-a", 1090.0)


def test_a_review_made_while_the_answer_was_being_published_is_published_next(wiring):
    """The relay publishes a batch of answers from their pointer without touching the reports; a
    report written in between (here a review, while the answer's event was on its way) keeps its
    new event for the next round."""
    ports, relay, tail = wiring["ports"], wiring["relay"], wiring["tail"]
    load_builtin_forms(ports, BUILTIN_FORMS)
    relay.relay_once()
    round_ = dispatch(ports)
    booths = ports.units.booth_page(DISTRICT, 0)[:3]
    answers = [
        handlers.handle(
            commands.SubmitReport(
                round_.dispatch_id, b, str(uuid.uuid4()), {"seva_done": False}, "user-hp"
            ),
            ports,
        )[0]
        for b in booths
    ]
    review = commands.ReviewReport(
        round_.dispatch_id, booths[0], answers[0].submission_id, "accepted", None, None, "u-2"
    )
    emit = relay.publisher.emit

    def emit_then_review(*args, **kwargs):
        emit(*args, **kwargs)
        answered = (round_.dispatch_id, booths[0], answers[0].submission_id)
        if kwargs["event_id"] == domain.submitted_event_id(*answered):
            handlers.handle(review, ports)

    relay.publisher.emit = emit_then_review
    assert relay.relay_once() == 3
    relay.publisher.emit = emit
    assert [len(ports.reports.get(round_.dispatch_id, b).outbox) for b in booths] == [1, 0, 0]
    assert relay.relay_once() == 1
    events = tail.wait_until(lambda e: e.type != types.FORM_PUBLISHED_V2, count=4, timeout=10)
    assert sorted(e.type for e in events) == [types.REPORT_REVIEWED] + [types.REPORT_SUBMITTED] * 3
    assert ports.reports.get(round_.dispatch_id, booths[0]).outbox == []
