"""A person's submissions are erased with them (person-erased, DPDP Act): every submission the
erased appointee made keeps its place and its counts (option picks, numbers, yes/no, dates, late,
review status: analytics counted them from events that never held a name or text) but loses what
could say who they are: the submitter's id becomes ERASED, their free-text answers and the
reviewer's note on them are removed.

The appointee is who the reports service knows as `submitted_by`: a booth worker answering by the
signed link or an SMS reply is recorded by their appointment id, the id person-erased names.
Answers an organiser sent under their own account are the organiser's, not the erased person's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from reports.domain import BoothReport, Submission
from reports.handlers import _compare_and_set

ERASED = "erased"


def anonymise(report: BoothReport, appointment_id: str) -> int:
    """Strip the appointee from the report's submissions; returns how many were theirs."""
    theirs = [s.submitted_by == appointment_id for s in report.submissions]
    report.submissions = [
        _anonymised(s) if mine else s for s, mine in zip(report.submissions, theirs, strict=True)
    ]
    return sum(theirs)


def _anonymised(submission: Submission) -> Submission:
    """The submission without its author: free-text answers dropped, every other answer kept."""
    kept = tuple(a for a in submission.answers if a.text is None)
    return replace(submission, answers=kept, submitted_by=ERASED, note=None)


@dataclass(frozen=True)
class ForgetSubmitter:
    """From a person-erased event: the appointment erased."""

    appointment_id: str
    erasure_id: str


class SubmitterReports(Protocol):
    def answered_by(self, submitter: str) -> list[tuple[str, str]]:
        """(dispatch id, booth id) of each report holding a submission by `submitter`."""

    def get(self, dispatch_id: str, booth_id: str) -> BoothReport | None: ...

    def save(self, report: BoothReport) -> None: ...


def forget_submitter(command: ForgetSubmitter, reports: SubmitterReports) -> int:
    """Anonymise each report the appointee answered; returns submissions changed.
    Run again (a redelivered event), it finds nothing left to change."""
    changed = 0
    for dispatch_id, booth_id in reports.answered_by(command.appointment_id):
        changed += _compare_and_set(
            lambda d=dispatch_id, b=booth_id: reports.get(d, b),
            lambda report: anonymise(report, command.appointment_id),
            reports.save,
            unchanged=lambda n: n == 0,
        )
    return changed
