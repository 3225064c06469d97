"""A state's progress against its deadline."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from analytics.coverage.deadline import Target, load_targets, progress
from analytics.coverage.domain import HOUR_S, Counts
from analytics.settings import TARGETS

NOW = datetime(2026, 11, 1, 12, tzinfo=timezone.utc).timestamp()
HOUR = int(NOW // HOUR_S)


def target(days: float, booths: int | None = 1000, measure: str = "booths_complete") -> Target:
    return Target(
        "IN-MP", datetime.fromtimestamp(NOW, timezone.utc) + timedelta(days=days), measure, booths
    )


def test_the_recent_rate_projects_the_completion_date():
    counts = Counts(
        booths_complete=400, complete_hours={HOUR - 1: 60, HOUR - 3: 60, HOUR - 30: 500}
    )
    result = progress(target(days=2), counts, 5000, NOW, window_hours=6)
    assert result.rate_per_hour == 20.0  # 120 booths in the last 6 hours; older ones are outside
    assert result.remaining == 600
    assert result.projected_completion == datetime.fromtimestamp(NOW + 30 * HOUR_S, timezone.utc)
    assert result.on_track


def test_too_slow_a_rate_is_off_track():
    counts = Counts(booths_complete=400, complete_hours={HOUR: 6})
    result = progress(target(days=2), counts, 5000, NOW, window_hours=6)
    assert not result.on_track and result.projected_completion > result.target.by


def test_no_progress_in_the_window_projects_nothing():
    result = progress(target(days=2), Counts(booths_complete=1), 5000, NOW, window_hours=6)
    assert result.projected_completion is None and not result.on_track


def test_a_met_target_is_on_track_without_projection():
    result = progress(target(days=-1), Counts(booths_complete=1000), 5000, NOW, window_hours=6)
    assert result.met and result.on_track and result.projected_completion is None


def test_without_a_booth_count_the_registrys_is_the_target():
    result = progress(
        target(days=2, booths=None, measure="booths_with_verified_president"),
        Counts(booths_with_verified_president=10, president_hours={HOUR: 10}),
        7773,
        NOW,
        6,
    )
    assert result.target_booths == 7773 and result.achieved == 10
    assert result.to_json()["measure"] == "booths_with_verified_president"


def test_the_shipped_targets_load():
    targets = load_targets(TARGETS)
    assert targets["IN-MP"].booths == 65015
    assert targets["IN-HP"].by.tzinfo is not None


@pytest.mark.parametrize(
    "spec,error",
    [
        ('IN-MP: {by: "2027-11-20T23:59:59"}', "time zone"),
        ('IN-MP: {by: "2027-11-20T23:59:59+05:30", measure: members}', "measure"),
    ],
)
def test_a_targets_file_that_is_wrong_is_refused(tmp_path: Path, spec, error):
    path = tmp_path / "targets.yaml"
    path.write_text(spec)
    with pytest.raises(ValueError, match=error):
        load_targets(path)
