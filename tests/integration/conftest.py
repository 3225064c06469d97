"""Fixtures the integration tests of more than one service's module share."""

import pytest
from pymongo import MongoClient

from appointments import handlers
from appointments.adapters.erasures import ErasureLog
from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.adapters.personal import PersonalData, personal_data
from appointments.settings import AppointmentsSettings
from shared.orgtree.repository import OrgRegistry
from shared.teams.rules import rules_for

DEMO_BOOTH = "IN-HP-D01-A01-M01-S01-B001"


@pytest.fixture(scope="session")
def personal() -> PersonalData:
    """Appointments' personal-data keys, as the local service reads them (development keys)."""
    return personal_data(AppointmentsSettings())


@pytest.fixture
def ports(settings, mongo_db, personal):
    """Appointments' handler ports: the demo registry make up loads, booth teams in this test's
    database."""
    registry = OrgRegistry(MongoClient(settings.mongo_url)[settings.mongo_db])
    if registry.get(DEMO_BOOTH) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    teams = BoothTeams(mongo_db, rules_for, personal)
    return handlers.Ports(
        registry=registry,
        teams=teams,
        posts=PresidentPosts(mongo_db, teams),
        erasures=ErasureLog(mongo_db),
    )


@pytest.fixture(scope="module")
def analytics_scratch():
    """Topics of its own for a module's analytics worker (testkit/rollout.py), deleted after it."""
    from shared.settings import PlatformSettings
    from testkit.rollout import ScratchStream

    stream = ScratchStream(PlatformSettings().kafka_bootstrap)
    stream.create()
    yield stream
    stream.delete()
