"""The sending steps against the real Redis ledger, with hand-written channels behind the same
interface as the HTTP ones: duplicates send once, transient failures wait with backoff, permanent
ones fall back to the next channel or are dead-lettered, daily caps move recipients to SMS,
and opted-out, cancelled, expired or out-of-window tasks are not sent."""

import asyncio
import json
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from datetime import time as clock_time

import pytest
import redis

from notifier.adapters.channels import ACCEPTED, PERMANENT, TRANSIENT, Outcome
from notifier.adapters.ledger import Ledger
from notifier.adapters.tally import Tally
from notifier.domain.acks import AckLinks
from notifier.domain.directives import Directive
from notifier.domain.pacing import Pacer
from notifier.domain.tasks import Task, delivery_id
from notifier.handlers.ports import Ports
from notifier.lane_workers import Lane, LaneWorkers, not_sent
from notifier.sending import DirectiveCache, Sender
from shared.crypto.fields import VersionedIndex
from shared.sending.policy import SendingPolicy
from tests.conftest import random_suffix
from tests.fakes.notifier import RecordingEvents, RecordingLanes, directive_task

pytestmark = pytest.mark.integration
OPTOUTS = VersionedIndex({"v1": b"o" * 32}, "v1")

BOOTH = "IN-HP-D01-A01-M01-S01-B001"
DIRECTIVE_ID = str(uuid.uuid4())


class ScriptedChannel:
    """A channel whose provider answers from a script: phone -> outcome kinds, one per call."""

    def __init__(self, name: str, script: dict[str, list[str]] | None = None):
        self.name, self.script, self.calls = name, script or {}, []
        self._pacer = Pacer([f"{name}-1", f"{name}-2"], rate=1000)

    def pacer(self, task):
        return self._pacer

    def sender(self, task, phone_hash, salt=0):
        return self._pacer.sender_for(phone_hash, salt)

    async def send(self, client, task, message, sender):
        self.calls.append((task.phone, sender, message.kind))
        kinds = self.script.get(task.phone, [])
        kind = kinds.pop(0) if kinds else ACCEPTED
        if kind == ACCEPTED:
            return Outcome(ACCEPTED, provider_id=f"pm-{uuid.uuid4().hex}")
        return Outcome(kind, code="131026" if kind == PERMANENT else "131000", retry_after_s=None)


@pytest.fixture
def ledger(settings):
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"test-send-{random_suffix()}:"
    yield Ledger(client, prefix=prefix, phone_key=b"k" * 32, optouts=OPTOUTS)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def make_sender(
    ledger, *, whatsapp=None, sms=None, policy=None, cap=1000, max_attempts=3, clock=time.time
):
    channels = {
        "whatsapp": whatsapp or ScriptedChannel("whatsapp"),
        "sms": sms or ScriptedChannel("sms"),
    }
    now = datetime.now(timezone.utc)
    directive = Directive(
        directive_id=DIRECTIVE_ID,
        issued_by="user-hp",
        issuing_unit="IN-HP",
        title={"en": "T", "hi": "टी"},
        body={"en": "B", "hi": "बी"},
        scope=("IN-HP",),
        audience=("booth_president",),
        channels=("whatsapp", "sms"),
        priority="normal",
        send_at=None,
        expires_at=now + timedelta(days=1),
        issued_at=now,
        recurrence=None,
    )
    policy = replace(
        policy or SendingPolicy(quiet_start=None),
        max_attempts=max_attempts,
        backoff_base_s=1,
        backoff_cap_s=8,
        whatsapp_daily_cap=cap,
    )
    ports = Ports(
        store=None,
        ledger=ledger,
        tally=Tally(ledger.redis, prefix=ledger.prefix),
        events=None,
        producer=None,
        registry=None,
        clock=clock,
        policy=policy,
        channels=channels,
        texts=DirectiveCache(lambda _: directive),
        links=AckLinks(b"a" * 32, "http://n"),
        rand=lambda: 0.5,
    )
    return Sender(ports, client=None), channels


def task(phone: str, **overrides) -> Task:
    recipient = overrides.pop("recipient_id", str(uuid.uuid5(uuid.NAMESPACE_OID, phone)))
    # Overrides after the ids are made: a task may name another directive under the same id.
    made = directive_task(
        DIRECTIVE_ID, recipient, phone=phone, booth_id=BOOTH, expires_at=time.time() + 3600
    )
    return replace(made, **overrides)


def deliver(sender, tasks):
    settlement = asyncio.run(sender.deliver(tasks))
    sender.ports.ledger.settle(
        sent=settlement.sent, failed=settlement.failed, released=settlement.released
    )
    return settlement


def test_a_task_repeated_in_a_batch_or_later_is_sent_once(ledger):
    sender, channels = make_sender(ledger)
    one = task("+919800000001")
    first = deliver(sender, [one, one, one])
    again = deliver(sender, [one])
    assert len(channels["whatsapp"].calls) == 1 and len(first.sent) == 1
    assert first.skipped["duplicate"] == 2 and again.skipped["duplicate"] == 1 and not again.sent
    assert ledger.done(one.delivery_id).startswith("sent:")


def test_a_transient_failure_waits_with_backoff_and_gives_up_to_the_next_channel_after_max_attempts(
    ledger,
):
    phone = "+919800000002"
    sender, channels = make_sender(
        ledger, whatsapp=ScriptedChannel("whatsapp", {phone: [TRANSIENT] * 3})
    )
    first = deliver(sender, [task(phone)])
    [(retry, at)] = first.deferred
    assert retry.attempt == 1 and 0 < at - time.time() <= 1.0  # rand 0.5 of base 1 s
    assert ledger.done(retry.delivery_id) is None, "released, so the retry may send"
    second = deliver(sender, [retry])
    [(retry2, at2)] = second.deferred
    assert retry2.attempt == 2 and 0.5 < at2 - time.time() <= 1.0
    last = deliver(sender, [retry2])
    assert not last.deferred and [code for _, code in last.failed] == ["131000"]
    [fallback] = last.fallbacks
    assert fallback.channel == "sms" and fallback.delivery_id == delivery_id(
        DIRECTIVE_ID, retry.recipient_id, "sms"
    )
    [event] = [e for e in last.events if e]
    assert event[2]["status"] == "failed" and event[2]["error"] == {
        "code": "131000",
        "retryable": True,
    }


def test_a_permanent_failure_falls_back_to_sms_and_on_the_last_channel_is_dead_lettered(ledger):
    phone = "+919800000003"
    sender, channels = make_sender(
        ledger,
        whatsapp=ScriptedChannel("whatsapp", {phone: [PERMANENT]}),
        sms=ScriptedChannel("sms", {phone: [PERMANENT]}),
    )
    first = deliver(sender, [task(phone)])
    [fallback] = first.fallbacks
    assert not first.dead and ledger.done(first.failed[0][0].delivery_id) == "failed:131026"
    second = deliver(sender, [fallback])
    assert not second.fallbacks and [(t.channel, code) for t, code in second.dead] == [
        ("sms", "131026")
    ]


def test_past_a_numbers_daily_cap_of_unique_recipients_the_message_goes_by_sms(ledger):
    sender, channels = make_sender(ledger, cap=1)
    phones = [f"+9198000001{i:02d}" for i in range(12)]
    settlement = deliver(sender, [task(p) for p in phones])
    by_number = {}
    for phone, number, _ in channels["whatsapp"].calls:
        by_number.setdefault(number, set()).add(phone)
    assert all(len(reached) == 1 for reached in by_number.values()) and len(by_number) == 2
    assert len(settlement.fallbacks) == 10 and {t.channel for t in settlement.fallbacks} == {"sms"}
    assert settlement.skipped["daily_cap"] == 10
    repeat = [p for number, reached in by_number.items() for p in reached][0]
    other = task(repeat, recipient_id=str(uuid.uuid4()))  # the same person, another message today
    assert deliver(sender, [other]).sent, (
        "someone already reached today is not a new unique recipient"
    )


def test_a_numbers_unique_recipients_are_counted_over_a_rolling_24_hours_not_a_calendar_day(ledger):
    day = 86400
    t0 = 1_800_000_000 // day * day + 23 * 3600  # 23:00 UTC: the next two hours cross midnight
    assert ledger.admit([("n1", "a")], cap=2, now=t0) == [True]
    assert ledger.admit([("n1", "b")], cap=2, now=t0 + 3600) == [True]
    assert ledger.admit([("n1", "c")], cap=2, now=t0 + 7200) == [False], (
        "a new UTC day is not a new window"
    )
    assert ledger.admit([("n1", "a")], cap=2, now=t0 + 7200) == [True], (
        "someone already reached is not new"
    )
    assert ledger.admit([("n2", "c")], cap=2, now=t0 + 7200) == [True], (
        "each number has its own window"
    )
    assert ledger.cap_frees_at("n1") == t0 + 3600 + day  # a was reached again, so b is the oldest
    assert ledger.admit([("n1", "c")], cap=2, now=t0 + 3600 + day + 1) == [True]


def test_past_the_cap_a_message_with_no_other_channel_waits_until_its_number_has_room(ledger):
    now = time.time()
    sender, channels = make_sender(ledger, cap=1, clock=lambda: now)
    phones = [f"+9198000003{i:02d}" for i in range(12)]
    settlement = deliver(sender, [task(p, channels=("whatsapp",)) for p in phones])
    assert len(settlement.sent) == 2 and not settlement.fallbacks
    assert len(settlement.deferred) == 10 and {at for _, at in settlement.deferred} == {now + 86400}


def test_opted_out_cancelled_and_expired_tasks_are_not_sent(ledger):
    sender, channels = make_sender(ledger)
    opted = task("+919800000201")
    ledger.opt_out(opted.phone)
    cancelled_directive = str(uuid.uuid4())
    ledger.cancel(cancelled_directive)
    cancelled = task("+919800000202", directive_id=cancelled_directive)
    expired = task("+919800000203", expires_at=time.time() - 1)
    settlement = deliver(sender, [opted, cancelled, expired])
    assert not channels["whatsapp"].calls and not settlement.sent
    assert settlement.skipped == {"opted_out": 1, "cancelled": 1, "expired": 1}


def test_a_task_outside_its_sending_window_waits_for_it_and_an_otp_does_not(ledger):
    from datetime import datetime

    from shared.sending.policy import IST

    now = datetime.now(IST)
    quiet = SendingPolicy(
        quiet_start=clock_time((now.hour - 1) % 24), quiet_end=clock_time((now.hour + 1) % 24)
    )
    sender, channels = make_sender(ledger, policy=quiet)
    waiting = task("+919800000301")
    code = task(
        "+919800000302", send="otp", text="123456 is your code", campaign=False, lane="urgent"
    )
    settlement = deliver(sender, [waiting, code])
    [(parked, opens)] = settlement.deferred
    assert parked == waiting and 0 < opens - time.time() <= 2 * 3600
    assert [c[0] for c in channels["whatsapp"].calls] == [code.phone]


def test_in_the_48_hours_before_the_close_of_poll_every_campaign_message_waits_and_an_otp_does_not(
    ledger,
):
    from datetime import datetime, timedelta, timezone

    close = datetime.now(timezone.utc) + timedelta(hours=20)
    sender, channels = make_sender(
        ledger, policy=SendingPolicy(quiet_start=None, polls={"IN-HP-D01": close})
    )
    held = [
        task("+919800000311", lane="urgent"),
        task("+919800000312", lane="normal", channels=("sms",)),
        task("+919800000313", lane="bulk"),
        task("+919800000314", lane="urgent", quiet_hours_override=True),
    ]
    code = task(
        "+919800000315", send="otp", text="123456 is your code", campaign=False, lane="urgent"
    )
    settlement = deliver(sender, [*held, code])
    assert sorted(t.phone for t, _ in settlement.deferred) == sorted(t.phone for t in held)
    assert {opens for _, opens in settlement.deferred} == {close.timestamp()}
    assert [c[0] for c in channels["whatsapp"].calls] == [code.phone] and not channels["sms"].calls


def test_a_failure_reported_after_the_provider_accepted_falls_back_to_the_next_channel_once(
    ledger, scratch, kafka_bootstrap
):
    from confluent_kafka import Consumer, KafkaError

    from notifier.adapters.lanes import TaskProducer
    from notifier.handlers.receipts import fall_back_late

    topic = scratch()
    producer = TaskProducer(kafka_bootstrap, lambda _: topic)
    sender, _ = make_sender(ledger)
    late, reached, single = (
        task("+919800000401"),
        task("+919800000402"),
        task("+919800000403", channels=("whatsapp",)),
    )
    sent = dict(
        (t.phone, provider_id) for t, provider_id in deliver(sender, [late, reached, single]).sent
    )
    report = lambda phone, status: {"message_id": sent[phone], "status": status}  # noqa: E731

    fall_back_late([report(reached.phone, "delivered")], ledger, producer)
    queued = [
        fall_back_late(
            [report(p, "failed") for p in (late.phone, reached.phone, single.phone)],
            ledger,
            producer,
        )
        for _ in range(2)
    ]  # the provider calls twice
    producer.close()
    assert queued == [1, 0], "only the undelivered message with a channel left falls back, and once"

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"test-{random_suffix()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() and msg.error().code() == KafkaError._PARTITION_EOF:
            break
        if msg is not None and not msg.error():
            found.append(Task.from_json(msg.value()))
    consumer.close()
    [fallback] = found
    assert (fallback.phone, fallback.channel) == (late.phone, "sms")
    assert fallback.delivery_id == delivery_id(DIRECTIVE_ID, late.recipient_id, "sms")
    again = deliver(sender, [fallback, fallback])
    assert len(again.sent) == 1 and again.skipped["duplicate"] == 1


def test_the_lane_log_names_why_each_task_of_a_batch_was_not_sent_without_a_phone(ledger):
    """An OTP code to a number the provider refuses for good on its only channel is failed and
    dead-lettered: the batch's log line says so, by delivery id, as it says which tasks were
    duplicates, retried or opted out."""
    refused, flaky, opted = "+919800000301", "+919800000302", "+919800000303"
    sender, _ = make_sender(
        ledger,
        sms=ScriptedChannel("sms", {refused: [PERMANENT]}),
        whatsapp=ScriptedChannel("whatsapp", {flaky: [TRANSIENT]}),
    )
    ledger.opt_out(opted)
    dead = task(refused, channels=("sms",))
    retried, sent, out = task(flaky), task("+919800000304"), task(opted)
    settlement = deliver(sender, [dead, retried, sent, sent, out])
    logged = not_sent(settlement)
    assert logged == {
        "duplicate": {"tasks": 1, "delivery_ids": [sent.delivery_id]},
        "failed:131026": {"tasks": 1, "delivery_ids": [dead.delivery_id]},
        "opted_out": {"tasks": 1, "delivery_ids": [out.delivery_id]},
        "retry:131000": {"tasks": 1, "delivery_ids": [retried.delivery_id]},
    }
    assert len(settlement.sent) == 1
    assert not any(phone in json.dumps(logged) for phone in (refused, flaky, opted))


class MoverAtOnce(Ledger):
    """The real ledger, with the mover putting each retry back on its lane and the next batch
    claiming it the moment the retry is written (the mover runs every quarter second)."""

    next_claims: list[int] = []

    def defer(self, tasks):
        super().defer(tasks)
        self.next_claims = self.claim([task.delivery_id for task, _ in tasks], "next-batch")


def test_a_retry_the_mover_brings_back_at_once_is_claimed_not_parked_behind_its_own_lease(ledger):
    racing = MoverAtOnce(ledger.redis, prefix=ledger.prefix, phone_key=b"k" * 32, optouts=OPTOUTS)
    phone = "+919800000401"
    sender, _ = make_sender(racing, sms=ScriptedChannel("sms", {phone: [TRANSIENT]}))
    code = task(phone, channels=("sms",))
    settlement = asyncio.run(sender.deliver([code]))
    lane = Lane(
        "urgent", consumer=None, producer=RecordingLanes(), events=RecordingEvents(), concurrency=1
    )
    workers = LaneWorkers(
        [lane],
        sender.ports,
        None,
        "dead",
        seal=None,
        batch=10,
        provider_url="http://x",
        provider_timeout_s=1,
    )
    workers._apply(lane, settlement, {})
    assert [retry.delivery_id for retry, _ in settlement.deferred] == [code.delivery_id]
    assert racing.next_claims == [1], "the retry waited LEASE_S behind the lease of its first try"
