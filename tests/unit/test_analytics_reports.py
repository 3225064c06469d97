"""Report rollups and WhatsApp groups folded over dict tables: the reports stream with fakes of
its adapters, its partials read back into a view as every worker reads them."""

import asyncio

import pytest

from analytics.adapters.registry import CachedRegistry
from analytics.reports.domain import BoothReport, ReportCounts, report_contributions
from analytics.reports.stream import ReportsStream
from analytics.reports.totals import ReportsView
from testkit.reports import Round, answer, group_updated

from .test_analytics_stream import FakeDeadLetters, FakeOrgRegistry, FakePartials, message

SECTOR = "IN-HP-D01-A01-M01-S01"
MANDAL, DISTRICT, STATE = "IN-HP-D01-A01-M01", "IN-HP-D01", "IN-HP"
B1, B2, B3 = (f"{SECTOR}-B00{n}" for n in (1, 2, 3))
OTHER_DISTRICT_BOOTH = "IN-HP-D02-A01-M01-S01-B001"


@pytest.fixture
def stream():
    return ReportsStream(
        registry=CachedRegistry(FakeOrgRegistry(), children_ttl_s=60),
        partials=FakePartials(),
        dead_letters=FakeDeadLetters(),
        group="test-analytics",
    )


@pytest.fixture
def tables():
    return {}, {}


def feed(stream, tables, *events, partition=3):
    async def go():
        outcomes = []
        for event in events:
            handler = stream.on_group if event.type.endswith("whatsapp-group-updated.v1") else None
            if handler is not None:
                outcomes.append(await handler(message(event, partition), tables[1]))
            else:
                outcomes.append(await stream.on_report(message(event, partition), tables[0]))
        await stream.publish_partials()
        return outcomes

    return asyncio.run(go())


def view_of(stream) -> ReportsView:
    view = ReportsView()
    for key, value in stream.partials.sent.items():
        view.on_record(key, value)
    return view


def mood(option: str) -> dict:
    return answer("mood", options=[option])


def test_a_booth_dispatched_twice_is_expected_once_and_a_replayed_submission_counts_once(
    stream, tables
):
    day = Round()
    first = day.submitted(B1, [mood("good")])
    outcomes = feed(
        stream, tables, day.dispatched(B1), day.dispatched(B1), day.dispatched(B2), first, first
    )
    assert outcomes == ["counted", "duplicate", "counted", "counted", "duplicate"]
    # The same submission id again in a new event (a client retrying through another path).
    again = day.submitted(B1, [mood("poor")], submission_id=first.data["submission_id"])
    assert feed(stream, tables, again) == ["duplicate"]
    for unit in ("IN", STATE, DISTRICT, MANDAL, SECTOR):
        totals = view_of(stream).rollup(day.form_id, day.period_key, unit)
        assert (totals.expected, totals.submitted, totals.late) == (2, 1, 0), unit
        assert totals.options == {"mood": {"good": 1}}
    assert view_of(stream).rollup(day.form_id, day.period_key, MANDAL).silent_booths() == [B2]
    assert view_of(stream).rollup(day.form_id, day.period_key, STATE).booths == {}


def test_an_answer_after_a_rejection_replaces_the_booths_options_and_numbers(stream, tables):
    day = Round()
    first = day.submitted(B1, [mood("good"), answer("masks", number=100)])
    feed(stream, tables, day.dispatched(B1), first, day.reviewed(first, "rejected", "other"))
    totals = view_of(stream).rollup(day.form_id, day.period_key, DISTRICT)
    assert (totals.submitted, totals.rejected, totals.accepted) == (1, 1, 0)

    second = day.submitted(B1, [mood("poor"), answer("masks", number=40)], attempt=2)
    feed(stream, tables, second, day.reviewed(second, "accepted"))
    totals = view_of(stream).rollup(day.form_id, day.period_key, DISTRICT)
    assert (totals.expected, totals.submitted, totals.rejected, totals.accepted) == (1, 1, 0, 1)
    assert totals.options == {"mood": {"poor": 1}}
    assert totals.sums == {"masks": 40}
    # The first attempt's review arriving again, or the first attempt replayed, changes nothing.
    assert feed(stream, tables, day.reviewed(first, "rejected", "other"), first) == [
        "duplicate",
        "duplicate",
    ]
    assert view_of(stream).rollup(day.form_id, day.period_key, DISTRICT).sums == {"masks": 40}


def test_an_older_attempt_arriving_after_a_newer_one_is_not_counted(stream, tables):
    day = Round()
    older = day.submitted(B1, [mood("good")], attempt=1)
    newer = day.submitted(B1, [mood("mixed")], attempt=2)
    assert feed(stream, tables, day.dispatched(B1), newer, older) == ["counted"] * 3
    totals = view_of(stream).rollup(day.form_id, day.period_key, SECTOR)
    assert (totals.submitted, totals.options) == (1, {"mood": {"mixed": 1}})
    assert feed(stream, tables, older) == ["duplicate"]


def test_late_answers_are_kept_and_counted_apart(stream, tables):
    day = Round()
    feed(
        stream,
        tables,
        *(day.dispatched(b) for b in (B1, B2, B3)),
        day.submitted(B1, [mood("good")], late=True),
        day.submitted(B2, [mood("good")]),
    )
    totals = view_of(stream).rollup(day.form_id, day.period_key, MANDAL)
    assert (totals.expected, totals.submitted, totals.late) == (3, 2, 1)
    assert totals.options == {"mood": {"good": 2}}
    assert totals.silent_booths() == [B3]


def test_a_question_hidden_by_its_show_if_is_absent_and_counts_nowhere(stream, tables):
    day = Round()
    shown = [answer("met_voters", yes=True), answer("voters_met", number=30)]
    hidden = [answer("met_voters", yes=False)]  # voters_met is asked only after a yes
    feed(
        stream,
        tables,
        day.dispatched(B1),
        day.dispatched(B2),
        day.submitted(B1, shown),
        day.submitted(B2, hidden),
    )
    totals = view_of(stream).rollup(day.form_id, day.period_key, SECTOR)
    assert totals.options == {"met_voters": {"yes": 1, "no": 1}}
    assert totals.sums == {"voters_met": 30}


def test_seva_tallies_sum_per_day_per_mandal_district_and_state(stream, tables):
    seva = Round(period_key="2024-11-23")
    next_day = Round(period_key="2024-11-24", form_id=seva.form_id)
    packets = [answer("food_packets", number=120), answer("relief_rupees", number=2500.5)]
    feed(
        stream,
        tables,
        seva.submitted(B1, packets),
        seva.submitted(B2, [answer("food_packets", number=80)]),
        seva.submitted(OTHER_DISTRICT_BOOTH, [answer("food_packets", number=7)]),
        next_day.submitted(B1, [answer("food_packets", number=5)]),
    )
    view = view_of(stream)
    for unit in (MANDAL, DISTRICT):
        assert view.rollup(seva.form_id, "2024-11-23", unit).sums == {
            "food_packets": 200,
            "relief_rupees": 2500.5,
        }
    assert view.rollup(seva.form_id, "2024-11-23", STATE).sums["food_packets"] == 207
    assert view.rollup(seva.form_id, "2024-11-24", STATE).sums == {"food_packets": 5}
    assert view.periods(STATE, seva.form_id) == ["2024-11-23", "2024-11-24"]


def test_a_review_of_an_answer_never_counted_changes_nothing(stream, tables):
    day = Round()
    stray = day.submitted(B1, [mood("good")])
    assert feed(stream, tables, day.reviewed(stray, "accepted")) == ["unmatched"]
    assert stream.partials.sent == {}


def test_a_booth_event_whose_path_is_not_the_booths_is_dead_lettered(stream, tables):
    day = Round()
    event = day.dispatched(B1)
    event.data["booth_path"]["district"] = "IN-HP-D02"
    assert feed(stream, tables, event) == ["dead_lettered"]
    reason, error = stream.dead_letters.sent[0]
    assert reason == "rejected" and "does not match" in error
    assert tables[0] == {}


def test_rebuilding_from_the_tables_gives_the_same_rollups(stream, tables):
    """A restarted or new owner recounts from the recovered rows: the same partials."""
    day = Round()
    first = day.submitted(B1, [mood("good"), answer("masks", number=3)])
    feed(
        stream,
        tables,
        day.dispatched(B1),
        day.dispatched(B2),
        first,
        day.reviewed(first, "rejected", "incomplete"),
        day.submitted(B1, [mood("poor"), answer("masks", number=9)], attempt=2),
        group_updated(B1, 140),
    )
    before = dict(stream.partials.sent)
    stream.partials.sent.clear()
    asyncio.run(stream.rebuild({3}, tables[0].values(), tables[1].values()))
    assert stream.partials.sent == before


def test_whatsapp_groups_count_their_latest_state_and_a_closed_one_no_more(stream, tables):
    group, lst = "6d5c4b3a-2f1e-4d0c-8b9a-7f6e5d4c3b2a", "7d5c4b3a-2f1e-4d0c-8b9a-7f6e5d4c3b2a"
    created = group_updated(B1, 100, group_id=group)
    grown = group_updated(B1, 148, group_id=group)
    outcomes = feed(
        stream,
        tables,
        created,
        grown,
        created,  # an older state replayed after a newer one
        group_updated(B1, 250, kind="broadcast_list", group_id=lst),
        group_updated(B2, 90),
    )
    assert outcomes == ["counted", "counted", "duplicate", "counted", "counted"]
    totals = view_of(stream).whatsapp(DISTRICT)
    assert totals.to_json() == {
        "booths_with_group": 2,
        "members_reached": 238,
        "broadcast_lists": 1,
        "broadcast_recipients": 250,
    }
    feed(stream, tables, group_updated(B1, 148, group_id=group, active=False))
    assert view_of(stream).whatsapp(SECTOR).booths_with_group == 1
    assert view_of(stream).whatsapp(B1).members_reached == 0


def test_a_booths_contribution_taken_back_leaves_nothing():
    """Empty options and sums are dropped, so a partial a booth has left is all zeros."""
    day = Round()
    dispatched = day.dispatched(B1)
    submitted = day.submitted(B1, [mood("good"), answer("masks", number=2)])
    report = BoothReport.of(dispatched.data).apply(dispatched.type, dispatched.data, 0)
    report = report.apply(submitted.type, submitted.data, 0)
    total = ReportCounts()
    for sign in (1, -1):
        for _, counts in report_contributions(report):
            total.add(counts, sign)
    assert total == ReportCounts()
