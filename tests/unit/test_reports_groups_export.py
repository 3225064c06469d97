"""Pure rules of the booth WhatsApp groups, the spreadsheet writers and the erasure of a
submitter, over plain values (the real servers' side is in tests/integration/test_reports_*)."""

import csv
import io
import zipfile
from datetime import datetime, timezone
from xml.etree import ElementTree

import pytest

from reports.domain import Answer, BoothReport, Invalid, Submission
from reports.erasure import ERASED, anonymise
from reports.groups import BoothGroups, summarise
from reports.spreadsheet import PAGE_ROWS, column_name, csv_chunks, xlsx_chunks

AT = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
PATH = {"state": "IN-HP", "district": "D", "assembly": "A", "mandal": "M", "sector": "S"}


def booth() -> BoothGroups:
    return BoothGroups("IN-HP-D01-A01-M01-S01-B001", PATH)


def register(groups: BoothGroups, kind="group", members=100, link=None):
    return groups.register(
        group_id=f"g{len(groups.groups)}",
        kind=kind,
        name="परिवार",
        members=members,
        invite_link=link,
        by="user-1",
        at=AT,
    )


@pytest.mark.parametrize(("kind", "members"), [("broadcast_list", 257), ("group", 1025)])
def test_a_count_over_whatsapps_cap_is_refused_naming_members(kind, members):
    with pytest.raises(Invalid) as refused:
        register(booth(), kind, members)
    assert [field for field, _ in refused.value.errors] == ["members"]


def test_the_event_carries_counts_and_never_the_name_or_link():
    groups = booth()
    register(groups, link="https://chat.whatsapp.com/AbC123")
    (event,) = groups.outbox
    assert "परिवार" not in str(event) and "whatsapp.com" not in str(event)
    assert (event["data"]["members"], event["data"]["active"]) == (100, True)


def test_a_summary_counts_active_groups_once_per_booth_and_lists_apart():
    first, second = booth(), booth()
    register(first, members=100)
    register(first, members=20)
    register(first, "broadcast_list", 256)
    register(second, members=50)
    second.deactivate("g0", by="user-1", at=AT)
    counts = summarise([first.groups, second.groups])
    assert (counts.booths_with_group, counts.members_reached) == (1, 120)
    assert (counts.broadcast_lists, counts.broadcast_recipients, counts.closed) == (1, 256, 1)


def test_csv_starts_with_a_bom_and_shows_formulas_as_text():
    chunks = list(csv_chunks(["a", "b"], [["=1+1", -5], ["@x", None]]))
    text = b"".join(chunks).decode("utf-8")
    assert text.startswith("\ufeff")
    assert list(csv.reader(io.StringIO(text[1:]))) == [["a", "b"], ["'=1+1", "-5"], ["'@x", ""]]


def test_xlsx_streams_in_pages_and_opens_back():
    rows = ([f"बूथ {n}", n] for n in range(3 * PAGE_ROWS))
    chunks = list(xlsx_chunks("Sheet", ["name", "n"], rows))
    assert len([c for c in chunks if c]) >= 3  # written page by page, not at the end
    book = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    assert len(list(sheet.iter("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row")))
    assert column_name(0) == "A" and column_name(26) == "AA" and column_name(702) == "AAA"


def test_an_erased_submitter_loses_text_and_id_but_keeps_answers():
    answers = (Answer("mood", option_ids=("poor",)), Answer("why", text="रमेश"))
    mine = Submission("s1", 1, answers, "appt-1", AT, late=False, note="spoke to him")
    theirs = Submission("s2", 2, answers, "appt-2", AT, late=True)
    report = BoothReport("d", "b", PATH, "2026-01-05", "f", 1, [mine, theirs])
    assert anonymise(report, "appt-1") == 1
    assert report.submissions[0].answers == (Answer("mood", option_ids=("poor",)),)
    assert (report.submissions[0].submitted_by, report.submissions[0].note) == (ERASED, None)
    assert report.submissions[1] == theirs
    assert anonymise(report, "appt-1") == 0
