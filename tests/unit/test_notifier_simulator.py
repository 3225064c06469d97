"""The provider simulator's decisions, without a server: rate limits, which requests fail and
how, and the status reports that follow an accepted message."""

import random

import pytest

from simulator import domain as p
from simulator.settings import SimulatorSettings


def test_a_sender_gets_its_rate_in_a_burst_then_429s_until_tokens_refill():
    bucket = p.TokenBucket(rate=80)
    assert all(bucket.take("wa:+911", 100.0) == 0 for _ in range(80))
    wait = bucket.take("wa:+911", 100.0)
    assert wait == pytest.approx(1 / 80)
    assert bucket.take("wa:+912", 100.0) == 0, "each sender has its own limit"
    assert bucket.take("wa:+911", 100.0 + 1 / 80) == 0


def test_a_bad_number_stays_bad_on_every_retry_and_transient_failures_come_in_their_share():
    fates = p.Fates(transient=0.2, permanent=0.1, rng=random.Random(7))
    phones = [f"+9198{i:08d}" for i in range(2000)]
    permanent = {ph for ph in phones if (r := fates.refusal("whatsapp", ph)) and r.status == 400}
    assert permanent == {
        ph for ph in phones if (r := fates.refusal("whatsapp", ph)) and r.status == 400
    }
    assert 140 < len(permanent) < 260
    transient = sum(1 for ph in phones if (r := fates.refusal("whatsapp", ph)) and r.status == 503)
    assert 300 < transient < 420
    assert fates.refusal("whatsapp", next(iter(permanent))).code == p.NOT_ON_CHANNEL
    assert not fates.refusal("whatsapp", next(iter(permanent))).retryable


def test_reports_arrive_late_sometimes_twice_and_sometimes_read_before_delivered():
    reporting = p.Reporting(
        read_share=1.0,
        read_before_delivered_share=0.5,
        duplicate_share=0.5,
        undeliverable_share=0,
        delivered_delay_s=(0.2, 1.0),
        read_delay_s=(0.5, 2.0),
    )
    rng = random.Random(3)
    plans = [reporting.plan(f"m{i}", 10.0, rng) for i in range(400)]
    assert all(r.due > 10.0 for plan in plans for r in plan)
    early_reads = [
        plan
        for plan in plans
        if min(r.due for r in plan if r.status == "read")
        < min(r.due for r in plan if r.status == "delivered")
    ]
    twice = [plan for plan in plans if len(plan) == 3]
    assert 150 < len(early_reads) < 250 and 150 < len(twice) < 250


def test_an_undeliverable_message_is_reported_failed_and_nothing_else():
    reporting = p.Reporting(
        read_share=1.0,
        read_before_delivered_share=0,
        duplicate_share=0,
        undeliverable_share=1.0,
        delivered_delay_s=(0, 0),
        read_delay_s=(0, 0),
    )
    [report] = reporting.plan("m", 0.0, random.Random(1))
    assert (report.status, report.error) == ("failed", p.UNDELIVERABLE)


def test_settings_read_lists_and_delay_ranges_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_APPROVED_TEMPLATES", "a_v1, b_v1")
    monkeypatch.setenv("SIMULATOR_DELIVERED_DELAY_MS", "10,20")
    settings = SimulatorSettings()
    assert settings.approved_templates == ("a_v1", "b_v1") and settings.delivered_delay_ms == (
        10,
        20,
    )
    monkeypatch.setenv("SIMULATOR_DELIVERED_DELAY_MS", "20,10")
    with pytest.raises(ValueError):
        SimulatorSettings()


def test_the_bounded_store_forgets_its_oldest_entries():
    kept = p.Bounded(3)
    for i in range(5):
        kept[i] = i
    assert list(kept) == [2, 3, 4]


# --- the HTTP face, in process -------------------------------------------------------------------


@pytest.fixture
def simulator(monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from simulator.api import create_simulator_app
    from simulator.bootstrap import bootstrap

    monkeypatch.setenv("SANGATHAN_STATE", str(tmp_path))
    monkeypatch.setenv("SIMULATOR_TRANSIENT_FAILURE_SHARE", "0")
    monkeypatch.setenv("SIMULATOR_PERMANENT_FAILURE_SHARE", "0")
    monkeypatch.setenv("SIMULATOR_RATE_PER_SENDER", "5")
    return TestClient(
        create_simulator_app(bootstrap(SimulatorSettings()))
    )  # no lifespan: no callbacks


def sms(**overrides) -> dict:
    return {
        "sender": "SNGTHN",
        "to": "+919812345678",
        "text": "hello",
        "dlt_entity_id": "1",
        "dlt_template_id": "1107170000000000001",
        **overrides,
    }


def test_a_repeated_idempotency_key_gets_the_first_answer_and_sends_nothing_more(simulator):
    first = simulator.post(
        "/sms/v1/messages", json=sms(), headers={"Idempotency-Key": "d-1"}
    ).json()
    second = simulator.post(
        "/sms/v1/messages", json=sms(), headers={"Idempotency-Key": "d-1"}
    ).json()
    assert second == {"id": first["id"], "duplicate": True}
    assert (
        len(simulator.get("/v1/messages", params={"to": "+919812345678"}).json()["messages"]) == 1
    )
    assert simulator.get("/v1/stats").json()["stats"]["duplicates"] == 1


def test_a_sender_over_its_rate_gets_429_with_retry_after(simulator):
    answers = [simulator.post("/sms/v1/messages", json=sms()).status_code for _ in range(7)]
    assert answers == [200] * 5 + [429] * 2
    refused = simulator.post("/sms/v1/messages", json=sms())
    assert refused.json()["error"] == {
        "code": p.RATE_LIMITED,
        "message": refused.json()["error"]["message"],
        "retryable": True,
    }
    assert int(refused.headers["retry-after"]) >= 1


def test_unregistered_dlt_templates_headers_and_unapproved_whatsapp_templates_are_refused_for_good(
    simulator,
):
    assert (
        simulator.post("/sms/v1/messages", json=sms(dlt_template_id="999")).json()["error"]["code"]
        == p.DLT_TEMPLATE_MISMATCH
    )
    assert (
        simulator.post("/sms/v1/messages", json=sms(sender="NOTREG")).json()["error"]["code"]
        == p.DLT_HEADER_UNREGISTERED
    )
    wa = simulator.post(
        "/whatsapp/v1/+911140000001/messages",
        json={"to": "+919812345678", "type": "template", "template": {"name": "promo_v9"}},
    )
    assert wa.status_code == 400 and wa.json()["error"] == {
        "code": p.TEMPLATE_NOT_APPROVED,
        "message": wa.json()["error"]["message"],
        "retryable": False,
    }
