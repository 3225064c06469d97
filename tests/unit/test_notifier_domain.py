"""The notifier's rules, without servers: tasks and their ids, the forward-only receipt state,
sending windows, acknowledgement tokens, webhook signatures, pacing and directive checks."""

import itertools
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from notifier.commands import IssueDirective
from notifier.domain import acks, directives, receipts
from notifier.domain.messages import directive_message
from notifier.domain.pacing import Pacer
from notifier.domain.tasks import DIRECTIVE, OTP, REMINDER, Task, backoff_s, delivery_id
from shared.orgtree.levels import booth_path, outermost
from shared.sending import signatures
from shared.sending.policy import IST, SendingPolicy, parse_polls, parse_quiet_hours
from tests.fakes.notifier import issue_command

BOOTH = "IN-HP-D07-A03-M02-S05-B012"
KEY = b"k" * 32


def task(**overrides) -> Task:
    fields = dict(
        delivery_id=delivery_id("d-1", "r-1", "whatsapp"),
        send=DIRECTIVE,
        lane="normal",
        booth_id=BOOTH,
        booth_path=booth_path(BOOTH),
        recipient_id="r-1",
        phone="+919812345678",
        locale="hi",
        channels=("whatsapp", "sms"),
        directive_id="d-1",
    )
    return Task(**{**fields, **overrides})


# --- tasks ---------------------------------------------------------------------------------------


def test_a_delivery_id_is_the_same_for_the_same_message_and_differs_for_anything_else():
    same = delivery_id("d-1", "r-1", "whatsapp")
    assert same == delivery_id("d-1", "r-1", "whatsapp")
    others = {
        delivery_id("d-2", "r-1", "whatsapp"),
        delivery_id("d-1", "r-2", "whatsapp"),
        delivery_id("d-1", "r-1", "sms"),
        delivery_id("d-1", "r-1", "whatsapp", REMINDER),
        delivery_id("d-1", "r-1", "whatsapp", OTP),
    }
    assert same not in others and len(others) == 5


def test_a_task_survives_its_trip_through_kafka_unchanged():
    original = task(text="x", expires_at=123.5, queued_at=100.0)
    assert Task.from_json(original.to_json()) == original


def test_fallback_moves_to_the_next_channel_with_its_own_delivery_id_and_ends_after_the_last():
    failed_twice = task(attempt=2)
    following = failed_twice.fallback()
    assert following.channel == "sms" and following.attempt == 0
    assert following.delivery_id == delivery_id("d-1", "r-1", "sms")
    assert following.fallback() is None


def test_a_booth_path_is_read_from_the_booth_id_and_anything_else_has_none():
    assert booth_path(BOOTH) == {
        "state": "IN-HP",
        "district": "IN-HP-D07",
        "assembly": "IN-HP-D07-A03",
        "mandal": "IN-HP-D07-A03-M02",
        "sector": "IN-HP-D07-A03-M02-S05",
    }
    assert booth_path("E2E-OTP-abc") is None and booth_path("IN-HP-D07") is None


def test_backoff_grows_exponentially_up_to_its_cap_and_is_spread_by_jitter():
    assert [backoff_s(a, base_s=1, cap_s=60, rand=1.0) for a in range(8)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        60,
        60,
    ]
    assert backoff_s(3, base_s=1, cap_s=60, rand=0.25) == 2.0
    waits = {backoff_s(4, base_s=1, cap_s=60, rand=random.random()) for _ in range(50)}
    assert len(waits) > 40 and all(0 <= w < 16 for w in waits)


# --- receipts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])))
def test_the_state_ends_at_read_whatever_order_the_reports_arrive_in(order):
    state = receipts.NONE
    for status in order:
        state = receipts.advance(state, status)
    assert state == receipts.READ


def test_a_failure_counts_until_a_fallback_gets_through_and_changes_nothing_after_that():
    assert receipts.count_changes("none", "failed") == {"failed": 1}
    assert receipts.count_changes("failed", "delivered") == {
        "failed": -1,
        "sent": 1,
        "delivered": 1,
    }
    assert receipts.count_changes("delivered", "failed") == {}
    assert receipts.advance("delivered", "failed") == "delivered"


def test_counts_are_cumulative_so_a_read_before_delivered_counts_sent_delivered_and_read_once():
    totals: Counter = Counter()
    state = receipts.NONE
    for status in ["read", "delivered", "sent", "read"]:
        after = receipts.advance(state, status)
        totals.update(receipts.count_changes(state, after))
        state = after
    assert totals == {"sent": 1, "delivered": 1, "read": 1}


def test_a_booth_is_reached_once_a_message_is_delivered():
    assert [receipts.reached(s) for s in ("none", "failed", "sent", "delivered", "read")] == [
        False
    ] * 3 + [True] * 2


# --- sending windows -----------------------------------------------------------------------------


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 11, day, hour, minute, tzinfo=IST)


@pytest.mark.parametrize(
    ("now", "opens"),
    [
        (ist(20, 21, 59), None),
        (ist(20, 22, 0), ist(21, 6, 0)),
        (ist(21, 2, 30), ist(21, 6, 0)),
        (ist(21, 6, 0), None),
    ],
)
def test_campaign_messages_wait_through_the_quiet_hours_until_six_in_the_morning(now, opens):
    policy = SendingPolicy()
    at = policy.opens_at(now.astimezone(timezone.utc), campaign=True, booth_id=BOOTH)
    assert at == opens


def test_otp_codes_are_held_by_neither_quiet_hours_nor_the_blackout():
    policy = SendingPolicy(polls={"IN-HP": ist(21, 18)})
    assert policy.opens_at(ist(21, 2, 0), campaign=False, booth_id=BOOTH) is None


def test_an_authorised_override_lifts_the_quiet_hours_but_not_the_blackout():
    policy = SendingPolicy(polls={"IN-HP-D07-A03": ist(22, 18)})
    assert policy.opens_at(ist(19, 2, 0), campaign=True, booth_id=BOOTH, quiet_hours=False) is None
    assert policy.opens_at(ist(21, 2, 0), campaign=True, booth_id=BOOTH, quiet_hours=False) == ist(
        22, 18
    )


def test_every_campaign_message_waits_out_the_48_hours_before_the_close_of_poll_in_the_constituency_only():  # noqa: E501
    close = ist(20, 18)
    policy = SendingPolicy(polls={"IN-HP-D07-A03": close})
    during = ist(19, 12)
    assert policy.opens_at(during, campaign=True, booth_id=BOOTH) == close
    other = "IN-HP-D07-A04-M01-S01-B001"
    assert policy.opens_at(during, campaign=True, booth_id=other) is None
    assert policy.opens_at(ist(18, 17), campaign=True, booth_id=BOOTH) is None


def test_a_blackout_that_ends_in_the_quiet_hours_waits_for_the_morning():
    policy = SendingPolicy(polls={"IN-HP": ist(20, 23)})
    assert policy.opens_at(ist(20, 12), campaign=True, booth_id=BOOTH) == ist(21, 6)


def test_policy_settings_parse_and_refuse_a_close_of_poll_without_a_time_zone():
    assert parse_quiet_hours("off") == (None, parse_quiet_hours("off")[1])
    assert [t.hour for t in parse_quiet_hours("21:30-07:00")] == [21, 7]
    assert parse_polls("IN-HP-D01=2024-11-20T18:00:00+05:30") == {"IN-HP-D01": ist(20, 18)}
    with pytest.raises(ValueError):
        parse_polls("IN-HP-D01=2024-11-20T18:00:00")


# --- acknowledgement tokens ----------------------------------------------------------------------


def claim(directive=None, recipient=None) -> acks.AckClaim:
    return acks.AckClaim(directive or str(uuid.uuid4()), recipient or str(uuid.uuid4()), BOOTH)


def test_an_ack_token_reads_back_as_what_it_was_minted_for():
    original = claim()
    assert acks.read(KEY, acks.mint(KEY, original)) == original


def test_an_ack_token_cannot_be_rewritten_for_another_directive_or_minted_without_the_key():
    original = claim()
    token = acks.mint(KEY, original)
    payload, mac = token.split(".")
    other = acks.mint(
        KEY, claim(recipient=original.recipient_id)
    )  # the same person, another directive
    spliced = other.split(".")[0] + "." + mac
    for forged in (
        spliced,
        acks.mint(b"x" * 32, original),
        payload + "." + mac[:-2] + "AA",
        "garbage",
        "",
    ):
        with pytest.raises(acks.InvalidAckToken):
            acks.read(KEY, forged)


# --- webhook signatures --------------------------------------------------------------------------


def test_a_signed_body_passes_and_any_change_stale_time_or_other_key_fails():
    body = b'{"statuses": []}'
    header = signatures.sign(KEY, body, 1_700_000_000)
    signatures.check(KEY, body, header, now=1_700_000_010)
    for bad_body, bad_header, now in [
        (body + b" ", header, 1_700_000_010),
        (body, header, 1_700_001_000),
        (body, signatures.sign(b"y" * 32, body, 1_700_000_000), 1_700_000_010),
        (body, None, 1_700_000_010),
        (body, "v1=abc", 1_700_000_010),
    ]:
        with pytest.raises(signatures.BadSignature):
            signatures.check(KEY, bad_body, bad_header, now=now)


# --- pacing --------------------------------------------------------------------------------------


def test_a_number_is_paced_at_its_rate_and_a_recipient_always_hears_from_the_same_number():
    pacer = Pacer(["+911", "+912"], rate=80, horizon_s=10)
    waits = [pacer.book("+911", 0.0, urgent=False) for _ in range(80)]
    assert waits[0] == 0 and waits[-1] == pytest.approx(79 / 80)
    assert pacer.sender_for("abc") == pacer.sender_for("abc")
    spread = Counter(pacer.sender_for(f"phone-{i}") for i in range(1000))
    assert set(spread) == {"+911", "+912"} and min(spread.values()) > 400


def test_non_urgent_sends_book_at_most_the_horizon_ahead_so_an_urgent_one_goes_next():
    pacer = Pacer(["+911"], rate=10, horizon_s=0.25)
    booked = []
    while (wait := pacer.book("+911", 0.0, urgent=False)) is not None:
        booked.append(wait)
    assert booked == pytest.approx([0.0, 0.1, 0.2])
    assert pacer.book("+911", 0.0, urgent=True) == pytest.approx(
        0.3
    )  # straight after what is booked
    assert pacer.free_in("+911", 0.0) == pytest.approx(0.15)


# --- directives ----------------------------------------------------------------------------------


def issue(**overrides) -> IssueDirective:
    now = datetime.now(timezone.utc)
    fields = dict(scope=("IN-HP",), channels=("whatsapp",), priority="normal")
    return issue_command(now, **{**fields, "expires_at": now + timedelta(days=1), **overrides})


def test_a_directive_that_expired_would_expire_before_sending_or_overrides_without_urgency_is_refused():  # noqa: E501
    now = datetime.now(timezone.utc)
    assert directives.refusal(issue(), now) is None
    assert (
        directives.refusal(issue(expires_at=now - timedelta(seconds=1)), now).kind
        == "expiry-in-past"
    )
    assert (
        directives.refusal(issue(send_at=now + timedelta(days=2)), now).kind == "send-after-expiry"
    )
    assert (
        directives.refusal(issue(override_reason="flood relief tonight"), now).kind
        == "override-not-allowed"
    )
    override = {
        "override_reason": "flood relief tonight",
        "priority": "urgent",
        "issuer_scopes": frozenset({directives.OVERRIDE_SCOPE}),
    }
    assert directives.refusal(issue(**override), now) is None


@pytest.mark.parametrize(
    ("unit", "scopes", "allowed"),
    [
        ("IN", {directives.OVERRIDE_SCOPE}, True),
        ("IN-HP", {directives.OVERRIDE_SCOPE}, True),
        ("IN-HP", set(), False),  # a state organiser without the override's own scope
        ("IN-HP-D03", {directives.OVERRIDE_SCOPE}, False),  # a district, even holding it
    ],
)
def test_only_hq_or_a_state_holding_the_override_scope_may_lift_the_quiet_hours(
    unit, scopes, allowed
):
    cmd = issue(
        issuing_unit=unit,
        scope=(unit,),
        priority="urgent",
        override_reason="flood relief tonight",
        issuer_scopes=frozenset(scopes),
    )
    refused = directives.refusal(cmd, datetime.now(timezone.utc))
    assert (refused is None) == allowed
    if not allowed:
        assert (refused.status, refused.kind) == (403, "override-forbidden")


def test_the_event_data_of_a_directive_is_valid_against_the_directive_issued_schema():
    from shared.events import types
    from shared.events.contracts import validate

    validate(types.DIRECTIVE_ISSUED, directives.event_data(issue(), datetime.now(timezone.utc)))


def test_a_scope_drops_units_already_covered_by_another_and_only_nation_and_states_split():
    assert outermost(["IN-HP-D03", "IN-HP", "IN-MP-D01", "IN-MP-D01-A02"]) == ["IN-HP", "IN-MP-D01"]
    assert outermost(["IN", "IN-HP"]) == ["IN"]
    assert [directives.splits(u) for u in ("IN", "IN-HP", "IN-HP-D01")] == [True, True, False]


def test_a_directive_reads_in_the_recipients_language_or_english_with_the_link_in_every_sms():
    title, body = {"en": "Meeting", "hi": "बैठक"}, {"en": "At 11", "hi": "11 बजे"}
    hindi = directive_message(title=title, body=body, locale="hi-IN", link="https://x/a/t")
    tamil = directive_message(title=title, body=body, locale="ta", link="https://x/a/t")
    assert (hindi.language, hindi.title) == ("hi", "बैठक") and (tamil.language, tamil.title) == (
        "en",
        "Meeting",
    )
    assert hindi.sms_text().endswith("https://x/a/t") and "बैठक" in hindi.sms_text()
    long_title = directive_message(
        title={"en": "x" * 500, "hi": "y"}, body=body, locale="en", link="L"
    )
    assert len(long_title.sms_text()) < 200
