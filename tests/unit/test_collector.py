"""A service's Python collects young garbage less often once started, and leaves what start-up
made out of every later collection."""

import gc

import pytest
from fastapi.testclient import TestClient

from shared.collector import YOUNG_GENERATION_THRESHOLD
from shared.http import create_app
from shared.settings import PlatformSettings


@pytest.fixture
def collector():
    """The test process's own collector settings, put back after."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_started_service_freezes_what_startup_made_and_collects_young_objects_less_often(
    collector,
):
    made_at_startup = []
    app = create_app(
        service="test-collector",
        settings=PlatformSettings(),
        checks={},
        on_startup=lambda: made_at_startup.append({"cache": [1, 2, 3]}),
    )
    assert gc.get_freeze_count() == 0
    with TestClient(app):
        assert made_at_startup, "start-up ran"
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        assert gc.get_threshold()[1:] == (10, 10), "the older generations keep CPython's steps"
