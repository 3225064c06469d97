"""Contract: a STOP as a real provider posts it (the sender's number without `+`, WhatsApp Cloud
style) reaches the notifier's signed webhook, and the recipient gets nothing more, even after
the acknowledgement-link key is rotated and the notifier restarted."""

import json
import secrets
import time

import httpx
import pytest

from shared.sending.signatures import sign
from testkit.processes import Process, wait_until
from tests.integration.test_notifier_flow import PYTHON, _ready, start_stack, stop_stack

pytestmark = pytest.mark.integration

SCOPE = ["IN-HP-D02-A01"]


def provider_stop(phone: str) -> dict:
    """The shape a WhatsApp Business provider posts for an inbound text (trimmed to what
    matters)."""
    return {
        "messages": [
            {
                "id": f"wamid.{secrets.token_hex(12)}",
                "from": phone.removeprefix("+"),
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": "Stop",
                "channel": "whatsapp",
            }
        ]
    }


def test_a_providers_stop_is_honoured_after_the_ack_key_rotates(tmp_path):
    stack = start_stack(
        tmp_path, notifier_env={"NOTIFIER_OPTOUT_SECRET": f"v1:{secrets.token_hex(32)}"}
    )
    try:
        first = _send_and_wait(stack)
        phone = stack.accepted_for(first["id"])[0]["to"]
        body = json.dumps(provider_stop(phone)).encode()
        signature = sign(stack.env["PROVIDER_WEBHOOK_SECRET"].encode(), body, int(time.time()))
        answer = httpx.post(
            f"{stack.notifier}/v1/webhooks/provider",
            content=body,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Provider-Signature": signature},
        )
        assert answer.status_code == 200, answer.text

        _restart_notifier(stack, NOTIFIER_ACK_SECRET=secrets.token_hex(32))
        before = len(stack.messages(to=phone))
        second = _send_and_wait(stack)
        assert second["total"]["targeted"] == first["total"]["targeted"] - 1
        assert len(stack.messages(to=phone)) == before, (
            "nothing more was sent to the number that said stop"
        )
    finally:
        stop_stack(stack)


def _send_and_wait(stack) -> dict:
    directive_id = stack.issue(scope=SCOPE, channels=["sms"]).json()["directive_id"]
    done = stack.wait_for(
        directive_id,
        lambda s: (
            s["state"] == "sent"
            and s["total"]["targeted"] > 0
            and s["total"]["sent"] + s["total"]["failed"] == s["total"]["targeted"]
        ),
        timeout_s=90,
    )
    return {**done, "id": directive_id}


def _restart_notifier(stack, **changes: str) -> None:
    """The notifier stopped and started again with changed settings (a rotated key, here)."""
    old = stack.processes.pop()
    old.stop()
    stack.env.update(changes)
    port = stack.notifier.rsplit(":", 1)[1]
    new = Process(
        [
            PYTHON,
            "-m",
            "uvicorn",
            "notifier.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--no-access-log",
        ],
        stack.env,
        stack.tmp / "notifier-restarted.log",
    )
    stack.processes.append(new)
    wait_until(lambda: _ready(f"{stack.notifier}/readyz"), 60, new)
