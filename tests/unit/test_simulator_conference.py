"""The simulated conference provider's rules, on a clock the test moves (simulator.conference)."""

import pytest

from simulator.commands import CreateBridge, DialOut
from simulator.conference import ConferenceRefusal, ConferenceRules, Conferences, fate_of

HOOK = "http://meetings.test/v1/provider/conference-events"
CERTAIN = dict(
    no_answer_share=0,
    busy_share=0,
    failed_share=0,
    leave_early_share=0,
    confirm_share=0,
    duplicate_share=0,
    out_of_order_share=0,
    lost_share=0,
    ring_s=1.0,
    early_stay_s=4.0,
)


def conferences(**rules) -> Conferences:
    return Conferences(
        ConferenceRules(**{**CERTAIN, **rules}), caller_hash=lambda p: f"h({p[-4:]})", wall_offset=0
    )


def bridge(c: Conferences, ref="b1", capacity=250, **kw):
    made, _ = c.create_bridge(
        CreateBridge(ref, kw.pop("kind", "audio"), capacity, status_callback=HOOK, **kw), 0
    )
    return made.bridge_id


def dial(c: Conferences, bridge_id: str, ref: str, now=0.0, **kw) -> str:
    call_id, _ = c.dial_out(
        DialOut(bridge_id, ref, "+919800000001", participant_ref=f"p-{ref}", **kw), now
    )
    return call_id


def types(c: Conferences, now=1e9, call_id=None) -> list[str]:
    owed = c.take_owed(now, 10_000)
    return [w.body["type"] for w in owed if call_id is None or w.body["call_id"] == call_id]


def test_a_bridge_above_the_providers_cap_is_refused_with_the_cap():
    c = conferences(cap=250)
    with pytest.raises(ConferenceRefusal) as refused:
        bridge(c, capacity=251)
    assert (refused.value.status, refused.value.kind, refused.value.extra) == (
        422,
        "capacity-above-cap",
        {"cap": 250},
    )


def test_the_same_bridge_ref_and_call_ref_give_the_same_bridge_and_call_once():
    c = conferences()
    first = bridge(c)
    again, made = c.create_bridge(CreateBridge("b1", "audio", 250, status_callback=HOOK), 1)
    assert (again.bridge_id, made) == (first, False)
    call = dial(c, first, "r1")
    assert c.dial_out(DialOut(first, "r1", "+919800000001"), 0.5) == (call, False)
    assert len(c.bridges[first].legs) == 1


def test_dialling_faster_than_the_calls_per_second_limit_is_refused_with_a_wait():
    c = conferences(calls_per_second=2)
    b = bridge(c)
    dial(c, b, "r1")
    dial(c, b, "r2")
    with pytest.raises(ConferenceRefusal) as refused:
        dial(c, b, "r3")
    assert refused.value.status == 429 and 0 < refused.value.retry_after_s <= 0.5
    assert dial(c, b, "r3", now=0.5)


def test_a_full_bridge_refuses_the_next_call_like_twilio_16020():
    c = conferences()
    b = bridge(c, capacity=2)
    dial(c, b, "r1")
    dial(c, b, "r2")
    with pytest.raises(ConferenceRefusal) as refused:
        dial(c, b, "r3")
    assert (refused.value.status, refused.value.kind) == (409, "conference-full")


def test_a_cascade_leg_is_a_seat_of_the_parent_and_of_the_child_like_twilio():
    c = conferences()
    speakers = bridge(c, "speakers", capacity=3)
    dial(c, speakers, "host", muted=False)
    children = [
        bridge(c, f"listeners-{n}", capacity=3, listen_only=True, parent_bridge_id=speakers)
        for n in (1, 2)
    ]
    with pytest.raises(ConferenceRefusal) as refused:  # the host and two children: full
        bridge(c, "listeners-3", capacity=3, listen_only=True, parent_bridge_id=speakers)
    assert (refused.value.status, refused.value.kind) == (409, "conference-full")
    assert refused.value.extra == {"code": 16020} and "listeners-3" not in c.by_ref
    again, made = c.create_bridge(  # a retried request for a child already made is no seat more
        CreateBridge("listeners-1", "audio", 3, True, parent_bridge_id=speakers), 1
    )
    assert (again.bridge_id, made) == (children[0], False)
    dial(c, children[0], "l1")
    dial(c, children[0], "l2")
    with pytest.raises(ConferenceRefusal):  # its leg up took the third seat
        dial(c, children[0], "l3")
    c.end(children[1], 2)  # an ended child gives its seat back
    bridge(c, "listeners-3", capacity=3, listen_only=True, parent_bridge_id=speakers)


def test_a_flat_plan_wider_than_the_speaker_bridge_fails_and_relays_carry_it():
    flat = conferences()
    speakers = bridge(flat, "speakers", capacity=4)
    for n in range(1, 5):
        bridge(flat, f"l{n}", capacity=4, listen_only=True, parent_bridge_id=speakers)
    with pytest.raises(ConferenceRefusal):
        bridge(flat, "l5", capacity=4, listen_only=True, parent_bridge_id=speakers)
    tree = conferences()
    speakers = bridge(tree, "speakers", capacity=4)
    relays = [
        bridge(tree, f"r{n}", capacity=4, listen_only=True, parent_bridge_id=speakers)
        for n in (1, 2)
    ]
    for n in range(1, 6):
        parent = relays[(n - 1) // 3]
        bridge(tree, f"l{n}", capacity=4, listen_only=True, parent_bridge_id=parent)
    tree.end(speakers, 1)
    assert all(b.ended for b in tree.bridges.values())  # ending the top ends the whole tree


def test_a_calls_fate_hangs_on_its_ref_so_a_retry_draws_anew():
    rules = ConferenceRules(no_answer_share=0.3, busy_share=0.2, failed_share=0.1)
    fates = [fate_of(f"m:p{i}:1", rules).outcome for i in range(2000)]
    assert fates == [fate_of(f"m:p{i}:1", rules).outcome for i in range(2000)]
    shares = {o: fates.count(o) / 2000 for o in ("answered", "no_answer", "busy", "failed")}
    assert shares == pytest.approx(
        {"answered": 0.4, "no_answer": 0.3, "busy": 0.2, "failed": 0.1}, abs=0.04
    )
    retried = [fate_of(f"m:p{i}:2", rules).outcome for i in range(2000)]
    assert retried != fates


def test_a_busy_call_fails_after_ringing_with_its_reason():
    c = conferences(busy_share=1)
    b = bridge(c)
    call = dial(c, b, "r1")
    c.advance(0.5)
    assert types(c, call_id=call) == ["call.ringing"]
    c.advance(1.0)
    failed = [w.body for w in c.take_owed(2, 100)]
    assert [(e["type"], e["reason"]) for e in failed] == [("call.failed", "busy")]
    assert c.participants(b, 2) == []


def test_an_answered_listener_joins_presses_1_and_an_early_leaver_leaves_with_seconds():
    c = conferences(confirm_share=1, leave_early_share=1, early_stay_s=4.0)
    b = bridge(c)
    call = dial(c, b, "r1")
    c.advance(100)
    story = [w.body for w in c.take_owed(100, 100) if w.body["call_id"] == call]
    assert [e["type"] for e in story] == [
        "call.ringing",
        "call.answered",
        "participant.joined",
        "dtmf",
        "participant.left",
    ]
    assert story[3]["digits"] == "1" and story[2]["participant_ref"] == "p-r1"
    assert 2 <= story[4]["seconds"] <= 4
    [record] = c.participants(b, 100)
    assert record["left_at"] and record["seconds"] == story[4]["seconds"]


def test_ending_a_speaker_bridge_ends_its_listen_only_children_and_every_leg_leaves():
    c = conferences()
    speakers = bridge(c, "speakers")
    child = bridge(c, "listeners-1", listen_only=True, parent_bridge_id=speakers)
    call = dial(c, child, "r1", muted=False)
    c.advance(61)
    c.end(speakers, 61)
    c.end(speakers, 62)  # twice changes nothing
    assert c.bridges[child].ended and c.bridges[child].legs[call].muted  # listen-only
    owed = types(c)
    assert owed.count("bridge.ended") == 2 and owed.count("participant.left") == 1
    [record] = c.participants(child, 70)
    assert record["seconds"] == 60
    with pytest.raises(ConferenceRefusal) as refused:
        dial(c, child, "r2", now=63)
    assert refused.value.kind == "bridge-ended"


def test_muting_all_mutes_the_listeners_and_leaves_the_speakers_as_they_were():
    c = conferences()
    b = bridge(c)
    speaker, listener = dial(c, b, "s", muted=False), dial(c, b, "l", muted=True)
    c.mute(b, False, None)
    assert not c.bridges[b].legs[listener].muted
    c.mute(b, True, None)
    assert c.bridges[b].legs[listener].muted and not c.bridges[b].legs[speaker].muted
    c.mute(b, True, speaker)
    assert c.bridges[b].legs[speaker].muted


def test_duplicated_webhooks_carry_the_same_event_id():
    c = conferences(duplicate_share=1)
    b = bridge(c)
    dial(c, b, "r1")
    owed = [w.body for w in c.take_owed(10, 100)]
    ids = [e["event_id"] for e in owed]
    assert len(ids) == 4 and len(set(ids)) == 2  # bridge.started and call.ringing, each twice


def test_an_out_of_order_leg_delivers_its_left_before_its_joined():
    c = conferences(out_of_order_share=1, leave_early_share=1)
    b = bridge(c)
    call = dial(c, b, "r1")
    c.advance(100)
    owed = [w.body for w in c.take_owed(200, 100) if w.body["call_id"] == call]
    delivered = [e["type"] for e in owed]
    assert delivered.index("participant.left") < delivered.index("participant.joined")
    by_time = sorted(owed, key=lambda e: e["occurred_at"])
    assert [e["type"] for e in by_time].index("participant.joined") < [
        e["type"] for e in by_time
    ].index("participant.left")


def test_lost_webhooks_are_still_in_the_end_of_call_records():
    c = conferences(lost_share=1, leave_early_share=1)
    b = bridge(c)
    dial(c, b, "r1")
    c.advance(100)
    assert types(c) == []
    [record] = c.participants(b, 100)
    assert record["participant_ref"] == "p-r1" and record["left_at"] is not None


def test_a_late_joiner_dials_in_with_the_pin_and_is_reported_by_a_hash_of_their_number():
    c = conferences()
    b = bridge(c)
    leg = c.dial_in(c.bridges[b].pin, "+919812345678", 5)
    joined = [w.body for w in c.take_owed(5, 100) if w.body["type"] == "participant.joined"]
    assert joined[0]["from_hash"] == "h(5678)" and joined[0]["participant_ref"] is None
    assert "+919812345678" not in str(joined) and leg.via == "dial_in"
    with pytest.raises(ConferenceRefusal) as refused:
        c.dial_in("000000" if c.bridges[b].pin != "000000" else "111111", "+919812345678", 5)
    assert refused.value.status == 404


def test_opening_a_video_room_twice_is_one_leg_and_audio_calls_are_refused_there():
    c = conferences()
    room = bridge(c, "vc", kind="video")
    first = c.join_room(room, "p1", 1)
    assert c.join_room(room, "p1", 2) is first
    with pytest.raises(ConferenceRefusal) as refused:
        dial(c, room, "r1")
    assert refused.value.kind == "not-an-audio-bridge"


def test_a_bridge_takes_the_pin_its_invitees_were_given_and_refuses_one_already_taken():
    c = conferences()
    first = bridge(c, "b1", pin="4321")
    assert c.dial_in("4321", "+919812345678", 1).bridge_id == first
    with pytest.raises(ConferenceRefusal) as refused:
        bridge(c, "b2", pin="4321")
    assert refused.value.kind == "pin-taken"
