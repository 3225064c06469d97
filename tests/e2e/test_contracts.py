"""Every running service against its own OpenAPI document (schemathesis): no 5xx, no answer the
document does not describe (status, media type, headers, body), `Allow` on every 405.

Bounded: a few examples per operation, no shrinking, a time cap per run, loopback only. Tokens
come from the local issuer so the requests get past authentication; each run uses the token of
the caller its operations are for (an organiser, or the service that calls an internal route).
Analytics serves Faust's web views, not an OpenAPI document, so it has no run here.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "unsupported_method",
        "allow_header_conformance",
    ]
)
EXAMPLES_PER_OPERATION = 5
TIME_CAP_S = 240
# Streams stay open while the client does; a fuzzer's request would only time out.
STREAMS = "(/live|/stream)"


@dataclass(frozen=True)
class Run:
    name: str
    port: int
    caller: str  # "organiser", a service's name whose token to send, or "" for none
    include: str = ""  # path regex; empty: every operation
    exclude: str = STREAMS
    server_errors_expected: str = (
        ""  # statuses 5xx a service answers on purpose (the provider simulator's 503)
    )


RUNS = [
    Run("appointments", 8001, "organiser", exclude=f"{STREAMS}|^/internal/"),
    Run("appointments-internal", 8001, "notifier", include="^/internal/"),
    Run("otp", 8002, "appointments"),
    Run("notifier", 8003, "organiser", exclude=f"{STREAMS}|/otp-deliveries"),
    Run("notifier-otp", 8003, "otp", include="/otp-deliveries"),
    Run("dashboard", 8006, "organiser"),
    Run("reports", 8008, "organiser"),
    # A provider stand-in: a share of its answers are the provider's own "try again" 503, by design.
    Run("simulator", 8005, "", server_errors_expected="503"),
]


def _token(caller: str) -> str:
    from shared.auth.issuer import organiser_token, service_token

    if caller == "organiser":
        return organiser_token(sub="user-contracts", unit="IN")
    return service_token(caller)


def _config(run: Run, folder: Path) -> Path:
    """schemathesis.toml for one run: statuses it must not count as server errors."""
    path = folder / f"{run.name}.toml"
    expected = ["2XX", "3XX", "4XX"] + (
        [run.server_errors_expected] if run.server_errors_expected else []
    )
    path.write_text(
        "[checks.not_a_server_error]\nexpected-statuses = [%s]\n"
        % ", ".join(f'"{s}"' for s in expected)
    )
    return path


@pytest.mark.parametrize("run", RUNS, ids=lambda r: r.name)
def test_every_answer_of_a_service_is_described_by_its_openapi_document(run: Run, tmp_path):
    base = os.environ.get(f"{run.name.split('-')[0].upper()}_URL", f"http://127.0.0.1:{run.port}")
    assert base.startswith(("http://127.0.0.1", "http://localhost")), (
        "the fuzzer runs on loopback only"
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(_config(run, tmp_path)),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--no-shrink",
        "--seed",
        "11",
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--exclude-path-regex",
        run.exclude,
        "--report-dir",
        str(tmp_path / "report"),
    ]
    if run.include:
        command += ["--include-path-regex", run.include]
    if run.caller:
        command += ["--header", f"Authorization: Bearer {_token(run.caller)}"]
    try:
        done = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=TIME_CAP_S
        )
    except subprocess.TimeoutExpired as slow:
        pytest.fail(
            f"schemathesis did not finish in {TIME_CAP_S} s:\n{(slow.stdout or b'')[-6000:]}"
        )
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
