"""directive-issued through the outbox, against the real MongoDB and Kafka: an accepted directive
is announced even when Kafka was away at the time, exactly under its own event id, and a
directive that could not be stored is never announced."""

from datetime import datetime, timedelta, timezone

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from notifier.adapters import events as ev
from notifier.adapters.lanes import TaskProducer
from notifier.adapters.ledger import Ledger
from notifier.adapters.store import DirectiveStore
from notifier.adapters.tally import Tally
from notifier.commands import IssueDirective
from notifier.handlers import directives
from notifier.handlers.ports import Ports, Refused
from shared.crypto.fields import VersionedIndex
from shared.events import types
from shared.events.contracts import from_kafka
from shared.orgtree.repository import OrgRegistry
from testkit.processes import closed_port
from tests.conftest import random_suffix
from tests.fakes.notifier import issue_command

pytestmark = pytest.mark.integration
OPTOUTS = VersionedIndex({"v1": b"o" * 32}, "v1")


@pytest.fixture
def scratch(kafka_bootstrap):
    name = f"test-directives-{random_suffix()}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result()
    yield name
    admin.delete_topics([name])[name].result()


@pytest.fixture
def ports(settings, mongo_db, kafka_bootstrap):
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"test-outbox-{random_suffix()}:"
    registry = OrgRegistry(MongoClient(settings.mongo_url)[settings.mongo_db])  # the demo tree
    away = ev.NotifierEvents(
        ev.publisher(f"127.0.0.1:{closed_port()}", lambda name: name, timeout_s=1.0), timeout_s=1.0
    )
    made = Ports(
        store=DirectiveStore(mongo_db, "n_"),
        ledger=Ledger(client, prefix=prefix, phone_key=b"k" * 32, optouts=OPTOUTS),
        tally=Tally(client, prefix=prefix),
        events=away,
        producer=TaskProducer(kafka_bootstrap, lambda name: name),
        registry=registry,
    )
    yield made
    for publisher in {away, made.events}:
        try:
            publisher.close()
        except Exception:
            pass  # the unreachable broker's publisher has nothing left to confirm
    made.producer.close()
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def command() -> IssueDirective:
    now = datetime.now(timezone.utc)
    return issue_command(
        now, channels=("sms",), priority="normal", expires_at=now + timedelta(days=1)
    )


def read_all(bootstrap: str, topic: str) -> list:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{random_suffix()}"})
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found = [m for m in reader.consume(50, 3.0) if not m.error()]
    reader.close()
    return [from_kafka(m.headers(), m.key(), m.value()) for m in found]


def test_a_directive_accepted_while_kafka_is_away_is_published_by_the_relay_once(
    ports, kafka_bootstrap, scratch
):
    cmd = command()
    document, created = directives.issue_directive(cmd, ports)
    assert created and ports.store.get(cmd.directive_id).published is False

    ports.events = ev.NotifierEvents(ev.publisher(kafka_bootstrap, lambda name: scratch))
    assert directives.relay_outbox(ports) == 1
    assert directives.relay_outbox(ports) == 0, "published once, then marked"
    assert ports.store.get(cmd.directive_id).published is True
    [event] = read_all(kafka_bootstrap, scratch)
    assert event.type == types.DIRECTIVE_ISSUED and event.id == document.outbox_event_id
    assert event.data["directive_id"] == cmd.directive_id and event.key == "IN-HP"


def test_a_directive_that_could_not_be_stored_is_never_announced(
    ports, kafka_bootstrap, scratch, monkeypatch
):
    ports.events = ev.NotifierEvents(ev.publisher(kafka_bootstrap, lambda name: scratch))

    def refuse(document):
        raise PyMongoError("disk full")

    monkeypatch.setattr(ports.store, "insert", refuse)
    with pytest.raises(PyMongoError):
        directives.issue_directive(command(), ports)
    assert read_all(kafka_bootstrap, scratch) == []


def test_an_unknown_unit_is_refused_before_anything_is_stored(ports):
    cmd = command()
    with pytest.raises(Refused) as refused:
        directives.issue_directive(
            IssueDirective(**{**cmd.__dict__, "scope": ("IN-HP-D01", "IN-HP-D77")}), ports
        )
    assert refused.value.kind == "unknown-unit" and ports.store.get(cmd.directive_id) is None
