"""Kafka entrypoint: an erased appointee's phones are dropped from their invitations."""

from meetings.commands import ForgetAppointee
from meetings.handlers import Ports, forget_erased
from shared.erasures import erasure_handler

GROUP = "meetings"
RESTART_PAUSE_S = 5.0


def erasures(ports: Ports):
    return erasure_handler(
        lambda appointment_id, erasure_id: forget_erased(
            ForgetAppointee(appointment_id, erasure_id), ports
        )
    )
