"""Kafka entrypoint: person-erased takes the appointee out of the submissions they made
(reports/erasure.py)."""

from reports.erasure import ForgetSubmitter, SubmitterReports, forget_submitter
from shared.erasures import erasure_handler

GROUP = "reports-erasures"
RESTART_PAUSE_S = 5.0


def erasures(reports: SubmitterReports):
    return erasure_handler(
        lambda appointment_id, erasure_id: forget_submitter(
            ForgetSubmitter(appointment_id, erasure_id), reports
        )
    )
