"""Report rollups and WhatsApp groups folded over dict tables: the reports stream with fakes of
its adapters, its partials read back into a view as every worker reads them."""

import asyncio

import pytest

from analytics.adapters.registry import CachedRegistry
from analytics.coverage.partials import PartialBook
from analytics.reports.domain import (
    BoothReport,
    ReportCounts,
    ReportEvent,
    fold_reports,
    report_contributions,
    rollup_deltas,
)
from analytics.reports.stream import ReportsStream
from analytics.reports.totals import ROLLUP, ReportsView
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


class Rows(dict):
    """A table's rows as the reports batch writes them (adapters/tables.py), each with the
    changelog partition it went to; `batched`: how feed hands report events over."""

    def __init__(self, batched: bool):
        super().__init__()
        self.batched = batched
        self.partitions: dict[str, int] = {}
        self.writes = 0

    def put(self, partition: int, key: str, value) -> None:
        self[key] = value
        self.partitions[key] = partition
        self.writes += 1


@pytest.fixture(params=[False, True], ids=["one-at-a-time", "batched"])
def tables(request):
    """Every test runs twice: report events one per batch, and each run of them as one batch,
    which must count alike."""
    return Rows(batched=request.param), {}


def feed(stream, tables, *events, partition=3):
    async def go():
        outcomes, batch = [], []

        async def flush():
            if batch:
                outcomes.extend(await stream.on_reports(batch, tables[0]))
                batch.clear()

        for event in events:
            if event.type.endswith("whatsapp-group-updated.v1"):
                await flush()
                outcomes.append(await stream.on_group(message(event, partition), tables[1]))
            else:
                batch.append(message(event, partition))
                if not tables[0].batched:
                    await flush()
        await flush()
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


# --- batches ---------------------------------------------------------------------------------


def batch(stream, rows, *pairs):
    """One batch of (event, partition) records through the stream, its partials published."""

    async def go():
        outcomes = await stream.on_reports([message(e, p) for e, p in pairs], rows)
        await stream.publish_partials()
        return outcomes

    return asyncio.run(go())


def test_a_batch_with_duplicates_counts_each_submission_once_and_writes_each_row_once(stream):
    rows, day = Rows(batched=True), Round()
    first = day.submitted(B1, [mood("good"), answer("masks", number=5)])
    relayed = day.submitted(B1, [mood("poor")], submission_id=first.data["submission_id"])
    outcomes = batch(
        stream,
        rows,
        (day.dispatched(B1), 3),
        (day.dispatched(B1), 3),
        (first, 3),
        (first, 3),  # the same record twice
        (relayed, 3),  # the same submission id in another event
        (day.submitted(B2, [mood("good")]), 5),
    )
    assert outcomes == ["counted", "duplicate", "counted", "duplicate", "duplicate", "counted"]
    assert rows.writes == 2  # B1's part in the dispatch and B2's, once each
    totals = view_of(stream).rollup(day.form_id, day.period_key, MANDAL)
    assert (totals.expected, totals.submitted) == (1, 2)
    assert totals.options == {"mood": {"good": 2}} and totals.sums == {"masks": 5}
    # Across batches: the same submission in the next batch is a duplicate, nothing written.
    assert batch(stream, rows, (first, 3), (relayed, 3)) == ["duplicate", "duplicate"]
    assert rows.writes == 2
    assert view_of(stream).rollup(day.form_id, day.period_key, "IN").submitted == 2


def test_a_batch_spanning_periods_units_and_partitions_writes_each_row_to_its_own_partition(
    stream,
):
    rows = Rows(batched=True)
    monday = Round(period_key="2024-11-25")
    tuesday = Round(period_key="2024-11-26", form_id=monday.form_id)
    weekly = Round(period_key="2024-W48-1")
    batch(
        stream,
        rows,
        (monday.submitted(B1, [answer("food_packets", number=10)]), 1),
        (monday.submitted(OTHER_DISTRICT_BOOTH, [answer("food_packets", number=7)]), 4),
        (tuesday.submitted(B1, [answer("food_packets", number=3)]), 1),
        (weekly.dispatched(B2), 2),
        (weekly.submitted(B2, [mood("good")], late=True), 2),
    )
    assert rows.partitions == {
        f"{monday.dispatch_id}|{B1}": 1,
        f"{monday.dispatch_id}|{OTHER_DISTRICT_BOOTH}": 4,
        f"{tuesday.dispatch_id}|{B1}": 1,
        f"{weekly.dispatch_id}|{B2}": 2,
    }
    assert all(row.partition == rows.partitions[key] for key, row in rows.items())
    view = view_of(stream)
    assert view.rollup(monday.form_id, "2024-11-25", STATE).sums == {"food_packets": 17}
    assert view.rollup(monday.form_id, "2024-11-25", DISTRICT).sums == {"food_packets": 10}
    assert view.rollup(monday.form_id, "2024-11-26", STATE).sums == {"food_packets": 3}
    week = view.rollup(weekly.form_id, "2024-W48-1", SECTOR)
    assert (week.expected, week.submitted, week.late) == (1, 1, 1)
    # Each partition's partials hold only its own booths: partition 4 only the other district.
    by_partition = {key.rsplit("|", 1)[1] for key in stream.partials.sent}
    assert by_partition == {"1", "2", "4"}
    assert not [k for k in stream.partials.sent if k.endswith("|4") and f"|{DISTRICT}" in k]


def test_a_rejected_then_re_answered_submission_in_one_batch_counts_the_new_answer(stream):
    rows, day = Rows(batched=True), Round()
    first = day.submitted(B1, [mood("good"), answer("masks", number=100)])
    second = day.submitted(B1, [mood("poor"), answer("masks", number=40)], attempt=2)
    events = [
        day.dispatched(B1),
        first,
        day.reviewed(first, "rejected", "other"),
        second,
        day.reviewed(second, "accepted"),
    ]
    again = day.reviewed(first, "rejected", "other")  # the old review again: nothing
    outcomes = batch(stream, rows, *((e, 3) for e in [*events, again]))
    assert outcomes == ["counted"] * 5 + ["duplicate"]
    assert rows.writes == 1
    totals = view_of(stream).rollup(day.form_id, day.period_key, DISTRICT)
    assert (totals.expected, totals.submitted, totals.rejected, totals.accepted) == (1, 1, 0, 1)
    assert totals.options == {"mood": {"poor": 1}} and totals.sums == {"masks": 40}
    # The same partials and row as one event at a time.
    one_by_one = ReportsStream(
        registry=stream.registry,
        partials=type(stream.partials)(),
        dead_letters=stream.dead_letters,
        group="test-analytics",
    )
    singles = Rows(batched=False)
    for event in events:
        batch(one_by_one, singles, (event, 3))
    assert one_by_one.partials.sent == stream.partials.sent
    assert singles == rows and singles.writes == 5


def test_an_event_of_another_round_in_a_batch_is_dead_lettered_and_the_rest_counted(stream):
    rows, day = Rows(batched=True), Round()
    stray = Round(dispatch_id=day.dispatch_id)  # the same dispatch id, another form
    outcomes = batch(
        stream,
        rows,
        (day.dispatched(B1), 3),
        (stray.submitted(B1, [mood("good")]), 3),
        (day.submitted(B1, [mood("poor")]), 3),
    )
    assert outcomes == ["counted", "dead_lettered", "counted"]
    reason, error = stream.dead_letters.sent[0]
    assert reason == "rejected" and f"is form {day.form_id}" in error
    assert view_of(stream).rollup(day.form_id, day.period_key, SECTOR).options == {
        "mood": {"poor": 1}
    }


def test_folding_a_batch_is_pure_and_leaves_the_stored_rows_alone():
    day = Round()
    first = day.submitted(B1, [mood("good")])
    stored = {f"{day.dispatch_id}|{B1}": BoothReport.of(first.data)}
    events = [
        ReportEvent(e.type, e.data, 0.0)
        for e in (day.dispatched(B1), first, first, day.reviewed(first, "accepted"))
    ]
    folded = fold_reports(events, stored.get)
    assert folded.outcomes == ["counted", "counted", "duplicate", "counted"]
    before, after = folded.changed[f"{day.dispatch_id}|{B1}"]
    assert before is stored[f"{day.dispatch_id}|{B1}"] and not before.dispatched
    assert after.dispatched and after.answer.outcome == "accepted"
    deltas = rollup_deltas([(3, before, after)])[3]
    assert [ident.rsplit("|", 1)[1] for ident in deltas] == list(reversed(after.units))
    assert all((d.expected, d.submitted, d.accepted) == (1, 1, 1) for d in deltas.values())
    assert deltas[f"{day.form_id}|{day.period_key}|{SECTOR}"].booths == {B1: after.flags()}
    assert deltas[f"{day.form_id}|{day.period_key}|{DISTRICT}"].booths == {}


def test_a_batchs_deltas_summed_per_unit_change_the_partials_as_each_row_would():
    """Booths of two sectors, a mandal and two districts, in two partitions, some answered
    before the batch: the partials come out the same as replacing each row's contributions."""
    day = Round()
    booths = [B1, B2, B3, "IN-HP-D01-A01-M01-S02-B001", OTHER_DISTRICT_BOOTH]
    changes = []
    for n, booth in enumerate(booths):
        dispatched = day.dispatched(booth)
        before = BoothReport.of(dispatched.data).apply(dispatched.type, dispatched.data, 0)
        if n % 2:
            answered = day.submitted(booth, [mood("good"), answer("masks", number=n)])
            before = before.apply(answered.type, answered.data, 0)
        again = day.submitted(booth, [mood("poor"), answer("masks", number=10)], attempt=2)
        after = before.apply(again.type, again.data, 0)
        changes.append((n % 2, None if n == 4 else before, after))
    by_row, summed = PartialBook(ROLLUP, ReportCounts), PartialBook(ROLLUP, ReportCounts)
    for partition, before, after in changes:  # the one-row-at-a-time way: old out, new in
        old = dict(report_contributions(before)) if before is not None else {}
        by_row.change(partition, ((i, old.get(i), new) for i, new in report_contributions(after)))
    for partition, deltas in rollup_deltas(changes).items():
        summed.change(partition, ((ident, None, d) for ident, d in deltas.items()))
    left = {(p, k): v.to_json() for p, k, v in by_row.take_dirty(None)}
    right = {(p, k): v.to_json() for p, k, v in summed.take_dirty(None)}
    assert left == right


def test_partials_are_sent_as_they_were_taken_and_what_is_counted_during_the_send_goes_next(
    stream,
):
    """The books' own values are taken (no copies), so every book's are encoded before the send
    waits: answers and groups the agents count meanwhile are in none of this tick's records,
    and go on the next."""
    day, groups = Round(), {}
    rows = Rows(batched=True)

    async def go():
        await stream.on_reports([message(day.dispatched(b)) for b in (B1, B2)], rows)
        await stream.on_group(message(group_updated(B2, 90)), groups)
        real_send = stream.partials.send

        async def slow_send(records):
            # The agents count while this tick's partials are on their way.
            await stream.on_reports([message(day.submitted(B1, [mood("good")]))], rows)
            await stream.on_group(message(group_updated(B1, 100)), groups)
            return await real_send(records)

        stream.partials.send = slow_send
        await stream.publish_partials()
        first = view_of(stream)
        stream.partials.send = real_send
        await stream.publish_partials()
        return first, view_of(stream)

    first, then = asyncio.run(go())
    rollup = first.rollup(day.form_id, day.period_key, MANDAL)
    assert (rollup.expected, rollup.submitted, rollup.options) == (2, 0, {})
    assert first.whatsapp(MANDAL).booths_with_group == 1
    rollup = then.rollup(day.form_id, day.period_key, MANDAL)
    assert (rollup.expected, rollup.submitted, rollup.options) == (2, 1, {"mood": {"good": 1}})
    assert then.whatsapp(MANDAL).booths_with_group == 2


def test_every_number_of_a_rollup_adds_and_subtracts():
    numbers = {name: n for n, name in enumerate(ReportCounts.NUMBERS, 1)}
    total = ReportCounts(**numbers, options={"mood": {"good": 1}}, sums={"food": 2.0})
    total.add(ReportCounts(**numbers, options={"mood": {"good": 1}}, versions={1: 1}))
    assert total.numbers() == {name: 2 * n for name, n in numbers.items()}
    assert (total.options, total.sums, total.versions) == (
        {"mood": {"good": 2}},
        {"food": 2.0},
        {1: 1},
    )
    total.add(ReportCounts(**numbers, options={"mood": {"good": 2}}, versions={1: 1}), -1)
    assert total.numbers() == numbers
    assert (total.options, total.versions) == ({}, {})
