"""Demo office-bearers for `make up`: a verified president in the first mandal of each of a
state's districts, so the dashboard's and the meetings' demo have mandal presidents to reach.

    python -m appointments.demo [--state HP]

Development only (it refuses any other environment): the demo has no phones to send a code to,
so each appointment is confirmed here, as otp-verified would, and its code request is dropped
unsent. Everything else is the real path: the office's own methods, saved by the unit offices'
store, announced by the running service's relay (which also files them as recipients). Safe to
run again: a mandal that has a president keeps them.
"""

import argparse
import uuid
from datetime import datetime, timezone

from appointments.adapters.offices import UnitOffices
from appointments.adapters.personal import personal_data
from appointments.domain import Person
from appointments.offices import UnitOffice, new_office
from appointments.settings import AppointmentsSettings
from shared.clients import mongo_client
from shared.events import types
from shared.orgtree.repository import OrgRegistry
from shared.teams.offices import MANDAL_PRESIDENT, office_at
from shared.teams.rules import rules_for

DEMO_ORGANISER = "svc:demo"
NAMES = ("राजेश ठाकुर", "सुनीता शर्मा", "विक्रम चौहान", "अनीता कुमारी", "मोहन लाल", "पूजा देवी")


def demo_phone(mandal_id: str) -> str:
    """A stable, made-up mobile per mandal (+91 6xxxxxxxxx), so a rerun finds the same person."""
    return f"+916{uuid.uuid5(uuid.NAMESPACE_URL, mandal_id).int % 10**9:09d}"


def verified_president(office: UnitOffice, home_booth: str, number: int) -> bool:
    """Appoint and confirm the office's president unless it has one; False if it had."""
    if any(a.role == MANDAL_PRESIDENT for a in office.active()):
        return False
    now = datetime.now(timezone.utc)
    person = Person(
        name=NAMES[number % len(NAMES)],
        phone=demo_phone(office.unit_id),
        gender="female" if number % 2 else "male",
    )
    appointment = office.appoint(
        role=MANDAL_PRESIDENT,
        person=person,
        organiser=DEMO_ORGANISER,
        now=now,
        home_booth=home_booth,
    )
    office.outbox = [e for e in office.outbox if e["type"] != types.OTP_REQUESTED]
    office.confirm_otp(
        appointment_id=appointment.id,
        otp_request_id=appointment.otp_request_id,
        event_id=f"demo:{appointment.id}",
        now=now,
    )
    return True


def seed(registry: OrgRegistry, offices: UnitOffices, state: str) -> int:
    """A verified president in each district's first mandal; returns how many were appointed."""
    made = 0
    for number, district in enumerate(registry.children(f"IN-{state}")):
        mandal = _first_below(registry, district["id"], "mandal")
        booth = mandal and _first_below(registry, mandal, "booth")
        if not booth or office_at(mandal) is None:
            continue
        office = offices.get(mandal) or new_office(mandal, office_at(mandal))
        if verified_president(office, booth, number):
            offices.save(office)
            made += 1
    return made


def _first_below(registry: OrgRegistry, unit_id: str, level: str) -> str | None:
    while (children := registry.children(unit_id)) and children[0]["level"] != level:
        unit_id = children[0]["id"]
    return children[0]["id"] if children else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appointments.demo", description=__doc__)
    parser.add_argument("--state", default="HP", help="state code (default HP, the demo tree)")
    args = parser.parse_args(argv)
    settings = AppointmentsSettings()
    if settings.environment != "development":
        print(f"demo office-bearers are for development only, not {settings.environment}")
        return 2
    db = mongo_client(settings)[settings.mongo_db]
    made = seed(OrgRegistry(db), UnitOffices(db, rules_for, personal_data(settings)), args.state)
    print(f"demo: {made} mandal presidents appointed and verified in {args.state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
