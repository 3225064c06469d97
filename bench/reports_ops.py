"""What one booth's answer costs the reports service and its store, without HTTP or a full bench.

    .venv/bin/python bench/reports_ops.py [--answers 2000] [--threads 64] [--via link|api|http]
        [--store-pid <FerretDB's pid>] [--mongo mongodb://127.0.0.1:27017]

Runs the reports service's real answer path in this process on the real store (a scratch
database, dropped after, holding Himachal's generated tree): `--threads`
concurrent callers answer one round, one booth each, through the answer link's handler
(`--via link`: the link's holder check, the body read as an app sends it, SubmitReport) or the
command alone (`--via api`), or the organiser's `POST /v1/dispatches/{id}/submissions` through
the service's ASGI app in this process (`--via http`: middleware, bearer check, body and
response models, the thread hop; uvicorn and the socket aside), every 20th answer sent twice
as a retrying client does; then the
outbox relay publishes until nothing is left (a stand-in publisher that builds and validates each
event as the real one does, without Kafka). Every command pymongo sends is
counted (a pymongo CommandListener) by command and collection, per answer, with its time in the
store; and the CPU this process spent per answer (the service's own share, HTTP aside), and
FerretDB's if its pid is given. Figures on a shared machine are for before/after comparisons.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("SANGATHAN_ENV", "test")

from meetings_ops import Commands, scratch_database  # noqa: E402  (beside this file)

from reports import answer_links, commands, handlers, page  # noqa: E402
from reports.bootstrap import bootstrap, load_builtin_forms  # noqa: E402
from reports.settings import BUILTIN_FORMS, ReportsSettings  # noqa: E402
from shared.events import types  # noqa: E402
from shared.events.contracts import new_event  # noqa: E402
from shared.orgtree.generator import generate_state  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from tests.unit.test_reports_handlers import dispatch as plan  # noqa: E402

STATE = "IN-HP"
DAILY_FORM = "2b1f0c7e-4d3a-4f5b-9c8e-1a0d2e3f4b5c"  # reports/forms/daily_feedback.yaml
ANSWERS = {"mood": "good", "meeting_held": True, "attendees": 12, "raised_issue": False}


class Publisher:
    """Kafka's stand-in: each event built and validated as EventPublisher.emit does, then kept."""

    def __init__(self):
        self.events: list = []

    def emit(self, event_type, data, *, event_id=None, time=None):
        event = new_event(event_type, data, "/sangathan/reports", event_id=event_id, time=time)
        self.events.append(event)
        return event

    def flush(self, timeout=10.0):
        pass

    def close(self, timeout=10.0):
        pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--via", choices=("link", "api", "http"), default="link")
    parser.add_argument("--store-pid", type=int, default=None, help="FerretDB's, for its CPU")
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017")
    args = parser.parse_args(argv)
    listened = Commands()
    with scratch_database(args.mongo, "ops", listened) as db:
        run(db, listened, args)


def run(db, listened: Commands, args) -> None:
    registry = OrgRegistry(db)
    registry.load(generate_state("HP"))
    settings = ReportsSettings(MONGO_URL=args.mongo)
    adapters = bootstrap(settings, db=db, registry=registry, topic_for=lambda _: "unused")
    adapters.relay.publisher = publisher = Publisher()
    ports = adapters.ports
    load_builtin_forms(ports, BUILTIN_FORMS)
    round_ = handlers.handle(plan(DAILY_FORM, scope=(STATE,)), ports)[1][0]
    adapters.relay.relay_once()  # the forms' own events
    booths = list(registry.booth_ids_under(STATE))
    booths = (booths * (args.answers // len(booths) + 1))[: args.answers]
    if len(set(booths)) < len(booths):
        sys.exit(f"{STATE} has {len(set(booths))} booths: ask for at most that many answers")
    answer = answerer(adapters, round_, args.via)
    ids = {b: str(uuid.uuid4()) for b in booths}

    listened.take(), listened.took()
    n = len(booths)
    title = f"{n} first answers via {args.via}, {args.threads} threads, with the relay"
    with measured(title, args, n) as shown, relaying(adapters.relay):
        statuses = answer([(b, ids[b]) for b in booths], args.threads)
        shown(listened, "answer")
    assert statuses.count(201) == n, {s: statuses.count(s) for s in set(statuses)}

    again = booths[::20]
    with measured(f"{len(again)} answers sent again", args, len(again)) as shown:
        statuses = answer([(b, ids[b]) for b in again], args.threads)
        shown(listened, "retry")
    assert set(statuses) == {200}, statuses

    with measured("the relay, for what was left", args, n) as shown:
        while adapters.relay.relay_once():
            pass
        shown(listened, "answer")
    published = sorted(
        e.data["submission_id"] for e in publisher.events if e.type == types.REPORT_SUBMITTED
    )
    twice = len(published) - len(set(published))
    missing = len(set(ids.values()) - set(published))
    assert not twice and not missing, f"published twice: {twice}, never: {missing}"


def answerer(adapters, round_, via: str):
    """A function ([(booth, submission id)], callers) -> their HTTP statuses, as the answers
    arrive by `via` from that many concurrent callers."""
    if via == "http":
        return asgi_answerer(adapters, round_)
    one = answerer_of_one(adapters, round_, via)

    def answer(pairs: list[tuple[str, str]], callers: int) -> list[int]:
        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(lambda pair: one(*pair), pairs))

    return answer


def answerer_of_one(adapters, round_, via: str):
    """A function (booth, submission id) -> HTTP status, as the answer arrives by `via`."""
    ports = adapters.ports
    if via == "api":

        def by_command(booth: str, submission_id: str) -> int:
            command = commands.SubmitReport(
                round_.dispatch_id, booth, submission_id, ANSWERS, "user-hp"
            )
            return 201 if handlers.handle(command, ports)[1] else 200

        return by_command
    expires = datetime.now(timezone.utc) + timedelta(days=1)

    def by_link(booth: str, submission_id: str) -> int:
        appointee = str(uuid.uuid5(uuid.NAMESPACE_URL, booth))
        claim = answer_links.AnswerClaim(round_.dispatch_id, appointee, booth, expires)
        token = answer_links.mint(adapters.links.key, claim)
        read = answer_links.read(adapters.links.key, token, datetime.now(timezone.utc))
        body = json.dumps({"submission_id": submission_id, "answers": ANSWERS}).encode()
        done = page._answer(ports, adapters.holders, read, "hi", body, as_json=True)
        return done.status_code

    return by_link


def asgi_answerer(adapters, round_):
    """Answers through the service's ASGI app on an event loop, `callers` requests at a time, each
    as uvicorn hands it over (the app's lifespan not run: the bench runs the relay)."""
    from anyio import to_thread

    from reports.api import create_reports_app
    from shared.auth.issuer import organiser_token

    app = create_reports_app(adapters)
    token = organiser_token(sub="user-hp", unit=STATE)
    path = f"/v1/dispatches/{round_.dispatch_id}/submissions"

    async def request(booth: str, submission_id: str) -> int:
        body = json.dumps({"submission_id": submission_id, "booth_id": booth, "answers": ANSWERS})
        headers = [
            (b"host", b"reports"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8008),
            "state": {},
        }
        sent = [{"type": "http.request", "body": body.encode(), "more_body": False}]
        status = []

        async def receive():
            return sent.pop() if sent else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def answer_all(pairs: list[tuple[str, str]], callers: int) -> list[int]:
        # As the app's start does: handlers wait for their group commit, holding a thread.
        to_thread.current_default_thread_limiter().total_tokens = adapters.settings.handler_threads
        queue = iter(enumerate(pairs))
        statuses = [0] * len(pairs)

        async def caller() -> None:
            for n, pair in queue:
                statuses[n] = await request(*pair)

        await asyncio.gather(*(caller() for _ in range(callers)))
        return statuses

    return lambda pairs, callers: asyncio.run(answer_all(pairs, callers))


def show(title: str, per: str, listened: Commands, n: int) -> None:
    """Commands per `per` by command and collection, and their time in the store (waits
    included), and how many were sent in all."""
    seen, took = listened.take(), listened.took()
    ms = sum(took.values()) / 1000 / n
    print(f"{title} {sum(seen.values()) / n:.3f} commands/{per}, {ms:.1f} ms/{per} in the store")
    for key, count in sorted(seen.items()):
        print(f"  {key:40} {count / n:7.3f}  {took[key] / 1000 / n:6.2f} ms  ({count} sent)")


@contextmanager
def relaying(relay):
    """The relay's loop as the service runs it, until the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if not relay.relay_once():
                stop.wait(relay.interval_s)

    thread = threading.Thread(target=loop, name="relay", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class measured:
    """Prints what a step cost: commands and store time (show), this process's CPU and the
    store's, per unit of work."""

    def __init__(self, title: str, args, per: int):
        self.title, self.args, self.per = title, args, max(per, 1)

    def __enter__(self):
        self.cpu, self.wall = time.process_time(), time.monotonic()
        self.store = _cpu_s(self.args.store_pid)

        def shown(listened: Commands, unit: str) -> None:
            self.unit = unit
            show(f"{self.title}:", unit, listened, self.per)

        return shown

    def __exit__(self, *exc):
        if exc[0] is not None:
            return False
        cpu = (time.process_time() - self.cpu) / self.per * 1e6
        wall = time.monotonic() - self.wall
        line = f"  -> {cpu:,.0f} us CPU of this process per {self.unit}"
        if self.args.store_pid:
            store = (_cpu_s(self.args.store_pid) - self.store) / self.per * 1e6
            line += f", {store:,.0f} us of the store's"
        print(f"{line}; {wall:.2f} s wall")
        return False


def _cpu_s(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
