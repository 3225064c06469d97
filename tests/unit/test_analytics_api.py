"""Who may read coverage, and what the coverage API answers."""

from datetime import timedelta

import pytest

from analytics.coverage.access import CoverageAccess
from analytics.coverage.domain import Counts, Reach
from analytics.coverage.report import (
    booths_without_president,
    directives_within,
    reach_body,
    unit_body,
)
from analytics.settings import AnalyticsSettings
from shared.auth import exchange, tokens
from shared.auth.issuer import ISSUER, organiser_token, service_token
from shared.auth.keys import ensure_local_keys, private_key_file
from shared.problems import ProblemError

access = CoverageAccess(AnalyticsSettings())


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_no_token_is_401_with_a_bearer_challenge():
    with pytest.raises(ProblemError) as caught:
        access.reader(None)
    assert caught.value.status == 401 and "Bearer" in caught.value.headers["WWW-Authenticate"]


def test_an_expired_token_is_401():
    token = organiser_token(sub="user-1", unit="IN", ttl=timedelta(seconds=-60))
    with pytest.raises(ProblemError) as caught:
        access.reader(bearer(token))
    assert caught.value.status == 401


def test_a_token_without_coverage_read_is_403():
    token = organiser_token(sub="user-1", unit="IN", scopes=["appointments:write"])
    with pytest.raises(ProblemError) as caught:
        access.reader(bearer(token))
    assert (caught.value.status, caught.value.kind) == (403, "missing-scope")


def test_an_organiser_reads_their_own_subtree_only():
    who = access.reader(bearer(organiser_token(sub="user-1", unit="IN-HP-D03")))
    access.require(who, ["IN-HP-D03-A07"])
    with pytest.raises(ProblemError) as caught:
        access.require(who, ["IN-HP-D04"])
    assert caught.value.kind == "outside-jurisdiction"
    with pytest.raises(ProblemError):
        access.require(who, ["IN-HP"])


def test_headquarters_reads_everything():
    who = access.reader(bearer(organiser_token(sub="user-hq", unit="IN")))
    assert access.may_read(who, ["IN-UP-D44", "IN-HP-D01-A01-M01-S01-B001", "IN"])
    access.require(who, ["IN-UP-D44"])


def test_a_service_needs_the_scope_too():
    private, _ = ensure_local_keys()
    scopeless = tokens.issue(
        private_key_file(private).get(),
        issuer=ISSUER,
        audience="analytics",
        subject="svc:other",
        kind=tokens.SERVICE,
        scopes=["recipients:read"],
    )
    with pytest.raises(ProblemError) as caught:
        access.reader(bearer(scopeless))
    assert (caught.value.status, caught.value.kind) == (403, "missing-scope")


def test_another_services_token_is_401_here():
    with pytest.raises(ProblemError) as caught:
        access.reader(bearer(service_token("notifier")))  # it is for appointments
    assert caught.value.status == 401


def test_a_token_for_another_service_is_401():
    with pytest.raises(ProblemError) as caught:
        access.reader(
            bearer(
                organiser_token(sub="user-1", unit="IN", audiences=["appointments", "dashboard"])
            )
        )
    assert (caught.value.status, caught.value.kind) == (
        401,
        "unauthenticated",
    ) and "audience" in caught.value.detail


def dashboard_signed(**claims) -> str:
    """A token signed with the dashboard's exchange key, as the dashboard
    (or a thief of its key) might."""
    key = private_key_file(exchange.local_signing_key()).get()
    fields = dict(
        issuer=exchange.ISSUER,
        audience="analytics",
        subject="user-1",
        kind=tokens.ORGANISER,
        unit="IN-HP",
        scopes=["coverage:read"],
        actor=exchange.ACTOR,
    )
    return tokens.issue(key, **(fields | claims))


def test_the_dashboards_exchanged_token_reads_the_organisers_own_unit_only():
    who = access.reader(bearer(dashboard_signed()))
    assert (who.unit, who.actor, who.scopes) == (
        "IN-HP",
        "svc:dashboard",
        frozenset({"coverage:read"}),
    )
    access.require(who, ["IN-HP-D03"])
    with pytest.raises(ProblemError):
        access.require(who, ["IN-UP"])


@pytest.mark.parametrize(
    "claims",
    [
        {"scopes": ["coverage:read", "appointments:write"]},  # more than the dashboard may grant
        {"kind": tokens.SERVICE, "unit": None},  # the dashboard speaks only for organisers
        {"audience": "appointments"},  # for another service
    ],
)
def test_the_dashboards_key_signs_nothing_beyond_reading_coverage(claims):
    with pytest.raises(ProblemError) as caught:
        access.reader(bearer(dashboard_signed(**claims)))
    assert caught.value.status == 401


DISTRICT = {
    "id": "IN-HP-D01",
    "level": "district",
    "parent": "IN-HP",
    "ancestors": ["IN", "IN-HP"],
    "state": "HP",
    "name": "District 1",
    "name_hi": "जिला 1",
    "booths": 400,
}
BOOTH = {
    "id": "IN-HP-D01-A01-M01-S01-B001",
    "level": "booth",
    "parent": "IN-HP-D01-A01-M01-S01",
    "ancestors": [
        "IN",
        "IN-HP",
        "IN-HP-D01",
        "IN-HP-D01-A01",
        "IN-HP-D01-A01-M01",
        "IN-HP-D01-A01-M01-S01",
    ],
    "state": "HP",
    "name": "Booth 1",
    "name_hi": "बूथ 1",
    "booths": 1,
}


def test_a_unit_answers_its_counts_and_shares():
    body = unit_body(DISTRICT, Counts(100, 20, 50, 1500, 400, {"booth_president": 100}, as_of=0.0))
    assert body["booths_total"] == 400 and body["booths_complete"] == 20
    assert body["shares"] == {
        "verified_president": 0.25,
        "complete": 0.05,
        "whatsapp_pramukh": 0.125,
    }
    assert body["as_of"] == "1970-01-01T00:00:00+00:00"
    assert "team" not in body


def test_a_booth_answers_what_its_team_still_lacks():
    counts = Counts(1, 0, 0, 2, 1, {"booth_president": 1, "member": 1}, as_of=0.0)
    team = unit_body(BOOTH, counts)["team"]
    assert team["president_verified"] and not team["complete"]
    assert team["missing"] == {
        "mann_ki_baat_pramukh": 1,
        "labharthi_pramukh": 1,
        "whatsapp_pramukh": 1,
        "it_social_media": 1,
        "panna_pramukh": 1,
        "women": 2,
    }


def test_a_unit_nobody_has_counted_yet_answers_zeros():
    body = unit_body(DISTRICT, Counts())
    assert body["verified_appointees"] == 0 and body["as_of"] is None


def test_a_directive_answers_its_reach_against_its_target():
    body = reach_body(
        {"directive_id": "d1", "issuing_unit": "IN", "scope": ["IN-HP"], "booths_targeted": 200},
        Reach(50, 10, 0.0),
    )
    assert (body["booths_delivered"], body["booths_acknowledged"]) == (50, 10)
    assert body["shares"] == {"delivered": 0.25, "acknowledged": 0.05}


def directive(directive_id: str, issuing_unit: str, scope: list[str], issued_at: str) -> dict:
    return {
        "directive_id": directive_id,
        "issuing_unit": issuing_unit,
        "scope": scope,
        "booths_targeted": 10,
        "priority": "normal",
        "issued_at": issued_at,
        "expires_at": None,
    }


def test_a_units_directives_are_those_issued_or_aimed_inside_it_newest_first():
    directives = [
        directive("d-hq", "IN", ["IN"], "2024-11-01T10:00:00+05:30"),
        directive("d-state", "IN-HP", ["IN-HP"], "2024-11-02T10:00:00+05:30"),
        directive("d-hq-to-district", "IN", ["IN-HP-D05"], "2024-11-03T10:00:00+05:30"),
        directive("d-other-state", "IN-UP", ["IN-UP-D01"], "2024-11-04T10:00:00+05:30"),
        directive("d-neighbour", "IN-HP-D050", ["IN-HP-D050"], "2024-11-05T10:00:00+05:30"),
    ]
    assert [d["directive_id"] for d in directives_within(directives, "IN-HP", 10)] == [
        "d-neighbour",
        "d-hq-to-district",
        "d-state",
    ]
    assert [d["directive_id"] for d in directives_within(directives, "IN-HP-D05", 10)] == [
        "d-hq-to-district"
    ]
    assert [d["directive_id"] for d in directives_within(directives, "IN", 2)] == [
        "d-neighbour",
        "d-other-state",
    ]


def test_booths_without_a_president_are_counted_and_listed_in_booth_order_up_to_the_limit():
    booths = [
        "IN-HP-D01-A01-M01-S01-B003",
        "IN-HP-D01-A01-M01-S01-B001",
        "IN-HP-D01-A01-M01-S01-B002",
    ]
    answer = booths_without_president(booths, lambda b: b.endswith("B002"), limit=1)
    assert answer == {"count": 2, "booths": ["IN-HP-D01-A01-M01-S01-B001"]}
