"""One contract, two code stores: every test body runs against the in-memory fake the handler
tests use (tests/fakes/otp.py) and against the real Redis store, so the fake cannot drift."""

import uuid

import pytest
import redis

from otp import domain
from otp.adapters.store import RedisCodeStore
from otp.domain import Outcome, Policy, Refusal, State
from tests.conftest import random_suffix
from tests.fakes.otp import InMemoryCodeStore

pytestmark = pytest.mark.integration

KEY = b"contract-test-key-0123456789abcdef"
NOW = 1_900_000_000.0
WINDOW_S = 600


@pytest.fixture(params=["in-memory", "redis"])
def store(request, settings):
    if request.param == "in-memory":
        yield InMemoryCodeStore(send_window_s=WINDOW_S)
        return
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    prefix = f"test-contract-{random_suffix()}:"
    yield RedisCodeStore(client, prefix=prefix, send_window_s=WINDOW_S)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def record(appointment_id: str | None = None, code: str = "123456") -> domain.CodeRecord:
    request_id, appointment_id = str(uuid.uuid4()), appointment_id or str(uuid.uuid4())
    digest = domain.code_digest(
        KEY, request_id=request_id, appointment_id=appointment_id, code=code
    )
    return domain.issue(
        request_id=request_id,
        appointment_id=appointment_id,
        booth_id="IN-HP-D01-A01-M01-S01-B001",
        digest=digest,
        now=NOW,
        policy=Policy(),
    )


def send(store, rec, *, phone_key="phone-a", now=NOW, refusal=None, seen=None):
    def refuse(times):
        if seen is not None:
            seen.append(times)
        return refusal

    return store.record_send(record=rec, phone_key=phone_key, now=now, refuse=refuse)


def right_try(rec, now=NOW):
    digest = domain.code_digest(
        KEY, request_id=rec.request_id, appointment_id=rec.appointment_id, code="123456"
    )
    return lambda stored: domain.try_code(
        stored, appointment_id=rec.appointment_id, digest=digest, now=now
    )


def test_a_code_is_issued_once_and_the_same_request_again_is_a_duplicate(store):
    rec = record()
    assert send(store, rec).issued
    again = send(store, rec)
    assert (again.issued, again.duplicate, again.failure) == (False, True, None)
    assert store.load(rec.request_id) == rec


def test_a_refused_send_is_remembered_as_rejected(store):
    rec = record()
    refused = send(store, rec, refusal=Refusal.COOLDOWN)
    assert (
        not refused.issued
        and refused.failure.reason == "rejected"
        and refused.failure.refusal == "cooldown"
    )
    assert send(store, rec).failure == refused.failure, "the request keeps its first outcome"
    assert store.load(rec.request_id) is None


def test_refuse_is_given_the_phones_sends_within_the_window_only(store):
    send(store, record(), now=NOW - WINDOW_S - 1)
    send(store, record(), now=NOW - 10)
    seen: list = []
    send(store, record(), now=NOW, seen=seen)
    assert seen == [[NOW - 10]]


def test_a_new_code_for_the_appointment_makes_the_previous_one_useless(store):
    first = record()
    second = record(appointment_id=first.appointment_id)
    send(store, first)
    send(store, second, phone_key="phone-b")
    assert store.load(first.request_id) is None and store.load(second.request_id) == second


def test_an_undeliverable_code_is_forgotten_and_its_request_remembered(store):
    rec = record()
    send(store, rec)
    failure = store.mark_undeliverable(rec.request_id, NOW + 1)
    assert failure.reason == "undeliverable" and store.load(rec.request_id) is None
    assert send(store, rec).failure == failure


def test_calls_are_counted_per_caller_per_window_with_the_record(store):
    rec = record()
    send(store, rec)
    store.count_calls_and_load(["svc", "svc>user-1"], rec.request_id, NOW)
    calls, left, loaded = store.count_calls_and_load(["svc", "svc>user-2"], rec.request_id, NOW)
    assert calls == [2, 1] and loaded == rec
    assert left == (int(NOW // 60) + 1) * 60 - NOW
    assert store.count_calls_and_load(["svc"], rec.request_id, NOW + 60)[0] == [1], "a new window"


def test_a_try_stores_what_was_decided(store):
    rec = record()
    send(store, rec)
    attempt = store.attempt(rec.request_id, right_try(rec))
    assert attempt.outcome is Outcome.VERIFIED and store.load(rec.request_id).state is State.USED


def test_a_try_decided_on_a_stale_read_is_decided_again_on_what_is_stored(store):
    rec = record()
    send(store, rec)
    store.attempt(rec.request_id, right_try(rec))  # used meanwhile
    again = store.attempt(rec.request_id, right_try(rec), seen=rec)
    assert again.outcome is Outcome.REJECTED, "a code is used at most once"


def test_a_try_on_an_unknown_request_stores_nothing_there(store):
    rec = record()
    attempt = store.attempt(rec.request_id, right_try(rec))
    assert attempt.outcome is Outcome.REJECTED and store.load(rec.request_id) is None


def test_a_try_is_put_back_only_if_nothing_changed_since(store):
    rec = record()
    send(store, rec)
    attempt = store.attempt(rec.request_id, right_try(rec))
    assert store.put_back(attempt) and store.load(rec.request_id) == rec
    used = store.attempt(rec.request_id, right_try(rec))
    send(
        store, record(appointment_id=rec.appointment_id), phone_key="phone-b"
    )  # replaced meanwhile
    assert not store.put_back(used)
