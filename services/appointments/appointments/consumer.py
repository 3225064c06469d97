"""Kafka entrypoint: OTP outcomes become appointment changes. Translates, nothing more."""

from appointments import handlers
from shared.events import types
from shared.events.contracts import Event
from shared.logging import get_logger

log = get_logger(__name__)


def on_otp_result(ports: handlers.Ports, event: Event) -> None:
    data = event.data
    common = {
        "event_id": event.id,
        "booth_id": data["booth_id"],
        "appointment_id": data["appointment_id"],
        "request_id": data["request_id"],
    }
    if event.type == types.OTP_VERIFIED:
        changed = handlers.otp_verified(ports, **common)
    elif event.type == types.OTP_FAILED:
        changed = handlers.otp_failed(ports, reason=data["reason"], **common)
    else:
        return
    if not changed:
        # Another appointment service's code, a superseded request, or a duplicate: nothing to do.
        log.debug(
            "otp result changed nothing",
            fields={"type": event.type, "appointment_id": data["appointment_id"]},
        )
