"""One contract, two implementations: every test body runs against the notifier's in-memory ports
the handler tests use (tests/fakes/notifier.py) and against the real adapters (the directive
store on MongoDB, i.e. FerretDB; the ledger and the tally on Redis), so the fakes cannot drift
from what the real ones do."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import redis

from notifier.adapters.events import acknowledged, delivery_status
from notifier.adapters.ledger import Ledger
from notifier.adapters.store import DirectiveStore
from notifier.adapters.tally import Tally
from notifier.domain.directives import (
    ACCEPTED,
    AWAIT_ROUND,
    CANCEL,
    CANCELLED,
    FINISH,
    SCHEDULE,
    SCHEDULED,
    SENDING,
    SENT,
    START,
    Directive,
    DuplicateDirective,
)
from notifier.domain.tasks import DIRECTIVE, OTP, PERSONAL, Task, delivery_id
from shared.crypto.fields import VersionedIndex
from shared.orgtree.levels import booth_path
from tests.conftest import random_suffix
from tests.fakes.notifier import InMemoryDirectives, InMemoryLedger, InMemoryTally, issue_command

pytestmark = pytest.mark.integration

# A keyring before and after a rotation: opt-outs recorded under the old key are still found.
OLD_KEYS = VersionedIndex({"v1": b"o" * 32}, "v1")
KEYS = VersionedIndex({"v1": b"o" * 32, "v2": b"p" * 32}, "v2")
NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)  # whole seconds: MongoDB keeps milliseconds
BOOTH = "IN-HP-D01-A01-M01-S01-B001"
OTHER_BOOTH = "IN-HP-D02-A01-M01-S01-B001"
DAILY = {"rrule": "FREQ=DAILY;BYHOUR=9,13", "timezone": "Asia/Kolkata", "until": None}


@pytest.fixture(params=["in-memory", "mongodb"])
def store(request):
    if request.param == "in-memory":
        return InMemoryDirectives()
    return DirectiveStore(request.getfixturevalue("mongo_db"), "n_")


@pytest.fixture
def redis_prefix(settings):
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    prefix = f"test-notifier-contract-{random_suffix()}:"
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["in-memory", "redis"])
def ledger(request):
    if request.param == "in-memory":
        return InMemoryLedger(OLD_KEYS)
    client, prefix = request.getfixturevalue("redis_prefix")
    return Ledger(client, prefix=prefix, phone_key=b"k" * 32, optouts=OLD_KEYS)


@pytest.fixture(params=["in-memory", "redis"])
def tally(request):
    if request.param == "in-memory":
        return InMemoryTally()
    client, prefix = request.getfixturevalue("redis_prefix")
    return Tally(client, prefix=prefix)


def directive(*, recurrence: dict | None = None, scope=("IN-HP-D01",), **changes) -> Directive:
    cmd = issue_command(NOW, scope=tuple(scope), recurrence=recurrence)
    return replace(Directive.issue(cmd, NOW, event_id=str(uuid.uuid4())), **changes)


def task(recipient_id: str | None = None, channels=("whatsapp", "sms")) -> Task:
    recipient_id = recipient_id or str(uuid.uuid4())
    directive_id = str(uuid.uuid4())
    return Task(
        delivery_id=delivery_id(directive_id, recipient_id, channels[0], DIRECTIVE),
        send=DIRECTIVE,
        lane="urgent",
        booth_id=BOOTH,
        booth_path=booth_path(BOOTH),
        recipient_id=recipient_id,
        phone="+919800000001",
        locale="hi",
        channels=channels,
        directive_id=directive_id,
        expires_at=NOW.timestamp() + 86400,
    )


# --- the directive store -----------------------------------------------------------------------


def test_a_directive_reads_back_as_stored_and_a_second_insert_of_its_id_is_refused(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    with pytest.raises(DuplicateDirective):
        store.insert(replace(issued, title={"en": "Something else"}))
    assert store.get(issued.directive_id) == issued
    assert store.get(str(uuid.uuid4())) is None


def test_a_move_is_made_only_from_its_before_states(store):
    issued = directive()
    store.insert(issued)
    scheduled = store.move(issued.directive_id, SCHEDULE)
    assert scheduled.state == SCHEDULED and store.get(issued.directive_id).state == SCHEDULED
    assert store.move(issued.directive_id, SCHEDULE) is None, "scheduled is not accepted"
    assert store.move(issued.directive_id, FINISH) is None, "only a sending directive finishes"
    assert store.move(issued.directive_id, START).state == SENDING
    sent = store.move(issued.directive_id, FINISH, fanned_out_at=NOW)
    assert sent.state == SENT and sent.fanned_out_at == NOW
    assert store.move(issued.directive_id, CANCEL) is None, "a sent directive is not cancelled"
    assert store.get(issued.directive_id).state == SENT
    assert store.move(str(uuid.uuid4()), CANCEL) is None


def test_a_cancelled_directive_stays_cancelled(store):
    issued = directive()
    store.insert(issued)
    assert store.move(issued.directive_id, CANCEL, cancelled_by="user-hp").state == CANCELLED
    assert store.move(issued.directive_id, START) is None
    assert store.move(issued.directive_id, CANCEL) is None
    store.next_round(issued.directive_id, NOW + timedelta(hours=1))
    assert store.get(issued.directive_id).state == CANCELLED


def test_published_directives_leave_the_outbox(store):
    first, second = directive(), directive()
    store.insert(first)
    store.insert(second)
    waiting = {unpublished.directive_id for unpublished in store.unpublished()}
    assert waiting == {first.directive_id, second.directive_id}
    store.mark_published(first.directive_id)
    assert [waiting.directive_id for waiting in store.unpublished()] == [second.directive_id]
    assert store.get(first.directive_id).published and not store.get(second.directive_id).published


def test_running_recurring_directives_come_back_as_directives(store):
    running, single = directive(recurrence=DAILY), directive()
    cancelled = directive(recurrence=DAILY)
    for issued in (running, single, cancelled):
        store.insert(issued)
    store.move(cancelled.directive_id, CANCEL)
    found = store.recurring()
    assert [recurring.directive_id for recurring in found] == [running.directive_id]
    assert found[0].rule().per_day == 2 and found[0].scope == ("IN-HP-D01",)


def test_between_rounds_a_directive_waits_for_its_next_slot(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    slot = NOW + timedelta(hours=5)
    store.next_round(issued.directive_id, slot)
    waiting = store.get(issued.directive_id)
    assert waiting.state == AWAIT_ROUND.after and waiting.next_round_at == slot
    assert waiting.next_due == slot


def test_audit_entries_are_kept_per_subject(store):
    subject = str(uuid.uuid4())
    store.audit("quiet-hours-override", actor="user-hp", subject=subject, reason="flood")
    store.audit("cancel", actor="user-hp-d01", subject=subject)
    store.audit("cancel", actor="user-hp", subject=str(uuid.uuid4()))
    entries = store.audit_entries(subject)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("quiet-hours-override", "user-hp"),
        ("cancel", "user-hp-d01"),
    ]
    assert entries[0]["reason"] == "flood"


def test_an_opt_out_is_recorded_once_under_its_key(store):
    key = f"v1:{uuid.uuid4().hex}"
    store.record_optout(key, via="reply", channel="whatsapp")
    store.record_optout(key, via="link", channel="sms")
    assert store.optout_keys() == [key]


def test_follow_ups_are_recorded_on_the_directive(store):
    issued = directive()
    store.insert(issued)
    store.record_reminders(issued.directive_id, 7)
    store.record_escalations(issued.directive_id, {"IN-HP-D01-A01-M01-S01": 2})
    done = store.get(issued.directive_id).follow_ups
    assert done.reminders == 7 and done.escalations == {"IN-HP-D01-A01-M01-S01": 2}
    assert done.reminded_at is not None and done.escalated_at is not None


def test_sent_directives_not_yet_expired_are_found_for_follow_ups(store):
    sent, waiting = directive(), directive()
    expired = directive(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
    for issued in (sent, waiting, expired):
        store.insert(issued)
    for issued in (sent, expired):
        store.move(issued.directive_id, START)
        store.move(issued.directive_id, FINISH, fanned_out_at=NOW)
    assert [found.directive_id for found in store.sent_since((SENT,))] == [sent.directive_id]
    assert store.get(waiting.directive_id).state == ACCEPTED


# --- the delivery ledger -----------------------------------------------------------------------


def test_a_cancelled_directive_is_named_among_others(ledger):
    cancelled, running = str(uuid.uuid4()), str(uuid.uuid4())
    ledger.cancel(cancelled)
    assert ledger.cancelled([cancelled, running, cancelled]) == {cancelled}
    assert ledger.cancelled([]) == set()


def test_a_fan_out_job_scheduled_again_keeps_its_first_due_time(ledger):
    job = str(uuid.uuid4())
    start = 1_000_000_000.0 + int(uuid.uuid4().int % 1000)  # apart from other tests' jobs
    ledger.schedule_fanout(job, start + 100)
    ledger.schedule_fanout(job, start + 10)  # a redelivered directive-issued moves nothing
    assert ledger.take_due_fanout(start + 50, lease_s=30) is None
    assert ledger.take_due_fanout(start + 100, lease_s=30) == job
    assert ledger.take_due_fanout(start + 110, lease_s=30) is None, "taken: leased until 130"


def test_an_acknowledgement_is_marked_once_and_may_be_marked_again_once_unmarked(ledger):
    directive_id, recipient = str(uuid.uuid4()), str(uuid.uuid4())
    assert ledger.mark_acknowledged(directive_id, recipient, "link")
    assert not ledger.mark_acknowledged(directive_id, recipient, "reply")
    assert ledger.mark_acknowledged(directive_id, str(uuid.uuid4()), "link"), "per recipient"
    ledger.unmark_acknowledged(directive_id, recipient)
    assert ledger.mark_acknowledged(directive_id, recipient, "reply")


def test_an_opt_out_is_found_under_the_key_it_was_recorded_with_after_a_rotation(ledger):
    earlier, later, never = "+919811111111", "+919822222222", "+919833333333"
    assert ledger.opt_out(earlier).startswith("v1:")
    ledger.optouts = KEYS  # the keyring rotated (a restart with a new current key)
    assert ledger.opt_out(later).startswith("v2:")
    assert ledger.opted_out([earlier, later, never]) == [True, True, False]
    assert ledger.opted_out([]) == []


def test_a_delivery_is_claimed_by_one_owner_and_never_again_once_settled(ledger):
    first, second = task(), task()
    assert ledger.claim([first.delivery_id, second.delivery_id], "worker-a") == [1, 1]
    assert ledger.claim([first.delivery_id], "worker-b") == [-1], "someone else sends it"
    ledger.settle(sent=[(first, f"pm-{uuid.uuid4()}")], released=[second])
    assert ledger.claim([first.delivery_id, second.delivery_id], "worker-b") == [0, 1]


def test_a_sent_message_is_known_by_its_provider_id_and_keeps_its_fallback(ledger):
    sent, provider_id = task(), f"pm-{uuid.uuid4()}"
    ledger.claim([sent.delivery_id], "worker-a")
    ledger.settle(sent=[(sent, provider_id)])
    [context] = ledger.delivered_by([provider_id])
    assert context["delivery_id"] == sent.delivery_id and context["booth_path"] == booth_path(BOOTH)
    assert "phone" not in context, "a receipt's context holds ids only"
    assert ledger.delivered_by([f"pm-{uuid.uuid4()}"]) == [None]
    [(found_id, raw)] = ledger.fallbacks([provider_id, f"pm-{uuid.uuid4()}"])
    assert found_id == provider_id and Task.from_json(raw).channel == "sms"
    ledger.forget_fallbacks([provider_id])
    assert ledger.fallbacks([provider_id]) == []


def test_early_receipts_are_kept_until_taken_once(ledger):
    provider_id = f"pm-{uuid.uuid4()}"
    ledger.park_early(
        [
            {"message_id": provider_id, "status": "delivered"},
            {"message_id": provider_id, "status": "read"},
        ]
    )
    taken = ledger.take_early([provider_id])
    assert [receipt["status"] for receipt in taken] == ["delivered", "read"]
    assert ledger.take_early([provider_id]) == []


def test_an_erased_recipients_waiting_tasks_are_dropped_and_they_are_marked(ledger):
    erased, kept = str(uuid.uuid4()), str(uuid.uuid4())
    theirs, sent_first, others = task(erased), task(erased), task(kept)
    ledger.defer([(theirs, NOW.timestamp()), (others, NOW.timestamp())])
    ledger.settle(sent=[(sent_first, f"pm-{uuid.uuid4()}")])  # its SMS fallback waits
    assert ledger.forget_recipients({erased}) == 2
    assert ledger.erased([erased, kept]) == {erased}
    waiting = ledger.take_due_tasks(NOW.timestamp())
    assert [Task.from_json(raw).recipient_id for raw in waiting] == [kept]


def test_a_services_message_marked_queued_is_known_by_its_kind_and_id_only(ledger):
    queued, other = f"m-{uuid.uuid4()}", f"m-{uuid.uuid4()}"
    assert ledger.queued_before(PERSONAL, [queued, other]) == [False, False]
    ledger.mark_queued(PERSONAL, [queued])
    ledger.mark_queued(PERSONAL, [])
    assert ledger.queued_before(PERSONAL, [other, queued, queued]) == [False, True, True]
    assert ledger.queued_before(OTP, [queued]) == [False]


def test_due_tasks_are_taken_in_time_order_and_come_back_unless_forgotten(ledger):
    early, late, later = task(), task(), task()
    at = NOW.timestamp()
    ledger.defer([(late, at + 20), (early, at + 10), (later, at + 500)])
    taken = ledger.take_due_tasks(at + 30, lease_s=60)
    assert [Task.from_json(raw).delivery_id for raw in taken] == [
        early.delivery_id,
        late.delivery_id,
    ]
    assert ledger.take_due_tasks(at + 30) == [], "leased to their taker"
    ledger.forget_tasks(taken[:1])
    back = ledger.take_due_tasks(at + 95)
    assert [Task.from_json(raw).delivery_id for raw in back] == [late.delivery_id]


# --- the status tally --------------------------------------------------------------------------


def _status(directive_id: str, recipient: str, status: str, booth: str = BOOTH) -> tuple:
    context = {
        "delivery_id": f"{recipient}-d",
        "directive_id": directive_id,
        "otp_request_id": None,
        "booth_id": booth,
        "booth_path": booth_path(booth),
        "recipient_id": recipient,
        "channel": "whatsapp",
    }
    error = {"code": "UNDELIVERABLE", "retryable": False} if status == "failed" else None
    return delivery_status(context, status, NOW, f"pm-{recipient}", error)


def test_the_tally_counts_statuses_forward_only_and_acknowledgements_once(tally):
    directive_id, reader, failing = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    ack = acknowledged(
        directive_id=directive_id,
        booth_id=BOOTH,
        booth_path=booth_path(BOOTH),
        recipient_id=reader,
        via="link",
        at=NOW,
    )
    tally.count(
        [
            _status(directive_id, reader, "read"),
            _status(directive_id, reader, "delivered"),
            _status(directive_id, failing, "failed", OTHER_BOOTH),
            ack,
        ]
    )
    # repeated and late: nothing changes, and the reader stays read however late reports come
    tally.count(
        [ack, _status(directive_id, reader, "sent"), _status(directive_id, reader, "delivered")]
    )
    counts = tally.snapshot(directive_id)
    assert counts["total"] == {
        "targeted": 0,
        "sent": 1,
        "delivered": 1,
        "read": 1,
        "acknowledged": 1,
        "failed": 1,
    }
    assert counts["districts"]["IN-HP-D02"]["failed"] == 1
    tally.count([_status(directive_id, failing, "delivered", OTHER_BOOTH)])  # the SMS got through
    after = tally.snapshot(directive_id)
    assert after["total"]["failed"] == 0 and after["total"]["delivered"] == 2
    assert after["booths"]["reached"] == 2 and after["booths"]["acknowledged"] == 1


# --- rounds of a recurring directive (the fan-out's claims) --------------------------------------

SLOT = NOW + timedelta(hours=2)
ROUND = "2030-01-01T06:30:00Z"


def claim(store, issued: Directive, *, owner: str, now: float, lease_s: float) -> Directive | None:
    return store.claim_round(
        issued.directive_id, ROUND, SLOT, owner=owner, now=now, lease_s=lease_s
    )


def finish(
    store, issued: Directive, *, owner: str, targeted: int, next_slot: datetime | None
) -> Directive | None:
    return store.finish_round(
        issued.directive_id, ROUND, owner=owner, targeted=targeted, next_slot=next_slot
    )


def test_a_round_is_claimed_by_one_owner_resumed_by_it_and_taken_over_once_its_lease_ran_out(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    at = SLOT.timestamp()
    claimed = claim(store, issued, owner="a", now=at, lease_s=60)
    assert claimed.state == SENDING and claimed.round_state(ROUND) == "sending"
    assert claim(store, issued, owner="b", now=at + 10, lease_s=60) is None
    assert claim(store, issued, owner="a", now=at + 10, lease_s=60)
    store.renew_round(issued.directive_id, ROUND, owner="a", until=at + 120)
    store.renew_round(issued.directive_id, ROUND, owner="b", until=at + 10_000)  # not b's to renew
    assert claim(store, issued, owner="b", now=at + 100, lease_s=60) is None
    assert claim(store, issued, owner="b", now=at + 121, lease_s=60)
    assert finish(store, issued, owner="a", targeted=3, next_slot=None) is None


def test_a_round_done_waits_for_the_next_and_is_never_claimed_again(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    at, following = SLOT.timestamp(), SLOT + timedelta(hours=4)
    claim(store, issued, owner="a", now=at, lease_s=60)
    done = finish(store, issued, owner="a", targeted=3, next_slot=following)
    assert done.state == SCHEDULED and done.next_round_at == following
    assert (done.rounds[ROUND].state, done.rounds[ROUND].targeted) == ("done", 3)
    assert claim(store, issued, owner="a", now=at + 1e6, lease_s=60) is None


def test_the_last_round_done_sends_the_directive(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    claim(store, issued, owner="a", now=SLOT.timestamp(), lease_s=60)
    last = finish(store, issued, owner="a", targeted=0, next_slot=None)
    assert last.state == SENT and last.fanned_out_at is not None and last.next_due is None


def test_a_round_of_a_directive_cancelled_while_it_ran_is_not_finished(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    claim(store, issued, owner="a", now=SLOT.timestamp(), lease_s=60)
    store.move(issued.directive_id, CANCEL)
    assert finish(store, issued, owner="a", targeted=3, next_slot=SLOT) is None
    assert store.get(issued.directive_id).state == CANCELLED


def test_a_missed_round_is_recorded_once_and_a_cancelled_directive_claims_none(store):
    issued = directive(recurrence=DAILY)
    store.insert(issued)
    store.miss_round(issued.directive_id, ROUND, SLOT)
    store.miss_round(issued.directive_id, ROUND, SLOT + timedelta(days=1))
    missed = store.get(issued.directive_id).rounds[ROUND]
    assert (missed.state, missed.slot) == ("missed", SLOT)
    assert claim(store, issued, owner="a", now=0, lease_s=60) is None
    store.move(issued.directive_id, CANCEL)
    later = "2030-01-02T06:30:00Z"
    assert store.claim_round(issued.directive_id, later, SLOT, owner="a", now=0, lease_s=60) is None


# --- fan-out jobs and their resume points --------------------------------------------------------


def test_a_fan_out_resumes_after_its_chunks_done_and_finishing_forgets_them(ledger):
    job, counted = str(uuid.uuid4()), []
    ledger.schedule_fanout(job, 100.0)
    ledger.chunk_done(job, "IN-HP-D01", 3, counted=counted.append)
    ledger.chunk_done(job, "IN-HP-D02", 4, counted=counted.append)
    assert len(counted) == 2, "the counts are written with the resume point"
    assert ledger.chunks_done(job) == {"IN-HP-D01", "IN-HP-D02"} and ledger.targeted(job) == 7
    ledger.finish_fanout(job)
    assert ledger.chunks_done(job) == set() and ledger.targeted(job) == 0
    ledger.renew_fanout(job, 200.0)  # a renewal after the end brings nothing back
    assert ledger.take_due_fanout(1e12, lease_s=30) is None


def test_a_fan_out_job_rescheduled_moves_either_way_and_a_renewal_holds_it(ledger):
    job = str(uuid.uuid4())
    ledger.schedule_fanout(job, 1e11)
    ledger.reschedule_fanout(job, 500.0)
    assert ledger.take_due_fanout(500.0, lease_s=30) == job
    ledger.renew_fanout(job, 1e11)
    assert ledger.take_due_fanout(1e10, lease_s=30) is None


def test_the_first_round_to_run_is_the_one_the_totals_count(ledger):
    directive_id = str(uuid.uuid4())
    assert ledger.first_round(directive_id, ROUND)
    assert ledger.first_round(directive_id, ROUND), "the same answer when it resumes"
    assert not ledger.first_round(directive_id, "2030-01-02T06:30:00Z")
