"""Benchmark of the notifier: a national directive to every booth's president, then a state's
full booth teams (make bench).

    .venv/bin/python bench/notifier_bench.py [--send-stride 80] [--team-state RJ] [--skip-fanout]

Two runs, each with processes of its own (a notifier in its own topic namespace, Redis prefix and
scratch database holding the national and state units; the recipients stand-in generating the
national tree's booth presidents; the provider simulator), on the platform's Kafka and Redis:

1. Fan-out at full scale: a directive to all 10,48,202 booths' presidents (scope IN, split into
   one chunk per state), with the notifier's lanes off, timed until every delivery task is on
   Kafka; then, as the baseline, a raw confluent-kafka produce of as many messages of the same
   size to a topic of the same partitions. Twice: first through the real recipients path (an
   appointments service of its own over `bench_national`, the national tree with one verified
   president per booth, seeded once by bench/national_seed.py), then with the stand-in, which
   shows the fan-out's own cost.
2. Full teams on a state: the same directive to all twelve members of every booth team of one
   state (default Rajasthan, 52,773 booths: 633,276 tasks), timed until every task is on Kafka,
   with its own raw-produce baseline.
3. Sending, scaled down: the same national directive to every `--send-stride`-th booth's
   president (default 17: 61,659 messages), 80 WhatsApp numbers at 80/s each (a ceiling of
   6,400/s), sends sharing requests to the simulator's batch endpoint (--provider-batch), one
   notifier process sending. The rate is the simulator's accepted count over the time between the
   first and the last accepted message (fan-out runs alongside), bounded by --send-timeout.
   Baselines in the same run, against the same simulator with the notifier's own HTTP client:
   raw POSTs of the same WhatsApp payload, one per request and then in batches.

Peak memory (VmHWM) of each process is read from /proc at the end of each run.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
import national_seed  # noqa: E402  (beside this file)
from benchkit import (  # noqa: E402  (beside this file)
    raw_produce,
    recipients_stand_in,
    sample_size,
    stop_and_drop,
    vm_hwm_mb,
    wait_ready,
)
from pymongo import MongoClient  # noqa: E402

from shared.auth.issuer import organiser_token  # noqa: E402
from shared.orgtree.generator import NATIONAL_BOOTHS, generate_national  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from testkit.processes import Process, free_port, start_service, wait_until  # noqa: E402
from testkit.recipients import SEATS  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
NUMBERS = ",".join(f"+9111410{i:05d}" for i in range(80))


class Run:
    """One notifier with its stand-ins; everything it made is removed by `close`."""

    def __init__(
        self,
        name: str,
        *,
        stride: int,
        lanes: str,
        tmp: Path,
        recipients_url: str | None = None,
        notifier_env: dict | None = None,
    ):
        self.settings = PlatformSettings()
        self.ns = f"bench-{uuid.uuid4().hex[:8]}"
        self.db_name = f"bench_notifier_{self.ns[6:]}"
        self.tmp = tmp
        load_national_and_states(MongoClient(self.settings.mongo_url)[self.db_name])
        notifier_port, simulator_port, recipients_port = free_port(), free_port(), free_port()
        secret = {"SANGATHAN_ENV": "test", "PROVIDER_WEBHOOK_SECRET": secrets.token_hex(32)}
        self.simulator = Process(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "simulator.api:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(simulator_port),
                "--no-access-log",
            ],
            {
                **secret,
                "SIMULATOR_CALLBACK_URL": f"http://127.0.0.1:{notifier_port}/v1/webhooks/provider",
                "SIMULATOR_TRANSIENT_FAILURE_SHARE": "0",
                "SIMULATOR_PERMANENT_FAILURE_SHARE": "0",
                "SIMULATOR_MESSAGES_KEPT": "1000",
            },
            tmp / f"{name}-simulator.log",
        )
        self.recipients = (
            None
            if recipients_url
            else recipients_stand_in(recipients_port, tmp / f"{name}-recipients.log", stride=stride)
        )
        self.notifier = Process(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "notifier.api:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(notifier_port),
                "--no-access-log",
            ],
            {
                **secret,
                "NOTIFIER_ACK_SECRET": secrets.token_hex(32),
                "MONGO_DB": self.db_name,
                "LOG_LEVEL": "WARNING",
                "NOTIFIER_TOPIC_NAMESPACE": f"{self.ns}.",
                "NOTIFIER_REDIS_PREFIX": f"{self.ns}:",
                "NOTIFIER_RECIPIENTS_URL": recipients_url or f"http://127.0.0.1:{recipients_port}",
                "PROVIDER_URL": f"http://127.0.0.1:{simulator_port}",
                "NOTIFIER_QUIET_HOURS": "off",
                "NOTIFIER_LANES": lanes,
                "NOTIFIER_WHATSAPP_NUMBERS": NUMBERS,
                "NOTIFIER_NORMAL_CONCURRENCY": "16",
                **(notifier_env or {}),
            },
            tmp / f"{name}-notifier.log",
        )
        self.processes = {"notifier": self.notifier, "simulator": self.simulator}
        if self.recipients:
            self.processes["recipients stand-in"] = self.recipients
        self.urls = {
            "notifier": f"http://127.0.0.1:{notifier_port}",
            "simulator": f"http://127.0.0.1:{simulator_port}",
        }
        try:
            for process, port in (
                (self.simulator, simulator_port),
                (self.recipients, recipients_port),
                (self.notifier, notifier_port),
            ):
                if process is None:
                    continue
                wait_ready([(process, port)])
        except BaseException:
            self.close()  # a run that never got ready leaves no process behind
            raise

    def issue(
        self, scope: str = "IN", audience: tuple[str, ...] = ("booth_president",)
    ) -> tuple[str, float]:
        headers = {"Authorization": f"Bearer {organiser_token(sub='user-hq', unit='IN')}"}
        body = {
            "title": {"en": "Mann Ki Baat on Sunday", "hi": "रविवार को मन की बात"},
            "body": {
                "en": "Gather booth residents to listen together at 11 am.",
                "hi": "सुबह 11 बजे बूथ के लोगों के साथ मिलकर सुनें।",
            },
            "scope": [scope],
            "audience": list(audience),
            "channels": ["whatsapp"],
            "priority": "normal",
            "expires_at": "2099-01-01T00:00:00+05:30",
        }
        started = time.monotonic()
        response = httpx.post(
            f"{self.urls['notifier']}/v1/directives", json=body, headers=headers, timeout=30
        )
        response.raise_for_status()
        self.headers = headers
        return response.json()["directive_id"], started

    def status(self, directive_id: str) -> dict:
        return httpx.get(
            f"{self.urls['notifier']}/v1/directives/{directive_id}/status",
            headers=self.headers,
            timeout=30,
        ).json()

    def accepted(self) -> int:
        return (
            httpx.get(f"{self.urls['simulator']}/v1/stats", timeout=30)
            .json()["stats"]
            .get("accepted", 0)
        )

    def peak_rss_mb(self) -> dict[str, float]:
        return {name: vm_hwm_mb(p.proc.pid) for name, p in self.processes.items()}

    def close(self) -> None:
        stop_and_drop(self.processes.values(), self.settings, self.ns, self.db_name)


def load_national_and_states(db) -> None:
    """Only the nation and its states: the fan-out splits a national scope into states."""
    OrgRegistry(db).load(u for u in generate_national() if u["level"] in ("national", "state"))


def fanout_run(
    tmp: Path,
    name: str = "fanout",
    scope: str = "IN",
    audience: tuple[str, ...] = ("booth_president",),
    recipients_url: str | None = None,
) -> dict:
    run = Run(name, stride=1, lanes="", tmp=tmp, recipients_url=recipients_url)
    try:
        directive_id, started = run.issue(scope, audience)
        seen: dict = {}

        def on_kafka() -> bool:
            seen.update(run.status(directive_id))
            return seen["state"] == "sent"

        wait_until(on_kafka, 600, run.notifier)
        seconds = time.monotonic() - started
        tasks = seen["total"]["targeted"]
        size = sample_task_size(run)
        raw = raw_produce(run.settings.kafka_bootstrap, tasks, size, run.ns)
        return {
            "tasks": tasks,
            "seconds": seconds,
            "raw_seconds": raw,
            "task_bytes": size,
            "rss": run.peak_rss_mb(),
        }
    finally:
        run.close()


def real_recipients_fanout(tmp: Path) -> dict:
    """The national fan-out reading appointments' /internal/recipients over the seeded national
    store."""
    db = national_seed.seed()
    service, base = start_service(
        "appointments",
        {
            "MONGO_DB": db.name,
            "APPOINTMENTS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
        },
        tmp,
    )
    try:
        result = fanout_run(tmp, "national-real", recipients_url=base)
        result["rss"]["appointments"] = vm_hwm_mb(service.proc.pid)
        return result
    finally:
        service.stop()


def sample_task_size(run: Run) -> int:
    topic = f"{run.ns}.sangathan.delivery-tasks-normal.v1"
    return sample_size(run.settings.kafka_bootstrap, topic, f"{run.ns}-sample")


def sending_run(tmp: Path, stride: int, *, provider_batch: int, timeout_s: float) -> dict:
    run = Run(
        "send",
        stride=stride,
        lanes="urgent,normal,bulk",
        tmp=tmp,
        notifier_env={"PROVIDER_BATCH": str(provider_batch), "NOTIFIER_LANE_BATCH": "2000"},
    )
    try:
        directive_id, started = run.issue()
        expected, samples = {"n": None}, []  # (seconds since issue, accepted)

        def all_accepted() -> bool:
            samples.append((time.monotonic() - started, run.accepted()))
            if expected["n"] is None:
                status = run.status(directive_id)
                if status["state"] == "sent":
                    expected["n"] = status["total"]["targeted"]
                return False
            return samples[-1][1] >= expected["n"]

        try:
            wait_until(all_accepted, timeout_s, run.notifier)
        except AssertionError:
            pass  # bounded: the rate is what was accepted in the time
        first = next((t for t, n in samples if n > 0), samples[-1][0])
        last, accepted = samples[-1]
        time.sleep(3)
        delivered = run.status(directive_id)["total"]
        rss = run.peak_rss_mb()
        raw_single = raw_send(run.urls["simulator"], 1, 8)
        raw_batched = raw_send(run.urls["simulator"], provider_batch, 8)
        return {
            "messages": accepted,
            "expected": expected["n"],
            "seconds": last - first,
            "total_seconds": last,
            "rss": rss,
            "counts": delivered,
            "raw_single": raw_single,
            "raw_batched": raw_batched,
        }
    finally:
        run.close()


def raw_send(simulator: str, batch: int, seconds: float) -> tuple[int, float]:
    """The notifier's HTTP client alone (16 kept-alive connections, as the lane has) posting the
    lanes' WhatsApp payload to the simulator for `seconds`: one message per request, or `batch`
    per request to its batch endpoint. 4,000 numbers, so no sender meets the simulator's rate
    limit."""
    from concurrent.futures import ThreadPoolExecutor

    from notifier.adapters.http import PooledHttp

    client = PooledHttp(simulator, threads=16, timeout_s=30, name="raw")
    body = {
        "to": "+919800000000",
        "type": "template",
        "template": {
            "name": "directive_v1",
            "language": "hi",
            "parameters": ["Mann Ki Baat on Sunday", "x" * 120, "http://127.0.0.1/a/" + "t" * 150],
        },
    }
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**9))

    def worker() -> int:
        sent = 0
        while time.monotonic() < stop_at:
            requests = [
                {
                    "path": f"/whatsapp/v1/+9111{next(counter) % 4000:08d}/messages",
                    "idempotency_key": uuid.uuid4().hex,
                    "body": body,
                }
                for _ in range(batch)
            ]
            if batch == 1:
                answer = client.post_now(
                    requests[0]["path"], body, {"Idempotency-Key": requests[0]["idempotency_key"]}
                )
                sent += answer.status == 200
            else:
                answer = client.post_now("/v1/batch", {"requests": requests}, {})
                sent += sum(r["status"] == 200 for r in answer.json()["responses"])
        return sent

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        sent = sum(pool.map(lambda _: worker(), range(16)))
    elapsed = time.monotonic() - started
    client.close()
    return sent, elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--send-stride", type=int, default=17, help="send to every n-th booth's president"
    )
    parser.add_argument(
        "--provider-batch",
        type=int,
        default=100,
        help="sends per request to the simulator (1: none)",
    )
    parser.add_argument(
        "--send-timeout", type=float, default=300, help="seconds the sending run may take"
    )
    parser.add_argument("--team-state", default="RJ", help="state code for the full-teams fan-out")
    parser.add_argument("--skip-fanout", action="store_true", help="only the sending run")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="notifier-bench-"))
    rows = []
    if not args.skip_fanout:
        real = real_recipients_fanout(tmp)
        rows += [
            (
                "national fan-out, appointments' real recipients path",
                f"{real['tasks']:,} tasks",
                real["seconds"],
                real["tasks"] / real["seconds"],
            ),
            (
                "  baseline: raw confluent-kafka produce",
                f"{real['tasks']:,} x {real['task_bytes']} B",
                real["raw_seconds"],
                real["tasks"] / real["raw_seconds"],
            ),
        ]
        fan = fanout_run(tmp)
        rows += [
            (
                "national fan-out: every task on Kafka",
                f"{fan['tasks']:,} tasks",
                fan["seconds"],
                fan["tasks"] / fan["seconds"],
            ),
            (
                "  baseline: raw confluent-kafka produce",
                f"{fan['tasks']:,} x {fan['task_bytes']} B",
                fan["raw_seconds"],
                fan["tasks"] / fan["raw_seconds"],
            ),
        ]
        teams = fanout_run(tmp, "teams", f"IN-{args.team_state}", tuple(dict.fromkeys(SEATS)))
        rows += [
            (
                f"IN-{args.team_state} full teams fan-out: every task on Kafka",
                f"{teams['tasks']:,} tasks",
                teams["seconds"],
                teams["tasks"] / teams["seconds"],
            ),
            (
                "  baseline: raw confluent-kafka produce",
                f"{teams['tasks']:,} x {teams['task_bytes']} B",
                teams["raw_seconds"],
                teams["tasks"] / teams["raw_seconds"],
            ),
        ]
    send = sending_run(
        tmp, args.send_stride, provider_batch=args.provider_batch, timeout_s=args.send_timeout
    )
    every = (
        "all"
        if send["messages"] >= (send["expected"] or 0)
        else f"{send['messages']:,} of {send['expected']}"
    )
    rows.append(
        (
            f"every {args.send_stride}th booth, 1 notifier process: accepted {every}",
            f"{send['messages']:,} messages",
            send["seconds"],
            send["messages"] / max(send["seconds"], 1e-9),
        )
    )
    for label, (sent, seconds) in (
        ("  baseline: raw HTTP, 1 message a request", send["raw_single"]),
        (f"  baseline: raw HTTP, {args.provider_batch} a batch request", send["raw_batched"]),
    ):
        rows.append((label, f"{sent:,} messages", seconds, sent / seconds))
    print(
        f"\nNotifier benchmark (booth presidents, national tree of {NATIONAL_BOOTHS:,} booths; "
        f"logs in {tmp})\n"
    )
    print(f"| {'measure':<52} | {'volume':>22} | {'seconds':>8} | {'per second':>10} |")
    print(f"|{'-' * 54}|{'-' * 24}|{'-' * 10}|{'-' * 12}|")
    for name, volume, seconds, rate in rows:
        print(f"| {name:<52} | {volume:>22} | {seconds:>8.1f} | {rate:>10,.0f} |")
    if not args.skip_fanout:
        print(
            "\nfan-out / raw produce: national presidents (real path) "
            f"{real['seconds'] / real['raw_seconds']:.1f}x, "
            f"(stand-in) {fan['seconds'] / fan['raw_seconds']:.1f}x the time, "
            f"state full teams {teams['seconds'] / teams['raw_seconds']:.1f}x"
        )
    print("\npeak memory (VmHWM, MB):")
    fanouts = (
        [("real-path run", real), ("fan-out run", fan), ("full-teams run", teams)]
        if not args.skip_fanout
        else []
    )
    for label, run in fanouts + [("sending run", send)]:
        print(f"  {label}: " + ", ".join(f"{name} {mb:,.0f}" for name, mb in run["rss"].items()))
    print(
        f"\nsending run: first to last accepted {send['seconds']:.1f} s, "
        f"issue to last {send['total_seconds']:.1f} s; "
        f"counts {send['counts']}"
    )


if __name__ == "__main__":
    main()
