"""The HQ dashboard in a real browser (Debian's chromium, driven by Playwright) against the
running platform: sign in, watch Himachal's verified presidents go up by themselves when one is
appointed and verified through the API, drill down to a mandal's missing booths, switch to
Hindi, and fit a phone's width; follow a running meeting's reach per assembly as its attendance
events reach the analytics worker. Screenshots of the live page are kept as artefacts."""

import importlib.util
import os
import random
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.sending.policy import IST
from testkit.processes import wait_until
from tests.e2e.test_appointments_flow import APPOINTMENTS, appoint, code_for, random_booth, verify

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8006")
ARTEFACTS = Path(os.environ.get("SANGATHAN_STATE", ROOT / ".state")) / "artefacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000  # every wait is bounded; none is asserted on
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DISTRICT = "IN-HP-D07"  # apart from the appointments tests' district


def install_chromium() -> None:
    """The same first-run install `make test` does (deploy/local/stack.py),
    for a bare pytest run."""
    spec = importlib.util.spec_from_file_location(
        "sangathan_stack", ROOT / "deploy" / "local" / "stack.py"
    )
    stack = sys.modules.setdefault("sangathan_stack", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(stack)  # its dataclasses look their module up in sys.modules
    stack.apt_install("chromium", "chromium")


@pytest.fixture(scope="module")
def browser():
    install_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def sign_in(browser, token: str, **context_options):
    page = browser.new_context(**context_options).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(DASHBOARD)
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#live[data-state=on]")
    return page


def verified_presidents(page, unit: str) -> int:
    value = page.get_attribute(
        f'#children [data-unit="{unit}"] [data-field="booths_with_verified_president"]',
        "data-value",
    )
    return int(value)


def booth_without_appointments(headers: dict) -> str:
    """A booth of the demo tree with no pending or verified member, so a new president counts."""
    for _ in range(20):
        booth = random_booth(DISTRICT)
        members = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers).json()[
            "members"
        ]
        if not any(m["status"] in ("pending_verification", "verified") for m in members):
            return booth
    raise AssertionError(f"no booth without appointments found in {DISTRICT}")


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_hq_sees_himachals_verified_presidents_change_live_without_a_reload(
    browser, organiser_token
):
    from shared.auth.issuer import organiser_token as mint

    page = sign_in(
        browser, mint(sub="user-e2e-hq", unit="IN"), viewport={"width": 1280, "height": 900}
    )
    page.wait_for_selector(
        '#children [data-unit="IN-HP"] [data-field="booths_with_verified_president"]'
    )
    before = verified_presidents(page, "IN-HP")
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded

    organiser = organiser_token(DISTRICT, sub="user-e2e-dashboard")
    booth = booth_without_appointments(organiser)
    created = appoint(booth, organiser)
    assert created.status_code == 201, created.text
    appointment_id = created.json()["id"]
    verified = verify(booth, appointment_id, code_for(appointment_id), organiser)
    assert verified.status_code in (200, 202), verified.text

    # Locator waits run outside the page's scripts, so its strict Content-Security-Policy stays on.
    expect(
        page.locator('#children [data-unit="IN-HP"] [data-field="booths_with_verified_president"]')
    ).not_to_have_attribute("data-value", str(before), timeout=WAIT_MS)
    assert verified_presidents(page, "IN-HP") > before
    assert page.evaluate("window.__sameDocument") is True, "the number changed by a reload"
    assert page.get_attribute(
        '#children [data-unit="IN-HP"] progress[data-bar="booths_with_verified_president"]', "value"
    ) == str(verified_presidents(page, "IN-HP"))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=True)

    # Drill down: Himachal, its district, an assembly,
    # a mandal with its booths still missing a president.
    page.click('#children a[data-unit="IN-HP"]')
    page.click(f'#children a[data-unit="{DISTRICT}"]')
    page.wait_for_selector(f'#summary[data-unit="{DISTRICT}"]')
    page.click("#children a.unit")  # an assembly
    page.wait_for_selector(f'#summary[data-unit^="{DISTRICT}-A"]')
    page.click("#children a.unit")  # a mandal
    page.wait_for_selector(f'#summary[data-unit^="{DISTRICT}-A"][data-unit*="-M"]')
    page.wait_for_selector("#missing-section:not([hidden]) #missing li[data-booth]")
    mandal = page.get_attribute("#summary", "data-unit")
    assert all(
        b.startswith(mandal + "-")
        for b in page.eval_on_selector_all(
            "#missing li[data-booth]", "nodes => nodes.map(n => n.dataset.booth)"
        )
    )
    page.screenshot(path=str(ARTEFACTS / "dashboard-mandal.png"), full_page=True)
    page.context.close()


def test_labels_switch_to_hindi_and_back(browser):
    from shared.auth.issuer import organiser_token as mint

    page = sign_in(browser, mint(sub="user-e2e-hq", unit="IN"))
    page.wait_for_selector('#children [data-unit="IN-HP"]')
    page.click("#language")
    page.wait_for_selector("html[lang=hi]", state="attached")
    assert page.text_content("h1") == "संगठन मुख्यालय डैशबोर्ड"
    card = page.text_content('#children [data-unit="IN-HP"]')
    assert "हिमाचल प्रदेश" in card and "सत्यापित अध्यक्ष" in card and "पूर्ण टीम" in card
    assert "Verified president" not in card
    page.click("#language")
    page.wait_for_selector("html[lang=en]", state="attached")
    assert "Verified president" in page.text_content('#children [data-unit="IN-HP"]')
    page.context.close()


def test_a_district_organiser_on_a_phone_sees_their_district_without_horizontal_scrolling(browser):
    from shared.auth.issuer import organiser_token as mint

    page = sign_in(browser, mint(sub="user-e2e-d07", unit=DISTRICT), **PHONE)
    page.wait_for_selector(f'#summary[data-unit="{DISTRICT}"]')
    page.goto(f"{DASHBOARD}/#IN-HP")  # above their unit: the page keeps them in their own subtree
    page.wait_for_selector(f'#summary[data-unit="{DISTRICT}"]')
    page.wait_for_selector("#children a.unit")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.click(
        f"#children a.unit >> nth={random.randrange(page.locator('#children a.unit').count())}"
    )
    page.wait_for_selector(f'#summary[data-unit^="{DISTRICT}-A"]')
    page.click("#children a.unit")  # a mandal: the longest lines, booth ids in the missing list
    page.wait_for_selector(f'#summary[data-unit^="{DISTRICT}-A"][data-unit*="-M"]')
    page.wait_for_selector("#missing li[data-booth]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTEFACTS.joinpath("dashboard-phone.png")), full_page=True)
    page.context.close()


def test_a_browser_keeps_the_host_prefixed_secure_session_cookie_and_the_page_works(
    browser, tmp_path
):
    """A dashboard told it is served over HTTPS, as in production: chromium keeps its `__Host-`
    Secure cookie (it treats loopback as a secure origin), and the page and its live stream work."""
    from shared.auth.issuer import organiser_token as mint
    from testkit.processes import start_service

    process, base = start_service("dashboard", {"DASHBOARD_HTTPS": "true"}, tmp_path)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(base)
        page.fill("#token", mint(sub="user-e2e-tls", unit="IN"))
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector("#live[data-state=on]")
        page.wait_for_selector(
            '#children [data-unit="IN-HP"] [data-field="booths_with_verified_president"]'
        )
        [cookie] = context.cookies()
        assert (cookie["name"], cookie["secure"], cookie["httpOnly"], cookie["path"]) == (
            "__Host-sangathan_session",
            True,
            True,
            "/",
        )
        context.close()
    finally:
        process.stop()


# --- meetings -------------------------------------------------------------------------------------

MEETING_DISTRICT = "IN-HP-D09"  # apart from the other tests' districts
ASSEMBLIES = (f"{MEETING_DISTRICT}-A01", f"{MEETING_DISTRICT}-A02")


def publish_events(source: str, events) -> None:
    """On the platform's own topics, as the service of `source` publishes them."""
    from shared.kafka.producer import EventPublisher
    from shared.settings import PlatformSettings

    publisher = EventPublisher(PlatformSettings().kafka_bootstrap, source)
    try:
        for event in events:
            publisher.publish(event)
    finally:
        publisher.close()


def publish_meeting_events(*events) -> None:
    """On the platform's meetings and attendance topics, as the meetings service publishes them."""
    from testkit.attendance import MEETINGS_SOURCE

    publish_events(MEETINGS_SOURCE, events)


def booth(booth_id: str) -> dict:
    """A booth as the org registry holds it, as far as attendance events need it."""
    from shared.orgtree.levels import ancestor_ids

    return {"id": booth_id, "ancestors": ancestor_ids(booth_id)}


def running_meeting(organiser_token):
    """A district's audio meeting for two booth presidents in each of two assemblies, under way:
    in the first assembly both answered and joined, one confirmed; in the second nobody yet.
    Returned once the dashboard lists it."""
    from testkit.attendance import Meeting

    meeting = Meeting(MEETING_DISTRICT, [MEETING_DISTRICT])
    invitees = {}
    for assembly in ASSEMBLIES:
        booths = httpx.get(f"{APPOINTMENTS}/units/{assembly}/booths", timeout=10).json()["booths"]
        invitees[assembly] = [meeting.invitee(booth(b)) for b in random.sample(booths, 2)]
    everyone = [i for group in invitees.values() for i in group]
    first = invitees[ASSEMBLIES[0]]
    publish_meeting_events(meeting.scheduled(), meeting.started(invited=len(everyone)))
    publish_meeting_events(*[i.invited() for i in everyone])
    joins = [e for i in first for e in (i.called(), i.joined(leg_of(i)))]
    publish_meeting_events(*joins, first[0].confirmed())
    headers = organiser_token(MEETING_DISTRICT, audiences=["dashboard"])

    def listed() -> bool:
        answer = httpx.get(
            f"{DASHBOARD}/api/coverage/{MEETING_DISTRICT}/meetings", headers=headers, timeout=10
        )
        return answer.status_code == 200 and meeting.meeting_id in answer.text

    wait_until(listed, WAIT_MS / 1000)
    return meeting, invitees


def leg_of(invitee) -> str:
    """The invitee's one leg in these tests: the same id joins and leaves."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, invitee.participant_id))


def reach_value(page, unit: str, field: str) -> str:
    return page.get_attribute(
        f'#reach-units [data-reach-unit="{unit}"] [data-field="{field}"]', "data-value"
    )


def choose(page, meeting_id: str) -> None:
    page.click(f'#meetings [data-meeting="{meeting_id}"] button.choose')
    page.wait_for_selector(f'#reach-section[data-meeting="{meeting_id}"]:not([hidden])')


def test_hq_follows_a_running_meetings_reach_per_assembly_live_in_english_and_hindi(
    browser, organiser_token
):
    from shared.auth.issuer import organiser_token as mint

    meeting, invitees = running_meeting(organiser_token)
    page = sign_in(
        browser, mint(sub="user-e2e-hq", unit="IN"), viewport={"width": 1280, "height": 900}
    )
    page.goto(f"{DASHBOARD}/#{MEETING_DISTRICT}")
    page.wait_for_selector(f'#meetings-summary[data-unit="{MEETING_DISTRICT}"]:not([hidden])')
    summary = page.text_content("#meetings-summary")
    assert "Meetings held" in summary and "Workers reached" in summary and "null" not in summary
    assert int(page.get_attribute('#meetings-summary [data-field="invited"]', "data-value")) >= 4
    card = page.text_content(f'#meetings [data-meeting="{meeting.meeting_id}"]')
    assert "Booth presidents' meeting" in card and "audio bridge" in card
    choose(page, meeting.meeting_id)
    first, second = ASSEMBLIES
    assert [
        reach_value(page, first, f) for f in ("invited", "answered", "joined", "confirmed")
    ] == [
        "2",
        "2",
        "2",
        "1",
    ]
    assert [reach_value(page, second, f) for f in ("invited", "joined")] == ["2", "0"]
    page.evaluate("window.__sameDocument = true")

    late = invitees[second]
    publish_meeting_events(*[e for i in late for e in (i.called(), i.joined(leg_of(i), "dial_in"))])
    expect(
        page.locator(f'#reach-units [data-reach-unit="{second}"] [data-field="joined"]')
    ).to_have_attribute("data-value", "2", timeout=WAIT_MS)
    assert page.get_attribute('#reach-totals [data-field="joined"]', "data-value") == "4"
    assert page.evaluate("window.__sameDocument") is True, "the reach changed by a reload"

    everyone = [i for group in invitees.values() for i in group]
    publish_meeting_events(*[i.left(leg_of(i), 600) for i in everyone], meeting.ended())
    page.wait_for_selector('#reach-section[data-state="ended"]')
    expect(
        page.locator(f'#reach-units [data-reach-unit="{first}"] [data-field="minutes"]')
    ).to_have_attribute("data-value", "20", timeout=WAIT_MS)
    page.screenshot(path=str(ARTEFACTS / "dashboard-meeting.png"), full_page=True)

    page.click("#language")
    page.wait_for_selector("html[lang=hi]", state="attached")
    assert page.text_content("#meetings-section h2") == "बैठकें"
    reach = page.text_content("#reach-section")
    assert "जुड़े" in reach and "पुष्टि की" in reach and "समाप्त" in reach and "Joined" not in reach
    assert "बूथ अध्यक्ष बैठक" in page.text_content(f'#meetings [data-meeting="{meeting.meeting_id}"]')
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # Himachal's target counts video conferences only, against its deadline, with the projection.
    page.click('#trail a[href="#IN-HP"]')
    page.wait_for_selector('#meetings-summary[data-unit="IN-HP"] [data-field="held_target"]')
    assert (
        page.get_attribute('#meetings-summary [data-field="held_target"]', "data-value") == "5000"
    )
    summary = page.text_content("#meetings-summary")
    assert "लक्ष्य की ओर वीडियो कॉन्फ़्रेंस" in summary and "समय-सीमा" in summary
    page.click("#language")
    page.wait_for_selector("html[lang=en]", state="attached")
    summary = page.text_content("#meetings-summary")
    assert "Video conferences towards the target" in summary and "Deadline" in summary
    page.context.close()


def test_a_district_organiser_on_a_phone_reads_a_meetings_reach_in_hindi_and_english(
    browser, organiser_token
):
    from shared.auth.issuer import organiser_token as mint

    meeting, _ = running_meeting(organiser_token)
    page = sign_in(browser, mint(sub="user-e2e-d09", unit=MEETING_DISTRICT), **PHONE)
    page.wait_for_selector(f'#meetings [data-meeting="{meeting.meeting_id}"]')
    for language, joined in (("hi", "जुड़े"), ("en", "Joined")):
        if page.get_attribute("html", "lang") != language:
            page.click("#language")
            page.wait_for_selector(f"html[lang={language}]", state="attached")
        choose(page, meeting.meeting_id)
        assert reach_value(page, ASSEMBLIES[0], "joined") == "2"
        assert joined in page.text_content("#reach-units")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(
            path=str(ARTEFACTS / f"dashboard-meeting-phone-{language}.png"), full_page=True
        )
    page.context.close()


# --- field reports --------------------------------------------------------------------------------

REPORT_DISTRICT = "IN-HP-D08"  # apart from the other tests' districts


def publish_report_events(*events) -> None:
    """On the platform's forms, submissions and WhatsApp topics, as the reports service does."""
    from testkit.reports import REPORTS_SOURCE

    publish_events(REPORTS_SOURCE, events)


def analytics_report(unit: str, form_id: str, period_key: str) -> dict:
    """What analytics itself answers, for the page's numbers to be checked against."""
    from testkit.rollout import CoverageClient

    analytics = CoverageClient(ANALYTICS)
    params = {"form_id": form_id, "period_key": period_key}
    return analytics.http.get(f"/reports/{unit}", params=params).json()


ANALYTICS = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")


def seva_round(labelled: bool = False):
    """A seva form of HQ's, asked yesterday and today of three booths of the district's first
    mandal and one of its second assembly: today two answered (one late), one is silent; the
    first booth has a WhatsApp group. Returned once analytics counts today's answers. Published
    as form-published.v1 (ids only), or v2 with each question's labels if `labelled`."""
    from shared.events.contracts import new_event
    from testkit.reports import REPORTS_SOURCE, Round, answer, group_updated
    from tests.integration.test_dashboard_reports import form_published, form_published_type

    def booths_of(unit: str, n: int) -> list[str]:
        answer_ = httpx.get(f"{APPOINTMENTS}/units/{unit}/booths", timeout=10).json()
        return sorted(answer_["booths"])[:n]

    first = booths_of(f"{REPORT_DISTRICT}-A01", 3)
    other = booths_of(f"{REPORT_DISTRICT}-A02", 1)
    today = datetime.now(IST).date()
    day = Round(period_key=today.isoformat())
    before = Round(period_key=(today - timedelta(days=1)).isoformat(), form_id=day.form_id)
    form = form_published(day.form_id, "IN", title=f"Seva {day.form_id[:8]}", labelled=labelled)
    publish_report_events(new_event(form_published_type(form), form, REPORTS_SOURCE))
    publish_report_events(*(r.dispatched(b) for r in (before, day) for b in first + other))
    publish_report_events(
        before.submitted(first[0], [answer("food_packets", number=40)]),
        day.submitted(first[0], [answer("food_packets", number=120), answer("rupees", number=501)]),
        day.submitted(first[1], [answer("food_packets", number=30)], late=True),
        day.submitted(other[0], [answer("food_packets", number=7)]),
        group_updated(first[0], 148),
    )
    wait_until(
        lambda: analytics_report(REPORT_DISTRICT, day.form_id, day.period_key)["submitted"] == 3,
        WAIT_MS / 1000,
    )
    wait_until(lambda: analytics_whatsapp(REPORT_DISTRICT)["booths_with_group"], WAIT_MS / 1000)
    return day, first


def analytics_whatsapp(unit: str) -> dict:
    from testkit.rollout import CoverageClient

    return CoverageClient(ANALYTICS).get(unit)["whatsapp"]


def shown(page, selector: str) -> int:
    return int(page.get_attribute(selector, "data-value"))


def open_report(page, unit: str, form_id: str) -> None:
    page.goto(f"{DASHBOARD}/#reports/{unit}")
    page.wait_for_selector("#report-form option >> nth=0", state="attached")
    page.wait_for_selector(f'#report-form option[value="{form_id}"]', state="attached")
    page.select_option("#report-form", form_id)
    page.wait_for_selector(f'#report-summary[data-unit="{unit}"][data-form="{form_id}"]')


def test_a_district_organiser_on_a_phone_reads_a_seva_report_as_analytics_counts_it(browser):
    from shared.auth.issuer import organiser_token as mint

    day, booths = seva_round(labelled=True)
    page = sign_in(browser, mint(sub="user-e2e-d08", unit=REPORT_DISTRICT), **PHONE)
    open_report(page, REPORT_DISTRICT, day.form_id)
    counted = analytics_report(REPORT_DISTRICT, day.form_id, day.period_key)
    assert page.get_attribute("#report-summary", "data-period") == day.period_key
    for field in ("expected", "submitted", "late", "accepted", "rejected"):
        assert shown(page, f'#report-summary [data-field="{field}"]') == counted[field], field
    for question, total in counted["sums"].items():
        assert shown(page, f'#report-answers [data-field="sum.{question}"]') == total
    assembly = f"{REPORT_DISTRICT}-A01"
    row = f'#report-units [data-report-unit="{assembly}"]'
    assert shown(page, f'{row} [data-field="sum.food_packets"]') == 150
    assert shown(page, f'{row} [data-field="submitted"]') == 2
    assert page.locator("#report-trend svg g[data-period]").count() == 2
    groups = analytics_whatsapp(REPORT_DISTRICT)
    for field in ("booths_with_group", "members_reached"):
        assert shown(page, f'#whatsapp-summary [data-field="{field}"]') == groups[field], field

    for language, words in (("hi", ("अपेक्षित", "जमा", "देर से")), ("en", ("Expected", "Late"))):
        if page.get_attribute("html", "lang") != language:
            page.click("#language")
            page.wait_for_selector(f"html[lang={language}]", state="attached")
        summary = page.text_content("#report-summary")
        assert all(w in summary for w in words), (language, summary)
        # The form's own label in the page's language (form-published.v2), not its id in words.
        label = {"hi": "भोजन के पैकेट", "en": "Food packets"}[language]
        sum_label = '#report-answers [data-metric="sum.food_packets"] .label'
        assert page.text_content(sum_label) == label, language
        assert page.text_content(f'{row} [data-field="sum.food_packets"] small') == label
        assert shown(page, '#report-summary [data-field="submitted"]') == counted["submitted"]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(
            path=str(ARTEFACTS / f"dashboard-reports-phone-{language}.png"), full_page=True
        )

    page.context.close()


def test_a_mandals_silent_booth_is_listed_and_its_late_answer_shows_without_a_reload(browser):
    from shared.auth.issuer import organiser_token as mint
    from testkit.reports import answer

    day, booths = seva_round()
    mandal = booths[0].rsplit("-", 2)[0]
    page = sign_in(browser, mint(sub="user-e2e-d08", unit=REPORT_DISTRICT), **PHONE)
    open_report(page, f"{REPORT_DISTRICT}-A01", day.form_id)
    page.click(f'#report-units a[data-report-unit="{mandal}"]')  # down the hierarchy
    page.wait_for_selector(f'#report-summary[data-unit="{mandal}"]')
    page.wait_for_selector("#silent-section:not([hidden]) #silent li[data-booth]")
    silent = page.eval_on_selector_all(
        "#silent li[data-booth]", "ns => ns.map(n => n.dataset.booth)"
    )
    assert silent == analytics_report(mandal, day.form_id, day.period_key)["silent_booths"]
    assert silent == [booths[2]]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTEFACTS / "dashboard-reports-mandal-phone.png"), full_page=True)
    page.evaluate("window.__sameDocument = true")

    publish_report_events(day.submitted(booths[2], [answer("food_packets", number=3)], late=True))
    wait_until(
        lambda: analytics_report(mandal, day.form_id, day.period_key)["submitted"] == 3,
        WAIT_MS / 1000,
    )
    expect(page.locator('#report-summary [data-field="submitted"]')).to_have_attribute(
        "data-value", "3", timeout=WAIT_MS
    )
    assert page.locator("#silent li[data-booth]").count() == 0
    assert shown(page, '#report-summary [data-field="late"]') == 2
    assert page.evaluate("window.__sameDocument") is True, "the report changed by a reload"
    page.context.close()


def test_hq_reads_a_report_per_state_on_a_desktop_and_is_kept_to_the_reports_tab(browser):
    from shared.auth.issuer import organiser_token as mint

    day, booths = seva_round()
    page = sign_in(
        browser, mint(sub="user-e2e-hq", unit="IN"), viewport={"width": 1280, "height": 900}
    )
    page.click("#to-reports")
    open_report(page, "IN", day.form_id)
    counted = analytics_report("IN-HP", day.form_id, day.period_key)
    row = '#report-units [data-report-unit="IN-HP"]'
    assert shown(page, f'{row} [data-field="submitted"]') == counted["submitted"]
    assert shown(page, f'{row} [data-field="sum.food_packets"]') == counted["sums"]["food_packets"]
    # A form published as v1 has no labels: its ids in words.
    sum_label = '#report-answers [data-metric="sum.food_packets"] .label'
    assert page.text_content(sum_label) == "food packets"
    page.click(f"{row}")
    page.wait_for_selector('#report-summary[data-unit="IN-HP"]')
    assert page.get_attribute("#to-reports", "aria-current") == "page"
    assert page.url.endswith("#reports/IN-HP")
    page.screenshot(path=str(ARTEFACTS / "dashboard-reports.png"), full_page=True)
    page.click("#to-coverage")
    page.wait_for_selector('#summary[data-unit="IN-HP"]')
    assert page.is_hidden("#reports-view")
    page.context.close()
