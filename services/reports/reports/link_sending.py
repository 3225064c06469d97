"""Answer links to each round's audience: every appointee of the audience roles in the round's
booths gets a WhatsApp (falling back to SMS) message with the form's title, the due time and a
link of their own (answer_links.py), through the notifier's lanes (POST /v1/messages).

Recipients come from the appointments service's stream (shared/recipients.py), scope unit by
scope unit, 1,000 a request to the notifier. Each message id is derived from the round and the
appointee, so a batch sent again (a crash, a lost lease, the notifier or appointments away) queues
nothing twice: the cursor moves per sending unit, and a unit cut short is sent again from its
start, its duplicates dropped by the notifier. A scope unit above a district is sent district by
district (`districts`), so a national round cut short repeats at most a district (a few thousand
messages), not the nation. A round is leased to one process at a time; a round whose
links would already have expired is finished without sending (nothing could be answered).
Phones pass through here to the notifier and are never stored nor logged.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Protocol

from prometheus_client import Counter

from reports import answer_links
from reports.adapters.link_rounds import LinkRounds
from reports.answer_links import AnswerClaim, AnswerLinks
from reports.domain import Round
from reports.ports import FormStore
from shared.logging import get_logger
from shared.notifier_messages import MessagesUnavailable
from shared.orgtree.levels import level_of
from shared.recipients import Recipient, RecipientSource, RecipientsUnavailable

log = get_logger(__name__)

SENT = Counter("sangathan_reports_answer_links_sent", "Answer links the notifier took")
LEASE_S = 120.0  # well above one batch: a recipients page and a notifier request


class Messages(Protocol):
    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        """Hand messages to the notifier: (queued, duplicates); MessagesUnavailable if not."""


class LinkSender:
    def __init__(
        self,
        rounds: LinkRounds,
        forms: FormStore,
        recipients: RecipientSource,
        messages: Messages,
        links: AnswerLinks,
        *,
        grace: timedelta,
        lane: str = "normal",
        channel: str = "whatsapp",
        batch: int = 1000,
        interval_s: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        districts: Callable[[str], list[str]] = lambda unit: [unit],
    ):
        self.rounds, self.forms, self.recipients = rounds, forms, recipients
        self.districts = districts
        self.messages, self.links, self.grace = messages, links, grace
        self.lane, self.channel, self.batch = lane, channel, batch
        self.interval_s, self.clock = interval_s, clock
        self.owner = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                worked = self.once()
            except (RecipientsUnavailable, MessagesUnavailable) as exc:
                # Tried again after a pause, from the unit's start (the lease is still ours).
                log.warning("answer links not sent yet", fields={"error": str(exc)[:200]})
                worked = False
            if not worked:
                stop.wait(self.interval_s)

    def once(self) -> bool:
        """Send (or go on sending) every round's links not all sent; whether there was any."""
        found = False
        for round_ in list(self.rounds.pending()):
            cursor = self.rounds.claim(round_.dispatch_id, self.owner, time.time(), LEASE_S)
            if cursor is not None:
                found = True
                self.send_round(round_, cursor)
        return found

    def send_round(self, round_: Round, cursor: dict) -> None:
        expires_at = round_.due_at + self.grace
        if self.clock() >= expires_at:
            self._advance(round_, {**cursor, "done": True})
            return
        title = self._title(round_)
        # The same list every time (ids in order), so the cursor's index means the same unit.
        units = [unit for scope in round_.scope for unit in self.districts(scope)]
        while cursor["unit"] < len(units):
            unit = units[cursor["unit"]]
            sent = cursor["sent"]
            found = self.recipients.stream(unit, round_.audience)
            while batch := list(islice(found, self.batch)):
                made = [self._message(round_, r, title, expires_at) for r in batch]
                queued, _ = self.messages.send(made)
                SENT.inc(queued)
                sent += len(batch)
                if not self._advance(round_, cursor):  # renews the lease
                    return
            cursor = {**cursor, "unit": cursor["unit"] + 1, "sent": sent}
            if not self._advance(round_, cursor):
                return
        self._advance(round_, {**cursor, "done": True})
        log.info(
            "answer links sent",
            fields={"dispatch_id": round_.dispatch_id, "recipients": cursor["sent"]},
        )

    def _advance(self, round_: Round, cursor: dict) -> bool:
        until = time.time() + LEASE_S
        if self.rounds.advance(round_.dispatch_id, cursor, self.owner, until):
            return True
        log.warning("answer links lease lost", fields={"dispatch_id": round_.dispatch_id})
        return False

    def _title(self, round_: Round) -> dict[str, str]:
        form = self.forms.get(round_.form_id)
        version = form.version(round_.form_version) if form else None
        return version.title if version else {"hi": "रिपोर्ट", "en": "Report"}

    def _message(
        self, round_: Round, recipient: Recipient, title: dict, expires_at: datetime
    ) -> dict:
        locale = answer_links.locale_of(recipient.locale)
        claim = AnswerClaim(
            round_.dispatch_id, recipient.appointment_id, recipient.booth_id, expires_at, locale
        )
        link = self.links.link(claim)
        return {
            "message_id": answer_links.message_id(round_.dispatch_id, recipient.appointment_id),
            "appointment_id": recipient.appointment_id,
            "booth_id": recipient.booth_id,
            "phone": recipient.phone,
            "channel": self.channel,
            "locale": locale,
            "text": answer_links.message_text(title, round_.due_at, locale, link),
            "lane": self.lane,
        }


ABOVE_DISTRICTS = ("national", "state")


def districts_of(children: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """A unit as the units its links are sent by: a district or below as itself, a state as its
    districts, the nation as every state's, in id order (`children`: a unit's child ids)."""

    def expand(unit: str) -> list[str]:
        if level_of(unit) not in ABOVE_DISTRICTS:
            return [unit]
        return [district for child in children(unit) for district in expand(child)] or [unit]

    return expand
