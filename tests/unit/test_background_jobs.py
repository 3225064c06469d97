"""A service's background jobs start only after its preparation succeeded, and never after stop."""

import threading

import pytest

from shared import background
from shared.background import Background, BackgroundJobs


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(background, "PREPARE_RETRY_S", 0.01)


def recording_job(ran: threading.Event) -> Background:
    def body(stop: threading.Event) -> None:
        ran.set()
        stop.wait()

    return Background("recording", body)


def test_jobs_start_only_once_a_failing_preparation_has_succeeded():
    attempts, ran = [], threading.Event()

    def prepare():
        attempts.append(ran.is_set())
        if len(attempts) < 3:
            raise ConnectionError("kafka is not up yet")

    jobs = BackgroundJobs(background=[recording_job(ran)], prepare=prepare)
    jobs.start()
    try:
        assert ran.wait(5)
        assert attempts == [False, False, False]
    finally:
        jobs.stop()


def test_stopping_while_preparation_still_fails_starts_no_job():
    ran, tried = threading.Event(), threading.Event()

    def prepare():
        tried.set()
        raise ConnectionError("mongodb is down")

    jobs = BackgroundJobs(background=[recording_job(ran)], prepare=prepare)
    jobs.start()
    assert tried.wait(5)
    jobs.stop()
    assert not ran.wait(0.2)


def test_without_preparation_jobs_run_as_soon_as_started():
    ran = threading.Event()
    jobs = BackgroundJobs(background=[recording_job(ran)])
    jobs.start()
    try:
        assert ran.wait(5)
    finally:
        jobs.stop()
