"""The OTP service with several worker processes (OTP_WORKERS), started as `make up` starts it:
it verifies codes, and /metrics counts every worker's requests, not those of whichever worker
answers the scrape."""

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.auth.issuer import service_token
from testkit.processes import start_service
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration


def requests_to(base: str, route: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
    return sum(
        s.value
        for f in families
        if f.name == "sangathan_http_requests"
        for s in f.samples
        if s.name.endswith("_total") and s.labels["route"] == route
    )


def test_two_workers_answer_and_their_metrics_are_summed(tmp_path, monkeypatch, scratch):
    monkeypatch.setenv("OTP_WORKERS", "2")
    service, base = start_service(
        "otp",
        {
            "SANGATHAN_ENV": "development",
            "OTP_HMAC_SECRET": secrets.token_hex(32),
            "OTP_CONSUME": "false",
            "OTP_REDIS_PREFIX": f"test-otp-{random_suffix()}:",
            "OTP_RESULTS_TOPIC": scratch(),
        },
        tmp_path,
    )
    try:
        headers = {"Authorization": f"Bearer {service_token('appointments')}"}

        def verify(_):
            body = {
                "request_id": str(uuid.uuid4()),
                "appointment_id": str(uuid.uuid4()),
                "code": "123456",
            }
            with httpx.Client() as client:  # a connection each, so the workers share them
                return client.post(
                    f"{base}/v1/verifications", json=body, headers=headers
                ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(verify, range(40)))
        assert statuses == [422] * 40, "an unknown request is rejected like a wrong code"
        assert requests_to(base, "/v1/verifications") == 40
        assert len(list((tmp_path / "otp-metrics").glob("counter_*.db"))) == 2, (
            "one metrics file per worker"
        )
    finally:
        service.stop()
