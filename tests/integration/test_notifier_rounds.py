"""Rounds of a recurring directive against the real Kafka, Redis and MongoDB: two schedulers racing
for one slot send it once, a duplicated directive-issued event schedules one round, a round whose
next slot has come is missed rather than sent late, the last round ends the directive, and a
cancelled directive sends no further round.

Time is a test clock set in 2030 (the slots are a schedule, not a wait); recipients come from a
hand-written source behind the same interface as the appointments service's stream.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo import MongoClient

from notifier.adapters import events as ev
from notifier.adapters.lanes import LANE_TOPICS, TaskProducer
from notifier.adapters.ledger import Ledger
from notifier.adapters.store import DirectiveStore
from notifier.adapters.tally import Tally
from notifier.commands import CancelDirective, ScheduleFanOut
from notifier.domain.directives import CANCELLED, SCHEDULED, SENT, Directive
from notifier.domain.tasks import Task
from notifier.fanout import FanOut
from notifier.handlers import directives
from notifier.handlers.ports import Ports
from shared import topics
from shared.crypto.fields import VersionedIndex
from shared.orgtree.levels import booth_path
from shared.orgtree.repository import OrgRegistry
from shared.recipients import Recipient
from shared.sending import recurrence as rec
from shared.sending.policy import SendingPolicy
from tests.conftest import random_suffix
from tests.fakes.notifier import Clock, issue_command

pytestmark = pytest.mark.integration
OPTOUTS = VersionedIndex({"v1": b"o" * 32}, "v1")

IST = ZoneInfo("Asia/Kolkata")
DAY = datetime(2030, 1, 1, tzinfo=IST)
BOOTHS = [f"IN-HP-D02-A01-M01-S01-B00{i}" for i in range(1, 4)]


class SlowRecipients:
    """One booth president per booth, handed out slowly, so two fan-outs overlap for real."""

    def __init__(self):
        self.streams = 0

    def stream(self, unit_id, roles):
        self.streams += 1
        for booth in BOOTHS:
            time.sleep(0.1)
            yield Recipient(
                booth_id=booth,
                booth_path=booth_path(booth),
                appointment_id=str(uuid.uuid5(uuid.NAMESPACE_OID, booth)),
                role="booth_president",
                phone="+9198000000" + booth[-2:],
                locale="hi",
            )


@pytest.fixture
def world(settings, mongo_db, kafka_bootstrap):
    ns = f"test-rounds-{random_suffix()}"
    name = lambda topic: f"{ns}.{topic}"  # noqa: E731
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    made = [name(t.name) for t in (topics.DIRECTIVES, *LANE_TOPICS.values())]
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in made]).values():
        future.result()
    client = redis.Redis.from_url(settings.redis_url)
    clock = Clock(DAY.replace(hour=7))
    store = DirectiveStore(mongo_db, "n_")
    ports = Ports(
        store=store,
        ledger=Ledger(client, prefix=f"{ns}:", phone_key=b"k" * 32, optouts=OPTOUTS),
        tally=Tally(client, prefix=f"{ns}:"),
        events=ev.NotifierEvents(ev.publisher(kafka_bootstrap, name)),
        producer=TaskProducer(kafka_bootstrap, name),
        registry=OrgRegistry(MongoClient(settings.mongo_url)[settings.mongo_db]),
        clock=clock,
        policy=SendingPolicy(quiet_start=None),
    )
    recipients = SlowRecipients()

    def scheduler() -> FanOut:
        return FanOut(
            store=store,
            ledger=ports.ledger,
            tally=ports.tally,
            recipients=recipients,
            registry=ports.registry,
            producer=TaskProducer(kafka_bootstrap, name),
            policy=ports.policy,
            batch=2,
            clock=clock,
        )

    yield {
        "ports": ports,
        "clock": clock,
        "scheduler": scheduler,
        "recipients": recipients,
        "bulk": name(topics.DELIVERY_TASKS_BULK.name),
        "bootstrap": kafka_bootstrap,
    }
    ports.events.close()
    ports.producer.close()
    for future in admin.delete_topics(made, operation_timeout=30).values():
        future.result()
    for key in client.scan_iter(match=f"{ns}:*", count=1000):
        client.delete(key)


def issue(ports, rrule: str = "FREQ=DAILY;BYHOUR=9,11,13") -> Directive:
    now = datetime.fromtimestamp(ports.clock(), timezone.utc)
    cmd = issue_command(
        now,
        issued_by="user-hp-d02",
        issuing_unit="IN-HP-D02",
        scope=("IN-HP-D02",),
        priority="bulk",
        recurrence={"rrule": rrule, "timezone": "Asia/Kolkata", "until": None},
    )
    document, created = directives.issue_directive(cmd, ports)
    assert created
    return document


def tasks_on(world, topic: str) -> list[Task]:
    """Every task on the topic, read to its end (the producers confirmed before returning)."""
    consumer = Consumer(
        {
            "bootstrap.servers": world["bootstrap"],
            "group.id": f"test-{random_suffix()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return found
                continue
            found.append(Task.from_json(msg.value()))
    finally:
        consumer.close()
    raise AssertionError("the lane topic was not read to its end")


def job_members(ports) -> list[str]:
    return sorted(
        m.decode() for m in ports.ledger.redis.zrange(f"{ports.ledger.prefix}jobs", 0, -1)
    )


def test_two_schedulers_racing_for_one_slot_send_it_once(world):
    ports, clock = world["ports"], world["clock"]
    document = issue(ports)
    for _ in range(2):  # directive-issued delivered twice
        directives.schedule_fanout(ScheduleFanOut(document.directive_id), ports)
    nine = rec.round_id(DAY.replace(hour=9))
    assert job_members(ports) == [f"{document.directive_id}@{nine}"]
    assert ports.store.get(document.directive_id).state == SCHEDULED

    clock.set(DAY.replace(hour=9, second=1))
    first, second = world["scheduler"](), world["scheduler"]()
    start = threading.Barrier(2)

    def race(scheduler):
        start.wait()
        scheduler.run_round(
            document.directive_id, nine
        )  # both hold the job, as after a lost Redis lease

    threads = [threading.Thread(target=race, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    first.run_due()  # and whichever scheduler takes the job afterwards sends nothing more
    second.run_due()

    sent = tasks_on(world, world["bulk"])
    assert sorted(t.booth_id for t in sent) == BOOTHS
    assert {t.round for t in sent} == {nine} and len({t.delivery_id for t in sent}) == 3
    stored = ports.store.get(document.directive_id)
    assert stored.rounds[nine].state == "done" and stored.rounds[nine].targeted == 3
    assert stored.state == SCHEDULED
    eleven = f"{document.directive_id}@{rec.round_id(DAY.replace(hour=11))}"
    assert job_members(ports) == [eleven]
    assert ports.tally.snapshot(document.directive_id)["total"]["targeted"] == 3
    directives.schedule_fanout(
        ScheduleFanOut(document.directive_id), ports
    )  # the event again, after a restart
    assert job_members(ports) == [eleven]
    assert ports.store.get(document.directive_id).next_round_at == DAY.replace(hour=11).astimezone(
        timezone.utc
    )


def test_a_late_round_is_missed_the_next_goes_and_the_last_ends_the_directive(world):
    ports, clock = world["ports"], world["clock"]
    document = issue(ports)
    directives.schedule_fanout(ScheduleFanOut(document.directive_id), ports)
    scheduler = world["scheduler"]()
    clock.set(DAY.replace(hour=13, minute=5))  # the scheduler was away through 9:00 and 11:00
    while scheduler.run_due():
        pass
    stored = ports.store.get(document.directive_id)
    states = {round_id: r.state for round_id, r in stored.rounds.items()}
    assert states == {
        rec.round_id(DAY.replace(hour=9)): "missed",
        rec.round_id(DAY.replace(hour=13)): "done",
    }
    assert {t.round for t in tasks_on(world, world["bulk"])} == {rec.round_id(DAY.replace(hour=13))}
    # 13:00 was today's last slot; tomorrow's come next, then the expiry ends the rounds.
    assert stored.state == SCHEDULED and job_members(ports) == [
        f"{document.directive_id}@{rec.round_id(DAY.replace(hour=9) + timedelta(days=1))}"
    ]


def test_the_last_round_sends_the_directive_and_a_cancelled_one_sends_no_further_round(world):
    ports, clock = world["ports"], world["clock"]
    once = issue(ports, "FREQ=DAILY;BYHOUR=9;COUNT=1")
    directives.schedule_fanout(ScheduleFanOut(once.directive_id), ports)
    cancelled = issue(ports, "FREQ=DAILY;BYHOUR=10,12")
    directives.schedule_fanout(ScheduleFanOut(cancelled.directive_id), ports)
    scheduler = world["scheduler"]()
    clock.set(DAY.replace(hour=10, second=1))
    while scheduler.run_due():
        pass
    assert ports.store.get(once.directive_id).state == SENT
    directives.cancel_directive(CancelDirective(cancelled.directive_id, "user-hp-d02"), ports)
    clock.set(DAY.replace(hour=12, second=1))
    while scheduler.run_due():
        pass
    rounds = {(t.directive_id, t.round) for t in tasks_on(world, world["bulk"])}
    assert rounds == {
        (once.directive_id, rec.round_id(DAY.replace(hour=9))),
        (cancelled.directive_id, rec.round_id(DAY.replace(hour=10))),
    }
    assert ports.store.get(cancelled.directive_id).state == CANCELLED and job_members(ports) == []
