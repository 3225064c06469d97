"""Kafka entrypoints: person-erased takes the appointee out of the submissions they made
(reports/erasure.py); an appointment that ended (appointments' appointment-revoked,
unit-officer-changed revoked or replaced, person-erased) stops its answer links
(reports/link_holders.py)."""

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from reports.erasure import ForgetSubmitter, SubmitterReports, forget_submitter
from reports.link_holders import AppointmentEnded, EndedAppointments, record_ended
from shared.erasures import erasure_handler
from shared.events import types
from shared.events.contracts import Event

GROUP = "reports-erasures"
HOLDERS_GROUP = "reports-link-holders"
RESTART_PAUSE_S = 5.0
ENDED_CHANGES = ("revoked", "replaced")  # unit-officer-changed's words for an ended appointment


def erasures(reports: SubmitterReports):
    return erasure_handler(
        lambda appointment_id, erasure_id: forget_submitter(
            ForgetSubmitter(appointment_id, erasure_id), reports
        )
    )


def ended_appointment(event: Event) -> AppointmentEnded | None:
    """The appointment an event says has ended, or None for any other event."""
    data = event.data
    if event.type == types.APPOINTMENT_REVOKED:
        at, how = data["revoked_at"], data["reason"]
    elif event.type == types.UNIT_OFFICER_CHANGED and data["change"] in ENDED_CHANGES:
        at, how = data["changed_at"], data["change"]
    elif event.type == types.PERSON_ERASED:
        at, how = data["erased_at"], "erased"
    else:
        return None
    ended_at = datetime.fromisoformat(at)
    if ended_at.tzinfo is None:  # RFC 3339 times carry an offset; be safe with one that does not
        ended_at = ended_at.replace(tzinfo=timezone.utc)
    return AppointmentEnded(data["appointment_id"], data["booth_id"], ended_at, how)


def link_holders(
    store: EndedAppointments, grace: timedelta, clock: Callable[[], datetime]
) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if (ended := ended_appointment(event)) is not None:
            record_ended(ended, store, now=clock(), grace=grace)

    return handle
