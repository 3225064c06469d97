"""The group commit in memory (shared/batching.py): concurrent callers share a batch
and each gets its own item's outcome; a batch-wide failure reaches every caller of it as a fresh
exception; a caller whose batch does not run in time gets a NetworkTimeout, not a hang."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout

from shared import batching
from shared.batching import Batcher


def test_concurrent_callers_share_batches_and_each_gets_its_own_outcome():
    batches: list[list[int]] = []

    def run(items):
        batches.append(items)
        return [ValueError(n) if n % 7 == 0 else n * 10 for n in items]

    batcher = Batcher("test", run, size=100, linger_s=0.05, wait_s=5)

    def call(n):
        try:
            return batcher.submit(n)
        except ValueError as refused:
            return f"refused {refused.args[0]}"

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(call, range(1, 31)))
    assert outcomes == [f"refused {n}" if n % 7 == 0 else n * 10 for n in range(1, 31)]
    assert sorted(n for b in batches for n in b) == list(range(1, 31))
    assert len(batches) < 10


def test_a_batch_holds_at_most_size_items():
    sizes: list[int] = []

    def run(items):
        sizes.append(len(items))
        time.sleep(0.01)
        return items

    batcher = Batcher("test", run, size=4, linger_s=0.05, wait_s=5)
    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(batcher.submit, range(20))) == list(range(20))
    assert max(sizes) <= 4 and sum(sizes) == 20


def test_a_failed_batch_fails_each_caller_with_its_own_copy():
    def run(items):
        raise AutoReconnect("connection refused")

    batcher = Batcher("test", run, size=10, linger_s=0.05, wait_s=5)
    errors: list[BaseException] = []

    def call(n):
        try:
            batcher.submit(n)
        except AutoReconnect as failed:
            errors.append(failed)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(errors) == 3 and len({id(e) for e in errors}) == 3
    assert all(str(e) == "connection refused" for e in errors)


def test_a_batch_that_does_not_run_in_time_is_a_network_timeout():
    release = threading.Event()

    def run(items):
        release.wait(5)
        return items

    batcher = Batcher("test", run, size=10, linger_s=0, wait_s=0.2)
    started = time.monotonic()
    with pytest.raises(NetworkTimeout):
        batcher.submit(1)
    assert time.monotonic() - started < 1
    release.set()
    assert batcher.submit(2) == 2  # the batcher goes on


def test_awaiting_callers_share_batches_with_blocking_ones_and_each_gets_its_own_outcome(
    monkeypatch,
):
    batches: list[list[int]] = []
    settled: list[int] = []
    settle = batching._settle
    # Each batch settles its awaiting callers with one call into their loop, not one each.
    monkeypatch.setattr(batching, "_settle", lambda slots: settled.append(1) or settle(slots))

    def run(items):
        batches.append(items)
        return [ValueError(n) if n % 7 == 0 else n * 10 for n in items]

    batcher = Batcher("test", run, size=100, linger_s=0.05, wait_s=5)

    async def call(n):
        try:
            return await batcher.submit_async(n)
        except ValueError as refused:
            return f"refused {refused.args[0]}"

    async def main():
        blocking = asyncio.get_running_loop().run_in_executor(None, batcher.submit, 100)
        awaited = await asyncio.gather(*(call(n) for n in range(1, 31)))
        return awaited, await blocking

    awaited, blocking = asyncio.run(main())
    assert awaited == [f"refused {n}" if n % 7 == 0 else n * 10 for n in range(1, 31)]
    assert blocking == 1000
    assert sorted(n for b in batches for n in b) == list(range(1, 31)) + [100]
    assert len(settled) <= len(batches) < 10


def test_an_awaited_batch_that_fails_or_does_not_run_in_time_is_raised_to_its_callers():
    release = threading.Event()

    def run(items):
        if items == [1]:
            raise AutoReconnect("connection refused")
        release.wait(5)
        return items

    batcher = Batcher("test", run, size=10, linger_s=0, wait_s=0.2)

    async def main():
        with pytest.raises(AutoReconnect):
            await batcher.submit_async(1)
        started = time.monotonic()
        with pytest.raises(NetworkTimeout):
            await batcher.submit_async(2)
        assert time.monotonic() - started < 1
        release.set()
        return await batcher.submit_async(3)

    assert asyncio.run(main()) == 3
