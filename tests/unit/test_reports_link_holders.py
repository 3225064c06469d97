"""Whose answer links stop (reports/link_holders.py, consumer.py): appointments' own events say
an appointment ended (revoked, replaced, an office-bearer revoked or replaced, a person erased),
each is kept once, for as long as one of its links could still answer, and no longer; a link of
an ended appointment is refused."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from reports import consumer
from reports.domain import MAX_DUE_AFTER
from reports.link_holders import (
    SLACK,
    AppointmentEnded,
    HolderGone,
    check_holder,
    kept_until,
    longest_link,
    record_ended,
)
from shared.events import types
from shared.events.contracts import load_schema, new_event
from tests.fakes.reports import InMemoryEndedAppointments

NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
GRACE = timedelta(hours=48)
BOOTH = "IN-HP-D04-A01-M01-S01-B001"


def an_event(event_type: str, **changes):
    """The contract's own example, changed: validated as appointments' events are."""
    return new_event(event_type, {**load_schema(event_type)["examples"][0], **changes}, "/test")


def ended(**changes) -> AppointmentEnded:
    values = {"appointment_id": "a-1", "booth_id": BOOTH, "ended_at": NOW, "how": "revoked"}
    return AppointmentEnded(**{**values, **changes})


def test_an_ended_appointment_is_kept_for_the_longest_a_link_lasts_after_the_end():
    assert longest_link(GRACE) == MAX_DUE_AFTER + GRACE == timedelta(days=9)
    assert kept_until(ended(), GRACE) == NOW + timedelta(days=9) + SLACK
    store = InMemoryEndedAppointments()
    assert record_ended(ended(), store, now=NOW, grace=GRACE)
    assert not record_ended(ended(), store, now=NOW, grace=GRACE), "a replay records nothing new"
    assert store.kept["a-1"][1] == NOW + timedelta(days=9) + SLACK


def test_an_end_older_than_any_link_is_not_kept():
    store = InMemoryEndedAppointments()
    long_ago = NOW - longest_link(GRACE) - SLACK
    assert not record_ended(ended(ended_at=long_ago), store, now=NOW, grace=GRACE)
    assert not store.ended("a-1")
    just_in_time = long_ago + timedelta(seconds=1)
    assert record_ended(ended(ended_at=just_in_time), store, now=NOW, grace=GRACE)


def test_a_link_of_an_ended_appointment_is_refused_and_anothers_is_not():
    store = InMemoryEndedAppointments()
    record_ended(ended(), store, now=NOW, grace=GRACE)
    with pytest.raises(HolderGone):
        check_holder("a-1", store)
    check_holder("a-2", store)  # another appointee's link answers
    assert not store.ended("a-2")


@pytest.mark.parametrize(
    ("event_type", "changes", "how", "at"),
    [
        (types.APPOINTMENT_REVOKED, {"reason": "revoked", "replaced_by_appointment_id": None},
         "revoked", "revoked_at"),
        (types.APPOINTMENT_REVOKED, {}, "replaced", "revoked_at"),
        (types.UNIT_OFFICER_CHANGED, {"change": "revoked"}, "revoked", "changed_at"),
        (types.UNIT_OFFICER_CHANGED, {"change": "replaced"}, "replaced", "changed_at"),
        (types.PERSON_ERASED, {}, "erased", "erased_at"),
    ],
)  # fmt: skip
def test_appointments_events_that_end_an_appointment_say_which_and_when(
    event_type, changes, how, at
):
    appointment_id = str(uuid.uuid4())
    event = an_event(event_type, appointment_id=appointment_id, **changes)
    assert consumer.ended_appointment(event) == AppointmentEnded(
        appointment_id,
        event.data["booth_id"],
        datetime.fromisoformat(event.data[at]),
        how,
    )


@pytest.mark.parametrize(
    ("event_type", "changes"),
    [
        (types.BOOTH_PRESIDENT_APPOINTED, {}),
        (types.APPOINTMENT_VERIFIED, {}),
        (types.UNIT_OFFICER_CHANGED, {"change": "appointed"}),
        (types.UNIT_OFFICER_CHANGED, {"change": "verified"}),
    ],
)
def test_events_that_start_or_verify_an_appointment_end_nothing(event_type, changes):
    store = InMemoryEndedAppointments()
    handle = consumer.link_holders(store, GRACE, lambda: NOW)
    handle(an_event(event_type, **changes))
    assert store.kept == {}


def test_the_handler_keeps_an_ended_appointment_once_whatever_the_replays():
    store = InMemoryEndedAppointments()
    handle = consumer.link_holders(store, GRACE, lambda: NOW)
    revoked = an_event(types.APPOINTMENT_REVOKED, revoked_at=NOW.isoformat())
    erased = an_event(
        types.PERSON_ERASED,
        appointment_id=revoked.data["appointment_id"],
        erased_at=(NOW + timedelta(minutes=1)).isoformat(),
    )
    for event in (revoked, revoked, erased, revoked):
        handle(event)
    [(first, until)] = store.kept.values()
    assert (first.how, first.ended_at) == ("replaced", NOW)
    assert until == NOW + timedelta(minutes=1) + longest_link(GRACE) + SLACK
