"""Report periods: the seed's cadence, aligned to the report's wall clock, DST included."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from zoneinfo import ZoneInfo

from sinks.reports.periods import next_period, period_at
from streams.config import EmailSettings
from streams.priorities import Priority

SETTINGS = EmailSettings()
PRAGUE = "Europe/Prague"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


@pytest.mark.parametrize("priority, start, end", [
    (Priority.HIGH, "2026-11-22T18:00:00+01:00", "2026-11-22T19:00:00+01:00"),
    (Priority.MEDIUM, "2026-11-22T18:00:00+01:00", "2026-11-23T00:00:00+01:00"),
    (Priority.LOW, "2026-11-22T00:00:00+01:00", "2026-11-23T00:00:00+01:00"),
    # 2026-11-22 is a Sunday: the week started on Monday the 16th.
    (Priority.INFORMATION, "2026-11-16T00:00:00+01:00", "2026-11-23T00:00:00+01:00"),
])
def test_periods_follow_the_seed_cadence_on_the_local_clock(priority, start, end):
    period = period_at(at("2026-11-22T18:17:42+01:00"), priority, PRAGUE, SETTINGS)
    assert (period.start, period.end) == (utc(start), utc(end))
    assert not period.immediate


def test_six_hour_periods_start_at_00_06_12_18():
    day = at("2026-11-22T00:30:00+01:00")
    starts = {period_at(day + timedelta(hours=hour), Priority.MEDIUM, PRAGUE, SETTINGS).start for hour in range(24)}
    assert sorted(start.astimezone(ZoneInfo(PRAGUE)).hour for start in starts) == [0, 6, 12, 18]


def test_critical_events_share_an_epoch_aligned_immediate_window():
    first = period_at(at("2026-11-22T18:17:41.2+00:00"), Priority.CRITICAL, PRAGUE, SETTINGS)
    assert first.immediate and first.cadence == "immediate"
    assert (first.start, first.end) == (utc("2026-11-22T18:17:40+00:00"), utc("2026-11-22T18:17:45+00:00"))
    assert period_at(at("2026-11-22T18:17:44.9+00:00"), Priority.CRITICAL, PRAGUE, SETTINGS) == first


def test_a_day_with_a_dst_change_lasts_23_or_25_hours():
    spring = period_at(at("2026-03-29T12:00:00+02:00"), Priority.LOW, PRAGUE, SETTINGS)
    autumn = period_at(at("2026-10-25T12:00:00+01:00"), Priority.LOW, PRAGUE, SETTINGS)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_the_repeated_hour_when_dst_ends_is_one_period_and_periods_never_overlap():
    first = period_at(at("2026-10-25T02:30:00+02:00"), Priority.HIGH, PRAGUE, SETTINGS)
    second = period_at(at("2026-10-25T02:30:00+01:00"), Priority.HIGH, PRAGUE, SETTINGS)
    assert first == second and first.end - first.start == timedelta(hours=2)
    # Hourly periods across the whole day follow each other without gaps or overlaps.
    period = period_at(at("2026-10-24T23:30:00+02:00"), Priority.HIGH, PRAGUE, SETTINGS)
    for _ in range(26):
        following = next_period(period, Priority.HIGH, SETTINGS)
        assert following.start == period.end
        period = following


def test_shortened_periods_for_tests_align_to_the_epoch():
    settings = EmailSettings(periods={"HIGH": "10s"})
    period = period_at(at("2026-11-22T18:17:42+00:00"), Priority.HIGH, PRAGUE, settings)
    assert (period.start, period.end) == (utc("2026-11-22T18:17:40+00:00"), utc("2026-11-22T18:17:50+00:00"))
    assert period.cadence == "10-second"


def test_period_lengths_that_do_not_divide_a_day_are_refused():
    with pytest.raises(ValueError, match="expected a period that divides a day"):
        EmailSettings(periods={"MEDIUM": "7h"})
