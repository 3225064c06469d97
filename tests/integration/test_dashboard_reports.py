"""The dashboard's reports view against the real analytics worker: form-published events on a
forms topic of the module's own, report events on the module's scratch topics counted by a
worker of its own, read through a dashboard process pointed at both: the forms an organiser may
pick (with their labels from form-published.v2, none from a v1 form), a unit's report with each
unit below carrying its own seva sums, a mandal's silent booths, the trend, jurisdiction, and a
503 while analytics is away.
"""

import uuid
from datetime import datetime

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from shared.events import types
from shared.events.contracts import new_event
from shared.kafka.producer import EventPublisher
from shared.sending.policy import IST
from shared.settings import PlatformSettings
from testkit.processes import start_service
from testkit.reports import REPORTS_SOURCE, Round, answer
from testkit.rollout import first_booths, mandals_under
from tests.integration.test_dashboard_meetings import analytics_and_dashboard, signed_in, wait_for

pytestmark = pytest.mark.integration

SEVA = ("food_packets", "rupees")
# The labels a labelled (form-published.v2) form gives its questions and options: (hi, en).
LABELS = {
    "food_packets": ("भोजन के पैकेट", "Food packets"),
    "rupees": ("राहत कोष में दान (रुपये)", "Relief-fund donations (rupees)"),
    "mood": ("कार्यकर्ताओं का मनोबल", "Workers' mood"),
    "good": ("अच्छा", "Good"),
    "mixed": ("मिला-जुला", "Mixed"),
    "poor": ("कमज़ोर", "Poor"),
}


def form_published(
    form_id: str, owner: str, *, kind: str = "seva", title: str = "Seva", labelled: bool = False
) -> dict:
    """A form-published event's data: a yes/no, then summed numbers (seva) or a choice; v1's
    (ids only) unless `labelled`, then v2's, each question and option with its labels."""
    numbers = [
        {"question_id": q, "type": "number", "required": True, "option_ids": [], "summed": True}
        for q in SEVA
    ]
    choice = {
        "question_id": "mood",
        "type": "single_choice",
        "required": True,
        "option_ids": ["good", "mixed", "poor"],
        "summed": False,
    }
    questions = numbers if kind == "seva" else [choice]
    if labelled:
        questions = [
            {
                **q,
                "label": dict(zip(("hi", "en"), LABELS[q["question_id"]])),
                "options": [
                    {"option_id": o, "label": dict(zip(("hi", "en"), LABELS[o]))}
                    for o in q["option_ids"]
                ],
            }
            for q in questions
        ]
    return {
        "form_id": form_id,
        "version": 1,
        "owner_unit": owner,
        "kind": kind,
        "title": {"hi": f"{title} (हि)", "en": title},
        "questions": questions,
        "published_by": "user-4821",
        "published_at": datetime.now(IST).isoformat(),
    }


def form_published_type(data: dict) -> str:
    """v2 when the form carries labels, else v1 (both are on the forms topic)."""
    return types.FORM_PUBLISHED_V2 if "label" in data["questions"][0] else types.FORM_PUBLISHED


def publish_forms(bootstrap: str, topic: str, *forms: dict) -> None:
    publisher = EventPublisher(bootstrap, REPORTS_SOURCE, topic_for=lambda _: topic)
    try:
        for data in forms:
            publisher.publish(new_event(form_published_type(data), data, REPORTS_SOURCE))
    finally:
        publisher.close()


@pytest.fixture(scope="module")
def forms_topic():
    bootstrap = PlatformSettings().kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    name = f"test-dashboard-forms-{uuid.uuid4().hex[:8]}"
    for future in admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=30).values():
        future.result()
    yield bootstrap, name
    for future in admin.delete_topics([name], operation_timeout=30).values():
        future.result()


@pytest.fixture(scope="module")
def dashboard(analytics_scratch, forms_topic, tmp_path_factory):
    """An analytics worker on the scratch topics, and a dashboard asking it and reading forms from
    the module's forms topic."""
    env = {"DASHBOARD_FORMS_TOPIC": forms_topic[1]}
    with analytics_and_dashboard(analytics_scratch, tmp_path_factory, env) as started:
        yield started


@pytest.fixture(scope="module")
def publish(analytics_scratch):
    def send(*events):
        publisher = analytics_scratch.publisher(REPORTS_SOURCE)
        try:
            for event in events:
                publisher.publish(event)
        finally:
            publisher.close()

    return send


@pytest.fixture(scope="module")
def mandals(org_registry):
    return mandals_under(org_registry, "IN-HP")


def listed(client: httpx.Client) -> set[str]:
    return {f["form_id"] for f in client.get("/api/reports/forms").json()["forms"]}


def report(client, unit: str, day: Round) -> dict | None:
    params = {"form_id": day.form_id, "period_key": day.period_key}
    answer_ = client.get(f"/api/reports/{unit}", params=params)
    return answer_.json() if answer_.status_code == 200 else None


def test_a_districts_seva_report_shows_each_assemblys_own_sums_and_a_mandals_silent_booths(
    dashboard, forms_topic, publish, org_registry, mandals
):
    base, analytics = dashboard
    first, second = next(mandals), next(mandals)
    while second.rsplit("-", 1)[0] == first.rsplit("-", 1)[0]:  # a mandal of another assembly
        second = next(mandals)
    district = first.rsplit("-", 2)[0]
    assert second.startswith(district + "-"), "Himachal's mandals in order: the same district"
    day = Round(period_key="2024-11-25")
    publish_forms(*forms_topic, form_published(day.form_id, "IN"))
    ours = [b["id"] for b in first_booths(org_registry, first, 3)]
    theirs = [b["id"] for b in first_booths(org_registry, second, 1)]
    publish(*(day.dispatched(b) for b in ours + theirs))
    publish(
        day.submitted(ours[0], [answer("food_packets", number=120), answer("rupees", number=501)]),
        day.submitted(ours[1], [answer("food_packets", number=30)], late=True),
        day.submitted(theirs[0], [answer("food_packets", number=7)]),
    )

    viewer = signed_in(base, "IN-HP")
    wait_for(lambda: day.form_id in listed(viewer))
    body = wait_for(lambda: (r := report(viewer, district, day)) and r["submitted"] == 3 and r)
    asked = analytics.http.get(
        f"/reports/{district}", params={"form_id": day.form_id, "period_key": day.period_key}
    ).json()
    assert {k: v for k, v in body.items() if k != "units"} == {
        k: v for k, v in asked.items() if k != "units"
    }
    assert (body["expected"], body["late"], body["sums"]) == (
        4,
        1,
        {"food_packets": 157, "rupees": 501},
    )
    rows = {row["unit_id"]: row for row in body["units"]}
    assert {row["unit_id"] for row in asked["units"]} == set(rows)
    assembly, other = first.rsplit("-", 1)[0], second.rsplit("-", 1)[0]
    assert rows[assembly]["sums"] == {"food_packets": 150, "rupees": 501}
    assert (rows[assembly]["expected"], rows[assembly]["submitted"]) == (3, 2)
    assert rows[other]["sums"] == {"food_packets": 7}
    assert all(r["sums"] == {} for u, r in rows.items() if u not in (assembly, other))

    in_mandal = report(viewer, first, day)
    assert in_mandal["silent_booths"] == [ours[2]]
    sector_rows = {r["unit_id"]: r for r in in_mandal["units"] if r["expected"]}
    assert sum(r["sums"].get("food_packets", 0) for r in sector_rows.values()) == 150
    trend = viewer.get(f"/api/reports/{district}/trend", params={"form_id": day.form_id}).json()
    assert trend["days"] == [
        {"period_key": "2024-11-25", "expected": 4, "submitted": 3, "sums": body["sums"]}
    ]
    coverage = viewer.get(f"/api/coverage/{district}").json()
    assert set(coverage["whatsapp"]) >= {"booths_with_group", "members_reached"}


def test_an_organiser_sees_forms_and_reports_of_their_own_state_only(
    dashboard, forms_topic, publish, org_registry, mandals
):
    base, _ = dashboard
    mandal = next(mandals)
    booth = first_booths(org_registry, mandal, 1)[0]["id"]
    hq, himachal, up = (str(uuid.uuid4()) for _ in range(3))
    publish_forms(
        *forms_topic,
        form_published(hq, "IN", kind="feedback", title="HQ daily"),
        form_published(himachal, "IN-HP", title="Himachal seva"),
        form_published(up, "IN-UP", title="UP seva"),
    )
    day = Round(form_id=himachal)
    publish(day.dispatched(booth))
    viewer = signed_in(base, "IN-HP")
    wait_for(lambda: (report(viewer, mandal, day) or {}).get("expected") == 1)
    mine = wait_for(lambda: (f := listed(viewer)) >= {hq, himachal} and f)
    assert up not in mine
    assert {hq, himachal, up} <= listed(signed_in(base, "IN"))

    elsewhere = signed_in(base, "IN-UP")
    assert wait_for(lambda: (f := listed(elsewhere)) >= {hq, up} and f).isdisjoint({himachal})
    params = {"form_id": himachal, "period_key": day.period_key}
    for path in (f"/api/reports/{mandal}", f"/api/reports/{mandal}/trend", "/api/reports/IN"):
        refused = elsewhere.get(path, params=params)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["type"].endswith("/outside-jurisdiction")
    assert httpx.get(f"{base}/api/reports/{mandal}", params=params).status_code == 401

    bad = viewer.get(f"/api/reports/{mandal}", params={**params, "period_key": "yesterday"})
    assert bad.status_code == 422
    assert viewer.get(f"/api/reports/{booth}", params=params).status_code == 422  # not rolled up
    missing = viewer.get("/api/reports/IN-HP-D99", params=params)
    assert missing.status_code == 404 and missing.json()["type"].endswith("/unit-not-found")


def test_a_form_published_with_labels_lists_them_and_one_without_has_none(dashboard, forms_topic):
    base, _ = dashboard
    labelled, plain = str(uuid.uuid4()), str(uuid.uuid4())
    publish_forms(
        *forms_topic,
        form_published(labelled, "IN", kind="feedback", title="With labels", labelled=True),
        form_published(plain, "IN", kind="feedback", title="Ids only"),
    )
    viewer = signed_in(base, "IN-HP")
    forms = wait_for(
        lambda: (
            (f := {f["form_id"]: f for f in viewer.get("/api/reports/forms").json()["forms"]})
            and {labelled, plain} <= set(f)
            and f
        )
    )
    [mood] = forms[labelled]["questions"]
    assert mood["label"] == {"hi": "कार्यकर्ताओं का मनोबल", "en": "Workers' mood"}
    assert [(o["option_id"], o["label"]["hi"]) for o in mood["options"]] == [
        ("good", "अच्छा"),
        ("mixed", "मिला-जुला"),
        ("poor", "कमज़ोर"),
    ]
    [bare] = forms[plain]["questions"]
    assert bare["label"] is None and [o["label"] for o in bare["options"]] == [None] * 3


def test_reports_are_a_503_with_retry_after_while_analytics_is_away(tmp_path, forms_topic):
    env = {"ANALYTICS_URL": "http://127.0.0.1:9", "DASHBOARD_FORMS_TOPIC": forms_topic[1]}
    process, base = start_service("dashboard", env, tmp_path)
    try:
        viewer = signed_in(base, "IN-HP")
        params = {"form_id": str(uuid.uuid4()), "period_key": "2024-11-25"}
        for path in ("/api/reports/IN-HP", "/api/reports/IN-HP/trend"):
            answer_ = viewer.get(path, params=params)
            assert answer_.status_code == 503, answer_.text
            assert answer_.headers["Retry-After"] and answer_.json()["type"].endswith(
                "/dependency-unavailable"
            )
    finally:
        process.stop()
