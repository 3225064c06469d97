"""A meeting live at the provider, in the pure domain (meetings.conference): bridges under the cap,
pacing, redials, and a leg's webhooks folded into one participant's attendance."""

import itertools
import random
from datetime import datetime, timedelta, timezone

import pytest

from meetings.conference import (
    Attempted,
    Attendance,
    Confirmed,
    Joined,
    Left,
    Pacing,
    ProviderEvent,
    Redial,
    booth_order,
    confirm,
    fold,
    leg_id,
    plan_bridges,
    records_as_events,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_a_state_of_65015_booth_presidents_under_a_cap_of_250_needs_262_bridges():
    plan = plan_bridges("m1", 65_015, 250, pin="123456")
    assert plan.count == 262 and len(plan.listeners) == 261
    assert all(b.capacity <= 250 and b.listen_only for b in plan.listeners)
    assert plan.speakers.pin == "123456" and not plan.speakers.listen_only
    assert plan.bridge_of(0).number == 1 and plan.bridge_of(249).number == 1
    assert plan.bridge_of(250).number == 2 and plan.bridge_of(65_014).number == 261
    assert len({b.ref for b in plan.listeners}) == 261


def test_a_small_audience_still_gets_one_listener_bridge():
    assert len(plan_bridges("m1", 0, 250, None).listeners) == 1


def test_invitees_fill_bridges_booth_by_booth_so_a_mandal_shares_its_bridges():
    pairs = [("IN-MP-D01-A01-M02-S01-B003", "p3"), ("IN-MP-D01-A01-M01-S01-B001", "p1")]
    assert booth_order(pairs)[0][1] == "p1"


def test_dial_out_is_paced_at_the_providers_calls_per_second_and_a_429_pushes_the_next_call():
    pacing = Pacing(calls_per_second=4, now=0)
    waits = [pacing.wait(0) for _ in range(4)]
    assert waits == [0, 0.25, 0.5, 0.75]
    pacing.refused_for(3, now=1)
    assert pacing.wait(1) == 3


def test_busy_and_no_answer_are_redialled_a_bounded_number_of_times_with_longer_waits():
    redial = Redial(attempts=3, backoff_s=10)
    assert [redial.after("busy", 1), redial.after("no_answer", 2)] == [10, 20]
    assert redial.after("busy", 3) is None
    assert redial.after("failed", 1) is None and redial.after("answered", 1) is None


def event(kind, at_s, call="c1", **kw) -> ProviderEvent:
    return ProviderEvent(
        event_id=kw.pop("event_id", f"{call}:{kind}"),
        type=kind,
        bridge_id="b1",
        occurred_at=T0 + timedelta(seconds=at_s),
        call_id=call,
        participant_ref="m1/p1",
        **kw,
    )


STORY = [
    event("call.ringing", 0),
    event("call.answered", 5),
    event("participant.joined", 5),
    event("dtmf", 8, digits="1"),
    event("participant.left", 65, seconds=60),
]


def play(events, state=None):
    state = state or Attendance(calls={"c1": 1})
    facts = []
    for e in events:
        state, new = fold(state, e, "dial_out")
        facts += new
    return state, facts


def test_a_legs_story_becomes_one_attempt_one_join_one_leave_and_one_confirmation():
    state, facts = play(STORY)
    assert facts == [
        Attempted("c1", 1, "answered", T0 + timedelta(seconds=5)),
        Joined(leg_id("c1"), "dial_out", T0 + timedelta(seconds=5)),
        Confirmed("dtmf", T0 + timedelta(seconds=8)),
        Left(leg_id("c1"), 60, T0 + timedelta(seconds=65)),
    ]
    assert (state.rang, state.answered, state.joined, state.confirmed, state.seconds) == (
        True,
        True,
        True,
        True,
        60,
    )


@pytest.mark.parametrize("seed", range(6))
def test_duplicated_and_shuffled_webhooks_tell_the_same_facts_once(seed):
    shuffled = STORY + STORY[1:3]
    random.Random(seed).shuffle(shuffled)
    state, facts = play(shuffled)
    assert sorted(type(f).__name__ for f in facts) == ["Attempted", "Confirmed", "Joined", "Left"]
    assert state.seconds == 60 and state.confirmed and state.answered
    again, more = play(STORY, state)
    assert more == [] and again.seconds == 60


def test_a_left_before_its_joined_records_the_leg_with_both_ends():
    state, facts = play([STORY[4], STORY[2]])
    kinds = [type(f).__name__ for f in facts]
    assert kinds[-2:] == ["Joined", "Left"] and kinds.count("Joined") == 1
    assert state.legs[leg_id("c1")].joined_at == T0 + timedelta(seconds=5)


def test_a_busy_attempt_is_told_with_its_number_and_reason():
    busy = event("call.failed", 3, call="c2", reason="busy")
    state, facts = play([busy], Attendance(calls={"c2": 2}))
    assert facts == [Attempted("c2", 2, "busy", T0 + timedelta(seconds=3))]
    assert state.rang and not state.answered and not state.joined


def test_any_digit_but_1_confirms_nothing_and_a_link_check_in_confirms_once():
    state, facts = play([event("dtmf", 1, digits="2")])
    assert facts == [] and not state.confirmed
    state, facts = confirm(state, "link", T0)
    assert facts == [Confirmed("link", T0)]
    assert confirm(state, "link", T0 + timedelta(seconds=1))[1] == []


def test_reconciling_from_end_of_call_records_fills_a_lost_left_and_repeats_nothing():
    state, _ = play(STORY[:3])  # the left webhook was lost
    record = {
        "call_id": "c1",
        "participant_ref": "m1/p1",
        "joined_at": (T0 + timedelta(seconds=5)).isoformat(),
        "left_at": (T0 + timedelta(seconds=65)).isoformat(),
        "seconds": 60,
    }
    facts = []
    for _ in range(2):
        for e in records_as_events("b1", record, datetime.fromisoformat):
            state, new = fold(state, e, "dial_out")
            facts += new
    assert facts == [Left(leg_id("c1"), 60, T0 + timedelta(seconds=65))]
    assert state.seconds == 60


def test_two_legs_of_one_participant_add_their_seconds_and_join_counts_per_leg():
    second = [
        event(k, at + 100, call="c9", **kw)
        for k, at, kw in (
            ("participant.joined", 0, {}),
            ("participant.left", 30, {"seconds": 30}),
        )
    ]
    state, facts = play(list(itertools.chain(STORY, second)), Attendance(calls={"c1": 1, "c9": 2}))
    assert state.seconds == 90 and len(state.legs) == 2
    assert [type(f).__name__ for f in facts].count("Joined") == 2
