"""The OTP store against the real Redis: atomic tries under concurrency, limits, TTLs, no phones.

Each test works under its own random key prefix and deletes it afterwards.
"""

import threading
import time
import uuid
from collections import Counter

import pytest
import redis

from otp import domain
from otp.adapters.delivery import RedisStreamSink
from otp.adapters.store import OUTCOME_TTL_S, RETAIN_AFTER_EXPIRY_S, RedisCodeStore
from otp.domain import Outcome, Policy, Refusal, State
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

KEY = b"integration-test-key-0123456789abcdef"
NOW = 1_900_000_000.0  # a fixed "now": the store takes time from its caller
PHONE = "+919812345678"


@pytest.fixture
def client(settings):
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def prefix(client):
    prefix = f"test-otp-{random_suffix()}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def store(client, prefix):
    return RedisCodeStore(client, prefix=prefix, send_window_s=600)


def new_record(code="123456", appointment_id=None, now=NOW, policy=Policy()):
    request_id, appointment_id = str(uuid.uuid4()), appointment_id or str(uuid.uuid4())
    digest = domain.code_digest(
        KEY, request_id=request_id, appointment_id=appointment_id, code=code
    )
    return domain.issue(
        request_id=request_id,
        appointment_id=appointment_id,
        booth_id="IN-HP-D01-B001",
        digest=digest,
        now=now,
        policy=policy,
    )


def send(store, record, *, phone=PHONE, now=NOW, policy=Policy()):
    return store.record_send(
        record=record,
        phone_key=domain.phone_key(KEY, phone),
        now=now,
        refuse=lambda sends: domain.refuse_send(
            phone=phone, requested_at=now, sends=sends, now=now, policy=policy
        ),
    )


def try_code(store, record, code, *, appointment_id=None, now=NOW + 1, pause=0.0):
    """One try; `pause` holds the decision open so concurrent tries really overlap."""
    appointment_id = appointment_id or record.appointment_id
    digest = domain.code_digest(
        KEY, request_id=record.request_id, appointment_id=appointment_id, code=code
    )

    def decide(stored):
        time.sleep(pause)
        return domain.try_code(stored, appointment_id=appointment_id, digest=digest, now=now)

    return store.attempt(record.request_id, decide)


def all_at_once(count, action):
    """Run `action(i)` in `count` threads released together; return the results."""
    barrier, results, errors = threading.Barrier(count), [None] * count, []

    def run(i):
        try:
            barrier.wait(10)
            results[i] = action(i)
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results


def test_an_issued_code_is_stored_as_its_digest_with_the_policy_tries(store):
    record = new_record()
    assert send(store, record).issued
    assert store.load(record.request_id) == record
    assert store.load(record.request_id).attempts_left == 5


def test_concurrent_wrong_tries_are_each_counted_once_and_lock_the_code_once(store):
    record = new_record()
    send(store, record)
    results = all_at_once(20, lambda i: try_code(store, record, f"{i:06d}", pause=0.01))

    counted = [r for r in results if r.changed]
    assert len(counted) == 5, "exactly the five allowed tries changed the record"
    assert Counter(r.outcome for r in results) == {Outcome.LOCKED: 1, Outcome.REJECTED: 19}
    assert sorted(r.after.attempts_left for r in counted) == [0, 1, 2, 3, 4]
    stored = store.load(record.request_id)
    assert stored.state is State.LOCKED and stored.attempts_left == 0
    assert try_code(store, record, "123456").outcome is Outcome.REJECTED


def test_concurrent_right_codes_verify_exactly_once(store):
    record = new_record()
    send(store, record)
    results = all_at_once(12, lambda i: try_code(store, record, "123456", pause=0.01))
    assert Counter(r.outcome for r in results) == {Outcome.VERIFIED: 1, Outcome.REJECTED: 11}
    assert store.load(record.request_id).state is State.USED


def test_under_a_storm_of_guesses_the_right_code_wins_only_within_the_allowed_tries(store):
    for n in range(5):
        record = new_record()
        assert send(store, record, phone=f"+9198000000{n:02d}").issued
        results = all_at_once(
            16,
            lambda i: try_code(store, record, "123456" if i == 8 else f"{900000 + i}", pause=0.01),
        )
        counted = [r for r in results if r.changed]
        assert len(counted) <= 5
        verified = [r for r in results if r.outcome is Outcome.VERIFIED]
        locked = [r for r in results if r.outcome is Outcome.LOCKED]
        assert len(verified) + len(locked) == 1, "the code ends either used or locked, never both"


def test_a_try_decided_on_a_record_read_before_another_try_is_decided_again(store):
    record = new_record()
    send(store, record)
    assert try_code(store, record, "000000").outcome is Outcome.REJECTED  # after `record` was read
    decided_on = []

    def decide(stored):
        decided_on.append(stored.attempts_left)
        return domain.try_code(
            stored, appointment_id=record.appointment_id, digest=record.digest, now=NOW + 1
        )

    attempt = store.attempt(record.request_id, decide, seen=record)
    assert decided_on == [5, 4], (
        "the stale decision was not written; the fresh record was decided on"
    )
    assert attempt.outcome is Outcome.VERIFIED and attempt.before.attempts_left == 4
    assert store.load(record.request_id) == attempt.after


def test_a_try_counts_the_call_and_reads_the_record_in_one_step(store):
    record = new_record()
    send(store, record)
    assert store.count_call_and_load("svc:c", record.request_id, NOW)[::2] == (1, record)
    assert store.count_call_and_load("svc:c", str(uuid.uuid4()), NOW)[::2] == (2, None)


def test_a_wrong_appointment_spends_a_try(store):
    record = new_record()
    send(store, record)
    assert (
        try_code(store, record, "123456", appointment_id=str(uuid.uuid4())).outcome
        is Outcome.REJECTED
    )
    assert store.load(record.request_id).attempts_left == 4


def test_a_new_request_for_the_appointment_replaces_the_previous_code(store):
    first = new_record("111111")
    second = new_record("222222", appointment_id=first.appointment_id)
    send(store, first, phone="+919800000001")
    send(store, second, phone="+919800000002")
    assert store.load(first.request_id) is None
    assert try_code(store, first, "111111").outcome is Outcome.REJECTED
    assert try_code(store, second, "222222").outcome is Outcome.VERIFIED


def test_a_request_is_handled_once_whatever_the_redeliveries(store):
    record = new_record()
    results = all_at_once(6, lambda i: send(store, record))
    assert sum(r.issued for r in results) == 1
    assert all(r.duplicate for r in results if not r.issued)
    again = send(store, new_record())  # a different request to the same phone: in the cooldown
    assert not again.issued and again.failure.refusal == Refusal.COOLDOWN.value


def test_five_sends_per_phone_per_window_and_the_sixth_refused_and_remembered(store):
    policy = Policy(resend_cooldown_s=0)
    results = [send(store, new_record(), now=NOW + i, policy=policy) for i in range(6)]
    assert [r.issued for r in results] == [True] * 5 + [False]
    assert results[5].failure.reason == "rejected" and results[5].failure.refusal == "rate_limit"
    assert send(store, new_record(), phone="+919800000009", now=NOW + 6, policy=policy).issued, (
        "other phones unaffected"
    )
    assert send(store, new_record(), now=NOW + 601, policy=policy).issued, "the window slides"


def test_the_cooldown_refuses_a_second_code_to_a_phone_for_thirty_seconds(store):
    assert send(store, new_record()).issued
    refused = send(store, new_record(), now=NOW + 29)
    assert not refused.issued and refused.failure.refusal == "cooldown"
    assert send(store, new_record(), now=NOW + 30).issued


def test_a_try_put_back_restores_the_code_as_it_was(store):
    record = new_record()
    send(store, record)
    attempt = try_code(store, record, "123456")
    assert store.load(record.request_id).state is State.USED
    assert store.put_back(attempt)
    assert store.load(record.request_id) == record
    assert not store.put_back(attempt), "nothing to undo once the record moved on"


def test_calls_are_counted_per_caller_per_minute(store):
    assert [store.count_call("svc:a", NOW)[0] for _ in range(3)] == [1, 2, 3]
    assert store.count_call("svc:b", NOW)[0] == 1
    calls, retry_after = store.count_call("svc:a", NOW + 60)
    assert calls == 1 and 0 < retry_after <= 60


def test_every_key_has_a_ttl_and_no_key_or_value_holds_the_phone(client, prefix, store):
    now = time.time()  # real time: TTLs are checked against the server's clock
    record = new_record(now=now)
    send(store, record, now=now)
    send(store, new_record(now=now), now=now + 1)  # refused, remembered
    try_code(store, record, "999999", now=now + 2)
    try_code(store, new_record(now=now), "999999", now=now + 2)  # unknown: writes the decoy
    store.count_call("svc:appointments", now)
    store.mark_undeliverable(str(uuid.uuid4()), now)
    sink = RedisStreamSink(
        client, key=prefix + "dev-sink", maxlen=100, ttl_s=3600, prefixes=("+91",)
    )
    sink.deliver(
        request_id=record.request_id,
        appointment_id=record.appointment_id,
        booth_id=record.booth_id,
        phone=PHONE,
        channel="sms",
        locale="en",
        text="123456 is your code",
    )

    keys = sorted(k.decode() for k in client.scan_iter(match=prefix + "*"))
    kinds = {k[len(prefix) :].split(":")[0] for k in keys}
    assert kinds == {"code", "current", "outcome", "sends", "calls", "dev-sink", "decoy"}
    longest = max(OUTCOME_TTL_S, 600 + RETAIN_AFTER_EXPIRY_S)
    for key in keys:
        assert 0 < client.ttl(key) <= longest, key
        assert PHONE[1:] not in key and PHONE[3:] not in key
    for key in keys:
        kind = client.type(key).decode()
        dump = {
            "string": lambda: client.get(key),
            "hash": lambda: client.hgetall(key),
            "zset": lambda: client.zrange(key, 0, -1),
            "stream": lambda: client.xrange(key),
        }[kind]()
        assert PHONE[3:].encode() not in repr(dump).encode(), key
    assert sink.deliveries(record.appointment_id)[0]["phone"] == "+91********78"
