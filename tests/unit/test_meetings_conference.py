"""A meeting live at the provider, in the pure domain (meetings.conference): bridges under the cap,
pacing, redials, and a leg's webhooks folded into one participant's attendance."""

import itertools
import random
from concurrent.futures import ThreadPoolExecutor
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


def seats_taken(plan) -> dict[str, int]:
    """Seats each bridge of a plan takes, as a provider counts them: listeners, a leg to each
    bridge below, the leg up."""
    taken = {b.ref: (1 if b.parent else 0) for b in plan.in_order}
    for b in plan.in_order:
        if b.parent:
            taken[b.parent] += 1
    for n in range(len(plan.listeners) * plan.seats):
        taken[plan.bridge_of(n).ref] += 1
    return taken


def test_a_speaker_bridge_of_5_seats_feeds_100_invitees_through_two_levels_of_relays():
    plan = plan_bridges("m1", 100, 5, pin="123456", speaker_seats=2)
    assert plan.seats == 4 and len(plan.listeners) == 25  # a listener bridge's leg up: 1 seat
    assert len(plan.relays) == 7 + 2 and plan.relay_levels == 2 and plan.count == 35
    assert all(b.listen_only for b in (*plan.relays, *plan.listeners))
    assert plan.speakers.pin == "123456" and not plan.speakers.listen_only
    order = [b.ref for b in plan.in_order]
    assert all(order.index(b.parent) < order.index(b.ref) for b in plan.in_order if b.parent)
    below = [b for b in plan.in_order if b.parent == plan.speakers.ref]
    assert len(below) <= 5 - 2  # the speaker bridge keeps its 2 seats
    taken = seats_taken(plan)
    assert taken[plan.speakers.ref] + 2 <= 5 and max(taken.values()) <= 5
    assert {b.parent for b in plan.listeners} <= {r.ref for r in plan.relays if r.level == 2}
    assert len({b.ref for b in plan.in_order}) == len({b.number for b in plan.in_order}) == 35


def test_neighbours_in_booth_order_share_a_listener_bridge_and_neighbouring_bridges_a_relay():
    plan = plan_bridges("m1", 100, 5, None, speaker_seats=2)
    assert [plan.bridge_of(n).number for n in (0, 3, 4, 99)] == [1, 1, 2, 25]
    parents = [b.parent for b in plan.listeners]
    assert parents == sorted(parents, key=lambda ref: int(ref.rsplit(":", 1)[1]))
    assert parents[:4] == ["m1:relays:2:1"] * 4 and parents[4] == "m1:relays:2:2"


def test_a_retried_start_plans_the_same_bridges():
    assert plan_bridges("m1", 65_015, 250, "1", 60) == plan_bridges("m1", 65_015, 250, "1", 60)


def test_madhya_pradeshs_65015_booth_presidents_need_265_bridges_one_relay_level_deep():
    plan = plan_bridges("m1", 65_015, 250, pin="123456", speaker_seats=50 + 10)
    assert plan.seats == 249 and len(plan.listeners) == 262  # 65,015 / 249, rounded up
    assert len(plan.relays) == 2 and plan.relay_levels == 1 and plan.count == 265
    assert all(b.capacity == 250 for b in plan.in_order)
    assert plan.bridge_of(0).number == 1 and plan.bridge_of(248).number == 1
    assert plan.bridge_of(249).number == 2 and plan.bridge_of(65_014).number == 262
    assert max(seats_taken(plan).values()) <= 250


def test_the_nation_of_7_million_needs_28227_bridges_one_relay_level_deep():
    plan = plan_bridges("m1", 7_000_000, 250, None, speaker_seats=50)
    assert len(plan.listeners) == 28_113 and len(plan.relays) == 113
    assert plan.relay_levels == 1 and plan.count == 28_227
    # A speaker bridge with a single seat to feed from still needs only two relay levels.
    crowded = plan_bridges("m1", 7_000_000, 250, None, speaker_seats=249)
    assert crowded.relay_levels == 2 and len(crowded.listeners) == 28_113


def test_a_small_audience_still_gets_one_listener_bridge_straight_under_the_speakers():
    plan = plan_bridges("m1", 0, 250, None, speaker_seats=50)
    assert plan.count == 2 and plan.relays == () and plan.listeners[0].parent == "m1:speakers"


def test_a_cap_too_small_for_a_relay_to_fan_out_is_refused():
    with pytest.raises(ValueError):
        plan_bridges("m1", 10, 2, None)


def test_invitees_fill_bridges_booth_by_booth_so_a_mandal_shares_its_bridges():
    pairs = [("IN-MP-D01-A01-M02-S01-B003", "p3"), ("IN-MP-D01-A01-M01-S01-B001", "p1")]
    assert booth_order(pairs)[0][1] == "p1"


def test_dial_out_is_paced_at_the_providers_calls_per_second_and_a_429_pushes_the_next_call():
    pacing = Pacing(calls_per_second=4, now=0)
    waits = [pacing.wait(0) for _ in range(4)]
    assert waits == [0, 0.25, 0.5, 0.75]
    pacing.refused_for(3, now=1)
    assert pacing.wait(1) == 3


def test_a_pods_diallers_sharing_one_pace_each_get_a_slot_of_their_own():
    pacing = Pacing(calls_per_second=50, now=0)
    with ThreadPoolExecutor(8) as diallers:
        waits = list(diallers.map(lambda _: pacing.wait(0), range(400)))
    assert sorted(round(w * 50) for w in waits) == list(range(400))  # 50 a second, none shared


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
