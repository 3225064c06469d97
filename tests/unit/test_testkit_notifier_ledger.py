"""The e2e tests decide night or day as the platform's notifier does: by its own quiet hours
(NOTIFIER_QUIET_HOURS, 22:00-06:00 India time unless set), so a run with them moved or off takes
the branch the notifier's screen takes, and a message held at night is held until they end."""

from datetime import datetime, timezone

from testkit.notifier_ledger import opens_at

BOOTH = "IN-HP-D09-A01-M01-S01-B001"
NIGHT = datetime(2026, 12, 4, 17, 30, tzinfo=timezone.utc)  # 23:00 in India
DAY = datetime(2026, 12, 4, 6, 30, tzinfo=timezone.utc)  # 12:00 in India


def test_by_default_a_campaign_message_waits_for_six_in_the_morning_india_time(monkeypatch):
    monkeypatch.delenv("NOTIFIER_QUIET_HOURS", raising=False)
    monkeypatch.delenv("NOTIFIER_POLLS", raising=False)
    assert opens_at(BOOTH, NIGHT) == datetime(2026, 12, 5, 0, 30, tzinfo=timezone.utc)
    assert opens_at(BOOTH, DAY) is None


def test_the_notifiers_own_quiet_hours_decide(monkeypatch):
    monkeypatch.setenv("NOTIFIER_QUIET_HOURS", "off")
    assert opens_at(BOOTH, NIGHT) is None
    monkeypatch.setenv("NOTIFIER_QUIET_HOURS", "11:00-13:00")
    assert opens_at(BOOTH, DAY) == datetime(2026, 12, 4, 7, 30, tzinfo=timezone.utc)
    assert opens_at(BOOTH, NIGHT) is None
