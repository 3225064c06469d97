"""The follow-ups job: reminders to the booths of a round that have not answered, then escalations
up the hierarchy (reports.followups says when and to whom), all handed to the notifier
(shared/notifier_messages.py): no sending code here.

A round's follow-ups are leased to one process at a time, as its fan-out is (the same lease on
the round document, `followup_lease`), so the service's replicas never follow the same round up
together; a crashed holder's lease runs out and another goes on. Each step is recorded on the
round once the notifier has queued it, and every message id is derived from the round and its
recipient, so a step repeated after a crash queues nothing twice. A step that fails (recipients
or the notifier away) is tried again at the next pass.

Silent booths are found a page of the registry's booths at a time (1,000), each page's answers
read by their `_id`s in one query; recipients are streamed from the appointments service per
scope unit, never held whole. No phone reaches a log: only counts and ids.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from prometheus_client import Counter
from pymongo.database import Database

from reports import followups
from reports.adapters.mongo import _round, lease, report_id, report_of
from reports.domain import Round
from reports.followup_settings import FollowUpSettings
from reports.followups import Done, Escalation
from reports.ports import FormStore, Units
from shared.logging import get_logger
from shared.notifier_messages import MessagesUnavailable, NotifierMessages
from shared.recipients import RecipientSource, RecipientsUnavailable

log = get_logger(__name__)

REMINDERS = Counter(
    "sangathan_reports_reminders_sent", "Reminders to silent booths' recipients the notifier queued"
)
ESCALATIONS = Counter(
    "sangathan_reports_escalations_sent",
    "Escalations about silent booths the notifier queued, by the level told",
    ["level"],
)
REFUSED = Counter(
    "sangathan_reports_messages_refused", "Reminders the notifier refused as unsendable"
)
LEASE_S = 120.0  # well above one step (a district's recipients and its notifier calls)
BATCH = 1000


class FollowUpRecords:
    """The rounds' follow-up state and lease, and which booths have answered."""

    def __init__(self, db: Database):
        self.rounds, self.reports = db.report_rounds, db.report_booth_reports

    def unfinished(self, limit: int = 100) -> list[tuple[Round, Done]]:
        """Fanned-out rounds whose follow-ups are not finished (a few a day)."""
        match = {"fanout.done": True, "followups.finished": {"$ne": True}}
        with self.rounds.find(match).limit(limit) as cursor:
            docs = list(cursor)
        return [(_round(d), Done(**d.get("followups", {}))) for d in docs]

    def done_of(self, dispatch_id: str) -> Done:
        doc = self.rounds.find_one({"_id": dispatch_id}, {"followups": 1})
        return Done(**(doc or {}).get("followups", {}))

    def claim(self, dispatch_id: str, owner: str, now: float, lease_s: float) -> bool:
        match = {"_id": dispatch_id, "followups.finished": {"$ne": True}}
        return lease(self.rounds, match, "followup_lease", owner, now, lease_s)

    def record(self, dispatch_id: str, owner: str, done: Done) -> bool:
        """Store what was done; False if another process took the round over meanwhile."""
        saved = self.rounds.update_one(
            {"_id": dispatch_id, "followup_lease.owner": owner},
            {"$set": {"followups": done.__dict__}},
        )
        return saved.matched_count == 1

    def answered(self, dispatch_id: str, booth_ids: list[str]) -> set[str]:
        """Those of the booths whose answer counts (pending review or accepted)."""
        ids = [report_id(dispatch_id, booth) for booth in booth_ids]
        found = self.reports.find({"_id": {"$in": ids}}, {"submissions.status": 1})
        with found as cursor:
            return {
                report_of(doc["_id"])[1]
                for doc in cursor
                if followups.has_answered(s["status"] for s in doc["submissions"])
            }


class FollowUps:
    def __init__(
        self,
        records: FollowUpRecords,
        forms: FormStore,
        units: Units,
        recipients: RecipientSource,
        notifier: NotifierMessages,
        rules: Escalation,
        *,
        channel: str = "whatsapp",
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.records, self.forms, self.units = records, forms, units
        self.recipients, self.notifier, self.rules = recipients, notifier, rules
        self.channel, self.clock = channel, clock
        self.owner = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def once(self) -> bool:
        """Take every step whose time has come; False (the job then waits its interval)."""
        now = self.clock()
        for round_, done in self.records.unfinished():
            steps = followups.due_steps(round_, done, self.rules, now)
            if steps and self.records.claim(round_.dispatch_id, self.owner, time.time(), LEASE_S):
                self._follow_up(round_, done, steps)
        return False

    def _follow_up(self, round_: Round, done: Done, steps: list[tuple[str, bool]]) -> None:
        for step, live in steps:
            try:
                sent = self._take(round_, step) if live else 0
            except (RecipientsUnavailable, MessagesUnavailable) as exc:
                log.warning(
                    "follow-up not sent, tried again later",
                    fields={"dispatch_id": round_.dispatch_id, "step": step, "error": str(exc)},
                )
                return
            done = followups.record(done, step, self.rules)
            if not self.records.record(round_.dispatch_id, self.owner, done):
                log.warning("follow-up lease lost", fields={"dispatch_id": round_.dispatch_id})
                return
            log.info(
                "report followed up",
                fields={
                    "dispatch_id": round_.dispatch_id,
                    "step": step,
                    "sent": sent,
                    "skipped": not live,
                },
            )

    def _take(self, round_: Round, step: str) -> int:
        title = self._title(round_)
        if step == followups.REMIND:
            return self.remind(round_, title)
        return self.escalate(round_, title, step)

    def remind(self, round_: Round, title: dict[str, str]) -> int:
        """A reminder to each recipient of the round's audience in a silent booth; how many."""
        queued = 0
        for unit in round_.scope:
            batch = []
            for recipient in self.recipients.stream(unit, round_.audience):
                batch.append(recipient)
                if len(batch) >= BATCH:
                    queued += self._remind_batch(round_, title, batch)
                    batch = []
            queued += self._remind_batch(round_, title, batch)
        return queued

    def _remind_batch(self, round_: Round, title: dict[str, str], batch: list) -> int:
        if not batch:
            return 0
        answered = self.records.answered(round_.dispatch_id, sorted({r.booth_id for r in batch}))
        messages = [
            followups.reminder(round_, title, r, self.channel)
            for r in batch
            if r.booth_id not in answered
        ]
        queued, _ = self.notifier.send(messages) if messages else (0, 0)
        REMINDERS.inc(queued)
        return queued

    def escalate(self, round_: Round, title: dict[str, str], level: str) -> int:
        """Tell each unit of `level` with silent booths how many and which; how many units."""
        silent = followups.silent_by_unit(level, self.silent_booths(round_))
        items = followups.escalations(round_, title, level, silent)
        queued, _ = self.notifier.escalate(items) if items else (0, 0)
        ESCALATIONS.labels(level).inc(queued)
        return queued

    def silent_booths(self, round_: Round) -> Iterator[str]:
        for unit in round_.scope:
            page = 0
            while booths := self.units.booth_page(unit, page):
                answered = self.records.answered(round_.dispatch_id, booths)
                yield from (b for b in booths if b not in answered)
                page += 1

    def _title(self, round_: Round) -> dict[str, str]:
        form = self.forms.get(round_.form_id)
        version = form.version(round_.form_version) if form else None
        return version.title if version else {"hi": round_.form_id, "en": round_.form_id}


def follow_ups(
    settings: FollowUpSettings,
    forms: FormStore,
    units: Units,
    db: Database,
    recipients: RecipientSource,
) -> FollowUps:
    """The job as the service runs it: recipients from appointments and the notifier's lanes,
    both called with this service's own token."""
    return FollowUps(
        FollowUpRecords(db),
        forms,
        units,
        recipients,
        NotifierMessages(
            settings.notifier_url,
            settings.token_file,
            settings.notifier_timeout_s,
            refused=REFUSED,
        ),
        settings.escalation(),
        channel=settings.reminder_channel,
    )
