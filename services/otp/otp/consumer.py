"""Kafka entrypoint: otp-requested events become SendCode commands, in a background thread of
the HTTP service."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from otp import handlers
from otp.commands import SendCode
from shared.events import types
from shared.events.contracts import Event
from shared.kafka.consumer import EventConsumer
from shared.logging import get_logger

log = get_logger(__name__)

GROUP_ID = "otp"
RESTART_PAUSE_S = 5.0


def to_command(event: Event) -> SendCode | None:
    if event.type != types.OTP_REQUESTED:
        return None  # a type this service does not act on
    data = event.data
    return SendCode(
        request_id=data["request_id"], appointment_id=data["appointment_id"], booth_id=data["booth_id"],
        phone=data["phone"], channel=data["channel"], locale=data["locale"],
        requested_at=datetime.fromisoformat(data["requested_at"]).timestamp(),
    )


def event_handler(ports: handlers.Ports) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        command = to_command(event)
        if command is not None:
            handlers.send_code(command, ports)
    return handle


class ConsumerThread:
    """Runs an EventConsumer until stopped. If the consumer fails (a fatal client error, the
    dead-letter topic unwritable) it is closed and a fresh one rejoins the group from the last
    committed offset, so a hiccup never silently stops codes going out."""

    def __init__(self, make_consumer: Callable[[], EventConsumer], restart_pause_s: float = RESTART_PAUSE_S):
        self._make, self._pause_s = make_consumer, restart_pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otp-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            consumer = None
            try:
                consumer = self._make()
                consumer.run(self._stop)
            except Exception as exc:
                log.error("otp consumer failed; restarting",
                          fields={"error_class": type(exc).__name__, "error": str(exc)[:300]})
                self._stop.wait(self._pause_s)
            finally:
                if consumer is not None:
                    try:
                        consumer.close()
                    except Exception as exc:
                        log.warning("otp consumer did not close cleanly", fields={"error_class": type(exc).__name__})
