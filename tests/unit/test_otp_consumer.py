"""The OTP consumer's entrypoint: events become commands, and the background runner survives a
failing consumer and stops promptly."""

import copy
import threading

from otp.commands import SendCode
from otp.consumer import to_command
from shared.background import consuming
from shared.events import types
from shared.events.contracts import load_schema, new_event


def test_an_otp_requested_event_becomes_a_send_code_command():
    data = copy.deepcopy(load_schema(types.OTP_REQUESTED)["examples"][0])
    command = to_command(new_event(types.OTP_REQUESTED, data, "/sangathan/appointments"))
    assert command == SendCode(
        request_id=data["request_id"],
        appointment_id=data["appointment_id"],
        booth_id=data["booth_id"],
        phone=data["phone"],
        channel="sms",
        locale="hi",
        requested_at=1730522701.0,  # 2024-11-02T10:15:01+05:30
    )


def test_other_event_types_are_not_commands():
    data = load_schema(types.OTP_VERIFIED)["examples"][0]
    assert to_command(new_event(types.OTP_VERIFIED, data, "/sangathan/otp")) is None


class FailingOnce:
    """A consumer whose first incarnation dies; later ones run until stopped."""

    def __init__(self, number: int):
        self.number = number
        self.closed = False
        self.running = threading.Event()

    def run(self, stop):
        if self.number == 1:
            raise RuntimeError("fatal client error")
        self.running.set()
        stop.wait()

    def close(self):
        self.closed = True


def test_a_failed_consumer_is_closed_and_replaced_and_stop_ends_the_thread():
    made: list[FailingOnce] = []

    def make():
        made.append(FailingOnce(len(made) + 1))
        return made[-1]

    runner = consuming("otp-consumer", make, restart_pause_s=0.01)
    runner.start()
    deadline = threading.Event()
    for _ in range(200):
        if len(made) == 2 and made[1].running.is_set():
            break
        deadline.wait(0.01)
    assert len(made) == 2 and made[0].closed and made[1].running.is_set()
    runner.stop(timeout_s=2)
    assert not runner.alive and made[1].closed
