"""The stream's handlers over dict tables and hand-written fakes of its adapters."""

import asyncio
import json
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from analytics.adapters.registry import CachedRegistry
from analytics.coverage.deadline import Target
from analytics.coverage.domain import Counts
from analytics.coverage.partials import COVERAGE, REACH, partial_key
from analytics.coverage.stream import CoverageStream
from shared.events import types as t
from shared.events.contracts import new_event, to_kafka
from testkit.rollout import Seat, team

ANCESTORS = [
    "IN",
    "IN-HP",
    "IN-HP-D01",
    "IN-HP-D01-A01",
    "IN-HP-D01-A01-M01",
    "IN-HP-D01-A01-M01-S01",
]


def unit(unit_id: str, level: str, booths: int) -> dict:
    depth = unit_id.count("-")
    return {
        "id": unit_id,
        "level": level,
        "parent": ANCESTORS[depth - 1] if depth else None,
        "ancestors": ANCESTORS[:depth],
        "state": "HP" if depth else None,
        "name": unit_id,
        "name_hi": unit_id,
        "booths": booths,
    }


class FakeOrgRegistry:
    """OrgRegistry's get and children, over a small tree; `down` makes it fail that many times."""

    def __init__(self):
        levels = ["national", "state", "district", "assembly", "mandal", "sector"]
        self.units = {u: unit(u, level, 2) for u, level in zip(ANCESTORS, levels)}
        for b in ("B001", "B002"):
            self.units[f"{ANCESTORS[-1]}-{b}"] = unit(f"{ANCESTORS[-1]}-{b}", "booth", 1)
        self.down = 0

    def get(self, unit_id):
        if self.down:
            self.down -= 1
            raise ConnectionError("registry down")
        return self.units.get(unit_id)

    def children(self, unit_id):
        return [u for u in self.units.values() if u["parent"] == unit_id]


class FakePartials:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.sent: dict[str, dict] = {}
        self.directives: list[dict] = []
        self.records: dict[str, dict] = {}

    async def publish(self, kind, items):
        return await self.send(self.encode(kind, items))

    @staticmethod
    def encode(kind, items):
        """As PartialsOut encodes: each value as it is now (None: a tombstone, withdrawn)."""
        return [
            (partition, partial_key(kind, ident, partition), value and json.dumps(value.to_json()))
            for partition, ident, value in items
        ]

    async def send(self, records):
        for _, key, value in records:
            self.sent[key] = value and json.loads(value)
        return len(records)

    async def publish_directive(self, directive):
        self.directives.append(directive)

    async def publish_record(self, key, value):
        self.records[key] = value


class FakeCoverage:
    def __init__(self):
        self.sent: list[dict] = []

    async def publish(self, updates):
        updates = list(updates)
        self.sent.extend(updates)
        return len(updates)


class FakeDeadLetters:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    async def send(self, message, reason, exc):
        self.sent.append((reason, str(exc)))


BOOTH = unit(f"{ANCESTORS[-1]}-B001", "booth", 1)


@pytest.fixture
def org():
    return FakeOrgRegistry()


@pytest.fixture
def stream(org):
    return CoverageStream(
        registry=CachedRegistry(org, children_ttl_s=60),
        partials=FakePartials(),
        coverage=FakeCoverage(),
        dead_letters=FakeDeadLetters(),
        targets={"IN-HP": Target("IN-HP", datetime(2030, 1, 1, tzinfo=timezone.utc))},
        rate_window_hours=6,
        group="test-analytics",
    )


def message(event, partition=3, offset=0, **override):
    _, key, value, headers = to_kafka(event)
    fields = {
        "topic": "scratch.appointments",
        "partition": partition,
        "offset": offset,
        "key": key,
        "value": value,
        "headers": headers,
        **override,
    }
    return SimpleNamespace(**fields)


def run(coroutine):
    return asyncio.run(coroutine)


def published(stream, unit_id, partition=3):
    return stream.partials.sent.get(partial_key(COVERAGE, unit_id, partition))


def unknown_units() -> float:
    return (
        REGISTRY.get_sample_value(
            "sangathan_analytics_unknown_units_total", {"type": t.APPOINTMENT_VERIFIED}
        )
        or 0
    )


def test_a_verified_team_is_counted_for_the_booth_and_every_unit_above(stream):
    booths = {}
    seats = team(BOOTH)
    outcomes = [
        run(stream.on_appointment(message(s.appointed(datetime.now(timezone.utc))), booths))
        for s in seats
    ]
    outcomes += [
        run(stream.on_appointment(message(s.verified(datetime.now(timezone.utc))), booths))
        for s in seats
    ]
    assert outcomes == ["pending"] * 12 + ["counted"] * 12
    run(stream.publish_partials())
    for unit_id in [*ANCESTORS, BOOTH["id"]]:
        counts = published(stream, unit_id)
        assert (
            counts["booths_complete"],
            counts["verified_appointees"],
            counts["verified_women"],
        ) == (1, 12, 3)
    assert booths[BOOTH["id"]].partition == 3


def test_a_replayed_event_is_a_duplicate_and_changes_nothing(stream):
    booths = {}
    verified = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    assert run(stream.on_appointment(message(verified), booths)) == "counted"
    run(stream.publish_partials())
    assert run(stream.on_appointment(message(verified, offset=1), booths)) == "duplicate"
    assert run(stream.publish_partials()) == 0


def test_a_record_that_is_not_a_cloudevent_is_dead_lettered(stream):
    garbage = SimpleNamespace(
        topic="x", partition=0, offset=5, key=b"k", value=b"not json", headers=[]
    )
    assert run(stream.on_appointment(garbage, {})) == "dead_lettered"
    assert stream.dead_letters.sent[0][0] == "unparseable"


def test_an_event_breaking_its_schema_is_dead_lettered_with_the_field(stream):
    event = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    record = message(event)
    record.value = record.value.replace(b'"female"', b'"unknown"')
    assert run(stream.on_appointment(record, {})) == "dead_lettered"
    reason, error = stream.dead_letters.sent[0]
    assert reason == "invalid" and "gender" in error


def test_an_event_for_a_booth_the_registry_lacks_is_counted_and_dead_lettered(stream):
    ghost = unit(f"{ANCESTORS[-1]}-B099", "booth", 1)
    before = unknown_units()
    event = Seat(ghost, "booth_president", "female").verified(datetime.now(timezone.utc))
    assert run(stream.on_appointment(message(event), {})) == "dead_lettered"
    assert stream.dead_letters.sent == [
        ("rejected", f"booth {ghost['id']} is not in the org registry")
    ]
    assert unknown_units() == before + 1


def test_an_event_whose_path_contradicts_the_registry_is_dead_lettered(stream):
    misplaced = {**BOOTH, "ancestors": ["IN", "IN-HP", "IN-HP-D02", *ANCESTORS[3:]]}
    event = Seat(misplaced, "booth_president", "female").verified(datetime.now(timezone.utc))
    assert run(stream.on_appointment(message(event), {})) == "dead_lettered"
    assert "does not match the registry" in stream.dead_letters.sent[0][1]


def test_a_registry_outage_delays_an_event_instead_of_dropping_it(stream, org):
    org.down = 1
    event = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    assert run(stream.on_appointment(message(event), {})) == "counted"
    assert stream.dead_letters.sent == []


def test_a_rebuild_from_the_table_publishes_what_the_events_did(stream, org):
    booths = {}
    for seat in team(BOOTH):
        run(stream.on_appointment(message(seat.verified(datetime.now(timezone.utc))), booths))
    run(stream.publish_partials())
    incremental = dict(stream.partials.sent)
    stream.partials.sent.clear()
    stream.view.on_record(
        partial_key(COVERAGE, "IN-UP", 3), Counts(booths_with_verified_president=9).to_json()
    )
    run(stream.rebuild({3}, booths.values(), []))
    assert {k: v for k, v in stream.partials.sent.items() if "IN-UP" not in k} == incremental
    assert (
        stream.partials.sent[partial_key(COVERAGE, "IN-UP", 3)]["booths_with_verified_president"]
        == 0
    )


def test_revoked_partitions_are_published_then_forgotten(stream):
    event = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    run(stream.on_appointment(message(event, partition=5), {}))
    run(stream.on_revoked({5, 6}))
    assert published(stream, "IN-HP", 5)["booths_with_verified_president"] == 1
    assert stream.coverage_book.partitions() == set()


def feed_view(stream):
    for key, value in stream.partials.sent.items():
        stream.view.on_record(key, value)


def test_the_leader_says_each_changed_unit_once_and_no_more(stream):
    event = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    run(stream.on_appointment(message(event), {}))
    run(stream.publish_partials())
    feed_view(stream)
    assert run(stream.emit_coverage(is_leader=False)) == 0
    assert run(stream.emit_coverage(is_leader=True)) == len(ANCESTORS)  # every unit but the booth
    assert {u["unit_id"] for u in stream.coverage.sent} == set(ANCESTORS)
    state = next(u for u in stream.coverage.sent if u["unit_id"] == "IN-HP")
    assert (state["level"], state["booths_total"], state["booths_with_verified_president"]) == (
        "state",
        2,
        1,
    )
    feed_view(stream)  # the same partials again: nothing new to say
    assert run(stream.emit_coverage(is_leader=True)) == 0


def test_reach_counts_each_booth_once_whatever_the_order_of_reports(stream):
    directive_id = str(uuid.uuid4())
    booths, marks = {}, {}
    verified = Seat(BOOTH, "booth_president", "female").verified(datetime.now(timezone.utc))
    run(stream.on_appointment(message(verified), booths))

    def report(event_type, **data):
        base = {
            "directive_id": directive_id,
            "booth_id": BOOTH["id"],
            "booth_path": dict(
                zip(["state", "district", "assembly", "mandal", "sector"], ANCESTORS[1:])
            ),
            "recipient_id": str(uuid.uuid4()),
        }
        event = new_event(event_type, {**base, **data}, "/sangathan/notifier")
        return run(stream.on_reach(message(event), marks, booths))

    delivery = {
        "delivery_id": str(uuid.uuid4()),
        "otp_request_id": None,
        "channel": "whatsapp",
        "provider_message_id": "wamid.1",
        "occurred_at": "2026-11-01T10:00:00Z",
        "error": None,
    }
    assert report(t.DELIVERY_STATUS, status="read", **delivery) == "counted"
    assert report(t.DELIVERY_STATUS, status="delivered", **delivery) == "duplicate"
    assert report(t.DELIVERY_STATUS, status="sent", **delivery) == "ignored"
    assert (
        report(t.DIRECTIVE_ACKNOWLEDGED, via="reply", acknowledged_at="2026-11-01T10:05:00Z")
        == "counted"
    )
    run(stream.publish_partials())
    reach = stream.partials.sent[partial_key(REACH, directive_id, 3)]
    assert (reach["delivered"], reach["acknowledged"]) == (1, 1)


def test_a_directive_targets_the_booths_of_its_scope_once(stream):
    data = {
        "directive_id": str(uuid.uuid4()),
        "issued_by": "user-7",
        "issuing_unit": "IN",
        "title": {"en": "T", "hi": "T"},
        "body": {"en": "B", "hi": "B"},
        "scope": ["IN-HP", "IN-HP-D01"],
        "audience": ["booth_president"],
        "channels": ["whatsapp"],
        "priority": "normal",
        "send_at": None,
        "recurrence": None,
        "expires_at": "2026-12-01T00:00:00Z",
        "issued_at": "2026-11-01T00:00:00Z",
    }
    event = new_event(t.DIRECTIVE_ISSUED, data, "/sangathan/notifier")
    assert run(stream.on_directive(message(event, partition=0))) == "counted"
    assert (
        stream.partials.directives[0]["booths_targeted"] == 2
    )  # IN-HP's booths; D01 lies inside it
