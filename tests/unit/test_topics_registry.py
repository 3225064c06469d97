"""The topic registry is the one place topics are defined; these checks keep it consistent."""

import pytest

from shared import topics
from shared.events import types
from shared.events.contracts import load_schema


def test_every_event_type_is_carried_by_exactly_one_topic():
    carried = [t for topic in topics.TOPICS for t in topic.event_types]
    assert sorted(carried) == sorted(types.ALL)


def test_topic_for_finds_the_topic_and_refuses_unknown_types():
    assert topics.topic_for(types.APPOINTMENT_REVOKED) is topics.APPOINTMENTS
    with pytest.raises(LookupError):
        topics.topic_for("org.sangathan.nothing.v1")


def test_all_appointment_events_share_one_topic_so_a_booth_stays_in_order():
    # A unit office-bearer's changes are keyed by their own booth, beside its team's.
    assert set(topics.APPOINTMENTS.event_types) == {
        types.BOOTH_PRESIDENT_APPOINTED,
        types.BOOTH_MEMBER_APPOINTED,
        types.APPOINTMENT_VERIFIED,
        types.APPOINTMENT_REVOKED,
        types.UNIT_OFFICER_CHANGED,
    }


def test_topic_names_are_unique_and_versioned():
    names = [topic.name for topic in topics.TOPICS]
    assert len(names) == len(set(names))
    assert all(name.startswith("sangathan.") and name.endswith(".v1") for name in names)


@pytest.mark.parametrize("topic", [t for t in topics.TOPICS if t.event_types], ids=lambda t: t.name)
def test_the_key_field_is_a_required_field_of_every_event_the_topic_carries(topic):
    for event_type in topic.event_types:
        schema = load_schema(event_type)
        assert topic.key_field in schema["required"], event_type
        assert schema["properties"][topic.key_field]["type"] == "string"


def test_booth_keyed_streams_have_12_partitions():
    booth_keyed = [t for t in topics.TOPICS if t.key_field == "booth_id"]
    assert {t.name for t in booth_keyed if t.carries == topics.EVENTS} == {
        topics.OTP_REQUESTS.name,
        topics.OTP_RESULTS.name,
        topics.DELIVERY_STATUS.name,
        topics.DIRECTIVE_ACKS.name,
        topics.APPOINTMENTS.name,
        topics.ERASURES.name,
        topics.MEETING_ATTENDANCE.name,
        topics.REPORT_SUBMISSIONS.name,
        topics.WHATSAPP_GROUPS.name,
    }
    assert {t.partitions for t in booth_keyed} == {12}


def test_every_topic_says_what_it_carries_and_only_event_topics_carry_event_types():
    assert {t.carries for t in topics.TOPICS} == {topics.EVENTS, topics.TASKS, topics.DEAD_LETTERS}
    for topic in topics.TOPICS:
        assert bool(topic.event_types) == (topic.carries == topics.EVENTS), topic.name


def test_the_notifiers_lane_topics_are_task_queues_keyed_by_booth():
    lanes = [t for t in topics.TOPICS if t.carries == topics.TASKS]
    assert lanes == [
        topics.DELIVERY_TASKS_URGENT,
        topics.DELIVERY_TASKS_NORMAL,
        topics.DELIVERY_TASKS_BULK,
    ]
    assert {t.key_field for t in lanes} == {"booth_id"}
    # They carry phones: kept a day at most.
    assert all(int(t.config(1)["retention.ms"]) <= topics.DAY_MS for t in lanes)


def test_the_dead_letter_topic_carries_no_event_type_of_its_own():
    assert topics.DEAD_LETTER in topics.TOPICS
    assert (
        topics.DEAD_LETTER.event_types == () and topics.DEAD_LETTER.carries == topics.DEAD_LETTERS
    )
    assert topics.DEAD_LETTER.key_field is None  # records keep whatever key they had


def test_retention_fits_what_each_topic_holds():
    assert topics.APPOINTMENTS.config(1)["retention.ms"] == "-1"  # analytics replays from the start
    otp = topics.OTP_REQUESTS.config(1)  # phones: hours, not days
    assert (
        int(otp["retention.ms"]) <= 24 * topics.HOUR_MS and int(otp["segment.ms"]) <= topics.HOUR_MS
    )
    assert topics.COVERAGE.config(1)["cleanup.policy"] == "compact"
    assert "retention.ms" not in topics.COVERAGE.config(1)


@pytest.mark.parametrize(("replicas", "min_insync"), [(1, "1"), (2, "1"), (3, "2"), (5, "2")])
def test_min_insync_replicas_follow_the_replication_factor(replicas, min_insync):
    assert topics.APPOINTMENTS.config(replicas)["min.insync.replicas"] == min_insync


def test_replication_factor_is_1_locally_and_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("KAFKA_REPLICATION_FACTOR", raising=False)
    assert topics.replication_factor() == 1
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    assert topics.replication_factor() == 3
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "0")
    with pytest.raises(ValueError):
        topics.replication_factor()
