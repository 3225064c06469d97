"""The reports view's rules without servers: the latest version of each published form, which
forms an organiser may pick, and each unit below a report carrying its own sums."""

import copy

from dashboard.adapters.forms import FormFeed
from dashboard.reports import FormCatalogue
from shared.events import types
from shared.events.contracts import load_schema, new_event, to_kafka

HQ_FORM = "2b1f0c7e-4d3a-4f5b-9c8e-1a0d2e3f4b5c"
HP_FORM = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
UP_FORM = "0a6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"


def published(form_id: str, owner: str, version: int = 1, kind: str = "seva", en: str = "Seva"):
    return {
        "form_id": form_id,
        "version": version,
        "owner_unit": owner,
        "kind": kind,
        "title": {"hi": en, "en": en},
        "questions": [],
        "published_by": "user-4821",
        "published_at": "2024-11-23T09:00:00+05:30",
    }


def test_a_form_is_known_by_its_newest_version_whatever_order_they_arrive_in():
    catalogue = FormCatalogue()
    assert catalogue.on_published(published(HQ_FORM, "IN", version=2, en="Daily v2"))
    assert not catalogue.on_published(published(HQ_FORM, "IN", version=1, en="Daily v1"))
    assert not catalogue.on_published(published(HQ_FORM, "IN", version=2, en="Daily v2"))
    [form] = catalogue.readable_by("IN")
    assert (form["version"], form["title"]["en"]) == (2, "Daily v2")
    assert "published_by" not in form


def test_an_organiser_picks_hqs_forms_and_their_own_states_and_hq_picks_every_states():
    catalogue = FormCatalogue()
    for data in (
        published(HP_FORM, "IN-HP", en="Himachal seva"),
        published(UP_FORM, "IN-UP", en="UP seva"),
        published(HQ_FORM, "IN", kind="feedback", en="Daily feedback"),
    ):
        catalogue.on_published(data)
    ids = lambda unit: [f["form_id"] for f in catalogue.readable_by(unit)]  # noqa: E731
    assert ids("IN-HP-D05-A05") == [HQ_FORM, HP_FORM]  # feedback first, then seva by title
    assert ids("IN-UP") == [HQ_FORM, UP_FORM]
    assert ids("IN") == [HQ_FORM, HP_FORM, UP_FORM]
    assert ids("IN-HPX") == [HQ_FORM]


def record(event_type: str, data: dict):
    """A form-published event as the dashboard's consumer reads it off Kafka."""
    _, key, value, headers = to_kafka(new_event(event_type, data, "/sangathan/reports"))
    return headers, key, value


def test_the_forms_feed_takes_form_published_v1_and_v2_and_a_v1_form_has_null_labels():
    feed = FormFeed("127.0.0.1:9", "sangathan.report-forms.v1")  # never connects: take() only
    v2 = copy.deepcopy(load_schema(types.FORM_PUBLISHED_V2)["examples"][0])
    v1 = copy.deepcopy(load_schema(types.FORM_PUBLISHED)["examples"][0])
    v1["form_id"] = HP_FORM
    v1["owner_unit"] = "IN-HP"
    feed.take(*record(types.FORM_PUBLISHED_V2, v2))
    feed.take(*record(types.FORM_PUBLISHED, v1))
    feed.take([("ce_type", b"org.sangathan.form-published.v1")], b"x", b"not json")  # skipped
    labelled, plain = feed.readable_by("IN-HP")
    assert labelled["form_id"] == v2["form_id"] and plain["form_id"] == HP_FORM
    mood = labelled["questions"][0]
    assert mood["label"]["en"] == "How was the workers' mood at the booth today?"
    assert [(o["option_id"], o["label"]["hi"]) for o in mood["options"]] == [
        ("good", "अच्छा"),
        ("mixed", "मिला-जुला"),
        ("poor", "कमज़ोर"),
    ]
    assert plain["questions"][0]["label"] is None
    assert plain["questions"][0]["options"] == [
        {"option_id": o, "label": None} for o in ("good", "mixed", "poor")
    ]
    assert plain["questions"][0]["option_ids"] == ["good", "mixed", "poor"]


def test_a_newer_version_with_labels_replaces_a_v1_form_and_an_older_v1_changes_nothing():
    catalogue = FormCatalogue()
    v2 = copy.deepcopy(load_schema(types.FORM_PUBLISHED_V2)["examples"][0])
    older = {**copy.deepcopy(load_schema(types.FORM_PUBLISHED)["examples"][0]), "version": 1}
    assert catalogue.on_published(older)
    assert catalogue.on_published(v2)
    assert not catalogue.on_published(older)
    [form] = catalogue.readable_by("IN")
    assert form["version"] == 2 and form["questions"][1]["label"]["en"].startswith("How many")
