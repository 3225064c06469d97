"""The children and booth pages the loader derives from a depth-first stream of units."""

import itertools

from shared.orgtree.generator import generate_state, national_unit
from shared.orgtree.index import TreeIndex, children_of, merged_children, page_id


def index_of(units, page_size=100):
    index = TreeIndex(page_size)
    docs = [doc for unit in units for doc in index.add(unit)] + index.close()
    children = {d["_id"]: d for kind, d in docs if kind == "children"}
    pages = {d["_id"]: d["booths"] for kind, d in docs if kind == "pages"}
    return children, pages


def himachal():
    return list(itertools.chain([national_unit()], generate_state("HP", 7)))


def test_every_unit_above_the_booth_lists_exactly_its_children_in_id_order():
    units = himachal()
    children, _ = index_of(units)
    assert set(children) == {u["id"] for u in units if u["level"] != "booth"}
    for unit in units:
        if unit["level"] != "booth":
            listed = children_of(children[unit["id"]])
            expected = sorted(
                (u for u in units if u["parent"] == unit["id"]), key=lambda u: u["id"]
            )
            assert listed == expected


def test_a_units_pages_hold_its_booths_in_tree_order_each_full_but_the_last():
    units = himachal()
    _, pages = index_of(units, page_size=100)
    district = "IN-HP-D03"
    booths = [u["id"] for u in units if u["level"] == "booth" and district in u["ancestors"]]
    mine = [pages[page_id(district, n)] for n in range(len(booths) // 100 + 1)]
    assert [b for page in mine for b in page] == booths
    assert all(len(page) == 100 for page in mine[:-1]) and 0 < len(mine[-1]) <= 100
    assert page_id(district, len(mine)) not in pages


def test_the_nation_has_no_pages_of_its_own():
    _, pages = index_of(himachal())
    assert not any(p.startswith("IN/") for p in pages)
    assert sum(len(b) for p, b in pages.items() if p.startswith("IN-HP/")) == 7_773


def test_a_partial_stream_indexes_what_it_holds():
    units = [u for u in himachal() if u["id"] in ("IN", "IN-HP") or u["id"].startswith("IN-HP-D03")]
    children, pages = index_of(units)
    assert [c["id"] for c in children_of(children["IN-HP"])] == ["IN-HP-D03"]
    assert len(pages[page_id("IN-HP", 0)]) == 100


def test_merged_children_keep_every_loads_children():
    units = himachal()
    children, _ = index_of(units)
    nation = children["IN"]
    other = {
        **nation,
        "children": [{**nation["children"][0], "id": "IN-GA", "state": "GA", "booths": 1700}],
    }
    merged = merged_children(nation, other)
    assert [c["id"] for c in merged["children"]] == ["IN-GA", "IN-HP"]
    assert merged_children(None, nation) == nation
