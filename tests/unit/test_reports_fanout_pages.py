"""The fan-out's walk over its scope's booth pages, read one page ahead (no servers)."""

from reports.adapters.fanout import FanOut

PAGES = {
    "IN-MP-D01": [["IN-MP-D01-A01-M01-S01-B001", "IN-MP-D01-A01-M01-S01-B002"], ["..B003"]],
    "IN-MP-D02": [],  # a unit with no booths yet
    "IN-MP-D03": [["IN-MP-D03-A01-M01-S01-B001"]],
}


class Registry:
    def __init__(self):
        self.reads: list[tuple[str, int]] = []

    def booth_page(self, unit: str, page: int) -> list[str]:
        self.reads.append((unit, page))
        pages = PAGES[unit]
        return pages[page] if page < len(pages) else []


def walk(registry: Registry, unit: int = 0, page: int = 0) -> list:
    fanout = FanOut(rounds=None, units=registry, producer=None, source="/test")
    return list(fanout._pages(tuple(PAGES), unit, page))


def test_the_fan_out_walks_every_page_of_every_unit_of_its_scope_in_order():
    assert walk(Registry()) == [
        (0, 0, PAGES["IN-MP-D01"][0]),
        (0, 1, PAGES["IN-MP-D01"][1]),
        (2, 0, PAGES["IN-MP-D03"][0]),
    ]


def test_the_fan_out_goes_on_from_its_cursor():
    assert walk(Registry(), 0, 1) == [(0, 1, ["..B003"]), (2, 0, PAGES["IN-MP-D03"][0])]
    assert walk(Registry(), 3, 0) == []  # a finished round reads nothing


def test_the_next_page_is_being_read_before_a_page_is_handed_on():
    registry = Registry()
    fanout = FanOut(rounds=None, units=registry, producer=None, source="/test")
    pages = fanout._pages(tuple(PAGES), 0, 0)
    next(pages)
    fanout._reader.submit(lambda: None).result()  # the reader's queue served up to here
    assert registry.reads == [("IN-MP-D01", 0), ("IN-MP-D01", 1)]
