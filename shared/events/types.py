"""The CloudEvents `type` of every cross-service event, one constant each.

A type names its schema: `org.sangathan.<name>.v<N>` is validated by `schemas/<name>/v<N>.json`.
A new version is a new constant (and schema file) next to the old one, so consumers can
accept both while producers move over.
"""

import re

PREFIX = "org.sangathan."
_TYPE = re.compile(r"^org\.sangathan\.(?P<name>[a-z][a-z0-9-]*)\.v(?P<version>[1-9][0-9]*)$")

BOOTH_PRESIDENT_APPOINTED = "org.sangathan.booth-president-appointed.v1"
BOOTH_MEMBER_APPOINTED = "org.sangathan.booth-member-appointed.v1"
APPOINTMENT_VERIFIED = "org.sangathan.appointment-verified.v1"
APPOINTMENT_REVOKED = "org.sangathan.appointment-revoked.v1"
UNIT_OFFICER_CHANGED = "org.sangathan.unit-officer-changed.v1"
OTP_REQUESTED = "org.sangathan.otp-requested.v1"
OTP_VERIFIED = "org.sangathan.otp-verified.v1"
OTP_FAILED = "org.sangathan.otp-failed.v1"
DIRECTIVE_ISSUED = "org.sangathan.directive-issued.v1"
DELIVERY_STATUS = "org.sangathan.delivery-status.v1"
DIRECTIVE_ACKNOWLEDGED = "org.sangathan.directive-acknowledged.v1"
COVERAGE_UPDATED = "org.sangathan.coverage-updated.v1"
PERSON_ERASED = "org.sangathan.person-erased.v1"
MEETING_SCHEDULED = "org.sangathan.meeting-scheduled.v1"
MEETING_STARTED = "org.sangathan.meeting-started.v1"
MEETING_ENDED = "org.sangathan.meeting-ended.v1"
MEETING_CANCELLED = "org.sangathan.meeting-cancelled.v1"
PARTICIPANT_INVITED = "org.sangathan.participant-invited.v1"
CALL_ATTEMPTED = "org.sangathan.call-attempted.v1"
PARTICIPANT_JOINED = "org.sangathan.participant-joined.v1"
PARTICIPANT_LEFT = "org.sangathan.participant-left.v1"
PARTICIPANT_CONFIRMED = "org.sangathan.participant-confirmed.v1"
FORM_PUBLISHED = "org.sangathan.form-published.v1"
# v2 adds each question's and option's label {hi, en}; the reports service publishes v2 and
# every consumer of the report-forms topic accepts both (v1 forms are still on it, kept for ever).
FORM_PUBLISHED_V2 = "org.sangathan.form-published.v2"
REPORT_DISPATCHED = "org.sangathan.report-dispatched.v1"
REPORT_SUBMITTED = "org.sangathan.report-submitted.v1"
REPORT_REVIEWED = "org.sangathan.report-reviewed.v1"
WHATSAPP_GROUP_UPDATED = "org.sangathan.whatsapp-group-updated.v1"

ALL = (
    BOOTH_PRESIDENT_APPOINTED,
    BOOTH_MEMBER_APPOINTED,
    APPOINTMENT_VERIFIED,
    APPOINTMENT_REVOKED,
    OTP_REQUESTED,
    OTP_VERIFIED,
    OTP_FAILED,
    DIRECTIVE_ISSUED,
    DELIVERY_STATUS,
    DIRECTIVE_ACKNOWLEDGED,
    COVERAGE_UPDATED,
    PERSON_ERASED,
    MEETING_SCHEDULED,
    MEETING_STARTED,
    MEETING_ENDED,
    MEETING_CANCELLED,
    PARTICIPANT_INVITED,
    CALL_ATTEMPTED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    PARTICIPANT_CONFIRMED,
    FORM_PUBLISHED,
    FORM_PUBLISHED_V2,
    REPORT_DISPATCHED,
    REPORT_SUBMITTED,
    REPORT_REVIEWED,
    WHATSAPP_GROUP_UPDATED,
    UNIT_OFFICER_CHANGED,
)


def name_and_version(event_type: str) -> tuple[str, int]:
    """`org.sangathan.otp-failed.v1` -> ("otp-failed", 1); ValueError for anything else."""
    match = _TYPE.match(event_type)
    if not match:
        raise ValueError(f"{event_type!r} is not an org.sangathan.<name>.v<N> event type")
    return match["name"], int(match["version"])
