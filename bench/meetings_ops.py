"""How many MongoDB operations the meetings dialler spends per call, and a webhook per event.

    .venv/bin/python bench/meetings_ops.py [--invitees 600] [--mongo mongodb://127.0.0.1:27017]

Runs meetings.live's dialler and webhook handler in this process on the real store (a scratch
database, dropped after) with a stand-in provider and publisher, and counts every command pymongo
sends (a pymongo CommandListener) by command and collection: per dialled call, and per webhook of
each kind (ringing, answered, joined, left; then a ringing and a joined again under new ids, which
tell nothing new). One webhook at a time, so no group commit gathers two (for that see
bench/meetings_webhooks.py). No timing: the counts are what FerretDB is asked.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from pymongo import MongoClient, monitoring  # noqa: E402
from pymongo.database import Database  # noqa: E402

from meetings.adapters.live import MongoLive  # noqa: E402
from meetings.conference import Pacing, ProviderEvent  # noqa: E402
from meetings.live import LivePorts, dial_due, provider_event, start_meeting  # noqa: E402
from shared.crypto.fields import FieldCipher  # noqa: E402
from shared.orgtree.levels import booth_path  # noqa: E402


class Commands(monitoring.CommandListener):
    def __init__(self):
        self.seen: Counter = Counter()
        self.micros: Counter = Counter()
        self._keys: dict[int, str] = {}

    def started(self, event):
        name = event.command_name
        if name in ("endSessions", "hello", "isMaster", "ismaster"):
            return
        collection = event.command.get(name)
        key = f"{name} {collection}" if isinstance(collection, str) else name
        self.seen[key] += 1
        self._keys[event.request_id] = key

    def succeeded(self, event):
        key = self._keys.pop(event.request_id, None)
        if key:
            self.micros[key] += event.duration_micros

    def failed(self, event):
        pass

    def take(self) -> Counter:
        seen, self.seen = self.seen, Counter()
        return seen

    def took(self) -> Counter:
        """Milliseconds per command since the last call (FerretDB's answer time, one at a time)."""
        micros, self.micros = self.micros, Counter()
        return micros


class Meeting:
    kind, room, pin, organiser_unit = "audio_bridge", None, "123456", "IN-MP-D07"
    scope = ("IN-MP-D07",)
    starts_at = datetime.now(timezone.utc) + timedelta(hours=1)  # the clock below: on time

    def __init__(self, meeting_id):
        self.meeting_id = meeting_id


class Provider:
    def __init__(self):
        self.calls = []

    def create_bridge(self, bridge_ref, **_):
        return {"bridge_id": f"b-{bridge_ref}"}

    def dial_out(self, bridge_id, call_ref, to, participant_ref, **_):
        call_id = f"c-{uuid.uuid4().hex[:12]}"
        self.calls.append((call_id, bridge_id, participant_ref))
        return call_id


class Events:
    def emit(self, *_, **__):
        pass

    def flush(self, timeout=10.0):
        pass


@contextmanager
def scratch_database(url: str, prefix: str, listener: Commands, **options) -> Iterator[Database]:
    """A database of its own on the real server, every command counted by `listener`; dropped
    after, also on failure (the ops benches share it)."""
    client = MongoClient(url, event_listeners=[listener], **options)
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invitees", type=int, default=600)
    parser.add_argument("--cap", type=int, default=250)
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017")
    args = parser.parse_args(argv)
    commands = Commands()
    with scratch_database(args.mongo, "ops", commands) as db:
        run(db, commands, args)


def run(db, commands: Commands, args) -> None:
    cipher = FieldCipher({"0": secrets.token_bytes(32)}, "0")
    meeting_id = str(uuid.uuid4())
    db["meetings_meetings"].insert_one({"_id": meeting_id, "state": "scheduled"})
    docs = []
    for n in range(args.invitees):
        booth = f"IN-MP-D07-A01-M{1 + n // 300:02d}-S01-B{n % 300 + 1:03d}"
        docs.append(
            {
                "_id": f"{meeting_id}/p{n}",
                "meeting_id": meeting_id,
                "participant_id": f"p{n}",
                "booth_id": booth,
                "booth_path": booth_path(booth),
                "part": "listener",
                "phone": cipher.seal(f"+9198{n:08d}", "phone"),
            }
        )
    db["meetings_invitees"].insert_many(docs)
    provider = Provider()
    ports = LivePorts(
        provider=provider,
        live=MongoLive(db, "meetings_", cipher),
        meetings=type("M", (), {"get": lambda self, i: Meeting(i)})(),
        events=Events(),
        caller_hash=lambda phone: f"h{phone[-6:]}",
        callback_url="http://127.0.0.1:1/hook",
        cap=args.cap,
        pacing=Pacing(1e6, 0),
        clock=lambda: datetime.now(timezone.utc) + timedelta(hours=1),  # every call is due
        sleep=lambda s: None,
    )
    commands.take(), commands.took()
    start_meeting(meeting_id, ports)
    show(f"start ({args.invitees} invitees):", "start", commands, 1)
    while dial_due(ports):
        pass
    dialled = len(provider.calls)
    show(f"dial-out: {dialled} calls,", "call", commands, dialled)
    at = datetime.now(timezone.utc)
    told = ("call.ringing", "call.answered", "participant.joined", "participant.left")
    # Then what tells nothing new under a new id: a repeat the provider sent again, a ringing
    # of a phone that rang already (a redial's), a `joined` after the leg's `left`.
    again = ("call.ringing", "participant.joined")
    for kind, title in [(k, k) for k in told] + [(k, f"{k} again") for k in again]:
        for call in provider.calls:
            provider_event(meeting_id, webhook(kind, call, at), ports)
        show(f"webhook {title}:", "webhook", commands, len(provider.calls))
    flush = getattr(ports.live, "flush_published", None)  # absent before events were deferred
    if flush is not None:  # what the webhooks left for the pod's half-second flush
        flush()
        show("published events removed later:", "participant", commands, len(provider.calls))


def webhook(kind: str, call: tuple, at: datetime) -> ProviderEvent:
    """The provider's webhook of `kind` about one dialled call (call_id, bridge_id, ref)."""
    call_id, bridge_id, ref = call
    return ProviderEvent(
        event_id=uuid.uuid4().hex,
        type=kind,
        bridge_id=bridge_id,
        occurred_at=at,
        call_id=call_id,
        participant_ref=ref,
        seconds=60 if kind == "participant.left" else None,
    )


def show(title: str, per: str, commands: Commands, n: int) -> None:
    seen, took = commands.take(), commands.took()
    n = max(n, 1)
    ms = sum(took.values()) / 1000 / n
    print(f"{title} {sum(seen.values()) / n:.2f} ops/{per}, {ms:.1f} ms/{per} in the store")
    for key, count in sorted(seen.items()):
        print(f"  {key:40} {count / n:6.2f}  {took[key] / 1000 / n:6.2f} ms")


if __name__ == "__main__":
    main()
