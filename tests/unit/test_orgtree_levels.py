"""Unit ids: readable, fixed-width, and telling their level without a lookup."""

import pytest

from shared.orgtree.levels import BY_NAME, child_id, level_of


def test_a_child_id_is_the_parent_id_plus_a_zero_padded_segment():
    assert child_id("IN-HP", BY_NAME["district"], 7) == "IN-HP-D07"
    assert child_id("IN-HP-D07-A03-M02-S05", BY_NAME["booth"], 12) == "IN-HP-D07-A03-M02-S05-B012"


def test_a_number_too_wide_for_its_level_is_refused():
    with pytest.raises(ValueError):
        child_id("IN-HP", BY_NAME["district"], 100)


def test_an_id_tells_its_level():
    assert [level_of(i) for i in ("IN", "IN-HP", "IN-HP-D07", "IN-HP-D07-A03-M02-S05-B012")] == [
        "national", "state", "district", "booth"]
    with pytest.raises(ValueError):
        level_of("IN-HP-D07-A03-M02-S05-B012-X1")
