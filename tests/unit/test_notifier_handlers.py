"""The notifier's handlers on in-memory ports (tests/fakes/notifier.py): directives issued,
cancelled and queued, the outbox relayed, receipts and acknowledgements recorded, opt-outs and
erasures honoured, rounds and waiting tasks queued, in milliseconds. The fakes pass the same
contract as the real adapters (tests/integration/test_notifier_ports_contract.py), and the same
flows run against MongoDB, Redis and Kafka in tests/integration and tests/e2e."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from notifier.adapters.events import EventsUnavailable
from notifier.commands import (
    Acknowledge,
    CancelDirective,
    ForgetAppointee,
    IssueDirective,
    ScheduleFanOut,
    SendMessages,
    ServiceMessage,
)
from notifier.domain.directives import (
    ACCEPTED,
    CANCELLED,
    FINISH,
    OVERRIDE_SCOPE,
    SCHEDULED,
    SENT,
    START,
    fanout_job,
)
from notifier.domain.tasks import (
    BULK,
    DIRECTIVE,
    ESCALATION,
    NORMAL,
    OTP,
    PERSONAL,
    REMINDER,
    URGENT,
    Task,
    delivery_id,
)
from notifier.fanout import FanOut
from notifier.followups import FollowUps
from notifier.handlers.consent import forget_erased, opt_out
from notifier.handlers.directives import (
    cancel_directive,
    issue_directive,
    relay_outbox,
    schedule_fanout,
)
from notifier.handlers.mover import move_due_tasks
from notifier.handlers.ports import NotFound, Ports, Refused
from notifier.handlers.receipts import acknowledge, record_receipts
from notifier.handlers.rounds import schedule_round
from notifier.handlers.service_messages import queue_messages
from shared.crypto.fields import VersionedIndex
from shared.events import types
from shared.kafka.producer import DeliveryError
from shared.orgtree.levels import booth_path
from shared.recipients import Recipient
from shared.sending import recurrence
from shared.sending.policy import SendingPolicy
from tests.fakes.notifier import (
    Clock,
    InMemoryDirectives,
    InMemoryLedger,
    InMemoryTally,
    KnownUnits,
    ListedRecipients,
    RecordingEvents,
    RecordingLanes,
    directive_task,
    issue_command,
)

NOW = datetime(2030, 1, 1, 5, 30, tzinfo=timezone.utc)  # 11:00 in India: outside quiet hours
BOOTH = "IN-HP-D01-A01-M01-S01-B001"
PHONE = "+919876543210"
UNITS = ("IN", "IN-HP", "IN-HP-D01", "IN-HP-D02", BOOTH)
WAR_ROOM = {"rrule": "FREQ=DAILY;BYHOUR=12,14,16", "timezone": "Asia/Kolkata", "until": None}


@pytest.fixture
def ports() -> Ports:
    keys = VersionedIndex({"v1": b"o" * 32}, "v1")
    return Ports(
        store=InMemoryDirectives(),
        ledger=InMemoryLedger(keys),
        tally=InMemoryTally(),
        events=RecordingEvents(),
        producer=RecordingLanes(),
        registry=KnownUnits(UNITS),
        clock=NOW.timestamp,
        policy=SendingPolicy(),
    )


def command(**changes) -> IssueDirective:
    return issue_command(NOW, **changes)


def refusal_of(cmd: IssueDirective, ports: Ports) -> Refused:
    with pytest.raises(Refused) as refused:
        issue_directive(cmd, ports)
    return refused.value


# --- issuing, the outbox, cancelling -----------------------------------------------------------


def test_an_issued_directive_is_stored_accepted_and_announced_once(ports):
    directive, created = issue_directive(command(), ports)
    assert created and ports.store.get(directive.directive_id).state == ACCEPTED
    assert [data["directive_id"] for data in ports.events.of_type(types.DIRECTIVE_ISSUED)] == [
        directive.directive_id
    ]
    assert ports.store.get(directive.directive_id).published and ports.store.unpublished() == []


def test_a_directive_issued_again_with_its_id_comes_back_as_stored_without_a_second_event(ports):
    cmd = command()
    first, _ = issue_directive(cmd, ports)
    again, created = issue_directive(replace(cmd, title={"en": "Changed"}), ports)
    assert not created and again.title == first.title
    assert len(ports.events.of_type(types.DIRECTIVE_ISSUED)) == 1


def test_a_directive_kafka_did_not_take_waits_in_the_outbox_until_the_relay_publishes_it(ports):
    ports.events.down = True
    directive, created = issue_directive(command(), ports)
    waiting = [unpublished.directive_id for unpublished in ports.store.unpublished()]
    assert created and waiting == [directive.directive_id]
    assert relay_outbox(ports) == 0, "still down"
    ports.events.down = False
    assert relay_outbox(ports) == 1
    assert ports.store.unpublished() == []
    assert len(ports.events.of_type(types.DIRECTIVE_ISSUED)) == 1


def test_a_directive_that_has_expired_is_refused_and_not_stored(ports):
    cmd = command(expires_at=NOW - timedelta(minutes=1))
    refused = refusal_of(cmd, ports)
    assert (refused.status, refused.kind) == (422, "expiry-in-past")
    assert ports.store.get(cmd.directive_id) is None and ports.events.published == []


def test_a_directive_to_a_unit_that_does_not_exist_is_refused(ports):
    refused = refusal_of(command(scope=("IN-HP-D01", "IN-HP-D99")), ports)
    assert (refused.status, refused.kind) == (422, "unknown-unit") and "IN-HP-D99" in refused.detail


def test_a_district_trying_to_lift_the_quiet_hours_is_refused_and_audited(ports):
    cmd = command(
        issuing_unit="IN-HP-D01",
        override_reason="the river is rising tonight",
        issuer_scopes=frozenset({OVERRIDE_SCOPE}),
    )
    refused = refusal_of(cmd, ports)
    assert (refused.status, refused.kind) == (403, "override-forbidden")
    [entry] = ports.store.audit_entries(cmd.directive_id)
    assert entry["action"] == "quiet-hours-override-refused" and entry["actor"] == "user-hp"
    assert ports.store.get(cmd.directive_id) is None


def test_a_state_lifting_the_quiet_hours_is_audited_with_its_reason(ports):
    cmd = command(
        override_reason="the river is rising tonight", issuer_scopes=frozenset({OVERRIDE_SCOPE})
    )
    directive, _ = issue_directive(cmd, ports)
    assert directive.quiet_hours_lifted
    [entry] = ports.store.audit_entries(cmd.directive_id)
    assert entry["action"] == "quiet-hours-override"
    assert entry["reason"] == "the river is rising tonight"


def test_rounds_beyond_six_a_day_over_a_unit_are_refused_but_a_repeat_gets_its_own_back(ports):
    running, _ = issue_directive(command(recurrence=WAR_ROOM, priority="bulk"), ports)
    four = {**WAR_ROOM, "rrule": "FREQ=DAILY;BYHOUR=11,13,15,17"}
    refused = refusal_of(command(scope=(BOOTH,), recurrence=four, priority="bulk"), ports)
    assert refused.kind == "too-many-rounds" and running.directive_id in refused.detail
    repeat = command(recurrence=WAR_ROOM, priority="bulk", directive_id=running.directive_id)
    assert issue_directive(repeat, ports) == (ports.store.get(running.directive_id), False)
    elsewhere = command(scope=("IN-HP-D02",), recurrence=four, priority="bulk")
    assert issue_directive(elsewhere, ports)[1], "a scope the running directive does not reach"


def test_a_cancelled_directive_is_dropped_from_the_lanes_and_the_cancel_is_audited(ports):
    directive, _ = issue_directive(command(), ports)
    cancelled = cancel_directive(CancelDirective(directive.directive_id, "user-hp-d01"), ports)
    assert cancelled.state == ports.store.get(directive.directive_id).state == CANCELLED
    assert ports.ledger.cancelled([directive.directive_id]) == {directive.directive_id}
    entries = ports.store.audit_entries(directive.directive_id)
    assert [(entry["action"], entry["actor"]) for entry in entries] == [("cancel", "user-hp-d01")]


def test_a_directive_sent_in_full_or_unknown_cannot_be_cancelled(ports):
    directive, _ = issue_directive(command(), ports)
    ports.store.move(directive.directive_id, START)
    ports.store.move(directive.directive_id, FINISH)
    with pytest.raises(Refused) as refused:
        cancel_directive(CancelDirective(directive.directive_id, "user-hp"), ports)
    assert (refused.value.status, refused.value.kind) == (409, "not-cancellable")
    assert ports.ledger.cancelled([directive.directive_id]) == set()
    with pytest.raises(NotFound):
        cancel_directive(CancelDirective(str(uuid.uuid4()), "user-hp"), ports)


# --- directive-issued: the fan-out queued ------------------------------------------------------


def test_a_directive_due_now_is_queued_for_fan_out_at_once_and_stays_accepted(ports):
    directive, _ = issue_directive(command(), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    assert ports.ledger.jobs == {directive.directive_id: NOW.timestamp()}
    assert ports.store.get(directive.directive_id).state == ACCEPTED


def test_a_directive_for_later_is_queued_at_its_send_time_and_shows_scheduled(ports):
    later = NOW + timedelta(hours=3)
    directive, _ = issue_directive(command(send_at=later), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)  # redelivered: the same job
    assert ports.ledger.jobs == {directive.directive_id: later.timestamp()}
    assert ports.store.get(directive.directive_id).state == SCHEDULED
    assert ports.store.extra[directive.directive_id]["due_at"] == later


def test_a_cancelled_or_unknown_directive_queues_no_fan_out(ports):
    directive, _ = issue_directive(command(), ports)
    cancel_directive(CancelDirective(directive.directive_id, "user-hp"), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    schedule_fanout(ScheduleFanOut(str(uuid.uuid4())), ports)
    assert ports.ledger.jobs == {}


def test_a_recurring_directive_queues_its_first_round_and_waits_for_it(ports):
    directive, _ = issue_directive(command(recurrence=WAR_ROOM, priority="bulk"), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    noon = datetime(2030, 1, 1, 6, 30, tzinfo=timezone.utc)  # 12:00 in India
    first = fanout_job(directive.directive_id, recurrence.round_id(noon))
    assert ports.ledger.jobs == {first: noon.timestamp()}
    waiting = ports.store.get(directive.directive_id)
    assert waiting.state == SCHEDULED and waiting.next_due == noon


def test_a_round_queued_again_keeps_its_slot_and_a_cancelled_directive_does_not_wait(ports):
    directive, _ = issue_directive(command(recurrence=WAR_ROOM, priority="bulk"), ports)
    slot = NOW + timedelta(hours=4)
    schedule_round(directive, slot, ports.ledger, ports.store)
    schedule_round(directive, slot, ports.ledger, ports.store)
    assert list(ports.ledger.jobs.values()) == [slot.timestamp()]
    cancel_directive(CancelDirective(directive.directive_id, "user-hp"), ports)
    schedule_round(directive, slot + timedelta(days=1), ports.ledger, ports.store)
    assert ports.store.get(directive.directive_id).state == CANCELLED


# --- receipts and acknowledgements -------------------------------------------------------------


def sent_task(ports: Ports, directive_id: str, recipient_id: str | None = None) -> tuple[Task, str]:
    """A directive's message the sender handed to a provider: (its task, the provider's id)."""
    recipient_id = recipient_id or str(uuid.uuid4())
    expires_at = (NOW + timedelta(days=1)).timestamp()
    task = directive_task(
        directive_id,
        recipient_id,
        phone=PHONE,
        booth_id=BOOTH,
        expires_at=expires_at,
        lane="urgent",
    )
    provider_id = f"wamid.{uuid.uuid4().hex}"
    ports.ledger.settle(sent=[(task, provider_id)])
    return task, provider_id


def status(provider_id: str, name: str) -> dict:
    return {"message_id": provider_id, "status": name, "timestamp": NOW.isoformat()}


def test_a_delivered_receipt_becomes_a_counted_delivery_status_event(ports):
    directive, _ = issue_directive(command(), ports)
    task, provider_id = sent_task(ports, directive.directive_id)
    outcome = record_receipts({"statuses": [status(provider_id, "delivered")]}, ports)
    assert outcome["statuses"] == 1 and outcome["early"] == 0
    [event] = ports.events.of_type(types.DELIVERY_STATUS)
    assert (event["delivery_id"], event["status"]) == (task.delivery_id, "delivered")
    assert ports.tally.snapshot(directive.directive_id)["total"]["delivered"] == 1


def test_a_receipt_before_its_send_was_recorded_is_kept_for_later(ports):
    early = f"wamid.{uuid.uuid4().hex}"
    outcome = record_receipts({"statuses": [status(early, "read")]}, ports)
    assert (outcome["statuses"], outcome["early"]) == (0, 1) and ports.events.published == []
    assert [receipt["status"] for receipt in ports.ledger.take_early([early])] == ["read"]


def test_a_message_reported_failed_later_goes_on_its_next_channel_once(ports):
    directive, _ = issue_directive(command(), ports)
    task, provider_id = sent_task(ports, directive.directive_id)
    outcome = record_receipts({"statuses": [status(provider_id, "failed")]}, ports)
    assert outcome["fallbacks"] == 1
    [fallback] = ports.producer.tasks(URGENT)
    assert fallback.channel == "sms" and fallback.recipient_id == task.recipient_id
    sms = delivery_id(directive.directive_id, task.recipient_id, "sms", DIRECTIVE)
    assert fallback.delivery_id == sms, "the next channel's message is a delivery of its own"
    assert record_receipts({"statuses": [status(provider_id, "failed")]}, ports)["fallbacks"] == 0
    assert ports.tally.snapshot(directive.directive_id)["total"]["failed"] == 1


def test_a_message_delivered_never_falls_back(ports):
    directive, _ = issue_directive(command(), ports)
    _, provider_id = sent_task(ports, directive.directive_id)
    record_receipts({"statuses": [status(provider_id, "delivered")]}, ports)
    assert record_receipts({"statuses": [status(provider_id, "failed")]}, ports)["fallbacks"] == 0
    assert ports.producer.flushed == []


def test_a_reply_to_a_directive_acknowledges_it_and_stop_opts_the_sender_out(ports):
    directive, _ = issue_directive(command(), ports)
    task, provider_id = sent_task(ports, directive.directive_id)
    outcome = record_receipts(
        {
            "messages": [
                {
                    "from": "919876543210",
                    "text": "ok",
                    "channel": "whatsapp",
                    "context": {"message_id": provider_id},
                },
                {"from": "whatsapp:+919812345678", "text": " stop ", "channel": "whatsapp"},
            ]
        },
        ports,
    )
    assert (outcome["acknowledgements"], outcome["opt_outs"]) == (1, 1)
    [ack] = ports.events.of_type(types.DIRECTIVE_ACKNOWLEDGED)
    assert (ack["recipient_id"], ack["via"]) == (task.recipient_id, "reply")
    assert ports.ledger.opted_out(["+919812345678", PHONE]) == [True, False]
    assert len(ports.store.optout_keys()) == 1


def test_an_acknowledgement_is_recorded_and_counted_once(ports):
    directive, _ = issue_directive(command(), ports)
    ack = Acknowledge(directive.directive_id, str(uuid.uuid4()), BOOTH, "link")
    assert acknowledge(ack, ports) is True
    assert acknowledge(ack, ports) is False
    assert len(ports.events.of_type(types.DIRECTIVE_ACKNOWLEDGED)) == 1
    snapshot = ports.tally.snapshot(directive.directive_id)
    assert snapshot["total"]["acknowledged"] == 1 and snapshot["booths"]["acknowledged"] == 1


def test_an_acknowledgement_kafka_did_not_take_may_be_given_again(ports):
    directive, _ = issue_directive(command(), ports)
    ack = Acknowledge(directive.directive_id, str(uuid.uuid4()), BOOTH, "link")
    ports.events.down = True
    with pytest.raises(EventsUnavailable):
        acknowledge(ack, ports)
    ports.events.down = False
    assert acknowledge(ack, ports) is True
    assert len(ports.events.of_type(types.DIRECTIVE_ACKNOWLEDGED)) == 1


def test_acknowledgements_of_a_cancelled_unknown_or_boothless_directive_are_refused(ports):
    directive, _ = issue_directive(command(), ports)
    with pytest.raises(Refused) as not_a_booth:
        acknowledge(Acknowledge(directive.directive_id, "r1", "IN-HP-D01", "link"), ports)
    assert not_a_booth.value.kind == "not-a-booth"
    cancel_directive(CancelDirective(directive.directive_id, "user-hp"), ports)
    with pytest.raises(Refused) as closed:
        acknowledge(Acknowledge(directive.directive_id, "r1", BOOTH, "link"), ports)
    assert (closed.value.status, closed.value.kind) == (410, "directive-closed")
    with pytest.raises(NotFound):
        acknowledge(Acknowledge(str(uuid.uuid4()), "r1", BOOTH, "link"), ports)
    assert ports.events.of_type(types.DIRECTIVE_ACKNOWLEDGED) == []


# --- consent and erasure -----------------------------------------------------------------------


def test_an_opt_out_in_a_providers_spelling_is_kept_in_e164_and_an_unreadable_one_ignored(ports):
    opt_out("919876543210", "sms", "reply", ports)
    opt_out("not a number", "sms", "reply", ports)
    assert ports.ledger.opted_out([PHONE]) == [True]
    [key] = ports.store.optout_keys()
    assert ports.store.optouts[key]["via"] == "reply" and PHONE not in key


def test_an_erased_appointees_waiting_tasks_are_dropped(ports):
    directive, _ = issue_directive(command(), ports)
    erased, kept = str(uuid.uuid4()), str(uuid.uuid4())
    theirs, _ = sent_task(ports, directive.directive_id, erased)
    others, _ = sent_task(ports, directive.directive_id, kept)
    ports.ledger.defer([(theirs.retried(), NOW.timestamp()), (others.retried(), NOW.timestamp())])
    forget_erased(ForgetAppointee(erased, "erasure-1"), ports)
    assert ports.ledger.erased([erased, kept]) == {erased}
    waiting = ports.ledger.take_due_tasks(NOW.timestamp())
    assert [Task.from_json(raw).recipient_id for raw in waiting] == [kept]
    fallbacks = ports.ledger.fallback_tasks.values()
    assert [Task.from_json(raw).recipient_id for raw in fallbacks] == [kept]


# --- waiting tasks and OTP codes ---------------------------------------------------------------


def test_tasks_whose_wait_is_over_go_back_on_their_lanes_and_leave_the_ledger(ports):
    directive, _ = issue_directive(command(), ports)
    due, _ = sent_task(ports, directive.directive_id)
    later, _ = sent_task(ports, directive.directive_id)
    ports.ledger.defer([(due, NOW.timestamp() - 1), (later, NOW.timestamp() + 60)])
    assert move_due_tasks(ports, ports.producer) == 1
    assert [task.delivery_id for task in ports.producer.tasks(URGENT)] == [due.delivery_id]
    assert list(ports.ledger.deferred) == [later.to_json()]


def service_message(lane: str = NORMAL, **changes) -> ServiceMessage:
    message = ServiceMessage(
        message_id=str(uuid.uuid4()),
        appointment_id=str(uuid.uuid4()),
        booth_id=BOOTH,
        phone=PHONE,
        channel="whatsapp",
        locale="hi",
        text="Your code is 123456",
        lane=lane,
    )
    return replace(message, **changes)


def test_an_otp_code_goes_on_the_urgent_lane_with_sms_after_whatsapp(ports):
    message = service_message(URGENT)
    queued = queue_messages(SendMessages(OTP, (message,)), ports)
    [task] = ports.producer.tasks(URGENT)
    assert queued.tasks == (task,) and task.send == OTP and task.channels == ("whatsapp", "sms")
    assert task.otp_request_id == message.message_id and task.message_id is None
    assert not task.campaign and task.expires_at == NOW.timestamp() + 600


def test_a_services_messages_go_on_their_lanes_as_campaign_messages_that_do_not_expire(ports):
    invite, reminder = service_message(NORMAL), service_message(BULK, channel="sms")
    queued = queue_messages(SendMessages(PERSONAL, (invite, reminder)), ports)
    [normal], [bulk] = ports.producer.tasks(NORMAL), ports.producer.tasks(BULK)
    assert (queued.tasks, queued.duplicates) == ((normal, bulk), 0)
    assert normal.send == PERSONAL and normal.message_id == invite.message_id
    assert normal.text == invite.text and normal.campaign and normal.expires_at is None
    assert normal.booth_path == booth_path(BOOTH) and normal.channels == ("whatsapp", "sms")
    assert bulk.channels == ("sms",) and bulk.otp_request_id is None
    assert normal.fallback().delivery_id == delivery_id(
        invite.message_id, invite.appointment_id, "sms", PERSONAL
    )


def test_only_a_services_message_carries_the_task_field_older_notifiers_do_not_know(ports):
    queue_messages(SendMessages(OTP, (service_message(URGENT),)), ports)
    queue_messages(SendMessages(PERSONAL, (service_message(),)), ports)
    [(_, code)], [(_, invite)] = [
        [(lane, raw) for lane, raw in ports.producer.flushed if lane == wanted]
        for wanted in (URGENT, NORMAL)
    ]
    assert b'"message_id"' not in code and b'"message_id"' in invite
    assert Task.from_json(code).message_id is None


def test_a_message_queued_before_or_repeated_in_the_request_is_a_duplicate(ports):
    first, second = service_message(), service_message()
    queue_messages(SendMessages(PERSONAL, (first,)), ports)
    again = queue_messages(SendMessages(PERSONAL, (first, second, second)), ports)
    assert [task.message_id for task in again.tasks] == [second.message_id]
    assert again.duplicates == 2 and len(ports.producer.tasks(NORMAL)) == 2


def test_messages_kafka_did_not_take_are_not_marked_queued_and_go_on_a_retry(ports):
    message = service_message()
    ports.producer.down = True
    with pytest.raises(DeliveryError):
        queue_messages(SendMessages(PERSONAL, (message,)), ports)
    ports.producer.down = False
    queued = queue_messages(SendMessages(PERSONAL, (message,)), ports)
    assert len(queued.tasks) == 1 and queued.duplicates == 0


def test_a_campaign_message_on_the_urgent_lane_is_refused_naming_it(ports):
    with pytest.raises(Refused) as refused:
        queue_messages(SendMessages(PERSONAL, (service_message(), service_message(URGENT))), ports)
    assert refused.value.kind == "wrong-lane" and "[1]" in refused.value.detail
    assert ports.producer.tasks(NORMAL) == []


# --- the fan-out and the follow-ups on the same ports ------------------------------------------


def recipient(booth: str, role: str = "booth_president", phone: str | None = None) -> Recipient:
    return Recipient(
        booth_id=booth,
        booth_path=booth_path(booth),
        appointment_id=str(uuid.uuid4()),
        role=role,
        phone=phone or f"+9198{uuid.uuid4().int % 10**8:08d}",
        locale="hi",
    )


D01_BOOTHS = [f"IN-HP-D01-A01-M01-S01-B00{n}" for n in (1, 2, 3)]
D02_BOOTH = "IN-HP-D02-A01-M01-S01-B001"
PEOPLE = [recipient(booth) for booth in D01_BOOTHS] + [
    recipient(D02_BOOTH),
    recipient(D02_BOOTH, role="booth_member"),
    recipient("IN-UP-D01-A01-M01-S01-B001"),
]


@pytest.fixture
def world(ports):
    """The ports with a clock to move, and a fan-out and follow-ups over them."""
    clock = Clock(NOW)
    ports.clock = clock
    ports.registry = KnownUnits([*UNITS, "IN-UP", "IN-UP-D01"])
    source = ListedRecipients(PEOPLE)
    fanout = FanOut(
        store=ports.store,
        ledger=ports.ledger,
        tally=ports.tally,
        recipients=source,
        registry=ports.registry,
        producer=ports.producer,
        policy=ports.policy,
        batch=2,
        clock=clock,
    )
    follow_ups = FollowUps(
        store=ports.store,
        tally=ports.tally,
        recipients=source,
        chunks=fanout.chunks,
        producer=ports.producer,
        remind_after_s=3600,
        escalate_after_s=7200,
        clock=clock,
    )
    return ports, clock, fanout, follow_ups


def test_a_due_directive_fans_out_chunk_by_chunk_to_its_scope_leaving_out_opted_out_phones(world):
    ports, _, fanout, _ = world
    opt_out(PEOPLE[0].phone, "whatsapp", "reply", ports)
    directive, _ = issue_directive(command(scope=("IN-HP",)), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    assert fanout.run_due() and not fanout.run_due()
    sent = ports.producer.tasks(URGENT)
    in_scope = sorted(person.appointment_id for person in PEOPLE[1:4])
    assert sorted(task.recipient_id for task in sent) == in_scope
    assert {task.send for task in sent} == {DIRECTIVE}
    assert ports.store.get(directive.directive_id).state == SENT
    counts = ports.tally.snapshot(directive.directive_id)
    assert counts["total"]["targeted"] == 3 and counts["districts"]["IN-HP-D02"]["targeted"] == 1
    assert ports.ledger.jobs == {} and ports.ledger.chunks == {}


def test_a_fan_out_cut_short_resumes_at_its_first_unfinished_chunk(world):
    ports, _, fanout, _ = world
    directive, _ = issue_directive(command(scope=("IN-HP",)), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    ports.ledger.chunk_done(directive.directive_id, "IN-HP-D01", 3, counted=lambda _: None)
    fanout.run_due()
    assert [task.booth_id for task in ports.producer.tasks()] == [D02_BOOTH]
    assert ports.store.get(directive.directive_id).state == SENT


def test_a_directive_due_in_quiet_hours_waits_for_the_window_to_open(world):
    ports, clock, fanout, _ = world
    directive, _ = issue_directive(command(), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    clock.set(datetime(2030, 1, 1, 17, 30, tzinfo=timezone.utc))  # 23:00 in India
    assert fanout.run_due()
    opens = datetime(2030, 1, 2, 0, 30, tzinfo=timezone.utc)  # 06:00 in India
    assert ports.ledger.jobs == {directive.directive_id: opens.timestamp()}
    assert ports.store.get(directive.directive_id).state == SCHEDULED
    assert ports.producer.flushed == []


def test_a_directive_cancelled_before_its_fan_out_sends_nothing(world):
    ports, _, fanout, _ = world
    directive, _ = issue_directive(command(), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    cancel_directive(CancelDirective(directive.directive_id, "user-hp"), ports)
    assert fanout.run_due()
    assert ports.producer.flushed == [] and ports.ledger.jobs == {}


def test_a_round_is_sent_once_and_the_next_round_queued(world):
    ports, clock, fanout, _ = world
    cmd = command(scope=("IN-HP-D01",), recurrence=WAR_ROOM, priority="bulk")
    directive, _ = issue_directive(cmd, ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    noon, two = (datetime(2030, 1, 1, hour, 30, tzinfo=timezone.utc) for hour in (6, 8))
    clock.set(noon)
    assert fanout.run_due()
    round_id = recurrence.round_id(noon)
    assert {task.round for task in ports.producer.tasks("bulk")} == {round_id}
    assert len(ports.producer.tasks("bulk")) == 3
    after = ports.store.get(directive.directive_id)
    assert (after.state, after.next_due) == (SCHEDULED, two)
    assert after.round_state(round_id) == "done"
    assert ports.ledger.jobs == {
        fanout_job(directive.directive_id, recurrence.round_id(two)): two.timestamp()
    }


def test_silent_booths_are_reminded_then_escalated_to_their_sector_once_each(world):
    ports, clock, fanout, follow_ups = world
    directive, _ = issue_directive(command(scope=("IN-HP-D01",)), ports)
    schedule_fanout(ScheduleFanOut(directive.directive_id), ports)
    fanout.run_due()
    assert ports.store.get(directive.directive_id).fanned_out_at == NOW
    first = PEOPLE[0]
    acknowledge(
        Acknowledge(directive.directive_id, first.appointment_id, first.booth_id, "link"), ports
    )
    produced = len(ports.producer.flushed)
    clock.set(NOW + timedelta(minutes=30))
    follow_ups.run_once()
    assert len(ports.producer.flushed) == produced, "too early to remind"
    clock.set(NOW + timedelta(hours=1))
    follow_ups.run_once()
    follow_ups.run_once()
    reminders = [task for task in ports.producer.tasks() if task.send == REMINDER]
    assert sorted(task.booth_id for task in reminders) == D01_BOOTHS[1:]
    assert ports.store.get(directive.directive_id).follow_ups.reminders == 2
    clock.set(NOW + timedelta(hours=2))
    follow_ups.run_once()
    follow_ups.run_once()
    [escalation] = [task for task in ports.producer.tasks() if task.send == ESCALATION]
    sector = "IN-HP-D01-A01-M01-S01"
    assert escalation.booth_id == sector and escalation.text.startswith("2 booth(s)")
    assert ports.store.get(directive.directive_id).follow_ups.escalations == {sector: 2}
