"""The OTP service's ports in memory: the code store, a delivery channel and the results' events."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable

from otp.domain import Attempt, CodeRecord, Refusal
from otp.ports import DeliveryUnavailable, EventsUnavailable, Failure, Sent

_UNREAD = object()


class InMemoryCodeStore:
    """The CodeStore contract without Redis: one lock makes each step atomic, as a Redis
    transaction or script does. Records never expire (the Redis store's TTLs are tested on it)."""

    def __init__(self, send_window_s: int = 600):
        self.send_window_s = send_window_s
        self.codes: dict[str, CodeRecord] = {}
        self.current: dict[str, str] = {}  # appointment id -> newest request id
        self.outcomes: dict[str, Failure | None] = {}  # None: issued
        self.sends: dict[str, dict[str, float]] = defaultdict(
            dict
        )  # phone key -> request id -> time
        self.calls: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def record_send(
        self,
        *,
        record: CodeRecord,
        phone_key: str,
        now: float,
        refuse: Callable[[list[float]], Refusal | None],
    ) -> Sent:
        rid = record.request_id
        with self._lock:
            if rid in self.outcomes:
                return Sent(issued=False, failure=self.outcomes[rid], duplicate=True)
            recent = {
                r: t for r, t in self.sends[phone_key].items() if t >= now - self.send_window_s
            }
            if (refusal := refuse(sorted(recent.values()))) is not None:
                self.outcomes[rid] = Failure("rejected", now, refusal.value)
                return Sent(issued=False, failure=self.outcomes[rid])
            self.outcomes[rid] = None
            previous = self.current.get(record.appointment_id)
            if previous is not None and previous != rid:
                self.codes.pop(previous, None)  # only the newest code is valid
            self.codes[rid], self.current[record.appointment_id] = record, rid
            self.sends[phone_key] = {**recent, rid: now}
            return Sent(issued=True)

    def mark_undeliverable(self, request_id: str, now: float) -> Failure:
        with self._lock:
            self.outcomes[request_id] = Failure("undeliverable", now)
            self.codes.pop(request_id, None)
            return self.outcomes[request_id]

    def load(self, request_id: str) -> CodeRecord | None:
        return self.codes.get(request_id)

    def count_calls_and_load(
        self, callers: list[str], request_id: str, now: float, window_s: int = 60
    ) -> tuple[list[int], float, CodeRecord | None]:
        window = int(now // window_s)
        with self._lock:
            for caller in callers:
                self.calls[(caller, window)] += 1
            return (
                [self.calls[(c, window)] for c in callers],
                (window + 1) * window_s - now,
                self.load(request_id),
            )

    def attempt(
        self,
        request_id: str,
        decide: Callable[[CodeRecord | None], Attempt],
        seen: CodeRecord | None | object = _UNREAD,
    ) -> Attempt:
        while True:
            record = self.load(request_id) if seen is _UNREAD else seen
            attempt = decide(record)
            with self._lock:
                if self.codes.get(request_id) == record:
                    if attempt.after is not None:
                        self.codes[request_id] = attempt.after
                    return attempt
            seen = _UNREAD  # changed since it was read: decide again on what is there now

    def put_back(self, attempt: Attempt) -> bool:
        rid = attempt.before.request_id
        with self._lock:
            if self.codes.get(rid) != attempt.after:
                return False
            self.codes[rid] = attempt.before
            return True


class RecordingChannel:
    """A DeliveryChannel that keeps what it is given; `unavailable` times it cannot take a message
    yet (DeliveryUnavailable), then `refuse` makes it refuse outright."""

    def __init__(self, unavailable: int = 0, refuse: bool = False):
        self.messages: list[dict[str, str]] = []
        self.unavailable, self.refuse = unavailable, refuse

    def deliver(self, **message: str) -> None:
        if self.unavailable > 0:
            self.unavailable -= 1
            raise DeliveryUnavailable("not now")
        if self.refuse:
            raise ValueError("refused")
        self.messages.append(message)


class RecordingEvents:
    """ResultEvents that keeps each event; while `down`, every publish is EventsUnavailable."""

    def __init__(self):
        self.published: list[tuple[str, dict]] = []
        self.down = False

    def verified(self, **data) -> None:
        self._publish("verified", data)

    def failed(self, **data) -> None:
        self._publish("failed", data)

    def close(self) -> None:
        pass

    def _publish(self, kind: str, data: dict) -> None:
        if self.down:
            raise EventsUnavailable("kafka away")
        self.published.append((kind, data))
