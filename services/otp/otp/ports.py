"""What the OTP handlers need from the world, as Protocols: the code store, the delivery channel
and the results' events. `bootstrap` wires the real adapters (Redis, the notifier, Kafka); the
handlers' fast tests wire in-memory fakes (tests/fakes/otp.py) that pass the same contract tests
(tests/integration/test_otp_ports_contract.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from otp.domain import Attempt, CodeRecord, Refusal


@dataclass(frozen=True)
class Failure:
    """A request that ended without a code sent, as the otp-failed event reports it."""

    reason: str  # rejected | undeliverable
    at: float
    refusal: str = ""  # why it was rejected (metric label), "" otherwise


@dataclass(frozen=True)
class Sent:
    """What `record_send` did: issued the code, refused it, or found the request handled before."""

    issued: bool
    failure: Failure | None = None
    duplicate: bool = False


class CodeStore(Protocol):
    """Codes, their outcomes, the phones' send history and the callers' counts. Every step that
    reads and writes is atomic against other processes of the service."""

    def record_send(
        self,
        *,
        record: CodeRecord,
        phone_key: str,
        now: float,
        refuse: Callable[[list[float]], Refusal | None],
    ) -> Sent:
        """Issue `record` unless its request was handled before or `refuse` (given the phone's
        recent send times) says no. A new code replaces the appointment's previous one."""

    def mark_undeliverable(self, request_id: str, now: float) -> Failure:
        """The code could not be handed to a channel: forget it and remember why."""

    def load(self, request_id: str) -> CodeRecord | None: ...

    def count_calls_and_load(
        self, callers: list[str], request_id: str, now: float, window_s: int = 60
    ) -> tuple[list[int], float, CodeRecord | None]:
        """One call counted for each caller in the current fixed window, and the record loaded:
        (calls so far by each, seconds left in the window, the record)."""

    def attempt(
        self,
        request_id: str,
        decide: Callable[[CodeRecord | None], Attempt],
        seen: CodeRecord | None | object = ...,
    ) -> Attempt:
        """Decide one try on the stored record and store the result, as one atomic step; `seen`
        is the record just read, if it was (decided again if it changed meanwhile)."""

    def put_back(self, attempt: Attempt) -> bool:
        """Undo a try whose event could not be published, if nothing changed the record since."""


class DeliveryUnavailable(Exception):
    """The channel could not take the message just now (timed out, unreachable, overloaded):
    another try may succeed. Any other exception from `deliver` is a refusal."""


class DeliveryChannel(Protocol):
    def deliver(
        self,
        *,
        request_id: str,
        appointment_id: str,
        booth_id: str,
        phone: str,
        channel: str,
        locale: str,
        text: str,
    ) -> None:
        """Hand the message over for sending; DeliveryUnavailable if the channel cannot take it
        now, any other exception if it will not."""


class EventsUnavailable(Exception):
    """Kafka did not confirm the event in time; nothing may be decided on it."""


class ResultEvents(Protocol):
    """otp-verified and otp-failed, each returned from only once the broker has it
    (EventsUnavailable otherwise)."""

    def verified(
        self, *, request_id: str, appointment_id: str, booth_id: str, at: float
    ) -> None: ...

    def failed(
        self, *, request_id: str, appointment_id: str, booth_id: str, reason: str, at: float
    ) -> None: ...

    def close(self) -> None: ...
