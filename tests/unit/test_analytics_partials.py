"""Partials per partition add up to the same totals whoever owns which partition."""

import random
import uuid

from analytics.coverage.domain import (
    REVOKED,
    VERIFIED,
    AppointmentChange,
    BoothTeam,
    Counts,
    contributions,
)
from analytics.coverage.partials import (
    COVERAGE,
    REACH,
    CoverageView,
    PartialBook,
    directive_key,
    due_updates,
    parse_key,
    partial_key,
)

ROLES = [
    ("booth_president", "female"),
    ("mann_ki_baat_pramukh", "male"),
    ("labharthi_pramukh", "female"),
    ("whatsapp_pramukh", "male"),
    ("it_social_media", "male"),
    ("panna_pramukh", "female"),
    ("member", "male"),
]


def units(mandal: int) -> tuple[str, ...]:
    return (
        "IN",
        "IN-HP",
        "IN-HP-D01",
        "IN-HP-D01-A01",
        f"IN-HP-D01-A01-M{mandal:02d}",
        f"IN-HP-D01-A01-M{mandal:02d}-S01",
    )


def random_history(rng: random.Random, booths: int, events: int):
    """(partition, booth id, change) with duplicates and revocations, in per-booth order."""
    seats: dict[str, list] = {}
    history = []
    for _ in range(events):
        booth = f"IN-HP-D01-A01-M{rng.randint(1, 3):02d}-S01-B{rng.randint(1, booths):03d}"
        known = seats.setdefault(booth, [])
        roll = rng.random()
        if known and roll < 0.2:
            history.append(
                history[-1]
                if history and history[-1][1] == booth
                else (None, booth, rng.choice(known))
            )
            continue
        if known and roll < 0.35:
            old = rng.choice(known)
            item = AppointmentChange(old.appointment_id, old.role, old.gender, REVOKED, old.at + 1)
        else:
            role, gender = rng.choice(ROLES)
            item = AppointmentChange(
                str(uuid.uuid4()), role, gender, VERIFIED, 1000.0 + len(history)
            )
        known.append(item)
        history.append((None, booth, item))
    return [(hash(b) % 4, b, c) for _, b, c in history]


def apply_incrementally(history) -> tuple[PartialBook, dict[str, tuple[int, BoothTeam]]]:
    book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    teams: dict[str, tuple[int, BoothTeam]] = {}
    for partition, booth_id, item in history:
        mandal = int(booth_id.split("-")[4][1:])
        before = teams.get(booth_id, (partition, BoothTeam(booth_id, units(mandal))))[1]
        after = before.apply(item)
        if after is before:
            continue
        teams[booth_id] = (partition, after)
        old, new = contributions(before), contributions(after)
        book.change(partition, ((k, old.get(k), new.get(k)) for k in new))
    return book, teams


def totals_seen_by(view_of_books: list[PartialBook]) -> CoverageView:
    view = CoverageView()
    for book in view_of_books:
        for partition, unit, counts in book.take_dirty():
            view.on_record(partial_key(COVERAGE, unit, partition), counts.to_json())
    return view


def test_incremental_partials_equal_a_rebuild_from_the_final_booths():
    rng = random.Random(7)
    history = random_history(rng, booths=30, events=600)
    book, teams = apply_incrementally(history)
    rebuilt: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    for partition in range(4):
        rebuilt.rebuild(
            partition,
            [
                kv
                for p, team in teams.values()
                if p == partition
                for kv in contributions(team).items()
            ],
        )
    incremental, fresh = totals_seen_by([book]), totals_seen_by([rebuilt])
    for unit in ["IN", "IN-HP", "IN-HP-D01-A01-M02", *teams]:
        assert incremental.totals(unit).numbers() == fresh.totals(unit).numbers(), unit
        assert incremental.totals(unit).verified_by_role == fresh.totals(unit).verified_by_role
    expected = sum(team.counts().verified_appointees for _, team in teams.values())
    assert incremental.totals("IN").verified_appointees == expected


def test_totals_are_the_sum_of_every_partitions_partial():
    view = CoverageView()
    view.on_record(partial_key(COVERAGE, "IN-HP", 0), Counts(1, 0, 1, 5, 2, as_of=10.0).to_json())
    view.on_record(partial_key(COVERAGE, "IN-HP", 7), Counts(2, 1, 0, 7, 3, as_of=20.0).to_json())
    totals = view.totals("IN-HP")
    assert totals.numbers() == (3, 1, 1, 12, 5)
    assert totals.as_of == 20.0


def test_a_new_owners_partial_replaces_the_old_owners():
    view = CoverageView()
    view.on_record(partial_key(COVERAGE, "IN-HP", 3), Counts(5, 5, 5, 60, 15).to_json())
    view.on_record(partial_key(COVERAGE, "IN-HP", 3), Counts(4, 4, 4, 48, 12).to_json())
    assert view.totals("IN-HP").booths_with_verified_president == 4
    view.on_record(partial_key(COVERAGE, "IN-HP", 3), None)
    assert view.totals("IN-HP").booths_with_verified_president == 0


def test_a_rebuild_zeroes_what_the_partition_no_longer_counts():
    book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    book.rebuild(2, [("IN-HP", Counts(1, 0, 0, 1, 1))], held={"IN-UP": Counts(3, 0, 0, 3, 3)})
    published = {unit: counts.numbers() for _, unit, counts in book.take_dirty()}
    assert published == {"IN-HP": (1, 0, 0, 1, 1), "IN-UP": (0, 0, 0, 0, 0)}
    assert book.take_dirty() == []


def test_a_rebuild_publishes_only_the_partials_that_differ_from_the_views():
    """After a restart the old owner had published every partial; sending them all again (a
    state's meetings: millions) is what kept a recovering worker busy for minutes."""
    book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    view = CoverageView()
    view.on_record(partial_key(COVERAGE, "IN-HP", 2), Counts(2, 0, 0, 2, 2, as_of=5.0).to_json())
    view.on_record(partial_key(COVERAGE, "IN-UP", 2), Counts(1, 0, 0, 1, 1, as_of=5.0).to_json())
    rows = [("IN-HP", Counts(1, 0, 0, 1, 1, as_of=5.0)), ("IN-HP", Counts(1, 0, 0, 1, 1))]
    rows += [("IN-UP", Counts(2, 0, 0, 2, 2, as_of=5.0)), ("IN-MP", Counts(1))]
    book.rebuild(2, rows, held=view.held_of_partitions([2])[2][COVERAGE])
    published = {unit: counts.numbers() for _, unit, counts in book.take_dirty()}
    assert published == {"IN-UP": (2, 0, 0, 2, 2), "IN-MP": (1, 0, 0, 0, 0)}


def test_only_owned_partitions_are_taken_and_dropped_ones_are_forgotten():
    book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    book.change(1, [("IN", None, Counts(1))])
    book.change(2, [("IN", None, Counts(1))])
    assert [p for p, _, _ in book.take_dirty([2])] == [2]
    book.drop(1)
    assert book.take_dirty() == [] and book.partitions() == {2}


def test_changes_that_failed_to_publish_are_taken_again():
    book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
    book.change(1, [("IN", None, Counts(1))])
    taken = book.take_dirty()
    book.mark_dirty((p, k) for p, k, _ in taken)
    assert [k for _, k, _ in book.take_dirty()] == ["IN"]


def test_coverage_is_due_only_where_the_reported_numbers_changed():
    view = CoverageView()
    view.on_record(partial_key(COVERAGE, "IN-HP", 0), Counts(1, 0, 1, 5, 2, as_of=1.0).to_json())
    view.on_record(
        partial_key(COVERAGE, "IN-HP-D01", 0), Counts(1, 0, 1, 5, 2, as_of=1.0).to_json()
    )
    view.published["IN-HP"] = (1, 0, 1, 5)
    assert view.take_changed() == {"IN-HP", "IN-HP-D01"}
    due = due_updates(view, ["IN-HP", "IN-HP-D01"], lambda unit: True)
    assert [unit for unit, _ in due] == ["IN-HP-D01"]
    assert due_updates(view, ["IN-HP-D01"], lambda unit: False) == []


def test_directive_records_and_reach_partials_are_kept_apart():
    view = CoverageView()
    view.on_record(directive_key("d1"), {"directive_id": "d1", "booths_targeted": 10})
    view.on_record(partial_key(REACH, "d1", 0), {"delivered": 3, "acknowledged": 1, "as_of": 5.0})
    view.on_record(partial_key(REACH, "d1", 9), {"delivered": 2, "acknowledged": 2, "as_of": 6.0})
    assert view.directives["d1"]["booths_targeted"] == 10
    assert view.reach("d1").numbers() == (5, 3)
    assert view.take_changed() == set()


def test_keys_name_kind_id_and_partition():
    assert parse_key(partial_key(COVERAGE, "IN-HP-D01", 11)) == (COVERAGE, "IN-HP-D01", 11)
    assert parse_key(directive_key("d1")) == ("m", "d1", None)
