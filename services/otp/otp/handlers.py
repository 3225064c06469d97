"""One function per command: send a code, verify a code. The rules are in `domain`; this module
orders the steps and decides what is published, logged and counted.

A delivery the channel cannot take just now (the notifier timed out, or its Kafka is away) is
tried again with backoff while the code lives; a refusal withdraws the code at once.

A decision that emits an event (verified, locked, expired) is kept only once Kafka confirmed
the event: if it does not, the try is put back and the caller told to try again, so a
verification is never lost between this service and the appointments service.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from otp import domain
from otp.commands import SendCode, VerifyCode
from otp.domain import Attempt, Outcome, Policy
from otp.metrics import CODES_SENT, DELIVERY_RETRIES, LOCKS, SENDS_REJECTED, VERIFICATIONS
from otp.ports import (
    CodeStore,
    DeliveryChannel,
    DeliveryUnavailable,
    EventsUnavailable,
    Failure,
    ResultEvents,
)
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class Ports:
    """Everything the handlers need; bootstrap wires the real ones."""

    policy: Policy
    key: bytes  # the HMAC key
    store: CodeStore
    delivery: DeliveryChannel
    events: ResultEvents
    clock: Callable[[], float]  # epoch seconds
    randbelow: Callable[[int], int]  # a CSPRNG's secrets.randbelow
    wait: Callable[[float], bool]  # sleeps up to n seconds; True if the service is stopping


class CodeRejected(Exception):
    """Wrong, unknown, replaced, expired, used or locked: deliberately not told apart."""


class Throttled(Exception):
    def __init__(self, retry_after_s: int):
        super().__init__(f"too many verifications; retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


class Unavailable(Exception):
    """The outcome could not be published; nothing was decided, the caller may try again."""


# --- sending -------------------------------------------------------------------------------------


def send_code(cmd: SendCode, ports: Ports) -> None:
    """Issue and deliver a code for an otp-requested event, at most once per request_id."""
    now, policy = ports.clock(), ports.policy
    code = domain.new_code(policy.code_digits, ports.randbelow)
    digest = domain.code_digest(
        ports.key, request_id=cmd.request_id, appointment_id=cmd.appointment_id, code=code
    )
    record = domain.issue(
        request_id=cmd.request_id,
        appointment_id=cmd.appointment_id,
        booth_id=cmd.booth_id,
        digest=digest,
        now=now,
        policy=policy,
    )
    sent = ports.store.record_send(
        record=record,
        phone_key=domain.phone_key(ports.key, cmd.phone),
        now=now,
        refuse=lambda sends: domain.refuse_send(
            phone=cmd.phone, requested_at=cmd.requested_at, sends=sends, now=now, policy=policy
        ),
    )
    failure = _deliver(cmd, code, record.expires_at, ports) if sent.issued else sent.failure
    if failure is None:
        return  # delivered now, or earlier if this is a redelivered event
    if not sent.duplicate:
        SENDS_REJECTED.labels(failure.refusal or failure.reason).inc()
        log.info("no code sent", fields={**_ids(cmd), "why": failure.refusal or failure.reason})
    # Also for a duplicate: the first attempt may have died before Kafka confirmed the event;
    # it carries the same id, so consumers drop a copy.
    ports.events.failed(
        request_id=cmd.request_id,
        appointment_id=cmd.appointment_id,
        booth_id=cmd.booth_id,
        reason=failure.reason,
        at=failure.at,
    )


def _deliver(cmd: SendCode, code: str, expires_at: float, ports: Ports) -> Failure | None:
    text = domain.message_text(code, cmd.locale, ports.policy.code_ttl_s)
    attempt = 1
    while True:
        try:
            ports.delivery.deliver(
                request_id=cmd.request_id,
                appointment_id=cmd.appointment_id,
                booth_id=cmd.booth_id,
                phone=cmd.phone,
                channel=cmd.channel,
                locale=cmd.locale,
                text=text,
            )
            break
        except DeliveryUnavailable as exc:
            delay = domain.delivery_retry_delay(
                attempt, now=ports.clock(), expires_at=expires_at, ttl_s=ports.policy.code_ttl_s
            )
            if delay is None or ports.wait(
                delay
            ):  # the code is nearly dead, or the service stopping
                return _undeliverable(cmd, ports, exc, attempt)
            DELIVERY_RETRIES.inc()
            log.info(
                "delivery unavailable; trying again",
                fields={
                    **_ids(cmd),
                    "error_class": type(exc).__name__,
                    "attempt": attempt,
                    "retry_in_s": delay,
                },
            )
            attempt += 1
        except (
            Exception
        ) as exc:  # the channel's refusal: the code is withdrawn, the request reported
            return _undeliverable(cmd, ports, exc, attempt)
    CODES_SENT.labels(cmd.channel).inc()
    log.info("code sent", fields={**_ids(cmd), "channel": cmd.channel})
    return None


def _undeliverable(cmd: SendCode, ports: Ports, exc: Exception, attempts: int) -> Failure:
    log.warning(
        "delivery failed",
        fields={**_ids(cmd), "error_class": type(exc).__name__, "attempts": attempts},
    )
    return ports.store.mark_undeliverable(cmd.request_id, ports.clock())


# --- verifying -----------------------------------------------------------------------------------


def verify_code(cmd: VerifyCode, ports: Ports) -> domain.CodeRecord:
    """The used code's record if `cmd.code` is right; CodeRejected, Throttled or Unavailable if
    not."""
    now = ports.clock()
    # The call is counted and the record read in one round trip; a throttled call writes nothing.
    # A service acting for an organiser names them, and each organiser has a budget of their own,
    # so one of them hammering codes cannot spend the whole service's.
    callers = [cmd.caller] + ([f"{cmd.caller}>{cmd.on_behalf_of}"] if cmd.on_behalf_of else [])
    calls, retry_after, record = ports.store.count_calls_and_load(callers, cmd.request_id, now)
    limits = [ports.policy.verify_limit_per_minute, ports.policy.verify_limit_per_user_per_minute]
    if any(domain.over_limit(n, limit) for n, limit in zip(calls, limits)):
        VERIFICATIONS.labels("throttled").inc()
        raise Throttled(max(1, math.ceil(retry_after)))
    # Hashed whether or not the request is known, so an unknown one costs what a known one does.
    digest = domain.code_digest(
        ports.key, request_id=cmd.request_id, appointment_id=cmd.appointment_id, code=cmd.code
    )
    attempt = ports.store.attempt(
        cmd.request_id,
        lambda record: domain.try_code(
            record, appointment_id=cmd.appointment_id, digest=digest, now=now
        ),
        seen=record,
    )
    try:
        _announce(attempt, ports.events, now)
    except EventsUnavailable:
        ports.store.put_back(attempt)
        VERIFICATIONS.labels("unavailable").inc()
        log.warning(
            "outcome not published; try put back",
            fields={**_ids(cmd), "outcome": attempt.outcome.value},
        )
        raise Unavailable() from None
    VERIFICATIONS.labels(attempt.outcome.value).inc()
    log.info(
        "verification", fields={**_ids(cmd), "outcome": attempt.outcome.value, "caller": cmd.caller}
    )
    if attempt.outcome is not Outcome.VERIFIED:
        raise CodeRejected()
    return attempt.after


def _announce(attempt: Attempt, events: ResultEvents, now: float) -> None:
    record = attempt.after
    if attempt.outcome is Outcome.VERIFIED:
        events.verified(
            request_id=record.request_id,
            appointment_id=record.appointment_id,
            booth_id=record.booth_id,
            at=now,
        )
    elif attempt.outcome in (Outcome.LOCKED, Outcome.EXPIRED):
        events.failed(
            request_id=record.request_id,
            appointment_id=record.appointment_id,
            booth_id=record.booth_id,
            reason=attempt.outcome.value,
            at=now,
        )
        if attempt.outcome is Outcome.LOCKED:
            LOCKS.inc()


def _ids(cmd: SendCode | VerifyCode) -> dict[str, str]:
    return {"request_id": cmd.request_id, "appointment_id": cmd.appointment_id}


HANDLERS = {SendCode: send_code, VerifyCode: verify_code}


def handle(cmd: SendCode | VerifyCode, ports: Ports):
    return HANDLERS[type(cmd)](cmd, ports)
