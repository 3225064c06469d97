"""Unit ids: readable, fixed-width, and telling their level and place in the tree without a lookup
(the rules every service reads from ids, shared/orgtree/levels.py)."""

import pytest

from shared.orgtree.levels import (
    BY_NAME,
    booth_path,
    child_id,
    is_within,
    level_of,
    outermost,
    overlap,
)


def test_a_child_id_is_the_parent_id_plus_a_zero_padded_segment():
    assert child_id("IN-HP", BY_NAME["district"], 7) == "IN-HP-D07"
    assert child_id("IN-HP-D07-A03-M02-S05", BY_NAME["booth"], 12) == "IN-HP-D07-A03-M02-S05-B012"


def test_a_number_too_wide_for_its_level_is_refused():
    with pytest.raises(ValueError):
        child_id("IN-HP", BY_NAME["district"], 100)


def test_an_id_tells_its_level():
    assert [level_of(i) for i in ("IN", "IN-HP", "IN-HP-D07", "IN-HP-D07-A03-M02-S05-B012")] == [
        "national",
        "state",
        "district",
        "booth",
    ]
    with pytest.raises(ValueError):
        level_of("IN-HP-D07-A03-M02-S05-B012-X1")


BOOTH = "IN-HP-D07-A03-M02-S05-B012"


def test_a_unit_is_within_itself_and_its_ancestors_only():
    assert is_within(BOOTH, BOOTH) and is_within(BOOTH, "IN-HP-D07") and is_within(BOOTH, "IN")
    assert not is_within("IN-HP-D07", BOOTH)
    assert not is_within("IN-HP-D70", "IN-HP-D7"), "a prefix of an id is not its parent"


def test_scopes_overlap_when_one_unit_is_or_lies_under_the_other():
    assert overlap(["IN-HP-D07"], ["IN-HP"]) and overlap(["IN-HP"], ["IN-HP-D07-A03"])
    assert overlap(["IN-UP", "IN-HP-D07"], ["IN-HP-D07"])
    assert not overlap(["IN-HP-D07"], ["IN-HP-D08", "IN-MP"])


def test_the_outermost_units_of_a_scope_cover_each_booth_once():
    assert outermost(["IN-HP-D03", "IN-HP", "IN-MP-D01", "IN-MP-D01-A02", "IN-HP"]) == [
        "IN-HP",
        "IN-MP-D01",
    ]
    assert outermost(["IN-HP-D70", "IN-HP-D7"]) == ["IN-HP-D7", "IN-HP-D70"]


def test_a_booths_path_names_its_ancestors_by_level_and_other_units_have_none():
    assert booth_path(BOOTH) == {
        "state": "IN-HP",
        "district": "IN-HP-D07",
        "assembly": "IN-HP-D07-A03",
        "mandal": "IN-HP-D07-A03-M02",
        "sector": "IN-HP-D07-A03-M02-S05",
    }
    assert booth_path("IN-HP-D07-A03-M02-S05") is None and booth_path("IN") is None
