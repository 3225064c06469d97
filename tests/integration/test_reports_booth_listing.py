"""Which booths the answers' handler finds in the registry (reports/adapters/units.py), on the
real FerretDB: by their sectors' booth pages, and by their unit documents where a page cannot
say; through the group commit as the service wires it; from a page kept since a booth of its
sector answered."""

import pytest
from pymongo import MongoClient, monitoring

from reports.adapters.units import BatchedUnits
from reports.bootstrap import batcher
from reports.settings import ReportsSettings
from shared.orgtree.generator import generate_state
from shared.orgtree.index import page_id
from shared.orgtree.repository import OrgRegistry

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(mongo_db):
    registry = OrgRegistry(mongo_db)
    registry.load(generate_state("HP"))
    return registry


def test_booths_are_found_by_their_sectors_pages_and_others_are_not(registry):
    units = BatchedUnits(registry)
    booths = list(registry.booth_ids_under("IN-HP-D02"))[:30]
    sector = booths[0].rsplit("-", 1)[0]
    made_up = [
        f"{sector}-B999",  # in a real sector, not a booth of it
        "IN-HP-D02-A01-M01-S99-B001",  # a sector that does not exist
        sector,  # a sector is not a booth
        "IN-XX",
    ]
    asked = booths + made_up
    assert units.listed_among(asked) == [True] * len(booths) + [False] * len(made_up)
    assert all(registry.get(b) is not None for b in booths)


def test_a_sector_without_its_page_is_asked_by_its_booths_units(registry, mongo_db):
    booths = list(registry.booth_ids_under("IN-HP-D03"))[:3]
    sector = booths[0].rsplit("-", 1)[0]
    mongo_db.org_booth_pages.delete_one({"_id": page_id(sector, 0)})
    units = BatchedUnits(registry)
    assert units.listed_among(booths + [f"{sector}-B999"]) == [True] * len(booths) + [False]


def test_concurrent_booths_are_found_through_the_group_commit(registry):
    units = BatchedUnits(registry)
    units.listed = batcher(ReportsSettings(), "booths-test", units.listed_among)
    booths = list(registry.booth_ids_under("IN-HP-D04"))[:5]
    assert [units.booth_exists(b) for b in booths] == [True] * 5
    assert units.booth_exists(f"{booths[0]}9") is False


class Finds(monitoring.CommandListener):
    """The collections of the `find` commands sent."""

    def __init__(self):
        self.collections: list[str] = []

    def started(self, event):
        if event.command_name == "find":
            self.collections.append(event.command["find"])

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_a_sectors_next_booth_is_found_in_its_kept_page_and_a_booth_not_in_it_is_asked_again(
    settings, registry, mongo_db
):
    finds = Finds()
    client = MongoClient(settings.mongo_url, event_listeners=[finds])
    try:
        units = BatchedUnits(OrgRegistry(client[mongo_db.name]))
        booths = list(registry.booth_ids_under("IN-HP-D05"))
        sector = booths[0].rsplit("-", 1)[0]
        neighbours = [b for b in booths if b.startswith(f"{sector}-")]
        assert len(neighbours) >= 2, "a sector of the demo tree with two booths"

        assert units.booth_exists(neighbours[0]) is True
        assert finds.collections == ["org_booth_pages"]
        assert all(units.booth_exists(b) for b in neighbours[1:])
        assert finds.collections == ["org_booth_pages"], "the kept page answered: nothing read"

        added = f"{sector}-B777"  # a booth the registry gains after the page was kept
        mongo_db.org_booth_pages.update_one(
            {"_id": page_id(sector, 0)}, {"$push": {"booths": added}}
        )
        assert units.booth_exists(added) is True
        assert units.booth_exists(f"{sector}-B778") is False
        assert finds.collections.count("org_booth_pages") == 3, "each one not kept is asked"
    finally:
        client.close()
