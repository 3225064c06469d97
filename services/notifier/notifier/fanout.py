"""Fan-out: a due directive becomes one delivery task per recipient, on its priority's lane.

The scope is expanded chunk by chunk (a national scope by state, a state by district, anything
smaller whole), each chunk read as one stream of recipients from the appointments service and
turned into tasks batch by batch: the audience never sits in memory, and there is no query per
booth. A chunk counts as done only after Kafka took all its tasks; its targeted counts and the
resume point are then written together, so a fan-out cut short resumes at its first unfinished
chunk, and a chunk begun twice produces tasks with the same delivery ids, which send once.

Jobs are queued by `notifier.handlers.directives.schedule_fanout` (and, for the rounds of a
recurring directive, `notifier.handlers.rounds`); the tasks are sent by `notifier.sending.Sender`,
which `notifier.lane_workers` feeds from each lane.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from prometheus_client import Counter as Metric

from notifier.adapters.tally import count_target
from notifier.domain.directives import (
    FINISH,
    ROUND_DONE,
    ROUND_MISSED,
    ROUND_SENDING,
    SCHEDULE,
    START,
    Directive,
    fanout_job,
    splits,
)
from notifier.domain.tasks import DIRECTIVE, Task, delivery_id, lane_for, subject_of
from notifier.handlers.ports import (
    FanOutLedger,
    RoundRepository,
    StatusTally,
    TaskLanes,
    UnitRegistry,
)
from notifier.handlers.rounds import queue_round, schedule_round
from shared.logging import get_logger
from shared.orgtree.levels import outermost
from shared.recipients import Recipient, RecipientSource, RecipientsUnavailable
from shared.sending import recurrence
from shared.sending.policy import SendingPolicy

log = get_logger(__name__)

ROUNDS = Metric(
    "sangathan_notifier_rounds", "Rounds of recurring directives, by outcome", ["outcome"]
)
TASKS_PRODUCED = Metric(
    "sangathan_notifier_tasks_produced", "Delivery tasks the fan-out put on a lane", ["lane"]
)
OPTED_OUT = Metric(
    "sangathan_notifier_recipients_opted_out",
    "Recipients left out of a fan-out because they opted out",
)

FLUSH_EVERY = 50_000  # tasks; bounds what the producer tracks in memory between confirmations
RETRY_S = 10.0


class FanOut:
    def __init__(
        self,
        *,
        store: RoundRepository,
        ledger: FanOutLedger,
        tally: StatusTally,
        recipients: RecipientSource,
        registry: UnitRegistry,
        producer: TaskLanes,
        policy: SendingPolicy,
        batch: int,
        lease_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.ledger, self.tally = store, ledger, tally
        self.recipients, self.registry, self.producer = recipients, registry, producer
        self.policy, self.batch, self.lease_s, self.clock = policy, batch, lease_s, clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    def run_due(self) -> bool:
        """Fan out one due directive or round, if any; True if there was one."""
        job = self.ledger.take_due_fanout(self.clock(), self.lease_s)
        if job is None:
            return False
        directive_id, _, round_id = job.partition("@")
        try:
            if round_id:
                self.run_round(directive_id, round_id)
            else:
                self.run(directive_id)
        except RecipientsUnavailable as exc:
            log.warning(
                "recipients unavailable; fan-out resumes later",
                fields={"directive_id": directive_id, "round": round_id, "error": str(exc)[:200]},
            )
            self.ledger.reschedule_fanout(job, self.clock() + RETRY_S)
        return True

    def run_round(self, directive_id: str, round_id: str) -> None:
        """One round of a recurring directive: claimed in MongoDB (so it is sent by one scheduler,
        once), fanned out like a directive with delivery ids of its own, then the next round
        queued."""
        job = fanout_job(directive_id, round_id)
        directive = self.store.get(directive_id)
        if directive is None or not directive.sendable(self.clock()):
            self.ledger.finish_fanout(job)
            return
        slot, now = recurrence.slot_of(round_id), datetime.fromtimestamp(self.clock(), timezone.utc)
        following = directive.next_round(after=slot)
        if round_id not in directive.rounds and following is not None and following <= now:
            self.store.miss_round(directive_id, round_id, slot)  # late: the next round goes instead
            ROUNDS.labels("missed").inc()
            log.warning(
                "round missed: the next slot came first",
                fields={"directive_id": directive_id, "round": round_id},
            )
            schedule_round(
                directive, directive.catch_up_round(slot, now) or following, self.ledger, self.store
            )
            self.ledger.finish_fanout(job)
            return
        opens = self._window(directive, at=slot.timestamp())
        if opens is not None and round_id not in directive.rounds:
            self.ledger.reschedule_fanout(job, opens)
            log.info(
                "round waits for its sending window",
                fields={"directive_id": directive_id, "round": round_id},
            )
            return
        claimed = self.store.claim_round(
            directive_id, round_id, slot, owner=self.owner, now=self.clock(), lease_s=self.lease_s
        )
        if claimed is None:
            self._not_claimed(directive_id, round_id, job, following)
            return
        targeted = self._fan_out(claimed, job, round_id)
        if targeted is None:
            return  # cancelled meanwhile
        if (
            self.store.finish_round(
                directive_id, round_id, owner=self.owner, targeted=targeted, next_slot=following
            )
            is not None
            and following is not None
        ):
            queue_round(directive_id, following, self.ledger)
        self.ledger.finish_fanout(job)
        ROUNDS.labels("sent").inc()
        log.info(
            "round done",
            fields={"directive_id": directive_id, "round": round_id, "targeted": targeted},
        )

    def _not_claimed(self, directive_id: str, round_id: str, job: str, following) -> None:
        """Done, missed or held: a done round makes sure the next is queued (a scheduler may have
        stopped between the two); a live claim elsewhere is left to its owner."""
        directive = self.store.get(directive_id)
        state = directive.round_state(round_id) if directive else None
        if state == ROUND_SENDING:
            ROUNDS.labels("held").inc()
            # another scheduler sends it; if it dies, its claim lapses and this job comes back
            return
        ROUNDS.labels("duplicate").inc()
        if state in (ROUND_DONE, ROUND_MISSED) and following is not None and not directive.closed:
            queue_round(directive_id, following, self.ledger)
        self.ledger.finish_fanout(job)

    def run(self, directive_id: str) -> None:
        directive = self.store.get(directive_id)
        if directive is None or not directive.sendable(self.clock()):
            self.ledger.finish_fanout(directive_id)  # another instance's, over, or too late
            return
        opens = self._window(directive)
        if opens is not None:
            self.ledger.reschedule_fanout(directive_id, opens)
            self.store.move(
                directive_id, SCHEDULE, due_at=datetime.fromtimestamp(opens, timezone.utc)
            )
            log.info(
                "directive waits for its sending window", fields={"directive_id": directive_id}
            )
            return
        if self.store.move(directive_id, START) is None:
            self.ledger.finish_fanout(directive_id)  # cancelled meanwhile
            return
        if self._fan_out(directive, directive_id, None) is None:
            return
        self.store.move(
            directive_id, FINISH, fanned_out_at=datetime.fromtimestamp(self.clock(), timezone.utc)
        )
        self.ledger.finish_fanout(directive_id)
        log.info("fan-out done", fields={"directive_id": directive_id})

    def _fan_out(self, directive: Directive, job: str, round_id: str | None) -> int | None:
        """Every chunk not yet done; the recipients targeted (None if the directive was
        cancelled)."""
        directive_id = directive.directive_id
        done = self.ledger.chunks_done(job)
        # The directive's totals count people once: its first round to run adds them, later
        # rounds count into their own total only.
        totals = round_id is None or self.ledger.first_round(directive_id, round_id)
        for chunk in self.chunks(directive.scope):
            if chunk in done:
                continue
            if self.ledger.cancelled([directive_id]):
                log.info(
                    "fan-out stopped: directive cancelled", fields={"directive_id": directive_id}
                )
                self.ledger.finish_fanout(job)
                return None
            self._chunk(directive, chunk, job, round_id, totals)
            self.ledger.renew_fanout(job, self.clock() + self.lease_s)
            if round_id:
                self.store.renew_round(
                    directive_id, round_id, owner=self.owner, until=self.clock() + self.lease_s
                )
        return self.ledger.targeted(job)

    def chunks(self, scope: tuple[str, ...] | list[str]) -> list[str]:
        chunks = []
        for unit in outermost(scope):
            children = (
                [child["id"] for child in self.registry.children(unit)] if splits(unit) else []
            )
            chunks.extend(children or [unit])
        return chunks

    def _window(self, directive: Directive, at: float | None = None) -> float | None:
        """When the directive as a whole may start (quiet hours); per-booth rules (the blackout)
        wait at send time."""
        send_ts = directive.send_at.timestamp() if directive.send_at else None
        now = datetime.fromtimestamp(max(self.clock(), at or send_ts or 0), timezone.utc)
        opens = self.policy.opens_at(
            now, campaign=True, booth_id="", quiet_hours=not directive.quiet_hours_lifted
        )
        return opens.timestamp() if opens else None

    def _chunk(
        self, directive: Directive, unit: str, job: str, round_id: str | None, totals: bool
    ) -> None:
        started = time.monotonic()
        counts: Counter[str] = Counter()
        booths: set[str] = set()
        batch: list[Recipient] = []
        unconfirmed = 0
        for recipient in self.recipients.stream(unit, directive.audience):
            batch.append(recipient)
            if len(batch) >= self.batch:
                unconfirmed += self._emit(directive, batch, counts, booths, round_id)
                batch = []
                if unconfirmed >= FLUSH_EVERY:
                    self.producer.flush()
                    unconfirmed = 0
        self._emit(directive, batch, counts, booths, round_id)
        self.producer.flush()  # raises unless Kafka took every task of the chunk
        self.ledger.chunk_done(
            job,
            unit,
            counts["all"],
            counted=self.tally.targeted(
                directive.directive_id, counts if totals else Counter(), booths
            ),
        )
        log.info(
            "fan-out chunk done",
            fields={
                "directive_id": directive.directive_id,
                "round": round_id,
                "unit": unit,
                "recipients": counts["all"],
                "booths": len(booths),
                "seconds": round(time.monotonic() - started, 2),
            },
        )

    def _emit(
        self,
        directive: Directive,
        batch: list[Recipient],
        counts: Counter,
        booths: set[str],
        round_id: str | None,
    ) -> int:
        if not batch:
            return 0
        opted_out = self.ledger.opted_out([recipient.phone for recipient in batch])
        lane, channels, now = lane_for(directive.priority), directive.channels, self.clock()
        directive_id, expires_at = directive.directive_id, directive.expires_at.timestamp()
        lifted = directive.quiet_hours_lifted
        produced = 0
        for recipient, out in zip(batch, opted_out):
            if out:
                OPTED_OUT.inc()
                continue
            self.producer.produce(
                Task(
                    delivery_id=delivery_id(
                        subject_of(directive_id, round_id),
                        recipient.appointment_id,
                        channels[0],
                        DIRECTIVE,
                    ),
                    send=DIRECTIVE,
                    lane=lane,
                    booth_id=recipient.booth_id,
                    booth_path=recipient.booth_path,
                    recipient_id=recipient.appointment_id,
                    phone=recipient.phone,
                    locale=recipient.locale,
                    channels=channels,
                    directive_id=directive_id,
                    expires_at=expires_at,
                    quiet_hours_override=lifted,
                    queued_at=now,
                    round=round_id,
                )
            )
            count_target(counts, recipient.booth_path)
            booths.add(recipient.booth_id)
            produced += 1
        TASKS_PRODUCED.labels(lane).inc(produced)
        return produced
