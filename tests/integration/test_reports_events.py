"""The reports service's events through its outbox and fan-out, against the real FerretDB and
Kafka: a published form and a booth's answer reach Kafka under their stored ids and leave the
outbox; a retried answer publishes nothing more; a dispatch to a district puts one
report-dispatched per booth of the registry on Kafka, and a fan-out run again from the start
repeats exactly the same event ids; Kafka away only delays the outbox."""

import uuid

import pytest

from reports import commands, domain, handlers
from reports.adapters.fanout import FanOut
from reports.adapters.mongo import BoothReports, Forms, OutboxPointers, Plans, Rounds
from reports.adapters.outbox import OutboxRelay
from reports.bootstrap import SOURCE, load_builtin_forms
from reports.handlers import Ports
from reports.settings import BUILTIN_FORMS
from shared.events import types
from shared.kafka.producer import ConfirmedProducer, DeliveryError, EventPublisher
from shared.orgtree.levels import booth_path
from testkit.processes import closed_port
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D02"
SEVA = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"


@pytest.fixture
def wiring(mongo_db, org_registry, scratch, kafka_bootstrap):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    topic = scratch(3)
    pointers = OutboxPointers(mongo_db)
    rounds = Rounds(mongo_db)
    ports = Ports(
        forms=Forms(mongo_db, pointers),
        plans=Plans(mongo_db),
        rounds=rounds,
        reports=BoothReports(mongo_db, pointers),
        units=org_registry,
    )
    publisher = EventPublisher(kafka_bootstrap, SOURCE, topic_for=lambda _: topic)
    tail = TopicTail(kafka_bootstrap, topic, from_start=True)
    yield {
        "ports": ports,
        "relay": OutboxRelay(mongo_db, pointers, publisher),
        "fanout": FanOut(
            rounds,
            org_registry,
            ConfirmedProducer(kafka_bootstrap),
            SOURCE,
            topic_for=lambda _: topic,
            pages_per_flush=1,
        ),
        "rounds": rounds,
        "tail": tail,
        "db": mongo_db,
    }
    tail.close()
    publisher.close()


def dispatch(ports, scope=(DISTRICT,)):
    command = commands.PlanDispatch(
        unit="IN-HP",
        by="user-hp",
        form_id=SEVA,
        version=None,
        scope=scope,
        audience=("booth_president",),
        cadence="once",
        weekdays=(),
        starts_on=None,
        send_time=None,
        due_after_h=12,
        remind_before_h=2,
    )
    return handlers.handle(command, ports)[1][0]


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
        types.FORM_PUBLISHED,
        types.FORM_PUBLISHED,
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
    assert len(tail.wait_until(lambda e: e.type == types.FORM_PUBLISHED, 2, 10)) == 2
