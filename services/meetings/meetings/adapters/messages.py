"""Invitations and reminders handed to the notifier's lanes (shared/notifier_messages.py): no
sending code of our own; the messages it refuses as unsendable are counted as the meetings'."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter

from shared import notifier_messages

REFUSED = Counter(
    "sangathan_meetings_messages_refused", "Invitations the notifier refused as unsendable"
)


class NotifierMessages(notifier_messages.NotifierMessages):
    def __init__(self, url: str, token_path: Path, timeout_s: float):
        super().__init__(url, token_path, timeout_s, refused=REFUSED)
