"""The organisation registry on the real FerretDB/MongoDB, loaded with Himachal Pradesh."""

import itertools

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.orgtree.api import units_router
from shared.orgtree.generator import generate_state, national_unit
from shared.orgtree.index import PAGE_SIZE
from shared.orgtree.repository import OrgRegistry, TreeMismatch
from shared.problems import MEDIA_TYPE, install_problem_handlers
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

SEED = 7
BOOTH = "IN-HP-D03-A02-M01-S02-B007"  # exists for seed 7 (checked by the tests below)


def himachal():
    return itertools.chain([national_unit()], generate_state("HP", SEED))


@pytest.fixture
def fresh_registry(mongo_db):
    """Himachal loaded into this test's own database, for tests that change it."""
    registry = OrgRegistry(mongo_db)
    registry.load(himachal(), batch_size=2000, tree="state:HP", seed=SEED)
    return registry


@pytest.fixture(scope="module")
def registry(settings):
    """Himachal loaded once for the read-only tests of this module."""
    from pymongo import MongoClient

    name = f"test_orgtree_{random_suffix()}"
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        registry = OrgRegistry(client[name])
        registry.load(himachal(), tree="state:HP", seed=SEED)
        try:
            yield registry
        finally:
            client.drop_database(name)


def test_loaded_himachal_has_17_districts_68_assemblies_68_mandals_and_7773_booths(registry):
    counts = registry.level_counts("HP")
    assert (
        counts["state"],
        counts["district"],
        counts["assembly"],
        counts["mandal"],
        counts["booth"],
    ) == (1, 17, 68, 68, 7_773)
    assert registry.level_counts()["national"] == 1


def test_reloading_the_same_tree_adds_nothing_and_skips_at_once(fresh_registry):
    before = fresh_registry.units.count_documents({})
    again = fresh_registry.load(himachal(), tree="state:HP", seed=SEED)
    assert again.skipped and again.units == before


def test_reloading_without_a_record_skips_duplicates_and_fills_gaps(fresh_registry):
    fresh_registry.units.delete_one({"_id": BOOTH})
    before = fresh_registry.units.count_documents({})
    report = fresh_registry.load(
        himachal(), batch_size=3000
    )  # no tree name: every unit is offered again
    assert report.inserted == 1 and not report.skipped
    assert fresh_registry.units.count_documents({}) == before + 1


def test_loading_another_seed_over_a_loaded_tree_is_refused(fresh_registry):
    with pytest.raises(TreeMismatch):
        fresh_registry.load(generate_state("HP", SEED + 1), tree="state:HP", seed=SEED + 1)


def test_get_returns_the_unit_and_none_for_an_unknown_id(registry):
    booth = registry.get(BOOTH)
    assert (
        booth["level"] == "booth"
        and booth["booths"] == 1
        and booth["parent"] == "IN-HP-D03-A02-M01-S02"
    )
    assert registry.get("IN-HP-D99") is None


def test_ancestors_come_national_first(registry):
    ancestors = registry.ancestors(registry.get(BOOTH))
    assert [a["id"] for a in ancestors] == [
        "IN",
        "IN-HP",
        "IN-HP-D03",
        "IN-HP-D03-A02",
        "IN-HP-D03-A02-M01",
        "IN-HP-D03-A02-M01-S02",
    ]
    assert ancestors[1]["name_hi"] == "हिमाचल प्रदेश"


def test_children_are_in_order_and_their_booths_add_up_to_the_parent(registry):
    districts = registry.children("IN-HP")
    assert [d["id"] for d in districts] == [f"IN-HP-D{n:02d}" for n in range(1, 18)]
    assert sum(d["booths"] for d in districts) == 7_773
    assembly = registry.children("IN-HP-D03")[0]
    assert sum(m["booths"] for m in registry.children(assembly["id"])) == assembly["booths"]
    assert registry.children(BOOTH) == []


def test_booth_ids_under_a_unit_are_exactly_its_booths(registry):
    district = registry.get("IN-HP-D03")
    booths = list(registry.booth_ids_under("IN-HP-D03"))
    assert len(booths) == len(set(booths)) == district["booths"]
    assert all(b.startswith("IN-HP-D03-") and b.count("-") == 6 for b in booths)
    assert sum(1 for _ in registry.booth_ids_under("IN")) == 7_773
    assert list(registry.booth_ids_under(BOOTH)) == [BOOTH]


def test_a_page_of_booths_is_the_units_booths_in_tree_order(registry):
    district = registry.get("IN-HP-D03")
    every = list(registry.booth_ids_under("IN-HP-D03"))
    assert every == sorted(every)
    pages = [
        registry.booth_page("IN-HP-D03", n) for n in range(-(-district["booths"] // PAGE_SIZE) + 1)
    ]
    assert [len(p) for p in pages[:-2]] == [PAGE_SIZE] * (len(pages) - 2) and pages[-1] == []
    assert [b for page in pages for b in page] == every
    assert registry.booth_page("IN", 1) == registry.booth_page("IN-HP", 1)
    assert registry.booth_page(BOOTH, 0) == [BOOTH] and registry.booth_page(BOOTH, 1) == []


def test_the_nations_children_are_every_loaded_states(fresh_registry):
    fresh_registry.load(
        itertools.chain([national_unit()], generate_state("GA", SEED)), tree="state:GA", seed=SEED
    )
    assert [s["id"] for s in fresh_registry.children("IN")] == ["IN-GA", "IN-HP"]
    booths = list(fresh_registry.booth_ids_under("IN"))
    assert len(booths) == fresh_registry.get("IN-GA")["booths"] + 7_773
    assert booths[0].startswith("IN-GA-") and booths[-1].startswith("IN-HP-")


def test_a_registry_loaded_before_its_index_existed_is_indexed_by_the_next_load(fresh_registry):
    fresh_registry.child_lists.drop()
    fresh_registry.booth_pages.drop()
    fresh_registry.meta.update_one({"_id": "state:HP"}, {"$unset": {"index": ""}})
    assert fresh_registry.children("IN-HP") == []
    report = fresh_registry.load(himachal(), tree="state:HP", seed=SEED)
    assert not report.skipped and report.inserted == 0
    assert len(fresh_registry.children("IN-HP")) == 17
    assert sum(1 for _ in fresh_registry.booth_ids_under("IN-HP")) == 7_773


def test_booth_units_are_found_by_their_sectors_and_unknown_ids_left_out(registry):
    sector_booths = [b["id"] for b in registry.children("IN-HP-D03-A02-M01-S02")]
    found = registry.booth_units(
        [BOOTH, *sector_booths, "IN-HP-D03-A02-M01-S02-B999", "IN-HP-D99", "nonsense", BOOTH + "-X"]
    )
    assert set(found) == {BOOTH, *sector_booths}
    assert found[BOOTH] == registry.get(BOOTH)


def test_a_subtree_comes_depth_first_with_parents_before_children(registry):
    units = list(registry.subtree("IN-HP-D03-A02"))
    assert [u["id"] for u in units] == sorted(u["id"] for u in units)
    assert units[0] == registry.get("IN-HP-D03-A02")
    assert sum(1 for u in units if u["level"] == "booth") == units[0]["booths"]
    assert list(registry.subtree("IN-HP-D99")) == []


def test_is_within_follows_the_tree(registry):
    assert registry.is_within(BOOTH, "IN-HP-D03")
    assert registry.is_within(BOOTH, "IN")
    assert registry.is_within(BOOTH, BOOTH)
    assert not registry.is_within(BOOTH, "IN-HP-D04")
    assert not registry.is_within("IN-HP-D03", BOOTH)
    assert not registry.is_within("IN-HP-D99", "IN")


@pytest.fixture
def client(registry):
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(units_router(lambda: registry))
    return TestClient(app)


def test_get_unit_returns_it_with_ancestors_and_children_with_booth_counts(client):
    response = client.get("/units/IN-HP-D03-A02")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["level"], body["state"]) == ("IN-HP-D03-A02", "assembly", "HP")
    assert [a["id"] for a in body["ancestors"]] == ["IN", "IN-HP", "IN-HP-D03"]
    assert body["children"] and sum(c["booths"] for c in body["children"]) == body["booths"]
    assert body["children"][0]["name_hi"] == "मंडल 1"


def test_get_a_units_booths_pages_through_them(client, registry):
    first = client.get("/units/IN-HP/booths").json()
    assert (first["page"], first["page_size"], first["next_page"]) == (0, PAGE_SIZE, 1)
    assert first["booths"] == registry.booth_page("IN-HP", 0)
    last_page = (7_773 - 1) // PAGE_SIZE
    last = client.get(f"/units/IN-HP/booths?page={last_page}").json()
    assert len(last["booths"]) == 7_773 % PAGE_SIZE and last["next_page"] is None
    assert client.get("/units/IN-HP-D03/booths?page=-1").status_code == 422
    assert client.get("/units/IN-HP-D99/booths").status_code == 404


def test_get_unknown_unit_is_a_404_problem(client):
    response = client.get("/units/IN-HP-D99")
    assert response.status_code == 404
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.json()["type"].endswith("/unknown-unit")
