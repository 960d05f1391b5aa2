"""Mute windows: one-off and weekly, across midnight, in a time zone."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from sinks.mute import active_window, window_contains
from streams.config import MuteWindow

PRAGUE = ZoneInfo("Europe/Prague")


def at(text: str, zone=PRAGUE) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_one_off_window_includes_its_start_and_excludes_its_end():
    window = MuteWindow(start="2026-12-05T20:00:00+01:00", end="2026-12-06T02:00:00+01:00")
    assert not window_contains(window, at("2026-12-05T19:59:59"))
    assert window_contains(window, at("2026-12-05T20:00:00"))
    assert window_contains(window, at("2026-12-06T01:59:59"))
    assert not window_contains(window, at("2026-12-06T02:00:00"))


def test_one_off_window_without_offset_is_in_its_time_zone():
    window = MuteWindow(start="2026-12-05T20:00:00", end="2026-12-05T21:00:00", timezone="Europe/Prague")
    assert window_contains(window, datetime(2026, 12, 5, 19, 30, tzinfo=timezone.utc))  # 20:30 in Prague
    assert not window_contains(window, datetime(2026, 12, 5, 20, 30, tzinfo=timezone.utc))


def test_weekly_window_on_its_days_only():
    window = MuteWindow(weekdays=["sat"], start_time="02:00", end_time="04:00", timezone="Europe/Prague")
    assert window_contains(window, at("2026-11-28T02:30:00"))  # a Saturday
    assert not window_contains(window, at("2026-11-27T02:30:00"))  # Friday
    assert not window_contains(window, at("2026-11-28T04:00:00"))
    # 01:30 UTC is 02:30 in Prague (winter, UTC+1)
    assert window_contains(window, datetime(2026, 11, 28, 1, 30, tzinfo=timezone.utc))


def test_weekly_window_past_midnight_belongs_to_the_day_it_starts():
    window = MuteWindow(weekdays=["fri"], start_time="22:00", end_time="02:00")
    assert window_contains(window, at("2026-11-27T23:00:00", timezone.utc))  # Friday evening
    assert window_contains(window, at("2026-11-28T01:00:00", timezone.utc))  # Saturday early morning
    assert not window_contains(window, at("2026-11-28T23:00:00", timezone.utc))  # Saturday evening
    assert not window_contains(window, at("2026-11-27T01:00:00", timezone.utc))  # Friday early morning


def test_active_window_names_the_first_matching_window():
    windows = {"never": MuteWindow(start="2000-01-01T00:00:00Z", end="2000-01-02T00:00:00Z"),
               "always": MuteWindow(weekdays=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    start_time="00:00", end_time="00:00")}
    now = at("2026-11-22T12:00:00")
    assert active_window(windows, ["never", "always"], now) == "always"
    assert active_window(windows, ["never"], now) is None
    assert active_window(windows, [], now) is None


@pytest.mark.parametrize("spec, expected", [
    ({"start": "2026-01-02T00:00:00Z"}, "either start and end"),
    ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "expected end after start"),
    ({"weekdays": [], "start_time": "01:00", "end_time": "02:00"}, "at least one weekday"),
    ({"weekdays": ["sat"], "start_time": "01:00", "end_time": "02:00", "timezone": "Mars/Base"}, "IANA time zone"),
])
def test_invalid_windows_say_what_was_expected(spec, expected):
    with pytest.raises(ValueError, match=expected):
        MuteWindow(**spec)
