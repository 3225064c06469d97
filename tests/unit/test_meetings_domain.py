"""The meetings' pure rules: when a meeting may be held, how a series becomes meetings, what an
invitee reads, and the join links only this service can mint."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from meetings import links
from meetings.domain import (
    AUDIO,
    BLACKOUT,
    NOTIFY,
    QUIET_HOURS,
    REMIND,
    VIDEO,
    Meeting,
    Refused,
    check_schedulable,
    chunks,
    invited_event_id,
    job_dues,
    message_text,
    occurrences,
    series_id,
    start_refused,
    visible_to,
)
from notifier.domain import acks
from shared.sending.policy import IST, SendingPolicy

NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)  # 10:00 IST


def meeting(**changes) -> Meeting:
    values = dict(
        meeting_id="7c1e4b2a-5d3f-4e6a-9b8c-1a2b3c4d5e6f",
        series_id="7c1e4b2a-5d3f-4e6a-9b8c-1a2b3c4d5e6f",
        kind=AUDIO,
        organiser="user-mp",
        organiser_unit="IN-MP",
        scope=("IN-MP-D07",),
        audience=("booth_president",),
        title={"hi": "बूथ अध्यक्ष बैठक", "en": "Booth presidents' meeting"},
        starts_at=datetime(2030, 1, 2, 18, 0, tzinfo=IST),
        duration_minutes=60,
        scheduled_at=NOW,
        pin="482913",
    )
    values.update(changes)
    return Meeting(**values)


# --- when a meeting may be held ----------------------------------------------------------------


def test_a_meeting_in_the_evening_may_be_held():
    check_schedulable(meeting(), SendingPolicy(), NOW)


def test_a_meeting_at_night_is_refused_saying_when_it_may_start():
    late = meeting(starts_at=datetime(2030, 1, 2, 23, 0, tzinfo=IST))
    with pytest.raises(Refused) as refused:
        check_schedulable(late, SendingPolicy(), NOW)
    assert refused.value.status == 422
    assert refused.value.kind == "outside-sending-window"
    assert (
        refused.value.extensions["may_start_at"]
        == datetime(2030, 1, 3, 6, 0, tzinfo=IST).isoformat()
    )
    assert "03 Jan 2030 06:00" in refused.value.detail


def test_a_state_meeting_in_the_blackout_of_one_of_its_constituencies_is_refused():
    close = datetime(2030, 1, 3, 18, 0, tzinfo=IST)
    policy = SendingPolicy(polls={"IN-MP-D07-A03": close})
    state_wide = meeting(scope=("IN-MP",), starts_at=datetime(2030, 1, 2, 18, 0, tzinfo=IST))
    with pytest.raises(Refused) as refused:
        check_schedulable(state_wide, policy, NOW)
    assert refused.value.extensions["may_start_at"] == close.isoformat()


def test_a_meeting_of_a_district_without_a_poll_ignores_another_districts_blackout():
    policy = SendingPolicy(polls={"IN-MP-D08-A01": datetime(2030, 1, 3, 18, 0, tzinfo=IST)})
    check_schedulable(meeting(scope=("IN-MP-D07",)), policy, NOW)


def test_a_meeting_in_the_past_is_refused():
    with pytest.raises(Refused) as refused:
        check_schedulable(meeting(starts_at=NOW - timedelta(minutes=1)), SendingPolicy(), NOW)
    assert refused.value.kind == "starts-in-past"


def test_a_close_of_poll_configured_after_scheduling_holds_back_the_start_in_its_blackout():
    scheduled = meeting(scope=("IN-MP",))  # 2 Jan 18:00 IST: allowed when it was scheduled
    check_schedulable(scheduled, SendingPolicy(), NOW)
    later = SendingPolicy(polls={"IN-MP-D07-A03": datetime(2030, 1, 3, 18, 0, tzinfo=IST)})
    assert start_refused(scheduled, later, scheduled.starts_at) == BLACKOUT
    assert start_refused(scheduled, SendingPolicy(), scheduled.starts_at) is None


def test_a_start_taken_up_late_into_the_quiet_hours_is_held_back_for_them():
    evening = meeting(starts_at=datetime(2030, 1, 2, 21, 59, tzinfo=IST))
    assert start_refused(evening, SendingPolicy(), evening.starts_at) is None
    late = datetime(2030, 1, 2, 22, 10, tzinfo=IST)
    assert start_refused(evening, SendingPolicy(), late) == QUIET_HOURS
    assert start_refused(evening, SendingPolicy(quiet_start=None), late) is None


def test_a_start_on_time_is_not_judged_again_for_the_quiet_hours_its_scheduling_judged():
    evening = meeting(starts_at=datetime(2030, 1, 2, 21, 59, tzinfo=IST))
    a_minute_late = datetime(2030, 1, 2, 22, 1, tzinfo=IST)  # within LATE_START: on time
    assert start_refused(evening, SendingPolicy(), a_minute_late) is None


def test_at_night_in_a_blackout_the_blackout_is_the_reason_given():
    night = datetime(2030, 1, 2, 23, 0, tzinfo=IST)
    policy = SendingPolicy(polls={"IN-MP-D07": datetime(2030, 1, 3, 18, 0, tzinfo=IST)})
    assert start_refused(meeting(), policy, night) == BLACKOUT


def test_the_start_is_judged_at_the_moment_given_not_the_planned_one():
    close = datetime(2030, 1, 5, 18, 0, tzinfo=IST)  # blackout from 3 Jan 18:00
    policy = SendingPolicy(polls={"IN-MP-D07": close})
    planned = meeting()  # 2 Jan 18:00: before the blackout
    assert start_refused(planned, policy, planned.starts_at) is None
    assert start_refused(planned, policy, datetime(2030, 1, 3, 18, 0, tzinfo=IST)) == BLACKOUT


# --- a series becomes meetings -----------------------------------------------------------------


def test_a_weekly_series_makes_one_meeting_per_week_with_ids_that_a_retry_repeats():
    rule = {"rrule": "FREQ=WEEKLY;BYHOUR=19;COUNT=4", "timezone": "Asia/Kolkata", "until": None}
    first = meeting(starts_at=datetime(2030, 1, 2, 19, 0, tzinfo=IST))
    pins = iter(["111111", "222222", "333333", "444444"])
    made = occurrences(first, rule, pin=lambda: next(pins))
    again = occurrences(first, rule, pin=lambda: "000000")
    assert [m.starts_at for m in made] == [
        datetime(2030, 1, 2, 19, 0, tzinfo=IST) + timedelta(weeks=n) for n in range(4)
    ]
    assert [m.meeting_id for m in made] == [m.meeting_id for m in again]
    assert len({m.meeting_id for m in made}) == 4
    assert [m.pin for m in made] == ["111111", "222222", "333333", "444444"]
    assert all(m.recurrence == "FREQ=WEEKLY;BYHOUR=19;COUNT=4" for m in made)


def test_a_series_without_an_end_is_refused():
    rule = {"rrule": "FREQ=DAILY;BYHOUR=19", "timezone": "Asia/Kolkata", "until": None}
    with pytest.raises(Refused) as refused:
        occurrences(meeting(), rule, pin=lambda: "1")
    assert refused.value.kind == "unbounded-recurrence"


def test_a_rule_beyond_the_directives_subset_is_refused_naming_the_part():
    rule = {"rrule": "FREQ=MONTHLY;BYHOUR=19;COUNT=2", "timezone": "Asia/Kolkata", "until": None}
    with pytest.raises(Refused) as refused:
        occurrences(meeting(), rule, pin=lambda: "1")
    assert refused.value.kind == "invalid-recurrence" and "FREQ" in refused.value.detail


def test_the_same_key_names_the_same_series_and_no_key_a_new_one():
    assert series_id("user-mp", "k1") == series_id("user-mp", "k1")
    assert series_id("user-mp", "k1") != series_id("user-hp", "k1")
    assert series_id("user-mp", None) != series_id("user-mp", None)


def test_an_invitations_event_id_is_the_uuid5_consumers_already_hold():
    # Made faster than uuid.uuid5, it must stay the same id: a retried chunk repeats it, and
    # events published before the change are recognised after it.
    meeting_id = str(uuid.uuid4())
    for participant_id in [str(uuid.uuid4()) for _ in range(200)] + ["p1", "सदस्य"]:
        expected = uuid.uuid5(uuid.UUID(meeting_id), f"invited:{participant_id}")
        assert invited_event_id(meeting_id, participant_id) == str(expected)


def test_a_single_video_meeting_has_no_pin_and_a_room_of_its_own_or_its_units():
    [single] = occurrences(meeting(kind=VIDEO, pin=None, room="per_meeting"), None, pin=lambda: "9")
    assert single.pin is None and single.room_ref == f"meeting-{single.meeting_id}"
    standing = meeting(kind=VIDEO, room="standing", organiser_unit="IN-HP-D05")
    assert standing.room_ref == "standing-IN-HP-D05"


# --- who sees it, when it reminds, how it is read ----------------------------------------------


def test_a_district_sees_its_states_meeting_that_reaches_it_but_not_another_districts():
    state_wide = meeting(organiser_unit="IN-MP", scope=("IN-MP",))
    other = meeting(organiser_unit="IN-MP-D08", scope=("IN-MP-D08",))
    assert visible_to(state_wide, "IN-MP-D07")
    assert not visible_to(other, "IN-MP-D07")
    assert not visible_to(state_wide, "IN-HP")


def test_the_reminder_is_due_before_the_start_unless_the_invitation_is_already_that_close():
    dues = job_dues(meeting(), timedelta(minutes=15))
    assert dues[REMIND] == datetime(2030, 1, 2, 17, 45, tzinfo=IST)
    soon = meeting(starts_at=NOW + timedelta(minutes=10))
    assert job_dues(soon, timedelta(minutes=15))[REMIND] is None


def test_a_state_is_read_district_by_district_and_a_district_whole():
    districts = {"IN-MP": ["IN-MP-D01", "IN-MP-D02"]}
    assert chunks(["IN-MP", "IN-MP-D01"], lambda u: districts.get(u, [])) == [
        "IN-MP-D01",
        "IN-MP-D02",
    ]
    assert chunks(["IN-HP-D05"], lambda u: []) == ["IN-HP-D05"]


def test_an_audio_invitation_in_hindi_gives_the_time_in_india_the_number_and_the_pin():
    text = message_text(meeting(), NOTIFY, "hi", dial_in="+911140000700", link=None)
    assert "बूथ अध्यक्ष बैठक" in text
    assert "02 Jan 2030 18:00 IST" in text
    assert "+911140000700" in text and "482913" in text


def test_a_video_reminder_in_english_gives_the_invitees_own_link():
    video = meeting(kind=VIDEO, pin=None)
    text = message_text(video, REMIND, "en", dial_in="+911140000700", link="https://l/j/abc")
    assert text.startswith("Reminder: Booth presidents' meeting")
    assert "https://l/j/abc" in text and "+911140000700" not in text


# --- join links --------------------------------------------------------------------------------

KEY = b"j" * 32
CLAIM = links.JoinClaim(
    "7c1e4b2a-5d3f-4e6a-9b8c-1a2b3c4d5e6f",
    "0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e11",
    "IN-MP-D07-A03-M02-S05-B012",
)


def test_a_join_link_reads_back_as_the_invitee_it_was_minted_for():
    link = links.JoinLinks(KEY, "https://links.example/").link(CLAIM)
    assert link.startswith("https://links.example/j/")
    assert links.read(KEY, link.rsplit("/", 1)[1]) == CLAIM


def test_a_join_link_under_another_key_or_altered_is_refused():
    token = links.mint(KEY, CLAIM)
    with pytest.raises(links.InvalidJoinToken):
        links.read(b"x" * 32, token)
    payload, mac = token.split(".")
    with pytest.raises(links.InvalidJoinToken):
        links.read(KEY, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac)
    with pytest.raises(links.InvalidJoinToken):
        links.read(KEY, "not-a-token")


def test_an_acknowledgement_token_is_no_join_link_even_under_the_same_key():
    ack = acks.mint(KEY, acks.AckClaim(CLAIM.meeting_id, CLAIM.participant_id, CLAIM.booth_id))
    with pytest.raises(links.InvalidJoinToken):
        links.read(KEY, ack)
    assert acks.read(KEY, ack).booth_id == CLAIM.booth_id
