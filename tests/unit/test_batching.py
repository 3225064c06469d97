"""The group commit in memory (shared/batching.py): concurrent callers share a batch
and each gets its own item's outcome; a batch-wide failure reaches every caller of it as a fresh
exception; a caller whose batch does not run in time gets a NetworkTimeout, not a hang."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout

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
