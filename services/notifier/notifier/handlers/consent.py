"""Consent and erasure: an opt-out is honoured at once and kept; an erased appointee's waiting
tasks are dropped."""

from __future__ import annotations

from prometheus_client import Counter as Metric

from notifier.commands import ForgetAppointee
from notifier.handlers.ports import Ports
from shared.logging import get_logger
from shared.phones import to_e164

log = get_logger(__name__)

OPT_OUTS = Metric(
    "sangathan_notifier_opt_outs", "Recipients who opted out, by channel", ["channel"]
)


def opt_out(phone: str, channel: str, via: str, ports: Ports) -> None:
    """Honoured at once (the lanes check the set before every send) and recorded durably.

    Providers spell the sender their own way (`919876543210`, `whatsapp:+91...`): it is brought to
    E.164, the form recipients are sent to, or the opt-out would never match a send."""
    e164 = to_e164(phone)
    if e164 is None:
        log.warning(
            "opt-out from an unreadable number ignored", fields={"channel": channel, "via": via}
        )
        return
    ports.store.record_optout(ports.ledger.opt_out(e164), via=via, channel=channel)
    OPT_OUTS.labels(channel[:16]).inc()
    log.info("recipient opted out", fields={"channel": channel, "via": via})


def forget_erased(cmd: ForgetAppointee, ports: Ports) -> None:
    """person-erased: the appointee's tasks waiting here (which hold their phone) are dropped."""
    dropped = ports.ledger.forget_recipients({cmd.appointment_id})
    log.info(
        "erased appointee's waiting tasks dropped",
        fields={"erasure_id": cmd.erasure_id, "tasks": dropped},
    )
