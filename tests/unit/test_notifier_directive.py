"""The directive as the notifier's domain holds it: its states, its rounds, and the document the
store keeps it as (MongoDB hands datetimes back naive, in UTC)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from notifier.adapters.store import from_document, to_document
from notifier.commands import IssueDirective
from notifier.domain.directives import (
    CANCEL,
    CANCELLED,
    FINISH,
    ROUND_DONE,
    SCHEDULED,
    SENDING,
    SENT,
    START,
    Directive,
    Round,
    fanout_job,
)
from shared.sending import recurrence as rec
from tests.fakes.notifier import issue_command

IST = ZoneInfo("Asia/Kolkata")
NOW = datetime(2030, 1, 1, 7, 0, tzinfo=IST)


def command(**changes) -> IssueDirective:
    up = dict(issued_by="user-up", issuing_unit="IN-UP", scope=("IN-UP-D44",))
    return issue_command(NOW, **{**up, "send_at": NOW + timedelta(hours=1), **changes})


def as_mongo_returns(value):
    """Datetimes as pymongo reads them back: naive, in UTC."""
    if isinstance(value, dict):
        return {k: as_mongo_returns(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def test_a_directive_read_back_from_its_document_is_the_directive_that_was_stored():
    issued = Directive.issue(
        command(
            override_reason="the river is rising tonight",
            recurrence={
                "rrule": "FREQ=DAILY;BYHOUR=8,18",
                "timezone": "Asia/Kolkata",
                "until": None,
            },
        ),
        NOW,
        event_id="event-1",
    )
    document = to_document(issued)
    assert document["_id"] == issued.directive_id and document["state"] == "accepted"
    assert (
        document["expires_ts"] == issued.expires_at.timestamp()
        and document["send_ts"] == issued.send_at.timestamp()
    )
    assert document["outbox"] == {"event_id": "event-1", "published": False}
    assert from_document(as_mongo_returns(document)) == issued


def test_a_directive_sends_until_it_is_cancelled_sent_or_expired():
    directive = Directive.issue(command(), NOW, event_id="e")
    now = NOW.timestamp()
    assert directive.sendable(now) and directive.acknowledgeable(now)
    assert not replace(directive, state=CANCELLED).sendable(now)
    assert not replace(directive, state=CANCELLED).acknowledgeable(now)
    assert not replace(directive, state=SENT).sendable(now), "sent: nothing more goes out"
    assert replace(directive, state=SENT).acknowledgeable(now), (
        "but its recipients may still acknowledge"
    )
    assert not directive.sendable(directive.expires_at.timestamp())


def test_only_a_directive_not_yet_fully_sent_may_be_cancelled_and_a_fan_out_may_resume():
    assert set(CANCEL.before) == {"accepted", SCHEDULED, SENDING} and CANCEL.after == CANCELLED
    assert SENDING in START.before, "a fan-out cut short starts again where it was"
    assert FINISH.before == (SENDING,) and FINISH.after == SENT


def test_a_single_directive_is_due_at_its_send_at_or_at_once():
    directive = Directive.issue(command(), NOW, event_id="e")
    assert directive.due(NOW.timestamp()) == (NOW + timedelta(hours=1)).timestamp()
    assert (
        directive.due((NOW + timedelta(hours=3)).timestamp())
        == (NOW + timedelta(hours=3)).timestamp()
    )
    assert replace(directive, send_at=None).due(NOW.timestamp()) == NOW.timestamp()


def test_a_recurring_directive_goes_on_from_the_round_after_the_last_it_ran():
    directive = Directive.issue(
        command(
            send_at=None,
            recurrence={
                "rrule": "FREQ=DAILY;BYHOUR=8,12,18",
                "timezone": "Asia/Kolkata",
                "until": None,
            },
        ),
        NOW,
        event_id="e",
    )
    eight, noon = NOW.replace(hour=8), NOW.replace(hour=12)
    assert directive.recurring and directive.round_after_the_last() == eight
    ran = replace(
        directive, rounds={rec.round_id(eight): Round(rec.round_id(eight), ROUND_DONE, slot=eight)}
    )
    assert ran.round_after_the_last() == noon
    assert (
        ran.round_state(rec.round_id(eight)) == ROUND_DONE
        and ran.round_state(rec.round_id(noon)) is None
    )
    assert ran.next_due is None and replace(ran, next_round_at=noon).next_due == noon
    assert replace(ran, state=CANCELLED, next_round_at=noon).next_due is None, (
        "a cancelled one waits for nothing"
    )
    assert (
        fanout_job(directive.directive_id, rec.round_id(noon))
        == f"{directive.directive_id}@{rec.round_id(noon)}"
    )
    assert fanout_job(directive.directive_id) == directive.directive_id
