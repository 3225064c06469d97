"""Benchmark of OTP verification at a fixed rate, with the platform's Redis and Kafka running.

    .venv/bin/python bench/otp_bench.py [--rate 2000] [--seconds 20] [--wrong 0.1] [--procs 2]

Target (issue 10): p99 <= 20 ms at 2,000 verifications/s. It starts an OTP service of its own
(the command `make up` runs, so OTP_WORKERS applies) with its own Redis prefix, HMAC secret and
scratch results topic, a per-caller cap above the rate, and no otp-requests consumer, so the
running platform is untouched. Then:

1. setup (not timed): rate × seconds codes written to Redis as the service stores them, twice
   (one set for the service, one for the baseline); a `--wrong` share is tried with a wrong code;
2. POST /v1/verifications with the appointments service's token, open loop: request i is due
   at start + i/rate whether or not earlier ones have answered, and its latency counts from
   when it was due, so a service falling behind shows as latency, not as a slower client;
3. GET /healthz at the same rate: what uvicorn, FastAPI and this load generator cost alone;
4. the raw-Redis baseline in the same run: the very Redis calls the service makes per
   verification (its `RedisCodeStore`: the call count with the record, then the compare-and-set
   of the try), from threads, same rate, same open loop; no HTTP, no token, no Kafka.

The load comes from `--procs` processes, each an asyncio loop (uvloop) with one aiohttp
session of keep-alive connections; "late" is how far behind schedule the generator sent
(a large value means the generator, not the service, was the limit); "ok/s" counts expected
answers only; "cpu ms" is the service's CPU time (all its processes) per answered request, less
disturbed than latency by whatever else shares the machine (it still rises under contention:
compare rows of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "otp")]

import redis  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from otp import domain  # noqa: E402
from otp.adapters.store import RedisCodeStore  # noqa: E402
from shared.auth.issuer import service_token  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402

CALLER = "svc:appointments"  # the subject of the appointments service's token


@dataclass(frozen=True)
class Job:
    request_id: str
    appointment_id: str
    code: str  # what the caller presents
    right: bool


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds from due to answered
    late: list[float] = field(default_factory=list)  # seconds from due to sent
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # answers other than the expected one, or exceptions
    elapsed: float = 0.0


def issue(store: RedisCodeStore, key: bytes, n: int, wrong: float) -> list[Job]:
    """`n` live codes written as `record_send` writes them (one pipeline per 1,000)."""
    jobs, now, policy = [], time.time(), domain.Policy()
    with store.redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            rid, aid = str(uuid.uuid4()), str(uuid.uuid4())
            code = domain.new_code(6)
            digest = domain.code_digest(key, request_id=rid, appointment_id=aid, code=code)
            store._write(
                pipe,
                domain.issue(
                    request_id=rid,
                    appointment_id=aid,
                    booth_id="IN-BENCH",
                    digest=digest,
                    now=now,
                    policy=policy,
                ),
            )
            right = secrets.randbelow(1000) >= wrong * 1000
            jobs.append(Job(rid, aid, code if right else f"{(int(code) + 1) % 10**6:06d}", right))
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()
    return jobs


# --- the load generator (runs in --procs processes) ---------------------------------------------


def drive(
    kind: str, jobs: list[Job], rate: float, offset: int, stride: int, start: float, target: dict
) -> Result:
    import uvloop

    return uvloop.run(_drive(kind, jobs, rate, offset, stride, start, target))


async def _drive(kind, jobs, rate, offset, stride, start, target) -> Result:
    import aiohttp

    result = Result()
    loop = asyncio.get_running_loop()
    if kind == "redis":
        client = redis.Redis.from_url(target["redis_url"], max_connections=64)
        store = RedisCodeStore(client, prefix=target["prefix"], send_window_s=600)
        pool = ThreadPoolExecutor(48)
        session = None
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=target["connections"]),
            timeout=aiohttp.ClientTimeout(total=30),
        )
    headers = {"Authorization": f"Bearer {target['token']}"}

    async def one(job: Job, due: float) -> None:
        result.late.append(time.time() - due)
        try:
            if kind == "redis":
                status = await loop.run_in_executor(
                    pool, raw_redis_verify, store, target["key"], job
                )
            elif kind == "http":
                body = {
                    "request_id": job.request_id,
                    "appointment_id": job.appointment_id,
                    "code": job.code,
                }
                async with session.post(
                    target["base"] + "/v1/verifications", json=body, headers=headers
                ) as r:
                    await r.read()
                    status = r.status
            else:
                async with session.get(target["base"] + "/healthz") as r:
                    await r.read()
                    status = r.status
        except Exception as exc:  # a refused or timed-out request is an error, and the run goes on
            status = type(exc).__name__
        result.latencies.append(time.time() - due)
        result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
        expected = 200 if kind != "http" or job.right else 422
        result.errors += status != expected

    tasks = []
    for i, job in enumerate(jobs):
        due = start + (i * stride + offset) / rate
        pause = due - time.time()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.ensure_future(one(job, due)))
    await asyncio.gather(*tasks)
    result.elapsed = time.time() - start
    if session is not None:
        await session.close()
    return result


def raw_redis_verify(store: RedisCodeStore, key: bytes, job: Job) -> int:
    """The Redis calls of one verification, as `handlers.verify_code` makes them."""
    now = time.time()
    _, _, record = store.count_call_and_load(CALLER, job.request_id, now)
    digest = domain.code_digest(
        key, request_id=job.request_id, appointment_id=job.appointment_id, code=job.code
    )
    attempt = store.attempt(
        job.request_id,
        lambda record: domain.try_code(
            record, appointment_id=job.appointment_id, digest=digest, now=now
        ),
        seen=record,
    )
    return 200 if attempt.outcome in (domain.Outcome.VERIFIED, domain.Outcome.REJECTED) else 500


def warm(_: int) -> None:
    import aiohttp  # noqa: F401
    import uvloop  # noqa: F401

    time.sleep(0.2)  # one task per process: no process takes two while another is still starting


def run(kind: str, jobs: list[Job], rate: float, procs: int, target: dict) -> Result:
    """Drive `jobs` at `rate` per second from `procs` processes, interleaved; merged results."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(procs) as pool:
        pool.map(warm, range(procs))  # every process started and its imports done before the clock
        start = time.time() + 0.5
        parts = pool.starmap(
            drive, [(kind, jobs[p::procs], rate, p, procs, start, target) for p in range(procs)]
        )
    merged = Result(elapsed=max(p.elapsed for p in parts))
    for part in parts:
        merged.latencies += part.latencies
        merged.late += part.late
        merged.errors += part.errors
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
    return merged


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the processes of a process group: the service
    and its workers. Unlike latency it hardly depends on what else the machine is running."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def row(name: str, result: Result, n: int, cpu_s: float | None) -> str:
    q = statistics.quantiles(result.latencies, n=100)
    late = statistics.quantiles(result.late, n=100)[98]
    answered = sum(count for status, count in result.statuses.items() if status.isdigit())
    cpu = f"{cpu_s / answered * 1000:>8.2f}" if cpu_s is not None and answered else f"{'-':>8}"
    return (
        f"{name:<34}{(n - result.errors) / result.elapsed:>9.0f}"
        f"{q[49] * 1000:>8.1f}{q[98] * 1000:>8.1f}"
        f"{max(result.latencies) * 1000:>8.0f}{late * 1000:>8.1f}{result.errors:>8}{cpu}   "
        f"{dict(sorted(result.statuses.items()))}"
    )


def main() -> None:
    from testkit.processes import start_service

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rate", type=float, default=2000, help="verifications per second, open loop"
    )
    parser.add_argument("--seconds", type=float, default=20, help="how long each measurement runs")
    parser.add_argument("--wrong", type=float, default=0.1, help="share of tries with a wrong code")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections per process"
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["http", "healthz", "redis"],
        help="rows to leave out",
    )
    args = parser.parse_args()
    n = int(args.rate * args.seconds)
    settings = PlatformSettings()
    prefix, secret = f"bench-otp-{uuid.uuid4().hex[:8]}:", secrets.token_hex(32)
    key = secret.encode()
    topic = f"bench.otp-results.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(15)
    client = redis.Redis.from_url(settings.redis_url)
    store = RedisCodeStore(client, prefix=prefix, send_window_s=600)
    with tempfile.TemporaryDirectory() as tmp:
        service, base = start_service(
            "otp",
            {
                "SANGATHAN_ENV": "development",
                "OTP_HMAC_SECRET": secret,
                "OTP_REDIS_PREFIX": prefix,
                "OTP_VERIFY_LIMIT_PER_MINUTE": str(int(args.rate * 60 * 10)),
                "OTP_CONSUME": "false",
                "OTP_RESULTS_TOPIC": topic,
                "OTP_DELIVERY": "dev-sink",
            },
            Path(tmp),
        )
        target = {
            "base": base,
            "token": service_token("appointments"),
            "connections": args.connections,
            "redis_url": settings.redis_url,
            "prefix": prefix,
            "key": key,
        }
        results, cpu = {}, {}
        try:
            for kind in ("http", "healthz", "redis"):
                if kind in args.skip:
                    continue
                jobs = (
                    issue(store, key, n, args.wrong)
                    if kind != "healthz"
                    else [Job("", "", "", True)] * n
                )
                print(f"[bench] {kind}: {n} at {args.rate:.0f}/s", flush=True)
                cpu_before = group_cpu_s(service.proc.pid)
                results[kind] = run(kind, jobs, args.rate, args.procs, target)
                cpu[kind] = group_cpu_s(service.proc.pid) - cpu_before if kind != "redis" else None
        finally:
            service.stop()
            keys = list(client.scan_iter(match=prefix + "*", count=5000))
            for i in range(0, len(keys), 5000):
                client.delete(*keys[i : i + 5000])
            admin.delete_topics([topic])
    print(
        f"\nOTP verification benchmark ({n} per row, open loop at {args.rate:.0f}/s, "
        f"{args.procs} aiohttp processes x {args.connections} keep-alive connections, "
        f"{args.wrong:.0%} wrong codes, 2 cores)"
    )
    print(
        f"{'row':<34}{'ok/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'late99':>8}{'errors':>8}{'cpu ms':>8}   statuses"
    )
    names = {
        "http": "POST /v1/verifications",
        "healthz": "GET /healthz (framework floor)",
        "redis": "raw Redis, same calls (baseline)",
    }
    for kind, result in results.items():
        print(row(names[kind], result, n, cpu[kind]))
    if "http" in results and "redis" in results:
        ratio = (
            statistics.quantiles(results["http"].latencies, n=100)[98]
            / statistics.quantiles(results["redis"].latencies, n=100)[98]
        )
        print(f"p99 service / p99 raw Redis: {ratio:.1f}")


if __name__ == "__main__":
    main()
