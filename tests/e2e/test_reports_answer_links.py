"""Answering a report by link through the running platform, as a booth president meets it: the
state dispatches HQ's form to a district's booth presidents, and each gets a WhatsApp/SMS message
with the form's title and a link of their own (the notifier's normal lane, then the provider
simulator; at night, 22:00-06:00 India time, the messages wait for the morning, so only the lane
is checked); the link opens the form in Hindi, an answer posted twice is one submission and
report-submitted reaches Kafka once. In a real browser (Debian's chromium, Playwright) at a
phone's width: the page weighs under 30 KB, fits 390 px, shows a hidden question when its
condition is met, and sends. The presidents come from the notifier's e2e module."""

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from reports import answer_links
from reports.adapters.links import link_key
from reports.answer_links import AnswerClaim
from reports.settings import ReportsSettings
from shared.events import types
from shared.sending.policy import SendingPolicy
from shared.topics import REPORT_SUBMISSIONS
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.e2e.test_dashboard_browser import ARTEFACTS, PHONE, WAIT_MS, browser  # noqa: F401
from tests.e2e.test_meeting_invitations import messages_to
from tests.e2e.test_meetings_flow import normal_lane  # noqa: F401 (fixture)
from tests.e2e.test_notifier_directive import DISTRICT, presidents, simulator  # noqa: F401
from tests.e2e.test_reports_flow import REPORTS, published_form

pytestmark = pytest.mark.e2e

LINK = re.compile(r"https?://\S+/r/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


def organiser(unit: str) -> dict[str, str]:
    from shared.auth.issuer import organiser_token

    return {"Authorization": f"Bearer {organiser_token(sub=f'user-e2e-{unit}', unit=unit)}"}


def dispatch_to_presidents() -> str:
    form_id = published_form(httpx.Client(base_url=REPORTS, timeout=15), organiser("IN"))
    body = {"form_id": form_id, "scope": [DISTRICT], "audience": ["booth_president"]}
    made = httpx.post(f"{REPORTS}/v1/dispatches", json=body, headers=organiser("IN-HP"), timeout=15)
    assert made.status_code == 201, made.text
    return made.json()["rounds"][0]["dispatch_id"]


def link_tasks(lane, ids: set[str], dispatch_id: str, timeout_s: float = 90) -> dict[str, dict]:
    """The answer-link messages on the notifier's normal lane for these appointees."""
    wanted = {answer_links.message_id(dispatch_id, i): i for i in ids}
    found, deadline = {}, time.monotonic() + timeout_s
    while len(found) < len(wanted) and time.monotonic() < deadline:
        for record in lane.consume(500, 0.5):
            if not record.error():
                task = json.loads(record.value())
                if task.get("message_id") in wanted:
                    found[wanted[task["message_id"]]] = task
    return found


def links_shown(base: str, phone: str) -> list[str]:
    """The answer-link texts the provider simulator received for a phone (an SMS's text, or a
    WhatsApp template's parameters)."""
    texts = [
        m["text"] or " ".join((m.get("template") or {}).get("parameters", []))
        for m in messages_to(base, phone)
    ]
    return [t for t in texts if "/r/" in t]


def test_each_president_gets_a_link_of_their_own_that_answers_their_booth_once(
    presidents,  # noqa: F811
    simulator,  # noqa: F811
    normal_lane,  # noqa: F811
    kafka_bootstrap,
):
    tail = TopicTail(kafka_bootstrap, REPORT_SUBMISSIONS.name)
    try:
        dispatch_id = dispatch_to_presidents()
        ids = {appointment for _, appointment, _ in presidents}
        tasks = link_tasks(normal_lane, ids, dispatch_id)
        assert set(tasks) == ids
        key = link_key(ReportsSettings())
        now = datetime.now(timezone.utc)
        for booth, appointment, phone in presidents:
            text = tasks[appointment]["text"]
            assert "दैनिक बूथ रिपोर्ट" in text and phone not in text
            claim = answer_links.read(key, LINK.search(text).group(1), now)
            assert (claim.dispatch_id, claim.recipient_id, claim.booth_id) == (
                dispatch_id,
                appointment,
                booth,
            )
        booth, appointment, phone = presidents[0]
        if SendingPolicy().opens_at(now, campaign=True, booth_id=booth) is None:
            wait_until(lambda: links_shown(simulator, phone), 60)
            assert links_shown(simulator, phone) == [tasks[appointment]["text"]]

        url = LINK.search(tasks[appointment]["text"]).group(0)
        page = httpx.get(url, timeout=15)
        assert page.status_code == 200 and "मनोबल" in page.text
        sid = re.search(r'name="_sid" value="([^"]+)"', page.text).group(1)
        sent = {"_sid": sid, "mood": "good", "meetings": "4"}
        first, again = (
            httpx.post(url, data=sent, timeout=15),
            httpx.post(url, data=sent, timeout=15),
        )
        assert (first.status_code, again.status_code) == (201, 200)
        submitted = tail.wait_until(
            lambda e: e.type == types.REPORT_SUBMITTED and e.data["dispatch_id"] == dispatch_id,
            2,
            15,
        )
    finally:
        tail.close()
    assert [(e.data["booth_id"], e.data["submission_id"]) for e in submitted] == [(booth, sid)]
    assert phone not in json.dumps(submitted[0].data)


def test_the_answer_page_is_light_fits_a_phone_and_sends_in_hindi(browser):  # noqa: F811
    dispatch_id = dispatch_to_presidents()
    booth = f"{DISTRICT}-A01-M01-S01-B002"
    claim = AnswerClaim(
        dispatch_id,
        str(uuid.uuid4()),
        booth,
        datetime.now(timezone.utc) + timedelta(hours=1),
        "hi",
    )
    url = f"{REPORTS}/r/{answer_links.mint(link_key(ReportsSettings()), claim)}"
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    requests = []
    page.on("requestfinished", lambda request: requests.append(request))
    page.goto(url)
    page.wait_for_load_state("load")
    sizes = [r.sizes() for r in requests]
    transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes)
    assert 0 < transferred < 30_000, transferred
    assert len(requests) == 1  # one document: nothing else to fetch on a slow network
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("h1").inner_text() == "दैनिक बूथ रिपोर्ट"
    assert page.locator("#q-mood legend").inner_text().startswith("मनोबल")

    why = page.locator("#q-why")
    assert why.is_hidden()  # asked only when the mood is poor
    page.get_by_label("कमज़ोर").check()
    assert why.is_visible()
    why.locator("textarea").fill("बूथ तक का रास्ता बंद है")
    page.locator("#q-meetings input").fill("3")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "report-answer-page.png"), full_page=True)
    page.get_by_role("button", name="भेजें").click()
    page.wait_for_selector("#done")
    assert "धन्यवाद" in page.locator("#done").inner_text()
    context.close()

    found = httpx.get(
        f"{REPORTS}/v1/dispatches/{dispatch_id}/booths/{booth}",
        headers=organiser(DISTRICT),
        timeout=15,
    ).json()
    [submission] = found["submissions"]
    answers = {a["question_id"]: a for a in submission["answers"]}
    assert answers["mood"]["option_ids"] == ["poor"] and answers["meetings"]["number"] == 3
    assert answers["why"]["text"] == "बूथ तक का रास्ता बंद है"
