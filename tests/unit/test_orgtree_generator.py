"""The generated organisation tree: published figures exact, every level summing, reproducible."""

import re
from collections import Counter
from dataclasses import dataclass, field

import pytest

from shared.orgtree.generator import (
    NATIONAL_BOOTHS,
    STATES,
    apportion,
    generate_national,
    generate_state,
    state_booths,
)
from shared.orgtree.levels import LEVELS, level_of

ID = re.compile(r"^IN(-[A-Z]{2}(-D\d{2}(-A\d{2}(-M\d{2}(-S\d{2}(-B\d{3})?)?)?)?)?)?$")
LEVEL_INDEX = {level.name: i for i, level in enumerate(LEVELS)}


@dataclass
class Audit:
    """What a stream of units adds up to, checked unit by unit as it streams past."""

    levels: Counter = field(default_factory=Counter)
    declared_booths: dict = field(default_factory=dict)  # non-booth id -> its `booths`
    counted_booths: Counter = field(default_factory=Counter)  # non-booth id -> booths seen under it
    seen: set = field(default_factory=set)
    by_state: dict = field(default_factory=dict)  # state code -> Counter of levels
    himachal: list = field(default_factory=list)  # kept by the nation fixture

    def add(self, unit):
        uid = unit["id"]
        assert uid not in self.seen, f"duplicate id {uid}"
        assert ID.match(uid), uid
        assert unit["level"] == level_of(uid)
        assert unit["name"] and unit["name_hi"]
        if unit["parent"] is not None:
            assert unit["parent"] in self.seen, f"{uid} comes before its parent"
            assert unit["ancestors"][-1] == unit["parent"] and uid.startswith(unit["parent"] + "-")
            assert LEVEL_INDEX[level_of(unit["parent"])] == LEVEL_INDEX[unit["level"]] - 1
        self.seen.add(uid)
        self.levels[unit["level"]] += 1
        self.by_state.setdefault(unit["state"], Counter())[unit["level"]] += 1
        if unit["level"] == "booth":
            assert unit["booths"] == 1
            self.counted_booths.update(unit["ancestors"])
        else:
            self.declared_booths[uid] = unit["booths"]

    def check_booth_counts(self):
        assert self.declared_booths == {
            uid: self.counted_booths[uid] for uid in self.declared_booths
        }


def audit(units, above=()) -> Audit:
    """`above`: ids of the units above the stream's root (the national unit, for one state)."""
    result = Audit(seen=set(above))
    for unit in units:
        result.add(unit)
    result.check_booth_counts()
    return result


@pytest.fixture(scope="module")
def nation():
    """The whole nation, generated once (a few seconds) and audited as it streams past."""
    result = Audit()
    for unit in generate_national(seed=7):
        result.add(unit)
        if unit["state"] == "HP":
            result.himachal.append(unit)
    result.check_booth_counts()
    return result


def test_apportion_sums_exactly_and_respects_minimums():
    parts = apportion(100, [3, 3, 3], minimum=[10, 0, 0])
    assert sum(parts) == 100 and parts[0] >= 10
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]  # ties go to the earlier part
    assert apportion(7, [5, 1, 1], minimum=0) == [5, 1, 1]
    assert apportion(7, [5, 1, 1]) == [4, 2, 1]  # the minimum first, the rest by weight


def test_apportion_refuses_minimums_above_the_total():
    with pytest.raises(ValueError):
        apportion(2, [1, 1, 1])


def test_states_and_uts_share_exactly_1048202_booths_with_published_counts_exact():
    booths = state_booths()
    assert len(booths) == len(STATES) == 36
    assert sum(booths.values()) == NATIONAL_BOOTHS == 1_048_202
    assert {code: booths[code] for code in ("UP", "MH", "WB", "BR", "TN", "KA", "MP", "HP")} == {
        "UP": 162_069,
        "MH": 98_140,
        "WB": 80_530,
        "BR": 77_462,
        "TN": 68_321,
        "KA": 58_871,
        "MP": 65_015,
        "HP": 7_773,
    }
    assert 52_000 < booths["RJ"] < 53_500 and 50 <= booths["LD"] <= 60


def test_himachal_has_17_districts_68_assemblies_68_mandals_and_7773_booths():
    levels = audit(generate_state("HP", seed=7), above=["IN"]).levels
    assert (levels["district"], levels["assembly"], levels["mandal"], levels["booth"]) == (
        17,
        68,
        68,
        7_773,
    )


def test_madhya_pradesh_has_65015_booths():
    units = generate_state("MP", seed=7)
    state = next(units)
    assert (state["id"], state["booths"]) == ("IN-MP", 65_015)
    assert sum(u["level"] == "booth" for u in units) == 65_015


def test_uttar_pradesh_has_92_districts_and_sultanpur_has_5_assemblies_and_2172_booths():
    result, sultanpur, assemblies = Audit(seen={"IN"}), [], Counter()
    for unit in generate_state("UP", seed=7):
        result.add(unit)
        if unit["name"] == "Sultanpur":
            sultanpur.append(unit)
        if unit["level"] == "assembly":
            assemblies[unit["parent"]] += 1
    result.check_booth_counts()
    assert result.levels["district"] == 92 and result.levels["booth"] == 162_069
    assert [(u["level"], u["booths"]) for u in sultanpur] == [("district", 2_172)]
    assert assemblies[sultanpur[0]["id"]] == 5


def test_generated_units_are_named_in_english_and_hindi_by_number():
    mandal = next(u for u in generate_state("HP", seed=7) if u["id"] == "IN-HP-D01-A01-M01")
    assert (mandal["name"], mandal["name_hi"]) == ("Mandal 1", "मंडल 1")
    state = next(generate_state("HP", seed=7))
    assert (state["name"], state["name_hi"], state["ancestors"]) == (
        "Himachal Pradesh",
        "हिमाचल प्रदेश",
        ["IN"],
    )


def test_the_same_seed_gives_the_same_tree_and_another_seed_a_different_one():
    assert list(generate_state("HP", seed=7)) == list(generate_state("HP", seed=7))
    assert list(generate_state("HP", seed=7)) != list(generate_state("HP", seed=8))


def test_nation_has_1048202_booths_unique_ids_parents_first_and_true_booth_counts(nation):
    assert nation.levels["national"] == 1 and nation.levels["state"] == 36
    assert nation.levels["booth"] == 1_048_202
    assert nation.declared_booths["IN"] == 1_048_202
    assert 650 <= nation.levels["district"] <= 750  # ~700 district offices


def test_a_state_is_the_same_generated_alone_or_in_the_nation(nation):
    assert nation.himachal == list(generate_state("HP", seed=7))


def test_shape_is_5_to_6_assemblies_per_district_4_mandals_per_assembly_5_booths_per_sector(nation):
    levels = nation.by_state["MH"]
    assert 5 <= levels["assembly"] / levels["district"] <= 6
    assert 3.5 <= levels["mandal"] / levels["assembly"] <= 4.5
    assert 4.5 <= levels["booth"] / levels["sector"] <= 5.5
