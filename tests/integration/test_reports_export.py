"""A unit's answers exported for a spreadsheet, on the real FerretDB and the demo org tree: one
row per booth the round asked (silent booths empty), answers as their Hindi or English labels,
numbers as numbers; the CSV starts with a byte-order mark and a formula-like answer is shown, not
run; the XLSX opens back as SpreadsheetML; only inside jurisdiction; MongoDB away is a 503."""

import csv
import io
import uuid
import zipfile
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from testkit.processes import closed_port
from tests.e2e.test_reports_flow import DAILY

pytestmark = pytest.mark.integration

MANDAL, OTHER_MANDAL = "IN-HP-D04-A01-M01", "IN-HP-D04-A01-M02"
SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
FORMULA = '=HYPERLINK("http://x.example","click")'


@pytest.fixture
def api(mongo_db, org_registry):
    if org_registry.get(MANDAL) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    return TestClient(create_reports_app(bootstrap(ReportsSettings(), db=mongo_db)))


@pytest.fixture
def answered(api, organiser_token, org_registry):
    """A round to one mandal: its first booth says poor with a formula-like reason, its second
    good; the rest are silent."""
    hp = organiser_token("IN-HP", sub="user-hp")
    form_id = api.post("/v1/forms", json=DAILY, headers=hp).json()["form_id"]
    api.post(f"/v1/forms/{form_id}/publish", headers=hp)
    body = {"form_id": form_id, "scope": [MANDAL], "audience": ["booth_president"]}
    dispatch_id = api.post("/v1/dispatches", json=body, headers=hp).json()["rounds"][0][
        "dispatch_id"
    ]
    booths = list(org_registry.booth_ids_under(MANDAL))
    for booth, answers in (
        (booths[0], {"mood": "poor", "why": FORMULA, "meetings": 3}),
        (booths[1], {"mood": "good", "meetings": 0}),
    ):
        sent = {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": answers}
        made = api.post(f"/v1/dispatches/{dispatch_id}/submissions", json=sent, headers=hp)
        assert made.status_code == 201, made.text
    return {"dispatch_id": dispatch_id, "form_id": form_id, "booths": booths}


def export(api, headers, fmt="csv", unit=MANDAL, **query):
    return api.get(f"/v1/units/{unit}/submissions.{fmt}", params=query, headers=headers)


def test_a_mandals_csv_has_a_row_per_booth_with_hindi_labels_and_no_live_formula(
    api, organiser_token, answered
):
    got = export(
        api, organiser_token(MANDAL, sub="user-mandal"), dispatch_id=answered["dispatch_id"]
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert got.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    header, rows = table[0], {r[6]: r for r in table[1:]}
    assert header[:7] == ["प्रदेश", "जिला", "विधानसभा", "मंडल", "सेक्टर", "बूथ", "बूथ आईडी"]
    assert header[-3:] == ["मनोबल", "क्यों?", "बैठकें"]
    assert set(rows) == set(answered["booths"])
    first, second = rows[answered["booths"][0]], rows[answered["booths"][1]]
    assert first[9:] == ["नहीं", "जमा", "कमज़ोर", "'" + FORMULA, "3"]
    assert second[-3:] == ["अच्छा", "", "0"]
    silent = rows[answered["booths"][2]]
    assert silent[0] and silent[8:] == [""] * 6  # its names, then nothing answered


def test_the_xlsx_opens_back_with_numbers_as_numbers_and_english_labels(
    api, organiser_token, answered
):
    got = export(
        api, organiser_token("IN-HP-D04"), "xlsx", dispatch_id=answered["dispatch_id"], lang="en"
    )
    assert got.status_code == 200, got.text
    book = zipfile.ZipFile(io.BytesIO(got.content))
    assert book.testzip() is None
    for part in ("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/styles.xml"):
        ElementTree.fromstring(book.read(part))  # each part is well-formed XML
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = [
        [(c.get("t"), "".join(c.itertext())) for c in row.iter(f"{SHEET}c")]
        for row in sheet.iter(f"{SHEET}row")
    ]
    assert len(rows) == 1 + len(answered["booths"])
    assert [text for _, text in rows[0][-3:]] == ["Mood", "Why?", "Meetings"]
    first = next(r for r in rows if ("inlineStr", answered["booths"][0]) in r)
    assert first[-3:] == [("inlineStr", "Poor"), ("inlineStr", "'" + FORMULA), (None, "3")]


def test_a_forms_rounds_over_some_days_export_by_form_and_dates(api, organiser_token, answered):
    hp = organiser_token("IN-HP", sub="user-hp")
    got = api.get(f"/v1/dispatches/{answered['dispatch_id']}", headers=hp).json()
    day = got["period_key"]
    by_form = export(api, hp, unit=MANDAL, form_id=answered["form_id"], **{"from": day, "to": day})
    assert by_form.status_code == 200, by_form.text
    assert by_form.content.decode("utf-8-sig").count("\r\n") == 1 + len(answered["booths"])
    none = export(
        api, hp, form_id=answered["form_id"], **{"from": "2020-01-01", "to": "2020-01-02"}
    )
    assert none.status_code == 404


def test_outside_jurisdiction_or_outside_the_round_there_is_no_export(
    api, organiser_token, answered
):
    other = organiser_token(OTHER_MANDAL, sub="user-other")
    refused = export(api, other, dispatch_id=answered["dispatch_id"])
    assert refused.status_code == 403
    not_asked = export(api, other, unit=OTHER_MANDAL, dispatch_id=answered["dispatch_id"])
    assert not_asked.status_code == 404
    assert not_asked.json()["type"].endswith("/not-dispatched")


def test_an_export_with_mongodb_away_is_a_503_with_retry_after(organiser_token):
    settings = ReportsSettings(
        MONGO_URL=f"mongodb://127.0.0.1:{closed_port()}/", DEPENDENCY_TIMEOUT_S=1
    )
    api = TestClient(create_reports_app(bootstrap(settings)))
    got = export(api, organiser_token(MANDAL), dispatch_id=str(uuid.uuid4()))
    assert got.status_code == 503 and int(got.headers["Retry-After"]) > 0
