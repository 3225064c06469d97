"""Invitations and reminders handed to the notifier's lanes (shared/notifier_messages.py): a
batch the notifier does not take raises the meetings' MessagesUnavailable, so the job is tried
again from its chunk."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter

from meetings.ports import MessagesUnavailable
from shared import notifier_messages

REFUSED = Counter(
    "sangathan_meetings_messages_refused", "Invitations the notifier refused as unsendable"
)


class NotifierMessages(notifier_messages.NotifierMessages):
    def __init__(self, url: str, token_path: Path, timeout_s: float):
        super().__init__(
            url, token_path, timeout_s, refused=REFUSED, unavailable=MessagesUnavailable
        )
