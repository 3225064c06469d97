"""The notifier's ports in memory: directives (the MongoDB store), the delivery ledger and the
status tally (Redis), and recording stand-ins for Kafka's events and lanes. Each keeps the real
adapter's rules by using the same domain values (a `Move`'s states, `count_changes`), and one
lock makes each step atomic, as a single-document update or a Lua script does. Nothing expires
here: the real adapters' TTLs are tested on them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from notifier.adapters.events import EventsUnavailable
from notifier.adapters.ledger import delivered_context
from notifier.adapters.tally import COUNTED
from notifier.commands import IssueDirective
from notifier.domain.directives import (
    AWAIT_ROUND,
    CANCELLABLE,
    CLAIM_ROUND,
    ROUND_DONE,
    ROUND_MISSED,
    ROUND_SENDING,
    SCHEDULED,
    SENDING,
    SENT,
    Directive,
    DuplicateDirective,
    Move,
    Round,
)
from notifier.domain.receipts import NONE, RANK, count_changes, reached
from notifier.domain.tasks import DIRECTIVE, OTP, Task, delivery_id
from shared.crypto.fields import VersionedIndex
from shared.events import types
from shared.kafka.producer import DeliveryError
from shared.orgtree.levels import ancestor_ids, booth_path, is_within
from shared.recipients import Recipient

_DIRECTIVE_FIELDS = {field.name for field in fields(Directive)}


class InMemoryDirectives:
    """DirectiveRepository's contract: a move is made only from one of its `before` states; a
    second insert of an id is a DuplicateDirective. Fields a move sets that a Directive does not
    hold (`cancelled_by`, `due_at`) are kept in `extra`, as the document would keep them."""

    def __init__(self):
        self.stored: dict[str, Directive] = {}
        self.extra: dict[str, dict[str, Any]] = defaultdict(dict)
        self.audit_log: list[dict[str, Any]] = []
        self.optouts: dict[str, dict[str, Any]] = {}
        self.leases: dict[tuple[str, str], tuple[str, float | None]] = {}  # a round's owner, until
        self._lock = threading.Lock()

    def insert(self, directive: Directive) -> None:
        with self._lock:
            if directive.directive_id in self.stored:
                raise DuplicateDirective(directive.directive_id)
            self.stored[directive.directive_id] = directive

    def get(self, directive_id: str) -> Directive | None:
        return self.stored.get(directive_id)

    def move(self, directive_id: str, move: Move, **changes: Any) -> Directive | None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is None or directive.state not in move.before:
                return None
            return self._change(directive_id, state=move.after, **changes)

    def mark_published(self, directive_id: str) -> None:
        with self._lock:
            if directive_id in self.stored:
                self._change(directive_id, published=True)

    def unpublished(self, limit: int = 100) -> list[Directive]:
        return [d for d in self.stored.values() if not d.published][:limit]

    def recurring(self, limit: int = 500) -> list[Directive]:
        return [d for d in self.stored.values() if d.recurring and d.state in CANCELLABLE][:limit]

    def next_round(self, directive_id: str, next_slot: datetime) -> None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is not None and directive.state in AWAIT_ROUND.before:
                self._change(
                    directive_id, state=AWAIT_ROUND.after, next_round_at=next_slot, due_at=next_slot
                )

    # --- rounds: a claim is taken by one owner, may be resumed by it or taken over once its
    # lease ran out; a done or missed round is never claimed again

    def claim_round(
        self,
        directive_id: str,
        round_id: str,
        slot: datetime,
        *,
        owner: str,
        now: float,
        lease_s: float,
    ) -> Directive | None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is None or directive.state not in CLAIM_ROUND.before:
                return None
            held = directive.rounds.get(round_id)
            holder, until = self.leases.get((directive_id, round_id), (None, None))
            resumable = holder == owner or (until is not None and until < now)
            if held is not None and not (held.state == ROUND_SENDING and resumable):
                return None
            self.leases[(directive_id, round_id)] = (owner, now + lease_s)
            claimed = Round(round_id, ROUND_SENDING, slot=slot, started_at=_now())
            return self._change(
                directive_id,
                state=CLAIM_ROUND.after,
                rounds={**directive.rounds, round_id: claimed},
            )

    def finish_round(
        self,
        directive_id: str,
        round_id: str,
        *,
        owner: str,
        targeted: int,
        next_slot: datetime | None,
    ) -> Directive | None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is None or directive.state != SENDING:
                return None
            if not self._holds(directive, round_id, owner):
                return None
            self.leases[(directive_id, round_id)] = (owner, None)
            done = replace(
                directive.rounds[round_id], state=ROUND_DONE, finished_at=_now(), targeted=targeted
            )
            after = (
                dict(state=SCHEDULED, due_at=next_slot, next_round_at=next_slot)
                if next_slot
                else dict(state=SENT, fanned_out_at=_now(), next_round_at=None)
            )
            return self._change(directive_id, rounds={**directive.rounds, round_id: done}, **after)

    def renew_round(self, directive_id: str, round_id: str, *, owner: str, until: float) -> None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is not None and self._holds(directive, round_id, owner):
                self.leases[(directive_id, round_id)] = (owner, until)

    def miss_round(self, directive_id: str, round_id: str, slot: datetime) -> None:
        with self._lock:
            directive = self.stored.get(directive_id)
            if directive is not None and round_id not in directive.rounds:
                missed = Round(round_id, ROUND_MISSED, slot=slot, finished_at=_now())
                self._change(directive_id, rounds={**directive.rounds, round_id: missed})

    def _holds(self, directive: Directive, round_id: str, owner: str) -> bool:
        held = directive.rounds.get(round_id)
        holder, _ = self.leases.get((directive.directive_id, round_id), (None, None))
        return held is not None and held.state == ROUND_SENDING and holder == owner

    # --- follow-ups

    def sent_since(self, states: tuple[str, ...] = (SENT,), limit: int = 200) -> list[Directive]:
        now = datetime.now(timezone.utc)
        return [d for d in self.stored.values() if d.state in states and d.expires_at > now][:limit]

    def record_reminders(self, directive_id: str, reminders: int) -> None:
        with self._lock:
            done = self.stored[directive_id].follow_ups
            self._change(
                directive_id, follow_ups=replace(done, reminded_at=_now(), reminders=reminders)
            )

    def record_escalations(self, directive_id: str, escalations: dict[str, int]) -> None:
        with self._lock:
            done = self.stored[directive_id].follow_ups
            self._change(
                directive_id,
                follow_ups=replace(done, escalated_at=_now(), escalations=dict(escalations)),
            )

    def audit(self, action: str, *, actor: str, subject: str, **details: Any) -> None:
        self.audit_log.append(
            {"action": action, "actor": actor, "subject": subject, "at": _now(), **details}
        )

    def audit_entries(self, subject: str) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self.audit_log if entry["subject"] == subject]

    def record_optout(self, phone_key: str, *, via: str, channel: str) -> None:
        self.optouts.setdefault(phone_key, {"at": _now(), "via": via, "channel": channel})

    def optout_keys(self) -> list[str]:
        return list(self.optouts)

    def _change(self, directive_id: str, **changes: Any) -> Directive:
        held = {name: value for name, value in changes.items() if name in _DIRECTIVE_FIELDS}
        self.extra[directive_id].update({n: v for n, v in changes.items() if n not in held})
        self.stored[directive_id] = replace(self.stored[directive_id], **held)
        return self.stored[directive_id]


class InMemoryLedger:
    """DeliveryLedger's contract: a delivery is claimed by one owner and never sent twice once
    settled; a fan-out job scheduled again keeps its first due time; an acknowledgement is marked
    once; an opt-out is recorded under the keyring's current key and found under any of its keys."""

    def __init__(self, optouts: VersionedIndex, phone_key: bytes = b"k" * 32):
        self.optouts, self._phone_key = optouts, phone_key
        self.done: dict[str, str] = {}  # delivery id -> "sent:<provider id>" | "failed:<code>"
        self.leases: dict[str, str] = {}  # delivery id -> owner
        self.contexts: dict[str, dict] = {}  # provider id -> what it delivered
        self.fallback_tasks: dict[str, bytes] = {}  # provider id -> the next channel's task
        self.early: dict[str, list[dict]] = defaultdict(list)
        self.acked: dict[tuple[str, str], str] = {}
        self.cancelled_ids: set[str] = set()
        self.erased_ids: set[str] = set()
        self.opted: set[str] = set()
        self.deferred: dict[bytes, float] = {}  # task JSON -> when it may go
        self.jobs: dict[str, float] = {}  # fan-out job -> when it is due
        self.chunks: dict[str, dict[str, int]] = {}  # fan-out job -> chunk done -> targeted
        self.first_rounds: dict[str, str] = {}  # directive -> the round its totals count
        self.queued: set[tuple[str, str]] = set()  # (kind, message id) of services' messages
        self._lock = threading.Lock()

    def phone_hash(self, phone: str) -> str:
        digest = hmac.new(self._phone_key, f"phone\x00{phone}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def claim(self, delivery_ids: Sequence[str], owner: str) -> list[int]:
        with self._lock:
            return [self._claim(delivery_id, owner) for delivery_id in delivery_ids]

    def _claim(self, delivery_id: str, owner: str) -> int:
        if delivery_id in self.done:
            return 0
        if delivery_id in self.leases:
            return -1
        self.leases[delivery_id] = owner
        return 1

    def settle(
        self,
        *,
        sent: Iterable[tuple[Task, str]] = (),
        failed: Iterable[tuple[Task, str]] = (),
        released: Iterable[Task] = (),
    ) -> None:
        with self._lock:
            for task, provider_id in sent:
                self.done[task.delivery_id] = f"sent:{provider_id}"
                self.contexts[provider_id] = json.loads(json.dumps(delivered_context(task)))
                self.leases.pop(task.delivery_id, None)
                if (following := task.fallback()) is not None:
                    self.fallback_tasks[provider_id] = following.to_json()
            for task, code in failed:
                self.done[task.delivery_id] = f"failed:{code}"
                self.leases.pop(task.delivery_id, None)
            for task in released:
                self.leases.pop(task.delivery_id, None)

    def delivered_by(self, provider_ids: Sequence[str]) -> list[dict | None]:
        return [self.contexts.get(provider_id) for provider_id in provider_ids]

    def park_early(self, receipts: Sequence[dict]) -> None:
        with self._lock:
            for receipt in receipts:
                self.early[receipt["message_id"]].append(dict(receipt))

    def take_early(self, provider_ids: Sequence[str]) -> list[dict]:
        with self._lock:
            return [
                receipt
                for provider_id in provider_ids
                for receipt in self.early.pop(provider_id, [])
            ]

    def queued_before(self, kind: str, message_ids: Sequence[str]) -> list[bool]:
        return [(kind, message_id) in self.queued for message_id in message_ids]

    def mark_queued(self, kind: str, message_ids: Sequence[str]) -> None:
        with self._lock:
            self.queued.update((kind, message_id) for message_id in message_ids)

    def fallbacks(self, provider_ids: Sequence[str]) -> list[tuple[str, bytes]]:
        return [
            (provider_id, self.fallback_tasks[provider_id])
            for provider_id in provider_ids
            if provider_id in self.fallback_tasks
        ]

    def forget_fallbacks(self, provider_ids: Sequence[str]) -> None:
        for provider_id in provider_ids:
            self.fallback_tasks.pop(provider_id, None)

    def mark_acknowledged(self, directive_id: str, recipient_id: str, via: str) -> bool:
        with self._lock:
            if (directive_id, recipient_id) in self.acked:
                return False
            self.acked[(directive_id, recipient_id)] = via
            return True

    def unmark_acknowledged(self, directive_id: str, recipient_id: str) -> None:
        self.acked.pop((directive_id, recipient_id), None)

    def cancel(self, directive_id: str) -> None:
        self.cancelled_ids.add(directive_id)

    def cancelled(self, directive_ids: Iterable[str]) -> set[str]:
        return set(directive_ids) & self.cancelled_ids

    def forget_recipients(self, recipient_ids: set[str]) -> int:
        with self._lock:
            self.erased_ids |= set(recipient_ids)
            theirs = lambda raw: Task.from_json(raw).recipient_id in recipient_ids  # noqa: E731
            deferred = [member for member in self.deferred if theirs(member)]
            fallbacks = [key for key, raw in self.fallback_tasks.items() if theirs(raw)]
            for member in deferred:
                del self.deferred[member]
            for key in fallbacks:
                del self.fallback_tasks[key]
            return len(deferred) + len(fallbacks)

    def erased(self, recipient_ids: Iterable[str]) -> set[str]:
        return set(recipient_ids) & self.erased_ids

    def opt_out(self, phone: str) -> str:
        recorded = self.optouts.current(phone)
        self.opted.add(recorded)
        return recorded

    def opted_out(self, phones: Sequence[str]) -> list[bool]:
        return [any(key in self.opted for key in self.optouts.every(phone)) for phone in phones]

    def defer(self, tasks: Sequence[tuple[Task, float]]) -> None:
        for task, at in tasks:
            self.deferred[task.to_json()] = at

    def take_due_tasks(self, now: float, limit: int = 1000, lease_s: float = 60) -> list[bytes]:
        with self._lock:
            due = sorted((at, member) for member, at in self.deferred.items() if at <= now)[:limit]
            for _, member in due:
                self.deferred[member] = now + lease_s  # back by itself should the taker die
            return [member for _, member in due]

    def forget_tasks(self, members: Sequence[bytes]) -> None:
        for member in members:
            self.deferred.pop(member, None)

    def schedule_fanout(self, job: str, due: float) -> None:
        self.jobs.setdefault(job, due)  # a redelivery never postpones

    def take_due_fanout(self, now: float, lease_s: float) -> str | None:
        with self._lock:
            due = sorted((at, job) for job, at in self.jobs.items() if at <= now)
            if not due:
                return None
            job = due[0][1]
            self.jobs[job] = now + lease_s
            return job

    def reschedule_fanout(self, job: str, due: float) -> None:
        self.jobs[job] = due

    def renew_fanout(self, job: str, until: float) -> None:
        if job in self.jobs:  # a finished job stays finished
            self.jobs[job] = until

    def finish_fanout(self, job: str) -> None:
        with self._lock:
            self.jobs.pop(job, None)
            self.chunks.pop(job, None)

    def chunks_done(self, job: str) -> set[str]:
        return set(self.chunks.get(job, {}))

    def chunk_done(
        self, job: str, chunk: str, targeted: int, *, counted: Callable[[Any], None]
    ) -> None:
        with self._lock:  # the counts and the resume point together, as one transaction
            counted(None)
            self.chunks.setdefault(job, {})[chunk] = targeted

    def targeted(self, job: str) -> int:
        return sum(self.chunks.get(job, {}).values())

    def first_round(self, directive_id: str, round_id: str) -> bool:
        with self._lock:
            return self.first_rounds.setdefault(directive_id, round_id) == round_id


class InMemoryTally:
    """StatusTally's contract: a recipient's state only moves forward (notifier.domain.receipts),
    an acknowledgement counts once, however events are repeated or reordered."""

    def __init__(self):
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)  # directive -> scope|status
        self.states: dict[tuple[str, str], str] = {}  # (directive, recipient) -> furthest state
        self.acks: set[tuple[str, str]] = set()
        self.booths: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._lock = threading.Lock()

    def count(self, events: list[tuple]) -> None:
        with self._lock:
            for event_type, _, data, _ in events:
                if event_type == types.DELIVERY_STATUS and data["directive_id"]:
                    self._status(data)
                elif event_type == types.DIRECTIVE_ACKNOWLEDGED:
                    self._acknowledged(data)

    def _status(self, data: dict) -> None:
        directive_id, recipient = data["directive_id"], data["recipient_id"]
        before = self.states.get((directive_id, recipient), NONE)
        after = data["status"] if RANK[data["status"]] > RANK[before] else before
        for status, change in count_changes(before, after).items():
            self._bump(directive_id, data["booth_path"], status, change)
        self.states[(directive_id, recipient)] = after
        if reached(after) and not reached(before):
            self.booths[directive_id]["reached"].add(data["booth_id"])

    def _acknowledged(self, data: dict) -> None:
        directive_id = data["directive_id"]
        if (directive_id, data["recipient_id"]) in self.acks:
            return
        self.acks.add((directive_id, data["recipient_id"]))
        self._bump(directive_id, data["booth_path"], "acknowledged", 1)
        self.booths[directive_id]["acked"].add(data["booth_id"])

    def _bump(self, directive_id: str, path: dict | None, status: str, change: int) -> None:
        for scope in ("all", (path or {}).get("state"), (path or {}).get("district")):
            if scope:
                self.counts[directive_id][f"{scope}|{status}"] += change

    def targeted(
        self, directive_id: str, counts: Counter, booths: set[str]
    ) -> Callable[[Any], None]:
        def write(_transaction: Any) -> None:
            for scope, n in counts.items():
                self.counts[directive_id][f"{scope}|targeted"] += n
            self.booths[directive_id]["booths"] |= booths

        return write

    def acked_booths(self, directive_id: str, booth_ids: list[str]) -> list[bool]:
        return [booth in self.booths[directive_id]["acked"] for booth in booth_ids]

    def booths_without(self, directive_id: str, which: str, limit: int) -> list[str]:
        booths = self.booths[directive_id]
        return sorted(booths["booths"] - booths[which])[:limit]

    def snapshot(self, directive_id: str) -> dict:
        """The real Tally's snapshot, without its change counter (`seq`)."""
        scopes: dict[str, dict[str, int]] = {}
        for key, n in self.counts[directive_id].items():
            scope, _, status = key.rpartition("|")
            scopes.setdefault(scope, dict.fromkeys(COUNTED, 0))[status] = n
        total = scopes.pop("all", dict.fromkeys(COUNTED, 0))
        booths = self.booths[directive_id]
        targeted, reached_, acked = (len(booths[name]) for name in ("booths", "reached", "acked"))
        return {
            "total": total,
            "states": {unit: n for unit, n in sorted(scopes.items()) if unit.count("-") == 1},
            "districts": {unit: n for unit, n in sorted(scopes.items()) if unit.count("-") == 2},
            "booths": {
                "targeted": targeted,
                "reached": reached_,
                "acknowledged": acked,
                "not_reached": targeted - reached_,
                "not_acknowledged": targeted - acked,
            },
        }


class KnownUnits:
    """UnitRegistry's answers for the units named, as the org registry holds them: any other id,
    however well formed, is unknown."""

    def __init__(self, unit_ids: Iterable[str]):
        self.units = {
            unit_id: {"id": unit_id, "parent": (ancestor_ids(unit_id) or [None])[-1]}
            for unit_id in unit_ids
        }

    def get(self, unit_id: str) -> dict[str, Any] | None:
        return self.units.get(unit_id)

    def children(self, unit_id: str) -> list[dict[str, Any]]:
        return [unit for unit in self.units.values() if unit["parent"] == unit_id]


class ListedRecipients:
    """RecipientSource over a list: the recipients of a unit's booths with one of the roles."""

    def __init__(self, recipients: Iterable[Recipient]):
        self.recipients = list(recipients)

    def stream(self, unit_id: str, roles: Sequence[str]) -> Iterator[Recipient]:
        return (
            recipient
            for recipient in self.recipients
            if is_within(recipient.booth_id, unit_id) and recipient.role in roles
        )


class RecordingEvents:
    """EventPublisher that keeps each event; while `down`, every publish is EventsUnavailable."""

    def __init__(self):
        self.published: list[tuple[str, str, dict, datetime]] = []
        self.down = False

    def publish(self, events: list[tuple[str, str, dict, datetime]]) -> None:
        if self.down:
            raise EventsUnavailable("kafka away")
        self.published.extend(events)

    def of_type(self, event_type: str) -> list[dict]:
        return [data for kind, _, data, _ in self.published if kind == event_type]

    def close(self) -> None:
        pass


class RecordingLanes:
    """TaskLanes that keeps what it is given, by lane; tasks count as taken only at `flush`. While
    `down`, `flush` loses what is pending and raises DeliveryError, as the confirmed producer
    does."""

    def __init__(self):
        self.pending: list[tuple[str, bytes]] = []
        self.flushed: list[tuple[str, bytes]] = []
        self.down = False

    def produce(self, task: Task) -> None:
        self.pending.append((task.lane, task.to_json()))

    def produce_raw(self, lane: str, key: bytes, value: bytes, ref: str) -> None:
        self.pending.append((lane, value))

    def flush(self, timeout: float = 30.0) -> None:
        if self.down:
            lost, self.pending = self.pending, []
            raise DeliveryError({str(n): "broker away" for n in range(len(lost))})
        self.flushed.extend(self.pending)
        self.pending.clear()

    def tasks(self, lane: str | None = None) -> list[Task]:
        return [Task.from_json(raw) for on, raw in self.flushed if lane in (None, on)]

    def close(self) -> None:
        pass


class Clock:
    """A clock a test sets: `Ports.clock`, the fan-out's and the follow-ups'."""

    def __init__(self, at: datetime):
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at.timestamp()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def issue_command(now: datetime, **changes: Any) -> IssueDirective:
    """A directive the rules accept, for tests to start from: Himachal's state organiser sends an
    urgent one to a district's booth presidents by WhatsApp and SMS, at once, for two days;
    `changes` set any field (a test says only what it is about)."""
    command = IssueDirective(
        directive_id=str(uuid.uuid4()),
        issued_by="user-hp",
        issuing_unit="IN-HP",
        title={"en": "Flood relief", "hi": "बाढ़ राहत"},
        body={"en": "Report at 6.", "hi": "6 बजे।"},
        scope=("IN-HP-D01",),
        audience=("booth_president",),
        channels=("whatsapp", "sms"),
        priority="urgent",
        send_at=None,
        expires_at=now + timedelta(days=2),
        override_reason=None,
    )
    return replace(command, **changes)


def directive_task(
    directive_id: str, recipient_id: str, *, phone: str, booth_id: str, expires_at: float, **changes
) -> Task:
    """One recipient's message of a directive, WhatsApp falling back to SMS, on the normal lane;
    `changes` set any other field."""
    task = Task(
        delivery_id=delivery_id(directive_id, recipient_id, "whatsapp", DIRECTIVE),
        send=DIRECTIVE,
        lane="normal",
        booth_id=booth_id,
        booth_path=booth_path(booth_id),
        recipient_id=recipient_id,
        phone=phone,
        locale="hi",
        channels=("whatsapp", "sms"),
        directive_id=directive_id,
        expires_at=expires_at,
    )
    return replace(task, **changes)


def otp_task(phone: str, booth_id: str, *, now: float) -> Task:
    """A new appointee's OTP code by SMS on the urgent lane, as the OTP service asks for it."""
    request_id, appointment_id = str(uuid.uuid4()), str(uuid.uuid4())
    return Task(
        delivery_id=delivery_id(request_id, appointment_id, "sms", OTP),
        send=OTP,
        lane="urgent",
        booth_id=booth_id,
        booth_path=booth_path(booth_id),
        recipient_id=appointment_id,
        phone=phone,
        locale="en",
        channels=("sms",),
        otp_request_id=request_id,
        text="123456 is your code",
        expires_at=now + 600,
        campaign=False,
    )
