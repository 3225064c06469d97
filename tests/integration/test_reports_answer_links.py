"""The answer link on the real FerretDB and the demo org tree, as a booth worker's phone meets it:
the link opens its booth's form in the worker's language, a submit retried with the page's id is
one submission, field errors come back next to their fields, a late answer is kept and marked,
a rejected answer may be answered again; a forged, changed or expired link is refused with a
small page (or a problem for an API client), and a link answers only its own booth and round."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from reports import answer_links
from reports.answer_links import AnswerClaim
from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from tests.integration.test_reports_api import DISTRICT, OTHER_DISTRICT, dispatched

pytestmark = pytest.mark.integration

HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


@pytest.fixture
def adapters(mongo_db, org_registry):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    return bootstrap(ReportsSettings(), db=mongo_db)


@pytest.fixture
def api(adapters):
    # No `with`: the app's background jobs (relay, fan-out, links, scheduler) stay off here.
    return TestClient(create_reports_app(adapters))


@pytest.fixture
def booth(org_registry):
    return next(org_registry.booth_ids_under(DISTRICT))


def link(
    adapters,
    dispatch_id,
    booth,
    *,
    locale="hi",
    expires_in=timedelta(hours=1),
    recipient: str | None = None,
) -> str:
    """A link as the sender mints it; for a made-up appointee unless `recipient` names one."""
    claim = AnswerClaim(
        dispatch_id,
        recipient or str(uuid.uuid4()),
        booth,
        datetime.now(timezone.utc) + expires_in,
        locale,
    )
    return "/r/" + answer_links.mint(adapters.links.key, claim)


def page_id(page: str) -> str:
    return re.search(r'name="_sid" value="([^"]+)"', page).group(1)


def kind(response) -> str:
    return response.json()["type"].rsplit("/", 1)[1]


def test_a_link_opens_its_booths_form_in_the_workers_language_small_and_locked_down(
    api, adapters, organiser_token, booth
):
    url = link(adapters, dispatched(api, organiser_token), booth)
    page = api.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "मनोबल" in page.text and "अच्छा" in page.text and "Mood" not in page.text
    assert len(page.content) < 30_000
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    english = api.get(url, params={"lang": "en"})
    assert "Mood" in english.text and "मनोबल" not in english.text


def test_a_submit_retried_with_the_pages_id_is_one_submission_by_the_linked_appointee(
    api, adapters, organiser_token, booth
):
    dispatch_id = dispatched(api, organiser_token)
    url = link(adapters, dispatch_id, booth)
    sid = page_id(api.get(url).text)
    sent = {"_sid": sid, "mood": "poor", "why": "the road is flooded", "meetings": "2"}
    first, again = api.post(url, data=sent), api.post(url, data=sent)
    assert (first.status_code, again.status_code) == (201, 200)
    assert 'id="done"' in again.text
    report = adapters.ports.reports.get(dispatch_id, booth)
    [submission] = report.submissions
    assert submission.submission_id == sid and submission.attempt == 1
    assert {a.question_id: (a.option_ids, a.number, a.text) for a in submission.answers} == {
        "mood": (("poor",), None, None),
        "why": (None, None, "the road is flooded"),
        "meetings": (None, 2, None),
    }
    claim = answer_links.read(adapters.links.key, url[3:], datetime.now(timezone.utc))
    assert submission.submitted_by == claim.recipient_id
    # The booth has answered: the link now says so, and another page's answer is refused.
    assert 'id="answered"' in api.get(url).text
    other = api.post(url, data={**sent, "_sid": str(uuid.uuid4())})
    assert other.status_code == 409 and "भेज दी है" in other.text


def test_an_app_answers_through_the_link_with_json_and_a_retry_is_the_same_submission(
    api, adapters, organiser_token, booth
):
    url = link(adapters, dispatched(api, organiser_token), booth)
    body = {"submission_id": str(uuid.uuid4()), "answers": {"mood": "good", "meetings": 1}}
    first, again = api.post(url, json=body), api.post(url, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() and first.json()["attempt"] == 1
    bad = api.post(
        url, json={"submission_id": str(uuid.uuid4()), "answers": {"mood": "x", "meetings": 99}}
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_field_errors_are_shown_next_to_their_fields_and_the_answers_kept(
    api, adapters, organiser_token, booth
):
    dispatch_id = dispatched(api, organiser_token)
    url = link(adapters, dispatch_id, booth)
    sent = {"_sid": page_id(api.get(url).text), "mood": "poor", "meetings": "99"}
    refused = api.post(url, data=sent)
    assert refused.status_code == 422
    meetings = re.search(r'<fieldset id="q-meetings".*?</fieldset>', refused.text).group(0)
    assert 'value="99"' in meetings and "0 और 20 के बीच" in meetings
    why = re.search(r'<fieldset id="q-why".*?</fieldset>', refused.text).group(0)
    assert "यह ज़रूरी है" in why
    assert 'value="poor" checked' in refused.text
    assert adapters.ports.reports.get(dispatch_id, booth) is None


def test_a_late_answer_is_kept_and_marked(api, adapters, organiser_token, booth):
    dispatch_id = dispatched(api, organiser_token)
    url = link(adapters, dispatch_id, booth)
    adapters.ports.clock = lambda: datetime.now(timezone.utc) + timedelta(days=1)  # past due
    done = api.post(url, data={"_sid": page_id(api.get(url).text), "mood": "good"})
    assert done.status_code == 201 and 'id="late"' in done.text
    assert adapters.ports.reports.get(dispatch_id, booth).submissions[0].late


def test_after_a_rejection_the_booth_answers_again_through_its_link(
    api, adapters, organiser_token, booth
):
    dispatch_id = dispatched(api, organiser_token)
    url = link(adapters, dispatch_id, booth)
    first = page_id(api.get(url).text)
    assert api.post(url, data={"_sid": first, "mood": "good"}).status_code == 201
    review = {"submission_id": first, "outcome": "rejected", "reason": "implausible_numbers"}
    reviewed = api.post(
        f"/v1/dispatches/{dispatch_id}/booths/{booth}/review",
        json=review,
        headers=organiser_token(DISTRICT, sub="user-d04"),
    )
    assert reviewed.status_code == 200, reviewed.text
    again = api.get(url)
    assert 'id="rejected"' in again.text and "संख्याएँ सही नहीं लगतीं" in again.text
    second = page_id(again.text)
    assert second != first
    answered = api.post(url, data={"_sid": second, "mood": "poor", "why": "रास्ता बंद"})
    assert answered.status_code == 201
    assert [s.attempt for s in adapters.ports.reports.get(dispatch_id, booth).submissions] == [
        1,
        2,
    ]


def test_a_forged_changed_or_expired_link_is_refused_with_a_page_or_a_problem(
    api, adapters, organiser_token, booth
):
    dispatch_id = dispatched(api, organiser_token)
    url = link(adapters, dispatch_id, booth)
    changed = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    forged = "/r/" + answer_links.mint(
        b"f" * 32,
        AnswerClaim(dispatch_id, str(uuid.uuid4()), booth, datetime.now(timezone.utc), "hi"),
    )
    for bad in (changed, forged, "/r/not-a-token"):
        page = api.get(bad, headers=HTML)
        assert page.status_code == 403 and "यह लिंक मान्य नहीं है" in page.text
        assert kind(api.get(bad, headers=JSON)) == "invalid-answer-link"
        posted = api.post(bad, json={"submission_id": str(uuid.uuid4()), "answers": {}})
        assert (posted.status_code, kind(posted)) == (403, "invalid-answer-link")
    expired = link(adapters, dispatch_id, booth, expires_in=-timedelta(seconds=1))
    assert api.get(expired, headers=HTML).status_code == 410
    gone = api.post(expired, data={"_sid": str(uuid.uuid4()), "mood": "good"})
    assert gone.status_code == 410 and "समय समाप्त" in gone.text
    assert adapters.ports.reports.get(dispatch_id, booth) is None


def test_a_link_answers_only_its_own_booth_and_round(
    api, adapters, organiser_token, booth, org_registry
):
    dispatch_id = dispatched(api, organiser_token)
    neighbour = list(org_registry.booth_ids_under(DISTRICT))[1]
    url = link(adapters, dispatch_id, booth)
    # The body cannot name another booth: the link's booth is the only one it answers.
    steered = api.post(
        url,
        json={"submission_id": str(uuid.uuid4()), "booth_id": neighbour, "answers": {}},
    )
    assert steered.status_code == 422
    answered = api.post(url, json={"submission_id": str(uuid.uuid4()), "answers": {"mood": "good"}})
    assert answered.status_code == 201
    assert adapters.ports.reports.get(dispatch_id, neighbour) is None
    assert adapters.ports.reports.get(dispatch_id, booth) is not None
    # A genuine link for a booth the round did not ask, or for another round, answers nothing.
    outside = next(org_registry.booth_ids_under(OTHER_DISTRICT))
    page = api.get(link(adapters, dispatch_id, outside), headers=HTML)
    assert page.status_code == 404
    unknown = api.post(
        link(adapters, str(uuid.uuid4()), booth),
        json={"submission_id": str(uuid.uuid4()), "answers": {"mood": "good"}},
    )
    assert (unknown.status_code, kind(unknown)) == (404, "not-found")


def test_the_link_needs_no_bearer_token_but_the_organisers_api_still_does(api, booth):
    assert api.post(f"/v1/dispatches/{uuid.uuid4()}/submissions", json={}).status_code == 401
